"""Functional form of the NNGP / NTK kernel operators (``torch.ops.statmech.fc_kernel*``)."""

from typing import Any, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

__all__ = ["fc_kernel", "fc_kernel_matmul"]

# Built-in activations by how the kernel operators evaluate them (see fc_kernel).
CLOSED_FORM_ACTIVATIONS = ("linear", "relu", "leaky_relu", "abs", "step", "sign", "erf", "sin", "cos")
SERIES_ACTIVATIONS = ("tanh", "sigmoid", "gelu", "silu", "softplus")
QUADRATURE_ACTIVATIONS = ("elu", "selu", "hard_tanh")


def resolve_activation(activation: Any, activation_parameter: Optional[float], op: str = "fc_kernel"):
    """``(name, parameter, custom)``: a built-in activation as its name and parameter (custom None),
    or a user-defined one as a :class:`statmech.meanfield.Activation` in ``custom``."""
    if isinstance(activation, str):
        return activation, activation_parameter, None
    from statmech.meanfield import activation as make_activation

    try:
        resolved = make_activation(activation)
    except TypeError as error:
        raise TypeError(f"{op}: activation must be a name, a statmech.meanfield.Activation or a callable ({error})") from error
    if resolved.is_custom:
        if activation_parameter is not None:
            raise ValueError(f"{op}: activation_parameter is for leaky_relu and elu, not a custom activation")
        return resolved.name, None, resolved
    if activation_parameter is not None:
        raise ValueError(f"{op}: activation_parameter given together with an Activation object {resolved!r}; "
                         "its parameter is part of it")
    parameter = resolved.parameter if resolved.name in ("leaky_relu", "elu") else None
    return resolved.name, parameter, None

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
    activation: Any,
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

    How each activation is evaluated (every activation of the dual-activation core):

    - closed forms per entry: linear, relu, leaky_relu, abs, step, sign, erf, sin, cos;
    - Hermite series with per-row coefficients: tanh, sigmoid, gelu, silu, softplus;
    - the slow path (float64 inside whatever the dtype): elu, selu, hard_tanh — their kinks make
      the Hermite series converge too slowly near |c| = 1 — and user-defined activations. Entries
      where the series' rigorous remainder bound allows (|c| below ~0.9) use it with per-row
      coefficients; the others, conditional quadrature (~60 us per entry and layer on one core;
      N = M = 256, depth 3: 0.7 s forward, 2 s with the backward). For each entry the outer Gaussian
      integral is a composite Gauss-Legendre rule split at the kinks and graded towards |c| = 1;
      the inner one is a closed form in the normal CDF for the built-ins and a composite rule for
      a custom activation. Accurate to ~1e-13 relative (measured against nested adaptive
      quadrature). CUDA inputs are computed on the CPU and copied back.
    - a callable or a :func:`statmech.meanfield.activation` object (``activation(fn, kinks=...)``):
      evaluated eagerly by the same quadrature, serially on the calling thread (a Python function
      takes the interpreter lock), a few ms per entry and layer: meant for small N. It is not an
      operator (no TorchScript or ``torch.compile``) and activations with ``jumps`` are refused.
      Declare the kinks, or the derivatives of the kernel are off by the Dirac terms of phi''.

    hard_tanh's NTK has a kink at duplicate rows (x_i = x_j, i != j: its k-dot at correlation 1
    is not differentiable in the two rows' variances); there its gradient is the mean of the
    one-sided derivatives. The diagonal (x1 = x2, the same row) is differentiable.

    Args:
        x1: ``[N, d]`` inputs.
        x2: ``[M, d]`` inputs, or ``None`` for ``x2 = x1`` (then the CPU kernel computes only half the entries).
        depth: number of nonlinearities (>= 0).
        activation: a name: ``"relu"``, ``"leaky_relu"``, ``"abs"``, ``"erf"``, ``"step"``,
            ``"sign"``, ``"linear"``, ``"sin"``, ``"cos"`` (closed forms), ``"tanh"``,
            ``"sigmoid"``, ``"gelu"``, ``"silu"``, ``"softplus"`` (Hermite series), ``"elu"``,
            ``"selu"``, ``"hard_tanh"`` (quadrature); a :class:`statmech.meanfield.Activation`;
            or an element-wise callable (see above).
        sigma_w2, sigma_b2: weight and bias variances, floats or 0-d tensors (differentiable).
        parameterization: ``"ntk"`` or ``"standard"``.
        get: ``"nngp"``, ``"ntk"`` or a sequence of them; the kernels are returned in that order.
        diagonal: return only the diagonals ``[N]`` (with ``x2``: pairs ``(x1[i], x2[i])``).
        activation_parameter: leaky_relu's negative slope (default 0.01) or elu's alpha (default 1).
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
    name, parameter, custom = resolve_activation(activation, activation_parameter)
    if custom is not None:
        from statmech import _C

        out = _C.gp.fc_kernel_activation(
            x1, x2, _variance(sigma_w2, x1), _variance(sigma_b2, x1), depth, custom, parameterization,
            float(width), "nngp" in names, "ntk" in names, diagonal)
    else:
        out = torch.ops.statmech.fc_kernel(
            x1, x2, _variance(sigma_w2, x1), _variance(sigma_b2, x1), depth, name,
            parameter, parameterization, float(width), "nngp" in names, "ntk" in names, diagonal)
    order = [n for n in _KERNELS if n in names]
    results = [out[order.index(name)] for name in names]
    return results[0] if isinstance(get, str) else tuple(results)


def fc_kernel_matmul(
    x1: Tensor,
    x2: Optional[Tensor],
    v: Tensor,
    *,
    depth: int,
    activation: Any,
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
    name, parameter, custom = resolve_activation(activation, activation_parameter, "fc_kernel_matmul")
    if custom is not None:
        raise TypeError("fc_kernel_matmul: custom activations are not supported (it is an operator, which takes "
                        "built-in activations by name); use fc_kernel, or a built-in activation")
    return torch.ops.statmech.fc_kernel_matmul(
        x1, x2, v, _variance(sigma_w2, x1), _variance(sigma_b2, x1), depth, name,
        parameter, parameterization, float(width), kernel, block_size)
