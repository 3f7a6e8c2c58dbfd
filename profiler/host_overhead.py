#!/usr/bin/env python3
"""Host (CPU) time to issue one micro-batch's work, per decoder layer and fixed, for the eager
PyTorch runtime that the profiles and the validation harness use.

Superseded by profiler/host_issue.py (its figures are upper values).

A step is host-bound when the CPU needs longer to launch a micro-batch's kernels and collectives
than the GPU needs to run them (small micro-batches, high TP).  This measures the launch side: the
GPU stream is first backed up with a long sleep kernel, so that the CPU's wall time for
`loss = loss_fn(model(ids))` and for `loss.backward()` is pure issue time.  The model is the
validation harness's (validation/train_step.py: HF LlamaDecoderLayer blocks, and for tp > 1 its
Megatron-style TP with explicit NCCL all-reduces), built with 1 and with 3 decoder layers; the
difference gives the time per layer, the rest is the fixed part (embedding, final norm, lm_head,
loss).  Median of --reps repetitions, for micro-batch 1 and 4 (the issue time should not depend on
it).  Writes --out/host_<GPU>.json (merging the tp entries of earlier runs).

    python3 profiler/host_overhead.py --out profiles                           (tp = 1)
    torchrun --standalone --nproc_per_node 2 profiler/host_overhead.py --out profiles   (tp = 2)
"""
import argparse
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
from profile_ops import gpu_short_name  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="profiles")
    ap.add_argument("--mbs", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    tp = world
    rank, _, dev = ts.init_cuda_rank(tp)
    mdef = dict(ts.LLAMA8B)
    S, V = mdef["seq_length"], mdef["vocab_size"]

    cycles_per_ms = ts.sleep_cycles_per_ms()

    def barrier():
        if tp > 1:
            dist.barrier()
        torch.cuda.synchronize()

    raw = []
    for layers in (1, 3):
        hf_cfg = ts.make_hf_config(mdef, layers)
        fqns = ts.stage_fqns(layers, 1)[0]
        model, lossf = ts.harness_model(hf_cfg, fqns, dev, tp, rank, dist.group.WORLD if tp > 1 else None)
        for b in args.mbs:
            gen = torch.Generator(device=dev)
            gen.manual_seed(3)
            ids = torch.randint(0, V, (b, S), device=dev, generator=gen)
            labels = torch.randint(0, V, (b, S), device=dev, generator=gen)
            fw, bw, ok = [], [], []
            for i in range(args.reps + 3):
                barrier()
                done = torch.cuda.Event()
                torch.cuda._sleep(int(150 * cycles_per_ms))
                t0 = time.perf_counter()
                loss = lossf(model(ids), labels)
                t1 = time.perf_counter()
                loss.backward()
                t2 = time.perf_counter()
                done.record()
                # the sleep must still be running when the CPU is done issuing
                ok.append(not done.query())
                torch.cuda.synchronize()
                if i >= 3:
                    fw.append((t1 - t0) * 1e3)
                    bw.append((t2 - t1) * 1e3)
            for p in model.parameters():
                p.grad = None
            raw.append(dict(layers=layers, mbs=b, fwd_ms=float(np.median(fw)), bwd_ms=float(np.median(bw)),
                            fwd_ms_p10=float(np.percentile(fw, 10)), fwd_ms_p90=float(np.percentile(fw, 90)),
                            bwd_ms_p10=float(np.percentile(bw, 10)), bwd_ms_p90=float(np.percentile(bw, 90)),
                            gpu_still_asleep=all(ok)))
            if rank == 0:
                print(json.dumps(raw[-1]), flush=True)
        del model
        torch.cuda.empty_cache()

    if rank == 0:
        def med(key, layers):
            return float(np.median([r[key] for r in raw if r["layers"] == layers]))
        per_layer_f = (med("fwd_ms", 3) - med("fwd_ms", 1)) / 2
        per_layer_b = (med("bwd_ms", 3) - med("bwd_ms", 1)) / 2
        entry = dict(fwd_ms_per_layer=per_layer_f, bwd_ms_per_layer=per_layer_b,
                     fwd_ms_fixed=med("fwd_ms", 1) - per_layer_f, bwd_ms_fixed=med("bwd_ms", 1) - per_layer_b,
                     raw=raw)
        gpu_name = torch.cuda.get_device_name(dev)
        path = os.path.join(args.out, f"host_{gpu_short_name(gpu_name)}.json")
        ts.merge_json_entry(path, dict(
                   what="host (CPU) issue time of one micro-batch, eager PyTorch (profiler/host_overhead.py)",
                   gpu=gpu_short_name(gpu_name), gpu_name=gpu_name, cpu=ts.cpu_model(),
                   torch=torch.__version__, python=platform.python_version(),
                   date=datetime.date.today().isoformat(),
                   method="GPU stream backed up by a 150 ms sleep kernel; CPU wall time of forward+loss and of "
                          "backward; validation/train_step.py model (HF LlamaDecoderLayer, manual Megatron-style TP "
                          "for tp > 1) with 1 and 3 layers, llama8b dimensions; per layer = (3-layer - 1-layer) / 2"),
            "tp", str(tp), entry)
        print(f"wrote {path}: tp={tp} fwd {per_layer_f:.3f} ms/layer + {entry['fwd_ms_fixed']:.3f}, "
              f"bwd {per_layer_b:.3f} ms/layer + {entry['bwd_ms_fixed']:.3f}", flush=True)
    if tp > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
