#!/usr/bin/env python3
"""How much slower a GPU runs operators under sustained load than the operator profiler times them.

The operator profiler (operators.py) queues a sleep kernel and then a few repetitions of one
operator, so every cell is timed right after the GPU idled: at its boost clock and low power. A
training step runs kernels back to back for seconds and can hold the GPU at its power limit, where
the driver lowers the SM clock. This probe times the same operators both ways and samples the SM
clock, power draw and throttle reasons with nvidia-smi while it runs:

  burst      the profiler's method: a sleep kernel, then REPS timed repetitions (median)
  sustained  the operator back to back for --seconds, timed in chunks of 20 calls (median of the
             last half: the clock settled)

Operators: bf16 GEMMs of LLaMA-8B and LLaMA-70B widths (tokens x in x out) and a bandwidth-bound
element-wise add of two 64 MiB bf16 tensors. Writes OUT (JSON: GPU, driver, torch, date, each
operator's times and the clock and power over its sustained phase).

Usage: python3 profiler/sustained_clock.py --out validation/results/sustained_clock/sustained_clock_H200.json
"""
import argparse
import datetime
import json
import os
import subprocess
import threading
import time

import torch
import torch.nn.functional as F

from operators import sleep_cycles_per_ms  # the operator profiler's own sleep calibration

GEMMS = [  # name, tokens M, in_features K, out_features N
    ("linear 8192x4096x14336 (LLaMA-8B gate/up, 2 x 4096 tokens)", 8192, 4096, 14336),
    ("linear 8192x14336x4096 (LLaMA-8B down)", 8192, 14336, 4096),
    ("linear 8192x4096x4096 (LLaMA-8B q/o)", 8192, 4096, 4096),
    ("linear 1024x8192x28672 (LLaMA-70B gate/up, 1024 tokens)", 1024, 8192, 28672),
]
REPS = 7


class Sampler:
    """nvidia-smi samples (SM clock MHz, power W, throttle reasons) every 100 ms, in a thread."""

    FIELDS = "clocks.sm,power.draw,clocks_throttle_reasons.active"

    def __init__(self):
        self.samples = []
        self.proc = subprocess.Popen(["nvidia-smi", f"--query-gpu={self.FIELDS}", "--format=csv,noheader,nounits", "-lms", "100", "-i", "0"],
                                     stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            parts = [p.strip() for p in line.split(",")]
            try:
                self.samples.append((time.time(), float(parts[0]), float(parts[1]), parts[2]))
            except (ValueError, IndexError):
                pass

    def between(self, t0, t1):
        xs = [s for s in self.samples if t0 <= s[0] <= t1]
        if not xs:
            return None
        clocks = sorted(s[1] for s in xs)
        power = sorted(s[2] for s in xs)
        return {"samples": len(xs), "sm_clock_MHz_median": clocks[len(clocks) // 2], "sm_clock_MHz_min": clocks[0],
                "power_W_median": power[len(power) // 2], "throttle_reasons": sorted({s[3] for s in xs})}

    def stop(self):
        self.proc.terminate()


def write_run(path, **fields):
    """Write a probe's JSON: the GPU, driver, clock and power limits, torch, CUDA and the date, then `fields`."""
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,power.limit", "--format=csv,noheader", "-i", "0"],
                         capture_output=True, text=True).stdout.strip()
    out = {"gpu": torch.cuda.get_device_name(0), "nvidia_smi": smi, "torch": torch.__version__, "cuda": torch.version.cuda,
           "date": datetime.datetime.now().isoformat(timespec="seconds"), **fields}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)


def burst_ms(fn, cycles_per_ms):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(REPS)]
    torch.cuda._sleep(int(2.0 * cycles_per_ms))
    for a, b in ev:
        a.record()
        fn()
        b.record()
    torch.cuda.synchronize()
    ts = sorted(a.elapsed_time(b) for a, b in ev)
    return ts[len(ts) // 2]


def sustained_ms(fn, seconds, chunk=20):
    out = []
    t0 = time.time()
    while time.time() - t0 < seconds:
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(chunk):
            fn()
        b.record()
        torch.cuda.synchronize()
        out.append(a.elapsed_time(b) / chunk)
    settled = sorted(out[len(out) // 2:])
    return settled[len(settled) // 2], len(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=10.0, help="sustained phase per operator")
    ap.add_argument("--rest", type=float, default=5.0, help="idle seconds before each operator (the GPU cools)")
    args = ap.parse_args()
    dev = torch.device("cuda")
    sampler = Sampler()
    cpm = sleep_cycles_per_ms()
    rows = []

    def probe(name, fn, flops, bytes_):
        torch.cuda.synchronize()
        time.sleep(args.rest)
        tb0 = time.time()
        b = burst_ms(fn, cpm)
        tb1 = time.time()
        ts0 = time.time()
        s, chunks = sustained_ms(fn, args.seconds)
        ts1 = time.time()
        row = {"operator": name, "burst_ms": b, "sustained_ms": s, "sustained_over_burst": s / b, "chunks": chunks,
               "burst_TFLOPS": flops / b / 1e9 if flops else None, "sustained_TFLOPS": flops / s / 1e9 if flops else None,
               "sustained_GBps": bytes_ / s / 1e6 if bytes_ else None,
               "during_burst": sampler.between(tb0 - 0.05, tb1 + 0.05),
               "during_sustained_second_half": sampler.between((ts0 + ts1) / 2, ts1)}
        rows.append(row)
        print(json.dumps(row), flush=True)

    for name, M, K, N in GEMMS:
        x = torch.randn(M, K, device=dev, dtype=torch.bfloat16)
        w = torch.randn(N, K, device=dev, dtype=torch.bfloat16)
        probe(name, lambda x=x, w=w: F.linear(x, w), 2 * M * N * K, None)
        del x, w
    a = torch.randn(32 * 2**20, device=dev, dtype=torch.bfloat16)
    c = torch.randn_like(a)
    probe("add of two 64 MiB bf16 tensors", lambda: a + c, None, 3 * a.numel() * 2)
    sampler.stop()
    write_run(args.out, burst_reps=REPS, sustained_s=args.seconds, rows=rows)


if __name__ == "__main__":
    main()
