"""NNGPKernel / NTKKernel, ExactGP, ntk_predict and KernelLayer."""

import math

import pytest
import torch

import statmech  # noqa: F401
from statmech.gp import ExactGP, KernelLayer, NNGPKernel, NTKKernel, fc_kernel, ntk_predict


def _x(n=6, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("module,get", [(NNGPKernel, "nngp"), (NTKKernel, "ntk")])
def test_kernel_modules_match_op_script_compile(module, get):
    k = module(depth=3, activation="erf", sigma_w2=1.5, sigma_b2=0.2).double()
    x1, x2 = _x(), _x(4, seed=1)
    ref = fc_kernel(x1, x2, depth=3, activation="erf", sigma_w2=1.5, sigma_b2=0.2, get=get)
    torch.testing.assert_close(k(x1, x2), ref)
    torch.testing.assert_close(k(x1, diag=True), k(x1).diagonal())
    torch.testing.assert_close(float(k.sigma_w2), 1.5)
    scripted = torch.jit.script(k)
    torch.testing.assert_close(scripted(x1, x2), ref)
    compiled = torch.compile(k, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x1, x2), ref)
    k(x1, x2).sum().backward()
    assert k.raw_sigma_w2.grad is not None and torch.isfinite(k.raw_sigma_w2.grad)
    assert "depth=3" in repr(k)


def test_exact_gp_matches_closed_form_posterior_and_trains():
    x, xs = _x(8), _x(5, seed=2)
    y = torch.sin(x.sum(1))
    gp = ExactGP(NNGPKernel(depth=2, sigma_w2=2.0, sigma_b2=0.1), noise=0.05).double().fit(x, y)
    mean, var = gp.posterior(xs)
    k = fc_kernel(x, depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.1, get="nngp")
    ks = fc_kernel(xs, x, depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.1, get="nngp")
    kss = fc_kernel(xs, depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.1, get="nngp")
    a = k + 0.05 * torch.eye(8, dtype=torch.float64)
    torch.testing.assert_close(mean, ks @ torch.linalg.solve(a, y))
    torch.testing.assert_close(var, (kss - ks @ torch.linalg.solve(a, ks.T)).diagonal())
    nlml = 0.5 * y @ torch.linalg.solve(a, y) + 0.5 * torch.logdet(a) + 4 * math.log(2 * math.pi)
    torch.testing.assert_close(gp.loss(), nlml / 8)
    opt = torch.optim.Adam(gp.parameters(), lr=0.05)
    start = float(gp.loss())
    for _ in range(20):
        opt.zero_grad()
        loss = gp.loss()
        loss.backward()
        opt.step()
    assert float(gp.loss()) < start


def test_exact_gp_jitter_and_error():
    x = torch.cat([_x(3), _x(3)])  # duplicates: singular without noise
    gp = ExactGP(NNGPKernel(depth=1), noise=1e-30).double().fit(x, torch.ones(6, dtype=torch.float64))
    assert torch.isfinite(gp.loss())
    bad = ExactGP(NNGPKernel(depth=1), noise=1e-3).double().fit(x, torch.ones(6, dtype=torch.float64))
    bad.kernel.forward = lambda a, b=None, diag=False: -torch.ones(a.shape[0], a.shape[0], dtype=a.dtype)
    with pytest.raises(RuntimeError, match="Cholesky .* failed .* even with jitter"):
        bad.loss()


def test_ntk_predict_limits():
    x, y, xs = _x(10), torch.randn(10, 1, dtype=torch.float64), _x(4, seed=3)
    kw = dict(depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.1)
    nngp, ntk = fc_kernel(x, **kw)
    nngp_s, ntk_s = fc_kernel(xs, x, **kw)
    nngp_ss = fc_kernel(xs, **kw, get="nngp")
    # t = infinity: kernel regression; NNGP covariance = the Bayesian posterior.
    mean, cov = ntk_predict(x, y, xs, None, get="ntk", **kw)
    torch.testing.assert_close(mean, ntk_s @ torch.linalg.solve(ntk, y))
    mean, cov = ntk_predict(x, y, xs, None, get="nngp", **kw)
    torch.testing.assert_close(mean, nngp_s @ torch.linalg.solve(nngp, y))
    torch.testing.assert_close(cov, nngp_ss - nngp_s @ torch.linalg.solve(nngp, nngp_s.T))
    # t = 0: the prior (mean 0, covariance K**).
    mean, cov = ntk_predict(x, y, xs, 0.0, get="ntk", **kw)
    torch.testing.assert_close(mean, torch.zeros_like(mean))
    torch.testing.assert_close(cov, nngp_ss)
    # Large t approaches t = infinity.
    late, _ = ntk_predict(x, y, xs, 1e9, get="ntk", **kw)
    torch.testing.assert_close(late, ntk_s @ torch.linalg.solve(ntk, y), rtol=1e-6, atol=1e-6)


def test_ntk_predict_diag_reg_scaling():
    # neural-tangents' convention: diag_reg is relative to mean(diag(Theta_dd)) = tr(Theta_dd) / N unless
    # diag_reg_absolute_scale=True.
    x, y, xs = _x(10), torch.randn(10, 2, dtype=torch.float64), _x(4, seed=3)
    kw = dict(depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.1)
    nngp, ntk = fc_kernel(x, **kw)
    nngp_s, ntk_s = fc_kernel(xs, x, **kw)
    nngp_ss = fc_kernel(xs, **kw, get="nngp")
    eye = torch.eye(10, dtype=torch.float64)
    for get, theta, theta_s in (("ntk", ntk, ntk_s), ("nngp", nngp, nngp_s)):
        reg = 0.3 * torch.trace(theta) / 10
        regularised = theta + reg * eye
        mean, _ = ntk_predict(x, y, xs, None, get=get, diag_reg=0.3, compute_cov=False, **kw)
        torch.testing.assert_close(mean, theta_s @ torch.linalg.solve(regularised, y))
        absolute, _ = ntk_predict(x, y, xs, None, get=get, diag_reg=float(reg), diag_reg_absolute_scale=True,
                                  compute_cov=False, **kw)
        torch.testing.assert_close(absolute, mean)
        # Finite t: Theta_* Theta_reg^{-1} (I - exp(-eta Theta_reg t / n_y)) Y.
        t = 3.0
        decay = torch.linalg.matrix_exp(-regularised * t / y.numel())
        finite, cov = ntk_predict(x, y, xs, t, get=get, diag_reg=0.3, **kw)
        operator = torch.linalg.solve(regularised, eye - decay)
        torch.testing.assert_close(finite, theta_s @ operator @ y)
        if get == "nngp":
            twice = torch.linalg.solve(regularised, eye - decay @ decay)
            torch.testing.assert_close(cov, nngp_ss - nngp_s @ twice @ nngp_s.T)
        else:
            term = ntk_s @ operator
            torch.testing.assert_close(cov, nngp_ss + term @ nngp @ term.T - term @ nngp_s.T - nngp_s @ term.T)
    with pytest.raises(ValueError, match="diag_reg must be >= 0"):
        ntk_predict(x, y, xs, None, diag_reg=-1.0, **kw)


def test_kernel_layer_trains():
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = torch.sin(x[:, :1] * 2)
    layer = KernelLayer(3, 16, 1, depth=2)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(layer(x), y)
        loss.backward()
        opt.step()
        first = float(loss) if first is None else first
    assert float(loss) < 0.7 * first
    assert layer.inducing_points.grad is not None
    assert "num_inducing=16" in repr(layer)
