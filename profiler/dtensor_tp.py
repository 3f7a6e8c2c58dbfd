#!/usr/bin/env python3
"""Turn profiler/dtensor_tp.sh's captured step times into what DTensor TP adds to the Megatron-style TP.

For each model, runtime r (dtensor, manual), depth L (1, 3 layers) and micro-batch size b, the step time
at gbs 4 and 8 (m = gbs/b micro-batches) gives T = m * x + y: x per micro-batch, y per step (optimizer).
The difference between the runtimes, D = dtensor - manual, then splits by depth into a part per layer
and a fixed part (embedding, lm_head, loss):
  perLayer_ms[b] = (Dx(3) - Dx(1)) / 2        per micro-batch, per layer
  fixed_ms[b]    =  Dx(1) - perLayer_ms[b]     per micro-batch
  stepPerLayer_ms, stepFixed_ms: the same for y (once per step: the optimizer over DTensor parameters).
Usage: python3 profiler/dtensor_tp.py WORKDIR --out OUTDIR  -> OUTDIR/dtensor_tp_<GPU>.json
"""
import argparse
import datetime
import glob
import json
import os
import re
import statistics


def load(d):
    """{(b, g): (step_ms, record)} of one train_step.py output folder."""
    out = {}
    for f in glob.glob(os.path.join(d, "*.json")):
        r = json.load(open(f))
        m = r.get("measured", {})
        if m.get("step_time_ms_median") is None:
            continue
        out[(r["plan"]["mbs"], r["plan"]["gbs"])] = (m["step_time_ms_median"], r)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    entries, meta = {}, {}
    for model in sorted(os.listdir(args.work)):
        base = os.path.join(args.work, model)
        if not os.path.isdir(os.path.join(base, "dtensor")):
            continue
        runs = {(impl, L): load(os.path.join(base, impl, f"L{L}")) for impl in ("dtensor", "manual") for L in (1, 3)}
        rows = []
        for b in (1, 2, 4):
            xy = {}
            for key, res in runs.items():
                if (b, 4) not in res or (b, 8) not in res:
                    break
                t4, t8 = res[(b, 4)][0], res[(b, 8)][0]
                m4, m8 = 4 // b, 8 // b
                x = (t8 - t4) / (m8 - m4)
                xy[key] = (x, t4 - m4 * x)
            else:
                dx = {L: xy[("dtensor", L)][0] - xy[("manual", L)][0] for L in (1, 3)}
                dy = {L: xy[("dtensor", L)][1] - xy[("manual", L)][1] for L in (1, 3)}
                per_layer = (dx[3] - dx[1]) / 2
                step_layer = (dy[3] - dy[1]) / 2
                rows.append(dict(mbs=b, perLayer_ms=per_layer, fixed_ms=dx[1] - per_layer,
                                 stepPerLayer_ms=step_layer, stepFixed_ms=dy[1] - step_layer,
                                 micro_batch_ms={f"{k[0]} L{k[1]}": v[0] for k, v in xy.items()},
                                 step_ms={f"{k[0]} L{k[1]}": v[1] for k, v in xy.items()}))
        if rows:
            any_rec = next(iter(runs[("dtensor", 1)].values()))[1]
            meta = dict(gpu_name=any_rec["machine"]["gpu_name"], torch=any_rec["versions"]["torch"], nccl=any_rec["versions"].get("nccl"))
            entries[f"{model} tp2"] = dict(model=model, tp=2, hidden_size=any_rec["model"]["hidden_size"], rows=rows)
            for r in rows:
                print(f"{model} mbs {r['mbs']}: +{r['perLayer_ms']:.3f} ms per layer, +{r['fixed_ms']:.3f} ms fixed per micro-batch; "
                      f"per step +{r['stepPerLayer_ms']:.3f} per layer, +{r['stepFixed_ms']:.3f} fixed")
    if not entries:
        raise SystemExit(f"dtensor_tp.py: no complete set of runs under {args.work}")
    gpu = (re.search(r"(H100|H200|A100|B200|L40S|A40)", meta["gpu_name"]) or [None, meta["gpu_name"]])[1]
    res = dict(what="DTensor TP minus Megatron-style TP, captured steps (profiler/dtensor_tp.sh, dtensor_tp.py): ms per micro-batch per layer and fixed, ms per step per layer and fixed",
               gpu=gpu, **meta, date=datetime.date.today().isoformat(), method=__doc__.strip().splitlines()[2:9], entries=entries)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"dtensor_tp_{gpu}.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
