#!/usr/bin/env python3
"""Your training host's speed for fasop's host-speed policy: microseconds per CUDA launch of a tiny
PyTorch op, issued back to back (the GPU keeps up, so the time is the CPU's: Python, PyTorch's
dispatcher, the driver). The same probe that profiler/host_issue.py records with its figures and
validation/train_step.py records between training steps (host_speed_probe()).

    python3 profiler/host_speed.py [--seconds 30]
prints the mean over the period, and its median, 10th and 90th percentiles. Shared hosts vary (a busy
neighbour on the same physical core slows the issue down, for seconds to minutes): pass the mean,
which a training run's average pace follows (docs/accuracy.md), to
`fasop search ... --host-profile host_issue_<GPU>.json --host-launch-us <mean>`, and read the
percentiles as the range a HOST-BOUND plan's step time will swing over.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "validation"))
from train_step import host_speed_probe  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("host_speed.py: no CUDA device visible - run it on the training host (the launch time is the index)")
    dev = torch.device("cuda", 0)
    host_speed_probe(dev)  # warm-up (CUDA context, kernels)
    xs = []
    t_end = time.perf_counter() + args.seconds
    while time.perf_counter() < t_end:
        xs.append(host_speed_probe(dev)["cuda_launch_us"])
        time.sleep(0.05)
    print(f"cuda_launch_us mean {np.mean(xs):.2f} (median {np.median(xs):.2f}, p10 {np.percentile(xs, 10):.2f}, "
          f"p90 {np.percentile(xs, 90):.2f}) over {len(xs)} probes in {args.seconds:.0f} s on {torch.cuda.get_device_name(dev)}")


if __name__ == "__main__":
    main()
