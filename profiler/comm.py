#!/usr/bin/env python3
"""NCCL communication micro-benchmarks (p2p send/recv and all-reduce), alpha-beta fits.

Run:  torchrun --nproc_per_node 2 profiler/comm.py --out profiles
Writes {out}/comm_{GPU}.json (rewritten after every message size, so a timeout keeps data).

p2p: ping-pong between rank 0 and rank 1 (blocking dist.send / dist.recv), timed with
CUDA events on the initiating rank; one-way time = round trip / 2.  Measured in both
directions (0->1->0 initiated by rank 0, 1->0->1 initiated by rank 1).  Also a
simultaneous bidirectional exchange (batch_isend_irecv, both ranks send and receive one
message at once), timed as max over ranks.
all-reduce: dist.all_reduce (sum) of a bf16 tensor, per-rep time = max over ranks of the
CUDA-event interval, after a barrier.
Fit: t = latency + bytes / bandwidth by weighted least squares with weights 1/t
(i.e. minimising relative error, so small and large messages both count).

--graph: the device time of the operations as a CUDA-graph runtime issues them (validation/
train_step.py --cuda-graph): K = 10 back-to-back copies of the operation are captured in one CUDA
graph on each rank; the graph is replayed after a barrier, per-rep time = max over ranks of the
CUDA-event interval / K.  No host launch cost and no rank skew between copies.  Measures
allreduce_graph and p2p_graph (rank 0 sends, rank 1 receives) only, and allreduce_graph_interleaved:
each all-reduce captured after a GEMM of about 0.1 ms (as tensor parallelism issues it), its cost =
(GEMM + all-reduce) - GEMM per copy; writes comm_{GPU}_graph.json.
"""
import argparse
import datetime
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import torch
import torch.distributed as dist


def log(*a):
    if dist.get_rank() == 0:
        print(*a, flush=True)


def gpu_short_name(full):
    import re
    m = re.search(r"(H100|H200|H20|A100|A800|H800|L40S|L40|A10G|A6000|V100|T4|B200|GB200|MI300X|MI250)", full)
    return m.group(1) if m else re.sub(r"[^A-Za-z0-9]", "", full)[:16] or "GPU"


def fit_alpha_beta(nbytes, t_ms):
    """t[s] = a + n / B.  Weighted LS minimising relative residuals. Returns a(s), B(bytes/s), residuals %."""
    n = np.asarray(nbytes, dtype=np.float64)
    t = np.asarray(t_ms, dtype=np.float64) / 1e3
    w = 1.0 / t
    A = np.stack([np.ones_like(n), n], axis=1) * w[:, None]
    y = t * w
    (a, inv_b), *_ = np.linalg.lstsq(A, y, rcond=None)
    if a < 0:  # constrain latency >= 0
        a = 0.0
        inv_b = float(np.sum(w * w * n * t) / np.sum(w * w * n * n))
    pred = a + n * inv_b
    resid = (t - pred) / t * 100.0
    return float(a), float(1.0 / inv_b), [float(r) for r in resid]


def pct(ts):
    ts = np.asarray(ts)
    return float(np.median(ts)), float(np.percentile(ts, 10)), float(np.percentile(ts, 90))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="profiles")
    ap.add_argument("--min-bytes", type=int, default=64 * 1024)
    ap.add_argument("--max-bytes", type=int, default=1024 ** 3)
    ap.add_argument("--step", type=int, default=2, help="size multiplier (2 or 4)")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--reps-large", type=int, default=10, help="reps for >= 256 MiB")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--cpu", action="store_true", help="gloo on CPU (testing only)")
    ap.add_argument("--graph", action="store_true",
                    help="time K captured copies per CUDA-graph replay (see the module docstring)")
    args = ap.parse_args()

    backend = "gloo" if args.cpu else "nccl"
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.cpu:
        dev = torch.device("cpu")
    else:
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    is_cuda = dev.type == "cuda"

    def sync():
        if is_cuda:
            torch.cuda.synchronize()

    class Ev:
        def __init__(self):
            if is_cuda:
                self.e = torch.cuda.Event(enable_timing=True)
            self.t = None

        def record(self):
            if is_cuda:
                self.e.record()
            else:
                self.t = time.perf_counter()

        def ms(self, other):
            return self.e.elapsed_time(other.e) if is_cuda else (other.t - self.t) * 1e3

    gpu_name = torch.cuda.get_device_name(dev) if is_cuda else "CPU"
    gpu = gpu_short_name(gpu_name)
    try:
        nccl_ver = ".".join(str(x) for x in torch.cuda.nccl.version()) if is_cuda else "n/a"
    except Exception as e:  # noqa
        nccl_ver = f"unknown ({e})"
    topo = ""
    if rank == 0 and is_cuda:
        try:
            topo = subprocess.run(["nvidia-smi", "topo", "-m"], capture_output=True, text=True, timeout=30).stdout
        except Exception as e:  # noqa
            topo = f"failed: {e}"
        print(topo, flush=True)

    sizes = []
    s = args.min_bytes
    while s <= args.max_bytes:
        sizes.append(s)
        s *= args.step

    result = dict(
        gpu=gpu, gpu_name=gpu_name, gpu_count=world, torch_version=torch.__version__,
        cuda_version=str(torch.version.cuda), nccl_version=nccl_ver, backend=backend,
        hostname=socket.gethostname(), date=datetime.date.today().isoformat(), dtype="bf16",
        env={k: os.environ.get(k) for k in ("NCCL_NVLS_ENABLE", "NCCL_P2P_DISABLE", "NCCL_ALGO", "NCCL_PROTO")},
        topo=topo,
        method=("p2p: blocking send/recv ping-pong, one-way = RTT/2, CUDA events on initiator; "
                "p2p_bidir: batch_isend_irecv simultaneous exchange, max over ranks; "
                "allreduce: sum, max over ranks of per-rep CUDA-event time after barrier; "
                "fit: weighted LS t = latency + bytes/bandwidth, weights 1/t (relative error)"),
        raw={"p2p_0to1to0": [], "p2p_1to0to1": [], "p2p": [], "p2p_bidir": [], "allreduce": []},
    )
    if args.graph:
        result["method"] = ("allreduce_graph / p2p_graph: 10 back-to-back copies captured in one CUDA graph "
                            "per rank, replayed after a barrier; per-rep time = max over ranks of the "
                            "CUDA-event interval / 10; p2p: rank 0 sends, rank 1 receives; "
                            "fit: weighted LS t = latency + bytes/bandwidth, weights 1/t")
        result["raw"] = {"allreduce_graph": [], "p2p_graph": [], "allreduce_graph_interleaved": []}
        ga = torch.randn(2048, 4096, device=dev, dtype=torch.bfloat16)
        gb = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)
        gc = torch.empty(2048, 4096, device=dev, dtype=torch.bfloat16)
    os.makedirs(args.out, exist_ok=True)
    out_path = os.path.join(args.out, f"comm_{gpu}" + ("_graph" if args.graph else "") + ".json")
    peer = 1 - rank if world == 2 else None

    def gather_max(vals):
        t = torch.tensor(vals, dtype=torch.float64, device=dev)
        lst = [torch.zeros_like(t) for _ in range(world)]
        dist.all_gather(lst, t)
        return torch.stack(lst).max(0).values.cpu().numpy()

    def timed_max_over_ranks(op, reps, after=None):
        """(median, p10, p90) ms of op after a barrier, CUDA events per rank, max over ranks per rep."""
        times = []
        for it in range(args.warmup + reps):
            dist.barrier()
            sync()
            s, e = Ev(), Ev()
            s.record()
            op()
            e.record()
            sync()
            if it >= args.warmup:
                times.append(s.ms(e))
            if after:
                after()
        return pct(gather_max(times))

    def write():
        if rank != 0:
            return
        fits = {}
        for key in ("p2p", "allreduce", "p2p_bidir", "allreduce_graph", "p2p_graph", "allreduce_graph_interleaved"):
            rows = [r for r in result["raw"].get(key, []) if r["median_ms"] > 0]
            if len(rows) >= 2:
                a, B, resid = fit_alpha_beta([r["bytes"] for r in rows], [r["median_ms"] for r in rows])
                f = dict(latency_us=a * 1e6, bandwidth_GBps=B / 1e9, residuals_pct=resid,
                         bytes=[r["bytes"] for r in rows])
                if key.startswith("allreduce"):
                    f = dict(latency_us=a * 1e6, algbw_GBps=B / 1e9,
                             busbw_GBps=B / 1e9 * 2 * (world - 1) / world, residuals_pct=resid,
                             bytes=[r["bytes"] for r in rows])
                fits[key] = f
        result["fits"] = fits
        tmp = out_path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(result, fh, indent=1)
        os.replace(tmp, out_path)

    for nbytes in sizes:
        numel = nbytes // 2
        reps = args.reps if nbytes < 256 * 1024 ** 2 else args.reps_large
        buf = torch.ones(numel, dtype=torch.bfloat16, device=dev)
        rbuf = torch.empty_like(buf)

        if args.graph:
            K = 10

            def captured(op):
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(2):
                        op()
                torch.cuda.current_stream().wait_stream(side)
                sync()
                dist.barrier()
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    for _ in range(K):
                        op()
                sync()
                return g

            def send_or_recv():
                p2p = dist.P2POp(dist.isend, buf, peer) if rank == 0 else dist.P2POp(dist.irecv, rbuf, peer)
                for r_ in dist.batch_isend_irecv([p2p]):
                    r_.wait()
            for key, op in (("allreduce_graph", lambda: dist.all_reduce(buf)), ("p2p_graph", send_or_recv)):
                g = captured(op)
                med, p10, p90 = (x / K for x in timed_max_over_ranks(g.replay, reps))
                row = dict(bytes=nbytes, median_ms=med, p10_ms=p10, p90_ms=p90, reps=reps, copies=K)
                result["raw"][key].append(row)
                del g
            # the all-reduce as tensor parallelism issues it: after a compute kernel (a GEMM of
            # about 0.1 ms) on each rank, so the ranks meet cold; cost = (GEMM+AR) - GEMM
            gemm = lambda: torch.mm(ga, gb, out=gc)  # noqa: E731
            g_mix = captured(lambda: (gemm(), dist.all_reduce(buf)))
            t_mix = timed_max_over_ranks(g_mix.replay, reps)
            del g_mix
            g_c = captured(gemm)
            t_c = timed_max_over_ranks(g_c.replay, reps)
            del g_c
            med, p10, p90 = ((a - t_c[0]) / K for a in t_mix)
            result["raw"]["allreduce_graph_interleaved"].append(
                dict(bytes=nbytes, median_ms=med, p10_ms=p10, p90_ms=p90, reps=reps, copies=K,
                     gemm_ms=t_c[0] / K))
            log(f"{nbytes/1024:>10.0f} KiB  graph: p2p one-way {result['raw']['p2p_graph'][-1]['median_ms']:8.4f} ms  "
                f"allreduce {result['raw']['allreduce_graph'][-1]['median_ms']:8.4f} ms  after a GEMM "
                f"{result['raw']['allreduce_graph_interleaved'][-1]['median_ms']:8.4f} ms")
            del buf, rbuf
            write()
            continue

        # ---- p2p ping-pong, both initiators
        if world == 2:
            for initiator, key in ((0, "p2p_0to1to0"), (1, "p2p_1to0to1")):
                times = []
                for it in range(args.warmup + reps):
                    dist.barrier()
                    sync()
                    s, e = Ev(), Ev()
                    if rank == initiator:
                        s.record()
                        dist.send(buf, peer)
                        dist.recv(rbuf, peer)
                        e.record()
                    else:
                        dist.recv(rbuf, peer)
                        dist.send(buf, peer)
                    sync()
                    if rank == initiator and it >= args.warmup:
                        times.append(s.ms(e) / 2.0)
                t = torch.tensor(pct(times) if rank == initiator else (0.0, 0.0, 0.0), dtype=torch.float64, device=dev)
                dist.broadcast(t, initiator)
                med, p10, p90 = t.tolist()
                result["raw"][key].append(dict(bytes=nbytes, median_ms=med, p10_ms=p10, p90_ms=p90, reps=reps))
            a, b_ = result["raw"]["p2p_0to1to0"][-1], result["raw"]["p2p_1to0to1"][-1]
            result["raw"]["p2p"].append(dict(bytes=nbytes, median_ms=(a["median_ms"] + b_["median_ms"]) / 2,
                                             p10_ms=min(a["p10_ms"], b_["p10_ms"]),
                                             p90_ms=max(a["p90_ms"], b_["p90_ms"]), reps=reps))

            # ---- bidirectional simultaneous exchange
            def exchange():
                ops = [dist.P2POp(dist.isend, buf, peer), dist.P2POp(dist.irecv, rbuf, peer)]
                for r_ in dist.batch_isend_irecv(ops):
                    r_.wait()
            med, p10, p90 = timed_max_over_ranks(exchange, reps)
            result["raw"]["p2p_bidir"].append(dict(bytes=nbytes, median_ms=med, p10_ms=p10, p90_ms=p90, reps=reps))

        # ---- all-reduce
        med, p10, p90 = timed_max_over_ranks(lambda: dist.all_reduce(buf), reps, after=lambda: buf.fill_(1.0))
        algbw = nbytes / (med / 1e3) / 1e9
        result["raw"]["allreduce"].append(dict(bytes=nbytes, median_ms=med, p10_ms=p10, p90_ms=p90, reps=reps,
                                               algbw_GBps=algbw, busbw_GBps=algbw * 2 * (world - 1) / world))
        p2p = result["raw"]["p2p"][-1]["median_ms"] if world == 2 else float("nan")
        bid = result["raw"]["p2p_bidir"][-1]["median_ms"] if world == 2 else float("nan")
        log(f"{nbytes/1024:>10.0f} KiB  p2p one-way {p2p:8.3f} ms ({nbytes/p2p/1e6:7.1f} GB/s)  "
            f"bidir {bid:8.3f} ms  allreduce {med:8.3f} ms (algbw {algbw:7.1f} GB/s)")
        del buf, rbuf
        write()

    if rank == 0:
        for k, f in result["fits"].items():
            print(k, {kk: (round(v, 3) if isinstance(v, float) else v) for kk, v in f.items() if kk != "bytes"
                      and kk != "residuals_pct"}, "max |resid| %.1f%%" % max(abs(x) for x in f["residuals_pct"]),
                  flush=True)
        print(f"wrote {out_path}", flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
