r"""Measured signal propagation of a network next to mean-field theory.

:func:`measure` runs a batch through an ``nn.Sequential`` MLP or ConvNet and records, at every
weight layer :math:`l`, the empirical pre-activation second moment :math:`q_l` and the correlation
:math:`c_l` between inputs, beside the theory's q- and c-maps (:func:`statmech.meanfield.q_map`,
:func:`statmech.meanfield.c_map`) iterated from the input's own :math:`q_0, c_0`; and the singular
values of the input-output Jacobian for one input. Re-exported as ``statmech.meanfield.measure``.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import math

import torch
from torch import Tensor, nn

from statmech._module_activations import (
    TRANSPARENT,
    WEIGHT_LAYERS,
    ActivationSpec,
    activation_of,
    active_dropout,
    flatten_sequential,
)

__all__ = ["measure", "SignalPropagation"]

_LINEAR = ActivationSpec("linear", "linear")


@dataclass
class SignalPropagation:
    """Result of :func:`measure`. Tensors are float64 on the CPU; index ``l`` is the ``l``-th weight
    layer (its output is the pre-activation :math:`h^l`)."""

    layers: List[str]  #: qualified names of the weight layers
    activations: List[str]  #: the activation applied to each layer's output ("linear" if none)
    sigma_w2: Tensor  #: [L] weight variance used by the theory for each layer
    sigma_b2: Tensor  #: [L] bias variance used by the theory for each layer
    q: Tensor  #: [L] measured mean squared pre-activation, averaged over units and the batch
    q_theory: Tensor  #: [L] the q-map iterated from q_0
    c: Tensor  #: [L] measured mean off-diagonal correlation over the batch (nan for a batch of 1)
    c_theory: Tensor  #: [L] the c-map iterated from (q_0, c_0)
    q_per_input: Tensor  #: [L, batch] measured q of each input
    q0: float  #: input's mean squared entry, averaged over the batch
    c0: float  #: input's mean off-diagonal correlation (nan for a batch of 1)
    singular_values: Optional[Tensor]  #: input-output Jacobian singular values at x[0], descending
    width: List[int]  #: number of units (channels x positions for convolutions) per layer

    def __repr__(self) -> str:
        header = ("layer", "activation", "units", "sigma_w2", "sigma_b2", "q", "q theory", "c", "c theory")
        rows = [
            (
                name, act, str(units), f"{sw:.4g}", f"{sb:.4g}", f"{q:.5g}", f"{qt:.5g}", f"{c:.5f}", f"{ct:.5f}",
            )
            for name, act, units, sw, sb, q, qt, c, ct in zip(
                self.layers, self.activations, self.width, self.sigma_w2.tolist(), self.sigma_b2.tolist(),
                self.q.tolist(), self.q_theory.tolist(), self.c.tolist(), self.c_theory.tolist(),
            )
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines = [f"SignalPropagation ({len(self.layers)} layers; input q0 = {self.q0:.5g}, c0 = {self.c0:.5f})"]
        lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in [header, *rows]]
        if self.singular_values is not None:
            s = self.singular_values
            lines.append(
                f"Jacobian at x[0]: {s.numel()} singular values, max {s.max().item():.4g}, "
                f"min {s.min().item():.4g}, mean s^2 {s.pow(2).mean().item():.4g}, "
                f"condition number {(s.max() / s.min()).item():.4g}"
            )
        return "\n".join(lines)


def _stages(model: nn.Module) -> Tuple[List[Tuple[str, nn.Module, ActivationSpec]], List[float]]:
    """(name, weight layer, activation applied to its output) for each weight layer of the
    Sequential, checking that nothing the theory does not model sits between them; and the
    dropout probability in effect on the input of each weight layer (training-mode Dropout between
    the previous activation and the layer; several compose)."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(
            f"measure: model must be an nn.Sequential of Linear/Conv layers and activations, got {type(model).__name__}"
        )
    stages: List[Tuple[str, nn.Module, ActivationSpec]] = []
    keep: List[float] = []
    pending: Optional[ActivationSpec] = None
    kept = 1.0  # keep probability of the dropout seen since the last activation (or layer)
    for name, module in flatten_sequential(model, ""):
        if isinstance(module, WEIGHT_LAYERS):
            if stages:
                stages[-1] = (stages[-1][0], stages[-1][1], pending or _LINEAR)
            stages.append((name, module, _LINEAR))
            keep.append(kept)
            pending = None
            kept = 1.0
            continue
        spec = activation_of(module)
        p = active_dropout(module)
        if p > 0 and stages and pending is None:
            # Dropout between a layer and its activation masks h, not phi(h): not the maps' model.
            # (With a linear stage, i.e. no activation before the next layer, it is the same thing.)
            following = [m for _, m in flatten_sequential(model, "")]
            after = following[following.index(module) + 1 :]
            nxt = next((m for m in after if not isinstance(m, TRANSPARENT)), None)
            if nxt is not None and not isinstance(nxt, WEIGHT_LAYERS):
                raise ValueError(
                    f"measure: model[{name}] (Dropout in training mode) comes before an activation; the mean-field "
                    "maps model dropout on phi(h), between the activation and the next layer (or call model.eval())"
                )
        if p > 0:
            kept *= 1.0 - p
        if isinstance(module, TRANSPARENT):
            continue
        if spec is not None and stages and pending is None:
            pending = spec
            continue
        if not stages:
            raise ValueError(f"measure: model[{name}] ({type(module).__name__}) comes before the first weight layer; "
                             "the theory starts from the input of a Linear/Conv layer")
        raise ValueError(
            f"measure: model[{name}] ({type(module).__name__}) is not modelled by the mean-field maps; between two "
            "weight layers only one activation and Dropout/Identity/Flatten/Unflatten are allowed"
        )
    if not stages:
        raise ValueError("measure: model contains no Linear or Conv1d/2d/3d layer")
    stages[-1] = (stages[-1][0], stages[-1][1], pending or _LINEAR)
    return stages, keep


def _moments(h: Tensor) -> Tuple[Tensor, float]:
    """Per-input mean square [batch] and mean off-diagonal correlation of h [batch, ...]."""
    flat = h.detach().reshape(h.shape[0], -1).double()
    gram = flat @ flat.T / flat.shape[1]  # [batch, batch] second moments over units
    q = gram.diagonal()
    if flat.shape[0] < 2:
        return q, math.nan
    norm = q.clamp_min(torch.finfo(torch.float64).tiny).sqrt()
    # Duplicate or parallel inputs have correlation 1, which rounding can push just past it.
    corr = (gram / norm[:, None] / norm[None, :]).clamp(-1.0, 1.0)
    off = ~torch.eye(flat.shape[0], dtype=torch.bool, device=flat.device)
    return q, corr[off].mean().item()


def measure(
    model: nn.Module,
    x: Tensor,
    sigma_w2: Optional[float] = None,
    sigma_b2: Optional[float] = None,
    jacobian: bool = True,
) -> SignalPropagation:
    r"""Empirical :math:`q_l`, :math:`c_l` and Jacobian spectrum of ``model`` on ``x``, with the
    mean-field prediction beside them.

    For each weight layer :math:`l` with output :math:`h^l` (the pre-activation):

    - :math:`q_l` is the mean of :math:`(h^l_i)^2` over units :math:`i`, per input, then averaged
      over the batch;
    - :math:`c_l` is :math:`\langle h^l_a h^l_b\rangle / \sqrt{\langle (h^l_a)^2\rangle
      \langle (h^l_b)^2\rangle}` (averages over units; no mean subtraction, since the theory's
      pre-activations have mean zero over the weights), averaged over all pairs :math:`a \ne b`;
    - the theory starts from the input's :math:`q_0` (mean squared entry) and :math:`c_0` (mean
      off-diagonal correlation), applies the first layer (a linear map of second moments:
      :math:`q_1 = \sigma_w^2 q_0 + \sigma_b^2`) and then ``statmech.meanfield.q_map`` / ``c_map``
      with the activation between each pair of layers. It is exact at infinite width for inputs
      of equal norm and equal pairwise correlation; for others it is the theory of the averages.

    For convolutions the units are all channels and positions: with spatially homogeneous input
    statistics the same-position second moments obey the MLP maps (Xiao et al. 2018), up to the
    zero padding at borders. The Jacobian :math:`\partial\,\text{model}(x_0)/\partial x_0` of the
    first input is formed with :func:`torch.func.jacrev` and flattened to ``[out, in]``.

    Args:
        model: ``nn.Sequential`` (nested ones are inlined) of ``Linear``/``Conv1d/2d/3d`` layers,
            each followed by at most one activation module (``Tanh``, ``ReLU``, ``LeakyReLU``,
            ``GELU``, ``SiLU``, ``ELU``, ``SELU``, ``Sigmoid``, ``Softplus``, ``Hardtanh``) and any
            ``Dropout``/``Identity``/``Flatten``/``Unflatten``. Evaluated as it is: a ``Dropout``
            in training mode between an activation and the next layer is modelled (the maps with
            its keep probability: ``q' = sigma_w2 E[phi^2] / (1 - p) + sigma_b2``, c* < 1;
            Schoenholz et al. 2017, Sec. 5); one between a layer and its activation raises. Call
            ``model.eval()`` to switch dropout off.
        x: ``[batch, ...]`` inputs; a batch of at least 2 for correlations.
        sigma_w2: weight variance for the theory; ``None``: measured from each layer's weight as
            :math:`\|W\|_F^2/\text{out}` (the convention of every ``statmech.init`` initialiser,
            so it is exact for them and removes the weights' own sampling noise).
        sigma_b2: bias variance for the theory; ``None``: each layer's mean squared bias (0 without
            a bias).
        jacobian: compute the Jacobian's singular values (costs one backward pass per output unit).

    Returns:
        :class:`SignalPropagation`; ``print`` it for a side-by-side table.
    """
    from statmech import meanfield

    if not isinstance(x, Tensor) or x.dim() < 2:
        raise ValueError(f"measure: x must be a tensor [batch, ...] with a batch dimension, got "
                         f"{type(x).__name__ if not isinstance(x, Tensor) else f'shape {tuple(x.shape)}'}")
    stages, keep = _stages(model)
    outputs: List[Tensor] = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for _, layer, _ in stages]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()

    names, activations, sw_list, sb_list, q_rows, c_list, widths = [], [], [], [], [], [], []
    for (name, layer, spec), h in zip(stages, outputs):
        weight = layer.weight.detach().double()
        sw_list.append(float(sigma_w2) if sigma_w2 is not None else weight.pow(2).sum().item() / weight.shape[0])
        if sigma_b2 is not None:
            sb_list.append(float(sigma_b2))
        else:
            sb_list.append(layer.bias.detach().double().pow(2).mean().item() if layer.bias is not None else 0.0)
        q_in, c_in = _moments(h)
        q_rows.append(q_in.cpu())
        c_list.append(c_in)
        names.append(name)
        activations.append(spec.label)
        widths.append(h[0].numel())

    q0_per_input, c0 = _moments(x)
    q0 = q0_per_input.mean().item()
    # Theory: first layer linear in the input's second moments, then one activation per step.
    q_theory, c_theory = [], []
    q_prev, c_prev, act_prev = q0, c0, _LINEAR
    for sw, sb, (_, _, spec), kept in zip(sw_list, sb_list, stages, keep):
        activation = act_prev.resolve()
        p = 1.0 - kept
        q_next = float(meanfield.q_map(q_prev, sw, sb, activation, dropout=p))
        c_next = (
            float(meanfield.c_map(c_prev, q_prev, sw, sb, activation, dropout=p)) if not math.isnan(c_prev) else math.nan
        )
        q_theory.append(q_next)
        c_theory.append(c_next)
        q_prev, c_prev, act_prev = q_next, c_next, spec

    singular_values = None
    if jacobian:
        singular_values = _jacobian_singular_values(model, x[:1])

    q_per_input = torch.stack(q_rows)
    return SignalPropagation(
        layers=names,
        activations=activations,
        sigma_w2=torch.tensor(sw_list, dtype=torch.float64),
        sigma_b2=torch.tensor(sb_list, dtype=torch.float64),
        q=q_per_input.mean(1),
        q_theory=torch.tensor(q_theory, dtype=torch.float64),
        c=torch.tensor(c_list, dtype=torch.float64),
        c_theory=torch.tensor(c_theory, dtype=torch.float64),
        q_per_input=q_per_input,
        q0=q0,
        c0=c0,
        singular_values=singular_values,
        width=widths,
    )


def _jacobian_singular_values(model: nn.Module, x0: Tensor) -> Tensor:
    """Singular values of d model(x0) / d x0, flattened to [out, in], in float64 on the CPU."""
    jac = torch.func.jacrev(lambda inp: model(inp))(x0.detach())
    out_numel = jac.shape[: jac.dim() - x0.dim()].numel()
    matrix = jac.reshape(out_numel, x0.numel()).detach().double().cpu()
    return torch.linalg.svdvals(matrix)
