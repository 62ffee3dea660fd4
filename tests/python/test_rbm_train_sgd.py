"""rbm_train_sgd (whole epochs of CD-k / PCD-k with SGD in one operator) and RBM.fit's fused path.

References are independent of the operator:
- mean-field runs (deterministic chains) against a plain-PyTorch loop written here: the chain from
  the sigmoid conditionals, the gradient by torch.autograd of mean F(v_data) - mean F(v_model)
  (F written out here), the update by torch.optim.SGD itself (momentum, weight decay);
- sampled runs against the exact expectation of the CD-1 / PCD-1 update, by enumerating every
  hidden and visible state of a tiny model, within a derived Monte Carlo tolerance.
"""

import math

import pytest
import torch
from torch.testing import assert_close

import statmech  # noqa: F401
from statmech.nn import RBM

train_sgd = torch.ops.statmech.rbm_train_sgd


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def free_energy(v, W, a, c):
    return -(v @ a) - torch.nn.functional.softplus(c + v @ W).sum(1)


def reference_mean_field(data, W, a, c, *, steps, batch_size, lr, momentum, weight_decay, persistent, epochs,
                         chain_start=None):
    """Mean-field CD/PCD with torch.optim.SGD, minibatches in data order (shuffle=False)."""
    params = [t.detach().clone().requires_grad_() for t in (W, a, c)]
    W, a, c = params
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    n = data.shape[0]
    batch = min(batch_size, n)
    metrics = []
    with torch.no_grad():
        if persistent:
            chain_visible = (chain_start if chain_start is not None else data[:batch]).clone()
            chain_hidden = torch.sigmoid(c + chain_visible @ W)
    for _ in range(epochs):
        loss_sum, reconstruction_sum = 0.0, 0.0
        for start in range(0, n, batch):
            v_data = data[start:start + batch]
            with torch.no_grad():
                p_data = torch.sigmoid(c + v_data @ W)
                reconstruction_sum += (torch.sigmoid(a + p_data @ W.T) - v_data).square().sum().item()
                h = chain_hidden if persistent else p_data
                v_model = chain_visible if persistent else v_data
                for _ in range(steps):
                    v_model = torch.sigmoid(a + h @ W.T)
                    h = torch.sigmoid(c + v_model @ W)
                if persistent:
                    chain_visible, chain_hidden = v_model, h
            optimizer.zero_grad()
            loss = free_energy(v_data, W, a, c).mean() - free_energy(v_model, W, a, c).mean()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * v_data.shape[0]
        metrics.append([loss_sum / n, reconstruction_sum / n])
    end = chain_visible if persistent else torch.empty(0, data.shape[1], dtype=data.dtype)
    return [p.detach() for p in params], torch.tensor(metrics, dtype=torch.float64), end


def model(visible, hidden, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    W = (0.5 * torch.randn(visible, hidden, generator=g, dtype=dtype)).to(device)
    a = (0.3 * torch.randn(visible, generator=g, dtype=dtype)).to(device)
    c = (0.3 * torch.randn(hidden, generator=g, dtype=dtype)).to(device)
    return W, a, c


def binary(n, visible, dtype=torch.float64, device="cpu", seed=1, density=0.4):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, visible, generator=g, dtype=dtype) < density).to(dtype).to(device)


def velocities(*params):
    return [torch.zeros_like(p) for p in params]


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("steps", [0, 1, 3])
@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.01)])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sparse data"])
def test_mean_field_matches_autograd_and_torch_optim_sgd(persistent, steps, momentum, weight_decay, layout):
    """23 rows in batches of 5 (a short last batch), 2 epochs; 'transposed' stores W as a
    transposed view, which takes the ATen passes (the GPU code path) instead of the fused CPU ones;
    'sparse data' (density 0.1) takes the CPU kernel's sparse products for the data rows."""
    data = binary(23, 7, density=0.1 if layout == "sparse data" else 0.4)
    assert layout != "sparse data" or data.mean() < 0.25
    W, a, c = model(7, 6)
    chain_start = binary(4, 7, seed=3) if persistent else None
    kwargs = dict(steps=steps, batch_size=5, lr=0.1, momentum=momentum, weight_decay=weight_decay,
                  persistent=persistent, epochs=2)
    (W_ref, a_ref, c_ref), metrics_ref, end_ref = reference_mean_field(data, W, a, c, chain_start=chain_start, **kwargs)
    Wo = W.T.contiguous().T if layout == "transposed" else W.clone()
    assert Wo.is_contiguous() == (layout != "transposed")  # a strided W takes the ATen passes
    ao, co = a.clone(), c.clone()
    metrics, end = train_sgd(data, Wo, ao, co, *velocities(Wo, ao, co), chain_start, shuffle=False, mean_field=True,
                             **kwargs)
    assert_close(Wo, W_ref)
    assert_close(ao, a_ref)
    assert_close(co, c_ref)
    assert_close(metrics, metrics_ref)
    assert_close(end, end_ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("density", [0.4, 0.1])
def test_mean_field_float32_and_float64(dtype, density):
    data = binary(40, 9, dtype, density=density)
    W, a, c = model(9, 20, dtype)
    (W_ref, _, _), metrics_ref, _ = reference_mean_field(
        data, W, a, c, steps=1, batch_size=10, lr=0.05, momentum=0.5, weight_decay=0.0, persistent=True, epochs=1)
    metrics, _ = train_sgd(data, W, a, c, *velocities(W, a, c), steps=1, batch_size=10, lr=0.05, momentum=0.5,
                           shuffle=False, mean_field=True)
    assert W.dtype == dtype and metrics.dtype == torch.float64
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else {}
    assert_close(W, W_ref, **tol)
    assert_close(metrics, metrics_ref, **tol)


def all_states(n):
    return ((torch.arange(2**n).unsqueeze(1) >> torch.arange(n)) & 1).double()


def exact_model_term(start, W, a, c):
    """E[v h^T], E[v], E[p] over one sampled Gibbs step from `start` rows [M, V] (h ~ p(h | v0),
    v ~ p(v | h), p = p(h = 1 | v)), averaged over rows, by enumerating every h and v."""
    hs, vs = all_states(W.shape[1]), all_states(W.shape[0])

    def bernoulli_prob(states, p):  # [S], p [R, U] -> [R, S]
        return (states.unsqueeze(0) * p.unsqueeze(1).log() + (1 - states.unsqueeze(0)) * (1 - p).unsqueeze(1).log()).sum(-1).exp()

    p_h = bernoulli_prob(hs, torch.sigmoid(c + start @ W))          # [M, 2^H]
    p_v = bernoulli_prob(vs, torch.sigmoid(a + hs @ W.T))          # [2^H, 2^V]
    weight_v = (p_h @ p_v).mean(0)                                  # [2^V]: law of v after one step
    p_model = torch.sigmoid(c + vs @ W)                             # [2^V, H]
    return vs.T @ (weight_v.unsqueeze(1) * p_model), weight_v @ vs, weight_v @ p_model


@pytest.mark.parametrize("persistent, sparse", [(False, False), (True, False), (False, True), (True, True)])
def test_sampled_update_has_the_exact_expectation(persistent, sparse):
    """One SGD step (lr 1, no momentum) over M = 20,000 chains on a 3-4 model: W changes by
    <v p^T>_data - <v p^T>_model, whose model term is a mean of 20,000 independent terms in [0, 1]
    (standard deviation at most 0.5 / sqrt(20,000) = 0.0035); the exact expectation comes from
    enumerating the 16 hidden and 8 visible states. Tolerance 6 sigma = 0.021 per entry."""
    W, a, c = model(3, 4, seed=5)
    rows = (torch.tensor([[0, 0, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0]]) if sparse else binary(4, 3, seed=6)).double()
    rows = rows.repeat(5000, 1)
    n = rows.shape[0]
    if persistent:
        data, chain_start = binary(n, 3, seed=7, density=0.1 if sparse else 0.4), rows
    else:
        data, chain_start = rows, None
    p_data = torch.sigmoid(c + data @ W)
    data_w, data_a, data_c = data.T @ p_data / n, data.mean(0), p_data.mean(0)
    model_w, model_a, model_c = exact_model_term(rows, W, a, c)
    Wo, ao, co = W.clone(), a.clone(), c.clone()
    train_sgd(data, Wo, ao, co, *velocities(W, a, c), chain_start, steps=1, batch_size=n, lr=1.0, persistent=persistent,
              generator=torch.Generator().manual_seed(0))
    tol = 6 * 0.5 / math.sqrt(n)
    assert_close(Wo - W, data_w - model_w, rtol=0, atol=tol)
    assert_close(ao - a, data_a - model_a, rtol=0, atol=tol)
    assert_close(co - c, data_c - model_c, rtol=0, atol=tol)


def test_reproducible_from_the_generator():
    data = binary(50, 8)
    results = []
    for seed in (0, 0, 1):
        W, a, c = model(8, 5)
        metrics, end = train_sgd(data, W, a, c, *velocities(W, a, c), steps=2, batch_size=7, epochs=2, lr=0.1,
                                 generator=torch.Generator().manual_seed(seed))
        results.append((W, metrics, end))
    assert all(torch.equal(x, y) for x, y in zip(results[0], results[1]))
    assert not torch.equal(results[0][0], results[2][0])


def test_bad_inputs_name_the_argument():
    data = binary(10, 4)
    W, a, c = model(4, 3)
    vel = velocities(W, a, c)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: lr must be a positive"):
        train_sgd(data, W, a, c, *vel, lr=0.0)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: batch_size must be >= 1, got 0"):
        train_sgd(data, W, a, c, *vel, batch_size=0)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: steps must be >= 0, got -1"):
        train_sgd(data, W, a, c, *vel, steps=-1)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: momentum must be"):
        train_sgd(data, W, a, c, *vel, momentum=-0.5)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: weight_decay must be"):
        train_sgd(data, W, a, c, *vel, weight_decay=float("nan"))
    with pytest.raises(RuntimeError, match=r"rbm_train_sgd: data.size\(1\) must equal"):
        train_sgd(binary(10, 5), W, a, c, *vel)
    with pytest.raises(RuntimeError, match=r"rbm_train_sgd: weight_velocity.size\(1\) must equal"):
        train_sgd(data, W, a, c, torch.zeros(4, 2, dtype=W.dtype), vel[1], vel[2])
    with pytest.raises(RuntimeError, match="rbm_train_sgd: hidden_bias_velocity has dtype"):
        train_sgd(data, W, a, c, vel[0], vel[1], vel[2].float())
    with pytest.raises(RuntimeError, match="rbm_train_sgd: data must be binary"):
        train_sgd(data * 0.5, W, a, c, *vel)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: data must be binary"):
        train_sgd(data * 0.5, W.T.contiguous().T, a, c, *vel)  # the ATen passes check too
    with pytest.raises(RuntimeError, match="rbm_train_sgd: chain_start is the state of PCD"):
        train_sgd(data, W, a, c, *vel, data[:2], persistent=False)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: data needs at least one row"):
        train_sgd(data[:0], W, a, c, *vel)


def test_parameters_that_require_grad_need_no_grad_and_versions_are_bumped():
    data = binary(10, 4)
    W, a, c = (t.requires_grad_() for t in model(4, 3))
    vel = velocities(W, a, c)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: weight requires grad and is updated in place; call rbm_train_sgd under torch.no_grad"):
        train_sgd(data, W, a, c, *vel)
    versions = [t._version for t in (W, a, c, *vel)]
    with torch.no_grad():
        train_sgd(data, W, a, c, *vel, momentum=0.9)
    assert all(t._version > v for t, v in zip((W, a, c, *vel), versions))


def test_opcheck():
    data = binary(9, 4)
    W, a, c = model(4, 3)
    utils = ("test_schema", "test_autograd_registration", "test_faketensor")
    for kwargs in (dict(persistent=True, mean_field=True), dict(persistent=False, steps=2, momentum=0.9)):
        args = (data, W.clone(), a.clone(), c.clone(), *velocities(W, a, c))
        torch.library.opcheck(train_sgd.default, args, dict(batch_size=4, epochs=2, shuffle=False, **kwargs),
                              test_utils=utils)


def test_cuda_matches_cpu(device):
    """The ATen passes on the device against the fused CPU passes, mean field (deterministic)."""
    if device.type == "cpu":
        pytest.skip("compares a device with the CPU")
    data = binary(30, 6)
    W, a, c = model(6, 5)
    outs = []
    for dev in ("cpu", device):
        p = [t.clone().to(dev) for t in (W, a, c)]
        metrics, end = train_sgd(data.to(dev), *p, *velocities(*p), steps=2, batch_size=8, epochs=2, momentum=0.5,
                                 shuffle=False, mean_field=True)
        outs.append([t.cpu() for t in (*p, metrics, end)])
    for x, y in zip(*outs):
        assert_close(x, y)
    # Sampled runs on the device: reproducible from a device generator.
    runs = []
    for _ in range(2):
        p = [t.clone().to(device) for t in (W, a, c)]
        train_sgd(data.to(device), *p, *velocities(*p), generator=torch.Generator(device=device).manual_seed(3))
        runs.append(p[0].cpu())
    assert torch.equal(runs[0], runs[1])


# ---- RBM.fit --------------------------------------------------------------------------------------
def test_fit_uses_the_fused_path_for_sgd_and_keeps_the_loop_for_other_optimisers(monkeypatch):
    data = binary(60, 8, torch.float32)
    calls = []
    original = torch.ops.statmech.rbm_train_sgd

    class Spy:
        def __call__(self, *args, **kwargs):
            calls.append(kwargs)
            return original(*args, **kwargs)

    fused = RBM(8, 5)
    monkeypatch.setattr(torch.ops.statmech, "rbm_train_sgd", Spy())
    history = fused.fit(data, epochs=3, batch_size=10, lr=0.05, momentum=0.5, weight_decay=1e-4,
                        generator=torch.Generator().manual_seed(0), progress=False)
    assert len(calls) == 3 and calls[0]["momentum"] == 0.5 and calls[0]["weight_decay"] == 1e-4
    assert len(history) == 3 and {"loss", "reconstruction_error", "pseudo_likelihood", "train_reconstruction_error"} <= set(history[0])
    assert fused.persistent_visible.shape == (10, 8)
    calls.clear()
    other = RBM(8, 5)
    other.fit(data, epochs=1, batch_size=10, optimizer=torch.optim.Adam(other.parameters(), lr=0.01), progress=False)
    assert calls == []
    with pytest.raises(ValueError, match="momentum and weight_decay configure the default SGD"):
        other.fit(data, optimizer=torch.optim.Adam(other.parameters()), momentum=0.9, progress=False)


def test_fused_fit_and_the_loop_both_learn():
    """Both fit paths (fused SGD, and the generic loop given an explicit torch.optim.SGD) train a
    64-16 RBM on structured data to a similar, much lower reconstruction error."""
    g = torch.Generator().manual_seed(0)
    prototypes = (torch.rand(4, 32, generator=g) < 0.5).float()
    data = prototypes[torch.randint(0, 4, (400,), generator=g)]
    noise = torch.rand(data.shape, generator=g) < 0.05
    data = torch.where(noise, 1 - data, data)
    errors = []
    for explicit in (False, True):
        model_ = RBM(32, 16).init_from_data(data)
        model_.reset_parameters(torch.Generator().manual_seed(1))
        model_.init_from_data(data)
        before = float(model_.reconstruction_error(data, torch.Generator().manual_seed(2)))
        if explicit:
            kwargs = dict(optimizer=torch.optim.SGD(model_.parameters(), lr=0.1, momentum=0.5))
        else:
            kwargs = dict(lr=0.1, momentum=0.5)
        model_.fit(data, epochs=15, batch_size=20, generator=torch.Generator().manual_seed(3), progress=False, **kwargs)
        errors.append((before, float(model_.reconstruction_error(data, torch.Generator().manual_seed(2)))))
    for before, after in errors:
        assert after < 0.5 * before
    assert abs(errors[0][1] - errors[1][1]) < 0.5 * max(errors[0][1], errors[1][1]) + 0.5


def test_parameters_updated_in_place_must_not_share_memory():
    # A velocity aliasing its parameter (or an expanded parameter) trained silently on values the
    # same step had already overwritten; the expanded case raised ATen's generic overlap error.
    data = binary(10, 4)
    W, a, c = model(4, 3)
    vW, va, vc = velocities(W, a, c)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: weight_velocity and weight share memory"):
        train_sgd(data, W, a, c, W, va, vc)
    flat = torch.zeros(4 * 3, dtype=W.dtype)
    with pytest.raises(RuntimeError, match="rbm_train_sgd: visible_bias and weight share memory"):
        train_sgd(data, flat.view(4, 3), flat[8:], c, vW, va, vc)  # partly overlapping
    with pytest.raises(RuntimeError, match="rbm_train_sgd: weight is updated in place but several of its elements share memory"):
        train_sgd(data, W[:1].expand(4, 3), a, c, vW, va, vc)
