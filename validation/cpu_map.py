#!/usr/bin/env python3
"""How fast each virtual CPU of this host runs Python, over time, and which ones slow each other down.

Eager host-bound training steps ran 1.5-2x slower on some hosts and at some times than others
(docs/accuracy.md items 10-13). This maps the host's CPUs: (1) train_step.python_loop_us() on each CPU
in turn (this process pinned to it), --rounds times, --gap-s apart; (2) for each CPU of --load, a busy
process pinned to it while (1) runs once more: a CPU that slows down then shares a core with it.
    python3 validation/cpu_map.py --out DIR     -> DIR/cpu_map.json
"""
import argparse
import json
import multiprocessing as mp
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import vcpu_speed_us, cpu_model  # noqa: E402


def spin(cpu, stop):
    os.sched_setaffinity(0, {cpu})
    while not stop.is_set():
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--gap-s", type=float, default=2.0)
    ap.add_argument("--load", type=int, nargs="*", default=None, help="CPUs to load in turn (default: 0..3)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    t0 = time.time()
    rounds = []
    for r in range(args.rounds):
        sp = vcpu_speed_us(cpus, rounds=1)
        rounds.append(dict(t_s=round(time.time() - t0, 2), python_us_of_cpu={str(c): round(v, 3) for c, v in sp.items()}))
        vals = sorted(sp.values())
        print(f"round {r}: t={rounds[-1]['t_s']}s fastest {vals[0]:.2f} median {vals[len(vals) // 2]:.2f} slowest {vals[-1]:.2f} us; "
              f"slow (>1.4x fastest): {[c for c in cpus if sp[c] > 1.4 * vals[0]]}", flush=True)
        time.sleep(args.gap_s)
    loads = []
    ctx = mp.get_context("fork")
    for c in (args.load if args.load is not None else cpus[:4]):
        stop = ctx.Event()
        p = ctx.Process(target=spin, args=(c, stop))
        p.start()
        time.sleep(0.2)
        sp = vcpu_speed_us([x for x in cpus if x != c], rounds=1)
        stop.set()
        p.join()
        base = rounds[-1]["python_us_of_cpu"]
        slowed = [x for x in sp if sp[x] > 1.3 * base[str(x)]]
        loads.append(dict(loaded_cpu=c, python_us_of_cpu={str(x): round(v, 3) for x, v in sp.items()}, slowed_cpus=slowed))
        print(f"load on CPU {c}: slowed {slowed}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"cpu_map{args.tag}.json")
    with open(path, "w") as fh:
        json.dump(dict(what="python_loop_us per virtual CPU (validation/cpu_map.py)", cpu=cpu_model(),
                       cpus=len(cpus), rounds=rounds, loads=loads), fh, indent=1)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
