"""The device-generic parallel tempering (the CUDA path of binary_hopfield_parallel_tempering,
ops/hopfield/spin_glass_tempering.cpp), run on CPU through the private op
_binary_hopfield_parallel_tempering_generic, and the CUDA op itself where a GPU is present.

References are independent of the operators: the energy formula written here, brute-force
enumeration of every state of a 5-spin network (the exact Boltzmann distribution, against which the
lowest-temperature replica is tested by a chi-square test at alpha = 0.001, its p-value from the
regularised incomplete gamma function), and the fused CPU kernel compared statistically (means of
independent systems within 5 standard errors of the difference)."""

import itertools
import math

import pytest
import torch

import statmech  # noqa: F401  (registers torch.ops.statmech)
from statmech import hopfield as H

OPS = torch.ops.statmech
GENERIC = OPS._binary_hopfield_parallel_tempering_generic
RANDOM_UTILS = ("test_schema", "test_autograd_registration", "test_faketensor")


def gen(seed=0, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def all_states(n, dtype=torch.float64):
    return torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)), dtype=dtype)


def explicit_energy(s, w, theta=None):
    """E(s) = -1/2 s^T W s + theta^T s for s [..., N], W [N, N] or [batch, N, N] (s [batch, ..., N])."""
    s = s.double()
    w = w.double()
    if w.dim() == 2:
        e = -0.5 * torch.einsum("...i,ij,...j->...", s, w, s)
    else:
        e = -0.5 * torch.einsum("b...i,bij,b...j->b...", s, w, s)
    if theta is not None:
        t = theta.double()
        e = e + (s * (t if t.dim() == 1 else t.view(t.shape[0], *([1] * (s.dim() - 2)), -1))).sum(-1)
    return e


def chi_square_p_value(counts, probabilities):
    """Pearson's chi-square test of counts against probabilities, bins with an expected count < 5
    pooled into one; returns (statistic, degrees of freedom, p-value)."""
    total = counts.sum()
    expected = probabilities * total
    small = expected < 5
    obs = torch.cat([counts[~small], counts[small].sum().reshape(1)])
    exp = torch.cat([expected[~small], expected[small].sum().reshape(1)])
    keep = exp > 0
    obs, exp = obs[keep], exp[keep]
    stat = ((obs - exp) ** 2 / exp).sum()
    df = obs.numel() - 1
    p = torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64), stat / 2)
    return stat.item(), df, p.item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_row", [False, True])
def test_generic_outputs_are_consistent(dtype, per_row):
    g = gen(1)
    batch, replicas, n = 6, 4, 10
    w = H.sk_couplings(n, batch=batch if per_row else None, generator=g, dtype=dtype)
    theta = 0.1 * torch.randn(*((batch, n) if per_row else (n,)), generator=g, dtype=dtype)
    start = H.random_patterns(batch * replicas, n, generator=g, dtype=dtype).reshape(batch, replicas, n)
    temps = [0.3, 0.6, 1.0, 1.6]
    sweeps = 9
    s, e, best, best_e, rate = GENERIC(start, w, temps, sweeps, theta, generator=gen(2))
    assert s.shape == (batch, replicas, n) and s.dtype == dtype
    assert set(s.unique().tolist()) <= {-1.0, 1.0}
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(e.double(), explicit_energy(s, w, theta), **tol)
    torch.testing.assert_close(best_e.double(), explicit_energy(best, w, theta), **tol)
    # Swap rates: accepted / attempted with ceil(9/2) = 5 attempts for even pairs, 4 for odd ones.
    assert ((rate >= 0) & (rate <= 1)).all()
    attempts = torch.tensor([5.0, 4.0, 5.0], dtype=dtype)
    torch.testing.assert_close(rate * attempts, (rate * attempts).round())
    # The run with k rounds is a prefix of the run with 9 rounds (same generator draws), so the best
    # energy is the minimum over every replica's energy at every round boundary 0..9.
    seen = [explicit_energy(start, w, theta)]
    for k in range(1, sweeps + 1):
        seen.append(GENERIC(start, w, temps, k, theta, generator=gen(2))[1].double())
    seen = torch.stack(seen, 1)  # [batch, rounds + 1, replicas]
    assert (best_e.double()[:, None, None] <= seen + 1e-6).all()
    torch.testing.assert_close(best_e.double(), seen.flatten(1).min(1).values, **tol)


def test_generic_reproducible_and_edge_cases():
    g = gen(3)
    n = 8
    w = H.sk_couplings(n, generator=g, dtype=torch.float64)
    start = H.random_patterns(12, n, generator=g, dtype=torch.float64).reshape(4, 3, n)
    a = GENERIC(start, w, [0.5, 1.0, 2.0], 6, generator=gen(4))
    b = GENERIC(start, w, [0.5, 1.0, 2.0], 6, generator=gen(4))
    c = GENERIC(start, w, [0.5, 1.0, 2.0], 6, generator=gen(5))
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a[0], c[0])
    # No rounds: the input (as spins), its energies, the best initial replica, no swaps.
    s, e, best, best_e, rate = GENERIC(start.gt(0), w, [0.5, 1.0, 2.0], 0)
    assert torch.equal(s, start)
    torch.testing.assert_close(e, explicit_energy(start, w))
    torch.testing.assert_close(best_e, e.min(1).values)
    assert torch.equal(best, start[torch.arange(4), e.argmin(1)])
    assert torch.equal(rate, torch.zeros(4, 2, dtype=torch.float64))
    # One replica: no pairs; empty batch.
    assert GENERIC(start[:, :1], w, [1.0], 3)[4].shape == (4, 0)
    out = GENERIC(torch.empty(0, 3, n, dtype=torch.float64), w, [0.5, 1.0, 2.0], 3)
    assert [tuple(x.shape) for x in out] == [(0, 3, n), (0, 3), (0, n), (0,), (0, 2)]
    # Equal temperatures always exchange; T = 0 replicas are deterministic sweeps.
    assert torch.equal(GENERIC(start[:, :2], w, [1.0, 1.0], 4)[4], torch.ones(4, 1, dtype=torch.float64))
    GENERIC(start[:, :2], w, [0.0, 1.0], 4, generator=gen(6))


def test_generic_input_errors():
    w = torch.zeros(4, 4)
    with pytest.raises(RuntimeError, match=r"binary_hopfield_parallel_tempering: state.size\(1\) must equal"):
        GENERIC(torch.ones(2, 3, 4), w, [1.0, 2.0], 1)
    with pytest.raises(RuntimeError, match="binary_hopfield_parallel_tempering: sweeps must be >= 0"):
        GENERIC(torch.ones(2, 2, 4), w, [1.0, 2.0], -1)


def test_generic_lowest_temperature_replica_is_boltzmann():
    # 5 spins, 3 replicas at T = 0.6, 1.1, 2.0, 4000 independent systems started all-up: after 30
    # rounds each replica follows exp(-E/T)/Z over the 32 states (Pearson chi-square at alpha =
    # 0.001 against the enumerated distribution, for every temperature, the lowest first).
    g = gen(7)
    n, systems, temps = 5, 4000, [0.6, 1.1, 2.0]
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    w = (a + a.T) / 2
    w.fill_diagonal_(0)
    theta = 0.3 * torch.randn(n, generator=g, dtype=torch.float64)
    start = torch.ones(systems, len(temps), n, dtype=torch.float64)
    s = GENERIC(start, w, temps, 30, theta, generator=gen(8))[0]
    states = all_states(n)
    weights = 2 ** torch.arange(n - 1, -1, -1)
    for r, t in enumerate(temps):
        boltzmann = torch.softmax(-explicit_energy(states, w, theta) / t, 0)
        index = ((s[:, r] > 0).long() * weights).sum(1)
        counts = torch.bincount(index, minlength=2**n).double()
        stat, df, p = chi_square_p_value(counts, boltzmann)
        assert p > 1e-3, f"T = {t}: chi2 = {stat:.1f} with {df} dof, p = {p:.2e}"


def _compare_to_cpu_kernel(run, device):
    # SK N = 24, 512 independent systems, 4 replicas, 6 rounds (too few to reach the ground state
    # every time, so the means say something): the mean best energy, the mean energy per replica
    # and the mean swap rate per pair of `run` and of the fused CPU kernel agree within 5 standard
    # errors of the difference of two independent means.
    g = gen(9)
    n, systems, temps = 24, 512, [0.25, 0.5, 0.9, 1.5]
    w = H.sk_couplings(n, generator=g, dtype=torch.float64)
    start = H.random_patterns(systems * len(temps), n, generator=g, dtype=torch.float64).reshape(systems, -1, n)
    ref = OPS.binary_hopfield_parallel_tempering(start, w, temps, 6, generator=gen(10))
    out = run(start.to(device), w.to(device), temps, 6, generator=gen(11, device))
    out = [x.cpu() for x in out]
    torch.testing.assert_close(out[1], explicit_energy(out[0], w))

    def close(x, y):
        se = math.sqrt((x.var(0) / x.shape[0] + y.var(0) / y.shape[0]).max().item())
        assert ((x.mean(0) - y.mean(0)).abs() <= 5 * se + 1e-12).all(), (x.mean(0), y.mean(0), se)

    close(out[3], ref[3])  # best energy
    close(out[1], ref[1])  # energy per replica
    close(out[4], ref[4])  # swap rate per pair


def test_generic_agrees_with_cpu_kernel():
    _compare_to_cpu_kernel(GENERIC, "cpu")


def test_opcheck_generic():
    s = H.random_patterns(4, 16, generator=gen(12))
    w = H.sk_couplings(16, generator=gen(13))
    torch.library.opcheck(GENERIC, (s.reshape(2, 2, 16), w, [0.5, 1.0], 3), {"generator": gen()},
                          test_utils=RANDOM_UTILS)
    torch.library.opcheck(GENERIC, (s.reshape(2, 2, 16), w, [0.5, 1.0], 3, torch.zeros(16)),
                          {"generator": gen()}, test_utils=RANDOM_UTILS)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_parallel_tempering_agrees_with_cpu_kernel():
    _compare_to_cpu_kernel(OPS.binary_hopfield_parallel_tempering, "cuda")
    # Reproducible from a CUDA generator, and the test op is the same function on CUDA.
    w = H.sk_couplings(12, generator=gen(14), dtype=torch.float32).cuda()
    start = torch.ones(8, 3, 12, device="cuda")
    a = OPS.binary_hopfield_parallel_tempering(start, w, [0.3, 0.7, 1.5], 5, generator=gen(15, "cuda"))
    b = GENERIC(start, w, [0.3, 0.7, 1.5], 5, generator=gen(15, "cuda"))
    for x, y in zip(a, b):
        assert x.device.type == "cuda"
        assert torch.equal(x, y)
