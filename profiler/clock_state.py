#!/usr/bin/env python3
"""The GEMMs of the shipped per-model profiles' layers, timed the operator profiler's way and the
per-model profiler's way, on a cool GPU and again after a minute of back-to-back GEMMs.

The operator profile (operators.py) and the per-model profiles (profile_ops.py) time the same
nn.Linear-layout GEMMs in two ways:

  burst    operators.py's Bench: one sleep kernel, then 3-7 repetitions back to back (median)
  spaced   profile_ops.py's timer: a sleep kernel of at least 1 ms before each of 20 repetitions (median)

For LLaMA 1B/8B/70B at TP 1/2/4/8 and micro-batch 1-32 (sequence 1024), each layer column's
forward (Y = X W^T) and backward (input gradient + weight gradient) is timed both ways, in two
passes: on a cool GPU (after --rest idle seconds), then right after --heat seconds of back-to-back
GEMMs. The SM clock, power and temperature are sampled with nvidia-smi every 100 ms. Writes OUT
(JSON: GPU, driver, torch, date, every row). validation/checks/gemm_timings.ts compares the rows
with the per-model profiles' columns (docs/operator-profiles.md, "What limits it").

Usage: python3 profiler/clock_state.py --out validation/results/clock_state/clock_state_H100.json
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

import sustained_clock
from operators import Bench

MODELS = {  # hidden, ffn, query heads, kv heads, head dim (the catalog's llama1b / llama8b / llama70b)
    "llama1b": (2048, 8192, 32, 8, 64),
    "llama8b": (4096, 14336, 32, 8, 128),
    "llama70b": (8192, 28672, 64, 8, 128),
}
TPS = [1, 2, 4, 8]
MBS = [1, 2, 4, 8, 16, 32]
SEQ = 1024
SPACED_REPS = 20
SPACED_SLEEP_MS = 1.0


def columns(h, ffn, hq, hkv, hd, tp):
    """(column, in_features K, out_features N) of one layer's GEMMs at TP degree tp."""
    return [("attn_q", h, hq * hd // tp), ("attn_k", h, hkv * hd // tp), ("attn_v", h, hkv * hd // tp),
            ("attn_o", hq * hd // tp, h), ("mlp_gate", h, ffn // tp), ("mlp_up", h, ffn // tp), ("mlp_down", ffn // tp, h)]


class Sampler(sustained_clock.Sampler):
    """nvidia-smi samples (SM clock MHz, power W, temperature C) every 100 ms, in a thread."""

    FIELDS = "clocks.sm,power.draw,temperature.gpu"

    def _read(self):
        for line in self.proc.stdout:
            try:
                c, p, t = (float(x) for x in line.split(","))
                self.samples.append((time.time(), c, p, t))
            except ValueError:
                pass

    def between(self, t0, t1):
        xs = [s for s in self.samples if t0 <= s[0] <= t1]
        if not xs:
            return None
        med = lambda i: sorted(s[i] for s in xs)[len(xs) // 2]
        return {"samples": len(xs), "sm_clock_MHz_median": med(1), "sm_clock_MHz_min": min(s[1] for s in xs),
                "power_W_median": med(2), "temperature_C_median": med(3), "temperature_C_max": max(s[3] for s in xs)}


def spaced_ms(fn, cycles_per_ms):
    fn()
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(SPACED_REPS)]
    for a, b in ev:
        torch.cuda._sleep(int(SPACED_SLEEP_MS * cycles_per_ms))
        a.record()
        fn()
        b.record()
    torch.cuda.synchronize()
    ts = sorted(a.elapsed_time(b) for a, b in ev)
    return ts[len(ts) // 2]


def measure(bench, dev, pass_name):
    rows = []
    for model, dims in MODELS.items():
        for tp in TPS:
            for mbs in MBS:
                M = mbs * SEQ
                for col, K, N in columns(*dims, tp):
                    x = torch.randn(M, K, device=dev, dtype=torch.bfloat16)
                    w = torch.randn(N, K, device=dev, dtype=torch.bfloat16) * 0.02
                    g = torch.randn(M, N, device=dev, dtype=torch.bfloat16)
                    fwd = lambda: F.linear(x, w)
                    bwd = lambda: (torch.mm(g, w), torch.mm(g.t(), x))
                    row = {"pass": pass_name, "model": model, "tp": tp, "mbs": mbs, "column": col, "M": M, "K": K, "N": N}
                    for method, timer in (("burst", lambda f: bench.ms(f, False)), ("spaced", lambda f: spaced_ms(f, bench.cycles_per_ms))):
                        row[f"{method}_forward_ms"] = round(timer(fwd), 5)
                        row[f"{method}_backward_ms"] = round(timer(bwd), 5)
                    rows.append(row)
                    del x, w, g
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rest", type=float, default=20.0, help="idle seconds before the cool pass")
    ap.add_argument("--heat", type=float, default=60.0, help="seconds of back-to-back GEMMs before the warm pass")
    args = ap.parse_args()
    dev = torch.device("cuda")
    sampler = Sampler()
    bench = Bench(dev)
    passes = {}
    rows = []
    time.sleep(args.rest)
    t0 = time.time()
    rows += measure(bench, dev, "cool")
    passes["cool"] = sampler.between(t0, time.time())
    a = torch.randn(8192, 8192, device=dev, dtype=torch.bfloat16)
    t0 = time.time()
    while time.time() - t0 < args.heat:
        for _ in range(50):
            a @ a
        torch.cuda.synchronize()
    passes["heat"] = sampler.between(t0, time.time())
    del a
    t0 = time.time()
    rows += measure(bench, dev, "warm")
    passes["warm"] = sampler.between(t0, time.time())
    sampler.stop()
    sustained_clock.write_run(args.out, seq=SEQ, spaced_reps=SPACED_REPS, spaced_sleep_ms=SPACED_SLEEP_MS, rest_s=args.rest,
                              heat_s=args.heat, passes=passes, rows=rows)
    print(json.dumps(passes))


if __name__ == "__main__":
    main()
