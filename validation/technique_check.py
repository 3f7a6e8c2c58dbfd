#!/usr/bin/env python3
"""Check each multi-GPU technique of train_step.py against one process, on CPU (gloo), in fp32.

Every check trains the tiny LLaMA-style model (4 layers, hidden 256, 8 heads / 2 KV heads, FFN 512,
vocabulary 1024, sequence 64) for a few steps from the same weights (--init-by-name) on the same global
batch, once as a single process (tp = pp = dp = cp = 1) and once under the technique, and compares
  * the loss of every step (the technique's: the mean over the ranks that hold one), and
  * every weight after the last step, gathered into full tensors (train_step.py --dump).
A check passes when the largest relative loss difference and the weights' difference, as an L2 norm
relative to how far the reference's weights moved (over all weights, and per tensor), stay within
the tolerances below, the runs started from identical weights and every replica of a weight agrees.
The largest absolute weight difference is recorded too but not bounded: AdamW divides each gradient
by its own magnitude, so an element whose gradient is near zero turns fp32 rounding into an update of
up to lr. A control run (one process with the learning rate 10 % higher) must fail the tolerances,
which shows that they are tight enough to see a wrong update.

    python3 validation/technique_check.py [--out DIR] [--only NAME,...] [--jobs N] [--keep DIR] [--timeout-s S]

writes one JSON per check into --out (default validation/results/techniques_cpu) and exits 1 when
any check fails.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

STEPS = 3
LR = 1e-3
GBS = 8
BASE = ["--cpu", "--tiny", "--dtype", "fp32", "--init-by-name", "--layers", "4", "--gbs", str(GBS),
        "--steps", str(STEPS), "--warmup", "0", "--lr", str(LR), "--tp-impl", "manual"]
# fp32 on CPU: the plans sum the same terms in other orders (TP partial products, ring-attention blocks,
# sharded reductions); after 3 AdamW steps of lr 1e-3 every weight has moved by up to ~3e-3
TOL_LOSS_REL = 1e-5
TOL_WEIGHT_REL_L2 = 1e-3  # ||w - w_ref|| / ||w_ref - w_init|| over all weights
TOL_TENSOR_REL_L2 = 1e-2  # the same per tensor, the largest
TOL_REPLICA_ABS = 1e-5    # replicas of one weight (dp, cp, tp-replicated norms): largest difference

# name: (train_step.py flags of the technique, micro-batch size)
CHECKS = {
    "ddp_dp2": (["--dp", "2"], 2),
    "zero1_dp2": (["--dp", "2", "--dp-sharding", "optimizer"], 2),
    "zero1_dp4": (["--dp", "4", "--dp-sharding", "optimizer"], 1),
    "zero2_dp2": (["--dp", "2", "--dp-sharding", "gradients"], 2),
    "zero2_dp4": (["--dp", "4", "--dp-sharding", "gradients"], 1),
    "fsdp_dp2": (["--dp", "2", "--dp-sharding", "parameters"], 2),
    "fsdp_dp4": (["--dp", "4", "--dp-sharding", "parameters"], 1),
    "hsdp_dp4_sg2": (["--dp", "4", "--dp-sharding", "parameters", "--shard-group", "2"], 1),
    "tp2": (["--tp", "2"], 2),
    "sp_tp2": (["--tp", "2", "--sequence-parallel"], 2),
    "sp_tp2_dp2": (["--tp", "2", "--dp", "2", "--sequence-parallel"], 2),
    "pp2": (["--pp", "2"], 1),
    "v2_pp2": (["--pp", "2", "--virtual-stages", "2"], 1),
    "v2_pp2_dp2": (["--pp", "2", "--dp", "2", "--virtual-stages", "2"], 1),
    "cp2": (["--cp", "2"], 2),
    "cp4": (["--cp", "4"], 2),
    "cp2_dp2": (["--cp", "2", "--dp", "2"], 1),
    "sp_tp2_pp2": (["--tp", "2", "--pp", "2", "--sequence-parallel"], 1),
    "sp_tp2_pp2_dp2_v2": (["--tp", "2", "--pp", "2", "--dp", "2", "--sequence-parallel", "--virtual-stages", "2"], 1),
}
CONTROL = "control_lr_plus_10pct"


def world_of(flags):
    w = 1
    for k in ("--tp", "--pp", "--dp", "--cp"):
        if k in flags:
            w *= int(flags[flags.index(k) + 1])
    return w


TIMEOUT_S = [300]


def launch(flags, mbs, dump, work, log):
    """Run train_step.py (torchrun for more than one rank) with the common flags; (command, exit code)."""
    w = world_of(flags)
    script = os.path.join(HERE, "train_step.py")
    runner = [sys.executable, script] if w == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                      "--nproc_per_node", str(w), script]
    cmd = runner + BASE + ["--mbs", str(mbs)] + flags + ["--dump", dump, "--out", work]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    with open(log, "w") as fh:
        try:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, timeout=TIMEOUT_S[0]).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    return cmd, rc


def shown(cmd, work):
    """A launch as a reader would type it (python3, paths from the repository root, the work folder as <work>)."""
    line = " ".join("python3" if c == sys.executable else c for c in cmd).replace("python3 -m torch.distributed.run", "torchrun")
    return line.replace(HERE + "/", "validation/").replace(work, "<work>")


def compare(ref, run):
    """Loss and weight differences of a run's dump against the reference dump."""
    lr_, lt = ref["losses"], run["losses"]
    if len(lr_) != len(lt):
        loss_abs = loss_rel = float("inf")
    else:
        loss_abs = max(abs(a - b) for a, b in zip(lr_, lt))
        loss_rel = max(abs(a - b) / abs(a) for a, b in zip(lr_, lt))
    missing = sorted(set(ref["final"]) ^ set(run["final"]))
    w_abs, worst, update, init_abs = 0.0, None, 0.0, 0.0
    num = den = 0.0
    t_rel, t_worst = 0.0, None
    for name, a in ref["final"].items():
        if name not in run["final"]:
            continue
        b = run["final"][name]
        if a.shape != b.shape:
            missing.append(f"{name} (shape {tuple(b.shape)} against {tuple(a.shape)})")
            continue
        d, u = (a - b).double(), (a - ref["init"][name]).double()
        if float(d.abs().max()) >= w_abs:
            w_abs, worst = float(d.abs().max()), name
        num += float((d * d).sum())
        den += float((u * u).sum())
        r = float(d.norm() / u.norm()) if float(u.norm()) > 0 else float("inf")
        if r >= t_rel:
            t_rel, t_worst = r, name
        update = max(update, float(u.abs().max()))
        init_abs = max(init_abs, float((run["init"][name] - ref["init"][name]).abs().max()))
    return dict(
        loss=dict(reference=lr_, technique=lt, max_abs_diff=loss_abs, max_rel_diff=loss_rel),
        weights=dict(tensors=len(ref["final"]), missing_or_misshapen=missing,
                     rel_l2_diff=(num / den) ** 0.5 if den > 0 else float("inf"),
                     tensor_rel_l2_diff_max=t_rel, tensor_rel_l2_worst=t_worst,
                     max_abs_diff=w_abs, max_abs_worst_tensor=worst,
                     reference_update_max_abs=update, init_max_abs_diff=init_abs,
                     replica_max_abs_diff=run["replica_max_abs_diff"]))


def verdict(c):
    w = c["weights"]
    return (c["loss"]["max_rel_diff"] <= TOL_LOSS_REL and w["rel_l2_diff"] <= TOL_WEIGHT_REL_L2
            and w["tensor_rel_l2_diff_max"] <= TOL_TENSOR_REL_L2 and not w["missing_or_misshapen"]
            and w["init_max_abs_diff"] == 0.0 and w["replica_max_abs_diff"] <= TOL_REPLICA_ABS)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(HERE, "results", "techniques_cpu"))
    ap.add_argument("--only", default=None, help="comma-separated check names (default: all)")
    ap.add_argument("--jobs", type=int, default=3, help="checks run at once")
    ap.add_argument("--keep", default=None, help="folder for the launches' logs and dumps (default: a temporary one)")
    ap.add_argument("--timeout-s", type=int, default=300, help="longest a launch may run")
    args = ap.parse_args()
    TIMEOUT_S[0] = args.timeout_s
    names = list(CHECKS) + [CONTROL]
    if args.only:
        want = args.only.split(",")
        bad = [n for n in want if n not in names]
        if bad:
            print(f"technique_check.py: unknown check {bad[0]} (known: {', '.join(names)})", file=sys.stderr)
            return 2
        names = want
    import torch
    import transformers
    work = args.keep or tempfile.mkdtemp(prefix="technique_check_")
    os.makedirs(work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    ref_dump = os.path.join(work, "reference.pt")
    ref_cmd, rc = launch(["--tp", "1"], GBS, ref_dump, os.path.join(work, "runs"), os.path.join(work, "reference.log"))
    if rc != 0:
        print(f"reference run failed (exit {rc}); log: {os.path.join(work, 'reference.log')}", file=sys.stderr)
        return 1
    ref = torch.load(ref_dump, weights_only=True)

    def one(name):
        if name == CONTROL:
            flags, mbs = ["--lr", str(LR * 1.1)], GBS
        else:
            flags, mbs = CHECKS[name]
        dump, log = os.path.join(work, name + ".pt"), os.path.join(work, name + ".log")
        cmd, rc = launch(flags, mbs, dump, os.path.join(work, "runs_" + name), log)
        rec = dict(check=name, technique_flags=flags, mbs=mbs, gbs=GBS, ranks=world_of(flags), steps=STEPS, lr=LR,
                   compared=("the loss of every step (the run's: mean over the ranks that hold a loss) and every "
                             "weight after the last step, gathered into full tensors, against one process with the "
                             f"same weights (--init-by-name) and the same global batch, mbs {GBS}"),
                   tolerance=dict(loss_max_rel_diff=TOL_LOSS_REL, weights_rel_l2_diff=TOL_WEIGHT_REL_L2,
                                  tensor_rel_l2_diff_max=TOL_TENSOR_REL_L2, init_max_abs_diff=0.0,
                                  replica_max_abs_diff=TOL_REPLICA_ABS),
                   command=shown(cmd, work), reference_command=shown(ref_cmd, work),
                   versions=dict(torch=torch.__version__, transformers=transformers.__version__,
                                 python=platform.python_version()),
                   machine=dict(cpu_count=os.cpu_count(), backend="gloo", device="cpu", dtype="fp32"),
                   date=datetime.datetime.now().isoformat(timespec="seconds"))
        if rc != 0 or not os.path.exists(dump):
            with open(log) as fh:
                tail = fh.read()[-3000:]
            rec.update(passed=False, error=f"exit {rc}", log_tail=tail)
        else:
            got = torch.load(dump, weights_only=True)
            rec.update(compare(ref, got), runtime_per_rank=got["runtime_per_rank"])
            ok = verdict(rec)
            if name == CONTROL:
                rec.update(expected="fail: a 10 % larger learning rate must exceed the tolerances",
                           within_tolerance=ok, passed=not ok)
            else:
                rec["passed"] = ok
        with open(os.path.join(args.out, name + ".json.tmp"), "w") as fh:
            json.dump(rec, fh, indent=1)
        os.replace(os.path.join(args.out, name + ".json.tmp"), os.path.join(args.out, name + ".json"))
        return rec

    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        for rec in ex.map(one, names):
            if "error" in rec:
                line = f"{rec['error']}"
            else:
                w = rec["weights"]
                line = (f"loss rel {rec['loss']['max_rel_diff']:.1e}, weights rel L2 {w['rel_l2_diff']:.1e} "
                        f"(worst tensor {w['tensor_rel_l2_diff_max']:.1e}), max abs {w['max_abs_diff']:.1e} of "
                        f"updates up to {w['reference_update_max_abs']:.1e}, replicas {w['replica_max_abs_diff']:.0e}")
            print(f"{'ok  ' if rec['passed'] else 'FAIL'} {rec['check']:<22} {rec['ranks']} ranks  {line}", flush=True)
            failed += not rec["passed"]
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
