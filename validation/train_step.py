#!/usr/bin/env python3
"""Validation harness: real training steps of a LLaMA-style model under a (tp, pp, dp) plan.

One process per rank (torchrun) or a single process for the 1-GPU plan.  For every
(mbs, gbs) combination given, it builds the model, runs `--warmup` + `--steps` full
training steps (zero_grad, forward/backward of all micro-batches, optimizer step) and
writes one JSON per combination into --out.

Parallelism (PyTorch's own stack):
  dp: DistributedDataParallel, gradient all-reduce once per step (no_sync on all but the
      last micro-batch), gradient_as_bucket_view=True.
  tp: DTensor tensor parallel (parallelize_module): ColwiseParallel on q/k/v/gate/up,
      RowwiseParallel on o/down; vocab-parallel embedding (RowwiseParallel) and lm_head
      (ColwiseParallel, logits stay vocab-sharded) with loss_parallel() cross-entropy.
  pp: torch.distributed.pipelining PipelineStage + Schedule1F1B; stage 0 = embedding +
      first layers, last stage = last layers + final norm + lm_head (+ loss).
Recipe: params and compute bf16, torch.optim.AdamW (foreach) directly on bf16 params,
no fp32 master copy, optimizer states bf16; loss = cross-entropy with fp32 upcast of
logits; no activation checkpointing; attention = SDPA (flash) causal; random weights,
synthetic random tokens.

Several dimensions at once (e.g. --tp 2 --dp 2 on 4 ranks): ranks in Megatron's order (tp fastest,
then dp, then pp), one process group per dimension (Layout); the Megatron-style TP (--tp-impl manual)
with pp or dp, since DTensor's loss_parallel would have to wrap the schedule's loss and DDP cannot
bucket DTensor parameters. Data-parallel runs record the spread of a weight checksum over each dp
group after the steps (dp_replica_weight_spread: 0 when the gradients were reduced).

Further techniques (each checked against one process on CPU by validation/technique_check.py):
  --dp-sharding optimizer: DDP all-reduce + ZeroRedundancyOptimizer (ZeRO-1: each dp rank keeps and
      steps the AdamW states of its share of the parameters, then broadcasts them);
  --dp-sharding gradients | parameters: FSDP2 fully_shard per decoder layer and on the root, with
      reshard_after_forward False (ZeRO-2-like: weights stay gathered from forward to backward) or
      True (ZeRO-3); --shard-group N shards over groups of N dp ranks and replicates across them (HSDP);
  --sequence-parallel (Megatron-style TP): norms and residuals on sequence shards, all-gather of the
      sequence before each column-parallel block, reduce-scatter after each row-parallel one, the
      norms' weight gradients summed over the TP group;
  --virtual-stages V: V model chunks per pipeline rank (stage s on rank s mod pp),
      ScheduleInterleaved1F1B;
  --cp N: context parallelism, the sequence in 2N chunks, rank r holding chunks r and 2N-1-r (causal
      load balance), attention as a ring of K/V blocks over torch.distributed send/recv with an online
      softmax (hand-written forward and backward), gradients averaged over dp x cp.
--dtype fp32, --init-by-name and --dump make runs comparable across plans (see --help).

Plan partition: --layers-per-stage 2,2   or
                --module-fqns '[["tok_embeddings","layers.0"],["layers.1","norm","output"]]'
(torchtitan-style module names: tok_embeddings, layers.<i>, norm, output).
"""
import argparse
import contextlib
import datetime
import json
import math
import os
import socket
import subprocess
import sys
import time
import traceback
import zlib

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

LLAMA8B = dict(name="llama8b", hidden_size=4096, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=14336, vocab_size=128256, seq_length=1024)
LLAMA1B = dict(name="llama1b", hidden_size=2048, num_attention_heads=32, num_key_value_heads=8,
               intermediate_size=8192, vocab_size=128256, seq_length=1024)
GPT2XL = dict(name="gpt2-xl-like", hidden_size=1600, num_attention_heads=25, num_key_value_heads=25,
              intermediate_size=6400, vocab_size=50257, seq_length=2048, tie_word_embeddings=True,
              architecture="gpt2")
TINY = dict(name="tiny", hidden_size=256, num_attention_heads=8, num_key_value_heads=2,
            intermediate_size=512, vocab_size=1024, seq_length=64)


def log(*a):
    r = dist.get_rank() if dist.is_initialized() else 0
    if r == 0:
        print(*a, flush=True)


def gpu_short_name(full):
    import re
    m = re.search(r"(H100|H200|H20|A100|A800|H800|L40S|L40|A10G|A6000|V100|T4|B200|GB200|MI300X|MI250)", full)
    return m.group(1) if m else re.sub(r"[^A-Za-z0-9]", "", full)[:16] or "GPU"


def make_hf_config(m, num_layers):
    from transformers import LlamaConfig
    c = LlamaConfig(hidden_size=m["hidden_size"], intermediate_size=m["intermediate_size"],
                    num_attention_heads=m["num_attention_heads"],
                    num_key_value_heads=m["num_key_value_heads"],
                    head_dim=m["hidden_size"] // m["num_attention_heads"],
                    vocab_size=m["vocab_size"], num_hidden_layers=num_layers,
                    max_position_embeddings=max(2048, m["seq_length"]), rms_norm_eps=1e-5,
                    attention_bias=False, mlp_bias=False, hidden_act="silu",
                    tie_word_embeddings=bool(m.get("tie_word_embeddings", False)))
    c._attn_implementation = "sdpa"
    c.fasop_arch = m.get("architecture", "llama")
    c.fasop_positions = m["seq_length"]
    c.fasop_recompute = m.get("recompute", "none")
    c.fasop_dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[m.get("dtype", "bf16")]
    c.fasop_init_by_name = bool(m.get("init_by_name", False))
    if c.fasop_recompute == "selective" and c.fasop_arch == "llama":
        c._attn_implementation = register_recompute_sdpa()
    if m.get("cp", 1) > 1:
        c._attn_implementation = register_ring_attention()
    return c


def op_checkpoint_context():
    """Per-operator selective checkpointing as torchtitan's selective_ac_option "op" runs it: in each
    block, the outputs of the attention kernels and of every other aten.mm (the 1st, 3rd, ...) are
    kept; everything else is recomputed in the backward. A fresh counter per checkpointed block."""
    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts
    aten = torch.ops.aten
    attention = {getattr(aten, n).default for n in (
        "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
        "_scaled_dot_product_cudnn_attention") if hasattr(aten, n)}
    matmuls = {"forward": 0, "recompute": 0}

    def policy(ctx, op, *args, **kwargs):
        if op == aten.mm.default:
            phase = "recompute" if ctx.is_recompute else "forward"
            matmuls[phase] += 1
            keep = matmuls[phase] % 2 == 1
        else:
            keep = op in attention
        return CheckpointPolicy.MUST_SAVE if keep else CheckpointPolicy.PREFER_RECOMPUTE
    return create_selective_checkpoint_contexts(policy)


def run_block(layer, rc, x, **kw):
    """One decoder block under the run's recompute: whole (full), per operator (op), or as it is."""
    if rc in ("full", "op") and torch.is_grad_enabled():
        from torch.utils.checkpoint import checkpoint
        extra = dict(context_fn=op_checkpoint_context) if rc == "op" else {}
        return checkpoint(layer, x, use_reentrant=False, **kw, **extra)
    return layer(x, **kw)


def register_recompute_sdpa():
    """Selective recompute (Megatron's 'selective'): the attention core (SDPA) runs under a
    non-reentrant checkpoint, so its inputs are kept and its output is recomputed in backward."""
    from torch.utils.checkpoint import checkpoint
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    def sdpa_recompute(module, query, key, value, attention_mask, **kw):
        return checkpoint(sdpa_attention_forward, module, query, key, value, attention_mask,
                          use_reentrant=False, **kw)
    try:
        AttentionInterface.register("sdpa_recompute", sdpa_recompute)
    except AttributeError:  # an older registry without register(): its class-level mapping
        AttentionInterface._global_mapping["sdpa_recompute"] = sdpa_recompute
    return "sdpa_recompute"


# ---- context parallelism (--cp): ring attention over load-balanced causal chunks
# The sequence is cut into 2·cp chunks of c tokens; cp rank r holds chunks r and 2·cp−1−r, so that every
# rank has the same amount of causal work. K/V blocks travel around the ring of cp ranks (send to r+1,
# receive from r−1) while each rank attends its queries to the block it holds, merging blocks by their
# log-sum-exp (online softmax); the backward sends the blocks round again with their dK/dV, which
# arrive at their owner after the last hop.
CP = dict(group=None, size=1, rank=0, chunk=0)


def cp_positions(r, n, c, device):
    """Sequence positions of cp rank r's tokens (chunks r and 2n−1−r of c tokens)."""
    return torch.cat([torch.arange(r * c, (r + 1) * c, device=device),
                      torch.arange((2 * n - 1 - r) * c, (2 * n - r) * c, device=device)])


def _ring_shift(tensors, group, n, r):
    """Send each tensor to the next cp rank and receive the previous rank's: (requests, received)."""
    nxt = dist.get_global_rank(group, (r + 1) % n)
    prv = dist.get_global_rank(group, (r - 1) % n)
    recv = [torch.empty_like(t) for t in tensors]
    ops = [dist.P2POp(dist.isend, t.contiguous(), nxt, group, tag=i) for i, t in enumerate(tensors)]
    ops += [dist.P2POp(dist.irecv, b, prv, group, tag=i) for i, b in enumerate(recv)]
    return dist.batch_isend_irecv(ops), recv


def _block_scores(q, k, qpos, kpos, scale):
    """Causal attention scores of a query block on a key block, fp32, masked with −inf."""
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    return s.masked_fill(kpos.view(1, -1) > qpos.view(-1, 1), float("-inf"))


class _RingAttention(torch.autograd.Function):
    """Causal attention of the local queries [B, H, L, D] over the whole sequence's K/V, held in
    blocks on the cp ranks (same heads as q; at least fp32 inside)."""

    @staticmethod
    def forward(ctx, q, k, v, scale, group, n, r, c):
        acc = torch.promote_types(q.dtype, torch.float32)
        qf = q.to(acc)
        qpos = cp_positions(r, n, c, q.device)
        out = torch.zeros(qf.shape, dtype=acc, device=q.device)
        lse = torch.full(qf.shape[:-1], -1e30, dtype=acc, device=q.device)
        kk, vv = k.contiguous(), v.contiguous()
        for t in range(n):
            if t < n - 1:
                reqs, (nk, nv) = _ring_shift([kk, vv], group, n, r)
            s = _block_scores(qf, kk.to(acc), qpos, cp_positions((r - t) % n, n, c, q.device), scale)
            blse = torch.logsumexp(s, dim=-1)
            blse = torch.where(torch.isinf(blse), torch.full_like(blse, -1e30), blse)  # rows with no key here
            bout = torch.matmul(torch.exp(s - blse.unsqueeze(-1)), vv.to(acc))
            new = torch.logaddexp(lse, blse)
            out = out * torch.exp(lse - new).unsqueeze(-1) + bout * torch.exp(blse - new).unsqueeze(-1)
            lse = new
            if t < n - 1:
                for w in reqs:
                    w.wait()
                kk, vv = nk, nv
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.args = (scale, group, n, r, c)
        return out.to(q.dtype)

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse = ctx.saved_tensors
        scale, group, n, r, c = ctx.args
        acc = out.dtype
        qf, do = q.to(acc), dout.to(acc)
        qpos = cp_positions(r, n, c, q.device)
        delta = (do * out).sum(-1, keepdim=True)
        dq = torch.zeros_like(qf)
        kk, vv = k.contiguous(), v.contiguous()
        dk = torch.zeros(k.shape, dtype=acc, device=k.device)
        dv = torch.zeros(v.shape, dtype=acc, device=v.device)
        for t in range(n):
            kf, vf = kk.to(acc), vv.to(acc)
            p = torch.exp(_block_scores(qf, kf, qpos, cp_positions((r - t) % n, n, c, q.device), scale) - lse.unsqueeze(-1))
            dv = dv + torch.matmul(p.transpose(-1, -2), do)
            ds = p * (torch.matmul(do, vf.transpose(-1, -2)) - delta)
            dq = dq + torch.matmul(ds, kf) * scale
            dk = dk + torch.matmul(ds.transpose(-1, -2), qf) * scale
            # the block moves on with its gradient; after the last hop each dK/dV reaches its owner
            reqs, got = _ring_shift([dk, dv] if t == n - 1 else [kk, vv, dk, dv], group, n, r)
            for w in reqs:
                w.wait()
            if t == n - 1:
                dk, dv = got
            else:
                kk, vv, dk, dv = got
        return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), None, None, None, None, None


def ring_attention_forward(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """HF attention interface: causal ring attention of this cp rank's queries; returns [B, L, H, D]."""
    n_rep = query.shape[1] // key.shape[1]
    if n_rep > 1:  # GQA: each KV head serves n_rep consecutive query heads
        B, Hk, L, D = key.shape
        key = key[:, :, None].expand(B, Hk, n_rep, L, D).reshape(B, Hk * n_rep, L, D)
        value = value[:, :, None].expand(B, Hk, n_rep, L, D).reshape(B, Hk * n_rep, L, D)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = _RingAttention.apply(query, key, value, scale, CP["group"], CP["size"], CP["rank"], CP["chunk"])
    return out.transpose(1, 2).contiguous(), None


def register_ring_attention():
    from transformers import AttentionInterface
    try:
        AttentionInterface.register("ring_cp", ring_attention_forward)
    except AttributeError:  # an older registry without register(): its class-level mapping
        AttentionInterface._global_mapping["ring_cp"] = ring_attention_forward
    return "ring_cp"


class GPT2Block(nn.Module):
    """GPT-2 block: pre-LayerNorm, fused qkv with bias, causal SDPA, GELU (tanh) MLP with bias."""

    def __init__(self, h, heads, ffn, selective=False):
        super().__init__()
        self.heads, self.selective = heads, selective
        self.ln_1 = nn.LayerNorm(h, eps=1e-5)
        self.c_attn = nn.Linear(h, 3 * h)
        self.c_proj = nn.Linear(h, h)
        self.ln_2 = nn.LayerNorm(h, eps=1e-5)
        self.c_fc = nn.Linear(h, ffn)
        self.mlp_proj = nn.Linear(ffn, h)

    @staticmethod
    def core(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    def forward(self, x):
        B, S, H = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).view(B, S, 3, self.heads, H // self.heads).permute(2, 0, 3, 1, 4)
        if self.selective and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint
            a = checkpoint(self.core, q, k, v, use_reentrant=False)
        else:
            a = self.core(q, k, v)
        x = x + self.c_proj(a.transpose(1, 2).reshape(B, S, H))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Transformer(nn.Module):
    """LLaMA model (HF LlamaDecoderLayer blocks) holding only the modules of one stage."""

    def __init__(self, hf_cfg, fqns):
        super().__init__()
        from transformers.models.llama.modeling_llama import (
            LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding)
        h, V = hf_cfg.hidden_size, hf_cfg.vocab_size
        self.tok_embeddings = nn.Embedding(V, h) if "tok_embeddings" in fqns else None
        ids = [int(f.split(".")[1]) for f in fqns if f.startswith("layers.")]
        self.layers = nn.ModuleDict({str(i): LlamaDecoderLayer(hf_cfg, layer_idx=i) for i in ids})
        self.norm = LlamaRMSNorm(h, eps=hf_cfg.rms_norm_eps) if "norm" in fqns else None
        self.output = nn.Linear(h, V, bias=False) if "output" in fqns else None
        if hf_cfg.tie_word_embeddings and self.output is not None and self.tok_embeddings is not None:
            self.output.weight = self.tok_embeddings.weight
        self.rotary = LlamaRotaryEmbedding(hf_cfg)
        self.recompute = getattr(hf_cfg, "fasop_recompute", "none")
        # the sequence positions of this rank's tokens when they are not 0..len-1 (sequence and
        # context parallelism: [1, L] on the model's device)
        self.positions = None

    def forward(self, x):
        if self.tok_embeddings is not None:
            x = self.tok_embeddings(x)
        pos = self.positions if self.positions is not None else torch.arange(x.shape[1], device=x.device).unsqueeze(0)
        cos, sin = self.rotary(x, pos)
        for layer in self.layers.values():
            o = run_block(layer, self.recompute, x, position_embeddings=(cos, sin))
            x = o[0] if isinstance(o, tuple) else o
        if self.norm is not None:
            x = self.norm(x)
        if self.output is not None:
            x = self.output(x)
        return x


class GPT2Transformer(nn.Module):
    """GPT-2-style model (learned positions, LayerNorm, GELU, tied lm_head) with the same module names."""

    def __init__(self, hf_cfg, fqns):
        super().__init__()
        h, V = hf_cfg.hidden_size, hf_cfg.vocab_size
        rc = getattr(hf_cfg, "fasop_recompute", "none")
        first = "tok_embeddings" in fqns
        self.tok_embeddings = nn.Embedding(V, h) if first else None
        self.pos_embeddings = nn.Embedding(hf_cfg.fasop_positions, h) if first else None
        ids = [int(f.split(".")[1]) for f in fqns if f.startswith("layers.")]
        self.layers = nn.ModuleDict({str(i): GPT2Block(h, hf_cfg.num_attention_heads, hf_cfg.intermediate_size,
                                                       selective=rc == "selective") for i in ids})
        self.norm = nn.LayerNorm(h, eps=1e-5) if "norm" in fqns else None
        self.output = nn.Linear(h, V, bias=False) if "output" in fqns else None
        if hf_cfg.tie_word_embeddings and self.output is not None and self.tok_embeddings is not None:
            self.output.weight = self.tok_embeddings.weight
        self.recompute = rc

    def forward(self, x):
        if self.tok_embeddings is not None:
            x = self.tok_embeddings(x) + self.pos_embeddings(torch.arange(x.shape[1], device=x.device))
        for layer in self.layers.values():
            x = run_block(layer, self.recompute, x)
        if self.norm is not None:
            x = self.norm(x)
        if self.output is not None:
            x = self.output(x)
        return x


def stage_fqns(num_layers, pp, layers_per_stage=None, module_fqns=None):
    if module_fqns is not None:
        st = json.loads(module_fqns) if isinstance(module_fqns, str) else module_fqns
        assert len(st) == pp, f"module_fqns has {len(st)} stages, pp={pp}"
        allf = [f for s in st for f in s]
        need = ["tok_embeddings", "norm", "output"] + [f"layers.{i}" for i in range(num_layers)]
        assert sorted(allf) == sorted(need), f"module_fqns must cover each module once: {allf}"
        return st
    if layers_per_stage is None:
        assert num_layers % pp == 0, "layers not divisible by pp; pass --layers-per-stage"
        layers_per_stage = [num_layers // pp] * pp
    assert len(layers_per_stage) == pp and sum(layers_per_stage) == num_layers, \
        f"layers_per_stage {layers_per_stage} must have pp={pp} entries summing to {num_layers}"
    st, i = [], 0
    for s, n in enumerate(layers_per_stage):
        f = [f"layers.{j}" for j in range(i, i + n)]
        i += n
        if s == 0:
            f = ["tok_embeddings"] + f
        if s == pp - 1:
            f = f + ["norm", "output"]
        st.append(f)
    return st


# ----------------------------------------------------------------------------------------
# Hand-written Megatron-style tensor parallelism (plain tensors, explicit NCCL all-reduces).
# Used with --tp-impl manual, as a low-CPU-overhead alternative to DTensor.
class _CopyToTP(torch.autograd.Function):
    """f: identity forward, all-reduce of the gradient backward."""
    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return x

    @staticmethod
    def backward(ctx, g):
        g = g.contiguous().clone()
        dist.all_reduce(g, group=ctx.group)
        return g, None


class _ReduceFromTP(torch.autograd.Function):
    """g: all-reduce forward, identity backward."""
    @staticmethod
    def forward(ctx, x, group):
        x = x.contiguous()
        dist.all_reduce(x, group=group)
        return x

    @staticmethod
    def backward(ctx, g):
        return g, None


def _gather_seq(x, group):
    """All-gather along the sequence (dim 1) over group, in rank order."""
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, x.contiguous(), group=group)
    return torch.cat(parts, dim=1)


def _reduce_scatter_seq(x, group):
    """Sum over group, this rank's slice of the sequence (dim 1). NCCL: reduce_scatter_tensor; gloo
    (the CPU checks): all-reduce, then the slice (same values, more traffic)."""
    n, r = dist.get_world_size(group), dist.get_rank(group)
    if dist.get_backend(group) == "nccl":
        inp = x.transpose(0, 1).contiguous()
        out = torch.empty((inp.shape[0] // n, *inp.shape[1:]), dtype=x.dtype, device=x.device)
        dist.reduce_scatter_tensor(out, inp, group=group)
        return out.transpose(0, 1).contiguous()
    y = x.contiguous().clone()
    dist.all_reduce(y, group=group)
    return y.chunk(n, dim=1)[r].contiguous()


class _GatherSeq(torch.autograd.Function):
    """Sequence parallelism's entry to a column-parallel block: all-gather forward, reduce-scatter backward."""
    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return _gather_seq(x, group)

    @staticmethod
    def backward(ctx, g):
        return _reduce_scatter_seq(g, ctx.group), None


class _ScatterSeq(torch.autograd.Function):
    """Sequence parallelism's exit from a row-parallel block: reduce-scatter forward, all-gather backward."""
    @staticmethod
    def forward(ctx, x, group):
        ctx.group = group
        return _reduce_scatter_seq(x, group)

    @staticmethod
    def backward(ctx, g):
        return _gather_seq(g, ctx.group), None


def _tp_in(x, group, sp):
    return _GatherSeq.apply(x, group) if sp else _CopyToTP.apply(x, group)


def _tp_out(x, group, sp):
    return _ScatterSeq.apply(x, group) if sp else _ReduceFromTP.apply(x, group)


class _CopyIn(nn.Module):
    """Wraps a module so that its (replicated) input passes through f (grad all-reduce once); with
    sequence parallelism its sequence-sharded input is all-gathered instead."""
    def __init__(self, inner, group, sp=False):
        super().__init__()
        self.inner = inner
        self.group = group
        self.sp = sp

    def forward(self, hidden_states=None, *args, **kwargs):
        return self.inner(_tp_in(hidden_states, self.group, self.sp), *args, **kwargs)


class _RowLinear(nn.Module):
    def __init__(self, weight, group, sp=False):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.group = group
        self.sp = sp

    def forward(self, x):
        return _tp_out(F.linear(x, self.weight), self.group, self.sp)


class _VocabParallelEmbedding(nn.Module):
    def __init__(self, weight, start, group, sp=False):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.start, self.end = start, start + weight.shape[0]
        self.group = group
        self.sp = sp

    def forward(self, ids):
        mask = (ids < self.start) | (ids >= self.end)
        local = (ids - self.start).masked_fill(mask, 0)
        out = F.embedding(local, self.weight)
        out = out.masked_fill(mask.unsqueeze(-1), 0.0)
        return _tp_out(out, self.group, self.sp)


class _VocabParallelCE(torch.autograd.Function):
    """Megatron vocab-parallel cross-entropy on fp32 logits shards [N, V/tp]; returns per-token loss.
    group=None: the local work of one rank only, without the three all-reduces (the profiler's view)."""
    @staticmethod
    def forward(ctx, logits, target, start, group):
        def all_reduce(x, **kw):
            if group is not None:
                dist.all_reduce(x, group=group, **kw)
        lmax = logits.max(dim=-1)[0]
        all_reduce(lmax, op=dist.ReduceOp.MAX)
        logits = logits - lmax.unsqueeze(-1)
        V = logits.shape[-1]
        mask = (target < start) | (target >= start + V)
        local_t = (target - start).masked_fill(mask, 0)
        pred = logits.gather(-1, local_t.unsqueeze(-1)).squeeze(-1).masked_fill(mask, 0.0)
        all_reduce(pred)
        exp = logits.exp_()
        sum_exp = exp.sum(dim=-1)
        all_reduce(sum_exp)
        loss = torch.log(sum_exp) - pred
        exp.div_(sum_exp.unsqueeze(-1))
        ctx.save_for_backward(exp, local_t, mask)
        return loss

    @staticmethod
    def backward(ctx, g):
        softmax, local_t, mask = ctx.saved_tensors
        grad = softmax
        upd = 1.0 - mask.to(grad.dtype)
        grad.scatter_add_(-1, local_t.unsqueeze(-1), -upd.unsqueeze(-1))
        grad.mul_(g.unsqueeze(-1))
        return grad, None, None, None


def manual_tp(model, tp, rank, group, sp=False):
    """Shard a Transformer (full weights, identical on all ranks) Megatron-style in place. sp: sequence
    parallelism (Korthikanti et al. 2022): between the TP blocks the activations are split along the
    sequence; the norms' weights, which then see a share of the tokens each, are listed in
    model.sp_norm_params for their gradients to be summed over the group before the optimizer step."""
    def chunk(w, dim):
        return w.detach().chunk(tp, dim=dim)[rank].contiguous().clone()
    with torch.no_grad():
        if model.tok_embeddings is not None:
            w = model.tok_embeddings.weight
            V = w.shape[0]
            model.tok_embeddings = _VocabParallelEmbedding(chunk(w, 0), rank * (V // tp), group, sp)
        norms = []
        for layer in model.layers.values():
            at, mlp = layer.self_attn, layer.mlp
            for nm in ("q_proj", "k_proj", "v_proj"):
                lin = getattr(at, nm)
                lin.weight = nn.Parameter(chunk(lin.weight, 0))
            at.o_proj = _RowLinear(chunk(at.o_proj.weight, 1), group, sp)
            for nm in ("gate_proj", "up_proj"):
                lin = getattr(mlp, nm)
                lin.weight = nn.Parameter(chunk(lin.weight, 0))
            mlp.down_proj = _RowLinear(chunk(mlp.down_proj.weight, 1), group, sp)
            layer.self_attn = _CopyIn(at, group, sp)
            layer.mlp = _CopyIn(mlp, group, sp)
            norms += [layer.input_layernorm.weight, layer.post_attention_layernorm.weight]
        if model.output is not None:
            w = model.output.weight
            lin = nn.Linear(w.shape[1], w.shape[0] // tp, bias=False, device=w.device, dtype=w.dtype)
            lin.weight = nn.Parameter(chunk(w, 0))
            model.output = nn.Sequential(_CopyInFn(group, sp), lin)
        if model.norm is not None:
            norms.append(model.norm.weight)
    model.sp_norm_params = norms if sp else []
    return model


class _CopyInFn(nn.Module):
    def __init__(self, group, sp=False):
        super().__init__()
        self.group = group
        self.sp = sp

    def forward(self, x):
        return _tp_in(x, self.group, self.sp)


def make_manual_tp_loss(V_local, start, group):
    def fn(logits, labels):
        lg = logits.flatten(0, 1).float()
        return _VocabParallelCE.apply(lg, labels.flatten(0, 1), start, group).mean()
    return fn


def loss_fn(logits, labels):
    # HF-style: upcast logits to fp32, mean cross-entropy over tokens
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(0, 1))


def new_model(hf_cfg, fqns, dev):
    """The stage's modules on dev, bf16 (or hf_cfg.fasop_dtype), seeded, in train mode."""
    torch.manual_seed(0)
    old = torch.get_default_dtype()
    torch.set_default_dtype(getattr(hf_cfg, "fasop_dtype", torch.bfloat16))
    try:
        with torch.device(dev):
            cls = GPT2Transformer if getattr(hf_cfg, "fasop_arch", "llama") == "gpt2" else Transformer
            model = cls(hf_cfg, fqns)
    finally:
        torch.set_default_dtype(old)
    if getattr(hf_cfg, "fasop_init_by_name", False):
        init_by_name(model)
    model.train()
    return model


def init_by_name(model):
    """Every matrix drawn from N(0, 0.02) by a CPU generator seeded with its parameter's name, biases 0,
    norm weights as built (1): a stage, a shard or a replica of any plan starts from the weights that
    one process holding the whole model starts from."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                g = torch.Generator().manual_seed(zlib.crc32(canonical_name(name).encode()))
                p.copy_((torch.randn(p.shape, generator=g) * 0.02).to(p.dtype))
            elif name.endswith(".bias"):
                p.zero_()


def canonical_name(name):
    """A parameter's name in the plain one-process model, whatever wraps or shards it here."""
    while name.startswith("module."):  # DistributedDataParallel
        name = name[len("module."):]
    name = name.replace(".inner.", ".")  # the Megatron-style TP's input wrappers (_CopyIn)
    return "output." + name[len("output.1."):] if name.startswith("output.1.") else name


def harness_model(hf_cfg, fqns, dev, tp=1, rank=0, group=None, sp=False):
    """(model, loss function) of one rank: plain for tp = 1, hand-written Megatron-style TP otherwise
    (sp: with sequence parallelism)."""
    model = new_model(hf_cfg, fqns, dev)
    if tp == 1:
        return model, loss_fn
    V = hf_cfg.vocab_size
    manual_tp(model, tp, rank, group, sp)
    return model, make_manual_tp_loss(V // tp, rank * (V // tp), group)


def dtensor_tp(model, dev, tp, use_loss_parallel=True, mesh=None):
    """PyTorch's own tensor parallelism on the model, in place (DTensor parallelize_module: Colwise
    q/k/v/gate/up, Rowwise o/down, vocab-parallel embedding; with use_loss_parallel the logits stay
    vocab-sharded and the loss must run under the returned context, loss_parallel, forward and
    backward). mesh: the tensor-parallel dimension of the launch's device mesh (default: all ranks).
    Returns that context (a no-op one without loss_parallel)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel, RowwiseParallel, loss_parallel, parallelize_module)
    mesh = mesh if mesh is not None else init_device_mesh(dev.type, (tp,))
    top = {"tok_embeddings": RowwiseParallel(input_layouts=Replicate())}
    if use_loss_parallel:
        top["output"] = ColwiseParallel(input_layouts=Replicate(), output_layouts=Shard(-1),
                                        use_local_output=False)
    else:
        top["output"] = ColwiseParallel(input_layouts=Replicate(), output_layouts=Replicate())
    parallelize_module(model, mesh, top)
    for layer in model.layers.values():
        parallelize_module(layer, mesh, {
            "self_attn.q_proj": ColwiseParallel(), "self_attn.k_proj": ColwiseParallel(),
            "self_attn.v_proj": ColwiseParallel(), "self_attn.o_proj": RowwiseParallel(),
            "mlp.gate_proj": ColwiseParallel(), "mlp.up_proj": ColwiseParallel(),
            "mlp.down_proj": RowwiseParallel()})
        # heads per rank are inferred by HF attention from the local q/k/v widths (view(..., -1, head_dim))
    return loss_parallel if use_loss_parallel else contextlib.nullcontext


class Layout:
    """Where a rank sits in a tp × cp × dp × pp launch, Megatron's order: tp the fastest-varying (ranks of a
    tensor-parallel group are neighbours), then cp, then dp, then pp
    (rank = ((pp_rank·dp + dp_rank)·cp + cp_rank)·tp + tp_rank). Each dimension's process group holds the
    ranks that differ only in that coordinate; a tp, dp or pp dimension that spans the whole launch uses
    the default group (as one-dimension launches always did). With cp > 1 the cp groups (ring attention)
    and the dp × cp groups (gradient averaging) are always groups of their own, so that the ring's
    send/recv never queue behind the gradient all-reduce on one communicator."""

    def __init__(self, tp, pp, dp, rank, cp=1):
        self.tp, self.pp, self.dp, self.cp, self.rank = tp, pp, dp, cp, rank
        c = self.coords_of(rank)
        self.tp_rank, self.cp_rank, self.dp_rank, self.pp_rank = c["tp"], c["cp"], c["dp"], c["pp"]
        self._groups = {}
        world = tp * cp * pp * dp
        # every rank creates every group, in the same order (torch.distributed.new_group)
        for key, dims in (("tp", ("tp",)), ("cp", ("cp",)), ("dp", ("dp",)), ("pp", ("pp",)), ("dp_cp", ("dp", "cp"))):
            size = math.prod(self.size(d) for d in dims)
            own = cp > 1 and key in ("cp", "dp_cp")
            if size == 1 or (size == world and not own) or (key == "dp_cp" and cp == 1):
                continue
            for members in self.groups_of(dims):
                grp = dist.new_group(members)
                if rank in members:
                    self._groups[key] = grp

    def size(self, dim):
        return dict(tp=self.tp, cp=self.cp, dp=self.dp, pp=self.pp)[dim]

    def coords_of(self, r):
        tp, cp, dp = self.tp, self.cp, self.dp
        return dict(tp=r % tp, cp=(r // tp) % cp, dp=(r // (tp * cp)) % dp, pp=r // (tp * cp * dp))

    def groups_of(self, dims):
        """The member lists of the groups spanning dims (a name or a tuple): ranks equal in the other coordinates."""
        dims = (dims,) if isinstance(dims, str) else tuple(dims)
        world = self.tp * self.cp * self.pp * self.dp
        others = [d for d in ("tp", "cp", "dp", "pp") if d not in dims]
        keys = {}
        for r in range(world):
            c = self.coords_of(r)
            keys.setdefault(tuple(c[d] for d in others), []).append(r)
        return [keys[k] for k in sorted(keys)]

    def group(self, dim):
        """The process group of this rank's dimension dim (tp, cp, dp, pp, dp_cp); None when it has size 1."""
        size = self.dp * self.cp if dim == "dp_cp" else self.size(dim)
        if size == 1:
            return None
        if dim == "dp_cp" and self.cp == 1:
            return self.group("dp")
        return self._groups.get(dim, dist.group.WORLD)

    @property
    def grad_size(self):
        """Ranks over which the gradients are averaged: the data-parallel and context-parallel ones."""
        return self.dp * self.cp

    def tp_mesh(self, device_type):
        """The tensor-parallel dimension of a (pp, dp, tp) device mesh over the launch."""
        from torch.distributed.device_mesh import init_device_mesh
        return init_device_mesh(device_type, (self.pp, self.dp, self.tp), mesh_dim_names=("pp", "dp", "tp"))["tp"]


class MasterFP32AdamW:
    """Mixed precision with fp32 master weights (Megatron's default recipe): fp32 copies of the bf16
    weights with fp32 gradient buffers and fused AdamW (fp32 states) on them; each step copies the
    bf16 gradients into the fp32 buffers, steps, and copies the masters back into the bf16 weights."""

    def __init__(self, params, **kw):
        kw.pop("capturable", None)
        self.params = params
        self.masters = [p.detach().float().requires_grad_(True) for p in params]
        self.grads = [torch.zeros_like(m) for m in self.masters]
        for m, g in zip(self.masters, self.grads):
            m.grad = g
        self.opt = torch.optim.AdamW(self.masters, fused=True, **kw)

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        torch._foreach_copy_(self.grads, [p.grad for p in self.params])
        self.opt.step()
        torch._foreach_copy_(self.params, self.masters)


def adamw_per_kind(model, **kw):
    """AdamW(foreach) optimizers over the model's trainable parameters, one for plain tensors and one
    for DTensors (a foreach kernel never mixes the two)."""
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        from torch.distributed.tensor import DTensor
        ids_d = {id(p) for p in params if isinstance(p, DTensor)}
    except Exception:  # noqa
        ids_d = set()
    plain = [p for p in params if id(p) not in ids_d]
    dparams = [p for p in params if id(p) in ids_d]
    return [torch.optim.AdamW(grp, foreach=True, **kw) for grp in (plain, dparams) if grp]


def tp_model(hf_cfg, fqns, dev, tp=1, rank=0, group=None, tp_impl="manual", use_loss_parallel=True, mesh=None, sp=False):
    """(model, loss function, loss context) of one rank: harness_model for tp = 1 or the Megatron-style
    TP, else PyTorch DTensor TP (dtensor_tp), whose loss and its backward must run under the context."""
    if tp == 1 or tp_impl == "manual":
        return (*harness_model(hf_cfg, fqns, dev, tp, rank, group, sp), contextlib.nullcontext)
    model = new_model(hf_cfg, fqns, dev)
    return model, loss_fn, dtensor_tp(model, dev, tp, use_loss_parallel, mesh=mesh)


def init_cuda_rank(world):
    """NCCL process group when world > 1, and this rank's CUDA device: (rank, local rank, device)."""
    if world > 1:
        dist.init_process_group("nccl")
    rank = dist.get_rank() if world > 1 else 0
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return rank, local, torch.device("cuda", local)


def cpu_model():
    """The host CPU's model name (/proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown"


def merge_json_entry(path, header, section, key, entry):
    """Set doc[section][key] = entry in the JSON file at path (created if absent; its other entries
    kept), update its top-level fields from header, and write it atomically."""
    doc = {}
    if os.path.exists(path):
        with open(path) as fh:
            doc = json.load(fh)
    doc.update(header)
    doc.setdefault(section, {})[key] = entry
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w") as fh:
        json.dump(doc, fh, indent=1)
    os.replace(path + ".tmp", path)


def cpu_ticks():
    """(busy, steal, total) jiffies of all the host's CPUs (/proc/stat), or None where unreadable."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    steal = f[7] if len(f) > 7 else 0
    total = sum(f[:8])
    return total - idle - steal, steal, total


def cpu_use_between(t0, t1):
    """Busy and steal fractions of all the host's CPUs between two cpu_ticks() readings."""
    if not t0 or not t1:
        return None
    d = [b - a for a, b in zip(t0, t1)]
    return dict(busy_fraction=d[0] / d[2], steal_fraction=d[1] / d[2]) if d[2] else None


_LAYER_PROBES = {}


def layer_probe_us(dev, reps=3):
    """(forward, backward) µs per layer for the CPU to issue a narrow LLaMA layer (the harness's own
    modules: HF LlamaDecoderLayer, rotary; hidden 256, 8 heads, 2 KV heads, FFN 1024; 2 layers, bf16)
    on 16 tokens, so the GPU keeps up and the wall time is the CPU's: a speed index with the training
    step's own mix of Python module calls, dispatcher, autograd engine and launches (median of reps;
    built once per device, outside the caller's random state)."""
    key = str(dev)
    if key not in _LAYER_PROBES:
        cfg = make_hf_config(dict(hidden_size=256, intermediate_size=1024, num_attention_heads=8,
                                  num_key_value_heads=2, vocab_size=256, seq_length=16), 2)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(0)
            m = Transformer(cfg, ["layers.0", "layers.1"]).to(device=dev, dtype=torch.bfloat16)
            x = torch.randn(1, 16, 256, device=dev, dtype=torch.bfloat16)
        _LAYER_PROBES[key] = (m, x)
    m, x = _LAYER_PROBES[key]

    def once():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        out = m(x)
        t1 = time.perf_counter()
        out.float().sum().backward()
        t2 = time.perf_counter()
        for p in m.parameters():
            p.grad = None
        return (t1 - t0) * 1e6 / 2, (t2 - t1) * 1e6 / 2

    once()  # warm (kernels, caches)
    f, b = zip(*[once() for _ in range(reps)])
    return float(np.median(f)), float(np.median(b))


def host_speed_probe(dev, n=200, batches=3, layer=False):
    """How fast this host issues work right now, in microseconds per call (median of `batches`
    batches of n calls; the GPU queue drained first): 'python_us' 100 iterations of a bare Python
    loop, 'cpu_op_us' one PyTorch op on a small CPU tensor (interpreter + dispatcher), and
    'cuda_launch_us' the same op on a CUDA tensor (dispatcher + kernel launch; the kernels are tiny,
    so the GPU keeps up and the wall time is the CPU's). A few milliseconds in all."""
    def op_us(t):
        # µs per in-place add on tensor t, n back to back
        t0 = time.perf_counter()
        for _ in range(n):
            t.add_(1.0)
        return (time.perf_counter() - t0) / n * 1e6

    def median_of(fn, *a):
        return float(np.median([fn(*a) for _ in range(batches)]))

    out = dict(python_us=median_of(python_loop_us, n), cpu_op_us=median_of(op_us, torch.zeros(8)))
    if dev is not None and dev.type == "cuda":
        y = torch.zeros(8, device=dev)
        torch.cuda.synchronize(dev)
        out["cuda_launch_us"] = median_of(op_us, y)
        torch.cuda.synchronize(dev)
        if layer:
            out["layer_fwd_us"], out["layer_bwd_us"] = layer_probe_us(dev)
    return out


def python_loop_us(n=50):
    """Microseconds per 100-iteration bare Python loop (a CPU speed index), over n loops."""
    t0 = time.perf_counter()
    for _ in range(n):
        s = 0
        for i in range(100):
            s += i
    return (time.perf_counter() - t0) / n * 1e6


def vcpu_speed_us(cpus, rounds=2, batches=3):
    """python_loop_us() on each of `cpus`, this thread pinned to one at a time (the best of
    rounds x batches; its old affinity restored). Virtual CPUs of one VM differ: docs/accuracy.md item 13."""
    old = os.sched_getaffinity(0)
    out = {}
    try:
        for _ in range(rounds):
            for c in cpus:
                os.sched_setaffinity(0, {c})
                best = min(python_loop_us() for _ in range(batches))
                out[c] = min(out.get(c, best), best)
    finally:
        os.sched_setaffinity(0, old)
    return out


def pin_fastest(k, local, nlocal):
    """Pin this process (threads started later inherit it) to the k fastest of its share of the
    host's CPUs: local rank r of nlocal gets every nlocal-th CPU from the r-th, so ranks never share
    one. Returns what was chosen and measured."""
    cpus = sorted(os.sched_getaffinity(0))[local::nlocal]
    speeds = vcpu_speed_us(cpus)
    chosen = sorted(cpus, key=lambda c: speeds[c])[:k]
    os.sched_setaffinity(0, set(chosen))
    return dict(cpus=chosen, python_us_of_cpu={str(c): round(v, 3) for c, v in speeds.items()})


def speed_series(samples):
    """host_speed_probe() results as one list of per-step values per key."""
    return {k: [float(s[k]) for s in samples] for k in samples[0]} if samples else None


def series_medians(series):
    """Per-key medians of a speed_series()."""
    return {k: float(np.median(v)) for k, v in series.items()} if series else None


def median_speed(samples):
    """Per-key medians of host_speed_probe() results."""
    return series_medians(speed_series(samples))


def sleep_cycles_per_ms():
    """Cycles of torch.cuda._sleep per millisecond on the current GPU."""
    torch.cuda.synchronize()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    e0.record()
    torch.cuda._sleep(20_000_000)
    e1.record()
    torch.cuda.synchronize()
    return 20_000_000 / e0.elapsed_time(e1)


def cmd_out(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e:  # noqa
        return f"failed: {e}"


def check_technique_args(ap, args):
    """One line and exit 2 (argparse) for a technique flag this plan cannot run or would ignore."""
    if args.dtype == "fp32" and args.master_fp32:
        ap.error("--master-fp32 keeps fp32 masters of bf16 weights: use it with --dtype bf16")
    if args.dp_sharding != "none":
        if args.dp < 2:
            ap.error(f"--dp-sharding {args.dp_sharding} shards over data-parallel ranks: it needs --dp 2 or more")
        if args.tp > 1 or args.pp > 1 or args.cp > 1:
            ap.error(f"--dp-sharding {args.dp_sharding} runs with --tp 1 --pp 1 --cp 1 in this harness")
        if args.master_fp32 or args.cuda_graph:
            ap.error(f"--dp-sharding {args.dp_sharding} runs eagerly with the bf16/fp32 AdamW recipe "
                     "(without --master-fp32 and --cuda-graph)")
    if args.shard_group:
        if args.dp_sharding not in ("gradients", "parameters"):
            ap.error("--shard-group is FSDP's hybrid sharding: it needs --dp-sharding gradients or parameters")
        if not (1 < args.shard_group < args.dp and args.dp % args.shard_group == 0):
            ap.error(f"--shard-group {args.shard_group} must divide --dp {args.dp} and lie strictly between 1 and it")
    if args.sequence_parallel:
        if args.tp < 2 or args.tp_impl != "manual":
            ap.error("--sequence-parallel runs with the Megatron-style TP: give --tp 2 or more and --tp-impl manual")
        if args.arch != "llama" or args.cuda_graph:
            ap.error("--sequence-parallel runs with --arch llama, eagerly (without --cuda-graph)")
    if args.virtual_stages < 1:
        ap.error("--virtual-stages must be 1 or more")
    if args.virtual_stages > 1:
        if args.pp < 2:
            ap.error("--virtual-stages interleaves pipeline stages: it needs --pp 2 or more")
        if args.module_fqns is not None or args.cuda_graph or args.memory_trace:
            ap.error("--virtual-stages runs with --layers-per-stage (one entry per model chunk) or an even split, "
                     "eagerly, without --memory-trace")
    if args.cp < 1:
        ap.error("--cp must be 1 or more")
    if args.cp > 1:
        if args.tp > 1 or args.pp > 1 or args.arch != "llama":
            ap.error("--cp runs with --arch llama --tp 1 --pp 1 in this harness")
        if args.recompute != "none" or args.cuda_graph or args.master_fp32:
            ap.error("--cp runs eagerly with --recompute none and the plain AdamW recipe")
    if args.dump is not None and (len(args.mbs) != 1 or len(args.gbs) != 1):
        ap.error("--dump writes one run: give one --mbs and one --gbs")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tp", type=int, default=1)
    ap.add_argument("--pp", type=int, default=1)
    ap.add_argument("--dp", type=int, default=1)
    ap.add_argument("--mbs", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--gbs", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--layers-per-stage", default=None, help="e.g. 2,2")
    ap.add_argument("--module-fqns", default=None, help="torchtitan-style JSON list of lists")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--out", default="validation/results")
    ap.add_argument("--prefix", default=None, help="file prefix (default: gpu short name, lower case)")
    ap.add_argument("--tiny", action="store_true", help="tiny model (testing)")
    ap.add_argument("--model", default="llama8b", choices=["llama8b", "llama1b"],
                    help="dimensions of the model (Llama-3-8B or Llama-3.2-1B, untied here), --layers of them")
    ap.add_argument("--arch", default="llama", choices=["llama", "gpt2"],
                    help="llama: RMSNorm, RoPE, GQA, SwiGLU (LLaMA/Mistral/Qwen2); gpt2: LayerNorm, GELU, "
                         "learned positions, biases (tp 1)")
    ap.add_argument("--hidden", dest="hidden_size", type=int, default=None, help="hidden size (default: --model's)")
    ap.add_argument("--ffn", dest="intermediate_size", type=int, default=None, help="FFN width")
    ap.add_argument("--heads", dest="num_attention_heads", type=int, default=None, help="attention heads")
    ap.add_argument("--kv-heads", dest="num_key_value_heads", type=int, default=None,
                    help="KV heads (GQA; gpt2: = heads)")
    ap.add_argument("--vocab", dest="vocab_size", type=int, default=None, help="vocabulary size")
    ap.add_argument("--seq", dest="seq_length", type=int, default=None, help="sequence length (default 1024)")
    ap.add_argument("--tied", action="store_true", help="tie lm_head to the token embedding (tp 1)")
    ap.add_argument("--model-name", default=None, help="name recorded for a model of custom dimensions")
    ap.add_argument("--recompute", default="none", choices=["none", "selective", "op", "full"],
                    help="activation recompute: selective = the attention core, op = torchtitan's per-operator "
                         "checkpointing (every other matmul's and the attention's outputs kept), full = every layer")
    ap.add_argument("--master-fp32", action="store_true",
                    help="fp32 master weights, fp32 gradient buffers and fused AdamW with fp32 states")
    ap.add_argument("--cpu", action="store_true", help="gloo on CPU (testing)")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"],
                    help="weights and compute: bf16 (the measured runs) or fp32 (the CPU correctness checks)")
    ap.add_argument("--init-by-name", action="store_true",
                    help="draw each weight from a generator seeded by its name, so that any plan starts from "
                         "the full weights one process starts from")
    ap.add_argument("--dump", default=None,
                    help="file: rank 0 writes the loss of every step and every weight before and after the "
                         "steps, gathered into full tensors with their one-process names (torch.save), to "
                         "compare plans (validation/technique_check.py); one --mbs and one --gbs")
    ap.add_argument("--dp-sharding", default="none", choices=["none", "optimizer", "gradients", "parameters"],
                    help="optimizer: DDP + ZeroRedundancyOptimizer (ZeRO-1); gradients / parameters: FSDP2 "
                         "fully_shard with reshard_after_forward False / True (ZeRO-2 / ZeRO-3); tp, pp, cp 1")
    ap.add_argument("--shard-group", type=int, default=0,
                    help="with --dp-sharding gradients|parameters: shard over groups of N dp ranks, replicate "
                         "across the groups (HSDP; 1 < N < dp, N divides dp)")
    ap.add_argument("--sequence-parallel", action="store_true",
                    help="Megatron-style TP (--tp-impl manual) with sequence parallelism")
    ap.add_argument("--virtual-stages", type=int, default=1,
                    help="model chunks per pipeline rank (pp > 1): ScheduleInterleaved1F1B")
    ap.add_argument("--cp", type=int, default=1,
                    help="context parallelism: ring attention over N ranks with load-balanced causal chunks "
                         "(llama, tp 1, pp 1)")
    ap.add_argument("--tp-impl", default="dtensor", choices=["dtensor", "manual"],
                    help="dtensor: parallelize_module; manual: hand-written Megatron-style TP")
    ap.add_argument("--no-loss-parallel", action="store_true",
                    help="tp: all-gather logits instead of vocab-parallel loss")
    ap.add_argument("--skip-existing", action="store_true")
    ap.add_argument("--name-suffix", default="", help="appended to result file names")
    ap.add_argument("--deadline", type=float, default=0.0, help="unix time; no new combo after it")
    ap.add_argument("--host-processes", type=int, default=0,
                    help="training processes busy on this host at once (default: the ranks of this launch); "
                         "recorded for the estimator's host-issue figures")
    ap.add_argument("--pin-fastest", type=int, default=0,
                    help="pin each rank to the K fastest CPUs of its share of the host (measured at start)")
    ap.add_argument("--pin-cpus", type=int, default=0,
                    help="pin each rank to this many CPU cores of its own (0: no pinning)")
    ap.add_argument("--cuda-graph", action="store_true",
                    help="capture one whole training step (all micro-batches, DP/TP/PP communication, "
                         "optimizer step) in a CUDA graph after eager warm-up, and time its replays: the "
                         "same kernels without the CPU's per-kernel issue time")
    ap.add_argument("--graph-capture-mode", default="thread_local", choices=["global", "thread_local", "relaxed"],
                    help="cudaStreamCaptureMode of the capture (--cuda-graph)")
    ap.add_argument("--layer-probe", action="store_true",
                    help="the host speed probe between steps also times a narrow LLaMA layer's forward and "
                         "backward issue (layer_fwd_us, layer_bwd_us: the step's own op mix)")
    ap.add_argument("--kernel-trace", default=None,
                    help="folder: record the GPU kernels of the last step with torch.profiler (CUDA activity) "
                         "and write a chrome trace per rank (trace_*.json), to see what overlaps what")
    ap.add_argument("--memory-trace-step", type=int, default=-1,
                    help="which step (0 = the first warm-up step) --memory-trace records; -1: the last")
    ap.add_argument("--memory-trace", default=None,
                    help="folder: record the allocator's history over the last step and write, per rank, "
                         "what was alive at the peak (memtrace_*.json)")
    args = ap.parse_args()
    if (args.tied or args.arch == "gpt2") and args.tp > 1:
        ap.error("--tied and --arch gpt2 run with --tp 1")
    if args.master_fp32 and args.cuda_graph:
        ap.error("--master-fp32 runs eagerly (without --cuda-graph)")
    if args.recompute != "none" and args.cuda_graph:
        ap.error("--recompute runs eagerly (without --cuda-graph)")
    check_technique_args(ap, args)

    world_env = int(os.environ.get("WORLD_SIZE", "1"))
    world = args.tp * args.cp * args.pp * args.dp
    if world != world_env:
        ap.error(f"tp*cp*pp*dp = {world} ranks but WORLD_SIZE = {world_env}: launch with torchrun --nproc_per_node {world}")
    assert not (args.tp > 1 and args.pp > 1 and args.tp_impl == "dtensor"), \
        "tp with pp: --tp-impl manual (DTensor's loss_parallel would have to wrap the pipeline schedule's loss)"
    assert not (args.tp > 1 and args.dp > 1 and args.tp_impl == "dtensor"), \
        "tp with dp: --tp-impl manual (DDP cannot bucket DTensor parameters; PyTorch pairs DTensor TP with FSDP)"
    is_cuda = not args.cpu and torch.cuda.is_available()
    if world > 1:
        dist.init_process_group("nccl" if is_cuda else "gloo",
                                timeout=datetime.timedelta(seconds=300))
    rank = dist.get_rank() if world > 1 else 0
    lay = Layout(args.tp, args.pp, args.dp, rank, cp=args.cp)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    pinning = None
    if args.pin_cpus:
        os.sched_setaffinity(0, set(range(args.pin_cpus * local, args.pin_cpus * (local + 1))))
    if args.pin_fastest:
        pinning = pin_fastest(args.pin_fastest, local, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        log(f"pinned to CPUs {pinning['cpus']}")
    if is_cuda:
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    mdef = dict(TINY if args.tiny else LLAMA1B if args.model == "llama1b" else LLAMA8B)
    dims = ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "vocab_size", "seq_length")
    custom = {k: getattr(args, k) for k in dims if getattr(args, k) is not None}
    mdef.update(custom)
    if args.arch == "gpt2" and args.num_key_value_heads is None:
        mdef["num_key_value_heads"] = mdef["num_attention_heads"]
    if mdef["hidden_size"] % mdef["num_attention_heads"] or mdef["num_attention_heads"] % mdef["num_key_value_heads"]:
        ap.error("--heads must divide --hidden and --kv-heads must divide --heads")
    if custom or args.arch != "llama" or args.tied:
        mdef["name"] = args.model_name or "custom"
    mdef.update(architecture=args.arch, tie_word_embeddings=args.tied, recompute=args.recompute,
                dtype=args.dtype, init_by_name=args.init_by_name, cp=args.cp)
    S = mdef["seq_length"]
    V = mdef["vocab_size"]
    if args.cp > 1 and S % (2 * args.cp):
        ap.error(f"--cp {args.cp} cuts the sequence into {2 * args.cp} chunks: --seq {S} is not a multiple of {2 * args.cp}")
    if args.sequence_parallel and S % args.tp:
        ap.error(f"--sequence-parallel splits the sequence over tp {args.tp}: --seq {S} is not a multiple of it")
    hf_cfg = make_hf_config(mdef, args.layers)
    if args.cp > 1:
        CP.update(group=lay.group("cp"), size=args.cp, rank=lay.cp_rank, chunk=S // (2 * args.cp))
    lps = [int(x) for x in args.layers_per_stage.split(",")] if args.layers_per_stage else None
    n_stages = args.pp * args.virtual_stages
    if args.virtual_stages > 1 and lps is None and args.module_fqns is None and args.layers % n_stages:
        ap.error(f"--virtual-stages {args.virtual_stages} × --pp {args.pp} = {n_stages} model chunks: --layers "
                 f"{args.layers} is not a multiple (or pass --layers-per-stage with {n_stages} entries)")
    fqns_all = stage_fqns(args.layers, n_stages, lps, args.module_fqns)
    layers_per_stage = [sum(1 for f in s if f.startswith("layers.")) for s in fqns_all]
    # the model chunks of this pipeline rank: stages pp_rank, pp_rank + pp, ... (Megatron's interleaving)
    my_stages = list(range(lay.pp_rank, n_stages, args.pp))
    my_fqns = [fqns_all[s] for s in my_stages]

    import transformers
    gpu_name = torch.cuda.get_device_name(dev) if is_cuda else "CPU"
    prefix = args.prefix or gpu_short_name(gpu_name).lower()
    try:
        nccl_ver = ".".join(str(x) for x in torch.cuda.nccl.version()) if is_cuda else "n/a"
    except Exception as e:  # noqa
        nccl_ver = f"unknown ({e})"
    machine = dict(gpu_name=gpu_name, gpu_count=torch.cuda.device_count() if is_cuda else 0,
                   driver=cmd_out(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]).split("\n")[0]
                   if is_cuda else "n/a", hostname=socket.gethostname(),
                   cpus=os.cpu_count(), host_processes=args.host_processes or world)
    if pinning is not None:
        pins = [pinning]
        if world > 1:
            pins = [None] * world
            dist.all_gather_object(pins, pinning)
        machine["cpu_pinning_per_rank"] = pins
    versions = dict(torch=torch.__version__, cuda=str(torch.version.cuda), nccl=nccl_ver,
                    transformers=transformers.__version__, python=sys.version.split()[0])
    os.makedirs(args.out, exist_ok=True)

    use_loss_parallel = args.tp > 1 and not args.no_loss_parallel and args.tp_impl == "dtensor"
    if not args.name_suffix:
        if args.tp > 1 and args.tp_impl == "manual":
            args.name_suffix += "_manualtp"
        if args.cuda_graph:
            args.name_suffix += "_graph"
        args.name_suffix += dict(none="", optimizer="_zero1", gradients="_zero2", parameters="_fsdp")[args.dp_sharding]
        if args.shard_group:
            args.name_suffix += f"_sg{args.shard_group}"
        if args.sequence_parallel:
            args.name_suffix += "_sp"
        if args.virtual_stages > 1:
            args.name_suffix += f"_v{args.virtual_stages}"
        if args.cp > 1:
            args.name_suffix += f"_cp{args.cp}"
    assert not (args.cuda_graph and (args.memory_trace or args.cpu)), \
        "--cuda-graph works on CUDA, without --memory-trace"
    recipe = dict(param_dtype=args.dtype, compute_dtype=args.dtype, grad_dtype=args.dtype,
                  optimizer=("fp32 master weights and fp32 gradient buffers, torch.optim.AdamW(fused=True) on "
                             "them (fp32 states), bf16 weights copied back after each step") if args.master_fp32 else
                            "torch.optim.AdamW(foreach=True" + (", capturable=True" if args.cuda_graph else "")
                            + f") on {args.dtype} params, no fp32 master copy"
                            + dict(none="", optimizer=", states sharded by ZeroRedundancyOptimizer over the dp ranks",
                                   gradients=", on the FSDP2 shards", parameters=", on the FSDP2 shards")[args.dp_sharding],
                  master_weights="fp32" if args.master_fp32 else None,
                  launch=("cuda-graph: one whole training step captured after eager warm-up "
                          f"(capture mode {args.graph_capture_mode}), timed replays") if args.cuda_graph else "eager",
                  optimizer_state_dtype="fp32" if args.master_fp32 else args.dtype, lr=args.lr, weight_decay=0.01,
                  grad_accum="sum over m micro-batches (loss/m), optimizer step once per global batch",
                  loss="cross_entropy, logits upcast to fp32, mean over tokens",
                  activation_checkpointing=False if args.recompute == "none" else args.recompute,
                  recompute=args.recompute,
                  recompute_detail=dict(none=None, selective="the attention core (SDPA) under a non-reentrant "
                                        "torch.utils.checkpoint", op="every decoder layer under a non-reentrant torch.utils.checkpoint "
                                        "with a selective policy: the outputs of the attention and of every other aten.mm "
                                        "kept (torchtitan's selective_ac_option 'op')", full="every decoder layer under a non-reentrant "
                                        "torch.utils.checkpoint")[args.recompute],
                  attention="ring attention over the cp ranks (load-balanced causal chunks, online softmax, "
                            "fp32 inside, torch.distributed isend/irecv)" if args.cp > 1 else
                            "sdpa (causal, enable_gqa when supported)",
                  dp_impl=(("DDP(gradient_as_bucket_view=True, default 25 MiB buckets), no_sync on all but last micro-batch"
                            + (", over the dp x cp ranks" if args.cp > 1 else "")
                            + (" + ZeroRedundancyOptimizer (ZeRO-1)" if args.dp_sharding == "optimizer" else ""))
                           if args.dp_sharding in ("none", "optimizer") else
                           "FSDP2 fully_shard per decoder layer and on the root, reshard_after_forward="
                           + str(args.dp_sharding == "parameters")
                           + (f", mesh (replicate {args.dp // args.shard_group}, shard {args.shard_group})" if args.shard_group else "")
                           + ", gradients reduce-scattered every micro-batch")
                  if args.dp * args.cp > 1 else None,
                  dp_sharding=args.dp_sharding,
                  sequence_parallel=bool(args.sequence_parallel),
                  cp=args.cp,
                  tp_impl=(("DTensor parallelize_module: Colwise q/k/v/gate/up, Rowwise o/down, "
                            "Rowwise(vocab-parallel) embedding, Colwise lm_head with "
                            + ("loss_parallel (vocab-sharded logits)" if use_loss_parallel else
                               "all-gathered logits")) if args.tp_impl == "dtensor" else
                           "manual Megatron-style: plain tensors, column-parallel q/k/v/gate/up/lm_head, "
                           "row-parallel o/down, vocab-parallel embedding and fp32 vocab-parallel "
                           "cross-entropy, explicit NCCL all-reduce (f/g autograd functions: 2 all-reduces "
                           "per layer forward, 2 per layer backward, + embedding fwd, lm_head-input bwd, "
                           "3 small ones in the loss)"
                           + ("; sequence parallel: all-gather of the sequence before and reduce-scatter after each "
                              "block in place of the all-reduces, norm weight gradients summed over tp"
                              if args.sequence_parallel else "")) if args.tp > 1 else None,
                  pp_impl=("torch.distributed.pipelining PipelineStage + Schedule1F1B (scale_grads=True)" if args.virtual_stages == 1
                           else f"torch.distributed.pipelining, {args.virtual_stages} PipelineStages per rank + "
                                "ScheduleInterleaved1F1B (scale_grads=True)")
                  if args.pp > 1 else None,
                  virtual_stages=args.virtual_stages,
                  zero_grad="set_to_none=True" + (" (inside the captured step)" if args.cuda_graph else ""),
                  weights="N(0, 0.02) seeded by each weight's name" if args.init_by_name else "random init",
                  data="synthetic uniform random tokens: the global batch drawn once (seed 1000), each dp rank its rows"
                       + (", each cp rank its two chunks of the sequence" if args.cp > 1 else ""))
    model_json = dict(name=mdef["name"], hidden_size=mdef["hidden_size"], num_layers=args.layers,
                      num_attention_heads=mdef["num_attention_heads"],
                      num_key_value_heads=mdef["num_key_value_heads"],
                      intermediate_size=mdef["intermediate_size"], vocab_size=V, seq_length=S,
                      tie_word_embeddings=bool(args.tied), architecture=args.arch,
                      normalization="LayerNorm" if args.arch == "gpt2" else "RMSNorm",
                      activation="gelu_tanh" if args.arch == "gpt2" else "swiglu",
                      position_embedding="learned" if args.arch == "gpt2" else "rope")

    combos = [(b, g) for g in args.gbs for b in args.mbs]

    def name_of(b, g):
        return f"{prefix}_tp{args.tp}_pp{args.pp}_dp{args.dp}_mbs{b}_gbs{g}{args.name_suffix}"

    # decide (on rank 0) which combos to run; consistent across ranks
    plan_list = []
    if rank == 0:
        for b, g in combos:
            nm = name_of(b, g)
            path = os.path.join(args.out, nm + ".json")
            marker = os.path.join(args.out, "." + nm + ".started")
            if g % (args.dp * b):
                plan_list.append((b, g, "invalid"))
            elif args.skip_existing and os.path.exists(path):
                plan_list.append((b, g, "skip"))
            elif args.skip_existing and os.path.exists(marker):
                plan_list.append((b, g, "crashed"))
            else:
                plan_list.append((b, g, "run"))
    if world > 1:
        obj = [plan_list]
        dist.broadcast_object_list(obj, src=0)
        plan_list = obj[0]

    def write_result(b, g, measured, extra=None):
        if rank != 0:
            return
        m = (g // (args.dp * b)) if g % (args.dp * b) == 0 else None
        res = dict(plan=dict(tp=args.tp, pp=args.pp, dp=args.dp, mbs=b, gbs=g, num_microbatches=m,
                             layers_per_stage=layers_per_stage, module_fqns=fqns_all,
                             **({} if args.cp == 1 else dict(cp=args.cp)),
                             **({} if args.virtual_stages == 1 else dict(virtual_stages=args.virtual_stages)),
                             **({} if args.dp_sharding == "none" else dict(dp_sharding=args.dp_sharding)),
                             **({} if not args.shard_group else dict(shard_group=args.shard_group)),
                             **({} if not args.sequence_parallel else dict(sequence_parallel=True))),
                   model=model_json, recipe=recipe, measured=measured, machine=machine,
                   versions=versions, date=datetime.datetime.now().isoformat(timespec="seconds"))
        if extra:
            res.update(extra)
        path = os.path.join(args.out, name_of(b, g) + ".json")
        with open(path + ".tmp", "w") as fh:
            json.dump(res, fh, indent=1)
        os.replace(path + ".tmp", path)

    for b, g, what in plan_list:
        nm = name_of(b, g)
        if what == "skip":
            continue
        if what in ("invalid", "crashed"):
            log(f"{nm}: {what}")
            write_result(b, g, dict(oom=False, error=what, steps=0, warmup=0))
            continue
        if args.deadline and time.time() > args.deadline:
            log(f"{nm}: deadline reached, not run")
            continue
        if rank == 0:
            open(os.path.join(args.out, "." + nm + ".started"), "w").close()
        m = g // (args.dp * b)
        try:
            measured = run_combo(args, hf_cfg, mdef, my_fqns, b, g, m, dev, is_cuda, world, lay,
                                 use_loss_parallel)
            measured["oom"] = False
            write_result(b, g, measured)
            if rank == 0:
                try:
                    os.remove(os.path.join(args.out, "." + nm + ".started"))
                except OSError:
                    pass
            log(f"{nm}: step {measured['step_time_ms_median']:.1f} ms (p10 {measured['step_time_ms_p10']:.1f}, "
                f"p90 {measured['step_time_ms_p90']:.1f}), peak alloc GiB "
                f"{[round(x, 2) for x in measured['peak_allocated_GiB_per_rank']]}, reserved "
                f"{[round(x, 2) for x in measured['peak_reserved_GiB_per_rank']]}")
        except torch.cuda.OutOfMemoryError as e:
            print(f"[rank {rank}] {nm}: OOM: {str(e)[:300]}", flush=True)
            peak = torch.cuda.max_memory_allocated(dev) / 2 ** 30
            if rank == 0 or world == 1:
                write_result(b, g, dict(oom=True, steps=0, warmup=args.warmup, error="OutOfMemoryError",
                                        peak_allocated_GiB_rank0_before_oom=peak))
            else:
                # let rank 0's file mark it; write our own marker in case rank 0 survives
                with open(os.path.join(args.out, f".{nm}.oom_rank{rank}"), "w") as fh:
                    fh.write(str(e)[:1000])
            if world > 1:
                # peers would hang in collectives: exit hard; torchrun tears the group down,
                # run_all.sh relaunches with --skip-existing
                if rank != 0:
                    # make rank 0's file exist for the record
                    with open(os.path.join(args.out, nm + ".json"), "w") as fh:
                        json.dump(dict(plan=dict(tp=args.tp, pp=args.pp, dp=args.dp, mbs=b, gbs=g,
                                                 layers_per_stage=layers_per_stage, module_fqns=fqns_all),
                                       model=model_json, recipe=recipe,
                                       measured=dict(oom=True, steps=0, error=f"OOM on rank {rank}"),
                                       machine=machine, versions=versions,
                                       date=datetime.datetime.now().isoformat(timespec="seconds")), fh, indent=1)
                os._exit(3)
        finally:
            if is_cuda:
                torch.cuda.empty_cache()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


# ---- memory trace (--memory-trace): which allocations are alive at the step's peak
_MARK_BASE = 4099  # marker allocations: (4099 + k) * 512 bytes, freed at once


_MARKS = []


def memtrace_marker(label):
    """Leave a recognisable allocation in the allocator's history (a phase marker)."""
    k = len(_MARKS)
    _MARKS.append(label)
    x = torch.empty((_MARK_BASE + k) * 512, dtype=torch.uint8, device="cuda")
    del x


def summarize_memory_trace(snap, device_index, base_bytes, max_allocated):
    """Replay the allocator history: allocated bytes after each marker, the peak, and what was
    alive at the peak (grouped by block size, with a Python frame that allocated it)."""
    trace = snap["device_traces"][device_index]
    marks = {(_MARK_BASE + k) * 512: lab for k, lab in enumerate(_MARKS)}
    cur = base_bytes
    live = {}
    preexisting_freed = 0
    peak, peak_live, peak_after = cur, None, "start"
    last_mark = "start"
    timeline = []
    for ev in trace:
        act, addr, size = ev.get("action"), ev.get("addr"), ev.get("size", 0)
        if act == "alloc":
            if size in marks and addr not in live:
                last_mark = marks[size]
                timeline.append(dict(mark=last_mark, allocated_GiB=cur / 2 ** 30))
                live[addr] = None
                continue
            cur += size
            fr = [f for f in ev.get("frames", []) if f.get("filename", "").endswith(".py")]
            where = [f"{os.path.basename(f['filename'])}:{f['line']}:{f['name']}" for f in fr[:4]]
            live[addr] = (size, where)
            if cur > peak:
                peak, peak_after = cur, last_mark
                peak_live = dict(live)
        elif act == "free_requested":
            if addr in live:
                v = live.pop(addr)
                if v is not None:
                    cur -= v[0]
            else:
                cur -= size
                preexisting_freed += size
    groups = {}
    if peak_live:
        for v in peak_live.values():
            if v is None:
                continue
            size, where = v
            g = groups.setdefault(size, dict(size_bytes=size, count=0, where=where))
            g["count"] += 1
    top = sorted(groups.values(), key=lambda g: -g["size_bytes"] * g["count"])[:40]
    _MARKS.clear()
    return dict(base_allocated_GiB=base_bytes / 2 ** 30, replayed_peak_GiB=peak / 2 ** 30,
                max_memory_allocated_GiB=max_allocated / 2 ** 30, peak_after_marker=peak_after,
                new_blocks_alive_at_peak_GiB=sum(g["size_bytes"] * g["count"] for g in groups.values()) / 2 ** 30,
                preexisting_freed_before_end_GiB=preexisting_freed / 2 ** 30,
                alive_at_peak_by_size=top, timeline=timeline[:400])


_MESHES = {}


def fsdp_mesh(dev_type, dp, shard_group):
    """The device mesh FSDP2 shards over (made once per launch): all dp ranks, or (replicate, shard)."""
    key = (dev_type, dp, shard_group)
    if key not in _MESHES:
        from torch.distributed.device_mesh import init_device_mesh
        if shard_group:
            _MESHES[key] = init_device_mesh(dev_type, (dp // shard_group, shard_group), mesh_dim_names=("replicate", "shard"))
        else:
            _MESHES[key] = init_device_mesh(dev_type, (dp,), mesh_dim_names=("shard",))
    return _MESHES[key]


_TP_ROWS = ("tok_embeddings.weight", "output.weight", "q_proj.weight", "k_proj.weight", "v_proj.weight",
            "gate_proj.weight", "up_proj.weight")
_TP_COLS = ("o_proj.weight", "down_proj.weight")


def full_weights(parts, lay):
    """{one-process name: full fp32 CPU tensor} of this rank's model chunks: FSDP shards gathered
    (full_tensor), Megatron-style TP shards all-gathered over the tp group along their split dimension.
    Every rank of a group must call it (collectives)."""
    out = {}
    for part in parts:
        for name, p in part.named_parameters():
            t = p.detach()
            if hasattr(t, "full_tensor"):
                t = t.full_tensor()
            cn = canonical_name(name)
            dim = 0 if cn.endswith(_TP_ROWS) else 1 if cn.endswith(_TP_COLS) else None
            if lay.tp > 1 and dim is not None:
                bufs = [torch.empty_like(t) for _ in range(lay.tp)]
                dist.all_gather(bufs, t.contiguous(), group=lay.group("tp"))
                t = torch.cat(bufs, dim=dim)
            out[cn] = t.float().cpu().clone()
    return out


def gather_all(obj, world):
    """obj of every rank, in rank order (every rank must call it)."""
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out


def write_dump(path, init_w, final_w, step_losses, world, rank, meta):
    """Rank 0 merges every rank's full weights (replicas must agree: their largest difference is kept)
    and writes them with the per-step loss (mean over the ranks that hold one)."""
    objs = [(init_w, final_w)]
    if world > 1:
        objs = [None] * world if rank == 0 else None
        dist.gather_object((init_w, final_w), objs, dst=0)
    if rank != 0:
        return
    merged = [{}, {}]
    replica_diff = 0.0
    for pair in objs:
        for k in (0, 1):
            for name, t in pair[k].items():
                if name in merged[k]:
                    replica_diff = max(replica_diff, float((merged[k][name] - t).abs().max()))
                else:
                    merged[k][name] = t
    losses = []
    for i in range(len(step_losses[0])):
        vals = [r[i] for r in step_losses if r[i] is not None]
        losses.append(float(np.mean(vals)))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save(dict(init=merged[0], final=merged[1], losses=losses, replica_max_abs_diff=replica_diff, **meta),
               path + ".tmp")
    os.replace(path + ".tmp", path)


def run_combo(args, hf_cfg, mdef, my_fqns, b, g, m, dev, is_cuda, world, lay, use_loss_parallel):
    S, V = mdef["seq_length"], mdef["vocab_size"]
    tp, pp, dp, cp = args.tp, args.pp, args.dp, args.cp
    rank = lay.rank
    sharding = args.dp_sharding
    fsdp = sharding in ("gradients", "parameters")
    import gc
    gc.collect()
    if is_cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    # ---- model (one module per model chunk of this rank) and tensor parallel
    parts = []
    for fq in my_fqns:
        part, lossf, loss_ctx = tp_model(hf_cfg, fq, dev, tp, lay.tp_rank, lay.group("tp"), args.tp_impl, use_loss_parallel,
                                         mesh=lay.tp_mesh(dev.type) if tp > 1 and args.tp_impl == "dtensor" else None,
                                         sp=args.sequence_parallel)
        if args.sequence_parallel:
            part.positions = torch.arange(S, device=dev).unsqueeze(0)
        if cp > 1:
            part.positions = cp_positions(lay.cp_rank, cp, S // (2 * cp), dev).unsqueeze(0)
        parts.append(part)
    sp_norms = [p for part in parts for p in getattr(part, "sp_norm_params", [])]

    # ---- data parallel
    # --cuda-graph: eager warm-up and DDP construction on a side stream (PyTorch's recipe for
    # whole-network capture: DDP needs 11 eager iterations before capture)
    side = torch.cuda.Stream(dev) if args.cuda_graph else None
    if side is not None:
        side.wait_stream(torch.cuda.current_stream(dev))
    if fsdp:
        from torch.distributed.fsdp import fully_shard
        mesh = fsdp_mesh(dev.type, dp, args.shard_group)
        reshard = sharding == "parameters"
        for part in parts:
            for layer in part.layers.values():
                fully_shard(layer, mesh=mesh, reshard_after_forward=reshard)
            fully_shard(part, mesh=mesh, reshard_after_forward=reshard)
    elif dp * cp > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        with torch.cuda.stream(side) if side is not None else contextlib.nullcontext():
            parts = [DDP(part, device_ids=[dev.index] if is_cuda else None, gradient_as_bucket_view=True,
                         process_group=lay.group("dp_cp")) for part in parts]
    model = parts[0]
    ddp = dp * cp > 1 and not fsdp

    # ---- optimizer
    trainable = [p for part in parts for p in part.parameters() if p.requires_grad]
    if getattr(args, "master_fp32", False):
        opts = [MasterFP32AdamW(trainable, lr=args.lr, weight_decay=0.01)]
    elif sharding == "optimizer":
        from torch.distributed.optim import ZeroRedundancyOptimizer
        opts = [ZeroRedundancyOptimizer(trainable, optimizer_class=torch.optim.AdamW, process_group=lay.group("dp"),
                                        lr=args.lr, weight_decay=0.01, foreach=True)]
    else:
        opts = [o for part in ([nn.ModuleList(parts)] if len(parts) > 1 else parts)
                for o in adamw_per_kind(part, lr=args.lr, weight_decay=0.01, capturable=bool(args.cuda_graph))]

    # ---- synthetic data: the global batch, drawn alike on every rank; each dp rank takes its rows,
    # each cp rank its two chunks of every sequence
    gen = torch.Generator(device=dev)
    gen.manual_seed(1000)
    local_batch = g // dp
    ids_all = torch.randint(0, V, (g, S), device=dev, generator=gen)
    labels_all = torch.randint(0, V, (g, S), device=dev, generator=gen)
    rows = slice(lay.dp_rank * local_batch, (lay.dp_rank + 1) * local_batch)
    ids, labels = ids_all[rows].contiguous(), labels_all[rows].contiguous()
    if cp > 1:
        cols = cp_positions(lay.cp_rank, cp, S // (2 * cp), dev)
        ids, labels = ids[:, cols].contiguous(), labels[:, cols].contiguous()
    del ids_all, labels_all

    sched = None
    if pp > 1:
        from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleInterleaved1F1B
        n_stages = pp * args.virtual_stages
        stages = [PipelineStage(part, stage_index=lay.pp_rank + k * pp, num_stages=n_stages, device=dev,
                                group=lay.group("pp")) for k, part in enumerate(parts)]
        # the last stage's loss: the vocab-parallel one under Megatron-style TP (lossf), else the plain one
        if args.virtual_stages == 1:
            sched = Schedule1F1B(stages[0], n_microbatches=m, loss_fn=lossf)
        else:
            sched = ScheduleInterleaved1F1B(stages, n_microbatches=m, loss_fn=lossf)

    fb_ms = []

    evs = []  # (label, cuda event) of the current step, pp == 1 only

    tracing = [False]

    def mark(label):
        if args.cuda_graph:
            return
        if tracing[0]:
            memtrace_marker(label)
        if is_cuda and sched is None:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            evs.append((label, e))

    if args.memory_trace and sched is not None:
        # markers inside the schedule: the stage module's forward and backward
        stage_mod = model
        stage_mod.register_forward_pre_hook(lambda *_: mark("F0") if tracing[0] else None)
        stage_mod.register_forward_hook(lambda *_: mark("F1") if tracing[0] else None)

    def no_sync_all():
        stack = contextlib.ExitStack()
        for part in parts:
            stack.enter_context(part.no_sync())
        return stack

    def step():
        # returns the (detached) mean loss of the global batch on this rank, or None
        tot = None
        evs.clear()
        mark("start")
        for o in opts:
            o.zero_grad(set_to_none=True)
        if sched is not None:
          # with DDP, the stage's forwards run under no_sync: the schedule prepares DDP's gradient
          # reduction itself before the last backward (PipelineStage); a forward outside no_sync would
          # prepare it a second time (DDP's reducer then fails when m == pp)
          with no_sync_all() if ddp else contextlib.nullcontext():
            if lay.pp_rank == 0:
                sched.step(ids)
            elif lay.pp_rank == pp - 1:
                losses = []
                sched.step(target=labels, losses=losses)
                tot = torch.stack([x.detach() for x in losses]).mean()
            else:
                sched.step()
        else:
            for i in range(m):
                sl = slice(i * b, (i + 1) * b)
                ctx = model.no_sync() if (ddp and i < m - 1) else contextlib.nullcontext()
                with ctx:
                    with loss_ctx():
                        mark("f0")
                        out = model(ids[sl])
                        loss = lossf(out, labels[sl]) / m
                        mark("f1")
                        loss.backward()
                        mark("b1")
                ld = loss.detach()
                if hasattr(ld, "full_tensor"):
                    ld = ld.full_tensor()
                tot = ld if tot is None else tot + ld
        # sequence parallelism: each tp rank's norm weights saw its share of the tokens
        for p in sp_norms:
            if p.grad is not None:
                dist.all_reduce(p.grad, group=lay.group("tp"))
        mark("o0")
        for o in opts:
            o.step()
        mark("o1")
        return tot

    def sync():
        if is_cuda:
            torch.cuda.synchronize(dev)

    init_w = full_weights(parts, lay) if args.dump else None
    runtime = {}
    if args.dump:
        # what actually ran on this rank, for the comparison's record
        first = next(iter(parts[0].module.layers.values() if hasattr(parts[0], "module") else parts[0].layers.values()))
        def seen(mod, a):
            runtime.setdefault("layer_input_tokens", int(a[0].shape[1]))
        first.register_forward_pre_hook(seen)
        kinds = {type(p).__name__ + (str(tuple(p.placements)) if hasattr(p, "placements") else "") for p in trainable}
        runtime.update(wrapper=sorted({type(p).__name__ for p in parts}), parameter_kinds=sorted(kinds),
                       optimizers=sorted({type(o).__name__ for o in opts}),
                       schedule=type(sched).__name__ if sched is not None else None,
                       stage_indices=[lay.pp_rank + k * pp for k in range(len(parts))] if pp > 1 else None,
                       attention=hf_cfg._attn_implementation if hf_cfg.fasop_arch == "llama" else "sdpa",
                       sp_norm_params=len(sp_norms), local_batch_rows=int(ids.shape[0]), local_sequence=int(ids.shape[1]))
    run_step = step
    graph = None
    eager_peak = [None]
    if args.cuda_graph:
        n_eager = max(args.warmup, 11 if dp > 1 else 3)
        with torch.cuda.stream(side):
            for _ in range(n_eager):
                if world > 1:
                    dist.barrier()
                step()
        torch.cuda.current_stream(dev).wait_stream(side)
        sync()
        # the warm-up steps are ordinary eager steps: their peak is the step's memory as the
        # estimator counts it; the capture's own peak (graph pool) is recorded apart
        eager_peak[0] = torch.cuda.max_memory_allocated(dev) / 2 ** 30
        for o in opts:
            o.zero_grad(set_to_none=True)
        torch.cuda.reset_peak_memory_stats(dev)
        if world > 1:
            dist.barrier()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode=args.graph_capture_mode):
            static_tot = step()
        sync()

        def run_step():
            graph.replay()
            return static_tot

    times = []
    step_losses = []
    cpu_proc, cpu_main, phases = [], [], []
    total = args.warmup + args.steps
    memtrace = None
    ticks0 = None
    speeds = []
    for it in range(total):
        # the host's speed between steps (GPU idle, outside the timed region): docs/accuracy.md item 13
        try:
            speed = host_speed_probe(dev if is_cuda else None, layer=args.layer_probe)
            if it >= args.warmup:
                speeds.append(speed)
        except Exception as e:  # noqa  (diagnostic only; never fail a combo for it)
            print(f"[rank {rank}] host speed probe failed: {e}", flush=True)
        if world > 1:
            dist.barrier()
        sync()
        trace_this = bool(args.memory_trace) and is_cuda and it == (
            total - 1 if args.memory_trace_step < 0 else args.memory_trace_step)
        if trace_this:
            base = torch.cuda.memory_allocated(dev)
            torch.cuda.memory._record_memory_history(max_entries=2_000_000, stacks="python")
            tracing[0] = True
        kt = None
        if args.kernel_trace and is_cuda and it == total - 1:
            from torch.profiler import ProfilerActivity, profile
            kt = profile(activities=[ProfilerActivity.CUDA])
            kt.__enter__()
        if it == args.warmup:
            ticks0 = cpu_ticks()
        t0 = time.perf_counter()
        c0, th0 = time.process_time(), time.thread_time()
        lt = run_step()
        c1, th1 = time.process_time(), time.thread_time()
        sync()
        t1 = time.perf_counter()
        if kt is not None:
            kt.__exit__(None, None, None)
            os.makedirs(args.kernel_trace, exist_ok=True)
            kt.export_chrome_trace(os.path.join(
                args.kernel_trace, f"trace_tp{tp}_pp{pp}_dp{dp}_mbs{b}_gbs{g}{args.name_suffix}_rank{rank}.json"))
            kt = None
        if trace_this:
            tracing[0] = False
            snap = torch.cuda.memory._snapshot()
            torch.cuda.memory._record_memory_history(enabled=None)
            memtrace = summarize_memory_trace(snap, dev.index, base,
                                              torch.cuda.max_memory_allocated(dev))
            del snap
        step_losses.append(float(lt) if lt is not None else None)
        if it >= args.warmup:
            cpu_proc.append((c1 - c0) * 1e3)
            cpu_main.append((th1 - th0) * 1e3)
            if evs:
              try:
                ph = dict(fwd=0.0, bwd=0.0, opt=0.0, zero_grad=0.0)
                last = {}
                for lab, e in evs:
                    if lab == "f1":
                        ph["fwd"] += last["f0"].elapsed_time(e)
                    elif lab == "b1":
                        ph["bwd"] += last["f1"].elapsed_time(e)
                    elif lab == "o1":
                        ph["opt"] += last["o0"].elapsed_time(e)
                    last[lab] = e
                ph["zero_grad"] = evs[0][1].elapsed_time(evs[1][1])
                ph["gpu_timeline_total"] = evs[0][1].elapsed_time(evs[-1][1])
                phases.append(ph)
              except Exception as e:  # noqa  (diagnostic only; never fail a combo for it)
                print(f"[rank {rank}] phase timing failed: {e}", flush=True)
        if it >= args.warmup:
            times.append((t1 - t0) * 1e3)
    host_cpu = cpu_use_between(ticks0, cpu_ticks())
    alloc = torch.cuda.max_memory_allocated(dev) / 2 ** 30 if is_cuda else 0.0
    capture_peak = None
    if eager_peak[0] is not None:
        alloc, capture_peak = eager_peak[0], alloc
    reserved = torch.cuda.max_memory_reserved(dev) / 2 ** 30 if is_cuda else 0.0
    per_rank_times = [times]
    allocs, reserveds = [alloc], [reserved]
    if world > 1:
        objs = [None] * world
        dist.all_gather_object(objs, dict(t=times, a=alloc, r=reserved, l=step_losses, cp=cpu_proc,
                                          cm=cpu_main, ph=phases, c=capture_peak, hs=speed_series(speeds)))
        host_speed_series = [o["hs"] for o in objs]
        capture_peaks = [o["c"] for o in objs]
        per_rank_times = [o["t"] for o in objs]
        step_losses = [o["l"] for o in objs]
        cpu_proc = [o["cp"] for o in objs]
        cpu_main = [o["cm"] for o in objs]
        phases = [o["ph"] for o in objs]
        allocs = [o["a"] for o in objs]
        reserveds = [o["r"] for o in objs]
    else:
        cpu_proc, cpu_main, phases = [cpu_proc], [cpu_main], [phases]
        capture_peaks = [capture_peak]
        host_speed_series = [speed_series(speeds)]
    host_speeds = [series_medians(s) for s in host_speed_series]
    host_speed_steps = [s["python_us"] if s else [] for s in host_speed_series]

    def med_phase(plist):
        if not plist:
            return None
        return {k: float(np.median([p[k] for p in plist])) for k in plist[0]}
    step_t = np.max(np.array(per_rank_times), axis=0)
    params = trainable
    if args.dump:
        write_dump(args.dump, init_w, full_weights(parts, lay), step_losses if world > 1 else [step_losses], world, rank,
                   dict(runtime_per_rank=gather_all(runtime, world), tp=tp, pp=pp, dp=dp, cp=cp, mbs=b, gbs=g, virtual_stages=args.virtual_stages,
                        dp_sharding=sharding, shard_group=args.shard_group, sequence_parallel=bool(args.sequence_parallel),
                        dtype=args.dtype, lr=args.lr, steps=total, torch=str(torch.__version__)))
    # data-parallel replicas must hold the same weights after the steps (gradients were reduced):
    # the spread of a weight checksum over this rank's dp (× cp) group; FSDP ranks hold different shards
    dp_spread = None
    if lay.grad_size > 1 and not fsdp:
        with torch.no_grad():
            mine = float(sum((p.to_local() if hasattr(p, "to_local") else p).double().abs().sum() for p in params))
        sums = [None] * lay.grad_size
        dist.all_gather_object(sums, mine, group=lay.group("dp_cp"))
        spreads = [None] * world
        dist.all_gather_object(spreads, (max(sums) - min(sums)) / max(abs(max(sums)), 1e-30))
        dp_spread = max(spreads)
    n_params_local = sum(p.numel() for p in params)
    try:
        n_params_local = sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel() for p in params)
    except Exception:  # noqa
        pass
    has_sched = sched is not None
    if memtrace is not None:
        os.makedirs(args.memory_trace, exist_ok=True)
        with open(os.path.join(args.memory_trace,
                               f"memtrace_tp{tp}_pp{pp}_dp{dp}_mbs{b}_gbs{g}"
                               + (f"_step{args.memory_trace_step}" if args.memory_trace_step >= 0 else "")
                               + f"_rank{rank}.json"), "w") as fh:
            json.dump(dict(plan=dict(tp=tp, pp=pp, dp=dp, mbs=b, gbs=g, m=m, rank=rank,
                                     fqns=list(my_fqns[0])), model=mdef["name"], layers=args.layers,
                           traced_step=args.memory_trace_step if args.memory_trace_step >= 0 else total - 1,
                           **memtrace), fh, indent=1)
    if graph is not None:
        graph.reset()
        del graph
    del model, parts, opts, params, trainable
    return dict(step_time_ms_median=float(np.median(step_t)), step_time_ms_p10=float(np.percentile(step_t, 10)),
                step_time_ms_p90=float(np.percentile(step_t, 90)), step_times_ms=[float(x) for x in step_t],
                steps=args.steps, warmup=args.warmup, peak_allocated_GiB_per_rank=allocs,
                **(dict(peak_allocated_GiB_source="the eager warm-up steps before capture",
                        capture_peak_allocated_GiB_per_rank=capture_peaks) if args.cuda_graph else {}),
                peak_reserved_GiB_per_rank=reserveds, params_local_rank=int(n_params_local),
                **(dict(dp_replica_weight_spread=dp_spread) if dp_spread is not None else {}),
                loss_per_step_per_rank=step_losses if world > 1 else [step_losses],
                cpu_process_ms_median_per_rank=[float(np.median(x)) for x in cpu_proc],
                cpu_main_thread_ms_median_per_rank=[float(np.median(x)) for x in cpu_main],
                host_cpu_during_timed_steps=host_cpu,
                host_speed_us_median_per_rank=host_speeds,
                host_speed_python_us_per_step_per_rank=host_speed_steps,
                host_speed_us_per_step_per_rank=host_speed_series,
                host_speed_note="host_speed_probe() between the timed steps (GPU idle): median per rank",
                phase_ms_median_per_rank=[med_phase(x) for x in phases] if not has_sched and is_cuda else None,
                phase_note=("GPU-timeline (CUDA events, pp=1 only): fwd = sum over micro-batches of forward+loss, "
                            "bwd = sum of backward (includes DDP all-reduce on the last micro-batch), "
                            "opt = optimizer step; intervals include GPU idle time if CPU-bound"),
                timing="per step: barrier, cuda sync, wall clock of zero_grad+fwd/bwd of all micro-batches+"
                       "optimizer step, cuda sync; max over ranks")


if __name__ == "__main__":
    sys.exit(main())
