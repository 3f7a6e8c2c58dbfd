#!/usr/bin/env python3
"""Where two runtimes' GPU time differs: the kernels of two chrome traces (train_step.py --kernel-trace,
one step each), grouped by kernel name, with the time and count of each group in A and in B, the groups
sorted by the difference. Usage: python3 validation/kernel_diff.py TRACE_A TRACE_B [--top 25] > diff.json"""
import argparse
import collections
import json
import re


def groups(path):
    d = json.load(open(path))
    out = collections.defaultdict(lambda: [0.0, 0])
    for e in d["traceEvents"]:
        if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset"):
            name = e["name"].split("(")[0][:120]
            g = out[name]
            g[0] += e["dur"] / 1e3
            g[1] += 1
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    ga, gb = groups(args.a), groups(args.b)
    rows = []
    for k in set(ga) | set(gb):
        ta, na = ga.get(k, [0.0, 0])
        tb, nb = gb.get(k, [0.0, 0])
        rows.append(dict(kernel=k, a_ms=round(ta, 3), a_count=na, b_ms=round(tb, 3), b_count=nb, diff_ms=round(tb - ta, 3)))
    rows.sort(key=lambda r: -abs(r["diff_ms"]))
    print(json.dumps(dict(a=args.a, b=args.b, a_total_ms=round(sum(g[0] for g in ga.values()), 3),
                          b_total_ms=round(sum(g[0] for g in gb.values()), 3), groups=rows[:args.top]), indent=1))


if __name__ == "__main__":
    main()
