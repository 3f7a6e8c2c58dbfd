#!/usr/bin/env python3
"""Where does a Megatron-style TP micro-batch spend its time?  (diagnosis for docs/accuracy.md)

Runs the harness's hand-written TP model (validation/train_step.py, --tp-impl manual) on
`torchrun --nproc_per_node TP` and, for each micro-batch size, times one forward(+loss) and one
backward of the whole model in three ways:

  normal     CUDA events around forward and backward, as the harness does (what a step sees);
  gpu_only   the same, but a long GPU sleep is queued first, so the CPU has issued all the work
             before the GPU starts: the interval is pure GPU execution time;
  no_comm    gpu_only with the TP all-reduces replaced by no-ops (the difference is what the
             all-reduces cost inside the step).

and the CPU wall time of issuing the forward and the backward (host_*), plus, on the logits shard
alone, the vocab-parallel cross-entropy (what the harness and Megatron run) against a plain
F.cross_entropy over the shard (what the operator profiler measures), and one isolated b·s·h
all-reduce.  Writes one JSON (rank 0).

    torchrun --standalone --nproc_per_node 2 validation/diagnose_tp.py --mbs 1 2 4 --out DIR
    python3 validation/diagnose_tp.py --tp 1 --mbs 1 2 4 --out DIR      (unsharded baseline)
"""
import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_step as ts  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tp", type=int, default=2)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--mbs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tp = args.tp
    rank, _, dev = ts.init_cuda_rank(tp)
    mdef = dict(ts.LLAMA8B)
    S, V = mdef["seq_length"], mdef["vocab_size"]
    hf_cfg = ts.make_hf_config(mdef, args.layers)
    fqns = ts.stage_fqns(args.layers, 1)[0]

    cycles_per_ms = ts.sleep_cycles_per_ms()

    def barrier():
        if tp > 1:
            dist.barrier()
        torch.cuda.synchronize()

    real_all_reduce = dist.all_reduce
    out_rows = []
    for b in args.mbs:
        model, lossf = ts.harness_model(hf_cfg, fqns, dev, tp, rank, dist.group.WORLD if tp > 1 else None)
        gen = torch.Generator(device=dev)
        gen.manual_seed(7)
        ids = torch.randint(0, V, (b, S), device=dev, generator=gen)
        labels = torch.randint(0, V, (b, S), device=dev, generator=gen)

        def once(sleep_ms=0.0):
            ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
            if sleep_ms:
                torch.cuda._sleep(int(sleep_ms * cycles_per_ms))
            t0 = time.perf_counter()
            ev[0].record()
            loss = lossf(model(ids), labels)
            ev[1].record()
            t1 = time.perf_counter()
            loss.backward()
            ev[2].record()
            t2 = time.perf_counter()
            torch.cuda.synchronize()
            return dict(fwd_ms=ev[0].elapsed_time(ev[1]), bwd_ms=ev[1].elapsed_time(ev[2]),
                        host_fwd_ms=(t1 - t0) * 1e3, host_bwd_ms=(t2 - t1) * 1e3)

        def series(sleep_ms=0.0, comm=True):
            if not comm:
                dist.all_reduce = lambda *a, **k: None
            try:
                for _ in range(3):
                    barrier()
                    once(sleep_ms)
                rs = []
                for _ in range(args.reps):
                    barrier()
                    rs.append(once(sleep_ms))
            finally:
                dist.all_reduce = real_all_reduce
            return {k: float(np.median([r[k] for r in rs])) for k in rs[0]}

        normal = series()
        sleep_ms = 4 * (normal["host_fwd_ms"] + normal["host_bwd_ms"]) + 20
        gpu_only = series(sleep_ms)
        no_comm = series(sleep_ms, comm=False) if tp > 1 else None
        for p in model.parameters():
            p.grad = None

        # the loss alone on the logits shard
        logits = torch.randn(b, S, V // tp, device=dev, dtype=torch.bfloat16, generator=gen).requires_grad_()
        local_labels = labels % (V // tp)

        def time_loss(fn):
            for _ in range(3):
                fn(logits).backward()
            barrier()
            rs = []
            for _ in range(args.reps):
                ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
                barrier()
                torch.cuda._sleep(int(20 * cycles_per_ms))
                ev[0].record()
                loss = fn(logits)
                ev[1].record()
                loss.backward()
                ev[2].record()
                torch.cuda.synchronize()
                rs.append((ev[0].elapsed_time(ev[1]), ev[1].elapsed_time(ev[2])))
            logits.grad = None
            return dict(fwd_ms=float(np.median([r[0] for r in rs])), bwd_ms=float(np.median([r[1] for r in rs])))
        loss_vocab_parallel = time_loss(lambda lg: lossf(lg, labels))
        loss_plain = time_loss(lambda lg: F.cross_entropy(lg.flatten(0, 1).float(), local_labels.flatten(0, 1)))

        allreduce = None
        if tp > 1:
            x = torch.randn(b, S, mdef["hidden_size"], device=dev, dtype=torch.bfloat16, generator=gen)
            for _ in range(5):
                dist.all_reduce(x)
            barrier()
            ev = [torch.cuda.Event(enable_timing=True) for _ in range(2)]
            torch.cuda._sleep(int(20 * cycles_per_ms))
            ev[0].record()
            for _ in range(20):
                dist.all_reduce(x)
            ev[1].record()
            torch.cuda.synchronize()
            allreduce = dict(bytes=x.numel() * 2, ms_each=ev[0].elapsed_time(ev[1]) / 20)
        row = dict(mbs=b, normal=normal, gpu_only=gpu_only, no_comm=no_comm,
                   loss_vocab_parallel=loss_vocab_parallel, loss_plain_shard=loss_plain,
                   allreduce_bsh=allreduce)
        if rank == 0:
            print(json.dumps(row), flush=True)
        out_rows.append(row)
        del model, logits
        torch.cuda.empty_cache()
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        res = dict(what="TP micro-batch time diagnosis (validation/diagnose_tp.py)", tp=tp,
                   model=dict(mdef, num_layers=args.layers), rows=out_rows,
                   gpu=torch.cuda.get_device_name(dev), torch=torch.__version__,
                   date=datetime.datetime.now().isoformat(timespec="seconds"))
        with open(os.path.join(args.out, f"diagnose_tp{tp}.json"), "w") as fh:
            json.dump(res, fh, indent=1)
    if tp > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
