"""Modern Hopfield operators: retrieval against scaled_dot_product_attention and a plain loop,
energy descent (Ramsauer et al. 2020, theorem 1), the exponential retrieval-error bound (their
theorem 5), sparsemax / entmax15 against bisection, gradcheck, opcheck, torch.compile and errors."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

import statmech  # noqa: F401
from statmech.modern_hopfield import (
    entmax15,
    hopfield_energy,
    hopfield_retrieval,
    hopfield_retrieval_explicit,
    sparsemax,
)

OPS = torch.ops.statmech


def patterns(*shape, dtype=torch.float64, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=dtype, generator=g).to(device)


# ---- independent references --------------------------------------------------------------------


def bisect_threshold(z, mass, lo, hi, iterations=200):
    """tau with mass(z, tau) = 1 by bisection (mass decreasing in tau), along the last dim."""
    lo, hi = lo.clone(), hi.clone()
    for _ in range(iterations):
        mid = (lo + hi) / 2
        too_low = mass(z, mid) > 1
        lo = torch.where(too_low, mid, lo)
        hi = torch.where(too_low, hi, mid)
    return (lo + hi) / 2


def sparsemax_reference(z):
    top = z.max(-1, keepdim=True).values
    tau = bisect_threshold(z, lambda z, t: (z - t).clamp_min(0).sum(-1, keepdim=True), top - 1, top)
    return (z - tau).clamp_min(0)


def entmax15_reference(z):
    u = z / 2
    top = u.max(-1, keepdim=True).values
    tau = bisect_threshold(u, lambda u, t: (u - t).clamp_min(0).pow(2).sum(-1, keepdim=True), top - 1, top)
    return (u - tau).clamp_min(0).pow(2)


REFERENCE_SEPARATION = {
    "softmax": lambda s: torch.softmax(s, -1),
    "sparsemax": sparsemax_reference,
    "entmax15": entmax15_reference,
}


def scores_reference(xi, key, beta, mask):
    b = beta if beta.dim() == 0 else beta.view(-1, 1, 1)
    s = b * xi @ key.transpose(-2, -1)
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else s + mask
    return s


def retrieval_reference(query, key, value, beta, steps, mask=None, separation="softmax", eps=0.0):
    """The plain loop, with a per-query freeze once a state moves by less than eps."""
    sep = REFERENCE_SEPARATION[separation]
    xi = query
    active = torch.ones(query.shape[:-1] + (1,), dtype=torch.bool, device=query.device)
    for _ in range(steps):
        new = sep(scores_reference(xi, key, beta, mask)) @ key
        new = torch.where(active, new, xi)
        if eps > 0:
            active = active & ((new - xi).norm(dim=-1, keepdim=True) >= eps)
        xi = new
    association = sep(scores_reference(xi, key, beta, mask))
    return association @ value, association, xi


def energy_reference(xi, key, beta):
    """Ramsauer et al. eq. 2 written out, for one beta (a float)."""
    n = key.shape[-2]
    lse = torch.logsumexp(beta * xi @ key.transpose(-2, -1), -1) / beta
    big_m = key.norm(dim=-1).max(-1, keepdim=True).values
    return -lse + 0.5 * (xi * xi).sum(-1) + math.log(n) / beta + 0.5 * big_m**2


# ---- retrieval ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mask_kind", [None, "bool", "float"])
def test_zero_steps_is_scaled_dot_product_attention(mask_kind, device):
    q, k, v = patterns(2, 3, 5, 8, device=device), patterns(2, 3, 7, 8, device=device, seed=1), patterns(
        2, 3, 7, 4, device=device, seed=2
    )
    mask = None
    if mask_kind == "bool":
        mask = patterns(5, 7, device=device, seed=3) > -0.5
        mask[:, 0] = True
    elif mask_kind == "float":
        mask = patterns(2, 1, 5, 7, device=device, seed=3)
    for beta in (0.3, 2.0):
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=beta)
        assert_close(hopfield_retrieval(q, k, v, beta, mask=mask), expected, rtol=1e-12, atol=1e-12)
        out, association, state = hopfield_retrieval_explicit(q, k, v, beta, mask=mask)
        assert_close(out, expected, rtol=1e-12, atol=1e-12)
        assert_close(state, q)
        assert_close(association.sum(-1), torch.ones_like(association[..., 0]))


@pytest.mark.parametrize("separation", ["softmax", "sparsemax", "entmax15"])
@pytest.mark.parametrize("steps", [1, 3])
def test_update_steps_match_the_plain_loop(separation, steps, device):
    q, k, v = patterns(2, 3, 4, 6, device=device), patterns(2, 3, 9, 6, device=device, seed=1), patterns(
        2, 3, 9, 5, device=device, seed=2
    )
    beta = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64, device=device)  # per head
    mask = patterns(2, 1, 1, 9, device=device, seed=4) > -0.8
    mask[..., 0] = True
    expected_out, expected_assoc, expected_state = retrieval_reference(q, k, v, beta, steps, mask, separation)
    got = hopfield_retrieval(q, k, v, beta, steps, mask=mask, separation=separation)
    assert_close(got, expected_out, rtol=1e-10, atol=1e-10)
    out, association, state = hopfield_retrieval_explicit(q, k, v, beta, steps, mask=mask, separation=separation)
    assert_close(out, expected_out, rtol=1e-10, atol=1e-10)
    assert_close(association, expected_assoc, rtol=1e-10, atol=1e-10)
    assert_close(state, expected_state, rtol=1e-10, atol=1e-10)
    assert bool((association[~mask.expand_as(association)] == 0).all())


def test_early_stop_freezes_each_query_once_it_settles():
    # Query 0 starts on a stored pattern at high beta (a fixed point); query 1 starts between two.
    key = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, 0.0]], dtype=torch.float64)
    query = torch.tensor([[4.0, 0.0], [0.3, 0.2]], dtype=torch.float64)
    beta = torch.tensor(0.7, dtype=torch.float64)
    for eps in (1e-3, 0.05):
        expected = retrieval_reference(query, key, key, beta, 6, eps=eps)[2]
        state = hopfield_retrieval_explicit(query, key, key, beta, 6, eps=eps)[2]
        assert_close(state, expected, rtol=1e-12, atol=1e-12)
    # A huge eps stops every query after its first step; eps = 0 runs every step.
    one = hopfield_retrieval_explicit(query, key, key, beta, 1)[2]
    assert_close(hopfield_retrieval_explicit(query, key, key, beta, 6, eps=1e9)[2], one)
    six = hopfield_retrieval_explicit(query, key, key, beta, 6)[2]
    assert_close(hopfield_retrieval_explicit(query, key, key, beta, 6, eps=0.0)[2], six)
    assert not torch.allclose(one, six)


def test_beta_may_be_a_tensor_with_gradient_and_a_cpu_scalar_mixes_with_any_device(device):
    q, k, v = patterns(1, 2, 3, 4, device=device), patterns(1, 2, 5, 4, device=device, seed=1), patterns(
        1, 2, 5, 4, device=device, seed=2
    )
    beta = torch.tensor([0.7, 1.3], dtype=torch.float64, device=device, requires_grad=True)
    hopfield_retrieval(q, k, v, beta, 2).sum().backward()
    assert beta.grad is not None and beta.grad.shape == (2,)
    out_scalar = hopfield_retrieval(q, k, v, torch.tensor(0.7, dtype=torch.float64), 1)
    assert out_scalar.device == q.device


# ---- energy -------------------------------------------------------------------------------------


def test_energy_matches_equation_2_and_is_nonnegative():
    xi, key = patterns(3, 4, 6), patterns(3, 10, 6, seed=1)
    for beta in (0.1, 1.0, 8.0):
        got = hopfield_energy(xi, key, beta)
        assert_close(got, energy_reference(xi, key, beta), rtol=1e-12, atol=1e-12)
        assert bool((got >= -1e-12).all())  # the lse bound makes E >= 0 (Ramsauer et al., lemma A1)


def test_energy_masks_remove_patterns():
    xi, key = patterns(2, 5), patterns(7, 5, seed=1)
    keep = torch.tensor([True, False, True, True, False, True, True])
    expected = hopfield_energy(xi, key[keep], 1.5)
    assert_close(hopfield_energy(xi, key, 1.5, mask=keep), expected, rtol=1e-12, atol=1e-12)
    float_mask = torch.zeros(7, dtype=torch.float64).masked_fill(~keep, float("-inf"))
    assert_close(hopfield_energy(xi, key, 1.5, mask=float_mask), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("beta", [0.05, 1.0, 8.0, 32.0])
def test_energy_never_increases_along_update_steps(beta):
    """Ramsauer et al. 2020, theorem 1: the update is the CCCP step on E, so E(xi_t) is
    non-increasing. 10 random problems per beta, 8 steps each, with and without a mask."""
    for seed in range(10):
        g = torch.Generator().manual_seed(seed)
        n, d = int(torch.randint(2, 30, (1,), generator=g)), int(torch.randint(2, 16, (1,), generator=g))
        key = torch.randn(n, d, dtype=torch.float64, generator=g) * float(torch.rand(1, generator=g) * 3 + 0.2)
        xi = torch.randn(5, d, dtype=torch.float64, generator=g) * 2
        mask = torch.rand(n, generator=g) > 0.3 if seed % 2 else None
        if mask is not None:
            mask[0] = True
        energies = [hopfield_energy(xi, key, beta, mask=mask)]
        for _ in range(8):
            xi = hopfield_retrieval_explicit(xi, key, key, beta, 1, mask=mask)[2]
            energies.append(hopfield_energy(xi, key, beta, mask=mask))
        e = torch.stack(energies)
        rises = e[1:] - e[:-1]
        assert bool((rises <= 1e-10 * (1 + e[:-1].abs())).all()), (seed, rises.max())


def test_one_step_retrieval_error_is_within_the_exponential_bound():
    """Ramsauer et al. 2020, theorem 5: for a pattern x_i separated by
    Delta_i = min_j (x_i.x_i - x_i.x_j) and a state xi near it,
    ||f(xi) - x_i|| <= 2 (N - 1) M exp(-beta (Delta_i - 2 M ||xi - x_i||))."""
    g = torch.Generator().manual_seed(0)
    n, d, beta = 40, 64, 1.0
    x = torch.randn(n, d, dtype=torch.float64, generator=g)
    x = 6.0 * x / x.norm(dim=-1, keepdim=True)  # on a sphere of radius 6: well separated in 64-D
    big_m = x.norm(dim=-1).max()
    gram = x @ x.T
    delta = (gram.diagonal().unsqueeze(1) - gram).masked_fill(torch.eye(n, dtype=torch.bool), float("inf")).min(1).values
    noise = torch.randn(n, d, dtype=torch.float64, generator=g)
    xi = x + 0.02 * noise / noise.norm(dim=-1, keepdim=True)
    retrieved = hopfield_retrieval(xi, x, x, beta)  # one update: f(xi) = softmax(beta X xi) X
    error = (retrieved - x).norm(dim=-1)
    bound = 2 * (n - 1) * big_m * torch.exp(-beta * (delta - 2 * big_m * (xi - x).norm(dim=-1)))
    assert bool((bound < 1e-3).all())  # the bound is meaningful: patterns are well separated
    assert bool((error <= bound).all()), (error / bound).max()


# ---- separation functions -----------------------------------------------------------------------


@pytest.mark.parametrize("name,fn,reference", [("sparsemax", sparsemax, sparsemax_reference), ("entmax15", entmax15, entmax15_reference)])
def test_separation_matches_bisection(name, fn, reference, device):
    z = patterns(6, 11, device=device) * 2
    z[0, 3:] = float("-inf")  # masked scores get zero weight
    expected = reference(z)
    assert_close(fn(z), expected, rtol=1e-10, atol=1e-10)
    assert_close(fn(z.T, 0), expected.T, rtol=1e-10, atol=1e-10)
    assert_close(fn(z).sum(-1), torch.ones(6, dtype=z.dtype, device=device))
    assert bool((fn(z)[0, 3:] == 0).all())
    assert bool((fn(z) == 0).any())  # sparse
    # float32 too
    assert_close(fn(z.float()), fn(z).float(), rtol=1e-5, atol=1e-6)


def test_separation_of_two_entries_has_the_closed_form():
    # sparsemax([t, 0]) = [clip((t + 1) / 2, 0, 1), ...]; entmax15([t, 0])_1 solves
    # (t/2 - tau)^2 + (-tau)^2 = 1 while both are in the support (|t| < 2).
    t = torch.linspace(-3, 3, 25, dtype=torch.float64)
    z = torch.stack([t, torch.zeros_like(t)], -1)
    assert_close(sparsemax(z)[:, 0], ((t + 1) / 2).clamp(0, 1))
    inside = t.abs() < 2
    u = t[inside] / 2
    tau = (u - torch.sqrt(2 - u**2)) / 2  # root of (u - tau)^2 + tau^2 = 1 below min(u, 0)
    assert_close(entmax15(z)[inside, 0], (u - tau) ** 2)


@pytest.mark.parametrize("fn", [sparsemax, entmax15])
def test_separation_gradcheck(fn, device):
    z = (patterns(4, 7, device=device) * 1.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: fn(x, -1), (z,))
    assert torch.autograd.gradcheck(lambda x: fn(x, 0), (z,))


# ---- gradients ----------------------------------------------------------------------------------


@pytest.mark.parametrize("separation", ["softmax", "sparsemax", "entmax15"])
@pytest.mark.parametrize("steps", [0, 2])
def test_retrieval_gradcheck(separation, steps, device):
    q = patterns(1, 2, 3, 4, device=device).requires_grad_()
    k = patterns(1, 2, 5, 4, device=device, seed=1).requires_grad_()
    v = patterns(1, 2, 5, 3, device=device, seed=2).requires_grad_()
    beta = torch.tensor([0.8, 1.7], dtype=torch.float64, device=device, requires_grad=True)
    mask = torch.tensor([True, True, False, True, True], device=device)

    def retrieval(q, k, v, beta):
        return hopfield_retrieval(q, k, v, beta, steps, mask=mask, separation=separation)

    assert torch.autograd.gradcheck(retrieval, (q, k, v, beta))

    def explicit(q, k, v, beta):
        return hopfield_retrieval_explicit(q, k, v, beta, steps, separation=separation)

    assert torch.autograd.gradcheck(explicit, (q, k, v, beta))


def test_energy_gradcheck(device):
    xi = patterns(2, 3, 4, device=device).requires_grad_()
    key = patterns(2, 6, 4, device=device, seed=1).requires_grad_()
    beta = torch.tensor(1.3, dtype=torch.float64, device=device, requires_grad=True)
    mask = patterns(3, 6, device=device, seed=2)
    assert torch.autograd.gradcheck(lambda x, k, b: hopfield_energy(x, k, b), (xi, key, beta))
    assert torch.autograd.gradcheck(lambda x, k, b: hopfield_energy(x, k, b, mask=mask), (xi, key, beta))
    # The gradient in the state is xi - K^T softmax(beta K xi): the update is its fixed point.
    (grad,) = torch.autograd.grad(hopfield_energy(xi, key, beta).sum(), xi)
    update = torch.softmax(beta * xi @ key.transpose(-2, -1), -1) @ key
    assert_close(grad, (xi - update).detach())


# ---- opcheck ------------------------------------------------------------------------------------


def _retrieval_samples(device, requires_grad):
    q = patterns(2, 2, 3, 4, device=device).requires_grad_(requires_grad)
    k = patterns(2, 2, 5, 4, device=device, seed=1).requires_grad_(requires_grad)
    v = patterns(2, 2, 5, 3, device=device, seed=2).requires_grad_(requires_grad)
    beta = torch.tensor([0.5, 1.5], dtype=torch.float64, device=device).requires_grad_(requires_grad)
    mask = torch.tensor([True, False, True, True, True], device=device)
    yield (q, k, v, beta, 2, 0.0, mask, "softmax", 0.0)
    yield (q, k, v, beta, 1, 0.0, None, "sparsemax", 0.0)
    yield (q, k, v, beta, 0, 0.0, mask, "entmax15", 0.0)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck_retrieval_and_energy(requires_grad, device):
    samples = list(_retrieval_samples(device, requires_grad))
    for args in samples if requires_grad else samples[:1]:
        torch.library.opcheck(OPS.hopfield_retrieval.default, args)
        torch.library.opcheck(OPS.hopfield_retrieval_explicit.default, args)
    xi, key = patterns(2, 3, 4, device=device).requires_grad_(requires_grad), patterns(2, 5, 4, device=device, seed=1)
    beta = torch.tensor(0.9, dtype=torch.float64, device=device)
    torch.library.opcheck(OPS.hopfield_energy.default, (xi, key, beta, None))
    torch.library.opcheck(OPS.hopfield_energy.default, (xi, key, beta, torch.tensor([True, True, False, True, True], device=device)))


@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck_separation(requires_grad, device):
    for dtype in (torch.float32, torch.float64):
        z = patterns(3, 6, dtype=dtype, device=device).requires_grad_(requires_grad)
        for op, backward in ((OPS.sparsemax, OPS._sparsemax_backward), (OPS.entmax15, OPS._entmax15_backward)):
            torch.library.opcheck(op.default, (z, -1))
            torch.library.opcheck(op.default, (z, 0))
            y = op(z.detach(), 1)
            torch.library.opcheck(backward.default, (torch.randn_like(y), y, 1))
    torch.library.opcheck(OPS.sparsemax.default, (torch.empty(0, 4, device=device), -1))


# ---- torch.compile --------------------------------------------------------------------------------


def test_fixed_steps_compile_fullgraph_with_gradients():
    def loss(q, k, v, beta):
        return hopfield_retrieval(q, k, v, beta, 3).square().mean()

    inputs = [patterns(2, 2, 6, 8, dtype=torch.float32, seed=s) for s in range(3)]
    beta = torch.tensor([0.4, 0.9])
    eager = [t.clone().requires_grad_() for t in inputs + [beta]]
    compiled_inputs = [t.clone().requires_grad_() for t in inputs + [beta]]
    compiled = torch.compile(loss, fullgraph=True)
    e, c = loss(*eager), compiled(*compiled_inputs)
    assert_close(c, e, rtol=1e-5, atol=1e-6)
    e.backward()
    c.backward()
    for a, b in zip(eager, compiled_inputs):
        assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6)


def test_early_stop_compiles_fullgraph_too():
    q, k = patterns(5, 4, dtype=torch.float32), patterns(7, 4, dtype=torch.float32, seed=1)
    compiled = torch.compile(lambda q, k: hopfield_retrieval(q, k, k, 1.0, 4, eps=1e-3), fullgraph=True)
    assert_close(compiled(q, k), hopfield_retrieval(q, k, k, 1.0, 4, eps=1e-3), rtol=1e-5, atol=1e-6)


def test_ops_are_callable_from_torchscript():
    @torch.jit.script
    def retrieve(q: torch.Tensor, k: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return torch.ops.statmech.hopfield_retrieval(q, k, k, beta, 2, 0.0, None, "entmax15", 0.0)

    q, k = patterns(3, 4), patterns(6, 4, seed=1)
    beta = torch.tensor(1.0, dtype=torch.float64)
    assert_close(retrieve(q, k, beta), hopfield_retrieval(q, k, k, beta, 2, separation="entmax15"))


# ---- errors ---------------------------------------------------------------------------------------


def test_bad_inputs_name_the_argument():
    q, k, v = patterns(2, 3, 4), patterns(2, 5, 4, seed=1), patterns(2, 5, 3, seed=2)
    with pytest.raises(RuntimeError, match=r"hopfield_retrieval: beta must be > 0"):
        hopfield_retrieval(q, k, v, 0.0)
    with pytest.raises(RuntimeError, match=r"hopfield_energy: beta must be > 0"):
        hopfield_energy(q, k, -1.0)
    with pytest.raises(RuntimeError, match=r"beta must be > 0 .*smallest entry"):
        hopfield_retrieval(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), torch.tensor([1.0, -2.0], dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"key.size\(-1\) must equal the pattern \(head\) dimension query.size\(-1\) = 4"):
        hopfield_retrieval(q, patterns(2, 5, 6), v, 1.0)
    with pytest.raises(RuntimeError, match=r"value.size\(-2\) must equal the number of stored patterns"):
        hopfield_retrieval(q, k, patterns(2, 6, 3), 1.0)
    with pytest.raises(RuntimeError, match=r"key.size\(0\) must equal query.size\(0\)"):
        hopfield_retrieval(q, patterns(3, 5, 4), patterns(3, 5, 3), 1.0)
    with pytest.raises(RuntimeError, match=r"mask of shape \[3, 4\] is not broadcastable.*mask.size\(-1\) must be 1 or 5"):
        hopfield_retrieval(q, k, v, 1.0, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(RuntimeError, match=r"mask.size\(-2\) must be 1 or 3"):
        hopfield_retrieval(q, k, v, 1.0, mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(RuntimeError, match=r"mask must be bool .* got Int"):
        hopfield_retrieval(q, k, v, 1.0, mask=torch.ones(3, 5, dtype=torch.int32))
    with pytest.raises(RuntimeError, match=r"beta.size\(0\) must equal the number of heads query.size\(-3\) = 2"):
        hopfield_retrieval(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), torch.ones(3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match=r"separation must be \"softmax\", \"sparsemax\" or \"entmax15\", got \"relu\""):
        hopfield_retrieval(q, k, v, 1.0, separation="relu")
    with pytest.raises(RuntimeError, match=r"update_steps must be >= 0"):
        hopfield_retrieval(q, k, v, 1.0, -1)
    with pytest.raises(RuntimeError, match=r"eps must be >= 0"):
        hopfield_retrieval(q, k, v, 1.0, 1, eps=-1.0)
    with pytest.raises(RuntimeError, match=r"key has dtype Float but query has dtype Double"):
        hopfield_retrieval(q, k.float(), v, 1.0)
    with pytest.raises(RuntimeError, match=r"sparsemax: input must have a floating dtype"):
        sparsemax(torch.ones(3, dtype=torch.int64))
    with pytest.raises(RuntimeError, match=r"_entmax15_backward: grad must have the shape of output"):
        OPS._entmax15_backward(torch.ones(3), torch.ones(4), 0)


@pytest.mark.parametrize("separation", ["softmax", "sparsemax", "entmax15"])
def test_a_fully_masked_query_gets_zero_weights_and_zero_gradient(separation):
    # scaled_dot_product_attention's convention: no stored pattern takes part -> output 0, not NaN.
    q, k = patterns(3, 4).requires_grad_(), patterns(5, 4, seed=1).requires_grad_()
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False
    out = hopfield_retrieval(q, k, k, 1.0, mask=mask, separation=separation)
    explicit, association, _ = hopfield_retrieval_explicit(q, k, k, 1.0, mask=mask, separation=separation)
    for o in (out, explicit):
        assert bool((o[1] == 0).all()) and bool(torch.isfinite(o).all())
    assert bool((association[1] == 0).all())
    (out.sum() + explicit.sum()).backward()
    assert bool(torch.isfinite(q.grad).all()) and bool((q.grad[1] == 0).all()) and bool(torch.isfinite(k.grad).all())


# ---- dropout from a generator ----------------------------------------------------------------------


@pytest.mark.parametrize("separation", ["softmax", "sparsemax"])
def test_dropout_reproducible_from_generator(separation, device):
    # With a generator, dropout is reproducible and independent of the default generator; its
    # keep mask is the one written here: association * bernoulli(1 - p) / (1 - p), drawn from a
    # generator in the same state.
    q, k, v = patterns(2, 3, 4, device=device), patterns(2, 6, 4, device=device, seed=1), patterns(2, 6, 5, device=device, seed=2)
    p = 0.4

    def gen(seed):
        return torch.Generator(device=device).manual_seed(seed)

    out, association, _ = hopfield_retrieval_explicit(q, k, v, 0.7, 1, separation=separation, dropout_p=p, generator=gen(5))
    keep = torch.empty_like(association).bernoulli_(1 - p, generator=gen(5))
    assert_close(out, (association * keep / (1 - p)) @ v)
    torch.manual_seed(0)
    again = hopfield_retrieval(q, k, v, 0.7, 1, separation=separation, dropout_p=p, generator=gen(5))
    torch.manual_seed(1)
    assert torch.equal(again, hopfield_retrieval(q, k, v, 0.7, 1, separation=separation, dropout_p=p, generator=gen(5)))
    assert_close(again, out)
    assert not torch.equal(again, hopfield_retrieval(q, k, v, 0.7, 1, separation=separation, dropout_p=p, generator=gen(6)))
    # p = 0 with a generator is the plain retrieval (and draws nothing).
    g = gen(7)
    assert_close(hopfield_retrieval(q, k, v, 0.7, 1, separation=separation, generator=g),
                 hopfield_retrieval(q, k, v, 0.7, 1, separation=separation))
    assert torch.equal(g.get_state(), gen(7).get_state())


def test_energy_without_stored_patterns_is_a_named_error():
    # log-sum-exp and log N over no pattern are undefined: was an IndexError from amax().
    for device in ("cpu", "meta"):
        with pytest.raises(RuntimeError, match="hopfield_energy: key must hold at least one stored pattern"):
            hopfield_energy(torch.randn(2, 3, 4, device=device), torch.randn(2, 0, 4, device=device), 1.0)
