"""Classical binary Hopfield networks, dense associative memories and spin glasses
(statmech.hopfield, statmech.nn.BinaryHopfield, statmech.nn.DenseAssociativeMemory).

References are independent of the operators: explicit formulas written here, brute-force
enumeration of every state of small networks, and the literature's numbers (Amit, Gutfreund &
Sompolinsky 1985 for the Hebbian capacity)."""

import itertools
import math

import pytest
import torch

import statmech
from statmech import hopfield as H

OPS = torch.ops.statmech


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def all_states(n, dtype=torch.float64):
    """Every state of n spins, [2^n, n]."""
    bits = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=dtype)
    return bits


def explicit_energy(s, w, theta=None):
    e = -0.5 * torch.einsum("bi,ij,bj->b", s, w, s)
    return e if theta is None else e + s @ theta


def random_symmetric(n, g, dtype=torch.float64, diagonal=True):
    a = torch.randn(n, n, generator=g, dtype=dtype)
    w = (a + a.T) / 2
    if not diagonal:
        w.fill_diagonal_(0)
    return w


# ---- storage rules ----------------------------------------------------------------------------


def test_hebbian_matches_formula():
    x = H.random_patterns(5, 40, generator=gen(), dtype=torch.float64)
    w = H.store(x, "hebbian")
    ref = sum(torch.outer(p, p) for p in x) / 40
    ref.fill_diagonal_(0)
    torch.testing.assert_close(w, ref)


def storkey_reference(x):
    """Storkey (1997) written from its definition, with h_ij = sum_{k != i, j} w_ik xi_k."""
    p, n = x.shape
    w = torch.zeros(n, n, dtype=x.dtype)
    for mu in range(p):
        xi = x[mu]
        h = torch.zeros(n, n, dtype=x.dtype)
        for i in range(n):
            for j in range(n):
                h[i, j] = sum(w[i, k] * xi[k] for k in range(n) if k != i and k != j)
        new = w.clone()
        for i in range(n):
            for j in range(n):
                if i != j:
                    new[i, j] = w[i, j] + (xi[i] * xi[j] - xi[i] * h[j, i] - h[i, j] * xi[j]) / n
        w = new
    return w


def test_storkey_matches_definition():
    x = H.random_patterns(4, 9, generator=gen(1), dtype=torch.float64)
    torch.testing.assert_close(H.store(x, "storkey"), storkey_reference(x))


def test_pseudo_inverse_is_projector_without_diagonal():
    x = H.random_patterns(6, 30, generator=gen(2), dtype=torch.float64)
    ref = x.T @ torch.linalg.solve(x @ x.T, x)
    ref.fill_diagonal_(0)
    torch.testing.assert_close(H.store(x, "pseudo_inverse"), ref)


@pytest.mark.parametrize("rule", ["hebbian", "storkey", "pseudo_inverse"])
@pytest.mark.parametrize("update", ["async", "sync"])
def test_stored_patterns_are_fixed_points(rule, update):
    # Below capacity (alpha = 0.05) every stored pattern is a fixed point of both dynamics.
    x = H.random_patterns(10, 200, generator=gen(3))
    w = H.store(x, rule)
    out = H.run(x, w, update=update, generator=gen())
    assert torch.equal(out.state, x)
    assert out.sweeps.eq(0).all() and out.converged.all()


def test_zero_one_and_bool_states_are_spins():
    x = H.random_patterns(3, 50, generator=gen(4))
    w = H.store(x)
    zero_one = (x > 0).float()
    torch.testing.assert_close(H.store(zero_one), w)
    torch.testing.assert_close(H.store(x > 0), w)
    s = H.random_patterns(4, 50, generator=gen(5))
    for variant in [(s > 0).float(), s > 0, (s > 0).to(torch.int64)]:
        assert torch.equal(H.run(variant, w, generator=gen(6)).state, H.run(s, w, generator=gen(6)).state)
        torch.testing.assert_close(H.energy(variant, w), H.energy(s, w))


# ---- energy and dynamics ------------------------------------------------------------------------


def test_energy_matches_formula_and_gradients():
    g = gen(7)
    w = random_symmetric(12, g).requires_grad_()
    theta = torch.randn(12, generator=g, dtype=torch.float64, requires_grad=True)
    s = H.random_patterns(5, 12, generator=g, dtype=torch.float64)
    e = H.energy(s, w, theta)
    torch.testing.assert_close(e, explicit_energy(s, w, theta))
    torch.autograd.gradcheck(lambda w, t: H.energy(s, w, t), (w, theta))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_async_never_raises_energy(dtype):
    # Random symmetric couplings (diagonal of either sign) and thresholds: every single sweep
    # lowers the energy or keeps it, and the end state is a local minimum under single flips.
    g = gen(8)
    n, batch = 40, 16
    w = random_symmetric(n, g).to(dtype)
    theta = (0.3 * torch.randn(n, generator=g)).to(dtype)
    s = H.random_patterns(batch, n, generator=g, dtype=dtype)
    e = H.energy(s, w, theta)
    for _ in range(30):
        out = H.run(s, w, theta, max_sweeps=1, generator=g)
        torch.testing.assert_close(out.energy, H.energy(out.state, w, theta))
        assert (out.energy <= e + 1e-4 * e.abs().max()).all()
        s, e = out.state, out.energy
    assert out.converged.all()
    s64, w64, t64 = s.double(), w.double(), theta.double()
    base = explicit_energy(s64, w64, t64)
    for i in range(n):
        flipped = s64.clone()
        flipped[:, i] = -flipped[:, i]
        assert (explicit_energy(flipped, w64, t64) >= base - 1e-9).all()


def test_synchronous_two_cycle():
    w = torch.tensor([[0.0, -1.0], [-1.0, 0.0]])
    s = torch.tensor([[1.0, 1.0]])
    one = H.run(s, w, update="sync", max_sweeps=1)
    assert torch.equal(one.state, -s) and not one.converged.item()
    two = H.run(s, w, update="sync", max_sweeps=2)
    assert torch.equal(two.state, s)
    many = H.run(s, w, update="sync", max_sweeps=11)
    assert torch.equal(many.state, -s) and many.sweeps.item() == 11 and not many.converged.item()
    # Asynchronous updates break the cycle and end in a ground state (E = -1).
    out = H.run(s, w, update="async", generator=gen())
    assert out.converged.item() and out.energy.item() == -1.0 and out.state.sum().item() == 0


LETTERS = {  # pairwise overlaps |m| <= 0.12
    "T": ["#####", "..#..", "..#..", "..#..", "..#.."],
    "L": ["#....", "#....", "#....", "#....", "#####"],
    "V": ["#...#", "#...#", ".#.#.", ".#.#.", "..#.."],
    "P": ["####.", "#...#", "####.", "#....", "#...."],
}


def letter_patterns():
    return torch.tensor([[1.0 if c == "#" else -1.0 for row in rows for c in row] for rows in LETTERS.values()])


def corrupted_copies(pattern, flips):
    """Every copy of `pattern` with `flips` pixels flipped."""
    choices = list(itertools.combinations(range(pattern.numel()), flips))
    copies = pattern.repeat(len(choices), 1)
    for row, pixels in enumerate(choices):
        copies[row, list(pixels)] *= -1
    return copies


@pytest.mark.parametrize("rule,two_flip_rate", [("hebbian", 0.99), ("storkey", 0.99), ("pseudo_inverse", 1.0)])
def test_five_by_five_letters_recovered_from_corrupted_copies(rule, two_flip_rate):
    # The textbook example: 25 neurons store four 5x5 letters (T, L, V, P). Every copy with one
    # flipped pixel is cleaned up to its letter; of the 300 copies with two flipped pixels, all
    # are with the pseudo-inverse rule and at least 99% with Hebbian and Storkey (measured over
    # three seeds: 99.3% worst letter, 99.8% on average; 100% for the pseudo-inverse).
    x = letter_patterns()
    net = statmech.nn.BinaryHopfield(25, rule=rule).store(x)
    for k, pattern in enumerate(x):
        one = net(corrupted_copies(pattern, 1), generator=gen(k))
        assert torch.equal(one, pattern.expand_as(one)), f"letter {list(LETTERS)[k]}"
        two = net(corrupted_copies(pattern, 2), generator=gen(k))
        assert (two == pattern).all(1).double().mean() >= two_flip_rate, f"letter {list(LETTERS)[k]}"


def test_hebbian_capacity_at_n_1000():
    # Retrieval overlap from 10% flipped copies of every stored pattern against the load
    # alpha = P / N. Amit, Gutfreund & Sompolinsky (1985): retrieval states (m ~ 0.97-1) exist up
    # to alpha_c ~ 0.138 and vanish above it. Measured here (seed 0): m = 1.000 at 0.05,
    # 0.998 at 0.10 and 0.328 at 0.20 (examples/python/hopfield_capacity.py resolves the
    # transition: 0.977 at 0.12, 0.895 at 0.14, 0.759 at 0.16, 0.371 at 0.18).
    n, g = 1000, gen(0)
    overlaps = {}
    for alpha in (0.05, 0.10, 0.20):
        p = int(alpha * n)
        x = H.random_patterns(p, n, generator=g)
        w = H.store(x)
        noisy = torch.where(torch.rand(p, n, generator=g) < 0.1, -x, x)
        overlaps[alpha] = H.overlap(H.run(noisy, w, generator=g).state, x).mean().item()
    assert overlaps[0.05] > 0.99 and overlaps[0.10] > 0.97
    assert overlaps[0.20] < 0.6


def test_glauber_samples_boltzmann_distribution():
    # 6 spins, random couplings and thresholds, T = 1.5: the empirical distribution of 20000
    # independent chains after 30 sweeps against exp(-E/T)/Z by enumeration. Each probability's
    # standard error is at most sqrt(0.25 / 20000) = 0.0035; the tolerance is 5 of them.
    g = gen(9)
    n, chains, t = 6, 20000, 1.5
    w = random_symmetric(n, g, diagonal=False)
    theta = 0.5 * torch.randn(n, generator=g, dtype=torch.float64)
    states = all_states(n)
    boltzmann = torch.softmax(-explicit_energy(states, w, theta) / t, 0)
    start = torch.ones(chains, n, dtype=torch.float64)
    s, e = H.glauber(start, w, [t] * 30, theta, generator=g)
    torch.testing.assert_close(e, explicit_energy(s, w, theta))
    index = ((s > 0).long() * (2 ** torch.arange(n - 1, -1, -1))).sum(1)
    empirical = torch.bincount(index, minlength=2**n).double() / chains
    assert (empirical - boltzmann).abs().max() < 5 * math.sqrt(0.25 / chains)


def async_reference(s, w, theta, orders, sweeps, stop_at_fixed_point=True, check_energy=True):
    """Asynchronous sign updates written from the definition, one row at a time: the neurons of
    row b are visited in the order orders[b, t] in sweep t, and each visit recomputes
    f_i = sum_{j != i} W_ij s_j - theta_i from scratch (no incremental fields). Returns the
    final states, the sweeps that flipped something, whether a fixed point was reached, and
    asserts that no visit raises the energy."""
    s, w, theta = s.double().clone(), w.double(), theta.double()
    batch, n = s.shape
    off_diagonal = w - torch.diag(torch.diag(w))
    used = torch.zeros(batch, dtype=torch.long)
    converged = torch.zeros(batch, dtype=torch.bool)
    for b in range(batch):
        e = explicit_energy(s[b:b + 1], w, theta)
        for t in range(sweeps):
            flips = 0
            for i in orders[b, t].tolist():
                f = off_diagonal[i] @ s[b] - theta[i]
                new = 1.0 if f > 0 else (-1.0 if f < 0 else s[b, i].item())
                if new != s[b, i]:
                    s[b, i] = new
                    flips += 1
                    if check_energy:
                        e_new = explicit_energy(s[b:b + 1], w, theta)
                        assert e_new <= e + 1e-9, "a flip raised the energy"
                        e = e_new
            if flips == 0 and stop_at_fixed_point:
                converged[b] = True
                break
            used[b] += flips > 0
        if not converged[b]:
            f = s[b] @ off_diagonal.T - theta
            converged[b] = not bool((s[b] * f < 0).any())
    return s, used, converged


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n, batch, max_sweeps", [(24, 37, 2), (24, 37, 50), (150, 20, 50), (24, 70, 2), (24, 70, 50)])
def test_async_matches_reference_with_the_kernels_orders(dtype, n, batch, max_sweeps):
    # The CPU kernel runs order groups of 16 consecutive rows in lock-step with one random order
    # per sweep; _binary_hopfield_async_orders returns those orders from the same generator
    # state. With them, a from-scratch Python loop (which also checks that no flip raises the
    # energy) must give the same states, sweep counts and fixed-point flags; max_sweeps = 2
    # stops most rows at the sweep limit. 37 rows: two full groups and a partial one; N = 150:
    # several 64-row bands of W in the kernel's initial-field pass; 70 rows: the GEMM path.
    g = gen(40)
    w = random_symmetric(n, g).to(dtype)  # diagonal of either sign
    theta = (0.3 * torch.randn(n, generator=g)).to(dtype)
    s = H.random_patterns(batch, n, generator=g, dtype=dtype)
    drawn = max(max_sweeps, 3)  # a prefix of the orders of a longer run is the orders of a shorter one
    orders = OPS._binary_hopfield_async_orders(s, drawn, generator=gen(41))
    assert orders.shape == (batch, drawn, n) and orders.dtype == torch.long
    assert torch.equal(orders.sort(-1).values, torch.arange(n).expand(batch, drawn, n))
    assert all(torch.equal(orders[b], orders[16 * (b // 16)]) for b in range(batch))
    assert not torch.equal(orders[0], orders[16])
    assert not torch.equal(orders[0, 0], orders[0, 1])
    out = H.run(s, w, theta, max_sweeps=max_sweeps, generator=gen(41))
    ref, used, converged = async_reference(s, w, theta, orders, max_sweeps)
    assert torch.equal(out.state.double(), ref)
    assert torch.equal(out.sweeps, used) and torch.equal(out.converged, converged)
    assert (max_sweeps == 50) == bool(converged.all()) or n == 150
    torch.testing.assert_close(out.energy, explicit_energy(ref, w.double(), theta.double()).to(dtype))
    # Zero-temperature Glauber sweeps are the same dynamics without the early stop.
    state, energy = H.glauber(s, w, [0.0] * 3, theta, generator=gen(41))
    ref3, _, _ = async_reference(s, w, theta, orders, 3, stop_at_fixed_point=False)
    assert torch.equal(state.double(), ref3)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("where", [(10, 140), (70, 75), (149, 3), (127, 128), "signed zero"])
def test_asymmetric_entry_anywhere_is_seen(where, dtype):
    # One asymmetric pair in a tile right of the diagonal, in a diagonal tile, below the
    # diagonal, across a tile corner: the kernel must then add columns of W (not rows) on a flip,
    # as the reference does. The symmetry check compares bit patterns: +0 against -0 is equal
    # in value, and either way of reading W must give the reference's result.
    g = gen(42)
    n, batch = 150, 5
    w = random_symmetric(n, g, diagonal=False)
    if where == "signed zero":
        w[20, 90], w[90, 20] = 0.0, -0.0
    else:
        w[where] += 2.0
    w = w.to(dtype).double()  # values that float32 holds exactly
    s = H.random_patterns(batch, n, generator=g, dtype=torch.float64)
    theta = torch.zeros(n, dtype=torch.float64)
    orders = OPS._binary_hopfield_async_orders(s, 4, generator=gen(43))
    state, _ = H.glauber(s.to(dtype), w.to(dtype), [0.0] * 4, generator=gen(43))
    ref, _, _ = async_reference(s, w, theta, orders, 4, stop_at_fixed_point=False, check_energy=False)
    assert torch.equal(state.double(), ref)


def test_one_network_per_row_follows_the_same_orders():
    # With weight [batch, N, N] the CPU kernel runs each row on its own (no column is shared),
    # still in its order group's orders: N copies of one W give the shared-W run exactly.
    g = gen(44)
    n, batch = 24, 37
    w = random_symmetric(n, g)
    theta = 0.3 * torch.randn(batch, n, generator=g, dtype=torch.float64)
    s = H.random_patterns(batch, n, generator=g, dtype=torch.float64)
    shared = H.run(s, w, theta, max_sweeps=3, generator=gen(45))
    per_row = H.run(s, w.expand(batch, n, n).contiguous(), theta, max_sweeps=3, generator=gen(45))
    for a, b in zip(shared, per_row):
        assert torch.equal(a, b)
    assert torch.equal(H.glauber(s, w, [1.0, 0.0], theta, generator=gen(46))[0],
                       H.glauber(s, w.expand(batch, n, n).contiguous(), [1.0, 0.0], theta, generator=gen(46))[0])


def test_async_orders_errors():
    with pytest.raises(RuntimeError, match="_binary_hopfield_async_orders: state must be 2-D"):
        OPS._binary_hopfield_async_orders(torch.ones(3), 2)
    with pytest.raises(RuntimeError, match="_binary_hopfield_async_orders: sweeps must be >= 0, got -1"):
        OPS._binary_hopfield_async_orders(torch.ones(2, 3), -1)


@pytest.mark.parametrize("n, batch", [(300, 8), (1500, 21)])
def test_dynamics_reproducible_from_generator_and_thread_count(n, batch):
    # At N = 1500 a thread takes as few as 2 rows, so threads split the order groups (16 rows)
    # differently for each thread count; each part replays its group's orders.
    x = H.random_patterns(n // 10, n, generator=gen(10))
    w = H.store(x)
    s = H.random_patterns(batch, n, generator=gen(11))
    a = H.run(s, w, generator=gen(12)).state
    b = H.glauber(s, w, [1.0, 0.5, 0.1], generator=gen(12))[0]
    threads = torch.get_num_threads()
    try:
        for count in (1, 3):
            torch.set_num_threads(count)
            assert torch.equal(a, H.run(s, w, generator=gen(12)).state)
            assert torch.equal(b, H.glauber(s, w, [1.0, 0.5, 0.1], generator=gen(12))[0])
    finally:
        torch.set_num_threads(threads)
    assert not torch.equal(b, H.glauber(s, w, [1.0, 0.5, 0.1], generator=gen(13))[0])


def test_batched_weights_and_thresholds_match_per_row_runs():
    g = gen(14)
    w = torch.stack([random_symmetric(20, g, diagonal=False) for _ in range(3)])
    theta = 0.2 * torch.randn(3, 20, generator=g, dtype=torch.float64)
    s = H.random_patterns(3, 20, generator=g, dtype=torch.float64)
    for update in ("sync", "async"):
        out = H.run(s, w, theta, update=update, generator=gen(1))
        assert out.converged.all() or update == "sync"
        torch.testing.assert_close(out.energy, torch.stack([explicit_energy(out.state[b:b + 1], w[b], theta[b])[0]
                                                            for b in range(3)]))
    out = H.run(s, w, theta, generator=gen(1))
    for b in range(3):
        single = H.run(out.state[b:b + 1], w[b], theta[b], max_sweeps=1, generator=gen(2))
        assert single.sweeps.item() == 0  # the batched run's rows are fixed points of their own network


# ---- spin glasses ------------------------------------------------------------------------------


def test_sk_couplings_statistics():
    n = 400
    j = H.sk_couplings(n, generator=gen(15), dtype=torch.float64)
    assert torch.equal(j, j.T) and j.diagonal().abs().max() == 0
    upper = j[torch.triu_indices(n, n, 1).unbind()]
    # Variance 1/N; the relative standard error of a variance from m samples is sqrt(2/m).
    m = upper.numel()
    assert abs(upper.var().item() * n - 1) < 5 * math.sqrt(2 / m)
    assert abs(upper.mean().item()) < 5 / math.sqrt(n * m)
    pm = H.sk_couplings(64, batch=2, distribution="pm", generator=gen(16))
    off = pm[:, ~torch.eye(64, dtype=torch.bool)]
    torch.testing.assert_close(off.abs(), torch.full_like(off, 1 / 8))
    assert torch.equal(pm, pm.transpose(1, 2))


def test_annealing_and_tempering_find_exact_ground_state():
    # SK with N = 12: the ground state by enumeration of all 4096 states.
    n = 12
    j = H.sk_couplings(n, generator=gen(17), dtype=torch.float64)
    exact = explicit_energy(all_states(n), j).min()
    start = H.random_patterns(8, n, generator=gen(18), dtype=torch.float64)
    annealed = H.anneal(start, j, sweeps=200, generator=gen(19))
    torch.testing.assert_close(annealed.energy.min(), exact)
    assert annealed.converged.all()
    temps = H.geometric_schedule(0.2, 1.5, 6)
    replicas = H.random_patterns(6, n, generator=gen(20), dtype=torch.float64).expand(2, 6, n).contiguous()
    pt = H.parallel_tempering(replicas, j, temps, 100, generator=gen(21))
    torch.testing.assert_close(pt.best_energy, exact.expand(2))
    torch.testing.assert_close(H.energy(pt.best_state, j), pt.best_energy)
    torch.testing.assert_close(pt.energy, explicit_energy(pt.state.reshape(-1, n), j).reshape(2, 6))
    assert ((pt.swap_rate > 0) & (pt.swap_rate <= 1)).all()


def test_parallel_tempering_samples_boltzmann_at_each_temperature():
    # 5 spins, 2 replicas at T = 0.8 and 2.0, 4000 independent systems: after 40 rounds the
    # replica at each temperature follows exp(-E/T)/Z (same tolerance rule as the Glauber test).
    g = gen(22)
    n, systems, temps = 5, 4000, [0.8, 2.0]
    w = random_symmetric(n, g, diagonal=False)
    start = torch.ones(systems, 2, n, dtype=torch.float64)
    pt = H.parallel_tempering(start, w, temps, 40, generator=g)
    states = all_states(n)
    for r, t in enumerate(temps):
        boltzmann = torch.softmax(-explicit_energy(states, w) / t, 0)
        index = ((pt.state[:, r] > 0).long() * (2 ** torch.arange(n - 1, -1, -1))).sum(1)
        empirical = torch.bincount(index, minlength=2**n).double() / systems
        assert (empirical - boltzmann).abs().max() < 5 * math.sqrt(0.25 / systems)


def test_replica_overlaps():
    s = torch.tensor([[[1.0, 1, 1, 1], [1, 1, -1, -1], [-1, -1, -1, -1]]])
    torch.testing.assert_close(H.replica_overlaps(s), torch.tensor([[0.0, -1.0, 0.0]]))


# ---- dense associative memory -------------------------------------------------------------------


@pytest.mark.parametrize(
    "interaction,degree,beta",
    [("polynomial", 3, 1.0), ("polynomial", 2, 1.0), ("rectified_polynomial", 4, 1.0), ("exponential", 1, 0.3)],
)
def test_dense_memory_energy_and_descent(interaction, degree, beta):
    g = gen(23)
    n, p = 30, 12
    x = H.random_patterns(p, n, generator=g, dtype=torch.float64)
    s = H.random_patterns(10, n, generator=g, dtype=torch.float64)
    m = s @ x.T
    f = {"polynomial": m**degree, "rectified_polynomial": m.clamp(min=0) ** degree,
         "exponential": torch.exp(beta * m)}[interaction]
    torch.testing.assert_close(H.dense_memory_energy(s, x, interaction, degree, beta), -f.sum(1))
    e = H.dense_memory_energy(s, x, interaction, degree, beta)
    for _ in range(20):
        out = H.dense_memory_run(s, x, interaction, degree, beta, max_sweeps=1, generator=g)
        assert (out.energy <= e + 1e-9 * e.abs().max()).all()
        s, e = out.state, out.energy
    assert out.converged.all()
    base = H.dense_memory_energy(s, x, interaction, degree, beta)
    for i in range(n):  # a local minimum under single flips, by explicit energies
        flipped = s.clone()
        flipped[:, i] = -flipped[:, i]
        assert (H.dense_memory_energy(flipped, x, interaction, degree, beta) >= base - 1e-9 * base.abs()).all()


def test_dense_memory_capacity_beyond_hebbian():
    # N = 100, P = 40 (alpha = 0.4, three times the Hebbian capacity): from copies with 10% of the
    # bits flipped, the cubic dense memory recovers every pattern (measured: all 40 exactly),
    # and the exponential one stores P = 200 > N; the Hebbian network at the same load does not
    # (measured mean overlap 0.41).
    g = gen(24)
    n, p = 100, 40
    x = H.random_patterns(p, n, generator=g)
    noisy = torch.where(torch.rand(p, n, generator=g) < 0.1, -x, x)
    dense = H.dense_memory_run(noisy, x, "polynomial", 3, generator=g)
    assert torch.equal(dense.state, x)
    hebbian = H.overlap(H.run(noisy, H.store(x), generator=g).state, x).mean()
    assert hebbian < 0.6
    many = H.random_patterns(200, n, generator=g)
    noisy = torch.where(torch.rand(200, n, generator=g) < 0.1, -many, many)
    assert torch.equal(H.dense_memory_run(noisy, many, "exponential", beta=1.0, generator=g).state, many)


# ---- modules ----------------------------------------------------------------------------------


def test_binary_hopfield_module_round_trip():
    x = H.random_patterns(5, 64, generator=gen(25))
    net = statmech.nn.BinaryHopfield(64, rule="storkey")
    assert "rule='storkey'" in repr(net)
    net.store(x)
    assert torch.equal(net(x), x)
    torch.testing.assert_close(net.energy(x), H.energy(x, net.weight))
    clone = statmech.nn.BinaryHopfield(64)
    clone.load_state_dict(net.state_dict())
    torch.testing.assert_close(clone.weight, net.weight)
    s, e = net.sample(x, [0.0])
    assert torch.equal(s, x)
    net.reset_parameters()
    assert net.weight.abs().sum() == 0


def test_dense_memory_module_round_trip():
    x = H.random_patterns(20, 50, generator=gen(26))
    mem = statmech.nn.DenseAssociativeMemory(50, degree=3).store(x)
    assert torch.equal(mem(x), x)
    clone = statmech.nn.DenseAssociativeMemory(50, degree=3)
    clone.load_state_dict(mem.state_dict())
    assert torch.equal(clone.patterns, mem.patterns) and "stored=20" in repr(clone)
    torch.testing.assert_close(clone.energy(x), mem.energy(x))


# ---- errors -------------------------------------------------------------------------------------


def test_errors_name_the_argument():
    w = torch.zeros(4, 4)
    s = torch.ones(2, 4)
    with pytest.raises(RuntimeError, match="binary_hopfield_store: rule must be one of"):
        H.store(s, "oja")
    with pytest.raises(RuntimeError, match=r"binary_hopfield_run: weight.size\(1\) must equal"):
        H.run(s, torch.zeros(4, 5))
    with pytest.raises(RuntimeError, match="binary_hopfield_run: update must be 'async' or 'sync'"):
        H.run(s, w, update="parallel")
    with pytest.raises(RuntimeError, match="binary_hopfield_run: max_sweeps must be >= 0"):
        H.run(s, w, max_sweeps=-1)
    with pytest.raises(RuntimeError, match=r"binary_hopfield_run: weight.size\(0\) must equal the batch size"):
        H.run(s, torch.zeros(3, 4, 4))
    with pytest.raises(RuntimeError, match="binary_hopfield_energy: threshold has dtype"):
        H.energy(s, w, torch.zeros(4, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="binary_hopfield_glauber: temperatures must be finite and >= 0"):
        H.glauber(s, w, [1.0, -0.5])
    with pytest.raises(RuntimeError, match=r"binary_hopfield_parallel_tempering: state.size\(1\) must equal"):
        H.parallel_tempering(torch.ones(2, 3, 4), w, [1.0, 2.0], 1)
    with pytest.raises(RuntimeError, match="spin_glass_couplings_: distribution must be"):
        OPS.spin_glass_couplings_(torch.empty(4, 4), "uniform")
    with pytest.raises(RuntimeError, match="dense_memory_run: interaction must be one of"):
        H.dense_memory_run(s, torch.ones(3, 4), "cubic")
    with pytest.raises(RuntimeError, match="dense_memory_energy: degree must be >= 1"):
        H.dense_memory_energy(s, torch.ones(3, 4), degree=0)
    with pytest.raises(RuntimeError, match=r"dense_memory_run: patterns.size\(1\) must equal"):
        H.dense_memory_run(s, torch.ones(3, 5))


# ---- operator checks ------------------------------------------------------------------------------

# Randomised ops consume their generator, so two calls differ: opcheck's eager-vs-AOT comparison
# runs only on the deterministic ones.
DETERMINISTIC_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
RANDOM_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor")


def test_opcheck_every_op():
    x = H.random_patterns(3, 16, generator=gen(27))
    w = H.store(x)
    theta = torch.zeros(16)
    s = H.random_patterns(4, 16, generator=gen(28))
    opcheck = torch.library.opcheck
    for rule in ("hebbian", "storkey", "pseudo_inverse"):
        opcheck(OPS.binary_hopfield_store, (x, rule), test_utils=DETERMINISTIC_UTILS)
    opcheck(OPS.binary_hopfield_energy, (s, w, theta), test_utils=DETERMINISTIC_UTILS)
    opcheck(OPS.binary_hopfield_run, (s, w, theta, "sync", 10), test_utils=DETERMINISTIC_UTILS)
    opcheck(OPS.binary_hopfield_run, (s, w, None, "async", 10), {"generator": gen()}, test_utils=RANDOM_UTILS)
    opcheck(OPS.binary_hopfield_glauber, (s, w, [1.0, 0.5]), {"generator": gen()}, test_utils=RANDOM_UTILS)
    opcheck(OPS._binary_hopfield_async_orders, (s, 3), {"generator": gen()}, test_utils=RANDOM_UTILS)
    opcheck(OPS.binary_hopfield_parallel_tempering, (s.reshape(2, 2, 16), w, [0.5, 1.0], 3),
            {"generator": gen()}, test_utils=RANDOM_UTILS)
    opcheck(OPS.spin_glass_couplings_, (torch.empty(8, 8), "gaussian"), {"generator": gen()}, test_utils=RANDOM_UTILS)
    opcheck(OPS.dense_memory_energy, (s, x, "polynomial", 3, 1.0), test_utils=DETERMINISTIC_UTILS)
    opcheck(OPS.dense_memory_run, (s, x, "exponential", 3, 0.5, 10), {"generator": gen()}, test_utils=RANDOM_UTILS)


# ---- every device (CUDA when available: the kernel in ops/hopfield/cuda) ------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dynamics_on_device(device, dtype):
    g = gen(30)
    n, batch = 300, 24
    x = H.random_patterns(15, n, generator=g, dtype=dtype)
    w = H.store(x).to(device)
    noisy = torch.where(torch.rand(15, n, generator=g) < 0.1, -x, x).to(device)
    dgen = torch.Generator(device=device).manual_seed(0)
    # Stored patterns are recalled, by both dynamics.
    assert torch.equal(H.run(noisy, w, generator=dgen).state.cpu(), x)
    sync = H.run(noisy, w, update="sync", generator=dgen)
    cpu_sync = H.run(noisy.cpu(), w.cpu(), update="sync")
    assert torch.equal(sync.state.cpu(), cpu_sync.state) and torch.equal(sync.sweeps.cpu(), cpu_sync.sweeps)
    # Asynchronous descent on random couplings with thresholds, ending at a local minimum.
    wr = random_symmetric(n, g).to(dtype)
    theta = (0.2 * torch.randn(n, generator=g)).to(dtype)
    s = H.random_patterns(batch, n, generator=g, dtype=dtype)
    e = H.energy(s, wr, theta)
    wr_d, theta_d, s_d = wr.to(device), theta.to(device), s.to(device)
    for _ in range(4):
        out = H.run(s_d, wr_d, theta_d, max_sweeps=2, generator=dgen)
        energy = out.energy.cpu()
        torch.testing.assert_close(energy, H.energy(out.state.cpu(), wr, theta), rtol=1e-4, atol=1e-3)
        assert (energy <= e + 1e-4 * e.abs().max()).all()
        s_d, e = out.state, energy
    out = H.run(s_d, wr_d, theta_d, generator=dgen)
    assert out.converged.all()
    s64, w64, t64 = out.state.cpu().double(), wr.double(), theta.double()
    f = s64 @ w64.T - w64.diagonal() * s64 - t64
    assert (s64 * f >= -1e-6).all()  # no spin disagrees with its field
    # Reproducible from the generator.
    a = H.glauber(s.to(device), wr_d, [2.0, 1.0, 0.5], generator=torch.Generator(device=device).manual_seed(5))
    b = H.glauber(s.to(device), wr_d, [2.0, 1.0, 0.5], generator=torch.Generator(device=device).manual_seed(5))
    assert torch.equal(a[0], b[0])


def test_glauber_boltzmann_on_device(device):
    # As test_glauber_samples_boltzmann_distribution, with batched couplings on the device.
    g = gen(31)
    n, chains, t = 5, 8000, 1.2
    w = random_symmetric(n, g, diagonal=False)
    states = all_states(n)
    boltzmann = torch.softmax(-explicit_energy(states, w) / t, 0)
    start = torch.ones(chains, n, dtype=torch.float64, device=device)
    s, _ = H.glauber(start, w.expand(chains, n, n).contiguous().to(device), [t] * 30,
                     generator=torch.Generator(device=device).manual_seed(0))
    index = ((s.cpu() > 0).long() * (2 ** torch.arange(n - 1, -1, -1))).sum(1)
    empirical = torch.bincount(index, minlength=2**n).double() / chains
    assert (empirical - boltzmann).abs().max() < 5 * math.sqrt(0.25 / chains)


@pytest.mark.parametrize("interaction,beta", [("polynomial", 1.0), ("rectified_polynomial", 1.0), ("exponential", 0.5)])
def test_dense_memory_on_device(device, interaction, beta):
    g = gen(32)
    n, p = 100, 40
    x = H.random_patterns(p, n, generator=g, dtype=torch.float64)
    noisy = torch.where(torch.rand(p, n, generator=g) < 0.1, -x, x)
    out = H.dense_memory_run(noisy.to(device), x.to(device), interaction, 3, beta,
                             generator=torch.Generator(device=device).manual_seed(0))
    assert torch.equal(out.state.cpu(), x) and out.converged.all()
    torch.testing.assert_close(out.energy.cpu(), H.dense_memory_energy(x, x, interaction, 3, beta))
    # From random states: a local minimum under single flips.
    s = H.random_patterns(6, n, generator=g, dtype=torch.float64)
    out = H.dense_memory_run(s.to(device), x.to(device), interaction, 3, beta,
                             generator=torch.Generator(device=device).manual_seed(1))
    s = out.state.cpu()
    base = H.dense_memory_energy(s, x, interaction, 3, beta)
    for i in range(0, n, 7):
        flipped = s.clone()
        flipped[:, i] = -flipped[:, i]
        assert (H.dense_memory_energy(flipped, x, interaction, 3, beta) >= base - 1e-9 * base.abs()).all()


def test_asymmetric_weights_use_rows_for_fields():
    # f_i = sum_{j != i} W_ij s_j: with a non-symmetric W the converged rows are fixed points of
    # that field (not of W^T s), on CPU where symmetric weights skip the transposed copy.
    g = gen(33)
    n = 30
    w = random_symmetric(n, g, diagonal=False) + 0.3 * torch.randn(n, n, generator=g, dtype=torch.float64)
    s = H.random_patterns(32, n, generator=g, dtype=torch.float64)
    out = H.run(s, w, max_sweeps=200, generator=g)
    assert out.converged.sum() >= 16
    fixed = out.state[out.converged]
    f = fixed @ w.T - w.diagonal() * fixed
    assert (fixed * f >= 0).all()
    assert not (fixed * (fixed @ w - w.diagonal() * fixed) >= 0).all()


def test_edge_inputs_raise_named_errors():
    w = torch.zeros(6, 6)
    for tempering in (H.parallel_tempering, OPS._binary_hopfield_parallel_tempering_generic):
        # No replica: was an IndexError from select() inside the checks.
        with pytest.raises(RuntimeError, match="binary_hopfield_parallel_tempering: temperatures must hold at least 1"):
            tempering(torch.ones(2, 0, 6), w, [], 1)
        # The neurons of a [batch, replicas, N] state are its size(2), and the message says so.
        with pytest.raises(RuntimeError, match=r"weight.size\(1\) must equal the number of neurons state.size\(2\) = 7"):
            tempering(torch.ones(2, 2, 7), w, [1.0, 0.5], 1)
        with pytest.raises(RuntimeError, match=r"threshold.size\(0\) must equal the number of neurons state.size\(2\)"):
            tempering(torch.ones(2, 2, 6), w, [1.0, 0.5], 1, torch.zeros(7))
    with pytest.raises(ValueError, match="geometric_schedule: t_start and t_end must be positive"):
        H.geometric_schedule(3.0, 0.0, 5)  # was [3, 0, 0, 0, 0], no anneal at all
    with pytest.raises(ValueError, match="geometric_schedule: sweeps must be >= 0"):
        H.anneal(torch.ones(2, 5), torch.zeros(5, 5), sweeps=-1)


def test_dense_memory_huge_degree_runs_in_log_time():
    # x^degree by repeated squaring: a degree of 2^31 + 1 looped 2^31 times per visit (a hang).
    # One neuron, one pattern (+1): F(+1) = 1 > F(-1) = -1, so both rows settle at +1, energy -1.
    out = H.dense_memory_run(torch.tensor([[1.0], [-1.0]]), torch.ones(1, 1), degree=2**31 + 1, generator=gen(0))
    assert torch.equal(out.state, torch.ones(2, 1))
    assert torch.equal(out.energy, -torch.ones(2))
    assert out.converged.all()


def test_module_inputs_are_checked_where_they_are_given():
    # store with the wrong number of neurons raised a broadcasting error; the dynamics' settings
    # were accepted and failed at the first forward.
    with pytest.raises(ValueError, match=r"BinaryHopfield.store: patterns must be \[P, 5\], got \[3, 6\]"):
        statmech.nn.BinaryHopfield(5).store(torch.ones(3, 6))
    with pytest.raises(ValueError, match="BinaryHopfield: max_sweeps must be >= 0"):
        statmech.nn.BinaryHopfield(5, max_sweeps=-1)
    with pytest.raises(ValueError, match="DenseAssociativeMemory: degree must be >= 1"):
        statmech.nn.DenseAssociativeMemory(5, degree=0)
    with pytest.raises(ValueError, match="DenseAssociativeMemory: beta must be finite and > 0"):
        statmech.nn.DenseAssociativeMemory(5, beta=float("nan"))


def test_overlaps_of_states_without_neurons_are_errors():
    # a.b / N with N = 0 was 0 / 0 = NaN.
    empty = torch.ones(3, 0)
    with pytest.raises(ValueError, match="overlap: the states have no neurons"):
        H.overlap(empty, empty)
    with pytest.raises(ValueError, match=r"replica_overlaps: states must be \[..., replicas, N\] with N >= 1"):
        H.replica_overlaps(empty)
    assert H.overlap(torch.ones(2, 5), -torch.ones(2, 5)).tolist() == [-1.0, -1.0]
