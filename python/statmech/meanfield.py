"""Mean-field theory of deep random networks: the signal-propagation calculator.

For a network ``h^l = W^l phi(h^{l-1}) + b^l`` with ``W_ij ~ N(0, sigma_w2 / fan_in)`` and
``b_i ~ N(0, sigma_b2)``, infinitely wide, the pre-activation variance ``q`` and the correlation
``c`` of two inputs follow deterministic maps (Poole et al. 2016; Schoenholz et al. 2017). This
module computes those maps, their fixed points, the order-to-chaos transition, the depth scales and
the per-layer growth of squared gradients.

**Every variance here is sigma^2, never sigma**: ``sigma_w2`` is the variance of
``sqrt(fan_in) * W_ij`` (2.0 for He/Kaiming init with relu, i.e. ``calculate_gain('relu')**2``),
``sigma_b2`` the variance of the biases, ``q`` the variance of a pre-activation. (neural-tangents
takes standard deviations ``W_std``, ``b_std``; pass their squares here.)

Activations are given by name (``"tanh"``), as ``activation("leaky_relu", negative_slope=0.1)``, or
as any element-wise callable on tensors (``activation(lambda t: torch.tanh(t))``), whose derivatives
are taken by autograd. The Gaussian expectations behind every number come from the shared
dual-activation core (closed forms where they exist, otherwise a Hermite series with a rigorous
remainder bound or 2-D quadrature; float64, relative error ~1e-13 for the built-in activations).

Example::

    >>> from statmech import meanfield
    >>> meanfield.fixed_point(2.0, 0.0, "relu").phase
    'critical'
    >>> meanfield.critical_sigma_w2(0.05, "tanh")   # the edge of chaos at sigma_b2 = 0.05
    1.76...
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Union

import torch
from torch import Tensor

from statmech import _C

_native = _C.meanfield

__all__ = [
    "Activation",
    "FixedPoint",
    "PhaseDiagram",
    "PHASES",
    "activation",
    "q_map",
    "c_map",
    "fixed_point",
    "critical_sigma_w2",
    "critical_point",
    "critical_line",
    "phase_diagram",
    "gradient_growth",
    "residual_gradient_growth",
    "batchnorm_gradient_growth",
    "measure",
]

#: The activation type (native). Build one with :func:`activation`.
Activation = _native.Activation

#: Phase names, indexed by the integer codes of :attr:`PhaseDiagram.phase`.
PHASES = ("ordered", "critical", "chaotic", "diverging", "unstable")

_PARAMETERS = {"leaky_relu": "negative_slope", "elu": "alpha"}

ActivationLike = Union[str, Activation, Callable[[Tensor], Tensor]]


def activation(name_or_callable: ActivationLike, **params) -> Activation:
    """An activation function for the calculator.

    Args:
        name_or_callable: a built-in name (``"linear", "relu", "leaky_relu", "abs", "step",
            "sign", "erf", "tanh", "sigmoid", "gelu", "silu", "softplus", "elu", "selu", "sin",
            "cos", "hard_tanh"``), or an element-wise callable mapping a 1-D float64 tensor to a
            tensor of the same shape. A callable must be twice differentiable by autograd (its
            derivatives are needed for chi_1 and for E[phi'' phi]); the quadrature assumes it is
            smooth, so kinked callables converge slowly: prefer the built-in names for those.
        **params: ``negative_slope`` for ``leaky_relu`` (default 0.01), ``alpha`` for ``elu``
            (default 1.0), as in ``torch.nn``.

    Example::

        >>> activation("leaky_relu", negative_slope=0.1)
        Activation(leaky_relu(negative_slope=0.1))
        >>> activation(lambda t: torch.tanh(t))
        Activation(<lambda> (custom))
    """
    if isinstance(name_or_callable, Activation):
        if params:
            raise TypeError(f"activation: parameters {sorted(params)} given for an existing {name_or_callable!r}")
        return name_or_callable
    if isinstance(name_or_callable, str):
        name = name_or_callable
        allowed = _PARAMETERS.get(name)
        unknown = sorted(set(params) - ({allowed} if allowed else set()))
        if unknown:
            hint = f"it takes only {allowed!r}" if allowed else "it takes no parameters"
            raise TypeError(f"activation: unexpected parameter(s) {unknown} for {name!r}; {hint}")
        if name == "leaky_relu":
            return Activation.leaky_relu(float(params.get("negative_slope", 0.01)))
        if name == "elu":
            return Activation.elu(float(params.get("alpha", 1.0)))
        return Activation.named(name)
    if callable(name_or_callable):
        if params:
            raise TypeError(f"activation: a callable takes no parameters, got {sorted(params)}")
        fn = name_or_callable
        return Activation.custom(fn, getattr(fn, "__name__", "custom"))
    raise TypeError(
        f"activation: expected a name, an Activation or a callable, got {type(name_or_callable).__name__}; "
        f"valid names are {', '.join(Activation.names())}"
    )


def _resolve(act: ActivationLike) -> Activation:
    return activation(act)


@dataclass(frozen=True)
class FixedPoint:
    """The mean-field fixed point for one (sigma_w2, sigma_b2) (variances, sigma^2).

    Attributes:
        sigma_w2, sigma_b2: the weight and bias variances it was computed for.
        q_star: fixed point of the variance map (``inf`` when ``phase == 'diverging'``).
        stable: whether ``|dq'/dq| <= 1`` at ``q_star``. When False (phases ``'diverging'`` and
            ``'unstable'``) all other fields are NaN: nothing here is usable as an initialisation.
        c_star: stable fixed point of the correlation map (1 in the ordered phase).
        chi_1: ``sigma_w2 E[phi'(sqrt(q*) z)^2]``, the per-layer growth of squared gradients.
        chi_c: slope of the correlation map at ``c_star``.
        xi_q: ``-1 / ln(sigma_w2 (E[phi'^2] + E[phi'' phi]))``, depth scale of the variance.
        xi_c: ``-1 / ln(chi_c)``, depth scale of correlations; ``inf`` at criticality.
        phase: ``'ordered'`` (chi_1 < 1), ``'critical'`` (chi_1 = 1), ``'chaotic'`` (chi_1 > 1),
            ``'diverging'`` (the variance grows without bound) or ``'unstable'``.
    """

    sigma_w2: float
    sigma_b2: float
    q_star: float
    stable: bool
    c_star: float
    chi_1: float
    chi_c: float
    xi_q: float
    xi_c: float
    phase: str

    @property
    def usable(self) -> bool:
        """True when the fixed point exists and is stable (not diverging or unstable)."""
        return self.stable and self.phase not in ("diverging", "unstable")

    def __repr__(self) -> str:
        head = f"FixedPoint(phase={self.phase!r}, sigma_w2={self.sigma_w2:.6g}, sigma_b2={self.sigma_b2:.6g}"
        if self.phase == "diverging":
            return head + ", q_star=inf: the variance grows without bound; no usable fixed point)"
        if self.phase == "unstable":
            return head + f", q_star={self.q_star:.6g}, stable=False: |dq'/dq| > 1 there; no usable fixed point)"
        return (
            head + f", q_star={self.q_star:.6g}, c_star={self.c_star:.6g}, chi_1={self.chi_1:.6g}, "
            f"chi_c={self.chi_c:.6g}, xi_q={self.xi_q:.6g}, xi_c={self.xi_c:.6g})"
        )


@dataclass(frozen=True)
class PhaseDiagram:
    """:func:`fixed_point` over a grid: every field is a float64 tensor ``[len(sigma_w2), len(sigma_b2)]``.

    ``phase`` holds int64 codes indexing :data:`PHASES` (0 ordered, 1 critical, 2 chaotic,
    3 diverging, 4 unstable); ``stable`` is a bool mask. Where not stable, the other fields are NaN
    (``q_star`` is ``inf`` where diverging). ``sigma_w2`` and ``sigma_b2`` are the float64 axes
    (variances, sigma^2).
    """

    sigma_w2: Tensor
    sigma_b2: Tensor
    q_star: Tensor
    c_star: Tensor
    chi_1: Tensor
    chi_c: Tensor
    xi_q: Tensor
    xi_c: Tensor
    phase: Tensor
    stable: Tensor

    def phase_names(self) -> list:
        """The phase of each grid point as nested lists of names."""
        return [[PHASES[int(code)] for code in row] for row in self.phase]


def _elementwise(fn, x):
    """fn on a float or element by element on a tensor (float64 result of the same shape)."""
    if isinstance(x, Tensor):
        flat = x.detach().to("cpu", torch.float64).reshape(-1)
        out = torch.tensor([fn(float(v)) for v in flat.tolist()], dtype=torch.float64)
        return out.reshape(x.shape)
    return fn(float(x))


def q_map(q, sigma_w2: float, sigma_b2: float, activation: ActivationLike):
    """The variance map ``q -> sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2``, z ~ N(0, 1).

    Args:
        q: pre-activation variance (sigma^2) > 0; a float, or a tensor (applied element-wise,
            float64 result of the same shape).
        sigma_w2: weight variance sigma_w^2 > 0 (of ``sqrt(fan_in) * W_ij``).
        sigma_b2: bias variance sigma_b^2 >= 0.
        activation: a name, an :class:`Activation` or a callable (see :func:`activation`).
    """
    act = _resolve(activation)
    return _elementwise(lambda v: _native.q_map(v, float(sigma_w2), float(sigma_b2), act), q)


def c_map(c, q: float, sigma_w2: float, sigma_b2: float, activation: ActivationLike):
    """The correlation map: ``(sigma_w2 E[phi(u) phi(v)] + sigma_b2) / q_map(q)`` for u, v of
    variance q (sigma^2) and correlation c.

    At ``q = q*`` (see :func:`fixed_point`) this is the c-map of Poole et al. 2016.

    Args:
        c: correlation in [-1, 1]; a float, or a tensor (element-wise, float64 result).
        q: pre-activation variance (sigma^2) > 0 of both inputs.
        sigma_w2, sigma_b2: weight and bias variances (sigma^2).
        activation: a name, an :class:`Activation` or a callable.
    """
    act = _resolve(activation)
    return _elementwise(lambda v: _native.c_map(v, float(q), float(sigma_w2), float(sigma_b2), act), c)


def _fixed_point_from_native(p) -> FixedPoint:
    return FixedPoint(p.sigma_w2, p.sigma_b2, p.q_star, p.stable, p.c_star, p.chi_1, p.chi_c, p.xi_q, p.xi_c, p.phase)


def fixed_point(sigma_w2: float, sigma_b2: float, activation: ActivationLike) -> FixedPoint:
    """The fixed point q* of the variance map, its stability, c*, chi_1, chi_c and the depth scales.

    Args:
        sigma_w2: weight variance sigma_w^2 > 0 (variance of ``sqrt(fan_in) * W_ij``, not its std).
        sigma_b2: bias variance sigma_b^2 >= 0.
        activation: a name, an :class:`Activation` or a callable.

    Returns:
        :class:`FixedPoint`. A diverging variance (``q_star = inf``) or an unstable fixed point is
        reported in ``phase`` and ``stable``, with the derived fields NaN; check
        :attr:`FixedPoint.usable` before using the numbers.

    Example::

        >>> fixed_point(1.0, 0.0, "tanh").phase
        'critical'
    """
    return _fixed_point_from_native(_native.fixed_point(float(sigma_w2), float(sigma_b2), _resolve(activation)))


def critical_sigma_w2(sigma_b2: float, activation: ActivationLike) -> float:
    """The weight variance sigma_w^2 on the edge of chaos (chi_1 = 1) for a bias variance sigma_b^2.

    Found by root finding along the closed-form parameterisation of the critical line by q*
    (see :func:`critical_point`). Raises when no critical point with finite q* exists (e.g. relu
    with ``sigma_b2 > 0``: its critical line is ``sigma_b2 = 0``, ``sigma_w2 = 2``).

    Args:
        sigma_b2: bias variance sigma_b^2 >= 0.
        activation: a name, an :class:`Activation` or a callable.
    """
    return _native.critical_sigma_w2(float(sigma_b2), _resolve(activation))


def critical_point(q_star: float, activation: ActivationLike) -> tuple:
    """``(sigma_w2, sigma_b2)`` (variances) whose fixed point is ``q_star`` and critical.

    Closed form: ``sigma_w2 = 1 / E[phi'^2]``, ``sigma_b2 = q* - sigma_w2 E[phi^2]``, both at
    variance ``q_star``. Raises when that ``sigma_b2`` would be negative.

    Args:
        q_star: the desired fixed-point variance (sigma^2) > 0.
        activation: a name, an :class:`Activation` or a callable.
    """
    return tuple(_native.critical_point(float(q_star), _resolve(activation)))


def critical_line(sigma_b2, activation: ActivationLike) -> Tensor:
    """:func:`critical_sigma_w2` at every bias variance sigma_b^2 (sigma^2, not sigma) of a 1-D
    tensor (or sequence).

    Returns:
        float64 tensor of the critical weight variances sigma_w^2, same length as ``sigma_b2``.
    """
    sigma_b2 = torch.as_tensor(sigma_b2, dtype=torch.float64)
    return _native.critical_line(sigma_b2, _resolve(activation))


def phase_diagram(sigma_w2, sigma_b2, activation: ActivationLike) -> PhaseDiagram:
    """:func:`fixed_point` on the grid ``sigma_w2 x sigma_b2`` (1-D tensors or sequences of
    variances, sigma^2 not sigma: weight variances > 0, bias variances >= 0).

    Returns:
        :class:`PhaseDiagram` of float64 tensors ``[len(sigma_w2), len(sigma_b2)]``. Built-in
        activations use all of torch's intra-op threads; a callable runs on the calling thread.
    """
    w = torch.as_tensor(sigma_w2, dtype=torch.float64)
    b = torch.as_tensor(sigma_b2, dtype=torch.float64)
    d = _native.phase_diagram(w, b, _resolve(activation))
    return PhaseDiagram(d.sigma_w2, d.sigma_b2, d.q_star, d.c_star, d.chi_1, d.chi_c, d.xi_q, d.xi_c, d.phase, d.stable)


def gradient_growth(sigma_w2: float, sigma_b2: float, activation: ActivationLike) -> float:
    """Per-layer growth factor of squared gradient norms in a plain deep network: chi_1 at q*.

    ``E|dL/dh^l|^2 = chi_1 E|dL/dh^{l+1}|^2`` (Schoenholz et al. 2017, eq. 12); > 1 explodes, < 1
    vanishes. Raises when the fixed point is diverging or unstable. Variances are sigma^2.
    """
    return _native.gradient_growth(float(sigma_w2), float(sigma_b2), _resolve(activation))


def residual_gradient_growth(
    sigma_w2: float,
    sigma_b2: float,
    activation: ActivationLike,
    depth: int,
    sigma_v2: float = 1.0,
    sigma_a2: float = 0.0,
    p0: float = 1.0,
) -> Tensor:
    """Per-layer growth of squared gradients in a full residual network (Yang & Schoenholz 2017).

    The network (their Sec. 3): ``h^l = W^l x^{l-1} + b^l``, ``x^l = V^l phi(h^l) + a^l + x^{l-1}``
    with variances (sigma^2, per fan-in) ``sigma_w2`` for W, ``sigma_v2`` for V, ``sigma_b2`` and
    ``sigma_a2`` for the biases, and ``p0 = |x^0|^2 / N``. The mean-field recursion
    ``q^l = sigma_w2 p^{l-1} + sigma_b2``, ``p^l = p^{l-1} + sigma_v2 E[phi(sqrt(q^l) z)^2] + sigma_a2``
    has no fixed point, so the growth depends on the layer:
    ``chi^{l-1} / chi^l = 1 + sigma_v2 sigma_w2 E[phi'(sqrt(q^l) z)^2]``.

    Returns:
        float64 tensor ``[depth]`` of those factors for l = 1..depth; their product is the total
        growth of ``E|dL/dx^0|^2 / E|dL/dx^depth|^2``.
    """
    return _native.residual_gradient_growth(
        float(sigma_w2), float(sigma_b2), _resolve(activation), int(depth), float(sigma_v2), float(sigma_a2), float(p0)
    )


def batchnorm_gradient_growth(activation: ActivationLike = "relu") -> float:
    """Per-layer growth of squared gradients with batch norm before relu: pi / (pi - 1) ~ 1.467.

    Takes no variances: the rate is the same for every weight and bias variance (sigma^2).

    Yang et al. 2019, "A mean field theory of batch normalization": in the large width and large
    batch limit, gradients explode at this rate whatever the weight and bias variances (batch norm
    removes the weight scale). Only relu has this closed form; other activations raise.
    """
    return _native.batchnorm_gradient_growth(_resolve(activation))


# The measured counterpart of the maps above (lives in statmech/diagnostics.py, which imports this
# module only when called, so there is no import cycle).
from statmech.diagnostics import measure  # noqa: E402


# Kernel shaping (DKS / TAT) lives in its own file; it is part of this module's surface.
from statmech._kernel_shaping import ActivationTransform, LocalMaps, dks, local_maps, tat  # noqa: E402

__all__ += ["ActivationTransform", "LocalMaps", "dks", "tat", "local_maps"]
