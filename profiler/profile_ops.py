#!/usr/bin/env python3
"""Per-operator GPU profiler for LLaMA-style decoder layers (FASOP-style profiles).

For one model and each TP degree, it measures on ONE GPU the forward and
backward time of every node of a Megatron-style TP shard of one decoder layer
(plus embedding / lm_head / loss), for micro-batch sizes 1, 2, 4, ... and
writes profiles/{model}_{GPU}_{tp}.npz (format described in docs/profiles.md).

Timing method: CUDA events around each repetition; before every repetition a
GPU sleep kernel (torch.cuda._sleep) backs up the stream so that the measured
interval is GPU execution time, not CPU launch latency.  Median over >= 20
repetitions after warm-up; p10/p90 recorded.

Backward of a node = torch.autograd.grad(outputs, inputs + weights,
upstream_grad, retain_graph=True) on a graph built once; gradients are
returned (not accumulated into .grad).

Usage: python3 profile_ops.py --model llama8b --tp 1 2 4 8 --out ../profiles
"""
import argparse
import contextlib
import datetime
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS = {
    # name: hidden, layers, heads, kv_heads, intermediate, vocab
    "llama70b": dict(hidden=8192, layers=80, heads=64, kv_heads=8, inter=28672, vocab=128256),
    "llama8b": dict(hidden=4096, layers=32, heads=32, kv_heads=8, inter=14336, vocab=128256),
    "llama1b": dict(hidden=2048, layers=16, heads=32, kv_heads=8, inter=8192, vocab=128256),
    # tiny config only for CPU/smoke testing
    "tiny": dict(hidden=256, layers=2, heads=8, kv_heads=2, inter=512, vocab=1024),
}

MAIN_NODES = ["embed", "attn_q", "attn_k", "attn_v", "attn_o", "mlp_gate",
              "mlp_act_fn", "mlp_up", "mlp_down", "lm_head"]
EXTRA_NODES = ["attn_core", "rope", "input_norm", "post_attn_norm", "residual_add",
               "mlp_mul", "final_norm", "loss"]
# nodes of one decoder layer (with multiplicity) for the parts-vs-whole check
LAYER_PARTS = {"input_norm": 1, "attn_q": 1, "attn_k": 1, "attn_v": 1, "rope": 1,
               "attn_core": 1, "attn_o": 1, "residual_add": 2, "post_attn_norm": 1,
               "mlp_gate": 1, "mlp_up": 1, "mlp_act_fn": 1, "mlp_mul": 1, "mlp_down": 1}


def log(*a):
    print(*a, flush=True)


def gpu_short_name(full):
    m = re.search(r"(H100|H200|H20|A100|A800|H800|L40S|L40|A10G|A6000|V100|T4|B200|GB200|MI300X|MI250)", full)
    if m:
        return m.group(1)
    return re.sub(r"[^A-Za-z0-9]", "", full)[:16] or "GPU"


class Timer:
    """CUDA-event timer with a stream-backing sleep kernel before each rep."""

    def __init__(self, device, reps=20, warmup=3, use_sleep=True, sleep_floor_ms=1.0, graph=False, copies=4):
        self.device = device
        self.graph = graph and device.type == "cuda"
        self.copies = copies
        self.sleep_floor_ms = sleep_floor_ms
        self.reps = reps
        self.warmup = warmup
        self.is_cuda = device.type == "cuda"
        self.use_sleep = use_sleep and self.is_cuda
        self.cycles_per_ms = None
        if self.use_sleep:
            self._calibrate()

    def _calibrate(self):
        torch.cuda.synchronize()
        n = 2_000_000
        torch.cuda._sleep(n)
        s = torch.cuda.Event(enable_timing=True)
        e = torch.cuda.Event(enable_timing=True)
        s.record()
        torch.cuda._sleep(n)
        e.record()
        torch.cuda.synchronize()
        ms = s.elapsed_time(e)
        self.cycles_per_ms = n / max(ms, 1e-3)
        log(f"[timer] sleep calibration: {self.cycles_per_ms/1e6:.3f} Mcycles/ms")

    def time_graph(self, fn):
        """Per-call milliseconds of fn as a CUDA-graph runtime runs it: `copies` back-to-back calls
        captured in one graph (after eager warm-up on a side stream), each replay timed with CUDA
        events behind a sleep kernel; returns replay time / copies per rep."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(max(self.warmup, 2)):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(self.copies):
                fn()
        torch.cuda.synchronize()
        sleep_cycles = int(self.sleep_floor_ms * self.cycles_per_ms) if self.use_sleep else 0
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(self.reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(self.reps)]
        g.replay()
        for i in range(self.reps):
            if sleep_cycles:
                torch.cuda._sleep(sleep_cycles)
            starts[i].record()
            g.replay()
            ends[i].record()
        torch.cuda.synchronize()
        out = np.array([a.elapsed_time(b) for a, b in zip(starts, ends)]) / self.copies
        g.reset()
        del g
        return out

    def time(self, fn):
        """Return np.array of per-rep milliseconds."""
        if self.graph:
            return self.time_graph(fn)
        for _ in range(self.warmup):
            fn()
        if not self.is_cuda:
            ts = []
            for _ in range(self.reps):
                t0 = time.perf_counter()
                fn()
                ts.append((time.perf_counter() - t0) * 1e3)
            return np.array(ts)
        torch.cuda.synchronize()
        # CPU issue time of a call (no sync inside); max of 3
        cpu_ms = 0.0
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            cpu_ms = max(cpu_ms, (time.perf_counter() - t0) * 1e3)
            torch.cuda.synchronize()
        sleep_cycles = 0
        if self.use_sleep:
            # the queued sleep must outlast the CPU issue of the op, including host hiccups:
            # floor of SLEEP_FLOOR_MS (1 ms; an earlier 0.05 ms floor let two tiny-GEMM cells
            # pick up ~0.6 ms of host stalls)
            sleep_ms = min(max(2.0 * cpu_ms + 0.1, self.sleep_floor_ms), 25.0)
            sleep_cycles = int(sleep_ms * self.cycles_per_ms)
        reps = self.reps
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        for i in range(reps):
            if sleep_cycles:
                torch.cuda._sleep(sleep_cycles)
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize()
        return np.array([s.elapsed_time(e) for s, e in zip(starts, ends)])


def stats(ts):
    return float(np.median(ts)), float(np.percentile(ts, 10)), float(np.percentile(ts, 90))


def shard_dims(cfg, tp):
    h = cfg["hidden"]
    heads = cfg["heads"]
    kv = cfg["kv_heads"]
    assert heads % tp == 0, f"heads {heads} not divisible by tp {tp}"
    hd = h // heads
    d = dict(h=h, hd=hd, nh=heads // tp, nkv=max(1, kv // tp),
             inter=cfg["inter"] // tp, vocab=cfg["vocab"] // tp)
    return d


def make_layer_config(d, seq):
    from transformers import LlamaConfig
    c = LlamaConfig(hidden_size=d["h"], intermediate_size=d["inter"],
                    num_attention_heads=d["nh"], num_key_value_heads=d["nkv"],
                    head_dim=d["hd"], vocab_size=d["vocab"], num_hidden_layers=1,
                    max_position_embeddings=max(seq, 2048), rms_norm_eps=1e-5,
                    attention_bias=False, mlp_bias=False, hidden_act="silu",
                    tie_word_embeddings=False)
    c._attn_implementation = "sdpa"
    return c


class _AttnStub(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.num_key_value_groups = groups
        self.is_causal = True


def vocab_parallel_ce():
    """The validation harness's Megatron-style vocab-parallel cross-entropy (with group=None: the local
    work of one TP rank, without its three small all-reduces, which the estimator prices)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "validation")
    if here not in sys.path:
        sys.path.insert(0, here)
    import train_step
    return train_step._VocabParallelCE


def measure_loss(timer, res, b, seq, V, tp, device, dtype, gen):
    """The loss node: cross-entropy over the fp32-upcast logits of one TP rank (mean over tokens).
    tp = 1: F.cross_entropy; tp > 1: the local part of the vocab-parallel cross-entropy that
    Megatron-style TP runs (this rank's V/tp slice of the vocabulary).  Its backward works in place
    on the saved softmax, so it cannot be replayed: backward = (forward + backward) - forward, each
    timed on fresh graphs.  Stores res["loss"] = (fwd stats, bwd stats); NaN on OOM."""
    labels = torch.randint(0, V * tp, (b * seq,), device=device, generator=gen)
    try:
        logits = torch.randn(b, seq, V, device=device, dtype=dtype, generator=gen).requires_grad_()
        if tp == 1:
            fn = lambda: F.cross_entropy(logits.float().view(-1, V), labels)  # noqa: E731
        else:
            ce = vocab_parallel_ce()
            fn = lambda: ce.apply(logits.float().view(-1, V), labels, 0, None).mean()  # noqa: E731
        tf = timer.time(fn)
        tfb = timer.time(lambda: torch.autograd.grad([fn()], [logits]))
        tb = np.maximum(tfb - np.median(tf), 0.0)
        res["loss"] = (stats(tf), stats(tb))
        del logits
    except torch.cuda.OutOfMemoryError:
        res["loss"] = None
        log(f"    OOM in extra node loss (b={b}); recorded NaN")
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def reprofile_loss(path, cfg, tp, seq, timer, device, dtype):
    """--only-loss: re-measure the loss node of an existing profile file in place."""
    z = dict(np.load(path, allow_pickle=False))
    names = [str(x) for x in z["extra_names"]]
    j = names.index("loss")
    V = shard_dims(cfg, tp)["vocab"]
    for r, b in enumerate(z["mbs"].tolist()):
        res = {}
        gen = torch.Generator(device=device)
        gen.manual_seed(1234 + b)
        measure_loss(timer, res, b, seq, V, tp, device, dtype, gen)
        old = (float(z["extra_forward"][r, j]), float(z["extra_backward"][r, j]))
        if res.get("loss") is not None:
            z["extra_forward"][r, j] = res["loss"][0][0]
            z["extra_backward"][r, j] = res["loss"][1][0]
        log(f"{os.path.basename(path)} b={b}: loss fwd/bwd {old[0]:.3f}/{old[1]:.3f} -> "
            f"{z['extra_forward'][r, j]:.3f}/{z['extra_backward'][r, j]:.3f} ms")
    z["loss_method"] = np.array("tp=1: F.cross_entropy(logits.float()); tp>1: local part of the vocab-parallel "
                                "cross-entropy (max, shift, gather, exp, sum, log, normalise), re-measured "
                                + datetime.date.today().isoformat())
    tmp = path + ".tmp.npz"
    np.savez(tmp, **z)
    os.replace(tmp, path)


def profile_row(cfg, tp, b, seq, timer, device, dtype):
    """Measure all nodes for one micro-batch size. Returns dict name -> (fwd_stats, bwd_stats)
    plus layer stats.  Raises torch.cuda.OutOfMemoryError for main nodes."""
    from transformers.models.llama.modeling_llama import (
        LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding, apply_rotary_pos_emb)
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    d = shard_dims(cfg, tp)
    h, hd, nh, nkv, I, V = d["h"], d["hd"], d["nh"], d["nkv"], d["inter"], d["vocab"]
    lcfg = make_layer_config(d, seq)
    res = {}
    gen = torch.Generator(device=device)
    gen.manual_seed(1234 + b)

    def rnd(*shape, grad=True, scale=1.0):
        t = torch.randn(*shape, device=device, dtype=dtype, generator=gen) * scale
        return t.requires_grad_(grad)

    def measure(name, fwd_fn, inputs_fn, required=True):
        """fwd_fn(*inputs) -> output tensor or tuple; inputs_fn() -> (inputs list, grad targets list)."""
        try:
            ins, grad_targets = inputs_fn()
            tf = timer.time(lambda: fwd_fn(*ins))
            # (graph mode: no autograd graph may outlive this line, or its AccumulateGrad nodes stay
            # bound to the default stream and a later capture fails)
            with torch.no_grad() if timer.graph else contextlib.nullcontext():
                out = fwd_fn(*ins)
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            gouts = [torch.randn_like(o) if o.dim() > 0 else torch.ones_like(o) for o in outs]
            if timer.graph:
                del out, outs
                out = outs = None
                # a captured backward needs its forward in the same capture: (fwd + bwd) - fwd
                def fwd_bwd():
                    o = fwd_fn(*ins)
                    o = list(o) if isinstance(o, (tuple, list)) else [o]
                    return torch.autograd.grad(o, grad_targets, gouts)
                # a backward with no work (residual add) can come out a few ns below zero: clamp
                tb = np.maximum(timer.time(fwd_bwd) - np.median(tf), 0.0)
            else:
                tb = timer.time(lambda: torch.autograd.grad(outs, grad_targets, gouts, retain_graph=True))
            res[name] = (stats(tf), stats(tb))
            del out, outs, gouts, ins, grad_targets
        except torch.cuda.OutOfMemoryError:
            res[name] = None
            if required:
                raise
            log(f"    OOM in extra node {name} (b={b}); recorded NaN")
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()

    def linear_node(name, fin, fout):
        lin = nn.Linear(fin, fout, bias=False, device=device, dtype=dtype)

        def inputs():
            x = rnd(b, seq, fin)
            return [x], [x] + list(lin.parameters())
        measure(name, lambda x: lin(x), inputs)
        del lin

    # ---- embed: vocab/tp rows; ids do not need grad
    emb = nn.Embedding(V, h, device=device, dtype=dtype)

    def emb_inputs():
        ids = torch.randint(0, V, (b, seq), device=device, generator=gen)
        return [ids], list(emb.parameters())
    measure("embed", lambda ids: emb(ids), emb_inputs)
    del emb

    linear_node("attn_q", h, nh * hd)
    linear_node("attn_k", h, nkv * hd)
    linear_node("attn_v", h, nkv * hd)
    linear_node("attn_o", nh * hd, h)
    linear_node("mlp_gate", h, I)
    linear_node("mlp_up", h, I)
    linear_node("mlp_down", I, h)

    act = nn.SiLU()

    def act_inputs():
        x = rnd(b, seq, I)
        return [x], [x]
    measure("mlp_act_fn", lambda x: act(x), act_inputs)

    linear_node("lm_head", h, V)

    # ---- extras
    rot = LlamaRotaryEmbedding(lcfg).to(device)
    pos = torch.arange(seq, device=device).unsqueeze(0)
    with torch.no_grad():
        cos, sin = rot(torch.empty(1, device=device, dtype=dtype), pos)

    stub = _AttnStub(nh // nkv)
    scaling = hd ** -0.5

    def core_inputs():
        q = rnd(b, nh, seq, hd)
        k = rnd(b, nkv, seq, hd)
        v = rnd(b, nkv, seq, hd)
        return [q, k, v], [q, k, v]
    measure("attn_core",
            lambda q, k, v: sdpa_attention_forward(stub, q, k, v, None, dropout=0.0, scaling=scaling)[0],
            core_inputs, required=False)

    def rope_inputs():
        q = rnd(b, nh, seq, hd)
        k = rnd(b, nkv, seq, hd)
        return [q, k], [q, k]
    measure("rope", lambda q, k: apply_rotary_pos_emb(q, k, cos, sin), rope_inputs, required=False)

    for nm in ("input_norm", "post_attn_norm", "final_norm"):
        norm = LlamaRMSNorm(h, eps=1e-5).to(device=device, dtype=dtype)

        def norm_inputs(norm=norm):
            x = rnd(b, seq, h)
            return [x], [x] + list(norm.parameters())
        measure(nm, lambda x, norm=norm: norm(x), norm_inputs, required=False)
        del norm

    def add_inputs():
        x = rnd(b, seq, h)
        y = rnd(b, seq, h)
        return [x, y], [x, y]
    measure("residual_add", lambda x, y: x + y, add_inputs, required=False)

    def mul_inputs():
        x = rnd(b, seq, I)
        y = rnd(b, seq, I)
        return [x, y], [x, y]
    measure("mlp_mul", lambda x, y: x * y, mul_inputs, required=False)

    measure_loss(timer, res, b, seq, V, tp, device, dtype, gen)

    # ---- whole decoder layer (HF LlamaDecoderLayer with TP-shard config)
    layer_f = layer_fb = (math.nan, math.nan, math.nan)
    try:
        old_dt = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            with torch.device(device):  # build directly on the GPU (CPU init of a 70B layer is slow)
                layer = LlamaDecoderLayer(lcfg, layer_idx=0)
        finally:
            torch.set_default_dtype(old_dt)
        layer = layer.to(device=device, dtype=dtype)
        layer.train()
        x = rnd(b, seq, h)
        params = [x] + list(layer.parameters())
        pe = (cos, sin)

        def lf():
            o = layer(x, position_embeddings=pe)
            return o[0] if isinstance(o, tuple) else o
        g = torch.randn(b, seq, h, device=device, dtype=dtype, generator=gen)
        layer_f = stats(timer.time(lf))

        def lfb():
            return torch.autograd.grad(lf(), params, g)
        layer_fb = stats(timer.time(lfb))
        del layer, x, params, g
    except torch.cuda.OutOfMemoryError:
        log(f"    OOM in whole layer (b={b}); recorded NaN")
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return res, layer_f, layer_fb


def write_npz(path, rows, meta):
    R = len(rows)
    K = len(EXTRA_NODES)

    def arr(key_fn, width):
        a = np.full((R, width), np.nan, dtype=np.float64)
        return a
    data = np.full((R, 10), np.nan)
    back = np.full((R, 10), np.nan)
    d10 = np.full((R, 10), np.nan)
    d90 = np.full((R, 10), np.nan)
    b10 = np.full((R, 10), np.nan)
    b90 = np.full((R, 10), np.nan)
    ef = np.full((R, K), np.nan)
    eb = np.full((R, K), np.nan)
    lf = np.full((R,), np.nan)
    lfb = np.full((R,), np.nan)
    gap_f = np.full((R,), np.nan)
    gap_fb = np.full((R,), np.nan)
    mbs = np.zeros((R,), dtype=np.int64)
    for r, (b, res, layer_f, layer_fb) in enumerate(rows):
        mbs[r] = b
        for j, n in enumerate(MAIN_NODES):
            (f, f10, f90), (bb, bb10, bb90) = res[n]
            data[r, j], d10[r, j], d90[r, j] = f, f10, f90
            back[r, j], b10[r, j], b90[r, j] = bb, bb10, bb90
        for j, n in enumerate(EXTRA_NODES):
            if res.get(n) is not None:
                ef[r, j] = res[n][0][0]
                eb[r, j] = res[n][1][0]
        lf[r] = layer_f[0]
        lfb[r] = layer_fb[0]
        pf, pb = parts_sum(res)
        gap_f[r] = (layer_f[0] - pf) / layer_f[0] * 100.0
        gap_fb[r] = (layer_fb[0] - (pf + pb)) / layer_fb[0] * 100.0
    out = dict(
        data=data, backward=back, mbs=mbs,
        extra_names=np.array(EXTRA_NODES, dtype=str),
        extra_forward=ef, extra_backward=eb,
        layer_forward=lf, layer_fwdbwd=lfb,
        data_p10=d10, data_p90=d90, backward_p10=b10, backward_p90=b90,
        layer_gap_forward_pct=gap_f, layer_gap_fwdbwd_pct=gap_fb,
        column_names=np.array(MAIN_NODES, dtype=str),
        tp=np.array(meta["tp"], dtype=np.int64),
        seq_length=np.array(meta["seq_length"], dtype=np.int64),
        reps=np.array(meta["reps"], dtype=np.int64),
        warmup=np.array(meta["warmup"], dtype=np.int64),
    )
    for k in ("gpu", "gpu_name", "model", "torch_version", "cuda_version", "date", "dtype",
              "transformers_version", "method"):
        out[k] = np.array(str(meta[k]))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, path)


def parts_sum(res):
    pf = pb = 0.0
    for n, mult in LAYER_PARTS.items():
        r = res.get(n)
        if r is None:
            return math.nan, math.nan
        pf += mult * r[0][0]
        pb += mult * r[1][0]
    return pf, pb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--tp", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--max-mbs", type=int, default=32)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", default="profiles")
    ap.add_argument("--deadline", type=float, default=0.0,
                    help="unix time after which no new micro-batch row is started")
    ap.add_argument("--max-seconds-per-tp", type=float, default=1e9)
    ap.add_argument("--cpu", action="store_true", help="run on CPU (testing only)")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--graph", action="store_true",
                    help="time every node as a CUDA-graph runtime runs it (captured copies replayed; "
                         "backward = captured fwd+bwd - fwd); for validation/train_step.py --cuda-graph")
    ap.add_argument("--only-loss", action="store_true",
                    help="re-measure only the loss node of the existing profile files in --out")
    args = ap.parse_args()

    device = torch.device("cpu" if args.cpu or not torch.cuda.is_available() else "cuda")
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        gpu_name = torch.cuda.get_device_name(0)
    else:
        gpu_name = "CPU"
    gpu = gpu_short_name(gpu_name)
    import transformers
    cfg = MODELS[args.model]
    timer = Timer(device, reps=args.reps, warmup=args.warmup, graph=args.graph)
    os.makedirs(args.out, exist_ok=True)
    summary = []
    if args.only_loss:
        for tp in args.tp:
            path = os.path.join(args.out, f"{args.model}_{gpu}_{tp}.npz")
            if os.path.exists(path):
                reprofile_loss(path, cfg, tp, args.seq, timer, device, dtype)
            else:
                log(f"no {path}: skipped")
        return 0
    for tp in args.tp:
        if cfg["heads"] % tp:
            log(f"skip tp={tp}: heads not divisible")
            continue
        meta = dict(tp=tp, seq_length=args.seq, gpu=gpu, gpu_name=gpu_name, model=args.model,
                    torch_version=torch.__version__, cuda_version=str(torch.version.cuda),
                    date=datetime.date.today().isoformat(), dtype=args.dtype,
                    transformers_version=transformers.__version__, reps=args.reps,
                    warmup=args.warmup,
                    method=("cuda-graph: 4 back-to-back calls captured in one CUDA graph, each replay timed with "
                            "cuda events behind a 1 ms sleep kernel, per call = replay / 4; median of reps; "
                            "bwd = captured (fwd + autograd.grad) - fwd" if timer.graph else
                            "cuda events, stream backed by torch.cuda._sleep (>= 1 ms) before each rep; "
                            "median of reps; bwd = autograd.grad(out, inputs+weights, g, retain_graph=True)"))
        path = os.path.join(args.out, f"{args.model}_{gpu}_{tp}.npz")
        rows = []
        t_tp = time.time()
        b = 1
        while b <= args.max_mbs:
            if args.deadline and time.time() > args.deadline:
                log(f"deadline reached before {args.model} tp={tp} b={b}")
                break
            if time.time() - t_tp > args.max_seconds_per_tp:
                log(f"time cap reached before {args.model} tp={tp} b={b}")
                break
            t0 = time.time()
            try:
                res, layer_f, layer_fb = profile_row(cfg, tp, b, args.seq, timer, device, dtype)
            except torch.cuda.OutOfMemoryError:
                log(f"OOM in a main node at {args.model} tp={tp} b={b}: stopping this tp")
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                break
            rows.append((b, res, layer_f, layer_fb))
            write_npz(path, rows, meta)
            pf, pb = parts_sum(res)
            main_f = " ".join(f"{n}={res[n][0][0]:.3f}" for n in MAIN_NODES)
            main_b = " ".join(f"{n}={res[n][1][0]:.3f}" for n in MAIN_NODES)
            ex = " ".join(f"{n}={res[n][0][0]:.3f}/{res[n][1][0]:.3f}" if res.get(n) else f"{n}=OOM"
                          for n in EXTRA_NODES)
            log(f"{args.model} tp={tp} b={b}  ({time.time()-t0:.1f}s)\n  fwd: {main_f}\n  bwd: {main_b}\n"
                f"  extra fwd/bwd: {ex}\n  layer fwd={layer_f[0]:.3f} (parts {pf:.3f}, gap "
                f"{(layer_f[0]-pf)/layer_f[0]*100:+.1f}%)  fwd+bwd={layer_fb[0]:.3f} (parts {pf+pb:.3f}, gap "
                f"{(layer_fb[0]-pf-pb)/layer_fb[0]*100:+.1f}%)")
            summary.append(dict(model=args.model, tp=tp, mbs=b, layer_fwd=layer_f[0], layer_fwdbwd=layer_fb[0],
                                parts_fwd=pf, parts_fwdbwd=pf + pb))
            b *= 2
        log(f"wrote {path} with {len(rows)} rows ({time.time()-t_tp:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
