"""Valid inputs of extreme magnitude: results must stay finite where the exact value is
representable, round to the correctly signed infinity where it is not, and dynamics must decide as
in exact arithmetic. References are independent of the operators: exact integer arithmetic (Python
ints), closed-form limits and 50-digit mpmath."""

import math

import pytest
import torch

from statmech import hopfield as H
from statmech import meanfield as mf

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


# ---- fc_kernel: Hermite-series activations at large variance ----------------------------------------


def _nested_quadrature(activation, qa, qb, c):
    """(E[phi(u) phi(v)], E[phi'(u) phi'(v)]) for u ~ N(0, qa), v ~ N(0, qb) with correlation c, by nested
    adaptive quadrature (scipy), split where phi(sqrt(q) .) turns."""
    import warnings

    from scipy import integrate

    if activation == "tanh":
        f, df = math.tanh, lambda t: 1 - math.tanh(t) ** 2
    else:  # gelu
        cdf = lambda t: 0.5 * math.erfc(-t / math.sqrt(2))  # noqa: E731
        f, df = (lambda t: t * cdf(t)), (lambda t: cdf(t) + t * math.exp(-t * t / 2) / math.sqrt(2 * math.pi))
    s, ra, rb = math.sqrt((1 - c) * (1 + c)), math.sqrt(qa), math.sqrt(qb)
    density = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731

    def expectation(g):
        def inner(x):
            turn = -c * x / s
            value, _ = integrate.quad(lambda y: g(rb * (c * x + s * y)) * density(y), -12, 12,
                                      points=[turn] if abs(turn) < 12 else None, epsabs=0, epsrel=1e-12, limit=200)
            return g(ra * x) * density(x) * value

        return integrate.quad(inner, -12, 12, points=[0.0], epsabs=0, epsrel=1e-11, limit=200)[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return expectation(f), expectation(df)


def _mp_diagonal(activation, q):
    """(E[phi(u)^2], E[phi'(u)^2]), u ~ N(0, q), with mpmath at 30 digits."""
    import mpmath as mp

    mp.mp.dps = 30
    if activation == "tanh":
        f, df = mp.tanh, lambda t: mp.sech(t) ** 2
    else:
        f, df = (lambda t: t * mp.ncdf(t)), (lambda t: mp.ncdf(t) + t * mp.npdf(t))
    r = mp.sqrt(q)
    width = 1 / r  # phi(sqrt(q) z) turns over |z| ~ 1 / sqrt(q)
    points = [-mp.inf, -10 * width, -width, 0, width, 10 * width, mp.inf]
    density = lambda z: mp.npdf(z)  # noqa: E731
    return (float(mp.quad(lambda z: f(r * z) ** 2 * density(z), points)),
            float(mp.quad(lambda z: df(r * z) ** 2 * density(z), points)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_series_activations_at_large_variance_near_correlation_one(activation, dtype, device):
    # q = 1e4, rows with correlation 1 (the diagonal) and 0.9999. The Hermite series did not reach
    # its tolerance within its 512 terms (tanh from q ~ 10), and the truncated sums were used
    # anyway: tanh's diagonal 0.9766 instead of 0.9920, its NTK at c = 0.9999 12.1 instead of 34.8;
    # gelu's NNGP off by 1e-5. Such calls now take the quadrature path.
    q, c = 1e4, 0.9999
    x = torch.tensor([[1.0, 0.0], [c, math.sqrt((1 - c) * (1 + c))]], dtype=torch.float64) * math.sqrt(2 * q)
    x = x.to(dtype)
    xd = x.double()
    q0, q1 = (xd.square().sum(1) / 2).tolist()
    c_in = float(xd[0] @ xd[1] / 2 / math.sqrt(q0 * q1))
    k00, kd00 = _mp_diagonal(activation, q0)
    k01, kd01 = _nested_quadrature(activation, q0, q1, c_in)
    out = OPS.fc_kernel(x.to(device), None, torch.tensor(1.0, dtype=dtype), torch.tensor(0.0, dtype=dtype), 1,
                        activation).cpu().double()
    rtol = 1e-9 if dtype == torch.float64 else 1e-5
    expected_nngp = torch.tensor([k00, k01], dtype=torch.float64)
    expected_ntk = torch.tensor([k00 + q0 * kd00, k01 + c_in * math.sqrt(q0 * q1) * kd01], dtype=torch.float64)
    torch.testing.assert_close(out[0, 0], expected_nngp, rtol=rtol, atol=0)
    torch.testing.assert_close(out[1, 0], expected_ntk, rtol=rtol, atol=0)


def test_series_activation_fallback_gradients():
    # The backward takes the same quadrature path as the forward (q ~ 200 here).
    g = gen(4)
    x = (12 * torch.randn(3, 4, generator=g, dtype=torch.float64)).requires_grad_()
    w = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: OPS.fc_kernel(x, None, w, b, 2, "tanh"), (x, w, b),
                                    atol=1e-6, rtol=1e-5)


# ---- mean field: fixed points far below and far above the moment grid --------------------------------


@pytest.mark.parametrize("sigma_w2,sigma_b2", [(1.0, 1e-300), (1.5, 1e-200), (0.5, 1e-100)])
def test_fixed_point_far_below_the_grid(sigma_w2, sigma_b2):
    # relu: q' = sigma_w2 q / 2 + sigma_b2, so q* = sigma_b2 / (1 - sigma_w2 / 2) exactly. The root
    # search bisected [sigma_b2, 1e-12] arithmetically and stopped after 200 halvings near 1e-72.
    fp = mf.fixed_point(sigma_w2, sigma_b2, "relu")
    assert fp.phase == "ordered"
    assert fp.q_star == pytest.approx(sigma_b2 / (1 - sigma_w2 / 2), rel=1e-12, abs=0)
    assert fp.chi_1 == pytest.approx(sigma_w2 / 2, rel=1e-12)


def test_fixed_point_far_above_the_grid():
    # Bounded activations keep q' <= sigma_w2 sup phi^2 + sigma_b2, so a large sigma_w2 or
    # sigma_b2 has a stable fixed point near sigma_w2 + sigma_b2: it was reported as 'diverging'
    # (q* = inf, NaN susceptibilities) whenever it lay above the moment grid's 1e12.
    import mpmath as mp

    mp.mp.dps = 50
    # erf with sigma_b2 = 0 (Williams 1997): q' = w (2 / pi) asin(2q / (1 + 2q)), E[phi'^2] = (4 / pi) / sqrt(1 + 4q).
    w = mp.mpf(10) ** 100
    q_star = mp.findroot(lambda q: w * 2 / mp.pi * mp.asin(2 * q / (1 + 2 * q)) - q, w)
    fp = mf.fixed_point(1e100, 0.0, "erf")
    assert fp.phase == "chaotic" and fp.stable
    assert fp.q_star == pytest.approx(float(q_star), rel=1e-11)
    assert fp.chi_1 == pytest.approx(float(w * 4 / mp.pi / mp.sqrt(1 + 4 * q_star)), rel=1e-10)
    # tanh with sigma_b2 = 1e20: E[tanh^2] = 1 - O(q^-1/2), so q* = 1e20 (1 + 1e-20 - ...), and
    # chi_1 = E[sech^4(sqrt(q) z)] = (4 / 3) / sqrt(2 pi q*) (1 + O(1 / q)).
    fp = mf.fixed_point(1.0, 1e20, "tanh")
    assert fp.phase == "ordered"
    assert fp.q_star == pytest.approx(1e20, rel=1e-12)
    assert fp.chi_1 == pytest.approx(4 / 3 / math.sqrt(2 * math.pi * 1e20), rel=1e-8)
    chi_1, _ = mf.susceptibilities(1.0, 1e20, "tanh")
    assert math.isfinite(chi_1)
    # An unbounded activation past its critical slope still diverges.
    assert mf.fixed_point(3.0, 0.0, "relu").phase == "diverging"
    # The edge of chaos at q* = 1e20 (critical_point raised 'the variance diverges'): chi_1 = 1
    # needs sigma_w2 = 3 sqrt(2 pi q*) / 4 by the asymptotics above.
    sigma_w2, sigma_b2 = mf.critical_point(1e20, "tanh")
    assert sigma_w2 == pytest.approx(0.75 * math.sqrt(2 * math.pi * 1e20), rel=1e-8)
    assert mf.fixed_point(sigma_w2, sigma_b2, "tanh").phase == "critical"


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_fc_kernel_infinite_variance_is_a_named_error(activation):
    # |x|^2 / d past the double range (entries ~1e160): relu and erf returned NaN kernels while
    # the series and quadrature activations raised; now every activation raises the same error.
    x = torch.full((2, 3), 1e160, dtype=torch.float64)
    x[1] = -x[1]
    one = torch.tensor(1.0, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="pre-activation variance of layer 0 overflows float64"):
        OPS.fc_kernel(x, None, one, one * 0, 1, activation)


# ---- initialisers: gains beyond the dtype ----------------------------------------------------------


INITIALISERS = ["critical_normal_", "critical_uniform_", "critical_orthogonal_", "delta_orthogonal_"]


def _weight(name, dtype):
    return torch.empty(64, 32, 3, dtype=dtype) if name == "delta_orthogonal_" else torch.empty(64, 32, dtype=dtype)


@pytest.mark.parametrize("name", INITIALISERS)
def test_initialisers_refuse_weights_the_dtype_cannot_hold(name):
    # float32 with sigma_w2 = 1e80: the weights (~1e39) were written as +-inf by critical_normal_,
    # critical_orthogonal_ and delta_orthogonal_; with sigma_w2 = 1e-300 (~1e-151) every
    # initialiser wrote zeros. Both are now named errors, as critical_uniform_'s range check was.
    op = getattr(OPS, name)
    with pytest.raises(RuntimeError, match=f"{name}: sigma_w2 = 1e\\+80 .*beyond what Float holds"):
        op(_weight(name, torch.float32), 1e80, gen(0))
    with pytest.raises(RuntimeError, match=f"{name}: sigma_w2 = 1e-300 gives weights .*below what Float holds"):
        op(_weight(name, torch.float32), 1e-300, gen(0))


@pytest.mark.parametrize("sigma_w2", [1e-300, 1e300])
def test_orthogonal_initialisers_at_extreme_gains_in_float64(sigma_w2):
    # The same gains fit float64: W^T W = sigma_w2 (rows / cols) I exactly for the [64, 32] matrix.
    for name in ("critical_orthogonal_", "delta_orthogonal_"):
        w = _weight(name, torch.float64)
        getattr(OPS, name)(w, sigma_w2, gen(1))
        m = w[:, :, 1] if w.dim() == 3 else w
        torch.testing.assert_close(m.T @ m / (2 * sigma_w2), torch.eye(32, dtype=torch.float64), rtol=0, atol=1e-12)


# ---- kernel shaping: local targets ---------------------------------------------------------------


def test_dks_local_target_at_every_depth():
    # The local target C'(1) = zeta^(1/L) solves x^L = zeta on [1, 2]; regula falsi crept from 1 by
    # ~1e-16 per step and stopped there at L = 50 and 51 (C'(1) = 1 + 9e-16 instead of 1.0081, a
    # transformation with input_scale 3e-6 instead of 0.128).
    for depth in range(2, 301):
        for zeta in (1.5, 10.0):
            t = mf.dks("tanh", depth, zeta=zeta)
            assert t.local_target == pytest.approx(zeta ** (1 / depth), rel=1e-13), (depth, zeta)


def test_kernel_shaping_refuses_targets_below_its_tolerance():
    # At depth 1e12 the local targets (C'(1) - 1 = 4e-13, C''(1) = 3e-13) are below the 1e-11 to
    # which the equations are met: the transformations were rounding noise (dks gave input_scale
    # ~3e-6 for zeta = 1.0000001 and 1e6 alike).
    with pytest.raises(RuntimeError, match=r"dks: the local target C'\(1\) = 1 \+ 4.0\d*e-13 .* rounding noise"):
        mf.dks("tanh", 10**12)
    with pytest.raises(RuntimeError, match=r"tat: the local target C''\(1\) = 3e-13 .* rounding noise"):
        mf.tat("tanh", 10**12)
    # Depth 1e8 still resolves its target (C'(1) - 1 = 4e-9) to 1%.
    t = mf.dks("tanh", 10**8)
    assert t.local_target - 1 == pytest.approx(math.log(1.5) / 1e8, rel=1e-2)


# ---- modern Hopfield energy: beta k . xi beyond the dtype ----------------------------------------------


@pytest.mark.parametrize("dtype,beta,norm", [(torch.float32, 1e4, 1e18), (torch.float64, 1e300, 1e10)])
def test_hopfield_energy_when_beta_times_scores_overflows(dtype, beta, norm):
    # E = -beta^-1 log sum_i exp(beta k_i . xi) + xi . xi / 2 + beta^-1 log N + max_i |k_i|^2 / 2
    # (Ramsauer et al. 2020, eq. 2): beta k . xi (~1e40 in float32, ~1e320 in float64) overflowed
    # and the energy was NaN, though every term of E is representable. Reference: 30-digit mpmath.
    import mpmath as mp

    mp.mp.dps = 30
    g = gen(7)
    key = (torch.randn(6, 4, generator=g, dtype=torch.float64) * norm).to(dtype)
    state = (torch.randn(3, 4, generator=g, dtype=torch.float64) * norm).to(dtype).requires_grad_()
    energy = OPS.hopfield_energy(state, key, torch.tensor(beta, dtype=dtype), None)
    keys = [[mp.mpf(float(v)) for v in row] for row in key.tolist()]
    b = mp.mpf(beta)
    expected = []
    for xi in state.detach().tolist():
        xi = [mp.mpf(float(v)) for v in xi]
        x = [mp.fsum(k * s for k, s in zip(row, xi)) for row in keys]
        lse = mp.log(mp.fsum(mp.exp(b * v) for v in x)) / b
        half_max = max(mp.fsum(k * k for k in row) for row in keys) / 2
        expected.append(float(-lse + mp.fsum(s * s for s in xi) / 2 + mp.log(len(keys)) / b + half_max))
    scale = float(norm) ** 2  # the size of each term
    eps = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(energy.detach().double(), torch.tensor(expected, dtype=torch.float64),
                               rtol=0, atol=eps * scale)
    energy.sum().backward()
    assert torch.isfinite(state.grad).all()


# ---- fc_kernel at tiny variances ----------------------------------------------------------------------


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
# phi'(0+), phi'(0-): below |x|^2 / d ~ 1e-30 each activation is its cone to a relative O(sqrt(q)).
_CONES = {"tanh": (1.0, 1.0), "gelu": (0.5, 0.5), "silu": (0.5, 0.5), "elu": (1.0, 1.0),
          "hard_tanh": (1.0, 1.0), "selu": (_SELU_SCALE, _SELU_SCALE * _SELU_ALPHA)}


def _cone_reference(x, depth, up, down):
    """fc_kernel (ntk parameterisation, sigma_w2 = 1, sigma_b2 = 0) of the piecewise-linear
    phi(x) = up x (x > 0), down x (x < 0), by the arc-cosine kernel (Cho & Saul 2009)."""
    x = x.tolist()
    d = len(x[0])
    n = len(x)
    sigma = [[sum(p * q for p, q in zip(x[i], x[j])) / d for j in range(n)] for i in range(n)]
    theta_ntk = [row[:] for row in sigma]
    for _ in range(depth):
        new = [[0.0] * n for _ in range(n)]
        for i in range(n):
            for j in range(n):
                a, b = sigma[i][i], sigma[j][j]
                r = math.sqrt(a) * math.sqrt(b)
                c = max(-1.0, min(1.0, sigma[i][j] / r))
                t = math.acos(c)
                j1 = (math.sin(t) + (math.pi - t) * c) / (2 * math.pi)
                k = r * ((up * up + down * down) * j1 + 2 * up * down * (c / 2 - j1))
                kd = ((up * up + down * down) * (math.pi - t) + 2 * up * down * t) / (2 * math.pi)
                new[i][j] = k
                theta_ntk[i][j] = k + kd * theta_ntk[i][j]
        sigma = new
    return torch.tensor(sigma, dtype=torch.float64), torch.tensor(theta_ntk, dtype=torch.float64)


@pytest.mark.parametrize("activation", list(_CONES))
def test_fc_kernel_below_the_smallest_variance(activation, device):
    # Entries were evaluated at max(q, 1e-30) and kept unscaled: at |x|^2 / d = 1e-40 kernels
    # 1e10 times too large (1e50 at 1e-80), NTK derivative terms 1e10 too large, and the series
    # path's sqrt(a b) underflowed below q ~ 1e-154 (k = 0). Reference: the cone kernel.
    g = gen(9)
    base = torch.randn(3, 4, generator=g, dtype=torch.float64)
    up, down = _CONES[activation]
    one, zero = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    for scale in (1e-20, 1e-90):
        x = base * scale
        for depth in (1, 2):
            nngp, ntk = _cone_reference(x / scale, depth, up, down)  # homogeneous of degree 2
            out = OPS.fc_kernel(x.to(device), None, one, zero, depth, activation).cpu()
            torch.testing.assert_close(out[0] / scale**2, nngp, rtol=1e-12, atol=0)
            # (selu's E[phi'^2] on the diagonal comes from dual::moments, within 1e-9 at these q.)
            torch.testing.assert_close(out[1] / scale**2, ntk, rtol=1e-9 if activation == "selu" else 1e-12, atol=0)
    # float32 down to |x|^2 / d ~ 1e-34 (its normal range ends at 1e-38).
    x = (base * 1e-17).float()
    nngp, ntk = _cone_reference(x.double() / 1e-17, 1, up, down)
    out = OPS.fc_kernel(x.to(device), None, one.float(), zero.float(), 1, activation).cpu().double() / 1e-34
    torch.testing.assert_close(out[0], nngp, rtol=1e-5, atol=0)
    torch.testing.assert_close(out[1], ntk, rtol=1e-5, atol=0)
    # The gradient of the cross entry: up^2 x_1 / d for a linear cone (up = down).
    if up == down and device.type == "cpu":
        x = (base[:2] * 1e-20).requires_grad_()
        OPS.fc_kernel(x, None, one, zero, 1, activation)[0, 0, 1].backward()
        torch.testing.assert_close(x.grad[0], up * up * base[1] * 1e-20 / 4, rtol=1e-10, atol=0)


# ---- ntk_predict with a singular train-train kernel --------------------------------------------------


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-4)])
@pytest.mark.parametrize("get", ["ntk", "nngp"])
def test_ntk_predict_with_duplicated_training_points(dtype, tol, get):
    # Two training points given twice (same labels): the kernel is singular and its zero eigenvalues
    # come out as rounding noise, whose inverses moved the t = inf mean by O(1). The prediction must
    # equal that from the distinct points, here by a direct solve (Lee et al. 2019, t = inf).
    from statmech.gp import fc_kernel, ntk_predict

    g = gen(11)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    y = torch.sin(x.sum(1))
    x_test = torch.randn(4, 3, generator=g, dtype=torch.float64)
    kw = dict(depth=3, activation="relu", sigma_w2=2.0, sigma_b2=0.1)
    theta = fc_kernel(x, **kw, get=get)
    theta_td = fc_kernel(x_test, x, **kw, get=get)
    expected = theta_td @ torch.linalg.solve(theta, y)
    x_dup, y_dup = torch.cat([x, x[:2]]).to(dtype), torch.cat([y, y[:2]]).to(dtype)
    mean, cov = ntk_predict(x_dup, y_dup, x_test.to(dtype), None, **kw, get=get)
    torch.testing.assert_close(mean.double(), expected, rtol=0, atol=tol * expected.abs().max().item())
    assert torch.isfinite(cov).all()


# ---- RBM sampling at an inverse temperature beyond float32 ----------------------------------------


def test_rbm_gibbs_beta_beyond_the_weight_dtype():
    # beta = 1e300 with float32 weights failed inside ATen ('value cannot be converted to type
    # float without overflow'); it is now a named error, and float64 weights take it (zero
    # temperature: every unit is set by the sign of its input).
    g = gen(12)
    w = torch.randn(5, 3, generator=g)
    a, b = torch.randn(5, generator=g), torch.randn(3, generator=g)
    v = torch.bernoulli(torch.full((4, 5), 0.5), generator=g)
    with pytest.raises(RuntimeError, match=r"rbm_gibbs: beta = 1e\+300 does not fit the weight's dtype Float"):
        OPS.rbm_gibbs(v, w, a, b, 1, beta=1e300)
    out = OPS.rbm_gibbs(v.double(), w.double(), a.double(), b.double(), 2, beta=1e300, generator=gen(13))
    x = out[0] @ w.double() + b.double()  # the hidden input of the last visible sample
    torch.testing.assert_close(out[3], (x > 0).double())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rbm_base_rate_bias_with_a_tiny_pseudocount(dtype):
    # Units always on / always off with pseudocount 1e-300: log((2 + c) / c) = +-691.47 exactly
    # representable, but p = 1 rounded (float64) or c = 0 (float32) gave +-inf. With pseudocount 0
    # the bias is infinite: a named error.
    data = torch.tensor([[1.0, 0.0, 0.5], [1.0, 0.0, 0.5]], dtype=dtype)
    bias = OPS.rbm_base_rate_bias(data, 1e-300)
    expected = math.log(2.0) - math.log(1e-300)
    torch.testing.assert_close(bias.double(), torch.tensor([expected, -expected, 0.0], dtype=torch.float64),
                               rtol=1e-6 if dtype == torch.float32 else 1e-14, atol=0)
    with pytest.raises(RuntimeError, match=r"rbm_base_rate_bias: with pseudocount = 0, visible unit 0 \(and 1 more\)"):
        OPS.rbm_base_rate_bias(data, 0.0)
