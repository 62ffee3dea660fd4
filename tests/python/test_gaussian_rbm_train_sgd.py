"""rbm_train_sgd with Gaussian visible units (visible_log_variance given) and
GaussianBernoulliRBM.fit's fused path.

References are independent of the operator:
- mean-field runs (deterministic chains) against a plain-PyTorch loop written here: the chain from
  the Gaussian-Bernoulli conditionals, the gradient by torch.autograd of
  mean F(v_data) - mean F(v_model) (F written out here), the update by torch.optim.SGD itself;
- the sign and size of every gradient, z included, against central finite differences of F;
- the visible noise against N(a + W h, s) by Monte Carlo, tolerances derived below.
"""

import math

import pytest
import torch
from torch.testing import assert_close

import statmech
from statmech.nn import GaussianBernoulliRBM

train_sgd = torch.ops.statmech.rbm_train_sgd


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def free_energy(v, W, a, c, z):
    """F(v) = sum_i (v_i - a_i)^2 / (2 s_i) - sum_j softplus(c_j + ((v / s) W)_j), s = exp(z)."""
    s = z.exp()
    return ((v - a).square() / (2 * s)).sum(1) - torch.nn.functional.softplus(c + (v / s) @ W).sum(1)


def reference_mean_field(data, W, a, c, z, *, steps, batch_size, lr, momentum, weight_decay, persistent, epochs,
                         chain_start=None):
    """Mean-field CD/PCD with torch.optim.SGD over (W, a, c, z), minibatches in data order."""
    params = [t.detach().clone().requires_grad_() for t in (W, a, c, z)]
    W, a, c, z = params
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    n = data.shape[0]
    batch = min(batch_size, n)
    metrics = []
    with torch.no_grad():
        if persistent:
            chain_visible = (chain_start if chain_start is not None else data[:batch]).clone()
            chain_hidden = torch.sigmoid(c + (chain_visible / z.exp()) @ W)
    for _ in range(epochs):
        loss_sum, reconstruction_sum = 0.0, 0.0
        for start in range(0, n, batch):
            v_data = data[start:start + batch]
            with torch.no_grad():
                s = z.exp()
                p_data = torch.sigmoid(c + (v_data / s) @ W)
                reconstruction_sum += ((a + p_data @ W.T) - v_data).square().sum().item()
                h = chain_hidden if persistent else p_data
                v_model = chain_visible if persistent else v_data
                for _ in range(steps):
                    v_model = a + h @ W.T  # the mean of N(a + W h, s)
                    h = torch.sigmoid(c + (v_model / s) @ W)
                if persistent:
                    chain_visible, chain_hidden = v_model, h
            optimizer.zero_grad()
            loss = free_energy(v_data, W, a, c, z).mean() - free_energy(v_model, W, a, c, z).mean()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * v_data.shape[0]
        metrics.append([loss_sum / n, reconstruction_sum / n])
    end = chain_visible if persistent else torch.empty(0, data.shape[1], dtype=data.dtype)
    return [p.detach() for p in params], torch.tensor(metrics, dtype=torch.float64), end


def model(visible, hidden, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = 0.5 * torch.randn(visible, hidden, generator=g, dtype=dtype)
    a = 0.3 * torch.randn(visible, generator=g, dtype=dtype)
    c = 0.3 * torch.randn(hidden, generator=g, dtype=dtype)
    z = 0.4 * torch.randn(visible, generator=g, dtype=dtype)
    return W, a, c, z


def real(n, visible, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 1.5 * torch.randn(n, visible, generator=g, dtype=dtype)


def velocities(*params):
    return [torch.zeros_like(p) for p in params]


def run(data, W, a, c, z, chain_start=None, op=train_sgd, **kwargs):
    """The operator on (W, a, c, z) in place, zero velocities."""
    uw, ua, uc, uz = velocities(W, a, c, z)
    return op(data, W, a, c, uw, ua, uc, chain_start, visible_log_variance=z, visible_log_variance_velocity=uz, **kwargs)


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("steps", [0, 1, 3])
@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.01)])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_mean_field_matches_autograd_and_torch_optim_sgd(persistent, steps, momentum, weight_decay, layout):
    """23 real-valued rows in batches of 5 (a short last batch), 2 epochs, float64. 'transposed'
    stores W as a transposed view, which takes the ATen passes (the GPU code path) instead of the
    fused CPU ones. Tolerance 1e-10 (measured: within 1e-15 relative on both pass families)."""
    data = real(23, 7)
    W, a, c, z = model(7, 6)
    chain_start = real(4, 7, seed=3) if persistent else None
    kwargs = dict(steps=steps, batch_size=5, lr=0.02, momentum=momentum, weight_decay=weight_decay,
                  persistent=persistent, epochs=2)
    refs, metrics_ref, end_ref = reference_mean_field(data, W, a, c, z, chain_start=chain_start, **kwargs)
    Wo = W.T.contiguous().T if layout == "transposed" else W.clone()
    assert Wo.is_contiguous() == (layout != "transposed")  # a strided W takes the ATen passes
    params = [Wo, a.clone(), c.clone(), z.clone()]
    metrics, end = run(data, *params, chain_start, shuffle=False, mean_field=True, **kwargs)
    assert all(t.isfinite().all() for t in (*refs, metrics_ref))  # a stable run: compares numbers
    for got, want in zip(params, refs):
        assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert_close(metrics, metrics_ref, rtol=1e-10, atol=1e-10)
    assert_close(end, end_ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_one_step_mean_field_is_p_minus_lr_grad(layout):
    """The plainest form of the rule: one CD-1 minibatch step with mean_field equals p - lr * grad,
    grad by autograd of F(v+).mean() - F(v_model).mean(), v_model from the mean-field chain."""
    data = real(6, 5)
    W, a, c, z = model(5, 4, seed=2)
    with torch.no_grad():
        h = torch.sigmoid(c + (data / z.exp()) @ W)
        v_model = a + h @ W.T
    params = [t.clone().requires_grad_() for t in (W, a, c, z)]
    loss = free_energy(data, *params).mean() - free_energy(v_model, *params).mean()
    grads = torch.autograd.grad(loss, params)
    lr = 0.1
    got = [W.T.contiguous().T if layout == "transposed" else W.clone(), a.clone(), c.clone(), z.clone()]
    run(data, *got, steps=1, batch_size=6, lr=lr, persistent=False, shuffle=False, mean_field=True)
    for g, p, grad in zip(got, (W, a, c, z), grads):
        assert_close(g, p - lr * grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_gradient_signs_by_finite_differences(layout):
    """PCD with steps=0 keeps v_model = chain_start (no sampling at all), so one step with lr = 1e-3
    moves each parameter by -lr * d/dp [mean F(data) - mean F(chain_start)]. The derivative is taken
    here by central differences (step 1e-6, truncation error ~1e-12 x the third derivative, rounding
    ~1e-10), in particular dF/dz_i = -(v_i - a_i)^2 / (2 s_i) + sum_j sigma_j W_ij v_i / s_i."""
    data, chain_start = real(8, 4), real(5, 4, seed=4)
    W, a, c, z = model(4, 3, seed=6)
    lr = 1e-3

    def loss(W, a, c, z):
        return (free_energy(data, W, a, c, z).mean() - free_energy(chain_start, W, a, c, z).mean()).item()

    params = (W, a, c, z)
    assert_close(free_energy(data, *params), torch.ops.statmech.gaussian_rbm_free_energy(data, *params))  # the model's F
    got = [W.T.contiguous().T if layout == "transposed" else W.clone(), a.clone(), c.clone(), z.clone()]
    run(data, *got, chain_start, steps=0, batch_size=8, lr=lr, persistent=True, shuffle=False)
    eps = 1e-6
    for k, (p, g) in enumerate(zip(params, got)):
        fd = torch.empty_like(p)
        for i in range(p.numel()):
            plus = [q.clone() for q in params]
            minus = [q.clone() for q in params]
            plus[k].view(-1)[i] += eps
            minus[k].view(-1)[i] -= eps
            fd.view(-1)[i] = (loss(*plus) - loss(*minus)) / (2 * eps)
        assert_close((p - g) / lr, fd, rtol=0, atol=1e-7)
    assert ((z - got[3]) / lr).abs().min() > 1e-3  # a non-trivial z gradient was checked


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mean_field_float32_and_float64(dtype):
    data = real(40, 9, dtype)
    W, a, c, z = model(9, 20, dtype)
    refs, metrics_ref, _ = reference_mean_field(
        data, W, a, c, z, steps=1, batch_size=10, lr=0.02, momentum=0.5, weight_decay=0.0, persistent=True, epochs=1)
    params = [W, a, c, z]
    metrics, _ = run(data, *params, steps=1, batch_size=10, lr=0.02, momentum=0.5, shuffle=False, mean_field=True)
    assert W.dtype == dtype and metrics.dtype == torch.float64
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    for got, want in zip(params, refs):
        assert_close(got, want, **tol)
    assert_close(metrics, metrics_ref, **tol)


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_visible_noise_is_normal_with_the_model_mean_and_variance(layout):
    """PCD-1 from M = 20,000 chains started at a: hidden biases of +-40 pin the hidden sample drawn
    from the start to the pattern h* = (1, 0, 1, 0, 1) (its field stays beyond +-30, so a flip has
    probability < 1e-13), so each chain's end is v ~ N(a + W h*, s). Per unit: the sample mean is
    within 6 sd = 6 sqrt(s / M) of a + W h*; the sample variance within 6 sd = 6 sqrt(2 / M) s =
    0.06 s of s; the fraction of |v - mean| < sqrt(s) within 6 sqrt(p (1 - p) / M) = 0.02 of
    p = erf(1 / sqrt 2) = 0.6827 (a normal shape, not only two moments)."""
    visible, chains = 6, 20_000
    W, a, _, _ = model(visible, 5, seed=8)
    z = torch.linspace(-1.5, 1.0, visible, dtype=torch.float64)
    pattern = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    c = 40 * (2 * pattern - 1)
    mean, s = a + W @ pattern, z.exp()
    assert ((c + (a / s) @ W) * (2 * pattern - 1)).min() > 30
    data = real(10, visible)
    chain_start = a.expand(chains, visible).clone()
    Wo = W.T.contiguous().T if layout == "transposed" else W.clone()
    assert Wo.is_contiguous() == (layout != "transposed")  # a strided W takes the ATen passes
    _, end = run(data, Wo, a.clone(), c.clone(), z.clone(), chain_start, steps=1, batch_size=10, lr=1e-9,
                 persistent=True, generator=torch.Generator().manual_seed(5))
    assert ((end.mean(0) - mean).abs() < 6 * (s / chains).sqrt()).all()
    assert ((end.var(0) / s - 1).abs() < 6 * math.sqrt(2 / chains)).all()
    inside = ((end - mean).abs() < s.sqrt()).double().mean(0)
    p = math.erf(1 / math.sqrt(2))
    assert ((inside - p).abs() < 6 * math.sqrt(p * (1 - p) / chains)).all()


def test_reproducible_from_the_generator():
    data = real(50, 8)
    results = []
    for seed, op in ((0, train_sgd), (0, statmech.ops.rbm_train_sgd), (1, train_sgd)):  # and the Python wrapper
        params = list(model(8, 5))
        metrics, end = run(data, *params, op=op, steps=2, batch_size=7, epochs=2, lr=0.01,
                           generator=torch.Generator().manual_seed(seed))
        results.append((*params, metrics, end))
    assert all(torch.equal(x, y) for x, y in zip(results[0], results[1]))
    assert not torch.equal(results[0][0], results[2][0])
    assert not torch.equal(results[0][3], results[2][3])


def test_bad_inputs_name_the_argument():
    data = real(10, 4)
    W, a, c, z = model(4, 3)
    uw, ua, uc, uz = velocities(W, a, c, z)
    vel = (uw, ua, uc)
    with pytest.raises(RuntimeError, match=r"rbm_train_sgd: visible_log_variance.size\(0\) must equal"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=z[:3], visible_log_variance_velocity=uz[:3])
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_log_variance has dtype"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=z.float(), visible_log_variance_velocity=uz)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_log_variance must be"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=z.view(2, 2), visible_log_variance_velocity=uz)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_log_variance_velocity .* must be given"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=z)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_log_variance_velocity was given without"):
        train_sgd(data, W, a, c, *vel, visible_log_variance_velocity=uz)
    with pytest.raises(RuntimeError, match=r"rbm_train_sgd: visible_log_variance_velocity.size\(0\) must equal"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=z, visible_log_variance_velocity=uz[:2])
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_log_variance_velocity has dtype"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=z, visible_log_variance_velocity=uz.float())
    with pytest.raises(RuntimeError, match="rbm_train_sgd: data must be binary"):
        train_sgd(data, W, a, c, *vel)  # real data need the Gaussian arguments
    z.requires_grad_()
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_log_variance requires grad and is updated in place"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=z, visible_log_variance_velocity=uz)
    version = z._version
    with torch.no_grad():
        train_sgd(data, W, a, c, *vel, visible_log_variance=z, visible_log_variance_velocity=uz)
    assert z._version > version


def test_variance_and_its_velocity_must_not_share_memory_with_the_other_updated_tensors():
    data = real(10, 4)
    W, a, c, z = model(4, 3)
    uw, ua, uc, uz = velocities(W, a, c, z)
    vel = (uw, ua, uc)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_log_variance_velocity and visible_log_variance share"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=z, visible_log_variance_velocity=z)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_log_variance and visible_bias share memory"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=a, visible_log_variance_velocity=uz)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_log_variance is updated in place but several"):
        train_sgd(data, W, a, c, *vel, visible_log_variance=z[:1].expand(4), visible_log_variance_velocity=uz)


def test_opcheck():
    data = real(9, 4)
    W, a, c, z = model(4, 3)
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    for kwargs in (dict(persistent=True, mean_field=True), dict(persistent=False, steps=2, momentum=0.9)):
        args = (data, W.clone(), a.clone(), c.clone(), *velocities(W, a, c))
        kwargs.update(visible_log_variance=z.clone(), visible_log_variance_velocity=torch.zeros_like(z))
        torch.library.opcheck(train_sgd.default, args, dict(batch_size=4, epochs=2, shuffle=False, **kwargs),
                              test_utils=utils)


def test_cuda_matches_cpu(device):
    """The ATen passes on the device against the fused CPU passes, mean field (deterministic)."""
    if device.type == "cpu":
        pytest.skip("compares a device with the CPU")
    data = real(30, 6)
    W, a, c, z = model(6, 5)
    outs = []
    for dev in ("cpu", device):
        p = [t.clone().to(dev) for t in (W, a, c, z)]
        metrics, end = run(data.to(dev), *p, steps=2, batch_size=8, epochs=2, lr=0.02, momentum=0.5, shuffle=False,
                           mean_field=True)
        outs.append([t.cpu() for t in (*p, metrics, end)])
    for x, y in zip(*outs):
        assert_close(x, y)
    runs = []
    for _ in range(2):
        p = [t.clone().to(device) for t in (W, a, c, z)]
        run(data.to(device), *p, lr=0.01, generator=torch.Generator(device=device).manual_seed(3))
        runs.append(p[3].cpu())
    assert torch.equal(runs[0], runs[1])


# ---- GaussianBernoulliRBM.fit ---------------------------------------------------------------------
def mixture(n, seed=0):
    """n rows of a 4-component Gaussian mixture in 16 dimensions: means 2 x a random sign pattern,
    within-component standard deviations 0.2 ... 0.6 by unit."""
    g = torch.Generator().manual_seed(seed)
    means = 2 * (torch.rand(4, 16, generator=g) < 0.5).float()
    sd = torch.linspace(0.2, 0.6, 16)
    rows = means[torch.randint(0, 4, (n,), generator=g)]
    return rows + sd * torch.randn(n, 16, generator=g), sd


def test_fit_uses_the_fused_path_and_matches_the_operator(monkeypatch):
    data, _ = mixture(60)
    calls = []
    original = torch.ops.statmech.rbm_train_sgd

    class Spy:
        def __call__(self, *args, **kwargs):
            calls.append(kwargs)
            return original(*args, **kwargs)

    model_ = GaussianBernoulliRBM(16, 5).init_from_data(data)
    start = {k: v.detach().clone() for k, v in model_.named_parameters()}
    monkeypatch.setattr(torch.ops.statmech, "rbm_train_sgd", Spy())
    history = model_.fit(data, epochs=2, batch_size=10, lr=0.01, momentum=0.5, weight_decay=1e-4,
                         generator=torch.Generator().manual_seed(0), progress=False)
    assert len(calls) == 2 and calls[0]["visible_log_variance"] is model_.visible_log_variance
    assert len(history) == 2 and {"loss", "reconstruction_error", "train_reconstruction_error"} <= set(history[0])
    assert model_.persistent_visible.shape == (10, 16)
    # The same two epochs by hand: velocities (z's included) carried from epoch to epoch.
    W, a, c, z = (start[k].clone() for k in ("weight", "visible_bias", "hidden_bias", "visible_log_variance"))
    vel = velocities(W, a, c, z)
    g, chain = torch.Generator().manual_seed(0), None
    for _ in range(2):
        _, chain = original(data, W, a, c, *vel[:3], chain, batch_size=10, lr=0.01, momentum=0.5, weight_decay=1e-4,
                            generator=g, visible_log_variance=z, visible_log_variance_velocity=vel[3])
        model_.reconstruction_error(data, g)  # the epoch's metrics draw from the generator too
    assert torch.equal(model_.weight.detach(), W) and torch.equal(model_.visible_log_variance.detach(), z)
    assert torch.equal(model_.persistent_visible, chain)
    calls.clear()
    model_.fit(data, epochs=1, batch_size=10, optimizer=torch.optim.Adam(model_.parameters(), lr=0.01),
               progress=False)
    assert calls == []


def test_fit_learns_a_gaussian_mixture_and_its_variances():
    """CD-1 with momentum on 2,000 rows of the 4-component mixture, 16 hidden units: the
    reconstruction error falls to near its floor sum_i sd_i^2 = 2.8, and the learned variances
    approach the within-component variances (0.04 ... 0.36) from init_from_data's total variances
    (up to 20x those). Measured: reconstruction 12.5 -> 3.05, ratios learned / within-component
    1.01 ... 1.90, median 1.07. (CD-1's average log-likelihood does not rise here, in the fused
    path and in the torch.optim loop alike: CD's known bias with learned variances, Cho et al. 2011.)"""
    data, sd = mixture(2000)
    model_ = GaussianBernoulliRBM(16, 16)
    model_.reset_parameters(torch.Generator().manual_seed(1))
    model_.init_from_data(data)
    history = model_.fit(data, epochs=20, batch_size=20, lr=0.005, momentum=0.9, persistent=False,
                         generator=torch.Generator().manual_seed(2), progress=False)
    assert history[-1]["train_reconstruction_error"] < 0.3 * history[0]["train_reconstruction_error"]
    assert history[-1]["reconstruction_error"] < 1.5 * sd.square().sum()
    ratio = model_.visible_log_variance.detach().exp() / sd.square()
    assert ((ratio > 0.8) & (ratio < 2.5)).all()
    assert 0.85 < ratio.median() < 1.2
