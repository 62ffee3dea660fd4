"""The GPyTorch adapter inside gpytorch.models.ExactGP with ExactMarginalLogLikelihood (skipped
when gpytorch is not installed)."""

import pytest
import torch

gpytorch = pytest.importorskip("gpytorch")

import statmech  # noqa: E402,F401
from statmech.gp import fc_kernel  # noqa: E402
from statmech.gp.gpytorch_kernels import NNGPGPyTorchKernel, NTKGPyTorchKernel  # noqa: E402


class _Model(gpytorch.models.ExactGP):
    def __init__(self, x, y, likelihood, kernel):
        super().__init__(x, y, likelihood)
        self.mean_module = gpytorch.means.ZeroMean()
        self.covar_module = kernel

    def forward(self, x):
        return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))


@pytest.mark.parametrize("adapter,get", [(NNGPGPyTorchKernel, "nngp"), (NTKGPyTorchKernel, "ntk")])
def test_exact_gp_trains_and_predicts(adapter, get):
    torch.manual_seed(0)
    x = torch.randn(20, 2, dtype=torch.float64)
    y = torch.sin(2 * x[:, 0]) + 0.05 * torch.randn(20, dtype=torch.float64)
    kernel = adapter(depth=2, activation="relu", sigma_w2=1.5, sigma_b2=0.2).double()
    dense = kernel(x).to_dense()
    torch.testing.assert_close(dense, fc_kernel(x, x, depth=2, activation="relu", sigma_w2=1.5, sigma_b2=0.2, get=get))
    torch.testing.assert_close(kernel(x, diag=True), dense.diagonal())
    likelihood = gpytorch.likelihoods.GaussianLikelihood().double()
    model = _Model(x, y, likelihood, kernel).double()
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
    model.train()
    likelihood.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = -mll(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    assert kernel.raw_sigma_w2.grad is not None
    model.eval()
    likelihood.eval()
    with torch.no_grad():
        pred = model(torch.randn(5, 2, dtype=torch.float64))
    assert pred.mean.shape == (5,) and (pred.variance > 0).all()
