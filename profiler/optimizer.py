"""Measure the optimizer step and the gradient-accumulation pass per parameter on one GPU.

Both are memory-bound passes over every parameter, so they are measured on a real model's
parameter shapes (llama8b with 4 layers: 1.92 B parameters) and reported in ms per 1e9 parameters:
  - bf16-adamw:     torch.optim.AdamW(foreach=True, weight_decay=0.01) on bf16 params/grads/states
  - bf16-adamw-graph: the same with capturable=True (step counters on the GPU), captured in a CUDA
                    graph and timed by replaying it (validation/train_step.py --cuda-graph)
  - megatron-mixed: torch.optim.AdamW(fused=True) on fp32 master params/grads (the fp32 part of
                    Megatron-style mixed precision), plus the bf16 copy-back of the weights
  - grad-accumulate-bf16: p.grad += g for every parameter (what autograd does for micro-batch 2..m)
Writes $OUT/optimizer_{GPU}.json. Usage: python3 profiler/optimizer.py OUTDIR
"""
import datetime, json, os, re, sys
import torch

def shapes(h=4096, layers=4, kv=1024, ffn=14336, vocab=128256):
    s = [(vocab, h), (vocab, h)]
    for _ in range(layers):
        s += [(h, h), (kv, h), (kv, h), (h, h), (ffn, h), (ffn, h), (h, ffn), (h,), (h,)]
    return s + [(h,)]

def timed(fn, reps=10, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); torch.cuda.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2], ts

def main(out):
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(0)
    gpu = (re.search(r"(H100|H200|A100|B200|L40S)", name) or [None, name])[1]
    res = dict(gpu=gpu, gpu_name=name, torch_version=torch.__version__, date=datetime.date.today().isoformat(), shapes="llama8b dims, 4 layers")
    for label, dtype, kw in [("bf16-adamw", torch.bfloat16, dict(foreach=True)),
                             ("bf16-adamw-graph", torch.bfloat16, dict(foreach=True, capturable=True)),
                             ("megatron-mixed", torch.float32, dict(fused=True))]:
        ps = [torch.nn.Parameter(torch.randn(s, device=dev, dtype=dtype) * 0.02) for s in shapes()]
        for p in ps:
            p.grad = torch.randn_like(p) * 1e-3
        n = sum(p.numel() for p in ps)
        opt = torch.optim.AdamW(ps, lr=1e-4, weight_decay=0.01, **kw)
        if label == "megatron-mixed":
            half = [torch.empty(p.shape, device=dev, dtype=torch.bfloat16) for p in ps]
            def step():
                opt.step()
                torch._foreach_copy_(half, ps)
        elif label == "bf16-adamw-graph":
            # the step as validation/train_step.py --cuda-graph runs it: captured once, replayed
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    opt.step()
            torch.cuda.current_stream().wait_stream(side)
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                opt.step()
            step = graph.replay
        else:
            step = opt.step
        med, ts = timed(step)
        res[label] = dict(params=n, ms_median=med, ms_all=ts, ms_per_Gparam=med / (n / 1e9))
        print(label, n, f"{med:.2f} ms", f"{med / (n / 1e9):.2f} ms/Gparam", flush=True)
        if label == "bf16-adamw":
            gs = [torch.randn_like(p) for p in ps]
            grads = [p.grad for p in ps]
            med2, ts2 = timed(lambda: torch._foreach_add_(grads, gs))
            # autograd accumulates parameter by parameter (no foreach): time that too
            med3, ts3 = timed(lambda: [g.add_(x) for g, x in zip(grads, gs)])
            res["grad-accumulate-bf16"] = dict(params=n, foreach_ms_median=med2, per_tensor_ms_median=med3, ms_per_Gparam=med3 / (n / 1e9))
            print("grad-accumulate-bf16", f"foreach {med2:.2f} ms, per tensor {med3:.2f} ms", flush=True)
            del gs, grads
        del ps, opt, step
        graph = None
        torch.cuda.empty_cache()
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, f"optimizer_{gpu}.json"), "w") as f:
        json.dump(res, f, indent=1)

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
