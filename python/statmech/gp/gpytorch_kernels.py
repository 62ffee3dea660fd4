"""GPyTorch adapter: the NNGP and NTK kernels as ``gpytorch.kernels.Kernel``\\ s.

GPyTorch is optional (``pip install torch-statmech[gpytorch]``); importing this module without it
raises ImportError. The kernels work unchanged with ``gpytorch.models.ExactGP`` and
``gpytorch.mlls.ExactMarginalLogLikelihood`` (and so with BoTorch's ``SingleTaskGP(covar_module=...)``)::

    from statmech.gp.gpytorch_kernels import NNGPGPyTorchKernel
    covar = gpytorch.kernels.ScaleKernel(NNGPGPyTorchKernel(depth=3, activation="relu"))
"""

from typing import Optional

import torch
from torch import Tensor

import gpytorch
from gpytorch.constraints import Positive

__all__ = ["NNGPGPyTorchKernel", "NTKGPyTorchKernel"]


class _FCKernelAdapter(gpytorch.kernels.Kernel):
    is_stationary = False
    _kernel_name = "nngp"

    def __init__(self, depth: int = 2, activation: str = "relu", sigma_w2: float = 2.0, sigma_b2: float = 0.1,
                 parameterization: str = "ntk", activation_parameter: Optional[float] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.batch_shape != torch.Size([]):
            raise ValueError(f"{type(self).__name__}: batched kernels (batch_shape) are not supported")
        self.depth = depth
        if not isinstance(activation, str):
            raise TypeError(f"{type(self).__name__}: activation must be a built-in name (any that "
                            f"statmech.gp.fc_kernel takes, elu/selu/hard_tanh included), got {type(activation).__name__}")
        self.activation = activation
        self.activation_parameter = activation_parameter  # leaky_relu's slope or elu's alpha
        self.parameterization = parameterization
        self.register_parameter("raw_sigma_w2", torch.nn.Parameter(torch.zeros(())))
        self.register_parameter("raw_sigma_b2", torch.nn.Parameter(torch.zeros(())))
        self.register_constraint("raw_sigma_w2", Positive())
        self.register_constraint("raw_sigma_b2", Positive())
        self.sigma_w2 = sigma_w2
        self.sigma_b2 = sigma_b2

    @property
    def sigma_w2(self) -> Tensor:
        return self.raw_sigma_w2_constraint.transform(self.raw_sigma_w2)

    @sigma_w2.setter
    def sigma_w2(self, value) -> None:
        value = torch.as_tensor(value, dtype=self.raw_sigma_w2.dtype)
        self.initialize(raw_sigma_w2=self.raw_sigma_w2_constraint.inverse_transform(value))

    @property
    def sigma_b2(self) -> Tensor:
        return self.raw_sigma_b2_constraint.transform(self.raw_sigma_b2)

    @sigma_b2.setter
    def sigma_b2(self, value) -> None:
        value = torch.as_tensor(value, dtype=self.raw_sigma_b2.dtype)
        self.initialize(raw_sigma_b2=self.raw_sigma_b2_constraint.inverse_transform(value))

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, last_dim_is_batch: bool = False, **params) -> Tensor:
        if last_dim_is_batch or x1.dim() != 2 or x2.dim() != 2:
            raise ValueError(f"{type(self).__name__}: inputs must be 2-D [n, d] (no batch dimensions), got "
                             f"{tuple(x1.shape)} and {tuple(x2.shape)}")
        name = self._kernel_name
        out = torch.ops.statmech.fc_kernel(
            x1, x2, self.sigma_w2.to(x1.dtype), self.sigma_b2.to(x1.dtype), self.depth, self.activation,
            self.activation_parameter, self.parameterization, 1.0, name == "nngp", name == "ntk", diag)
        return out[0]


class NNGPGPyTorchKernel(_FCKernelAdapter):
    """:class:`statmech.gp.NNGPKernel` as a ``gpytorch.kernels.Kernel`` (positive sigmas through
    GPyTorch's ``Positive`` constraint)."""

    _kernel_name = "nngp"


class NTKGPyTorchKernel(_FCKernelAdapter):
    """:class:`statmech.gp.NTKKernel` as a ``gpytorch.kernels.Kernel``."""

    _kernel_name = "ntk"
