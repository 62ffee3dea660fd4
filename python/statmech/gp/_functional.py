"""Functional form of the NNGP / NTK kernel operators (``torch.ops.statmech.fc_kernel*``)."""

from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

__all__ = ["fc_kernel", "fc_kernel_matmul"]

_KERNELS = ("nngp", "ntk")


def _variance(value: Union[float, Tensor], like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return torch.tensor(float(value), dtype=like.dtype, device=like.device)


def fc_kernel(
    x1: Tensor,
    x2: Optional[Tensor] = None,
    *,
    depth: int,
    activation: str,
    sigma_w2: Union[float, Tensor],
    sigma_b2: Union[float, Tensor],
    parameterization: str = "ntk",
    get: Union[str, Sequence[str]] = ("nngp", "ntk"),
    diagonal: bool = False,
    activation_parameter: Optional[float] = None,
    width: float = 1.0,
) -> Union[Tensor, Tuple[Tensor, ...]]:
    r"""Infinite-width NNGP and NTK kernels of a fully connected network.

    The network is ``[Dense, phi] * depth + Dense`` with weights :math:`N(0, \sigma_w^2/\text{fan\_in})`
    and biases :math:`N(0, \sigma_b^2)`. ``sigma_w2`` and ``sigma_b2`` are **variances**
    (:math:`\sigma^2`, as in :mod:`statmech.meanfield`), ``depth`` is the number of nonlinearities.
    For inputs :math:`x, x'` with :math:`d` features and the dual activation
    :math:`k = E[\phi(u)\phi(v)]`, :math:`\dot k = E[\phi'(u)\phi'(v)]`:

    .. math::
        S^0 = \sigma_w^2\, x\cdot x'/d + \sigma_b^2,\qquad
        S^{l+1} = \sigma_w^2\, k(q^l, q'^l, S^l) + \sigma_b^2

    and, for ``parameterization="ntk"`` (equal to neural-tangents'
    ``stax.serial(*[Dense(W_std=sqrt(sigma_w2), b_std=sqrt(sigma_b2)), phi] * depth, Dense(...))``):

    .. math::
        \Theta^0 = S^0,\qquad \Theta^{l+1} = S^{l+1} + \sigma_w^2\, \dot k^l\, \Theta^l,

    for ``parameterization="standard"`` (Sohl-Dickstein et al. 2020; gradients with respect to the
    weights themselves, hidden width :math:`n` = ``width``):

    .. math::
        \Theta^0 = x\cdot x' + 1,\qquad \Theta^{l+1} = n\, k^l + 1 + \sigma_w^2\, \dot k^l\, \Theta^l.

    The NNGP is the same in both.

    Evaluation is fused across layers: a first pass computes each row's variance :math:`q^l`
    (and, for tanh, sigmoid, gelu, silu, softplus, Hermite coefficients per row and layer with a
    per-row truncation); then every entry runs all layers at once. Memory is the returned kernels
    plus O((N + M) depth).

    Args:
        x1: ``[N, d]`` inputs.
        x2: ``[M, d]`` inputs, or ``None`` for ``x2 = x1`` (then only half the entries are computed).
        depth: number of nonlinearities (>= 0).
        activation: ``"relu"``, ``"leaky_relu"``, ``"abs"``, ``"erf"``, ``"step"``, ``"sign"``,
            ``"linear"``, ``"sin"``, ``"cos"`` (closed forms) or ``"tanh"``, ``"sigmoid"``,
            ``"gelu"``, ``"silu"``, ``"softplus"`` (Hermite series).
        sigma_w2, sigma_b2: weight and bias variances, floats or 0-d tensors (differentiable).
        parameterization: ``"ntk"`` or ``"standard"``.
        get: ``"nngp"``, ``"ntk"`` or a sequence of them; the kernels are returned in that order.
        diagonal: return only the diagonals ``[N]`` (with ``x2``: pairs ``(x1[i], x2[i])``).
        activation_parameter: leaky_relu's negative slope (default 0.01).
        width: hidden width :math:`n` of the standard parameterisation's NTK.

    Returns:
        ``[N, M]`` (``[N]`` with ``diagonal``) for a single name in ``get``, else a tuple.

    Differentiable with respect to ``x1``, ``x2``, ``sigma_w2`` and ``sigma_b2`` (hand-written
    backward, finite at correlation +-1).
    """
    names: List[str] = [get] if isinstance(get, str) else list(get)
    for name in names:
        if name not in _KERNELS:
            raise ValueError(f"fc_kernel: get must name 'nngp' and/or 'ntk', got {get!r}")
    if len(names) == 0:
        raise ValueError("fc_kernel: get must name at least one kernel")
    out = torch.ops.statmech.fc_kernel(
        x1, x2, _variance(sigma_w2, x1), _variance(sigma_b2, x1), depth, activation,
        activation_parameter, parameterization, float(width), "nngp" in names, "ntk" in names, diagonal)
    order = [n for n in _KERNELS if n in names]
    results = [out[order.index(name)] for name in names]
    return results[0] if isinstance(get, str) else tuple(results)


def fc_kernel_matmul(
    x1: Tensor,
    x2: Optional[Tensor],
    v: Tensor,
    *,
    depth: int,
    activation: str,
    sigma_w2: Union[float, Tensor],
    sigma_b2: Union[float, Tensor],
    parameterization: str = "ntk",
    kernel: str = "ntk",
    block_size: int = 0,
    activation_parameter: Optional[float] = None,
    width: float = 1.0,
) -> Tensor:
    r"""``K(x1, x2) @ v`` without materialising ``K``: rows of ``x1`` are taken ``block_size`` at a
    time (0: automatic, about 64 MiB of kernel per block).

    Args:
        x1: ``[N, d]``; x2: ``[M, d]`` or ``None`` (``x1``); v: ``[M]`` or ``[M, k]``.
        kernel: ``"nngp"`` or ``"ntk"``; the other arguments as :func:`fc_kernel`.

    Returns:
        ``[N]`` or ``[N, k]``. Differentiable in every tensor argument.
    """
    return torch.ops.statmech.fc_kernel_matmul(
        x1, x2, v, _variance(sigma_w2, x1), _variance(sigma_b2, x1), depth, activation,
        activation_parameter, parameterization, float(width), kernel, block_size)
