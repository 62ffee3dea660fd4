"""GP solve at N = 20,000 by preconditioned conjugate gradients on blocked kernel-vector products
(`statmech.gp.kernel_solve`): wall time, CG iterations, relative residual, and peak memory against
the size of the dense kernel matrix it never builds.

Data: N points in d = 64 dimensions, standard normal rows scaled to unit norm; targets
y = sin(3 x_0) + 0.1 * noise. Kernel: NNGP of a depth-3 relu network ([Dense, relu] x 3 + Dense),
sigma_w2 = 2.0, sigma_b2 = 0.1, NTK parameterisation; noise variance 0.1 (the Jacobi-preconditioned
CG then converges in tens of iterations).

The residual ||(K + noise I) alpha - y|| / ||y|| is recomputed after the solve with one more blocked
product. Peak memory is the increase of the process's peak resident set (ru_maxrss) over the solve:
it includes everything the solve touched (blocks of kernel rows, CG vectors), unlike tracemalloc,
which does not see torch's allocations.

    python3 benchmarks/bench_gp_solve.py                 # N = 20000, float64
    python3 benchmarks/bench_gp_solve.py --n 2000 --dtype float32
"""

import argparse
import os
import platform
import resource
import time

import torch

import statmech  # noqa: F401
from statmech.gp import fc_kernel_matmul, kernel_solve


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--block-size", type=int, default=0, help="rows per block (0: automatic, ~64 MiB)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.n, args.d, generator=gen, dtype=dtype)
    x = x / x.norm(dim=1, keepdim=True)
    y = torch.sin(3 * x[:, 0] * args.d ** 0.5) + 0.1 * torch.randn(args.n, generator=gen, dtype=dtype)
    kw = dict(depth=args.depth, activation="relu", sigma_w2=2.0, sigma_b2=0.1, kernel="nngp")

    # one small warm-up so library loading and thread-pool start are not charged to the solve
    kernel_solve(x[:64], y[:64], noise=args.noise, tol=args.tol, **kw)

    rss_before = peak_rss_bytes()
    start = time.perf_counter()
    alpha, iterations = kernel_solve(x, y, noise=args.noise, tol=args.tol, block_size=args.block_size, **kw)
    seconds = time.perf_counter() - start
    rss_peak = peak_rss_bytes() - rss_before

    with torch.no_grad():
        product = fc_kernel_matmul(x, None, alpha, depth=args.depth, activation="relu", sigma_w2=2.0,
                                   sigma_b2=0.1, kernel="nngp", block_size=args.block_size)
        residual = float((product + args.noise * alpha - y).norm() / y.norm())

    dense = args.n * args.n * x.element_size()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"N = {args.n}, d = {args.d}, NNGP depth-{args.depth} relu (sigma_w2 2.0, sigma_b2 0.1), "
          f"{args.dtype}, noise {args.noise}, tol {args.tol:g}")
    print(f"wall time        {seconds:.1f} s ({seconds / iterations:.2f} s per CG iteration)")
    print(f"CG iterations    {iterations}")
    print(f"relative residual {residual:.2e}")
    print(f"peak RSS increase {rss_peak / 2**20:.1f} MiB; dense K would be {dense / 2**20:.1f} MiB "
          f"({rss_peak / dense:.3f} of it)")


if __name__ == "__main__":
    main()
