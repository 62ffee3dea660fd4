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
from typing import Callable, NamedTuple, Optional, Union

import torch
from torch import Tensor

from statmech import _C

_native = _C.meanfield

__all__ = [
    "Activation",
    "FixedPoint",
    "PhaseDiagram",
    "PHASES",
    "CRITICAL_REASONS",
    "CriticalLine",
    "CriticalCurve",
    "FixedPoints",
    "VarianceFixedPoint",
    "activation",
    "q_map",
    "c_map",
    "fixed_point",
    "critical_sigma_w2",
    "critical_point",
    "critical_line",
    "critical_curve",
    "phase_diagram",
    "susceptibilities",
    "gradient_growth",
    "residual_gradient_growth",
    "batchnorm_gradient_growth",
    "measure",
]

#: The activation type (native). Build one with :func:`activation`.
Activation = _native.Activation

#: Phase names, indexed by the integer codes of :attr:`PhaseDiagram.phase`.
PHASES = ("ordered", "critical", "chaotic", "diverging", "unstable")

#: Why :func:`critical_line` has no edge of chaos at an entry, indexed by ``CriticalLine.reason``:
#: 0 found; 1 chi_1 = 1 only at unstable fixed points; 2 no finite fixed point has chi_1 = 1
#: (diverging); 3 chi_1 = 1 at a stable fixed point that the network does not reach from q0.
CRITICAL_REASONS = ("found", "unstable", "diverging", "not_reached")

_PARAMETERS = {"leaky_relu": "negative_slope", "elu": "alpha"}

ActivationLike = Union[str, Activation, Callable[[Tensor], Tensor]]


def activation(name_or_callable: ActivationLike, *, kinks=(), jumps=(), **params) -> Activation:
    """An activation function for the calculator.

    Args:
        name_or_callable: a built-in name (``"linear", "relu", "leaky_relu", "abs", "step",
            "sign", "erf", "tanh", "sigmoid", "gelu", "silu", "softplus", "elu", "selu", "sin",
            "cos", "hard_tanh"``), or an element-wise callable mapping a 1-D float64 tensor to a
            tensor of the same shape. A callable must be twice differentiable by autograd (its
            derivatives are needed for chi_1 and for E[phi'' phi]); the quadrature assumes it is
            smooth, so kinked callables converge slowly: prefer the built-in names for those.
        kinks: for a callable, the points where it is continuous but its derivative jumps (e.g.
            ``[0.0, 6.0]`` for relu6): the quadrature is split there and E[phi'' phi] gains the
            Dirac terms that autograd's almost-everywhere derivative misses.
        jumps: for a callable, the points where it jumps itself (a step): split there too;
            E[phi'^2] is then infinite (chi_1 = inf) as for the built-in ``step``.
        **params: ``negative_slope`` for ``leaky_relu`` (default 0.01), ``alpha`` for ``elu``
            (default 1.0), as in ``torch.nn``.

    Example::

        >>> activation("leaky_relu", negative_slope=0.1)
        Activation(leaky_relu(negative_slope=0.1))
        >>> activation(lambda t: torch.tanh(t))
        Activation(<lambda> (custom))
    """
    if (kinks or jumps) and not (callable(name_or_callable) and not isinstance(name_or_callable, (str, Activation))):
        raise TypeError("activation: kinks= and jumps= are for callables; the built-in activations know theirs")
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
        return Activation.custom(
            fn, getattr(fn, "__name__", "custom"), [float(k) for k in kinks], [float(j) for j in jumps]
        )
    raise TypeError(
        f"activation: expected a name, an Activation or a callable, got {type(name_or_callable).__name__}; "
        f"valid names are {', '.join(Activation.names())}"
    )


def _resolve(act: ActivationLike) -> Activation:
    return activation(act)


@dataclass(frozen=True)
class VarianceFixedPoint:
    """One fixed point ``q`` of the variance map (a variance, sigma^2).

    Attributes:
        q: the fixed point (0 is one when ``sigma_b2 = 0`` and phi(0) = 0).
        slope: dq'/dq there.
        stable: the map crosses the diagonal downwards there (slope in [-1/2, 1]), so orbits settle.
        basin: ``(lo, hi)``: initial variances q0 strictly between flow here (exact for a
            non-decreasing q-map, which every built-in activation but sin and cos has; for those
            the orbit is followed instead); ``(q, q)`` for an unstable fixed point.
    """

    q: float
    slope: float
    stable: bool
    basin: tuple


@dataclass(frozen=True)
class FixedPoint:
    """The mean-field fixed point for one (sigma_w2, sigma_b2) (variances, sigma^2) that a network
    starting from the pre-activation variance ``q0`` reaches, and all the others.

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
            ``'diverging'`` (the variance grows without bound from q0) or ``'unstable'`` (q0 sits
            exactly on an unstable fixed point).
        q0: the first layer's pre-activation variance the network starts from.
        fixed_points: every fixed point of the variance map in increasing order
            (:class:`VarianceFixedPoint`, with stability and basin).
        reached: index into ``fixed_points`` of the one described above; None when the variance
            diverges from q0.
        dropout: the dropout probability the maps were computed with.
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
    q0: float = math.nan
    fixed_points: tuple = ()
    reached: Optional[int] = None
    dropout: float = 0.0

    @property
    def usable(self) -> bool:
        """True when the fixed point exists and is stable (not diverging or unstable)."""
        return self.stable and self.phase not in ("diverging", "unstable")

    def __repr__(self) -> str:
        head = f"FixedPoint(phase={self.phase!r}, sigma_w2={self.sigma_w2:.6g}, sigma_b2={self.sigma_b2:.6g}"
        if self.phase == "diverging":
            return head + f", q_star=inf: the variance grows without bound from q0={self.q0:.6g}; no usable fixed point{self._others()})"
        if self.phase == "unstable":
            return head + f", q_star={self.q_star:.6g}, stable=False: |dq'/dq| > 1 there; no usable fixed point)"
        return (
            head + f", q_star={self.q_star:.6g}, c_star={self.c_star:.6g}, chi_1={self.chi_1:.6g}, "
            f"chi_c={self.chi_c:.6g}, xi_q={self.xi_q:.6g}, xi_c={self.xi_c:.6g}{self._others()})"
        )

    def _others(self) -> str:
        if len(self.fixed_points) < 2:
            return ""
        parts = [f"{p.q:.6g} {'stable' if p.stable else 'unstable'}" for p in self.fixed_points]
        return f"; from q0={self.q0:.6g}, of the fixed points [{', '.join(parts)}]"


@dataclass(frozen=True)
class PhaseDiagram:
    """:func:`fixed_point` over a grid: every field is a float64 tensor ``[len(sigma_w2), len(sigma_b2)]``.

    ``phase`` holds int64 codes indexing :data:`PHASES` (0 ordered, 1 critical, 2 chaotic,
    3 diverging, 4 unstable) of the fixed point reached from q0; ``stable`` is a bool mask. Where not
    stable, the other fields are NaN (``q_star`` is ``inf`` where diverging). ``sigma_w2`` and
    ``sigma_b2`` are the float64 axes (variances, sigma^2). ``fixed_points`` (int64) counts the
    fixed points of the variance map (more than one: where the network goes depends on q0);
    ``unstable_critical`` marks where an unstable fixed point has chi_1 >= 1 while the network
    (from q0) is ordered or diverges: where the unstable branch of chi_1 = 1 runs.
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
    fixed_points: Optional[Tensor] = None
    unstable_critical: Optional[Tensor] = None

    def phase_names(self) -> list:
        """The phase of each grid point as nested lists of names."""
        return [[PHASES[int(code)] for code in row] for row in self.phase]


@dataclass(frozen=True)
class FixedPoints(PhaseDiagram):
    """:func:`fixed_point` on tensors of parameters: the fields of :class:`PhaseDiagram`, each of the
    broadcast shape of ``sigma_w2``, ``sigma_b2`` (and ``q0``); ``sigma_w2`` and ``sigma_b2`` are
    the broadcast parameters. ``chi_1`` and ``chi_c`` are the susceptibilities."""


class CriticalLine(NamedTuple):
    """:func:`critical_line` with ``return_reason=True``: float64 ``sigma_w2`` and ``q_star`` (NaN
    where there is no edge of chaos) and int64 ``reason`` codes indexing :data:`CRITICAL_REASONS`."""

    sigma_w2: Tensor
    q_star: Tensor
    reason: Tensor

    def reason_names(self) -> list:
        return [CRITICAL_REASONS[int(code)] for code in self.reason]


class CriticalCurve(NamedTuple):
    """:func:`critical_curve`: the closed-form curve chi_1 = 1 parameterised by q*, without the
    stability check: ``sigma_w2``, ``sigma_b2`` (negative where no bias variance gives that q*)
    and the variance map's ``slope`` at q* (> 1: the fixed point is unstable)."""

    sigma_w2: Tensor
    sigma_b2: Tensor
    slope: Tensor


def _any_tensor(*values) -> bool:
    return any(isinstance(v, Tensor) for v in values)


def _as_float64(x) -> Tensor:
    return torch.as_tensor(x, dtype=torch.float64).detach().cpu()


def _dropout(p) -> float:
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be a probability p in [0, 1) (the fraction zeroed, as nn.Dropout), got {p}")
    return p


def q_map(q, sigma_w2, sigma_b2, activation: ActivationLike, dropout: float = 0.0):
    """The variance map ``q -> sigma_w2 E[phi(sqrt(q) z)^2] / (1 - dropout) + sigma_b2``, z ~ N(0, 1).

    Args:
        q: pre-activation variance (sigma^2) > 0.
        sigma_w2: weight variance sigma_w^2 > 0 (of ``sqrt(fan_in) * W_ij``).
        sigma_b2: bias variance sigma_b^2 >= 0.
        activation: a name, an :class:`Activation` or a callable (see :func:`activation`).
        dropout: probability p of inverted dropout (``nn.Dropout(p)`` in training mode) on phi(h)
            before the weights: it divides the second moment by the keep probability 1 - p
            (Schoenholz et al. 2017, Sec. 5). Default 0.

    Any of ``q``, ``sigma_w2``, ``sigma_b2`` may be a tensor: they are broadcast together and the
    map runs element-wise in C++ (float64 result of the broadcast shape); with numbers only it
    returns a float.
    """
    act = _resolve(activation)
    p = _dropout(dropout)
    if _any_tensor(q, sigma_w2, sigma_b2):
        return _native.q_map_tensor(_as_float64(q), _as_float64(sigma_w2), _as_float64(sigma_b2), act, p)
    return _native.q_map(float(q), float(sigma_w2), float(sigma_b2), act, p)


def c_map(c, q, sigma_w2, sigma_b2, activation: ActivationLike, dropout: float = 0.0):
    """The correlation map: ``(sigma_w2 E[phi(u) phi(v)] + sigma_b2) / q_map(q)`` for u, v of
    variance q (sigma^2) and correlation c, clamped to [-1, 1] against rounding.

    At ``q = q*`` (see :func:`fixed_point`) this is the c-map of Poole et al. 2016. With
    ``dropout`` p (independent masks for the two inputs) the numerator is unchanged and the
    denominator is :func:`q_map` with dropout, so c = 1 maps below 1 and the fixed point c* < 1
    (Schoenholz et al. 2017, Sec. 5).

    Args:
        c: correlation in [-1, 1].
        q: pre-activation variance (sigma^2) > 0 of both inputs.
        sigma_w2, sigma_b2: weight and bias variances (sigma^2).
        activation: a name, an :class:`Activation` or a callable.
        dropout: dropout probability p in [0, 1).

    Tensors broadcast and run element-wise in C++, as for :func:`q_map`.
    """
    act = _resolve(activation)
    p = _dropout(dropout)
    if _any_tensor(c, q, sigma_w2, sigma_b2):
        return _native.c_map_tensor(
            _as_float64(c), _as_float64(q), _as_float64(sigma_w2), _as_float64(sigma_b2), act, p
        )
    return _native.c_map(float(c), float(q), float(sigma_w2), float(sigma_b2), act, p)


def _fixed_point_from_native(p) -> FixedPoint:
    points = tuple(VarianceFixedPoint(f.q, f.slope, f.stable, (f.basin_lo, f.basin_hi)) for f in p.fixed_points)
    return FixedPoint(
        p.sigma_w2, p.sigma_b2, p.q_star, p.stable, p.c_star, p.chi_1, p.chi_c, p.xi_q, p.xi_c, p.phase,
        p.q0, points, None if p.reached < 0 else int(p.reached), p.dropout,
    )


def _diagram_fields(d):
    return (d.q_star, d.c_star, d.chi_1, d.chi_c, d.xi_q, d.xi_c, d.phase, d.stable, d.fixed_points, d.unstable_critical)


def fixed_point(sigma_w2, sigma_b2, activation: ActivationLike, q0=None, dropout: float = 0.0):
    """All fixed points of the variance map, and the one a network starting from ``q0`` reaches,
    with its stability, c*, chi_1, chi_c and the depth scales.

    The q-map ``q' = sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2`` can have several fixed points (silu
    and gelu do for small sigma_b2: an ordered stable one and an unstable one above it, beyond which
    the variance diverges). Every one is reported in ``fixed_points`` with its stability and basin;
    the fields of the result describe the one reached from ``q0``.

    Args:
        sigma_w2: weight variance sigma_w^2 > 0 (variance of ``sqrt(fan_in) * W_ij``, not its std).
        sigma_b2: bias variance sigma_b^2 >= 0.
        activation: a name, an :class:`Activation` or a callable.
        q0: the variance of the first layer's pre-activations. Default ``None``:
            ``sigma_w2 * 1 + sigma_b2``, the first layer's variance for inputs whose mean squared
            entry is 1 (``|x|^2 = fan_in``, e.g. standardised data).
        dropout: probability p of inverted dropout on phi(h) before the weights (``nn.Dropout(p)``
            in training mode), as in :func:`q_map` and :func:`c_map`: q* is the fixed point of the
            map with sigma_w2 / (1 - p), chi_1 = sigma_w2 E[phi'^2] / (1 - p), and c = 1 is no
            longer a fixed point of the c-map, so c* < 1 and xi_c is finite everywhere: there is no
            edge of chaos with dropout (Schoenholz et al. 2017, Sec. 5).

    Returns:
        :class:`FixedPoint`. A diverging variance (``q_star = inf``) is reported in ``phase`` and
        ``stable``, with the derived fields NaN; check :attr:`FixedPoint.usable` before using the
        numbers. With a tensor among the arguments: :class:`FixedPoints`, element-wise over the
        broadcast parameters, computed in C++ (one moment table for all of them).

    Example::

        >>> fixed_point(1.0, 0.0, "tanh").phase
        'critical'
        >>> [p.stable for p in fixed_point(2.5, 0.0, "silu").fixed_points]
        [True, False]
    """
    act = _resolve(activation)
    p = _dropout(dropout)
    if _any_tensor(sigma_w2, sigma_b2, q0):
        d = _native.fixed_points_tensor(
            _as_float64(sigma_w2), _as_float64(sigma_b2), act, None if q0 is None else _as_float64(q0), p
        )
        return FixedPoints(d.sigma_w2, d.sigma_b2, *_diagram_fields(d))
    native = _native.fixed_point(float(sigma_w2), float(sigma_b2), act, None if q0 is None else float(q0), p)
    return _fixed_point_from_native(native)


def susceptibilities(sigma_w2, sigma_b2, activation: ActivationLike, q0=None, dropout: float = 0.0):
    """``(chi_1, chi_c)`` at the fixed point reached from ``q0`` (see :func:`fixed_point`, also for
    ``dropout``): the per-layer growth of squared gradients and the slope of the c-map at c*. Floats,
    or float64 tensors of the broadcast shape when a parameter is a tensor (NaN where the variance
    diverges)."""
    result = fixed_point(sigma_w2, sigma_b2, activation, q0, dropout)
    return result.chi_1, result.chi_c


def critical_sigma_w2(sigma_b2: float, activation: ActivationLike, q0: Optional[float] = None) -> float:
    """The weight variance sigma_w^2 on the edge of chaos for a bias variance sigma_b^2: chi_1 = 1
    at a STABLE fixed point of the variance map that a network starting from ``q0`` reaches.

    Candidates come from the closed-form parameterisation of chi_1 = 1 by q* (see
    :func:`critical_point`); each is kept only if the variance map's slope there,
    ``1 + sigma_w2 E[phi'' phi]``, is at most 1 and q0 lies in its basin. Raises ``RuntimeError``
    otherwise, naming the activation and sigma_b2, why (unstable: silu and gelu at small sigma_b2;
    diverging: relu with ``sigma_b2 > 0``; not reached) and the sigma_b2 ranges where a stable edge
    of chaos exists.

    Args:
        sigma_b2: bias variance sigma_b^2 >= 0.
        activation: a name, an :class:`Activation` or a callable.
        q0: first-layer pre-activation variance; default ``sigma_w2 + sigma_b2`` for the candidate
            sigma_w2 (inputs of mean squared entry 1), as in :func:`fixed_point`.
    """
    return _native.critical_sigma_w2(float(sigma_b2), _resolve(activation), None if q0 is None else float(q0))


def critical_point(q_star: float, activation: ActivationLike, q0: Optional[float] = None) -> tuple:
    """``(sigma_w2, sigma_b2)`` (variances) whose fixed point is ``q_star`` and critical.

    Closed form: ``sigma_w2 = 1 / E[phi'^2]``, ``sigma_b2 = q* - sigma_w2 E[phi^2]``, both at
    variance ``q_star``. Raises when that ``sigma_b2`` would be negative, when ``q_star`` is an
    unstable fixed point there, or when a network starting from ``q0`` (default
    ``sigma_w2 + sigma_b2``) does not reach it.

    Args:
        q_star: the desired fixed-point variance (sigma^2) > 0.
        activation: a name, an :class:`Activation` or a callable.
        q0: first-layer pre-activation variance (see :func:`fixed_point`).
    """
    return tuple(_native.critical_point(float(q_star), _resolve(activation), None if q0 is None else float(q0)))


def critical_line(sigma_b2, activation: ActivationLike, q0: Optional[float] = None, return_reason: bool = False):
    """:func:`critical_sigma_w2` at every bias variance sigma_b^2 (sigma^2, not sigma) of a 1-D
    tensor (or sequence), in C++ with one moment table for all of them.

    Returns:
        float64 tensor of the critical weight variances sigma_w^2, NaN where there is no stable edge
        of chaos reached from ``q0``. With ``return_reason=True`` a :class:`CriticalLine`
        ``(sigma_w2, q_star, reason)``; ``reason`` indexes :data:`CRITICAL_REASONS`.
    """
    b = torch.as_tensor(sigma_b2, dtype=torch.float64)
    line = _native.critical_line_with_reasons(b, _resolve(activation), None if q0 is None else float(q0))
    if return_reason:
        return CriticalLine(line.sigma_w2, line.q_star, line.reason)
    return line.sigma_w2


def critical_curve(q_star, activation: ActivationLike) -> CriticalCurve:
    """The curve chi_1 = 1 parameterised by q* (a 1-D tensor or sequence of variances > 0) in closed
    form, WITHOUT the stability check, for plots: see :class:`CriticalCurve`."""
    c = _native.critical_curve(torch.as_tensor(q_star, dtype=torch.float64), _resolve(activation))
    return CriticalCurve(c.sigma_w2, c.sigma_b2, c.slope)


def phase_diagram(sigma_w2, sigma_b2, activation: ActivationLike, q0: Optional[float] = None) -> PhaseDiagram:
    """:func:`fixed_point` on the grid ``sigma_w2 x sigma_b2`` (1-D tensors or sequences of
    variances, sigma^2 not sigma: weight variances > 0, bias variances >= 0).

    Args:
        q0: first-layer pre-activation variance; default ``sigma_w2 + sigma_b2`` at each point.

    Returns:
        :class:`PhaseDiagram` of float64 tensors ``[len(sigma_w2), len(sigma_b2)]``, with the
        number of fixed points and the unstable-critical region. Built-in activations use all of
        torch's intra-op threads; a callable runs on the calling thread.
    """
    w = torch.as_tensor(sigma_w2, dtype=torch.float64)
    b = torch.as_tensor(sigma_b2, dtype=torch.float64)
    d = _native.phase_diagram(w, b, _resolve(activation), None if q0 is None else float(q0))
    return PhaseDiagram(d.sigma_w2, d.sigma_b2, *_diagram_fields(d))


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
    """Per-layer growth of squared gradients in a batch-normalised network,
    ``h = W x, z = BN(h), x' = phi(z)``: ``E[phi'(z)^2] / Var[phi(z)]`` with z ~ N(0, 1).

    Yang et al. 2019, "A mean field theory of batch normalization": in the large width and large
    batch limit each unit's BN output is standard normal over the batch, and gradients explode at
    this rate whatever the weight and bias variances (batch norm removes the weight scale). relu
    gives their closed form pi / (pi - 1) ~ 1.467; by the Gaussian Poincare inequality the rate is
    >= 1 for every activation, with equality only for a linear one. Takes no variances.

    Args:
        activation: any activation of the core (a name, an :class:`Activation` or a callable).
    """
    return _native.batchnorm_gradient_growth(_resolve(activation))


# The measured counterpart of the maps above (lives in statmech/diagnostics.py, which imports this
# module only when called, so there is no import cycle).
from statmech.diagnostics import measure  # noqa: E402


# Kernel shaping (DKS / TAT) lives in its own file; it is part of this module's surface.
from statmech._kernel_shaping import ActivationTransform, LocalMaps, dks, local_maps, tat  # noqa: E402

__all__ += ["ActivationTransform", "LocalMaps", "dks", "tat", "local_maps"]
