"""Gaussian-process kernels of infinitely wide networks: NNGP and NTK operators, kernel modules,
exact GP regression and infinite-width gradient-descent prediction.

Conventions: every ``sigma_*2`` is a variance; ``depth`` is the number of nonlinearities; the
network is ``[Dense, phi] * depth + Dense`` (see :func:`fc_kernel`).
"""

from statmech.gp._functional import fc_kernel, fc_kernel_matmul
from statmech.gp._modules import ExactGP, KernelLayer, NNGPKernel, NTKKernel, ntk_predict
from statmech.gp._solve import kernel_solve
from statmech.gp._variational import VariationalGP

__all__ = ["fc_kernel", "fc_kernel_matmul", "NNGPKernel", "NTKKernel", "ExactGP", "ntk_predict", "KernelLayer", "kernel_solve",
           "VariationalGP"]
