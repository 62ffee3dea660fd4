"""Valid inputs of extreme magnitude: results must stay finite where the exact value is
representable, round to the correctly signed infinity where it is not, and dynamics must decide as
in exact arithmetic. References are independent of the operators: exact integer arithmetic (Python
ints), closed-form limits and 50-digit mpmath."""

import math

import pytest
import torch

from statmech import hopfield as H

OPS = torch.ops.statmech


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def spins(n, generator):
    return torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)


def flip(x, count):
    y = x.clone()
    y[..., :count] = -y[..., :count]
    return y


# ---- dense associative memory: F(x) = x^n with (b +- 1)^n beyond the double range ------------------


def exact_gap(state, patterns, i, degree, rectified):
    """D_i = sum_mu xi_mu,i [F(b_mu + 1) - F(b_mu - 1)] in Python integers (exact)."""
    s = [int(v) for v in state.tolist()]
    total = 0
    for xi in patterns.tolist():
        xi = [int(v) for v in xi]
        b = sum(a * c for a, c in zip(xi, s)) - s[i] * xi[i]
        f = (lambda x: max(x, 0) ** degree) if rectified else (lambda x: x**degree)
        total += xi[i] * (f(b + 1) - f(b - 1))
    return total


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("interaction,degree", [("polynomial", 200), ("rectified_polynomial", 301)])
def test_dense_memory_run_decides_past_the_double_range(dtype, interaction, degree, device):
    # N = 64: (b + 1)^n reaches 64^200 = 2^1200, beyond double. The powers overflowed, inf - inf
    # read as a tie, so no neuron flipped and the noisy start was reported as a fixed point.
    g = gen(1)
    n, p = 64, 3
    x = torch.stack([spins(n, g) for _ in range(p)]).to(dtype)
    start = flip(x[:2], 10)
    run_generator = torch.Generator(device).manual_seed(3)
    out = H.dense_memory_run(start.to(device), x.to(device), interaction, degree, max_sweeps=5, generator=run_generator)
    out = type(out)(*(t.cpu() for t in out))
    assert torch.equal(out.state, x[:2])
    assert out.converged.all() and (out.sweeps == 1).all()
    for row in out.state:  # a fixed point by the exact integer energy differences
        for i in range(n):
            assert exact_gap(row, x, i, degree, interaction == "rectified_polynomial") * int(row[i]) >= 0


def exact_energy_as_float(state, patterns, degree, rectified, dtype):
    """-sum_mu F(m_mu) in Python integers, rounded to dtype (+-inf beyond its range)."""
    total = 0
    for xi in patterns.tolist():
        m = int(sum(a * b for a, b in zip(xi, state.tolist())))
        total += max(m, 0) ** degree if rectified else m**degree
    finfo = torch.finfo(dtype)
    if abs(total) > 2 * int(finfo.max):  # well past the largest finite value: +-inf in any rounding
        return -math.inf if total > 0 else math.inf
    return torch.tensor(float(-total), dtype=torch.float64).to(dtype).item()


@pytest.mark.parametrize("dtype,degree", [(torch.float32, 23), (torch.float64, 201), (torch.float64, 150)])
def test_dense_memory_energy_signed_infinity_not_nan(dtype, degree):
    # Overlaps -64 and +50 with an odd degree: (-64)^n -> -inf and 50^n -> +inf in the dtype, whose
    # sum was NaN (float32 from degree 23, float64 from 171); E = 64^n - 50^n > 0 is +inf there.
    # Degree 150 in float64 stays finite (64^150 = 2^900) and must match the exact value.
    g = gen(2)
    n = 64
    xi1 = spins(n, g)
    xi2 = flip(-xi1, 7)  # (-xi1) . xi2 = 64 - 14 = 50
    x = torch.stack([xi1, xi2, spins(n, g)]).to(dtype)
    state = -xi1.to(dtype).unsqueeze(0)
    for interaction in ("polynomial", "rectified_polynomial"):
        rectified = interaction == "rectified_polynomial"
        expected = exact_energy_as_float(state[0], x, degree, rectified, dtype)
        got = H.dense_memory_energy(state, x, interaction, degree).item()
        if math.isinf(expected):
            assert got == expected
        else:
            assert got == pytest.approx(expected, rel=1e-12 if dtype == torch.float64 else 1e-6)
        out = H.dense_memory_run(state, x, interaction, degree, max_sweeps=0)
        assert not math.isnan(out.energy.item())
