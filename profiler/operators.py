#!/usr/bin/env python3
"""Operator costs of a decoder transformer by shape, on one GPU, in bf16 (no model names).

Measures, forward and backward:
  linear        nn.Linear-layout GEMMs Y[M,N] = X[M,K] W[N,K]^T: forward, input gradient
                (dX = dY W) and weight gradient (dW = dY^T X) over tokens M x in_features K x
                out_features N, on two sub-grids: in = a hidden size and out = any sharded width
                (q/k/v/gate/up/lm_head), and in = any sharded width and out = a hidden size (o/down)
  linear_unaligned  the same three GEMMs with out_features N not a multiple of 8 (N = 8j + 1: an
                unpadded vocabulary shard such as GPT-2's 50257), which cuBLAS runs on slower kernels
  attention     torch SDPA, causal, over head dim x GQA ratio x sequence x query heads (batch x
                query heads per GPU): PyTorch's own backend choice, and the flash backend alone
  rmsnorm, layernorm, rope, silu, gelu (tanh), mul (gated product), add (residual),
  embedding (gather; backward = dense scatter-add), cross_entropy (fp32-upcast logits),
  vocab_parallel_cross_entropy (local work of one TP rank): by width x tokens (bytes)
  head_merge (attention's [heads, tokens, head_dim] output to a projection's [tokens, heads x
                head_dim] layout), qkv_grad_stack (the gradient of GPT-2's fused qkv split into
                heads), bias_grad (a bias's gradient: the sum of dY over tokens)
  adamw_bf16_states, adamw_fp32_master: the optimizer step by parameter count

Timing: CUDA events around each repetition; a GPU sleep kernel queued before the repetitions
keeps the GPU behind the CPU, so the events time GPU work, not launch latency. The operands stay
where the previous repetition left them (L2-warm, as an operator finds its input just written by
the one before it); --l2-flush writes a 128 MiB buffer before every repetition instead (cold L2,
GEMMs only where their operands total less than 256 MiB). Two warm-up calls; the median of 3..7
repetitions (fewer for longer operators). Backward = torch.autograd.grad(out, inputs + weights,
dout, retain_graph=True); where the backward works in place (the vocab-parallel loss) or for
the losses: (forward + backward) - forward.

Writes OUT/ops_{GPU}.json (docs/operator-profiles.md describes every field).
Usage: python3 profiler/operators.py --out profiles [--quick]
"""
import argparse
import datetime
import json
import math
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

FORMAT = "fasop-operator-profile"
VERSION = 1
FLUSH_BYTES = 128 * 2**20  # more than twice the L2 of an H100/H200 (50/60 MiB)
MAX_ELEMENTS = 2**31  # one tensor's elements, memory-bound grids
CAP_MS = 25.0         # a series along its last axis stops once a point exceeds this
SPACED_SLEEP_MS = 1.0  # GEMMs: the least sleep before each repetition (the per-model profiler's floor)


def log(*a):
    print(*a, flush=True)


def gpu_short_name(full):
    m = re.search(r"(H100|H200|H20|A100|A800|H800|L40S|L40|A10G|A10|A40|A6000|V100|T4|B200|GB200|MI300X|MI250)", full)
    return m.group(1) if m else (re.sub(r"[^A-Za-z0-9]", "", full)[:16] or "GPU")


def half_octaves(lo, hi):
    """lo, 1.5 lo, 2 lo, 3 lo, ... up to hi (lo a power of two)."""
    out, x = [], lo
    while x <= hi:
        out += [x, x * 3 // 2]
        x *= 2
    return [v for v in out if v <= hi]


def quarter_octaves(lo, hi):
    """lo, 1.25 lo, 1.5 lo, 1.75 lo, 2 lo, ... up to hi (multiples of 16 once lo >= 64)."""
    out, x = [], lo
    while x <= hi:
        out += [x, x * 5 // 4, x * 3 // 2, x * 7 // 4]
        x *= 2
    return [v for v in out if v <= hi]


def octaves(lo, hi):
    out, x = [], lo
    while x <= hi:
        out.append(x)
        x *= 2
    return out


def sleep_cycles_per_ms():
    """Cycles of torch.cuda._sleep per millisecond on the current GPU (timed once, after a warm-up sleep)."""
    n = 5_000_000
    torch.cuda.synchronize()
    torch.cuda._sleep(n)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    torch.cuda._sleep(n)
    e.record()
    torch.cuda.synchronize()
    return n / max(s.elapsed_time(e), 1e-3)


class Bench:
    """Median GPU milliseconds of a callable (see the module docstring)."""

    def __init__(self, dev, l2_flush=False, gemm_rest=0.0):
        self.dev = dev
        self.l2_flush = l2_flush
        self.gemm_rest = gemm_rest  # idle seconds after a GEMM cell per second of its GPU time
        self.busy_ms = 0.0  # GPU time of the timings since the last rest
        self.flush = torch.empty(FLUSH_BYTES // 4, dtype=torch.int32, device=dev)
        self.cycles_per_ms = sleep_cycles_per_ms()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        for _ in range(3):
            self.flush.zero_()
        s.record()
        for _ in range(10):
            self.flush.zero_()
        e.record()
        torch.cuda.synchronize()
        self.flush_ms = s.elapsed_time(e) / 10
        self.events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(8)]
        self.calls = 0

    def ms(self, fn, flush=True, spaced=False):
        """Median ms of fn() (after two warm-ups), L2 flushed before each repetition (when flush); spaced:
        a sleep kernel of at least SPACED_SLEEP_MS before every repetition, not one before them all."""
        fn()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        s, e = self.events[0]
        s.record()
        fn()
        e.record()
        cpu_ms = (time.perf_counter() - t0) * 1e3
        torch.cuda.synchronize()
        est = s.elapsed_time(e)
        reps = 7 if est < 1.0 else 5 if est < 10.0 else 3
        # the queued sleep must outlast the CPU's enqueueing of all repetitions (spaced: of the next one)
        if spaced:
            sleep_ms = min(max(2.0 * cpu_ms + 0.1, SPACED_SLEEP_MS), 25.0)
        else:
            sleep_ms = min(reps * (cpu_ms + 0.03) * 1.5 + 0.05, 50.0)
            torch.cuda._sleep(int(sleep_ms * self.cycles_per_ms))
        for i in range(reps):
            a, b = self.events[i]
            if spaced:
                torch.cuda._sleep(int(sleep_ms * self.cycles_per_ms))
            if flush and self.l2_flush:
                self.flush.zero_()
            a.record()
            fn()
            b.record()
        torch.cuda.synchronize()
        self.calls += 1
        ts = sorted(a.elapsed_time(b) for a, b in self.events[:reps])
        self.busy_ms += est * 2 + sum(ts)
        return ts[len(ts) // 2]

    def gemm(self, fn, flush):
        """A GEMM's median ms, timed spaced (as the per-model profiler times its layers)."""
        return self.ms(fn, flush, spaced=True)

    def rest(self):
        """Idle gemm_rest x the GPU time since the last rest, so a long grid does not hold the GPU at its power cap."""
        time.sleep(self.gemm_rest * self.busy_ms / 1e3)
        self.busy_ms = 0.0


def rnd(shape, dev, grad=False, dtype=torch.bfloat16, scale=1.0):
    t = torch.randn(shape, device=dev, dtype=dtype)
    if scale != 1.0:
        t.mul_(scale)
    return t.requires_grad_(grad)


def fwd_bwd(bench, fn, inputs):
    """(forward ms, backward ms) of out = fn(*inputs), backward wrt every input that needs grad."""
    f_ms = bench.ms(lambda: fn(*inputs))
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    gouts = [torch.randn_like(o) for o in outs]
    targets = [x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad]
    b_ms = bench.ms(lambda: torch.autograd.grad(outs, targets, gouts, retain_graph=True))
    del out, outs, gouts
    return f_ms, b_ms


def oom_safe(fn):
    try:
        return fn()
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return None


# ---------------------------------------------------------------- GEMMs

def linear_grid(quick):
    tokens = [512, 2048, 8192] if quick else octaves(512, 32768)
    hidden = [1024, 4096] if quick else half_octaves(512, 16384)
    wide = [128, 1536, 7168] if quick else quarter_octaves(64, 196608)
    narrow = [128, 1536, 7168] if quick else quarter_octaves(64, 65536)
    return tokens, hidden, wide, narrow


def measure_linear(bench, dev, quick):
    tokens, hidden, wide, narrow = linear_grid(quick)
    pairs = [(k, n) for k in hidden for n in wide] + [(k, n) for k in narrow for n in hidden if k not in hidden]
    points = []
    t0 = time.time()
    for i, (K, N) in enumerate(pairs):
        W = rnd((N, K), dev, scale=0.02)
        Mmax = tokens[-1]
        X = rnd((Mmax, K), dev)
        G = rnd((Mmax, N), dev)
        for M in tokens:
            x, g = X[:M], G[:M]
            fl = 2 * (M * K + N * K + M * N) < 2 * FLUSH_BYTES  # larger operands cannot stay in L2
            r = oom_safe(lambda: (bench.gemm(lambda: F.linear(x, W), fl),
                                  bench.gemm(lambda: torch.mm(g, W), fl),
                                  bench.gemm(lambda: torch.mm(g.t(), x), fl)))
            bench.rest()
            if r is None:
                log(f"  linear K={K} N={N} M={M}: out of memory, series stopped")
                break
            points.append([K, N, M, *(round(v, 5) for v in r)])
            if max(r) > CAP_MS:
                break
        del W, X, G
        if i % 100 == 0:
            log(f"  linear {i}/{len(pairs)} pairs, {len(points)} points, {time.time() - t0:.0f} s")
    torch.cuda.empty_cache()
    return dict(axes=["in_features", "out_features", "tokens"],
                fields=["forward_ms", "input_grad_ms", "weight_grad_ms"], points=points)


def measure_linear_unaligned(bench, dev, quick):
    """lm_head-like GEMMs whose out_features is 1 more than a multiple of 8, in = a hidden size."""
    tokens = [512, 2048] if quick else octaves(512, 32768)
    hidden = [1024] if quick else half_octaves(512, 16384)
    wide = [8193] if quick else [n + 1 for n in octaves(2048, 262144)]
    points = []
    for K in hidden:
        for N in wide:
            W = rnd((N, K), dev, scale=0.02)
            X = rnd((tokens[-1], K), dev)
            G = rnd((tokens[-1], N), dev)
            for M in tokens:
                x, g = X[:M], G[:M]
                fl = 2 * (M * K + N * K + M * N) < 2 * FLUSH_BYTES
                r = oom_safe(lambda: (bench.gemm(lambda: F.linear(x, W), fl),
                                      bench.gemm(lambda: torch.mm(g, W), fl),
                                      bench.gemm(lambda: torch.mm(g.t(), x), fl)))
                bench.rest()
                if r is None:
                    break
                points.append([K, N, M, *(round(v, 5) for v in r)])
                if max(r) > CAP_MS:
                    break
            del W, X, G
    torch.cuda.empty_cache()
    return dict(axes=["in_features", "out_features", "tokens"],
                fields=["forward_ms", "input_grad_ms", "weight_grad_ms"], points=points)


# ---------------------------------------------------------------- attention

def backend(name):
    """The SDPA backends allowed: torch's own choice ('default') or the flash kernel alone."""
    import contextlib
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return contextlib.nullcontext() if name == "default" else sdpa_kernel([SDPBackend.FLASH_ATTENTION])


def measure_attention(bench, dev, quick, which="default"):
    seqs = [512, 2048, 8192] if quick else octaves(512, 32768)
    head_dims = [128] if quick else [64, 128]
    ratios = [1, 8] if quick or which == "flash" else [1, 2, 4, 8]
    cap_rows = 2**18 if quick else 2**21  # query heads x sequence
    points = []
    for hd in head_dims:
        for g in ratios:
            for s in seqs:
                for hq in octaves(max(g, 1), 2048):
                    if hq * s > cap_rows:
                        break
                    q = rnd((1, hq, s, hd), dev, grad=True)
                    k = rnd((1, hq // g, s, hd), dev, grad=True)
                    v = rnd((1, hq // g, s, hd), dev, grad=True)

                    def fn(q, k, v):
                        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=g > 1)
                    with backend(which):
                        r = oom_safe(lambda: fwd_bwd(bench, fn, [q, k, v]))
                    del q, k, v
                    if r is None:
                        log(f"  attention hd={hd} g={g} s={s} hq={hq}: out of memory")
                        break
                    points.append([hd, g, s, hq, round(r[0], 5), round(r[1], 5)])
                    if max(r) > 4 * CAP_MS:
                        break
        log(f"  attention ({which}) head_dim {hd}: {len(points)} points")
    torch.cuda.empty_cache()
    return dict(axes=["head_dim", "gqa_ratio", "seq", "query_heads"], fields=["forward_ms", "backward_ms"],
                points=points)


# ---------------------------------------------------------------- memory-bound operators

def rms_norm(x, w, eps=1e-5):
    """LLaMA's RMSNorm as Hugging Face writes it (fp32 statistics, bf16 scale)."""
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return w * xf.to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, cos, sin):
    return x * cos + rotate_half(x) * sin


def series(bench, dev, widths, tokens, make, label, extra_axes=()):
    """For each width and token count: (fwd, bwd) ms of the operator make(M, W) returns (fn, inputs)."""
    points = []
    for W in widths:
        for M in tokens:
            if M * W > MAX_ELEMENTS:
                break
            fn, inputs = make(M, W)
            r = oom_safe(lambda: fwd_bwd(bench, fn, inputs))
            del inputs
            if r is None:
                log(f"  {label} W={W} M={M}: out of memory")
                break
            points.append([*extra_axes, W, M, round(r[0], 5), round(r[1], 5)])
    torch.cuda.empty_cache()
    return points


def measure_memory_bound(bench, dev, quick):
    tokens = [512, 4096, 32768] if quick else octaves(256, 65536)
    hidden = [1024, 4096] if quick else half_octaves(512, 16384)
    wide = [1024, 8192] if quick else half_octaves(128, 65536)
    out = {}
    ax = ["width", "tokens"]
    flds = ["forward_ms", "backward_ms"]
    out["rmsnorm"] = dict(axes=ax, fields=flds, points=series(
        bench, dev, hidden, tokens,
        lambda M, W: (rms_norm, [rnd((M, W), dev, grad=True), rnd((W,), dev, grad=True)]), "rmsnorm"))
    out["layernorm"] = dict(axes=ax, fields=flds, points=series(
        bench, dev, hidden, tokens,
        lambda M, W: (lambda x, w, b: F.layer_norm(x, (W,), w, b, 1e-5),
                      [rnd((M, W), dev, grad=True), rnd((W,), dev, grad=True), rnd((W,), dev, grad=True)]),
        "layernorm"))
    out["add"] = dict(axes=ax, fields=flds, points=series(
        bench, dev, hidden, tokens,
        lambda M, W: (torch.add, [rnd((M, W), dev, grad=True), rnd((M, W), dev, grad=True)]), "add"))
    out["silu"] = dict(axes=ax, fields=flds, points=series(
        bench, dev, wide, tokens, lambda M, W: (F.silu, [rnd((M, W), dev, grad=True)]), "silu"))
    out["gelu"] = dict(axes=ax, fields=flds, points=series(
        bench, dev, wide, tokens,
        lambda M, W: (lambda x: F.gelu(x, approximate="tanh"), [rnd((M, W), dev, grad=True)]), "gelu"))
    out["mul"] = dict(axes=ax, fields=flds, points=series(
        bench, dev, wide, tokens,
        lambda M, W: (torch.mul, [rnd((M, W), dev, grad=True), rnd((M, W), dev, grad=True)]), "mul"))

    # RoPE on one [1, heads, tokens, head_dim] tensor laid out as a projection's view (HF layout)
    rope_points = []
    for hd in ([128] if quick else [64, 128]):
        heads = [8, 32] if quick else octaves(1, 128)

        def make_rope(M, W, hd=hd):
            nh = W // hd
            x = rnd((1, M, nh * hd), dev).view(1, M, nh, hd).transpose(1, 2).requires_grad_(True)
            ang = torch.rand((1, 1, M, hd), device=dev)
            return rope, [x, ang.cos().to(torch.bfloat16), ang.sin().to(torch.bfloat16)]
        rope_points += series(bench, dev, [hd * h for h in heads], tokens, make_rope, "rope", extra_axes=(hd,))
    out["rope"] = dict(axes=["head_dim", "width", "tokens"], fields=flds, points=rope_points)

    # embedding: gather of `tokens` rows of a [vocab, hidden] table; backward = dense scatter-add
    emb_points = []
    vocabs = [8192, 65536] if quick else octaves(4096, 262144)
    for V in vocabs:
        for H in ([1024, 4096] if quick else octaves(512, 16384)):
            if V * H > MAX_ELEMENTS:
                continue
            wt = rnd((V, H), dev, grad=True, scale=0.02)
            for M in tokens:
                ids = torch.randint(0, V, (M,), device=dev)
                r = oom_safe(lambda: fwd_bwd(bench, F.embedding, [ids, wt]))
                if r is None:
                    break
                emb_points.append([V, H, M, round(r[0], 5), round(r[1], 5)])
            del wt
    out["embedding"] = dict(axes=["vocab", "hidden", "tokens"], fields=flds, points=emb_points)

    # losses over [tokens, vocab] bf16 logits (fp32 upcast), mean over tokens
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "validation"))
    from train_step import _VocabParallelCE
    for name, loss in [("cross_entropy", lambda lg, lb: F.cross_entropy(lg.float(), lb)),
                       ("vocab_parallel_cross_entropy", lambda lg, lb: _VocabParallelCE.apply(lg.float(), lb, 0, None).mean())]:
        pts = []
        for V in vocabs:
            for M in tokens:
                if M * V > MAX_ELEMENTS:
                    break
                lg = rnd((M, V), dev, grad=True)
                lb = torch.randint(0, V, (M,), device=dev)

                def both(lg=lg, lb=lb, loss=loss):
                    f = bench.ms(lambda: loss(lg, lb))
                    fb = bench.ms(lambda: torch.autograd.grad([loss(lg, lb)], [lg]))
                    return f, max(fb - f, 0.0)
                r = oom_safe(both)
                del lg, lb
                if r is None:
                    break
                pts.append([V, M, round(r[0], 5), round(r[1], 5)])
        torch.cuda.empty_cache()
        out[name] = dict(axes=["vocab", "tokens"], fields=flds, points=pts)
    log(f"  memory-bound: {sum(len(t['points']) for t in out.values())} points")
    return out


# ---------------------------------------------------------------- layout copies and bias gradients

def measure_layout(bench, dev, quick):
    """Attention's output copied from [heads, tokens, head_dim] to a projection's [tokens, heads x
    head_dim] layout; the gradient of GPT-2's fused qkv split into heads; bias gradients."""
    tokens = [512, 4096, 32768] if quick else octaves(256, 65536)
    out = {}
    ax3 = ["head_dim", "width", "tokens"]
    merge, stack = [], []
    for hd in ([128] if quick else [64, 128]):
        for nh in ([8, 32] if quick else octaves(1, 128)):
            W = nh * hd
            for M in tokens:
                if 3 * M * W > MAX_ELEMENTS:
                    break
                x = rnd((1, nh, M, hd), dev)
                X = rnd((M, 3 * W), dev, grad=True)
                parts = X.view(1, M, 3, nh, hd).permute(2, 0, 3, 1, 4).unbind(0)
                grads = [rnd((1, nh, M, hd), dev) for _ in range(3)]

                def both():
                    m_ = bench.ms(lambda: x.transpose(1, 2).contiguous())
                    k_ = bench.ms(lambda: torch.autograd.grad(parts, [X], grads, retain_graph=True))
                    return m_, k_
                r = oom_safe(both)
                del x, X, parts, grads
                if r is None:
                    break
                merge.append([hd, W, M, round(r[0], 5)])
                stack.append([hd, W, M, round(r[1], 5)])
                if max(r) > CAP_MS:
                    break
    out["head_merge"] = dict(axes=ax3, fields=["copy_ms"], points=merge)
    out["qkv_grad_stack"] = dict(axes=ax3, fields=["copy_ms"], points=stack)
    pts = []
    for W in ([1024, 8192] if quick else half_octaves(128, 65536)):
        for M in tokens:
            if M * W > MAX_ELEMENTS:
                break
            g = rnd((M, W), dev)
            r = oom_safe(lambda: bench.ms(lambda: g.sum(0)))
            del g
            if r is None:
                break
            pts.append([W, M, round(r, 5)])
            if r > CAP_MS:
                break
    out["bias_grad"] = dict(axes=["width", "tokens"], fields=["reduce_ms"], points=pts)
    torch.cuda.empty_cache()
    log(f"  layout: {sum(len(t['points']) for t in out.values())} points")
    return out


# ---------------------------------------------------------------- optimizer

def param_tensors(n, dev, dtype, chunk=2**26):
    sizes = [chunk] * (n // chunk) + ([n % chunk] if n % chunk else [])
    return [torch.nn.Parameter(torch.randn(s, device=dev, dtype=dtype).mul_(0.02)) for s in sizes]


def measure_optimizer(bench, dev, quick):
    counts = [2**24, 2**26] if quick else [2**22, 2**24, 2**26, 2**28, 2**30, 2**32]
    res = {}
    for label in ("adamw_bf16_states", "adamw_fp32_master"):
        pts = []
        for n in counts:
            def run(n=n):
                dtype = torch.bfloat16 if label == "adamw_bf16_states" else torch.float32
                ps = param_tensors(n, dev, dtype)
                for p in ps:
                    p.grad = torch.randn_like(p).mul_(1e-3)
                if label == "adamw_bf16_states":
                    opt = torch.optim.AdamW(ps, lr=1e-4, weight_decay=0.01, foreach=True)
                    step = opt.step
                else:
                    opt = torch.optim.AdamW(ps, lr=1e-4, weight_decay=0.01, fused=True)
                    half = [torch.empty(p.shape, device=dev, dtype=torch.bfloat16) for p in ps]

                    def step():
                        opt.step()
                        torch._foreach_copy_(half, ps)
                ms = bench.ms(step)
                del ps, opt, step
                return ms
            ms = oom_safe(run)
            torch.cuda.empty_cache()
            if ms is None:
                log(f"  {label} {n} params: out of memory")
                break
            pts.append([n, round(ms, 5)])
        res[label] = dict(axes=["params"], fields=["step_ms"], points=pts)
    return res


# ---------------------------------------------------------------- sustained load

LOAD_SHARES = [1.0, 0.75, 0.5, 0.25, 0.0]  # GEMM shares of a loop's boost-clock time


def measure_load(bench, dev, quick, sampler):
    """GEMM time under sustained load against its spaced (boost-clock) time, by the GEMM share of the work.

    A loop of one 8192^3 GEMM and k adds of two 64 MiB tensors (k sets the GEMM's share of the loop's
    spaced time) runs back to back for a few seconds; the loop's settled time less its adds at their
    spaced time, over the GEMM's spaced time, is the GEMM's slowdown at that share (share 0: the adds alone).
    """
    import sustained_clock  # its back-to-back timer (imported here: it imports this module)
    seconds, rest_s = (1.0, 0.5) if quick else (8.0, 5.0)
    x = rnd((8192, 8192), dev)
    w = rnd((8192, 8192), dev, scale=0.02)
    a = rnd((32 * 2**20,), dev)
    c = rnd((32 * 2**20,), dev)
    gemm = lambda: F.linear(x, w)  # noqa: E731
    add = lambda: a + c  # noqa: E731
    time.sleep(rest_s)
    g0 = bench.gemm(gemm, False)
    a0 = bench.ms(add, False, spaced=True)
    rows = []
    for share in LOAD_SHARES:
        k = 64 if share == 0 else round(g0 * (1 - share) / (share * a0))
        body = (lambda k=k: [add() for _ in range(k)]) if share == 0 else (lambda k=k: (gemm(), [add() for _ in range(k)]))
        per_chunk = max(1, round(20.0 / (g0 * (share > 0) + k * a0)))  # about 20 ms a chunk
        time.sleep(rest_s)
        t0 = time.time()
        loop_ms, _ = sustained_clock.sustained_ms(body, seconds, chunk=per_chunk)
        t1 = time.time()
        spaced_ms = (g0 if share > 0 else 0) + k * a0
        row = dict(gemm_share=round(g0 / spaced_ms, 4) if share > 0 else 0.0, adds=k, loop_ms=round(loop_ms, 5),
                   loop_slowdown=round(loop_ms / spaced_ms, 4),
                   gemm_slowdown=round((loop_ms - k * a0) / g0, 4) if share > 0 else None,
                   clock=sampler.between((t0 + t1) / 2, t1) if sampler else None)
        rows.append(row)
        log(f"  load share {row['gemm_share']}: {k} adds, loop {loop_ms:.3f} ms, x{row['loop_slowdown']} (GEMM x{row['gemm_slowdown']})")
    del x, w, a, c
    torch.cuda.empty_cache()
    return dict(gemm="F.linear 8192 tokens x 8192 in x 8192 out", add="a + c, two 32M-element bf16 tensors",
                gemm_spaced_ms=round(g0, 5), add_spaced_ms=round(a0, 5), seconds=seconds, rest_s=rest_s, rows=rows)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cmd(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # noqa: BLE001 - metadata only
        return ""


FAMILIES = ["linear", "linear_unaligned", "attention", "memory", "layout", "optimizer", "load"]


def previous_profile(path, name, only):
    """The file --update adds to: same GPU, driver and torch, else exit with the fix."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"operators.py: --update needs {path} ({e}) — fix: run without --update to measure every family")
    driver = cmd(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]).split("\n")[0]
    for key, now in (("gpu_name", name), ("driver_version", driver), ("torch_version", torch.__version__)):
        if doc.get(key) != now:
            sys.exit(f"operators.py: {path} has {key} {doc.get(key)!r}, this machine {now!r} — fix: measure every family (no --update)")
    for fam in only:
        doc.get("phase_s", {}).pop(fam, None)
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="profiles", help="directory for ops_{GPU}.json")
    ap.add_argument("--quick", action="store_true", help="a tiny grid (a check that it runs, not a profile)")
    ap.add_argument("--l2-flush", action="store_true",
                    help="write a 128 MiB buffer before every repetition (cold L2); default: L2-warm operands")
    ap.add_argument("--only", default=",".join(FAMILIES), help="comma-separated families to measure (default: all)")
    ap.add_argument("--update", action="store_true",
                    help="keep the other families' tables of the existing OUT/ops_{GPU}.json (same GPU, driver and torch)")
    ap.add_argument("--gemm-rest", type=float, default=0.5,
                    help="idle seconds after each GEMM cell per second of its GPU time (default 0.5: off the power cap)")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("operators.py: no CUDA GPU visible — fix: run it on the GPU to be profiled")
    families = args.only.split(",")
    if set(families) - set(FAMILIES):
        sys.exit(f"operators.py: unknown family in --only {args.only} — fix: use {','.join(FAMILIES)}")
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False
    name = torch.cuda.get_device_name(0)
    gpu = gpu_short_name(name)
    props = torch.cuda.get_device_properties(0)
    path = os.path.join(args.out, f"ops_{gpu}{'_quick' if args.quick else ''}.json")
    prev = previous_profile(path, name, families) if args.update else {}
    import sustained_clock  # its nvidia-smi sampler (imported here: it imports this module)
    sampler = sustained_clock.Sampler() if cmd(["nvidia-smi", "-L"]) else None
    t_start = time.time()
    bench = Bench(dev, l2_flush=args.l2_flush, gemm_rest=args.gemm_rest)
    log(f"{name}: sleep {bench.cycles_per_ms / 1e6:.3f} Mcycles/ms, L2 flush {bench.flush_ms * 1e3:.1f} us")
    run = dict(tables=dict(prev.get("tables", {})), phase_s=dict(prev.get("phase_s", {})), date=prev.get("date"),
               table_dates=dict(prev.get("table_dates", {})), phase_clock=dict(prev.get("phase_clock", {})),
               sustained_load=prev.get("sustained_load"))
    for fam, fn in [("linear", lambda: {"linear": measure_linear(bench, dev, args.quick)}),
                    ("linear_unaligned", lambda: {"linear_unaligned": measure_linear_unaligned(bench, dev, args.quick)}),
                    ("attention", lambda: {"attention": measure_attention(bench, dev, args.quick),
                                           "attention_flash": measure_attention(bench, dev, args.quick, "flash")}),
                    ("memory", lambda: measure_memory_bound(bench, dev, args.quick)),
                    ("layout", lambda: measure_layout(bench, dev, args.quick)),
                    ("optimizer", lambda: measure_optimizer(bench, dev, args.quick)),
                    ("load", lambda: measure_load(bench, dev, args.quick, sampler))]:
        if fam not in families:
            continue
        t0 = time.time()
        measured = {"sustained_load": fn()} if fam == "load" else fn()
        if fam == "load":
            run.update(measured)
        else:
            run["tables"].update(measured)
        if args.update:  # the file's date stays its first run's; each table measured since says when
            run["table_dates"].update({t: utc_now() for t in measured})
        run["phase_s"][fam] = round(time.time() - t0, 1)
        if sampler:
            run["phase_clock"][fam] = sampler.between(t0, time.time())
        log(f"{fam}: {run['phase_s'][fam]} s, clock {run['phase_clock'].get(fam)}")
        write(path, args, gpu, name, props, bench, run, t_start)
    if sampler:
        sampler.stop()
    return 0


def write(path, args, gpu, name, props, bench, run, t_start):
    """Write (or rewrite, after each family) OUT/ops_{GPU}.json atomically."""
    doc = dict(
        format=FORMAT, version=VERSION, gpu=gpu, gpu_name=name,
        driver_version=cmd(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]).split("\n")[0],
        cuda_version=str(torch.version.cuda), torch_version=torch.__version__,
        cudnn_version=str(torch.backends.cudnn.version()),
        date=run["date"] or utc_now(), dtype="bf16", quick=args.quick,
        device=dict(sm_count=props.multi_processor_count, memory_GiB=round(props.total_memory / 2**30, 2),
                    l2_MiB=round(getattr(props, "L2_cache_size", 0) / 2**20, 1)),
        method=dict(
            timer="cuda events per repetition; GPU sleep kernel queued ahead of the repetitions",
            gemms=(f"spaced: a sleep kernel of at least {SPACED_SLEEP_MS} ms before each repetition, then "
                   f"{args.gemm_rest} s idle per second of GPU time after each (M, K, N) cell"),
            warmup_calls=2, repetitions="7 below 1 ms, 5 below 10 ms, else 3", statistic="median",
            l2=(f"flushed: a {FLUSH_BYTES // 2**20} MiB buffer written before each repetition (GEMMs: only where "
                f"their operands total less than {2 * FLUSH_BYTES // 2**20} MiB)") if args.l2_flush else
               "warm: operands left where the previous repetition put them (no flush)",
            backward="torch.autograd.grad(out, inputs and weights, dout, retain_graph=True); "
                     "losses: (forward + backward) - forward",
            series_cap_ms=CAP_MS, tf32=False,
            attention="torch.nn.functional.scaled_dot_product_attention, is_causal, enable_gqa for ratios > 1, "
                      "batch 1 (query_heads = batch x heads); table attention: torch's default backend choice "
                      "(what Hugging Face models and the harness run), attention_flash: the flash backend alone",
            l2_flush_ms=round(bench.flush_ms, 4)),
        phase_s=run["phase_s"], phase_clock=run["phase_clock"],
        wall_s=round(sum(run["phase_s"].values()), 1), tables=run["tables"])
    if run["table_dates"]:
        doc["table_dates"] = run["table_dates"]
    if run["sustained_load"]:
        doc["sustained_load"] = run["sustained_load"]
    os.makedirs(args.out, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(tmp, path)
    log(f"wrote {path}: {sum(len(t['points']) for t in run['tables'].values())} points, {bench.calls} timings, "
        f"{round(time.time() - t_start, 1)} s")


if __name__ == "__main__":
    sys.exit(main())
