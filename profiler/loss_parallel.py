#!/usr/bin/env python3
"""What PyTorch DTensor's vocab-parallel loss costs beside the hand-written Megatron-style one, on a
real TP group (two GPUs): the cross-entropy of vocab-sharded logits, forward and backward.

  - megatron-style: validation/train_step.py's _VocabParallelCE (fp32 upcast of the local logits, three
    small all-reduces: max, target logit, sum of exponentials);
  - dtensor: F.cross_entropy on a Shard(-1) DTensor inside torch.distributed.tensor.parallel.loss_parallel()
    (what train_step.py --tp-impl dtensor runs: ColwiseParallel lm_head with use_local_output=False).

For micro-batch sizes 1, 2, 4 (sequence 1024, vocab 128256 by default): GPU time of one forward+backward
captured in a CUDA graph and replayed (median of 20 replays; the CPU's dispatch is not in it), and the
allocator peak above the logits during one eager forward+backward, in bytes per local logit. fasop's
recipe bf16-adamw-graph-dtensor adds the time difference per local logit to the loss and the peak
difference to the loss's memory (docs/estimator.md, policy tp-runtime).

    torchrun --standalone --nproc_per_node 2 profiler/loss_parallel.py OUTDIR [--vocab 128256 --seq 1024]
writes OUTDIR/loss_parallel_<GPU>.json (rank 0).
"""
import argparse
import datetime
import json
import os
import re
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "validation"))
from train_step import make_manual_tp_loss  # noqa: E402


def graph_time_ms(fn, leaf, reps=20):
    """Median GPU ms of fn() captured in a CUDA graph (warm-up on a side stream first)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            leaf.grad = None
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    leaf.grad = None
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        dist.barrier()
        torch.cuda.synchronize()
        a.record()
        g.replay()
        b.record()
        torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    del g
    leaf.grad = None
    return ts[len(ts) // 2]


def eager_peak_bytes(fn, leaf):
    """Allocator peak above what was allocated before one eager fn() (the logits themselves excluded)."""
    leaf.grad = None
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    leaf.grad = None
    return peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--vocab", type=int, default=128256)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--mbs", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    torch.cuda.set_device(dev)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard
    from torch.distributed.tensor.parallel import loss_parallel
    mesh = init_device_mesh("cuda", (world,))
    V_local = args.vocab // world
    name = torch.cuda.get_device_name(dev)
    gpu = (re.search(r"(H100|H200|A100|B200|L40S|A40)", name) or [None, name])[1]
    rows = []
    for b in args.mbs:
        gen = torch.Generator(device=dev)
        gen.manual_seed(7 + rank)
        local = torch.randn(b, args.seq, V_local, device=dev, dtype=torch.bfloat16, generator=gen).requires_grad_(True)
        gen.manual_seed(11)  # the same labels on every rank
        labels = torch.randint(0, args.vocab, (b, args.seq), device=dev, generator=gen)
        manual_loss = make_manual_tp_loss(V_local, rank * V_local, dist.group.WORLD)

        def manual():
            manual_loss(local, labels).backward()

        def dtensor():
            x = DTensor.from_local(local, mesh, [Shard(2)], run_check=False)
            with loss_parallel():
                loss = F.cross_entropy(x.flatten(0, 1).float(), labels.flatten(0, 1))
                loss.backward()

        # both compute the same loss: checked once, eagerly
        ml = manual_loss(local.detach(), labels).item()
        with loss_parallel():
            dl = F.cross_entropy(DTensor.from_local(local.detach(), mesh, [Shard(2)], run_check=False).flatten(0, 1).float(),
                                 labels.flatten(0, 1)).full_tensor().item()
        row = dict(mbs=b, local_logits=b * args.seq * V_local, loss_megatron=ml, loss_dtensor=dl)
        row["megatron_ms"] = graph_time_ms(manual, local)
        row["dtensor_ms"] = graph_time_ms(dtensor, local)
        n = row["local_logits"]
        row["megatron_peak_bytes_per_logit"] = eager_peak_bytes(manual, local) / n
        row["dtensor_peak_bytes_per_logit"] = eager_peak_bytes(dtensor, local) / n
        row["extra_ms_per_Glogit"] = (row["dtensor_ms"] - row["megatron_ms"]) / (n / 1e9)
        row["extra_peak_bytes_per_logit"] = row["dtensor_peak_bytes_per_logit"] - row["megatron_peak_bytes_per_logit"]
        rows.append(row)
        if rank == 0:
            print(f"mbs {b}: megatron {row['megatron_ms']:.3f} ms, dtensor {row['dtensor_ms']:.3f} ms "
                  f"(+{row['extra_ms_per_Glogit']:.2f} ms per 1e9 local logits); peak above the logits "
                  f"{row['megatron_peak_bytes_per_logit']:.2f} / {row['dtensor_peak_bytes_per_logit']:.2f} B per local logit; "
                  f"loss {ml:.4f} / {dl:.4f}", flush=True)
        del local
        torch.cuda.empty_cache()
    if rank == 0:
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        res = dict(what="DTensor loss_parallel vs Megatron-style vocab-parallel cross-entropy (profiler/loss_parallel.py)",
                   gpu=gpu, gpu_name=name, tp=world, vocab=args.vocab, seq=args.seq, torch=torch.__version__,
                   nccl=".".join(map(str, torch.cuda.nccl.version())), date=datetime.date.today().isoformat(), rows=rows,
                   extra_ms_per_Glogit=med([r["extra_ms_per_Glogit"] for r in rows]),
                   extra_peak_bytes_per_logit=med([r["extra_peak_bytes_per_logit"] for r in rows]))
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, f"loss_parallel_{gpu}.json"), "w") as f:
            json.dump(res, f, indent=1)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
