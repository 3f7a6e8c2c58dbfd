#!/usr/bin/env python3
"""CPU time to issue one micro-batch of eager PyTorch training, as the validation runs issue it, with
a given number of busy training processes on the host.

Method (replaces the sleep-kernel method of profiler/host_overhead.py, whose figures came out as upper
values: docs/accuracy.md): the harness's own model (validation/train_step.py: HF
LlamaDecoderLayer blocks; Megatron-style TP with explicit NCCL all-reduces for tp > 1) at its real
hidden sizes, run on a *short* sequence (--seqs, default 16 and 64 tokens) so that every kernel takes
the GPU less time than the CPU needs to launch it. The GPU then keeps up with the CPU, and the wall
time from the start of the forward to the return of `loss.backward()` is the CPU's issue time — the
same launches, the same Python, the same autograd engine thread as at the full sequence length.
Two sequence lengths that give the same time confirm that it is the CPU that sets it.

Built with --layers (default 1 and 5) decoder layers: per layer = difference / (5 - 1), the rest is
the fixed part (embedding, rotary tables, final norm, lm_head, loss). Gradients accumulate between
repetitions, as in every micro-batch after the first. The optimizer step's issue time (AdamW foreach,
as the harness) is timed apart. Median of --reps repetitions after --warmup.

Busy processes on the host: every rank of the launch runs the measurement at the same time
(a barrier before each repetition).
    python3 profiler/host_issue.py --out DIR                                     1 process, tp 1
    torchrun --standalone --nproc_per_node 2 profiler/host_issue.py --independent --out DIR
                                                                                 2 processes, tp 1 each
    torchrun --standalone --nproc_per_node 2 profiler/host_issue.py --ddp --out DIR
                                                                                 2 processes, DDP (no_sync)
    torchrun --standalone --nproc_per_node 2 profiler/host_issue.py --out DIR    2 processes, tp 2
    torchrun --standalone --nproc_per_node 2 profiler/host_issue.py --tp-impl dtensor --out DIR
                                                                                 2 processes, DTensor tp 2
    python3 profiler/host_issue.py --model gpt2-xl-like --recompute op --out DIR
                                                                                 GPT-2 blocks under per-operator checkpointing
Writes DIR/host_issue_<GPU>.json, merging entries "<model> tp<T> procs<P>[ ddp][ dtensor][ pinned][ recompute-<mode>]" of earlier runs.
Also records the host's CPU steal time over the measurement (/proc/stat), to tell a busy neighbour VM,
and the host's speed before and after (validation/train_step.py host_speed_probe(): µs per Python loop,
CPU op and CUDA launch), which the validation runs record between their steps too.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "validation"))
import train_step as ts  # noqa: E402


def median(xs):
    return float(np.median(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="profiles")
    ap.add_argument("--model", default="llama1b", choices=["llama1b", "llama8b", "gpt2-xl-like"],
                    help="the harness model's widths: LLaMA 1B/8B blocks, or GPT-2 XL's (LayerNorm, GELU, biases)")
    ap.add_argument("--recompute", default="none", choices=["none", "full", "op"],
                    help="each block under the harness's activation checkpointing (full; op: torchtitan's per-operator policy)")
    ap.add_argument("--layers", type=int, nargs=2, default=[1, 5])
    ap.add_argument("--seqs", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--independent", action="store_true",
                    help="with several ranks: each rank trains its own tp = 1 model on its own GPU")
    ap.add_argument("--ddp", action="store_true",
                    help="with several ranks: tp = 1 data parallel, the model wrapped in DDP and run under "
                         "no_sync (as every micro-batch but the last of a step)")
    ap.add_argument("--layer-probe", action="store_true",
                    help="the speed before and after also times a narrow LLaMA layer's forward and backward issue "
                         "(train_step.layer_probe_us: layer_fwd_us, layer_bwd_us)")
    ap.add_argument("--tp-impl", default="manual", choices=["manual", "dtensor"],
                    help="tensor parallelism of tp > 1: the harness's Megatron-style one (entry '<model> tp<T> procs<P>') "
                         "or PyTorch DTensor parallelize_module with loss_parallel (entry '... dtensor')")
    ap.add_argument("--pin-fastest", type=int, default=0,
                    help="pin each rank to the K fastest CPUs of its share of the host, as train_step.py does")
    args = ap.parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    pinning = None
    if args.pin_fastest:
        pinning = ts.pin_fastest(args.pin_fastest, int(os.environ.get("LOCAL_RANK", "0")),
                                 int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    tp = 1 if (args.independent or args.ddp) else world
    rank, _, dev = ts.init_cuda_rank(world)
    mdef = dict({"llama1b": ts.LLAMA1B, "llama8b": ts.LLAMA8B, "gpt2-xl-like": ts.GPT2XL}[args.model], recompute=args.recompute)
    V = mdef["vocab_size"]

    def barrier():
        torch.cuda.synchronize()
        if world > 1:
            dist.barrier()

    def host_speed():
        # all ranks at once, as the measurement runs (train_step.host_speed_probe, 5 times)
        barrier()
        try:
            return ts.median_speed([ts.host_speed_probe(dev, layer=args.layer_probe) for _ in range(5)])
        except Exception as e:  # noqa  (diagnostic only)
            print(f"host speed probe failed: {e}", flush=True)
            return None

    speed_start = host_speed()
    t_start, ticks0 = time.perf_counter(), ts.cpu_ticks()
    rows = []
    for layers in args.layers:
        hf_cfg = ts.make_hf_config(mdef, layers)
        fqns = ts.stage_fqns(layers, 1)[0]
        group = dist.group.WORLD if tp > 1 else None
        model, lossf, loss_ctx = ts.tp_model(hf_cfg, fqns, dev, tp, rank, group, args.tp_impl)
        ctx = contextlib.nullcontext
        if args.ddp and world > 1:
            model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index])
            ctx = model.no_sync
        opts = ts.adamw_per_kind(model, lr=1e-5)
        for seq in args.seqs:
            gen = torch.Generator(device=dev)
            gen.manual_seed(3)
            ids = torch.randint(0, V, (1, seq), device=dev, generator=gen)
            labels = torch.randint(0, V, (1, seq), device=dev, generator=gen)
            fw, bw, tail, cpu = [], [], [], []
            for i in range(args.warmup + args.reps):
                barrier()
                with ctx(), loss_ctx():
                    c0, t0 = time.process_time(), time.perf_counter()
                    loss = lossf(model(ids), labels)
                    t1 = time.perf_counter()
                    loss.backward()
                    t2 = time.perf_counter()
                c1 = time.process_time()
                torch.cuda.synchronize()
                t3 = time.perf_counter()
                if i >= args.warmup:
                    fw.append((t1 - t0) * 1e3)
                    bw.append((t2 - t1) * 1e3)
                    tail.append((t3 - t2) * 1e3)
                    cpu.append((c1 - c0) * 1e3)
            rows.append(dict(layers=layers, seq=seq, fwd_ms=median(fw), bwd_ms=median(bw),
                             gpu_tail_ms=median(tail), cpu_process_ms=median(cpu),
                             fwd_ms_p10=float(np.percentile(fw, 10)), fwd_ms_p90=float(np.percentile(fw, 90)),
                             bwd_ms_p10=float(np.percentile(bw, 10)), bwd_ms_p90=float(np.percentile(bw, 90))))
            if rank == 0:
                print(json.dumps(rows[-1]), flush=True)
        # the optimizer step's issue time (its GPU time is not small: timed from a drained queue)
        ot = []
        for i in range(3 + 10):
            barrier()
            t0 = time.perf_counter()
            for opt in opts:
                opt.step()
            t1 = time.perf_counter()
            if i >= 3:
                ot.append((t1 - t0) * 1e3)
        rows.append(dict(layers=layers, optimizer_issue_ms=median(ot)))
        del model, opts
        torch.cuda.empty_cache()
    elapsed = time.perf_counter() - t_start
    host_cpu = ts.cpu_use_between(ticks0, ts.cpu_ticks())
    speeds = dict(start=speed_start, end=host_speed(), cpu_pinning=pinning)

    # every rank's rows: the slowest rank sets a step's pace
    all_rows, all_speeds = [rows], [speeds]
    if world > 1:
        all_rows = [None] * world
        dist.all_gather_object(all_rows, rows)
        all_speeds = [None] * world
        dist.all_gather_object(all_speeds, speeds)
    if rank == 0:
        L1, L2 = args.layers

        def pick(key, layers):
            # median over sequence lengths, slowest rank
            return max(median([r[key] for r in rr if r.get("layers") == layers and "seq" in r]) for rr in all_rows)

        def opt_issue(layers):
            return max(r["optimizer_issue_ms"] for rr in all_rows for r in rr if r.get("layers") == layers and "optimizer_issue_ms" in r)

        pf = (pick("fwd_ms", L2) - pick("fwd_ms", L1)) / (L2 - L1)
        pb = (pick("bwd_ms", L2) - pick("bwd_ms", L1)) / (L2 - L1)
        po = (opt_issue(L2) - opt_issue(L1)) / (L2 - L1)
        entry = dict(forwardPerLayer_ms=pf, backwardPerLayer_ms=pb,
                     forwardFixed_ms=pick("fwd_ms", L1) - L1 * pf, backwardFixed_ms=pick("bwd_ms", L1) - L1 * pb,
                     optimizerPerLayer_ms=po, optimizerFixed_ms=opt_issue(L1) - L1 * po,
                     processes_on_host=world, tp=tp, recompute=args.recompute, architecture=mdef.get("architecture", "llama"), tp_impl=args.tp_impl if tp > 1 else None, model=args.model, ddp=bool(args.ddp and world > 1), host_cpu=host_cpu,
                     elapsed_s=elapsed, host_speed_us_per_rank=all_speeds, rows_per_rank=all_rows)
        gpu_name = torch.cuda.get_device_name(dev)
        path = os.path.join(args.out, f"host_issue_{ts.gpu_short_name(gpu_name)}.json")
        ts.merge_json_entry(path, dict(
                   what="CPU issue time of one eager micro-batch (profiler/host_issue.py)",
                   gpu=ts.gpu_short_name(gpu_name), gpu_name=gpu_name, cpu=ts.cpu_model(), cpus=os.cpu_count(),
                   torch=torch.__version__, python=platform.python_version(),
                   date=datetime.date.today().isoformat(),
                   method=f"harness model at real widths on {args.seqs}-token sequences (GPU keeps up with the "
                          f"CPU); wall time forward+loss and loss.backward() to its return; {L1} and {L2} layers; "
                          f"median of {args.reps} after {args.warmup}; slowest rank; all ranks at once"),
            "entries", f"{args.model} tp{tp} procs{world}" + (" ddp" if args.ddp and world > 1 else "")
            + (" dtensor" if tp > 1 and args.tp_impl == "dtensor" else "")
            + (" pinned" if args.pin_fastest else "")
            + (f" recompute-{args.recompute}" if args.recompute != "none" else ""), entry)
        print(f"wrote {path}: {args.model} tp{tp} procs{world}: fwd {pf:.3f} ms/layer + {entry['forwardFixed_ms']:.3f}, "
              f"bwd {pb:.3f} ms/layer + {entry['backwardFixed_ms']:.3f}, opt {po:.3f}/layer + {entry['optimizerFixed_ms']:.3f}; "
              f"host CPUs {host_cpu}", flush=True)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
