#!/usr/bin/env python3
"""Summarise chrome traces written by train_step.py --kernel-trace: per rank, the step's span, GPU
busy time of compute kernels and of NCCL kernels, how much of the NCCL time overlaps compute, idle
time, and the NCCL kernels (start relative to the first kernel, duration) with the end of the last
compute kernel before the optimizer (the backward's end).
Usage: python3 validation/summarize_kernel_trace.py TRACE_DIR > summary.json"""
import glob, json, os, sys


def union(iv):
    tot, cs, ce = 0.0, None, None
    for s, e in sorted(iv):
        if ce is None or s > ce:
            if ce is not None:
                tot += ce - cs
            cs, ce = s, e
        else:
            ce = max(ce, e)
    return tot + (ce - cs if ce is not None else 0.0)


def summarize(path):
    d = json.load(open(path))
    ev = sorted((e for e in d["traceEvents"] if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")),
                key=lambda e: e["ts"])
    t0, t1 = ev[0]["ts"], max(e["ts"] + e["dur"] for e in ev)
    nccl = [e for e in ev if "nccl" in e["name"].lower()]
    comp = [e for e in ev if "nccl" not in e["name"].lower()]
    ci = [(e["ts"], e["ts"] + e["dur"]) for e in comp]
    ni = [(e["ts"], e["ts"] + e["dur"]) for e in nccl]
    cu, nu, both = union(ci), union(ni), union(ci + ni)
    opt = [e for e in comp if "multi_tensor_apply" in e["name"]]
    bwd_end = max((b for a, b in ci if not opt or a < opt[0]["ts"]), default=None)
    ms = lambda x: round(x / 1e3, 3)  # noqa: E731
    return dict(file=os.path.basename(path), kernels=len(ev), span_ms=ms(t1 - t0), compute_busy_ms=ms(cu),
                nccl_busy_ms=ms(nu), nccl_kernels=len(nccl), overlap_ms=ms(cu + nu - both), idle_ms=ms(t1 - t0 - both),
                optimizer_start_ms=ms(opt[0]["ts"] - t0) if opt else None,
                compute_end_before_optimizer_ms=ms(bwd_end - t0) if bwd_end else None,
                nccl_timeline_ms=[[ms(e["ts"] - t0), ms(e["dur"])] for e in nccl] if len(nccl) <= 40 else None)


if __name__ == "__main__":
    print(json.dumps([summarize(p) for p in sorted(glob.glob(os.path.join(sys.argv[1], "*.json")))], indent=1))
