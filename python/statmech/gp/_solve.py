"""Kernel solves past one matrix and one machine: preconditioned conjugate gradients on blocked
kernel-vector products (the matrix is never materialised; GPyTorch's BBMM idea), with the row
blocks spread over torch.distributed ranks."""

from typing import Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

from statmech.gp._functional import fc_kernel, fc_kernel_matmul

__all__ = ["kernel_solve"]


def _row_range(n: int, rank: int, world: int) -> Tuple[int, int]:
    per = (n + world - 1) // world
    return min(n, rank * per), min(n, (rank + 1) * per)


def kernel_solve(
    x: Tensor,
    y: Tensor,
    *,
    depth: int,
    activation: str,
    sigma_w2: float,
    sigma_b2: float,
    kernel: str = "nngp",
    noise: float = 1e-2,
    parameterization: str = "ntk",
    tol: float = 1e-8,
    max_iter: int = 1000,
    block_size: int = 0,
    process_group: Optional["dist.ProcessGroup"] = None,
) -> Tuple[Tensor, int]:
    r"""Solves :math:`(K(x, x) + \text{noise}\, I)\,\alpha = y` by conjugate gradients with a Jacobi
    (diagonal) preconditioner, each product :math:`K v` computed in row blocks of ``block_size``
    by :func:`fc_kernel_matmul`: memory O(block_size N), never O(N^2).

    Distributed: when ``torch.distributed`` is initialised (or ``process_group`` is given), rank r
    computes the products of its contiguous share of the rows and an all-gather assembles them; every
    rank passes the same ``x`` and ``y`` and gets the same solution. On GPUs use the NCCL backend
    with ``x`` on each rank's device (``torchrun --nproc-per-node=G script.py``); across machines
    ``torchrun --nnodes=M --nproc-per-node=G --rdzv-endpoint=HOST:PORT script.py``.

    Args:
        x: ``[N, d]`` inputs. y: ``[N]`` or ``[N, k]`` right-hand sides.
        kernel: ``"nngp"`` or ``"ntk"``; other kernel arguments as :func:`fc_kernel`.
        tol: stop when every column's residual norm is below ``tol`` times its ``||y||``.

    Returns:
        ``(alpha, iterations)``, alpha shaped like ``y``.
    """
    distributed = process_group is not None or (dist.is_available() and dist.is_initialized())
    world = dist.get_world_size(process_group) if distributed else 1
    rank = dist.get_rank(process_group) if distributed else 0
    n = x.shape[0]
    begin, end = _row_range(n, rank, world)
    kw = dict(depth=depth, activation=activation, sigma_w2=sigma_w2, sigma_b2=sigma_b2,
              parameterization=parameterization)
    squeeze = y.dim() == 1
    rhs = y.unsqueeze(1) if squeeze else y

    def gather(local: Tensor) -> Tensor:
        if not distributed:
            return local
        per = (n + world - 1) // world
        padded = torch.zeros(per, local.shape[1], dtype=local.dtype, device=local.device)
        padded[: local.shape[0]] = local
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded, group=process_group)
        return torch.cat(parts)[:n]

    def matvec(v: Tensor) -> Tensor:
        local = fc_kernel_matmul(x[begin:end], x, v, kernel=kernel, block_size=block_size, **kw)
        return gather(local) + noise * v

    with torch.no_grad():
        diag = gather(fc_kernel(x[begin:end], depth=depth, activation=activation, sigma_w2=sigma_w2,
                                sigma_b2=sigma_b2, parameterization=parameterization, get=kernel,
                                diagonal=True).unsqueeze(1)) + noise
        solution = torch.zeros_like(rhs)
        residual = rhs.clone()
        z = residual / diag
        direction = z.clone()
        rz = (residual * z).sum(0)
        target = tol * rhs.norm(dim=0).clamp_min(torch.finfo(rhs.dtype).tiny)
        iterations = 0
        for iterations in range(1, max_iter + 1):
            product = matvec(direction)
            step = rz / (direction * product).sum(0)
            solution += step * direction
            residual -= step * product
            if bool((residual.norm(dim=0) <= target).all()):
                break
            z = residual / diag
            rz_next = (residual * z).sum(0)
            direction = z + (rz_next / rz) * direction
            rz = rz_next
    return (solution.squeeze(1) if squeeze else solution), iterations
