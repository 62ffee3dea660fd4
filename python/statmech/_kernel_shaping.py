r"""Kernel shaping: Deep Kernel Shaping (DKS) and Tailored Activation Transformations (TAT).

Re-exported by :mod:`statmech.meanfield` (``meanfield.dks``, ``meanfield.tat``).

Both methods replace an activation :math:`\phi` by

.. math::
    \hat\phi(x) = \gamma\,\big(\phi(\alpha x + \beta) + \delta\big)

(``output_scale`` :math:`\gamma`, ``input_scale`` :math:`\alpha`, ``input_shift`` :math:`\beta`,
``output_shift`` :math:`\delta`) so that the whole network's variance and correlation maps meet
targets under which a deep network without skip connections or normalisation layers trains
(Martens et al. 2021, arXiv:2110.01765; Zhang et al. 2022, "Deep learning without shortcuts",
ICLR). The local maps of one layer, for inputs of variance 1, are

.. math::
    Q(q) = \mathbb{E}[\hat\phi(\sqrt q z)^2], \qquad
    C(c) = \mathbb{E}[\hat\phi(u)\hat\phi(v)] / Q(1),\ (u, v) \sim \mathcal N\!\big(0, \left[\begin{smallmatrix}1 & c\\ c & 1\end{smallmatrix}\right]\big),

and with :math:`Q(1) = 1`: :math:`Q'(1) = \mathbb{E}[z\hat\phi\hat\phi']`,
:math:`C(0) = \mathbb{E}[\hat\phi]^2`, :math:`C'(1) = \mathbb{E}[\hat\phi'^2]`,
:math:`C''(1) = \mathbb{E}[\hat\phi''^2]`.

- **DKS**: :math:`Q(1) = 1`, :math:`Q'(1) = 1` (``local_q_slope``), :math:`C(0) = 0`, and
  :math:`C'(1)` such that the largest slope :math:`C_f'(1)` over the network's subnetworks is
  ``zeta`` (1.5). For a plain network of depth :math:`L`: :math:`C'(1) = \zeta^{1/L}`.
- **TAT, smooth activations**: :math:`Q(1) = 1`, :math:`Q'(1) = 1`, :math:`C'(1) = 1`, and
  :math:`C''(1)` such that the largest curvature :math:`C_f''(1)` is ``tau`` (0.3); depth :math:`L`:
  :math:`C''(1) = \tau/L`.
- **TAT, leaky ReLU**: :math:`\hat\phi(x) = \sqrt{2/(1+s^2)}\,\mathrm{LReLU}_s(x)` with the negative
  slope :math:`s` such that the largest :math:`C_f(0)` is ``eta`` (0.9).

**The network** is described as the ``dks`` package describes it: a ``depth`` (a plain network with
that many nonlinear layers and no skip connections), or ``subnet_max_func(x, r)`` (TAT's
"subnetwork maximizing function": the largest value at ``x`` over the network's subnetworks of its
C map with each nonlinear layer's local map replaced by the callable ``r``), or directly the
maximal slope function (``max_slope_func(x)``, DKS) or maximal curvature function
(``max_curv_func(x)``, smooth TAT).

**The initialisation these maps assume** (so use it with the transformed activations): orthogonal
weights that preserve :math:`q` (``statmech.init.critical_orthogonal_(w, 1.0)``, which rescales
tall matrices by :math:`\sqrt{\text{out}/\text{in}}`: the "scaled uniform orthogonal" distribution
of the DKS paper), delta-orthogonal convolutions (``statmech.init.delta_orthogonal_(w, 1.0)``), zero
biases, and inputs scaled so that each example has mean squared entry 1 (:math:`q = 1` at the first
layer). Gaussian weights of variance ``1/fan_in`` give the same maps at infinite width, with larger
finite-width deviations.

**Parameter names** against the ``dks`` package (``dks.base.activation_transform``):
``zeta`` = ``dks_params["c_slope_1_target"]``, ``local_q_slope`` = ``"local_q_slope_target"``,
``tau`` = ``tat_params["c_curve_target"]``, ``eta`` = ``"c_val_0_target"``; its ``"gelu"`` is the tanh
approximation, ours is the exact :math:`x\Phi(x)` (its ``"gelu_exact"``); its ``"swish"`` is our
``"silu"``.

**How it is computed.** Every Gaussian expectation comes from the dual-activation core (its
composite Gauss–Legendre rules, split at kinks, applied to the shifted pre-activation
:math:`\alpha z + \beta`; the closed-form leaky-ReLU kernel), to ~1e-14; the equations are solved by
Levenberg–Marquardt from a fixed list of starting points, in C++.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from statmech import _C

_native = _C.kernel_shaping

__all__ = ["ActivationTransform", "LocalMaps", "dks", "tat", "local_maps"]

ScalarFunction = Callable[[float], float]
SubnetMaxFunction = Callable[[float, ScalarFunction], float]


@dataclass(frozen=True)
class LocalMaps:
    """The local Q and C maps of a transformed activation at :math:`q = 1` (C values divided by Q(1)).

    Attributes:
        q_value: :math:`Q(1) = \\mathbb{E}[\\hat\\phi(z)^2]`.
        q_slope: :math:`Q'(1) = \\mathbb{E}[z\\hat\\phi(z)\\hat\\phi'(z)]`.
        c_value_0: :math:`C(0) = \\mathbb{E}[\\hat\\phi]^2 / Q(1)`.
        c_slope_0: :math:`C'(0) = \\mathbb{E}[\\hat\\phi']^2 / Q(1)`.
        c_slope_1: :math:`C'(1) = \\mathbb{E}[\\hat\\phi'^2] / Q(1)`.
        c_curvature_1: :math:`C''(1) = \\mathbb{E}[\\hat\\phi''^2] / Q(1)` (``inf`` where
            :math:`\\phi'` jumps: relu, leaky_relu, selu, ...).
    """

    q_value: float
    q_slope: float
    c_value_0: float
    c_slope_0: float
    c_slope_1: float
    c_curvature_1: float


def _resolve(act):
    from statmech.meanfield import activation

    return activation(act)


@dataclass(frozen=True)
class ActivationTransform:
    """The result of :func:`dks` / :func:`tat`: :math:`\\hat\\phi(x) = \\gamma(\\phi(\\alpha x + \\beta) + \\delta)`.

    Attributes:
        method: ``"dks"`` or ``"tat"``.
        activation: :math:`\\phi` (a :class:`statmech.meanfield.Activation`; for leaky ReLU its
            ``parameter`` is the negative slope found).
        input_scale, input_shift, output_shift, output_scale: :math:`\\alpha, \\beta, \\delta, \\gamma`.
        local_target: the per-layer target derived from the network: :math:`C'(1)` (DKS),
            :math:`C''(1)` (smooth TAT) or :math:`C(0)` (leaky-ReLU TAT).
        residual: the largest absolute error of the equations at the solution.
    """

    method: str
    activation: object
    input_scale: float
    input_shift: float
    output_shift: float
    output_scale: float
    local_target: float
    residual: float

    @property
    def negative_slope(self) -> Optional[float]:
        """The negative slope for leaky ReLU, else ``None``."""
        return self.activation.parameter if self.activation.name == "leaky_relu" else None

    def __call__(self, x: Tensor) -> Tensor:
        """Apply :math:`\\hat\\phi` element-wise (any shape; differentiable)."""
        if self.activation.is_custom:
            raise TypeError(
                "ActivationTransform: a transformation of a custom activation is applied by the caller: "
                "output_scale * (fn(input_scale * x + input_shift) + output_shift)"
            )
        return torch.ops.statmech.transformed_activation(
            x,
            self.activation.name,
            float(self.activation.parameter),
            self.input_scale,
            self.input_shift,
            self.output_shift,
            self.output_scale,
        )

    def local_maps(self) -> LocalMaps:
        """The local maps of :math:`\\hat\\phi` at :math:`q = 1`, recomputed from the parameters."""
        return local_maps(self.activation, self.input_scale, self.input_shift, self.output_shift, self.output_scale)

    def module(self):
        """A :class:`statmech.nn.TransformedActivation` applying this transformation."""
        from statmech.nn import TransformedActivation

        return TransformedActivation.from_transform(self)

    def __repr__(self) -> str:
        slope = f", negative_slope={self.negative_slope:.10g}" if self.negative_slope is not None else ""
        return (
            f"ActivationTransform(method={self.method!r}, activation={self.activation.name!r}{slope}, "
            f"input_scale={self.input_scale:.10g}, input_shift={self.input_shift:.10g}, "
            f"output_shift={self.output_shift:.10g}, output_scale={self.output_scale:.10g})"
        )


def _wrap(native) -> ActivationTransform:
    return ActivationTransform(
        method=native.method,
        activation=native.activation,
        input_scale=native.input_scale,
        input_shift=native.input_shift,
        output_shift=native.output_shift,
        output_scale=native.output_scale,
        local_target=native.local_target,
        residual=native.residual,
    )


def _depth(fn: str, depth: Optional[int]) -> int:
    if depth is None:
        return 0
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"{fn}: depth must be a positive int (the number of nonlinear layers), got {depth!r}")
    return depth


def dks(
    activation,
    depth: Optional[int] = None,
    *,
    subnet_max_func: Optional[SubnetMaxFunction] = None,
    max_slope_func: Optional[ScalarFunction] = None,
    zeta: float = 1.5,
    local_q_slope: float = 1.0,
) -> ActivationTransform:
    """Deep Kernel Shaping (Martens et al. 2021): the transformation of ``activation`` for a network.

    Args:
        activation: a name (``"tanh"``, ``"softplus"``, ``"gelu"``, ``"silu"``, ``"elu"``,
            ``"selu"``, ``"sigmoid"``, ``"erf"``, ``"relu"``, ``"leaky_relu"``, ...), a
            :func:`statmech.meanfield.activation`, or a smooth element-wise callable on tensors.
            For ``relu`` only :math:`\\beta/\\alpha` matters: :math:`\\beta = \\pm1` and
            :math:`Q'(1)` is not targeted; for ``leaky_relu`` the negative slope is solved for in
            place of :math:`\\alpha` (the slope given is ignored).
        depth: number of nonlinear layers of a plain network (no skip connections).
        subnet_max_func: ``M(x, r)``, the subnetwork maximizing function (see the module docstring).
        max_slope_func: the maximal slope function ``x -> max_f C_f'(1)`` when each layer has
            :math:`C'(1) = x`.
        zeta: the target maximal :math:`C_f'(1)` (> 1).
        local_q_slope: :math:`Q'(1)` of each layer (1 in the paper).

    Returns:
        :class:`ActivationTransform` with :math:`Q(1) = 1`, :math:`C(0) = 0`,
        :math:`Q'(1) =` ``local_q_slope`` and :math:`C'(1) = \\zeta^{1/L}` (depth :math:`L`).

    Example::

        >>> t = statmech.meanfield.dks("tanh", depth=100)
        >>> act = t.module()           # statmech.nn.TransformedActivation
    """
    d = _depth("dks", depth)
    return _wrap(_native.dks(_resolve(activation), d, subnet_max_func, max_slope_func, float(zeta), float(local_q_slope)))


def tat(
    activation,
    depth: Optional[int] = None,
    *,
    subnet_max_func: Optional[SubnetMaxFunction] = None,
    max_curv_func: Optional[ScalarFunction] = None,
    tau: float = 0.3,
    eta: float = 0.9,
) -> ActivationTransform:
    """Tailored Activation Transformation (Zhang et al. 2022) of ``activation`` for a network.

    Args:
        activation: ``"leaky_relu"`` for leaky-ReLU TAT (the slope given is replaced by the one
            found), or a smooth activation (``"tanh"``, ``"softplus"``, ``"gelu"``, ``"silu"``,
            ``"elu"``, a callable, ...). Activations whose derivative jumps (relu, selu, elu with
            alpha != 1, ...) have :math:`C''(1) = \\infty` and are refused.
        depth: number of nonlinear layers of a plain network (no skip connections).
        subnet_max_func: ``M(x, r)``, the subnetwork maximizing function; required (or ``depth``)
            for leaky ReLU.
        max_curv_func: the maximal curvature function ``x -> max_f C_f''(1)`` when each layer has
            :math:`C'(1) = 1` and :math:`C''(1) = x` (smooth TAT only).
        tau: the target maximal :math:`C_f''(1)` (> 0), smooth activations.
        eta: the target maximal :math:`C_f(0)` in (0, 1), leaky ReLU.

    Returns:
        :class:`ActivationTransform`. Leaky ReLU: :math:`\\alpha = 1, \\beta = \\delta = 0`,
        :math:`\\gamma = \\sqrt{2/(1+s^2)}`. Smooth: :math:`Q(1) = Q'(1) = C'(1) = 1`,
        :math:`C''(1) = \\tau/L`; solutions with :math:`\\alpha\\gamma \\ge 2` are passed over (as
        the ``dks`` package does: their Q maps are unstable).

    Example::

        >>> statmech.meanfield.tat("leaky_relu", depth=100, eta=0.9).negative_slope
        0.5704...
    """
    d = _depth("tat", depth)
    return _wrap(_native.tat(_resolve(activation), d, subnet_max_func, max_curv_func, float(tau), float(eta)))


def local_maps(
    activation,
    input_scale: float = 1.0,
    input_shift: float = 0.0,
    output_shift: float = 0.0,
    output_scale: float = 1.0,
) -> LocalMaps:
    """The local Q and C maps at :math:`q = 1` of :math:`\\gamma(\\phi(\\alpha x + \\beta) + \\delta)`
    for any parameters (C values divided by Q(1)); see :class:`LocalMaps`."""
    maps = _native.local_maps(
        _resolve(activation), float(input_scale), float(input_shift), float(output_shift), float(output_scale)
    )
    return LocalMaps(**maps)
