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


def test_botorch_single_task_gp_matches_exact_gp():
    """BoTorch's SingleTaskGP with our adapter as covar_module, fitted by Adam on the exact marginal
    likelihood, against statmech.gp.ExactGP with the fitted hyper-parameters: an independent
    Cholesky posterior (ours) vs GPyTorch's prediction strategy, same kernel values. BoTorch's
    posterior runs under its own GPyTorch settings (fast_pred_var among them), so the two differ by
    more than round-off: measured 1.1e-8 on means of size ~1 and 2.5e-9 on variances >= 0.02;
    the tolerance (1e-6 relative, 1e-7 absolute) leaves a factor 10 over that."""
    try:  # botorch is optional (pip install --no-deps botorch pyre-extensions); skip if it does not import
        from botorch.models import SingleTaskGP
    except ImportError as error:
        pytest.skip(f"botorch not importable: {error}")

    from statmech.gp import ExactGP, NNGPKernel

    torch.manual_seed(1)
    x = torch.rand(24, 2, dtype=torch.float64)
    y = (torch.sin(4 * x[:, 0]) + x[:, 1] ** 2 + 0.05 * torch.randn(24, dtype=torch.float64)).unsqueeze(1)
    kernel = NNGPGPyTorchKernel(depth=3, activation="relu", sigma_w2=1.5, sigma_b2=0.2).double()
    model = SingleTaskGP(x, y, covar_module=kernel, mean_module=gpytorch.means.ZeroMean(),
                         outcome_transform=None)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = -mll(model(x), y.squeeze(1))
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    model.eval()
    x_test = torch.rand(7, 2, dtype=torch.float64)
    with torch.no_grad():
        post = model.posterior(x_test)
        mean, var = post.mean.squeeze(-1), post.variance.squeeze(-1)

    ours = ExactGP(NNGPKernel(depth=3, activation="relu", sigma_w2=float(kernel.sigma_w2),
                              sigma_b2=float(kernel.sigma_b2)),
                   noise=float(model.likelihood.noise)).double()
    ours.fit(x, y.squeeze(1))
    with torch.no_grad():
        our_mean, our_var = ours.posterior(x_test)
    torch.testing.assert_close(mean, our_mean, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(var, our_var, rtol=1e-6, atol=1e-7)


def test_adapter_takes_quadrature_activations_with_parameter():
    from statmech.gp.gpytorch_kernels import NNGPGPyTorchKernel

    x = torch.randn(5, 3, dtype=torch.float64)
    kernel = NNGPGPyTorchKernel(depth=2, activation="elu", activation_parameter=0.5, sigma_w2=1.5,
                                sigma_b2=0.2).double()
    ref = fc_kernel(x, depth=2, activation="elu", activation_parameter=0.5, sigma_w2=kernel.sigma_w2.detach(),
                    sigma_b2=kernel.sigma_b2.detach(), get="nngp")
    torch.testing.assert_close(kernel(x).to_dense().detach(), ref)
    with pytest.raises(TypeError, match="activation must be a built-in name"):
        NNGPGPyTorchKernel(activation=torch.tanh)
