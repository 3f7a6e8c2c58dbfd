#!/usr/bin/env python3
"""Print a compact table of validation results: python3 validation/summarize.py [DIR]"""
import glob
import json
import os
import sys

d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
rows = []
for f in sorted(glob.glob(os.path.join(d, "*.json"))):
    r = json.load(open(f))
    p, m = r["plan"], r["measured"]
    suffix = os.path.basename(f)[:-5].split(f"_gbs{p['gbs']}", 1)[-1].lstrip("_") or "-"
    rows.append((p["tp"], p["pp"], p["dp"], p["mbs"], p["gbs"], m,
                 "-".join(str(x) for x in p.get("layers_per_stage", [])) + " " + suffix))
rows.sort(key=lambda x: x[:5])
print(f"{'tp':>2} {'pp':>2} {'dp':>2} {'mbs':>3} {'gbs':>3} {'m':>3} {'step_ms':>9} {'p10':>9} {'p90':>9}  "
      f"{'peak_alloc_GiB':<16} {'peak_resv_GiB':<16} {'lps variant':<18} status")
for tp, pp, dp, b, g, m, lps in rows:
    nmb = g // (dp * b) if g % (dp * b) == 0 else 0
    if m.get("oom") or m.get("error"):
        st = "OOM" if m.get("oom") else m.get("error")
        print(f"{tp:>2} {pp:>2} {dp:>2} {b:>3} {g:>3} {nmb:>3} {'-':>9} {'-':>9} {'-':>9}  {'-':<16} {'-':<16} {lps:<18} {st}")
        continue
    pa = "/".join(f"{x:.1f}" for x in m["peak_allocated_GiB_per_rank"])
    pr = "/".join(f"{x:.1f}" for x in m["peak_reserved_GiB_per_rank"])
    print(f"{tp:>2} {pp:>2} {dp:>2} {b:>3} {g:>3} {nmb:>3} {m['step_time_ms_median']:>9.1f} "
          f"{m['step_time_ms_p10']:>9.1f} {m['step_time_ms_p90']:>9.1f}  {pa:<16} {pr:<16} {lps:<18} ok")
