"""edge_of_chaos_: initialise every Linear/Conv layer of a module at the critical point of its
activation, and report what was done and why."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import math

import torch
from torch import nn

from statmech._initialisers import critical_normal_, critical_orthogonal_, delta_orthogonal_
from statmech._module_activations import (
    WEIGHT_LAYERS,
    ActivationSpec,
    LayerContext,
    active_dropout,
    sequential_contexts,
    spec_from_argument,
)

__all__ = ["edge_of_chaos_", "EdgeOfChaosReport", "LayerInit"]

_DISTRIBUTIONS = ("orthogonal", "normal")


@dataclass(frozen=True)
class LayerInit:
    """What :func:`edge_of_chaos_` did to one layer."""

    name: str  #: qualified name in ``model.named_modules()`` ("" for the model itself)
    module: str  #: class name, e.g. "Linear", "Conv2d"
    shape: Tuple[int, ...]  #: weight shape [out, in, *kernel]
    activation: str  #: the activation the critical point was computed for
    sigma_w2: float  #: weight variance sigma_w^2 (entries have variance sigma_w2 / fan_in)
    sigma_b2: float  #: bias variance sigma_b^2 (0 if the layer has no bias: then nothing is drawn)
    distribution: str  #: "orthogonal", "delta_orthogonal" or "normal"
    reason: str  #: why this activation, this point and this distribution


@dataclass
class EdgeOfChaosReport:
    """The per-layer record of :func:`edge_of_chaos_`; ``repr`` prints it as a table."""

    layers: List[LayerInit]
    skipped: List[Tuple[str, str]] = field(default_factory=list)  #: (module name, why it was left alone)
    notes: List[str] = field(default_factory=list)  #: choices common to all layers

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, index: int) -> LayerInit:
        return self.layers[index]

    def __repr__(self) -> str:
        header = ("layer", "module", "shape", "activation", "sigma_w2", "sigma_b2", "distribution", "reason")
        rows = [
            (
                layer.name or "(model)",
                layer.module,
                "x".join(str(s) for s in layer.shape),
                layer.activation,
                f"{layer.sigma_w2:.6g}",
                f"{layer.sigma_b2:.6g}",
                layer.distribution,
                layer.reason,
            )
            for layer in self.layers
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]

        def line(row):
            return "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]

        out = [f"EdgeOfChaosReport ({len(self.layers)} layers)", line(header), line(tuple("-" * w for w in widths) + ("-" * 6,))]
        out += [line(row) for row in rows]
        out += [f"skipped {name or '(model)'}: {why}" for name, why in self.skipped]
        out += [f"note: {note}" for note in self.notes]
        return "\n".join(out)


def _choose_activation(
    name: str, context: Optional[LayerContext], default: Optional[ActivationSpec]
) -> Tuple[ActivationSpec, str]:
    if context is not None and context.before is not None:
        source, spec = context.before
        return spec, f"{spec.label} from {source}, applied to this layer's input"
    if context is not None and context.after is not None:
        source, spec = context.after
        return spec, f"{spec.label} from {source}, after this first layer (its input is data, not phi(h))"
    if default is not None:
        where = "not in an nn.Sequential" if context is None else "no activation next to it in its nn.Sequential"
        return default, f"{default.label} from the activation argument ({where})"
    raise ValueError(
        f"edge_of_chaos_: cannot tell the activation of layer {name or '(model)'!r}: it is "
        + ("not inside an nn.Sequential" if context is None else "not next to a known activation module in its nn.Sequential")
        + "; pass activation= (a name such as 'tanh' or 'relu', an nn activation module, or a "
        "statmech.meanfield.activation object)"
    )


class _CriticalPoints:
    """Critical (sigma_w2, sigma_b2) per activation, computed once each."""

    def __init__(self, sigma_b2: float, depth: Optional[int]):
        self.sigma_b2 = sigma_b2
        self.depth = depth
        self.cache: Dict[str, Tuple[float, float, str]] = {}

    def __call__(self, spec: ActivationSpec) -> Tuple[float, float, str]:
        if spec.label not in self.cache:
            self.cache[spec.label] = self._compute(spec)
        return self.cache[spec.label]

    def _compute(self, spec: ActivationSpec) -> Tuple[float, float, str]:
        from statmech import meanfield

        activation = spec.resolve()
        fallback = ""
        if self.depth is not None:
            q_star = 1.0 / self.depth
            try:
                sigma_w2, sigma_b2 = (float(v) for v in meanfield.critical_point(q_star, activation))
                return sigma_w2, sigma_b2, f"depth {self.depth}: critical point with q* = 1/L = {q_star:.4g}"
            except RuntimeError as error:
                # E.g. sigmoid and softplus (phi(0) != 0) reach a small q* only with sigma_b2 < 0.
                fallback = f"depth {self.depth}: no critical point with q* = 1/L ({error}); "
        try:
            sigma_w2 = float(meanfield.critical_sigma_w2(self.sigma_b2, activation))
        except RuntimeError as error:
            raise ValueError(
                f"edge_of_chaos_: no edge of chaos for activation {spec.label} at sigma_b2 = {self.sigma_b2:g}: "
                f"{error}"
            ) from error
        return sigma_w2, self.sigma_b2, f"{fallback}critical sigma_w2 at sigma_b2 = {self.sigma_b2:g}"


def _weight_distribution(layer: nn.Module, distribution: str) -> Tuple[str, str]:
    """(distribution applied, why) for one layer."""
    if distribution == "normal":
        return "normal", "Gaussian N(0, sigma_w2/fan_in)"
    if isinstance(layer, nn.Linear):
        return "orthogonal", "scaled Haar-orthogonal"
    out_channels, in_per_group = layer.weight.shape[0] // layer.groups, layer.weight.shape[1]
    problems = []
    if any(k % 2 == 0 for k in layer.weight.shape[2:]):
        problems.append(f"even kernel size {tuple(layer.weight.shape[2:])} has no centre tap")
    if in_per_group > out_channels:
        problems.append(f"in_channels {in_per_group} > out_channels {out_channels} per group")
    if problems:
        return "orthogonal", "fallback to orthogonal on the flattened [out, in*k] weight: " + "; ".join(problems)
    per_group = f", per group of {layer.groups}" if layer.groups > 1 else ""
    return "delta_orthogonal", f"delta-orthogonal (Xiao et al. 2018){per_group}"


def _write_weight(layer: nn.Module, distribution: str, sigma_w2: float, generator: Optional[torch.Generator]) -> None:
    weight = layer.weight
    if distribution == "normal":
        critical_normal_(weight, sigma_w2, generator=generator)
    elif distribution == "orthogonal":
        critical_orthogonal_(weight, sigma_w2, generator=generator)
    else:
        # A grouped convolution is `groups` independent convolutions stacked along out.
        rows = weight.shape[0] // layer.groups
        for g in range(layer.groups):
            delta_orthogonal_(weight[g * rows : (g + 1) * rows], sigma_w2, generator=generator)


def edge_of_chaos_(
    module: nn.Module,
    activation: Any = None,
    sigma_b2: float = 0.0,
    distribution: str = "orthogonal",
    depth: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
) -> EdgeOfChaosReport:
    r"""Initialise every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` of ``module`` at the edge of chaos.

    Each weight gets the critical :math:`\sigma_w^2` of its activation
    (:func:`statmech.meanfield.critical_sigma_w2`), where :math:`\chi_1 = 1` at a stable fixed point
    of the variance map that the network reaches (silu and gelu have one only for
    :math:`\sigma_b^2 \gtrsim 0.555` and :math:`0.173`; below, and for softplus at any
    :math:`\sigma_b^2`, a ``ValueError`` says why and where one exists): signals neither
    collapse (ordered phase) nor decorrelate (chaotic phase) with depth, and gradients neither
    vanish nor explode exponentially (Schoenholz et al. 2017). Biases are drawn from
    :math:`\mathcal{N}(0, \sigma_b^2)` (zero when :math:`\sigma_b^2 = 0`).

    The activation of a layer is found from its ``nn.Sequential`` neighbours (nested Sequentials
    are inlined; ``Dropout``, ``Identity``, ``Flatten``, ``Unflatten`` are looked through; a
    ``Dropout`` with ``p > 0`` in training mode raises, since dropout has no edge of chaos):
    ``nn.Tanh, ReLU, LeakyReLU(negative_slope), GELU, SiLU, ELU(alpha), SELU, Sigmoid, Softplus,
    Hardtanh`` (and ``ReLU6``). Since :math:`h^{l+1} = W^{l+1}\phi(h^l) + b`, a weight is paired
    with the activation *applied to its input*; the first layer of a Sequential, whose input is data,
    takes the activation that follows it. With no neighbouring activation (a layer outside any
    Sequential, or next to e.g. a normalisation layer) the ``activation`` argument is used, and
    without one a ``ValueError`` names the layer.

    Relation to :func:`torch.nn.init.calculate_gain`: ReLU's critical :math:`\sigma_w^2 = 2 =`
    ``calculate_gain('relu')**2``; leaky ReLU's :math:`2/(1+\alpha^2) =`
    ``calculate_gain('leaky_relu', alpha)**2``; tanh's is :math:`1` at :math:`\sigma_b^2 = 0`, while
    PyTorch's tanh gain :math:`5/3` (:math:`\sigma_w^2 = 25/9`) is chaotic, :math:`\chi_1 > 1`.

    Args:
        module: any ``nn.Module``; other modules with parameters are left as they are (listed in
            the report's ``skipped``).
        activation: fallback activation for layers whose activation is not detected: a name
            (``'tanh'``, ``'relu'``, ...), an ``nn`` activation module, or a
            :func:`statmech.meanfield.activation` object.
        sigma_b2: bias variance :math:`\sigma_b^2` (ignored with ``depth``, see below).
        distribution: ``'orthogonal'`` (default): Linear weights get
            :func:`~statmech.init.critical_orthogonal_`, convolutions
            :func:`~statmech.init.delta_orthogonal_` (per group for grouped ones) when every kernel
            size is odd and ``in <= out`` per group; otherwise (documented fallback) the flattened
            ``[out, in*k]`` weight gets :func:`~statmech.init.critical_orthogonal_`.
            ``'normal'``: :func:`~statmech.init.critical_normal_` everywhere.
        depth: the network depth :math:`L`. Given, the point on the critical line is chosen with a
            small fixed point :math:`q^* = 1/L` through
            :func:`statmech.meanfield.critical_point` (which sets both :math:`\sigma_w^2` and
            :math:`\sigma_b^2`, so ``sigma_b2`` is not used): for tanh-like activations the spread of
            the input-output Jacobian's singular values grows like :math:`L q^*` at criticality
            (Pennington et al. 2017; Xiao et al. 2018), so :math:`q^* = O(1/L)` keeps it order one
            and, with orthogonal weights, gives approximate dynamical isometry. For ReLU-like
            activations :math:`q^*` does not change the spectrum (they cannot reach isometry).
        generator: ``torch.Generator`` for every draw, in layer order: reproducible.

    Returns:
        :class:`EdgeOfChaosReport`: per layer the name, weight shape, activation,
        :math:`\sigma_w^2`, :math:`\sigma_b^2`, distribution and the reason; ``print`` it for a table.

    Example::

        >>> net = nn.Sequential(nn.Linear(784, 512), nn.Tanh(), nn.Linear(512, 512), nn.Tanh(), nn.Linear(512, 10))
        >>> print(statmech.init.edge_of_chaos_(net, sigma_b2=0.05))
        EdgeOfChaosReport (3 layers)
        layer  module  shape    activation  sigma_w2  sigma_b2  distribution  reason
        -----  ------  -------  ----------  --------  --------  ------------  ------
        0      Linear  512x784  tanh        1.76095   0.05      orthogonal    ...
    """
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"edge_of_chaos_: distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")
    if not (isinstance(sigma_b2, (int, float)) and math.isfinite(sigma_b2) and sigma_b2 >= 0):
        raise ValueError(f"edge_of_chaos_: sigma_b2 must be a finite bias variance >= 0, got {sigma_b2!r}")
    if depth is not None and not (isinstance(depth, int) and depth >= 1):
        raise ValueError(f"edge_of_chaos_: depth must be a positive int (the number of layers L), got {depth!r}")
    active = [(name, m.p) for name, m in module.named_modules() if active_dropout(m) > 0]
    if active:
        listed = ", ".join(f"{name or '(model)'} (p={p:g})" for name, p in active)
        raise ValueError(
            f"edge_of_chaos_: the module has dropout in training mode: {listed}. Inverted dropout divides the "
            "second moment by the keep probability, q' = sigma_w2 E[phi^2] / (1 - p) + sigma_b2, and makes c* < 1: "
            "with dropout there is no order-to-chaos transition, only a finite maximal depth scale (Schoenholz et "
            "al. 2017, Sec. 5), so no critical point exists to initialise at. Call module.eval() to initialise at the "
            "dropout-free edge of chaos (and module.train() afterwards), or set p = 0"
        )
    default = None if activation is None else spec_from_argument(activation)
    contexts = sequential_contexts(module)
    critical = _CriticalPoints(float(sigma_b2), depth)

    layers: List[LayerInit] = []
    skipped: List[Tuple[str, str]] = []
    for name, layer in module.named_modules():
        if not isinstance(layer, WEIGHT_LAYERS):
            own = list(layer.parameters(recurse=False))
            if own:
                skipped.append((name, f"{type(layer).__name__} is not a Linear or Conv1d/2d/3d layer; left as it is"))
            continue
        if isinstance(layer.weight, nn.parameter.UninitializedParameter):
            raise ValueError(
                f"edge_of_chaos_: layer {name!r} ({type(layer).__name__}) has an uninitialised lazy weight; "
                "run one forward pass before initialising it"
            )
        spec, activation_reason = _choose_activation(name, contexts.get(name), default)
        sigma_w2, layer_sigma_b2, point_reason = critical(spec)
        dist, dist_reason = _weight_distribution(layer, distribution)
        _write_weight(layer, dist, sigma_w2, generator)
        if layer.bias is not None:
            with torch.no_grad():
                if layer_sigma_b2 > 0:
                    layer.bias.normal_(0.0, math.sqrt(layer_sigma_b2), generator=generator)
                else:
                    layer.bias.zero_()
        layers.append(
            LayerInit(
                name=name,
                module=type(layer).__name__,
                shape=tuple(layer.weight.shape),
                activation=spec.label,
                sigma_w2=sigma_w2,
                sigma_b2=layer_sigma_b2 if layer.bias is not None else 0.0,
                distribution=dist,
                reason=f"{activation_reason}; {point_reason}; {dist_reason}"
                + ("" if layer.bias is not None else "; no bias"),
            )
        )
    if not layers:
        raise ValueError(f"edge_of_chaos_: module ({type(module).__name__}) contains no Linear or Conv1d/2d/3d layer")

    notes = []
    if depth is not None:
        notes.append(
            f"depth {depth}: each activation's point on the critical line has q* = 1/L = {1.0 / depth:.4g} "
            "(Pennington et al. 2017: the Jacobian spectrum's spread grows like L q* for tanh-like nets); "
            "the sigma_b2 argument is not used"
        )
    notes.append(
        "a weight is paired with the activation applied to its input: h' = W phi(h) + b, so chi_1 = "
        "sigma_w2 E[phi'(h)^2]; the first layer of a Sequential takes the activation after it"
    )
    notes.append("entries of every weight have mean variance sigma_w2 / fan_in; biases ~ N(0, sigma_b2)")
    return EdgeOfChaosReport(layers, skipped, notes)
