"""rbm_free_energy forward + backward against the same expression in plain PyTorch.

    python benchmarks/bench_rbm_free_energy.py [--device cpu|cuda] [--batch 256 --visible 784 --hidden 500]

Both sides compute F(v) = -a.v - sum softplus(c + v W), reduce it with .sum() and backpropagate
to W, a and c (v is data and needs no gradient, as in RBM training). Before timing, the two
results and gradients are checked to agree.
"""

import argparse
import statistics

import torch

import statmech
from harness import machine_description, median_seconds, memory_profile, print_table


def plain_pytorch(v, W, a, c):
    return -(v @ a) - torch.nn.functional.softplus(v @ W + c).sum(-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--visible", type=int, default=784)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=9, help="alternating rounds of the two sides")
    args = parser.parse_args()
    device = torch.device(args.device)

    rows = []
    for dtype in (torch.float32, torch.float64):
        g = torch.Generator().manual_seed(0)
        v = torch.bernoulli(torch.full((args.batch, args.visible), 0.5, dtype=dtype), generator=g).to(device)
        W = (0.01 * torch.randn(args.visible, args.hidden, dtype=dtype, generator=g)).to(device).requires_grad_()
        a = (0.1 * torch.randn(args.visible, dtype=dtype, generator=g)).to(device).requires_grad_()
        c = (0.1 * torch.randn(args.hidden, dtype=dtype, generator=g)).to(device).requires_grad_()
        params = (W, a, c)

        def forward_backward(f):
            def run():
                f(v, W, a, c).sum().backward()

            return run

        def timed(f):
            run = forward_backward(f)

            def clear_and_run():
                for p in params:
                    p.grad = None
                run()

            return clear_and_run

        def profiled(f, make):
            # Memory is measured from a state with no gradients allocated.
            for p in params:
                p.grad = None
            return memory_profile(make(f), device)

        def forward_only(f):
            return lambda: f(v, W, a, c)

        def backward_profile(f):
            # The backward alone: what it allocates beyond the tensors the forward saved.
            for p in params:
                p.grad = None
            out = f(v, W, a, c).sum()
            return memory_profile(lambda: out.backward(), device)

        # Same values and gradients before any timing.
        grads = []
        for f in (plain_pytorch, statmech.ops.rbm_free_energy):
            timed(f)()
            grads.append([p.grad.clone() for p in params])
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        for mine, theirs in zip(grads[1], grads[0]):
            torch.testing.assert_close(mine, theirs, rtol=tol, atol=tol)

        # Alternate the two sides in rounds, so that drifts of the machine (clock, other tenants)
        # fall on both alike; the figure is the median over the rounds.
        plain_rounds, ours_rounds = [], []
        for _ in range(args.rounds):
            plain_rounds.append(median_seconds(timed(plain_pytorch), device, repeats=args.repeats))
            ours_rounds.append(median_seconds(timed(statmech.ops.rbm_free_energy), device, repeats=args.repeats))
        plain_time, ours_time = statistics.median(plain_rounds), statistics.median(ours_rounds)
        plain_mem = profiled(plain_pytorch, forward_backward)
        ours_mem = profiled(statmech.ops.rbm_free_energy, forward_backward)
        plain_saved = profiled(plain_pytorch, forward_only)
        ours_saved = profiled(statmech.ops.rbm_free_energy, forward_only)
        plain_bwd = backward_profile(plain_pytorch)
        ours_bwd = backward_profile(statmech.ops.rbm_free_energy)
        gradient_bytes = sum(p.numel() * p.element_size() for p in params)
        mib = 2.0**20
        rows.append([
            str(dtype).replace("torch.", ""),
            f"{plain_time * 1e3:.2f}", f"{ours_time * 1e3:.2f}", f"**{ours_time / plain_time:.2f}**",
            f"{plain_mem.peak_bytes / mib:.2f}", f"{ours_mem.peak_bytes / mib:.2f}",
            f"**{ours_mem.peak_bytes / plain_mem.peak_bytes:.2f}**",
            f"{plain_saved.peak_bytes / mib:.2f}", f"{ours_saved.peak_bytes / mib:.2f}",
            f"{plain_saved.retained_bytes / mib:.2f}", f"{ours_saved.retained_bytes / mib:.2f}",
            f"{plain_bwd.peak_bytes / mib:.2f}", f"{ours_bwd.peak_bytes / mib:.2f}",
            f"**{ours_bwd.peak_bytes / plain_bwd.peak_bytes:.2f}**",
            f"{(plain_bwd.allocated_bytes - gradient_bytes) / mib:.2f}",
            f"{(ours_bwd.allocated_bytes - gradient_bytes) / mib:.2f}",
        ])
        for p in params:
            p.grad = None

    print_table(
        f"rbm_free_energy forward+backward, batch {args.batch}, {args.visible} visible, {args.hidden} hidden, "
        f"{device.type} ({machine_description(device)})",
        ["dtype", "plain PyTorch ms", "statmech ms", "time ratio",
         "plain peak MiB", "statmech peak MiB", "peak ratio",
         "plain fwd peak MiB", "statmech fwd peak MiB", "plain held for bwd MiB", "statmech held for bwd MiB",
         "plain bwd peak MiB", "statmech bwd peak MiB", "bwd peak ratio",
         "plain bwd temporaries MiB", "statmech bwd temporaries MiB"],
        rows,
    )


if __name__ == "__main__":
    main()
