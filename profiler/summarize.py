#!/usr/bin/env python3
"""Sanity checks of measured profiles, printed as markdown.
   python3 profiler/summarize.py [profiles_dir]"""
import glob
import json
import os
import sys

import numpy as np

d = sys.argv[1] if len(sys.argv) > 1 else "profiles"
files = sorted(glob.glob(os.path.join(d, "*_*_*.npz")))
models = ["llama70b", "llama8b", "llama1b"]
by = {}
for f in files:
    z = np.load(f)
    by[(str(z["model"]), int(z["tp"]))] = z
if not by:
    sys.exit("no profiles")
z0 = next(iter(by.values()))
print(f"GPU: {z0['gpu_name']} ({z0['gpu']}), torch {z0['torch_version']}, CUDA {z0['cuda_version']}, "
      f"transformers {z0['transformers_version']}, date {z0['date']}, seq {int(z0['seq_length'])}, {z0['dtype']}\n")



def model_tp_table(title, column, cells):
    """One markdown table: a row per (model, tp) profile, a column per micro-batch row."""
    print(title)
    print("| model | tp | " + " | ".join(f"b={int(b)}{column}" for b in z0["mbs"]) + " |")
    print("|---|---|" + "---|" * len(z0["mbs"]))
    for m in models:
        for tp in (1, 2, 4, 8):
            z = by.get((m, tp))
            if z is not None:
                print(f"| {m} | {tp} | " + " | ".join(cells(z)) + " |")


model_tp_table("### Whole layer vs sum of parts (gap = (whole - parts)/whole, %)\n", " fwd / fwd+bwd",
               lambda z: [f"{a:+.1f} / {b:+.1f}" for a, b in zip(z["layer_gap_forward_pct"], z["layer_gap_fwdbwd_pct"])])
model_tp_table("\n### Whole decoder layer time (ms): forward / forward+backward\n", "",
               lambda z: [f"{a:.3f} / {b:.3f}" for a, b in zip(z["layer_forward"], z["layer_fwdbwd"])])
gemm = [1, 2, 3, 4, 5, 7, 8]  # attn_q,k,v,o, gate, up, down
model_tp_table("\n### Backward/forward ratio (whole layer: (fwd+bwd)/fwd - 1; and sum of the 7 layer GEMM columns "
               "q,k,v,o,gate,up,down)\n", " layer / GEMMs",
               lambda z: [f"{a:.2f} / {b:.2f}" for a, b in zip(z["layer_fwdbwd"] / z["layer_forward"] - 1,
                                                               z["backward"][:, gemm].sum(1) / z["data"][:, gemm].sum(1))])

print("\n### TP scaling: layer fwd+bwd time relative to tp=1 (ideal 1/tp), largest and smallest b\n")
print("| model | b | tp=1 ms | tp=2 | tp=4 | tp=8 |")
print("|---|---|---|---|---|---|")
for m in models:
    if (m, 1) not in by:
        continue
    for r in (0, len(by[(m, 1)]["mbs"]) - 1):
        base = by[(m, 1)]["layer_fwdbwd"][r]
        cells = [f"{by[(m, tp)]['layer_fwdbwd'][r] / base:.3f}" if (m, tp) in by else "-" for tp in (2, 4, 8)]
        print(f"| {m} | {int(by[(m, 1)]['mbs'][r])} | {base:.3f} | " + " | ".join(cells) + " |")

print("\n### Per-node forward / backward ms, llama8b, b=4 (row index 2)\n")
names = [str(x) for x in z0["column_names"]]
en = [str(x) for x in z0["extra_names"]]
for tp in (1, 2, 4, 8):
    z = by.get(("llama8b", tp))
    if z is None:
        continue
    r = 2
    cells = [f"{n} {z['data'][r, j]:.3f}/{z['backward'][r, j]:.3f}" for j, n in enumerate(names)]
    cells += [f"{n} {z['extra_forward'][r, j]:.3f}/{z['extra_backward'][r, j]:.3f}" for j, n in enumerate(en)]
    print(f"- tp={tp}: " + ", ".join(cells))

print("\n### Spread: max over all entries of (p90 - p10) / median, main columns\n")
for m in models:
    worst = 0.0
    for tp in (1, 2, 4, 8):
        z = by.get((m, tp))
        if z is None:
            continue
        for a, lo, hi in (("data", "data_p10", "data_p90"), ("backward", "backward_p10", "backward_p90")):
            worst = max(worst, float(np.nanmax((z[hi] - z[lo]) / z[a])))
    print(f"- {m}: {worst*100:.1f}%")

for cf in sorted(glob.glob(os.path.join(d, "comm_*.json"))):
    c = json.load(open(cf))
    print(f"\n### NCCL ({os.path.basename(cf)}): {c['gpu_name']} x{c['gpu_count']}, NCCL {c['nccl_version']}, "
          f"torch {c['torch_version']}, {c['date']}\n")
    f = c["fits"]
    print(f"- p2p one-way (ping-pong/2): latency {f['p2p']['latency_us']:.1f} us, bandwidth "
          f"{f['p2p']['bandwidth_GBps']:.1f} GB/s, residuals % {[round(x, 1) for x in f['p2p']['residuals_pct']]}")
    print(f"- p2p bidirectional exchange: latency {f['p2p_bidir']['latency_us']:.1f} us, bandwidth "
          f"{f['p2p_bidir']['bandwidth_GBps']:.1f} GB/s (per direction), residuals % "
          f"{[round(x, 1) for x in f['p2p_bidir']['residuals_pct']]}")
    a = f["allreduce"]
    print(f"- all-reduce: latency {a['latency_us']:.1f} us, algbw {a['algbw_GBps']:.1f} GB/s, busbw "
          f"{a['busbw_GBps']:.1f} GB/s, residuals % {[round(x, 1) for x in a['residuals_pct']]}")
    print("\n| bytes | p2p one-way ms | p2p GB/s | bidir ms | all-reduce ms (p10-p90) | algbw GB/s | busbw GB/s |")
    print("|---|---|---|---|---|---|---|")
    for p, bd, ar in zip(c["raw"]["p2p"], c["raw"]["p2p_bidir"], c["raw"]["allreduce"]):
        print(f"| {p['bytes']} | {p['median_ms']:.4f} | {p['bytes']/p['median_ms']/1e6:.1f} | {bd['median_ms']:.4f} | "
              f"{ar['median_ms']:.4f} ({ar['p10_ms']:.4f}-{ar['p90_ms']:.4f}) | {ar['algbw_GBps']:.1f} | "
              f"{ar['busbw_GBps']:.1f} |")
