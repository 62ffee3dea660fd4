"""Activations of kernel shaping: :class:`TransformedActivation`."""


import math

import torch
from torch import Tensor, nn

__all__ = ["TransformedActivation"]


class TransformedActivation(nn.Module):
    r"""The transformed activation of Deep Kernel Shaping / TAT, element-wise:

    .. math::
        \hat\phi(x) = \text{output\_scale}\,\big(\phi(\text{input\_scale}\cdot x + \text{input\_shift}) + \text{output\_shift}\big).

    Build it from :func:`statmech.meanfield.dks` or :func:`statmech.meanfield.tat`
    (``TransformedActivation.from_transform(t)`` or ``t.module()``), which choose the four numbers so
    that a deep network without skip connections keeps a well-shaped kernel. Those maps assume
    q-preserving orthogonal weights (``statmech.init.critical_orthogonal_(w, 1.0)`` or
    ``delta_orthogonal_(w, 1.0)`` for convolutions), zero biases and inputs with mean squared entry 1
    (see :mod:`statmech.meanfield`).

    A thin shell over the operator ``torch.ops.statmech.transformed_activation``; scriptable
    (``torch.jit.script``) and traceable by ``torch.compile``. The numbers are plain attributes, not
    parameters: the transformation is fixed at initialisation, as in the papers.

    Args:
        activation: a built-in name (``"tanh"``, ``"softplus"``, ``"gelu"`` (exact), ``"silu"``,
            ``"elu"``, ``"leaky_relu"``, ... as :func:`statmech.meanfield.activation`).
        input_scale, input_shift, output_shift, output_scale: :math:`\alpha, \beta, \delta, \gamma`.
        parameter: ``negative_slope`` for leaky_relu, ``alpha`` for elu (ignored otherwise).

    Shape:
        - Input: ``(*)``, any shape, floating point.
        - Output: ``(*)``, same shape and dtype.

    Example::

        >>> t = statmech.meanfield.tat("leaky_relu", depth=50)
        >>> act = statmech.nn.TransformedActivation.from_transform(t)
        >>> act(torch.randn(4, 8)).shape
        torch.Size([4, 8])
    """

    activation: str
    parameter: float
    input_scale: float
    input_shift: float
    output_shift: float
    output_scale: float

    def __init__(
        self,
        activation: str = "tanh",
        input_scale: float = 1.0,
        input_shift: float = 0.0,
        output_shift: float = 0.0,
        output_scale: float = 1.0,
        parameter: float = 0.0,
    ) -> None:
        super().__init__()
        if not isinstance(activation, str):
            raise TypeError(
                f"TransformedActivation: activation must be a built-in name, got {type(activation).__name__}"
            )
        constants = dict(parameter=parameter, input_scale=input_scale, input_shift=input_shift,
                         output_shift=output_shift, output_scale=output_scale)
        for key, value in constants.items():
            if not math.isfinite(float(value)):
                raise ValueError(f"TransformedActivation: {key} must be finite, got {value}")
        self.activation = activation
        self.parameter = float(parameter)
        self.input_scale = float(input_scale)
        self.input_shift = float(input_shift)
        self.output_shift = float(output_shift)
        self.output_scale = float(output_scale)
        self.reset_parameters()

    @classmethod
    def from_transform(cls, transform) -> "TransformedActivation":
        """The module for an :class:`statmech.meanfield.ActivationTransform` (from ``dks``/``tat``)."""
        if transform.activation.is_custom:
            raise TypeError("TransformedActivation: the transformation is of a custom activation; use a built-in one")
        return cls(
            transform.activation.name,
            transform.input_scale,
            transform.input_shift,
            transform.output_shift,
            transform.output_scale,
            parameter=float(transform.activation.parameter),
        )

    def reset_parameters(self) -> None:
        """Nothing to reset (no parameters); checks the activation name."""
        from statmech.meanfield import Activation

        if self.activation not in Activation.names():
            raise ValueError(
                f"TransformedActivation: unknown activation {self.activation!r}; "
                f"valid names are {', '.join(Activation.names())}"
            )

    def forward(self, input: Tensor) -> Tensor:
        return torch.ops.statmech.transformed_activation(
            input,
            self.activation,
            self.parameter,
            self.input_scale,
            self.input_shift,
            self.output_shift,
            self.output_scale,
        )

    def extra_repr(self) -> str:
        parameter = f", parameter={self.parameter:.10g}" if self.parameter != 0.0 else ""
        return (
            f"{self.activation!r}{parameter}, input_scale={self.input_scale:.10g}, "
            f"input_shift={self.input_shift:.10g}, output_shift={self.output_shift:.10g}, "
            f"output_scale={self.output_scale:.10g}"
        )
