"""VariationalGP (whitened SVGP) against the exact GP on a small problem."""


import pytest
import torch

from statmech.gp import ExactGP, NNGPKernel, NTKKernel, VariationalGP


def _problem(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.sin(2 * x[:, 0]) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)
    return x, y


def _exact_log_marginal(kernel, noise, x, y):
    # Written out here: log N(y | 0, K + noise I).
    k = kernel(x) + noise * torch.eye(x.shape[0], dtype=x.dtype)
    return torch.distributions.MultivariateNormal(torch.zeros_like(y), covariance_matrix=k).log_prob(y)


@pytest.mark.parametrize("module", [NNGPKernel, NTKKernel])
def test_inducing_points_at_the_data_recover_the_exact_gp(module):
    x, y = _problem()
    kernel = module(depth=2, activation="relu", sigma_w2=1.6, sigma_b2=0.2).double()
    svgp = VariationalGP(kernel, x, noise=0.05, jitter=1e-12).double()
    exact = _exact_log_marginal(kernel, svgp.noise.detach(), x, y).detach()
    start = float(svgp.elbo(x, y).detach())
    assert start < float(exact)  # q = prior
    if module is NNGPKernel:
        # Trained on q alone in an ordinary loop, the bound approaches the evidence from below.
        opt = torch.optim.Adam([svgp.variational_mean, svgp.variational_scale_tril], lr=0.1)
        for _ in range(80):
            opt.zero_grad()
            (-svgp.elbo(x, y)).backward()
            opt.step()
        trained = float(svgp.elbo(x, y).detach())
        assert trained <= float(exact) + 1e-9
        assert float(exact) - trained < 0.1 * (float(exact) - start)
    svgp.set_optimal_variational_(x, y)
    torch.testing.assert_close(svgp.elbo(x, y).detach(), exact, rtol=1e-7, atol=1e-7)
    # The posterior is the exact GP's.
    gp = ExactGP(kernel, noise=0.05).double().fit(x, y)
    xs = torch.randn(5, 2, dtype=torch.float64)
    for ours, theirs in zip(svgp(xs), gp.posterior(xs)):
        torch.testing.assert_close(ours.detach(), theirs.detach(), rtol=1e-6, atol=1e-7)


def test_training_loop_raises_the_bound_which_stays_below_the_evidence():
    x, y = _problem(24, seed=1)
    torch.manual_seed(0)
    kernel = NNGPKernel(depth=2, activation="erf", sigma_w2=1.5, sigma_b2=0.1).double()
    svgp = VariationalGP(kernel, x[::4].clone(), noise=0.1).double()  # 6 inducing points
    opt = torch.optim.Adam(svgp.parameters(), lr=0.03)
    start = float(svgp.elbo(x, y).detach())
    for step in range(60):
        batch = torch.randperm(24)[:12]
        opt.zero_grad()
        loss = -svgp.elbo(x[batch], y[batch], num_data=24) / 24
        loss.backward()
        opt.step()
    final = float(svgp.elbo(x, y).detach())
    assert final > start
    exact = float(_exact_log_marginal(kernel, svgp.noise.detach(), x, y))
    assert final <= exact + 1e-9
    # The optimal q for the trained kernel is tighter, and still a lower bound (Titsias 2009).
    optimal = float(svgp.set_optimal_variational_(x, y).elbo(x, y).detach())
    assert final <= optimal + 1e-9 <= exact + 2e-9
    assert svgp.inducing_points.grad is not None
    assert "num_inducing=6" in repr(svgp)


def test_errors():
    kernel = NNGPKernel().double()
    with pytest.raises(ValueError, match="inducing_points must be"):
        VariationalGP(kernel, torch.zeros(3))
    svgp = VariationalGP(kernel, torch.randn(3, 2, dtype=torch.float64)).double()
    with pytest.raises(ValueError, match="x must be"):
        svgp.elbo(torch.zeros(4, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.float64))
