"""Which activation an ``nn.Module`` applies, in the terms of the mean-field calculator, and which
activation surrounds each weight layer of an ``nn.Sequential``.

Shared by :func:`statmech.init.edge_of_chaos_` and :func:`statmech.diagnostics.measure`.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# Layers whose weight [out, in, *kernel] the initialisers write.
WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

# Modules looked through when searching the activation next to a layer. Dropout is among them only
# for finding neighbours: in training mode it changes the statistics (inverted dropout keeps the
# mean but divides the second moment by the keep probability, Schoenholz et al. 2017 Sec. 5), which
# measure() models and edge_of_chaos_ refuses (see active_dropout).
DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
TRANSPARENT = (nn.Identity, nn.Flatten, nn.Unflatten) + DROPOUT


def active_dropout(module: nn.Module) -> float:
    """The dropout probability p a module applies now: its p if it is a Dropout in training mode,
    else 0."""
    if isinstance(module, DROPOUT) and module.training:
        return float(module.p)
    return 0.0


@dataclass(frozen=True)
class ActivationSpec:
    """An activation as the calculator understands it.

    ``name`` is a calculator name ('tanh', 'leaky_relu', ...) with keyword ``params``, or
    ``'custom'`` with an element-wise ``function`` (for modules with no closed form in the
    calculator, e.g. ``nn.GELU(approximate='tanh')``). ``label`` is for reports.
    """

    name: str
    label: str
    params: Dict[str, float] = field(default_factory=dict)
    function: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    kinks: Tuple[float, ...] = ()

    def resolve(self) -> Any:
        """The argument to pass to ``statmech.meanfield`` functions."""
        from statmech import meanfield

        if self.function is not None:
            return meanfield.activation(self.function, kinks=self.kinks)
        if self.params:
            return meanfield.activation(self.name, **self.params)
        return self.name


def spec_from_argument(activation: Any) -> ActivationSpec:
    """An ActivationSpec for the ``activation`` argument of the public functions: a calculator
    name, an ``nn`` activation module, or an object from ``statmech.meanfield.activation``."""
    if isinstance(activation, str):
        return ActivationSpec(activation, activation)
    if isinstance(activation, nn.Module):
        spec = activation_of(activation)
        if spec is None:
            raise ValueError(f"activation: {type(activation).__name__} is not an element-wise activation module "
                             "the calculator knows (see statmech.init.edge_of_chaos_ for the list)")
        return spec
    # An object built by statmech.meanfield.activation(...): passed through as it is.
    return _PassThrough(getattr(activation, "name", type(activation).__name__), repr(activation), {}, None, (), activation)


@dataclass(frozen=True)
class _PassThrough(ActivationSpec):
    obj: Any = None

    def resolve(self) -> Any:
        return self.obj


def activation_of(module: nn.Module) -> Optional[ActivationSpec]:
    """The ActivationSpec of an element-wise activation module, or None if ``module`` is not one."""
    if isinstance(module, nn.Tanh):
        return ActivationSpec("tanh", "tanh")
    if isinstance(module, nn.ReLU):
        return ActivationSpec("relu", "relu")
    if isinstance(module, nn.LeakyReLU):
        slope = float(module.negative_slope)
        return ActivationSpec("leaky_relu", f"leaky_relu(negative_slope={slope:g})", {"negative_slope": slope})
    if isinstance(module, nn.GELU):
        if module.approximate == "none":
            return ActivationSpec("gelu", "gelu")
        # The tanh approximation is within 4.8e-4 of the exact GELU everywhere, far below what moves
        # a critical point; the calculator's closed-form-quality gelu is used for it.
        return ActivationSpec("gelu", "gelu (for approximate='tanh', within 4.8e-4)")
    if isinstance(module, nn.SiLU):
        return ActivationSpec("silu", "silu")
    if isinstance(module, nn.ELU):
        alpha = float(module.alpha)
        return ActivationSpec("elu", f"elu(alpha={alpha:g})", {"alpha": alpha})
    if isinstance(module, nn.SELU):
        return ActivationSpec("selu", "selu")
    if isinstance(module, nn.Sigmoid):
        return ActivationSpec("sigmoid", "sigmoid")
    if isinstance(module, nn.Softplus):
        # threshold only switches to the identity where softplus(x) = x to float precision.
        if float(module.beta) == 1.0:
            return ActivationSpec("softplus", "softplus")
        beta = float(module.beta)
        return ActivationSpec("custom", f"softplus(beta={beta:g})", function=lambda x: F.softplus(x, beta=beta))
    if isinstance(module, nn.Hardtanh):  # also nn.ReLU6, a Hardtanh(0, 6)
        low, high = float(module.min_val), float(module.max_val)
        if (low, high) == (-1.0, 1.0):
            return ActivationSpec("hard_tanh", "hard_tanh")
        # Kinks at both limits: the quadrature splits there and E[phi'' phi] gets its Dirac terms.
        return ActivationSpec(
            "custom",
            f"hard_tanh(min_val={low:g}, max_val={high:g})",
            function=lambda x: F.hardtanh(x, low, high),
            kinks=(low, high),
        )
    return None


def flatten_sequential(sequential: nn.Sequential, prefix: str) -> List[Tuple[str, nn.Module]]:
    """The leaves of ``sequential`` in execution order, nested Sequentials inlined, with
    qualified names as in ``named_modules()``."""
    flat: List[Tuple[str, nn.Module]] = []
    for name, child in sequential.named_children():
        qualified = f"{prefix}.{name}" if prefix else name
        if isinstance(child, nn.Sequential):
            flat.extend(flatten_sequential(child, qualified))
        else:
            flat.append((qualified, child))
    return flat


def _neighbour_activation(flat: List[Tuple[str, nn.Module]], index: int, step: int) -> Optional[Tuple[str, ActivationSpec]]:
    """The activation next to flat[index] in direction ``step``, looking through TRANSPARENT
    modules; None when a weight layer, another module or the end comes first."""
    i = index + step
    while 0 <= i < len(flat):
        name, module = flat[i]
        spec = activation_of(module)
        if spec is not None:
            return name, spec
        if not isinstance(module, TRANSPARENT):
            return None
        i += step
    return None


@dataclass(frozen=True)
class LayerContext:
    """The activations around one weight layer of an nn.Sequential."""

    before: Optional[Tuple[str, ActivationSpec]]  # applied to the layer's input
    after: Optional[Tuple[str, ActivationSpec]]  # applied to the layer's output


def sequential_contexts(model: nn.Module) -> Dict[str, LayerContext]:
    """For every weight layer inside an nn.Sequential of ``model`` (at any depth), the activations
    before and after it, keyed by the layer's qualified name."""
    contexts: Dict[str, LayerContext] = {}
    inlined = set()
    for name, module in model.named_modules():
        if not isinstance(module, nn.Sequential) or name in inlined:
            continue
        flat = flatten_sequential(module, name)
        for sub_name, sub in module.named_modules(prefix=name):
            if isinstance(sub, nn.Sequential):
                inlined.add(sub_name)
        for index, (layer_name, layer) in enumerate(flat):
            if isinstance(layer, WEIGHT_LAYERS):
                contexts[layer_name] = LayerContext(
                    _neighbour_activation(flat, index, -1), _neighbour_activation(flat, index, +1)
                )
    return contexts
