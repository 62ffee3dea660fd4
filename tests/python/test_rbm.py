"""RBM sampling, partition functions, evaluation and the statmech.nn modules.

References are independent of the operators: brute-force enumeration of every (v, h) state,
numerical quadrature over Gaussian visible units, chi-square tests of the samplers against the
exact distribution, scikit-learn's BernoulliRBM on the same weights, and the analytic CD/PCD
gradient.
"""

import copy
import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

import statmech
from statmech import ops
from statmech.nn import RBM, GaussianBernoulliRBM

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The chains here are small ([100, 64] GEMMs): threads only add synchronisation, which on a
    loaded 2-core runner costs 20x; one thread keeps this file fast everywhere."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def states(n, dtype=torch.float64):
    codes = torch.arange(2**n).unsqueeze(1)
    return ((codes >> torch.arange(n)) & 1).to(dtype)


def joint_energy(v, h, W, a, c):
    """E(v, h) = -a.v - c.h - v^T W h for every pair of rows of v [Nv, V] and h [Nh, H]: [Nv, Nh]."""
    return -(v @ a).unsqueeze(1) - (h @ c).unsqueeze(0) - v @ W @ h.T


def brute_force_log_z(W, a, c):
    W, a, c = (t.double().cpu() for t in (W, a, c))
    return torch.logsumexp(-joint_energy(states(W.shape[0]), states(W.shape[1]), W, a, c).flatten(), 0)


def random_model(visible, hidden, dtype=torch.float64, device="cpu", seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    W = scale * torch.randn(visible, hidden, dtype=dtype, generator=g)
    a = torch.randn(visible, dtype=dtype, generator=g)
    c = torch.randn(hidden, dtype=dtype, generator=g)
    return [t.to(device) for t in (W, a, c)]


def binary(batch, visible, dtype=torch.float64, device="cpu", seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((batch, visible), 0.5, dtype=dtype), generator=g).to(device)


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    x = datasets.load_digits().data
    return torch.from_numpy((x > 7).astype(np.float64))  # binarised at half the pixel range (0..16)


@pytest.fixture(scope="module")
def digits_model(digits):
    """A 64-20 RBM trained by PCD on binarised digits: small enough for exact log Z, trained enough
    that log Z is far from the base-rate model's."""
    torch.manual_seed(0)
    model = RBM(64, 20, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    model.reset_parameters(generator=g)
    model.init_from_data(digits)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    model.fit(digits, epochs=15, batch_size=50, optimizer=optimizer, steps=1, persistent=True, generator=g, progress=False)
    return model


# ---- exact log Z --------------------------------------------------------------------------------
@pytest.mark.parametrize("visible,hidden", [(5, 4), (4, 6), (1, 1), (7, 7)])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
def test_exact_log_partition_matches_brute_force_over_both_layers(visible, hidden, dtype, tol, device):
    W, a, c = random_model(visible, hidden, dtype, device)
    expected = brute_force_log_z(W, a, c)
    for chunk_size in (3, 65536):  # several chunks, and one
        got = ops.rbm_log_partition(W, a, c, chunk_size=chunk_size)
        assert got.dtype == dtype and got.shape == ()
        assert_close(got.double().cpu(), expected, rtol=tol, atol=tol)


def test_exact_log_partition_gradient_is_the_model_expectation():
    W, a, c = random_model(4, 3)
    for t in (W, a, c):
        t.requires_grad_()
    log_z = ops.rbm_log_partition(W, a, c)
    gW, ga, gc = torch.autograd.grad(log_z, (W, a, c))
    v, h = states(4), states(3)
    p = torch.softmax(-joint_energy(v, h, W.detach(), a.detach(), c.detach()).flatten(), 0).view(16, 8)
    assert_close(gW, v.T @ p @ h)  # <v h^T>_model
    assert_close(ga, p.sum(1) @ v)
    assert_close(gc, p.sum(0) @ h)
    assert torch.autograd.gradcheck(lambda *t: ops.rbm_log_partition(*t, chunk_size=5), [t.detach().requires_grad_() for t in (W, a, c)])


def test_exact_log_partition_refuses_more_than_25_units():
    W, a, c = random_model(30, 26)
    with pytest.raises(RuntimeError, match=r"rbm_log_partition: exact enumeration of 2\^26 .* limited to 25"):
        ops.rbm_log_partition(W, a, c)
    with pytest.raises(RuntimeError, match="chunk_size must be >= 1"):
        ops.rbm_log_partition(*random_model(2, 2), chunk_size=0)


# ---- Gaussian-Bernoulli ---------------------------------------------------------------------------
def gaussian_model(visible, hidden, seed=3):
    W, a, c = random_model(visible, hidden, seed=seed, scale=0.5)
    log_var = 0.3 * torch.randn(visible, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    return W, a, c, log_var


def test_gaussian_free_energy_matches_brute_force_sum_over_hidden():
    W, a, c, log_var = gaussian_model(3, 4)
    s = log_var.exp()
    v = torch.randn(7, 3, dtype=torch.float64)
    h = states(4)
    # E(v, h) written out term by term, then -log sum_h exp(-E).
    energy = ((v - a) ** 2 / (2 * s)).sum(1, keepdim=True) - (h @ c).unsqueeze(0) - (v / s) @ W @ h.T
    expected = -torch.logsumexp(-energy, 1)
    assert_close(ops.gaussian_rbm_free_energy(v, W, a, c, log_var), expected, rtol=1e-12, atol=1e-12)
    model = GaussianBernoulliRBM(3, 4, dtype=torch.float64)
    with torch.no_grad():
        for p, t in zip((model.weight, model.visible_bias, model.hidden_bias, model.visible_log_variance), (W, a, c, log_var)):
            p.copy_(t)
    assert_close(model.free_energy(v), expected, rtol=1e-12, atol=1e-12)
    hh = torch.bernoulli(torch.full((7, 4), 0.5, dtype=torch.float64))
    energy_rows = ((v - a) ** 2 / (2 * s)).sum(1) - hh @ c - ((v / s) @ W * hh).sum(1)
    assert_close(model.energy(v, hh), energy_rows)


def test_gaussian_density_normalises_by_quadrature():
    """exp(-F) integrated over v on a grid equals exp(log Z) of the hidden-enumerating op: the
    quadratic term has the sign that makes p(v) a density (with the other sign the integral diverges)."""
    W, a, c, log_var = gaussian_model(2, 3)
    grid = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    v = torch.cartesian_prod(grid, grid)
    density = torch.exp(-ops.gaussian_rbm_free_energy(v, W, a, c, log_var)).view(1201, 1201)
    integral = torch.trapezoid(torch.trapezoid(density, grid, dim=1), grid)
    log_z = ops.rbm_log_partition(W, a, c, visible_log_variance=log_var)
    assert_close(torch.log(integral), log_z, rtol=1e-9, atol=1e-9)


def test_gaussian_sampler_moments():
    W, a, c, log_var = gaussian_model(2, 3)
    g = torch.Generator().manual_seed(5)
    v0 = torch.zeros(40000, 2, dtype=torch.float64)
    v, _, _, _ = ops.rbm_gibbs(v0, W, a, c, 30, visible_log_variance=log_var, generator=g)
    grid = torch.linspace(-12, 12, 801, dtype=torch.float64)
    pts = torch.cartesian_prod(grid, grid)
    p = torch.exp(-ops.gaussian_rbm_free_energy(pts, W, a, c, log_var)).view(801, 801)
    p = p / torch.trapezoid(torch.trapezoid(p, grid, dim=1), grid)
    mean0 = torch.trapezoid(torch.trapezoid(p * grid[:, None], grid, dim=1), grid)
    sd0 = torch.sqrt(torch.trapezoid(torch.trapezoid(p * (grid[:, None] - mean0) ** 2, grid, dim=1), grid))
    # 5 standard errors of the mean of 40000 (nearly independent) draws.
    assert abs(float(v[:, 0].mean() - mean0)) < 5 * float(sd0) / math.sqrt(40000)


# ---- Gibbs sampler: distribution, reproducibility ---------------------------------------------------
def chi_square_joint(v, h, W, a, c):
    """Pearson chi^2 of the joint (v, h) sample counts against the exact p(v, h) over all states."""
    V, H = W.shape
    code = (v.long() * (1 << torch.arange(V))).sum(1) * (1 << H) + (h.long() * (1 << torch.arange(H))).sum(1)
    observed = torch.bincount(code, minlength=2 ** (V + H)).double()
    log_p = -joint_energy(states(V), states(H), W, a, c).flatten()
    expected = torch.softmax(log_p, 0) * v.shape[0]
    return float(((observed - expected) ** 2 / expected).sum()), 2 ** (V + H) - 1


def test_gibbs_chain_samples_the_exact_joint_distribution(device):
    """Chi-square goodness of fit of 20,000 independent chains after 25 steps, at significance
    0.001: the statistic must stay below the chi^2(31) 0.999 quantile, 61.1."""
    W, a, c = random_model(3, 2, seed=11)
    g = torch.Generator(device=device).manual_seed(0)
    start = torch.zeros(20000, 3, dtype=torch.float64, device=device)
    v, h, vp, hp = ops.rbm_gibbs(start, W.to(device), a.to(device), c.to(device), 25, generator=g)
    statistic, dof = chi_square_joint(v.cpu(), h.cpu(), W, a, c)
    assert statistic < scipy_stats.chi2.ppf(0.999, dof), statistic
    assert_close(hp.cpu(), torch.sigmoid(c + v.cpu() @ W))
    assert ((v == 0) | (v == 1)).all() and ((h == 0) | (h == 1)).all()


def test_gibbs_is_reproducible_from_a_generator(device):
    W, a, c = (t.to(device) for t in random_model(6, 5))
    v0 = binary(4, 6, device=device)
    first = ops.rbm_gibbs(v0, W, a, c, 7, generator=torch.Generator(device=device).manual_seed(3))
    second = ops.rbm_gibbs(v0, W, a, c, 7, generator=torch.Generator(device=device).manual_seed(3))
    for x, y in zip(first, second):
        assert torch.equal(x, y)
    zero = ops.rbm_gibbs(v0, W, a, c, 0)
    assert torch.equal(zero[0], v0) and torch.equal(zero[2], v0)


def test_gibbs_at_beta_zero_is_uniform():
    W, a, c = random_model(4, 3)
    v, h, vp, hp = ops.rbm_gibbs(torch.zeros(10, 4, dtype=torch.float64), W, a, c, 2, beta=0.0)
    assert torch.all(vp == 0.5) and torch.all(hp == 0.5)


def test_parallel_tempering_samples_the_model_and_reports_acceptance():
    """Replica 0 (beta = 1) passes the same chi-square test (significance 0.001) on a model with
    strong couplings; acceptance rates are fractions, and identical neighbours always swap."""
    W, a, c = random_model(3, 2, seed=12, scale=2.0)
    betas = torch.tensor([1.0, 0.7, 0.4, 0.1], dtype=torch.float64)
    start = torch.zeros(4, 10000, 3, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    v, h, acceptance = ops.rbm_parallel_tempering(start, W, a, c, betas, 30, generator=g)
    assert v.shape == (4, 10000, 3) and h.shape == (4, 10000, 2) and acceptance.shape == (3,)
    assert acceptance.dtype == torch.float64 and torch.all((acceptance > 0) & (acceptance <= 1))
    statistic, dof = chi_square_joint(v[0], h[0], W, a, c)
    assert statistic < scipy_stats.chi2.ppf(0.999, dof), statistic
    # A zero model has E = 0 at every state: every swap is accepted.
    zero = [torch.zeros_like(t) for t in (W, a, c)]
    _, _, always = ops.rbm_parallel_tempering(start[:, :10], *zero, betas, 3)
    assert torch.all(always == 1)


# ---- AIS ------------------------------------------------------------------------------------------
def test_default_ais_schedule():
    betas = ops.rbm_ais_default_betas()
    assert betas.shape == (14501,) and betas[0] == 0 and betas[-1] == 1
    assert torch.all(betas.diff() > 0)
    assert int((betas < 0.5).sum()) == 500 and int(((betas >= 0.5) & (betas < 0.9)).sum()) == 4000


def test_ais_is_exact_when_the_model_is_the_base_model(device):
    W, a, c = random_model(5, 3, device=device)
    W.zero_()
    c.zero_()
    log_z, lower, upper, log_weights = ops.rbm_ais(W, a, c, a, torch.linspace(0, 1, 11, dtype=torch.float64), 7)
    assert_close(log_z.cpu(), brute_force_log_z(W.cpu(), a.cpu(), c.cpu()), rtol=1e-12, atol=1e-12)
    assert torch.all(log_weights.abs() < 1e-12) and lower == log_z == upper


def test_ais_matches_exact_log_z_on_a_trained_digits_model(digits, digits_model, device):
    """AIS with the paper's 14,500 betas and 100 runs, from the base-rate model of the data: within
    its own +-3 sigma spread of the exact value, and within 0.5 nats (on CUDA: the fused anneal of
    ops/rbm/cuda/ais_cuda.cu)."""
    model = copy.deepcopy(digits_model).to(device)
    exact = float(model.log_partition().detach())
    log_z, lower, upper = model.ais(digits.to(device), runs=100, generator=torch.Generator(device).manual_seed(0))
    print(f"exact log Z {exact:.4f}, AIS {float(log_z):.4f} [{float(lower):.4f}, {float(upper):.4f}]")
    base = float(ops.rbm_log_partition(torch.zeros(64, 20, dtype=torch.float64), ops.rbm_base_rate_bias(digits), torch.zeros(20, dtype=torch.float64)))
    assert abs(exact - base) > 5  # the model is far from the base-rate model
    assert float(lower) <= exact <= float(upper)
    assert abs(float(log_z) - exact) < 0.5


def test_ais_is_reproducible(device):
    W, a, c = random_model(5, 3, device=device)
    betas = torch.linspace(0, 1, 50, dtype=torch.float64)
    r1 = ops.rbm_ais(W, a, c, a, betas, 10, generator=torch.Generator(device).manual_seed(4))
    r2 = ops.rbm_ais(W, a, c, a, betas, 10, generator=torch.Generator(device).manual_seed(4))
    r3 = ops.rbm_ais(W, a, c, a, betas, 10, generator=torch.Generator(device).manual_seed(5))
    assert torch.equal(r1[3], r2[3]) and not torch.equal(r1[3], r3[3])


@pytest.mark.parametrize("visible,hidden", [(0, 3), (3, 0)])
def test_ais_with_an_empty_layer(visible, hidden, device):
    # Nothing to anneal: log Z = (visible + hidden) log 2 at zero biases, exactly, on every device
    # (the CUDA kernel's launches must cope with empty layers).
    W = torch.zeros(visible, hidden, dtype=torch.float64, device=device)
    a = torch.zeros(visible, dtype=torch.float64, device=device)
    c = torch.zeros(hidden, dtype=torch.float64, device=device)
    log_z, lower, upper, _ = ops.rbm_ais(W, a, c, a, torch.linspace(0, 1, 5, dtype=torch.float64), 3)
    expected = (visible + hidden) * math.log(2.0)
    assert float(log_z) == pytest.approx(expected, rel=1e-14) and float(lower) == float(upper) == float(log_z)


def test_ais_checks_betas():
    W, a, c = random_model(5, 3)
    betas = torch.linspace(0, 1, 50, dtype=torch.float64)
    with pytest.raises(RuntimeError, match=r"rbm_ais: betas must start at 0"):
        ops.rbm_ais(W, a, c, a, betas[1:], 10)
    with pytest.raises(RuntimeError, match=r"rbm_ais: betas must end at 1"):
        ops.rbm_ais(W, a, c, a, betas[:-1], 10)
    with pytest.raises(RuntimeError, match=r"rbm_ais: betas must be strictly increasing"):
        ops.rbm_ais(W, a, c, a, torch.tensor([0.0, 0.6, 0.5, 1.0], dtype=torch.float64), 10)
    with pytest.raises(RuntimeError, match=r"rbm_ais: betas must be strictly increasing"):
        ops.rbm_ais(W, a, c, a, torch.tensor([0.0, 1.5, 1.0], dtype=torch.float64), 10)
    with pytest.raises(RuntimeError, match=r"rbm_ais: runs must be >= 1"):
        ops.rbm_ais(W, a, c, a, betas, 0)
    # More chains than memory: a named error, not an allocator message or the OOM killer.
    for runs in (10**11, 2**62):
        with pytest.raises(RuntimeError, match=rf"rbm_ais: runs = {runs} chains of .* GB, more than this machine's"):
            ops.rbm_ais(W, a, c, a, betas, runs)
    with pytest.raises(RuntimeError, match=r"rbm_ais: base_visible_bias.size\(0\) must equal"):
        ops.rbm_ais(W, a, c, a[:3], betas, 4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ais_accumulates_in_float64_and_matches_brute_force(dtype, device):
    W, a, c = random_model(6, 4, dtype=dtype, device=device)
    log_z, lower, upper, w = ops.rbm_ais(W, a, c, a * 0.5, torch.linspace(0, 1, 2001), 200,
                                         generator=torch.Generator(device).manual_seed(0))
    assert w.dtype == torch.float64 and log_z.dtype == torch.float64 and w.device == W.device
    exact = float(brute_force_log_z(W.cpu().double(), a.cpu().double(), c.cpu().double()))
    assert abs(float(log_z) - exact) < 0.05
    assert float(lower) <= exact <= float(upper)


def test_gaussian_ais_is_exact_when_the_model_is_the_base_model(device):
    """W = 0, c = 0, base mean = a: every intermediate model is the base model, so every log weight
    is 0 and log Z_hat is the closed form sum_i log sqrt(2 pi s_i) + hidden log 2."""
    W, a, c, log_var = (t.to(device) for t in gaussian_model(4, 3))
    W.zero_()
    c.zero_()
    log_z, lower, upper, log_weights = ops.rbm_ais(
        W, a, c, a, torch.linspace(0, 1, 11, dtype=torch.float64), 7, visible_log_variance=log_var
    )
    assert_close(log_z, ops.rbm_log_partition(W, a, c, visible_log_variance=log_var), rtol=1e-12, atol=1e-12)
    assert torch.all(log_weights.abs() < 1e-12) and lower == log_z == upper


@pytest.mark.parametrize("base_shift,dtype", [(0.0, torch.float64), (0.7, torch.float64), (0.7, torch.float32)])
def test_gaussian_ais_matches_exact_log_z(base_shift, dtype, device):
    """Gaussian-Bernoulli AIS (6 visible, 10 hidden, weights of scale 0.5, log variances of scale 0.3)
    against the exact log Z that rbm_log_partition gets by enumerating the 2^10 hidden states: within
    the reported +-3 sigma spread and 0.5 nats. base_shift moves the base model's mean away from the
    model's visible biases, exercising the mixed quadratic term of the intermediate energies."""
    W, a, c, log_var = (t.to(dtype).double() for t in gaussian_model(6, 10, seed=11))
    exact = float(ops.rbm_log_partition(W, a, c, visible_log_variance=log_var))
    betas = torch.linspace(0, 1, 2001, dtype=torch.float64)
    W, a, c, log_var = (t.to(device, dtype) for t in (W, a, c, log_var))
    log_z, lower, upper, w = ops.rbm_ais(
        W, a, c, a + base_shift, betas, 200, generator=torch.Generator(device).manual_seed(5),
        visible_log_variance=log_var,
    )
    print(f"exact log Z {exact:.4f}, AIS {float(log_z):.4f} [{float(lower):.4f}, {float(upper):.4f}]")
    assert w.shape == (200,) and w.dtype == torch.float64
    assert float(lower) <= exact <= float(upper)
    assert abs(float(log_z) - exact) < 0.5


def test_gaussian_rbm_module_ais_and_checks():
    W, a, c, log_var = gaussian_model(6, 10, seed=11)
    model = GaussianBernoulliRBM(6, 10, dtype=torch.float64)
    with torch.no_grad():
        for p, t in zip((model.weight, model.visible_bias, model.hidden_bias, model.visible_log_variance), (W, a, c, log_var)):
            p.copy_(t)
    data = torch.randn(50, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) + a
    betas = torch.linspace(0, 1, 1001, dtype=torch.float64)
    r1 = model.ais(data, betas=betas, runs=100, generator=torch.Generator().manual_seed(1))
    r2 = model.ais(data, betas=betas, runs=100, generator=torch.Generator().manual_seed(1))
    assert all(torch.equal(x, y) for x, y in zip(r1, r2))
    assert abs(float(r1[0]) - float(model.log_partition().detach())) < 0.5
    with pytest.raises(RuntimeError, match=r"rbm_ais: visible_log_variance.size\(0\) must equal"):
        ops.rbm_ais(W, a, c, a, betas, 4, visible_log_variance=log_var[:3])


# ---- pseudo-likelihood ----------------------------------------------------------------------------
def test_exact_pseudo_likelihood_matches_conditionals_by_enumeration():
    W, a, c = random_model(5, 4)
    v = binary(9, 5)
    F = lambda x: -torch.logsumexp(-joint_energy(x, states(4), W, a, c), 1)  # noqa: E731
    expected = torch.zeros(9, dtype=torch.float64)
    for i in range(5):
        flipped = v.clone()
        flipped[:, i] = 1 - flipped[:, i]
        expected += -torch.logaddexp(torch.zeros(()), F(v) - F(flipped))  # log p(v_i | v_-i)
    assert_close(ops.rbm_pseudo_likelihood(v, W, a, c), expected, rtol=1e-12, atol=1e-12)
    inputs = [t.clone().requires_grad_() for t in (W, a, c)]
    assert torch.autograd.gradcheck(lambda *t: ops.rbm_pseudo_likelihood(v, *t), inputs)


def test_pseudo_likelihood_against_scikit_learn_on_the_same_weights():
    sklearn_rbm = pytest.importorskip("sklearn.neural_network").BernoulliRBM
    W, a, c = random_model(8, 5, scale=0.5)
    v = binary(30, 8)
    theirs = sklearn_rbm(n_components=5, random_state=7)
    theirs.components_ = W.T.numpy()
    theirs.intercept_hidden_ = c.numpy()
    theirs.intercept_visible_ = a.numpy()
    vn = v.numpy()
    # Every single-bit term through scikit-learn's own free energy: its exact PL.
    terms = np.stack([
        -np.logaddexp(0, -(theirs._free_energy(np.where(np.arange(8) == i, 1 - vn, vn)) - theirs._free_energy(vn)))
        for i in range(8)
    ], 1)  # [30, 8]
    assert_close(ops.rbm_pseudo_likelihood(v, W, a, c), torch.from_numpy(terms.sum(1)), rtol=1e-10, atol=1e-10)
    # score_samples flips one random bit per row and scales by the number of visible units: each of
    # its values, and each of ours, is 8 times one of the terms of that row.
    for stochastic in (torch.from_numpy(theirs.score_samples(vn)),
                       ops.rbm_pseudo_likelihood(v, W, a, c, True, generator=torch.Generator().manual_seed(0))):
        distance = (stochastic.unsqueeze(1) - 8 * torch.from_numpy(terms)).abs().min(1).values
        assert torch.all(distance < 1e-10)
    # and both are unbiased for the exact PL: the mean over many draws converges to it.
    draws = torch.stack([ops.rbm_pseudo_likelihood(v, W, a, c, True, generator=torch.Generator().manual_seed(s)) for s in range(400)])
    sd = torch.from_numpy(8 * terms).std(1) / math.sqrt(400)
    assert torch.all((draws.mean(0) - torch.from_numpy(terms.sum(1))).abs() < 5 * sd + 1e-12)


def test_pseudo_likelihood_requires_binary_data():
    W, a, c = random_model(3, 2)
    with pytest.raises(RuntimeError, match="rbm_pseudo_likelihood: visible must be binary"):
        ops.rbm_pseudo_likelihood(torch.full((2, 3), 0.5, dtype=torch.float64), W, a, c)


# ---- CD / PCD ----------------------------------------------------------------------------------
def test_cd_and_pcd_loss_gradient_is_data_minus_model_expectation():
    model = RBM(6, 4, dtype=torch.float64)
    with torch.no_grad():
        for p, t in zip(model.parameters(), random_model(6, 4, scale=0.3)):
            p.copy_(t)
    data, chains = binary(8, 6, seed=2), binary(5, 6, seed=3)
    model.persistent_visible = chains.clone()
    loss = model.contrastive_divergence(data, steps=0, persistent=True)  # the fixed chains themselves
    loss.backward()
    W, a, c = (p.detach() for p in model.parameters())
    pd, pm = torch.sigmoid(c + data @ W), torch.sigmoid(c + chains @ W)
    assert_close(model.weight.grad, -(data.T @ pd) / 8 + (chains.T @ pm) / 5)
    assert_close(model.visible_bias.grad, -data.mean(0) + chains.mean(0))
    assert_close(model.hidden_bias.grad, -pd.mean(0) + pm.mean(0))
    # PCD advances its chains and keeps them in the buffer; CD leaves the buffer alone.
    model.contrastive_divergence(data, steps=3, persistent=True, generator=torch.Generator().manual_seed(0))
    assert model.persistent_visible.shape == (5, 6) and not torch.equal(model.persistent_visible, chains)
    kept = model.persistent_visible.clone()
    model.contrastive_divergence(data, steps=1)
    assert torch.equal(model.persistent_visible, kept)


def test_fused_contrastive_divergence_matches_the_composed_form(device):
    """rbm_contrastive_divergence == rbm_gibbs + rbm_free_energy: same chain end for the same seed,
    same loss, same gradients; gradcheck with fixed chains (steps = 0)."""
    W, a, c = (t.to(device) for t in random_model(7, 5, scale=0.5))
    data, chains = binary(6, 7, device=device, seed=4), binary(4, 7, device=device, seed=5)
    for start, steps in ((None, 1), (chains, 3), (chains, 0), (None, 2)):
        params = [t.clone().requires_grad_() for t in (W, a, c)]
        loss, end = ops.rbm_contrastive_divergence(data, start, *params, steps, generator=torch.Generator(device=device).manual_seed(9))
        ref_end = ops.rbm_gibbs(data if start is None else start, W, a, c, steps, generator=torch.Generator(device=device).manual_seed(9))[0]
        assert torch.equal(end, ref_end)
        ref_params = [t.clone().requires_grad_() for t in (W, a, c)]
        ref_loss = ops.rbm_free_energy(data, *ref_params).mean() - ops.rbm_free_energy(ref_end, *ref_params).mean()
        assert_close(loss, ref_loss)
        grads = torch.autograd.grad(loss, params)
        ref_grads = torch.autograd.grad(ref_loss, ref_params)
        for g1, g2 in zip(grads, ref_grads):
            assert_close(g1, g2)
    fixed = [t.clone().requires_grad_() for t in (W, a, c)]
    assert torch.autograd.gradcheck(lambda *p: ops.rbm_contrastive_divergence(data, chains, *p, 0)[0], fixed)
    with pytest.raises(RuntimeError, match="rbm_contrastive_divergence: steps must be >= 0"):
        ops.rbm_contrastive_divergence(data, None, W, a, c, -1)
    with pytest.raises(RuntimeError, match=r"rbm_contrastive_divergence: chain_start.size\(1\) must equal"):
        ops.rbm_contrastive_divergence(data, chains[:, :3], W, a, c)
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    for requires_grad in (False, True):
        p = [t.clone().requires_grad_(requires_grad) for t in (W, a, c)]
        torch.library.opcheck(torch.ops.statmech.rbm_contrastive_divergence.default, (data, chains, *p, 2), test_utils=utils)
        torch.library.opcheck(torch.ops.statmech.rbm_contrastive_divergence.default, (data, None, *p, 1), test_utils=utils)
    loss, end, pd, pm = torch.ops.statmech._rbm_contrastive_divergence_forward(data, chains, W, a, c, 1)
    torch.library.opcheck(torch.ops.statmech._rbm_contrastive_divergence_forward.default, (data, chains, W, a, c, 1), test_utils=utils)
    torch.library.opcheck(torch.ops.statmech._rbm_contrastive_divergence_backward.default, (torch.ones((), dtype=torch.float64, device=device), data, end, pd, pm, [True, False, True]))


def test_training_improves_the_exact_likelihood(digits, digits_model):
    """PCD training (the digits_model fixture, 15 epochs) raises the exact average log-likelihood
    well above the base-rate model's (-25.1 nats)."""
    base = RBM(64, 20, dtype=torch.float64).init_from_data(digits)
    with torch.no_grad():
        base.weight.zero_()
        before = float(base.log_likelihood(digits).mean())
        after = float(digits_model.log_likelihood(digits).mean())
    print(f"average log-likelihood: base-rate {before:.3f}, trained {after:.3f}")
    assert after > before + 2


def test_fit_records_metrics_per_epoch(digits):
    model = RBM(64, 8, dtype=torch.float64).init_from_data(digits)
    history = model.fit(digits, epochs=2, batch_size=100, lr=0.05, generator=torch.Generator().manual_seed(0),
                        ais_every=2, ais_runs=20, ais_betas=torch.linspace(0, 1, 500, dtype=torch.float64), progress=False)
    assert len(history) == 2 and {"loss", "reconstruction_error", "pseudo_likelihood"} <= set(history[0])
    assert "ais_log_likelihood" in history[1] and "ais_log_likelihood" not in history[0]
    with torch.no_grad():
        exact = float(model.log_likelihood(digits[:1000]).mean())
    assert abs(history[1]["ais_log_likelihood"] - exact) < 0.5


# ---- modules ------------------------------------------------------------------------------------
def test_hinton_initialisation_and_init_from_data():
    model = RBM(300, 200, dtype=torch.float64)
    model.reset_parameters(generator=torch.Generator().manual_seed(0))
    assert abs(float(model.weight.std()) - 0.01) < 5e-4 and float(model.weight.mean().abs()) < 5e-4
    assert torch.all(model.visible_bias == 0) and torch.all(model.hidden_bias == 0)
    data = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    small = RBM(2, 3, dtype=torch.float64).init_from_data(data, pseudocount=0.0)
    assert_close(small.visible_bias, torch.log(torch.tensor([3.0, 3.0]) / 1.0).double())


def test_conditionals_and_samplers_of_the_modules():
    model = RBM(5, 3, dtype=torch.float64)
    with torch.no_grad():
        for p, t in zip(model.parameters(), random_model(5, 3)):
            p.copy_(t)
    v = binary(4, 5)
    h, p = model.sample_h(v, torch.Generator().manual_seed(0))
    assert_close(p, torch.sigmoid(model.hidden_bias + v @ model.weight))
    vs, q = model.sample_v(h, torch.Generator().manual_seed(0))
    assert_close(q, torch.sigmoid(model.visible_bias + h @ model.weight.T))
    assert vs.shape == (4, 5)
    s1 = model.sample(6, steps=5, generator=torch.Generator().manual_seed(2))
    s2 = model.sample(6, steps=5, generator=torch.Generator().manual_seed(2))
    assert s1.shape == (6, 5) and torch.equal(s1, s2)
    gmodel = GaussianBernoulliRBM(3, 2, dtype=torch.float64)
    x = gmodel.sample(100, steps=3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (100, 3) and not torch.all((x == 0) | (x == 1))


def test_state_dict_round_trip_and_torchscript(tmp_path):
    model = RBM(6, 4, dtype=torch.float64)
    model.contrastive_divergence(binary(3, 6), persistent=True)
    clone = RBM(6, 4, dtype=torch.float64)
    clone.load_state_dict(model.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(value, clone.state_dict()[key]), key
    v = binary(5, 6)
    for cls in (RBM, GaussianBernoulliRBM):
        m = cls(6, 4, dtype=torch.float64)
        scripted = torch.jit.script(m)
        assert_close(scripted(v), m(v))
        assert_close(scripted.hidden_probability(v), m.hidden_probability(v))
        path = tmp_path / f"{cls.__name__}.pt"
        scripted.save(str(path))
        loaded = torch.jit.load(str(path))
        assert_close(loaded.free_energy(v), m.free_energy(v))
        a = loaded.sample(4, 3, torch.Generator().manual_seed(1))
        b = m.sample(4, 3, torch.Generator().manual_seed(1))
        assert torch.equal(a, b)
    assert "visible=6, hidden=4" in repr(RBM(6, 4))


def test_reconstruction_error_and_gaussian_training_loop():
    data = torch.randn(64, 3, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64) + 1
    model = GaussianBernoulliRBM(3, 4, dtype=torch.float64).init_from_data(data)
    assert_close(model.visible_bias, data.mean(0))
    history = model.fit(data, epochs=2, batch_size=16, lr=0.01, generator=torch.Generator().manual_seed(0), progress=False)
    assert len(history) == 2 and history[-1]["reconstruction_error"] > 0
    assert torch.isfinite(model.log_partition())


# ---- operator hygiene ---------------------------------------------------------------------------
def test_opcheck(device):
    W, a, c = random_model(5, 3, device=device)
    v = binary(4, 5, device=device)
    g = lambda: torch.Generator(device=device).manual_seed(0)  # noqa: E731
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    torch.library.opcheck(torch.ops.statmech.rbm_gibbs.default, (v, W, a, c, 2), {"generator": g()}, test_utils=utils)
    log_var = torch.zeros(5, dtype=torch.float64, device=device)
    torch.library.opcheck(torch.ops.statmech.rbm_gibbs.default, (v, W, a, c, 1), {"visible_log_variance": log_var}, test_utils=utils)
    betas = torch.tensor([1.0, 0.5], dtype=torch.float64, device=device)
    torch.library.opcheck(torch.ops.statmech.rbm_parallel_tempering.default, (torch.stack([v, v]), W, a, c, betas, 2), test_utils=utils)
    torch.library.opcheck(torch.ops.statmech.rbm_ais.default, (W, a, c, a, torch.linspace(0, 1, 5, dtype=torch.float64, device=device), 3), test_utils=utils)
    torch.library.opcheck(
        torch.ops.statmech.rbm_ais.default, (W, a, c, a, torch.linspace(0, 1, 5, dtype=torch.float64, device=device), 3),
        {"visible_log_variance": log_var}, test_utils=utils,
    )
    for requires_grad in (False, True):
        Wg, ag, cg = (t.clone().requires_grad_(requires_grad) for t in (W, a, c))
        torch.library.opcheck(torch.ops.statmech.rbm_log_partition.default, (Wg, ag, cg))
        torch.library.opcheck(torch.ops.statmech.rbm_pseudo_likelihood.default, (v, Wg, ag, cg))
        torch.library.opcheck(torch.ops.statmech.rbm_energy.default, (v, binary(4, 3, device=device), Wg, ag, cg))
        torch.library.opcheck(torch.ops.statmech.gaussian_rbm_free_energy.default, (v, Wg, ag, cg, log_var))
    torch.library.opcheck(torch.ops.statmech.rbm_base_rate_bias.default, (v,))


def test_sampling_ops_are_not_differentiable():
    W, a, c = random_model(3, 2)
    W.requires_grad_()
    v, _, _, _ = ops.rbm_gibbs(torch.zeros(2, 3, dtype=torch.float64), W, a, c, 1)
    with pytest.raises(RuntimeError):
        v.sum().backward()


def test_compile_fullgraph_through_a_gibbs_step_and_the_free_energy():
    model = RBM(6, 4)

    def loss(v):
        v_model = torch.ops.statmech.rbm_gibbs(v, model.weight, model.visible_bias, model.hidden_bias, 2)[0].detach()
        return model.free_energy(v).mean() - model.free_energy(v_model).mean()

    # aot_eager traces through the fake kernels and the autograd graph like inductor, without its
    # code generation (which would dominate this file's run time).
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    out = compiled(binary(5, 6, dtype=torch.float32))
    out.backward()
    assert model.weight.grad is not None
    assert out.shape == ()


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda W, a, c, v: ops.rbm_gibbs(v, W, a, c, -1), "rbm_gibbs: steps must be >= 0, got -1"),
        (lambda W, a, c, v: ops.rbm_gibbs(v[:, :3], W, a, c), r"rbm_gibbs: visible.size\(1\) must equal"),
        (lambda W, a, c, v: ops.rbm_gibbs(v, W, a[:2], c), r"rbm_gibbs: visible_bias.size\(0\) must equal"),
        (lambda W, a, c, v: ops.rbm_gibbs(v, W, a, c, beta=-1.0), "rbm_gibbs: beta must be"),
        (lambda W, a, c, v: ops.rbm_gibbs(v.float(), W, a, c), "rbm_gibbs: visible has dtype"),
        (lambda W, a, c, v: ops.rbm_gibbs(v, W, a, c, visible_log_variance=a[:1]), r"visible_log_variance.size\(0\)"),
        (lambda W, a, c, v: ops.rbm_parallel_tempering(v[None], W, a, c, torch.tensor([1.0], dtype=torch.float64), -2), "rbm_parallel_tempering: steps must be >= 0"),
        (lambda W, a, c, v: ops.rbm_parallel_tempering(torch.stack([v, v]), W, a, c, torch.tensor([0.5, 1.0], dtype=torch.float64)), "rbm_parallel_tempering: betas must be strictly decreasing"),
        (lambda W, a, c, v: ops.rbm_parallel_tempering(torch.stack([v, v]), W, a, c, torch.tensor([1.5, 1.0], dtype=torch.float64)), r"rbm_parallel_tempering: betas must lie in \[0, 1\]"),
        (lambda W, a, c, v: ops.rbm_parallel_tempering(torch.stack([v, v]), W, a, c, torch.ones(3, dtype=torch.float64)), r"rbm_parallel_tempering: betas.size\(0\) must equal"),
        (lambda W, a, c, v: ops.rbm_parallel_tempering(v, W, a, c, torch.ones(1, dtype=torch.float64)), "rbm_parallel_tempering: visible must be 3-D"),
        (lambda W, a, c, v: ops.rbm_energy(v, v, W, a, c), r"rbm_energy: hidden.size\(1\) must equal"),
        (lambda W, a, c, v: ops.rbm_base_rate_bias(v * 3), r"rbm_base_rate_bias: data must hold .* \[0, 1\]"),
        (lambda W, a, c, v: ops.rbm_base_rate_bias(v, -1.0), "rbm_base_rate_bias: pseudocount must be >= 0"),
    ],
)
def test_bad_input_names_the_argument(call, words):
    W, a, c = random_model(5, 3)
    with pytest.raises(RuntimeError, match=words):
        call(W, a, c, binary(4, 5))


def _on_meta(*tensors):
    return [t.to("meta") for t in tensors]


@pytest.mark.parametrize(
    "call,words",
    [
        # betas are read on the host: on a device without data (meta) they were read as garbage.
        (lambda W, a, c, v: ops.rbm_ais(W, a, c, a, torch.linspace(0, 1, 5, dtype=torch.float64, device="meta"), 2),
         "rbm_ais: betas is on meta but weight is on cpu; betas must be on the CPU or on weight's device"),
        (lambda W, a, c, v: ops.rbm_parallel_tempering(
            torch.stack([v, v]), W, a, c, torch.tensor([1.0, 0.5], dtype=torch.float64, device="meta")),
         "rbm_parallel_tempering: betas is on meta but weight is on cpu"),
        # No rows and no pseudocount: p = 0 / 0 (was a silent NaN).
        (lambda W, a, c, v: ops.rbm_base_rate_bias(v[:0], 0.0), "rbm_base_rate_bias: data has no rows and pseudocount = 0"),
        # The meta kernels check what the real kernels check (were: a negative-dimension error, and
        # shapes where the real kernel raises).
        (lambda W, a, c, v: ops.rbm_parallel_tempering(*_on_meta(v[None][:0], W, a, c, a[:0])),
         "rbm_parallel_tempering: visible needs at least one replica"),
        (lambda W, a, c, v: ops.rbm_contrastive_divergence(*_on_meta(v[:0]), None, *_on_meta(W, a, c)),
         "rbm_contrastive_divergence: visible needs at least one row"),
        (lambda W, a, c, v: ops.rbm_contrastive_divergence(*_on_meta(v, v[:0], W, a, c)),
         "rbm_contrastive_divergence: chain_start needs at least one row"),
    ],
)
def test_edge_inputs_raise_named_errors(call, words):
    W, a, c = random_model(5, 3)
    with pytest.raises(RuntimeError, match=words):
        call(W, a, c, binary(4, 5))


def test_edge_inputs_give_empty_or_exact_results():
    W, a, c = random_model(5, 3)
    # Stochastic pseudo-likelihood without visible units: the exact sum over no bit, 0 (was an
    # error from randint).
    no_units = ops.rbm_pseudo_likelihood(binary(4, 0), W[:0], a[:0], c, True, generator=torch.Generator().manual_seed(0))
    assert torch.equal(no_units, torch.zeros(4, dtype=torch.float64))
    # betas on the CPU drive a model on any device, and a meta model traces with them.
    log_z = ops.rbm_ais(*_on_meta(W, a, c, a), torch.linspace(0, 1, 5, dtype=torch.float64), 3)
    assert [tuple(t.shape) for t in log_z] == [(), (), (), (3,)] and log_z[0].is_meta
    # An empty batch stays in the autograd graph (was a detached zeros([0]): backward raised).
    W.requires_grad_()
    empty = ops.rbm_pseudo_likelihood(binary(0, 5), W, a, c)
    assert empty.shape == (0,) and empty.requires_grad
    empty.sum().backward()
    assert torch.equal(W.grad, torch.zeros_like(W))
    # Integer betas truncate the schedule to 0, ..., 0, 1 (was returned silently).
    with pytest.raises(ValueError, match="rbm_ais_default_betas: dtype must be a floating dtype"):
        ops.rbm_ais_default_betas(torch.int64)


def test_module_edge_inputs_raise_named_errors():
    gauss = GaussianBernoulliRBM(4, 3, dtype=torch.float64)
    # Was a ZeroDivisionError inside the loop.
    with pytest.raises(ValueError, match=r"GaussianBernoulliRBM.fit: data must be 2-D \[N, visible\] with at least one row"):
        gauss.fit(torch.zeros(0, 4, dtype=torch.float64), epochs=1, progress=False)
    # The unbiased variance of one row is NaN: was silently NaN log variances.
    with pytest.raises(ValueError, match="GaussianBernoulliRBM.init_from_data: .* at least two rows"):
        gauss.init_from_data(torch.ones(1, 4, dtype=torch.float64))
    for model in (gauss, RBM(4, 3, dtype=torch.float64)):
        with pytest.raises(ValueError, match="initial_visible: n .* must be >= 0, got -1"):
            model.sample(-1, steps=1)
        assert model.sample(0, steps=1).shape == (0, 4)


def test_private_cd_backward_checks_that_its_inputs_fit():
    backward = torch.ops.statmech._rbm_contrastive_divergence_backward
    v = binary(4, 5)
    pd, pm = torch.rand(4, 3, dtype=v.dtype), torch.rand(6, 3, dtype=v.dtype)
    g = torch.tensor(1.0, dtype=v.dtype)
    assert [tuple(t.shape) for t in backward(g, v, binary(6, 5), pd, pm, [True] * 3)] == [(5, 3), (5,), (3,)]
    with pytest.raises(RuntimeError, match=r"model_hidden_probability.size\(0\) must equal the number of chains"):
        backward(g, v, binary(6, 5), pd, pm[:2], [True] * 3)  # was ATen's "shapes cannot be multiplied"
    with pytest.raises(RuntimeError, match=r"chain_end.size\(1\) must equal the number of visible units"):
        backward(g, v, binary(6, 4), pd, pm, [True] * 3)
    with pytest.raises(RuntimeError, match="_rbm_contrastive_divergence_backward: visible needs at least one row"):
        backward(g, v[:0], binary(6, 5), pd[:0], pm, [True] * 3)  # was NaN gradients
