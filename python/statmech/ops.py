"""Tensor operators of torch-statmech.

Each function here is a thin, documented wrapper over ``torch.ops.statmech.<name>``: the
operator itself (kernels, autograd, meta kernel, input checks) lives in C++. Call the
``torch.ops`` form directly from TorchScript; both forms work under ``torch.compile``.
"""

from torch import Tensor
import torch

__all__ = ["rbm_free_energy"]


def rbm_free_energy(visible: Tensor, weight: Tensor, visible_bias: Tensor, hidden_bias: Tensor) -> Tensor:
    r"""Free energy of a Bernoulli-Bernoulli restricted Boltzmann machine.

    .. math::
        F(v) = -a^\top v - \sum_j \operatorname{softplus}\big(c_j + (vW)_j\big),

    the energy :math:`E(v, h) = -a^\top v - c^\top h - v^\top W h` with the binary hidden units
    summed out, so that :math:`p(v) = e^{-F(v)} / Z`. Computed with a stable softplus; the
    backward is hand-written (one saved ``[batch, hidden]`` tensor, :math:`p(h=1 \mid v)`).

    Args:
        visible: ``[batch, visible]`` visible states (usually in {0, 1} or [0, 1]).
        weight: ``[visible, hidden]`` coupling matrix :math:`W`. Every RBM operator in this
            package uses this layout (the one of the RBM literature, where :math:`F` reads
            :math:`vW`), not ``torch.nn.Linear``'s ``[out, in]``.
        visible_bias: ``[visible]`` visible bias :math:`a`.
        hidden_bias: ``[hidden]`` hidden bias :math:`c`.

    Returns:
        ``[batch]`` free energy of each row.

    All tensors must share one dtype (float32 or float64) and one device. Differentiable with
    respect to every argument (first order).

    Example::

        >>> v = torch.bernoulli(torch.full((4, 6), 0.5))
        >>> W, a, c = torch.randn(6, 3), torch.zeros(6), torch.zeros(3)
        >>> statmech.ops.rbm_free_energy(v, W, a, c).shape
        torch.Size([4])
    """
    return torch.ops.statmech.rbm_free_energy(visible, weight, visible_bias, hidden_bias)
