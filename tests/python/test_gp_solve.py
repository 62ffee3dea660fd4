"""kernel_solve: PCG on blocked products against a dense solve, and 2 CPU processes (gloo)
against the single-process result."""

import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import statmech  # noqa: F401
from statmech.gp import fc_kernel, kernel_solve

KW = dict(depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.1, kernel="nngp", noise=0.1, tol=1e-10,
          block_size=32)


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(61, 4, generator=g, dtype=torch.float64)
    y = torch.randn(61, 2, generator=g, dtype=torch.float64)
    return x, y


def test_pcg_matches_dense_solve():
    x, y = _problem()
    alpha, iterations = kernel_solve(x, y, **KW)
    k = fc_kernel(x, depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.1, get="nngp")
    dense = torch.linalg.solve(k + 0.1 * torch.eye(61, dtype=torch.float64), y)
    torch.testing.assert_close(alpha, dense, rtol=1e-7, atol=1e-7)
    assert iterations < 61
    single, _ = kernel_solve(x, y[:, 0], **KW)
    torch.testing.assert_close(single, alpha[:, 0], rtol=1e-7, atol=1e-7)


def _worker(rank, world, init_file, out_file):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        x, y = _problem()
        alpha, _ = kernel_solve(x, y, **KW)
        if rank == 0:
            torch.save(alpha, out_file)
    finally:
        dist.destroy_process_group()


def test_two_processes_match_single_process():
    x, y = _problem()
    reference, _ = kernel_solve(x, y, **KW)
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "alpha.pt")
        mp.spawn(_worker, args=(2, os.path.join(tmp, "init"), out_file), nprocs=2, join=True)
        distributed = torch.load(out_file)
    # Same CG iterates up to the order of floating-point sums: equal within the CG tolerance.
    torch.testing.assert_close(distributed, reference, rtol=1e-8, atol=1e-8)
