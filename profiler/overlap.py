#!/usr/bin/env python3
"""How much of an all-reduce hides behind compute running at the same time (DDP's gradient buckets).

Run: torchrun --nproc_per_node 2 profiler/overlap.py --out DIR    -> DIR/overlap_{GPU}.json

For each message size, on every rank: t_gemm = N bf16 GEMMs (4096x4096x4096) on the compute stream,
sized to outlast the all-reduce; t_ar = the all-reduce alone on a second stream; t_both = both
launched together (the all-reduce on its own stream, as DDP's reducer does). Times are CUDA-event
intervals, max over ranks, median of reps, after a barrier. The all-reduce's exposed fraction is
(t_both - t_gemm) / t_ar: 0 when it hides completely, 1 when it costs as much as running alone.
"""
import argparse, datetime, json, os, re, sys
import numpy as np
import torch
import torch.distributed as dist


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="profiles")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--sizes-mib", type=int, nargs="+", default=[64, 256, 1024])
    args = ap.parse_args()
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dev = torch.device("cuda", torch.cuda.current_device())
    name = torch.cuda.get_device_name(dev)
    gpu = (re.search(r"(H100|H200|A100|B200|L40S)", name) or [None, name])[1]
    comm = torch.cuda.Stream(dev)
    a = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)
    b = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)
    c = torch.empty_like(a)

    def gemms(n):
        for _ in range(n):
            torch.mm(a, b, out=c)

    def timed(fn):
        ts = []
        for it in range(args.reps + 2):
            dist.barrier()
            torch.cuda.synchronize()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            torch.cuda.synchronize()
            if it >= 2:
                ts.append(s.elapsed_time(e))
        t = torch.tensor(ts, device=dev, dtype=torch.float64)
        all_t = [torch.zeros_like(t) for _ in range(world)]
        dist.all_gather(all_t, t)
        return float(np.median(torch.stack(all_t).max(0).values.cpu().numpy()))

    rows = []
    for mib in args.sizes_mib:
        buf = torch.ones(mib * 2 ** 20 // 2, device=dev, dtype=torch.bfloat16)

        def ar_alone():
            comm.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(comm):
                dist.all_reduce(buf)
            torch.cuda.current_stream().wait_stream(comm)
        t_ar = timed(ar_alone)
        t1 = timed(lambda: gemms(10)) / 10
        n = max(10, int(2.0 * t_ar / t1) + 1)
        t_gemm = timed(lambda: gemms(n))

        def both():
            comm.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(comm):
                dist.all_reduce(buf)
            gemms(n)
            torch.cuda.current_stream().wait_stream(comm)
        t_both = timed(both)
        exposed = (t_both - t_gemm) / t_ar
        rows.append(dict(bytes=mib * 2 ** 20, allreduce_ms=t_ar, gemms=n, gemm_ms=t_gemm, both_ms=t_both,
                         exposed_fraction=exposed))
        if rank == 0:
            print(f"{mib:6d} MiB  all-reduce {t_ar:7.3f} ms  {n} GEMMs {t_gemm:7.3f} ms  together {t_both:7.3f} ms"
                  f"  exposed {exposed * 100:5.1f} %", flush=True)
        del buf
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, f"overlap_{gpu}.json"), "w") as fh:
            json.dump(dict(gpu=gpu, gpu_name=name, gpu_count=world, torch=torch.__version__,
                           nccl=".".join(map(str, torch.cuda.nccl.version())),
                           date=datetime.date.today().isoformat(),
                           method=__doc__.strip().split("\n\n")[1], rows=rows,
                           exposed_fraction_median=float(np.median([r["exposed_fraction"] for r in rows]))),
                      fh, indent=1)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
