"""Annealed importance sampling of log Z on a 784-500 RBM: statmech's rbm_ais (the whole anneal
in one C++ operator) against the same algorithm written as a loop of plain PyTorch ops in Python,
same schedule (Salakhutdinov & Murray's 14,500 betas by default), same number of runs, same
model. Prints both wall times, the ratio, and both estimates (they agree within the AIS spread).

    python benchmarks/bench_rbm_ais.py [--device cuda] [--runs 100] [--stride 1] [--gaussian]

--stride k keeps every k-th beta (for a quick look; the table uses stride 1). --gaussian anneals a
Gaussian-Bernoulli model (visible log-variances of scale 0.3) from its Gaussian layer alone.
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F

from harness import machine_description, print_table
import statmech
from statmech import ops


def plain_ais(W, a, c, base, betas, runs, generator):
    """The reference loop: the same intermediate distributions and transitions, in Python."""
    v = torch.bernoulli(torch.sigmoid(base).expand(runs, -1), generator=generator)
    log_w = torch.zeros(runs, dtype=torch.float64, device=W.device)
    diff = (a - base).double()
    b = betas.tolist()
    for k in range(1, len(b)):
        x = torch.addmm(c, v, W)
        x64 = x.double()
        log_w += (b[k] - b[k - 1]) * (v.double() @ diff) + F.softplus(b[k] * x64).sum(1) - F.softplus(b[k - 1] * x64).sum(1)
        if k < len(b) - 1:
            h = torch.bernoulli(torch.sigmoid(b[k] * x), generator=generator)
            v = torch.bernoulli(torch.sigmoid((1 - b[k]) * base + b[k] * torch.addmm(a, h, W.T)), generator=generator)
    log_z_base = F.softplus(base.double()).sum() + W.shape[1] * torch.log(torch.tensor(2.0, dtype=torch.float64))
    return log_z_base + torch.logsumexp(log_w, 0) - torch.log(torch.tensor(float(runs), dtype=torch.float64))


def plain_gaussian_ais(W, a, c, log_var, base, betas, runs, generator):
    """The same for a Gaussian visible layer (ops/rbm/sampling.cpp derives the weights)."""
    s, std = log_var.exp(), (0.5 * log_var).exp()
    v = base + std * torch.randn(runs, W.shape[0], generator=generator, device=W.device, dtype=W.dtype)
    log_w = torch.zeros(runs, dtype=torch.float64, device=W.device)
    inv_s = (1 / s).double()
    b = betas.tolist()
    for k in range(1, len(b)):
        x = torch.addmm(c, v / s, W)
        x64, v64 = x.double(), v.double()
        quadratic = ((v64 - a.double()) ** 2 - (v64 - base.double()) ** 2) @ inv_s
        log_w += -0.5 * (b[k] - b[k - 1]) * quadratic + F.softplus(b[k] * x64).sum(1) - F.softplus(b[k - 1] * x64).sum(1)
        if k < len(b) - 1:
            h = torch.bernoulli(torch.sigmoid(b[k] * x), generator=generator)
            mean = (1 - b[k]) * base + b[k] * torch.addmm(a, h, W.T)
            v = mean + std * torch.randn(mean.shape, generator=generator, device=W.device, dtype=W.dtype)
    log_z_base = 0.5 * (log_var.double() + math.log(2 * math.pi)).sum() + W.shape[1] * math.log(2.0)
    return log_z_base + torch.logsumexp(log_w, 0) - math.log(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--gaussian", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    # A model with structure: weights of an RBM-like scale, biases of sparse images.
    W = (0.05 * torch.randn(784, 500, generator=g)).to(device)
    a = torch.full((784,), -2.0).to(device)
    c = torch.full((500,), -1.0).to(device)
    base = a.clone()
    betas = ops.rbm_ais_default_betas()
    betas = torch.cat([betas[:-1:args.stride], betas[-1:]]).to(device)

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out, time.perf_counter() - start

    if args.gaussian:
        log_var = (0.3 * torch.randn(784, generator=g)).to(device)
        a = (0.1 * torch.randn(784, generator=g)).to(device)
        base = a + 0.5
        ours, our_seconds = timed(lambda: ops.rbm_ais(W, a, c, base, betas, args.runs, generator=torch.Generator(device=device).manual_seed(1), visible_log_variance=log_var))
        plain, plain_seconds = timed(lambda: plain_gaussian_ais(W, a, c, log_var, base, betas, args.runs, torch.Generator(device=device).manual_seed(1)))
    else:
        ours, our_seconds = timed(lambda: ops.rbm_ais(W, a, c, base, betas, args.runs, generator=torch.Generator(device=device).manual_seed(1)))
        plain, plain_seconds = timed(lambda: plain_ais(W, a, c, base, betas, args.runs, torch.Generator(device=device).manual_seed(1)))
    print(f"statmech log Z {float(ours[0]):.3f} [{float(ours[1]):.3f}, {float(ours[2]):.3f}]; plain loop log Z {float(plain):.3f}")
    print_table(
        f"AIS, 784-500{' Gaussian-Bernoulli' if args.gaussian else ''}, {len(betas) - 1} intermediate distributions x {args.runs} runs, float32 model ({machine_description(device)})",
        ["plain PyTorch loop s", "statmech rbm_ais s", "speed-up"],
        [[f"{plain_seconds:.1f}", f"{our_seconds:.1f}", f"**{plain_seconds / our_seconds:.2f}x**"]],
    )


if __name__ == "__main__":
    main()
