"""fc_kernel on a CUDA device: time (warm, synchronised) for depth 10, NNGP + NTK, N = M = 4096,
d = 64, and agreement with the CPU kernel on a smaller problem. Usage: python3 benchmarks/bench_gp_cuda.py"""

import time

import torch

import statmech  # noqa: F401
from statmech.gp import fc_kernel


def timed(fn, repeats=3):
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    print(torch.cuda.get_device_name())
    x = torch.randn(4096, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for act in ("relu", "erf", "tanh"):
        for dtype in (torch.float32, torch.float64):
            xc = x.to("cuda", dtype)
            t = timed(lambda: fc_kernel(xc, depth=10, activation=act, sigma_w2=1.8, sigma_b2=0.1))
            xs = xc[:512].requires_grad_()
            tb = timed(lambda: torch.autograd.grad(
                sum(k.sum() for k in fc_kernel(xs, depth=10, activation=act, sigma_w2=1.8, sigma_b2=0.1)), xs))
            small = x[:300].to(dtype)
            cpu = torch.stack(fc_kernel(small, depth=10, activation=act, sigma_w2=1.8, sigma_b2=0.1))
            gpu = torch.stack(fc_kernel(small.cuda(), depth=10, activation=act, sigma_w2=1.8, sigma_b2=0.1)).cpu()
            err = ((cpu - gpu).abs().max() / cpu.abs().max()).item()
            print(f"{act:5s} {str(dtype):14s} forward N=4096: {t:.4f} s   backward N=512: {tb:.4f} s   "
                  f"max |cuda - cpu| / max|K|: {err:.1e}", flush=True)


if __name__ == "__main__":
    main()
