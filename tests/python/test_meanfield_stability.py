"""The edge of chaos must be a STABLE fixed point that the network reaches (issue 8, section 1), the
calculator on tensors and batch norm for any activation (section 3), and the regression tests of
section 4. Every reference here is independent of statmech: scipy quadrature written in this file,
or a Monte Carlo of finite networks with a tolerance derived in the test."""

import math

import pytest
import torch
from torch import nn

from statmech import _C, init
from statmech import meanfield as mf

scipy = pytest.importorskip("scipy")
from scipy import integrate, optimize, special  # noqa: E402

# ---- an independent reference: 1-D Gaussian quadrature with scipy --------------------------------

_SELU_L, _SELU_A = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


def _sig(x):
    return special.expit(x)


# (phi, phi', phi'', kinks, (phi'(0-), phi'(0+)))
REFERENCE = {
    "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2, lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2), [], (1, 1)),
    "silu": (
        lambda x: x * _sig(x),
        lambda x: _sig(x) + x * _sig(x) * _sig(-x),
        lambda x: _sig(x) * _sig(-x) * (2 + x * (_sig(-x) - _sig(x))),
        [],
        (0.5, 0.5),
    ),
    "gelu": (
        lambda x: x * special.ndtr(x),
        lambda x: special.ndtr(x) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi),
        lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi) * (2 - x * x),
        [],
        (0.5, 0.5),
    ),
    "elu": (
        lambda x: x if x > 0 else math.expm1(x),
        lambda x: 1.0 if x > 0 else math.exp(x),
        lambda x: 0.0 if x > 0 else math.exp(x),
        [0.0],
        (1, 1),
    ),
    "selu": (
        lambda x: _SELU_L * (x if x > 0 else _SELU_A * math.expm1(x)),
        lambda x: _SELU_L * (1.0 if x > 0 else _SELU_A * math.exp(x)),
        lambda x: 0.0 if x > 0 else _SELU_L * _SELU_A * math.exp(x),
        [0.0],
        (_SELU_L * _SELU_A, _SELU_L),
    ),
    "softplus": (
        lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x))),
        _sig,
        lambda x: _sig(x) * _sig(-x),
        [],
        (0.5, 0.5),
    ),
}


def gauss(f, q, kinks=()):
    """E[f(sqrt(q) z)], z ~ N(0, 1), by scipy.integrate.quad split at the kinks."""
    s = math.sqrt(q)
    edges = sorted({-40.0, 40.0, *[k / s for k in kinks if abs(k / s) < 40]})
    density = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return sum(
        integrate.quad(lambda z: f(s * z) * density(z), a, b, epsabs=1e-15, epsrel=1e-13, limit=400)[0]
        for a, b in zip(edges[:-1], edges[1:])
    )


def reference_moments(name, q):
    f, df, d2f, kinks, _ = REFERENCE[name]
    return (
        gauss(lambda x: f(x) ** 2, q, kinks),
        gauss(lambda x: df(x) ** 2, q, kinks),
        gauss(lambda x: d2f(x) * f(x), q, kinks),
    )


def reference_edge(name, sigma_b2, grid):
    """The smallest q* with bias(q*) = sigma_b2 whose variance map is stable there (slope <= 1) and
    reached from q0 = sigma_w2 + sigma_b2 (no other fixed point between q0 and q*, and the map points
    towards q*), as (sigma_w2, q*); None when there is none. `grid` holds (q, bias) pairs."""
    f, _, _, kinks, (left, right) = REFERENCE[name]
    candidates = []
    if sigma_b2 == 0 and f(0.0) == 0:
        candidates.append(0.0)
    for (qa, ba), (qb, bb) in zip(grid[:-1], grid[1:]):
        if (ba - sigma_b2) * (bb - sigma_b2) < 0:
            bias = lambda q: q - reference_moments(name, q)[0] / reference_moments(name, q)[1] - sigma_b2  # noqa: E731
            candidates.append(optimize.brentq(bias, qa, qb, xtol=1e-15, rtol=1e-14))
    for q_star in candidates:
        if q_star == 0:
            w = 2.0 / (left**2 + right**2)
            g_small = w * gauss(lambda x: f(x) ** 2, 1e-4, kinks) - 1e-4
            if g_small >= 0:
                continue  # q = 0 repels
        else:
            m2, md, cv = reference_moments(name, q_star)
            w = 1.0 / md
            if 1.0 + w * cv > 1.0:
                continue  # unstable
        q0 = w + sigma_b2
        lo, hi = sorted((q0, q_star))
        points = [lo + (hi - lo) * t for t in (0.02, 0.25, 0.5, 0.75, 0.98)] if hi > lo else []
        towards = [math.copysign(1.0, q_star - p) for p in points]
        signs = [math.copysign(1.0, w * gauss(lambda x: f(x) ** 2, p, kinks) + sigma_b2 - p) for p in points]
        if signs == towards:
            return w, q_star
    return None


SIGMA_B2 = [0.0, 0.04, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0]


@pytest.fixture(scope="module")
def bias_grids():
    grids = {}
    for name in REFERENCE:
        grid = []
        for q in [10 ** (k / 4) for k in range(-16, 17)]:  # 1e-4 .. 1e4
            m2, md, _ = reference_moments(name, q)
            grid.append((q, q - m2 / md))
        grids[name] = grid
    return grids


@pytest.mark.parametrize("name", ["tanh", "silu", "gelu", "elu", "selu", "softplus"])
def test_edge_of_chaos_against_scipy(name, bias_grids):
    """critical_line against the scipy reference at 1e-8 where an edge exists; NaN with a reason
    (and critical_sigma_w2 raising) where scipy finds none."""
    line = mf.critical_line(SIGMA_B2, name, return_reason=True)
    for i, b in enumerate(SIGMA_B2):
        expected = reference_edge(name, b, bias_grids[name])
        if expected is None:
            assert math.isnan(line.sigma_w2[i]), (name, b, line.sigma_w2[i])
            assert line.reason_names()[i] in ("unstable", "diverging", "not_reached")
            with pytest.raises(RuntimeError, match=rf"{name} has no stable edge of chaos at sigma_b2 = {b:g}"):
                mf.critical_sigma_w2(b, name)
        else:
            w, q_star = expected
            assert line.reason_names()[i] == "found"
            assert line.sigma_w2[i].item() == pytest.approx(w, rel=1e-8), (name, b)
            assert mf.critical_sigma_w2(b, name) == pytest.approx(w, rel=1e-8)
            assert line.q_star[i].item() == pytest.approx(q_star, rel=1e-7, abs=1e-12)


def test_silu_and_gelu_edges_of_chaos():
    """The issue's cases: silu at sigma_b2 = 0.04 and gelu at 0.01 have chi_1 = 1 only at an
    unstable fixed point; the error says so and gives the range where an edge exists."""
    with pytest.raises(RuntimeError, match=r"silu has no stable edge of chaos at sigma_b2 = 0.04.*unstable.*"
                                           r"dq'/dq = 1.09.*A stable edge of chaos exists for sigma_b2 in \[0.555"):
        mf.critical_sigma_w2(0.04, "silu")
    with pytest.raises(RuntimeError, match=r"gelu has no stable edge of chaos at sigma_b2 = 0.01.*unstable"):
        mf.critical_sigma_w2(0.01, "gelu")
    # relu with a bias variance: diverging.
    assert mf.critical_line([0.1], "relu", return_reason=True).reason_names() == ["diverging"]
    # The old silu answer: an ordered stable fixed point, an unstable one, divergence above it.
    p = mf.fixed_point(2.820826397721833, 0.04, "silu")
    assert [f.stable for f in p.fixed_points] == [True, False]
    assert p.phase == "diverging"
    low = mf.fixed_point(2.820826397721833, 0.04, "silu", q0=0.1)
    assert low.phase == "ordered" and low.chi_1 == pytest.approx(0.82028, abs=1e-4)
    assert low.fixed_points[0].basin == (0.0, pytest.approx(p.fixed_points[1].q, rel=1e-12))


@pytest.mark.parametrize("name", ["tanh", "silu", "gelu", "elu", "selu", "erf"])
def test_every_returned_point_is_stable_and_reached(name):
    line = mf.critical_line(torch.linspace(0, 1, 11, dtype=torch.float64), name, return_reason=True)
    found = line.reason == 0
    assert found.any()
    for w, b, q_star in zip(line.sigma_w2[found], torch.linspace(0, 1, 11, dtype=torch.float64)[found], line.q_star[found]):
        p = mf.fixed_point(float(w), float(b), name)
        assert p.phase == "critical" and p.stable
        reached = p.fixed_points[p.reached]
        assert reached.stable and reached.slope <= 1 + 1e-12
        assert reached.q == pytest.approx(float(q_star), rel=1e-9, abs=1e-12)
        assert p.chi_1 == pytest.approx(1.0, abs=1e-10)


def test_critical_point_refuses_unstable_q_star():
    with pytest.raises(RuntimeError, match=r"critical_point: silu has no stable edge of chaos.*unstable"):
        mf.critical_point(1.0, "silu")
    w, b = mf.critical_point(100.0, "silu")
    assert mf.fixed_point(w, b, "silu").phase == "critical"


def test_phase_diagram_marks_multiple_and_unstable_critical_regions():
    d = mf.phase_diagram(torch.linspace(1.5, 4.0, 11), torch.tensor([0.0, 0.04, 0.5]), "silu")
    assert (d.fixed_points >= 2).any()
    assert d.unstable_critical.any()
    names = set(sum(d.phase_names(), []))
    assert "diverging" in names and "ordered" in names
    t = mf.phase_diagram(torch.linspace(0.5, 3.0, 6), torch.tensor([0.0, 0.1]), "tanh")
    # tanh: one fixed point with a bias; without one, q = 0 too (unstable once sigma_w2 > 1).
    assert (t.fixed_points[:, 1] == 1).all() and not t.unstable_critical.any()
    assert t.fixed_points[:, 0].tolist() == [1, 1, 2, 2, 2, 2]
    assert [f.stable for f in mf.fixed_point(2.0, 0.0, "tanh").fixed_points] == [False, True]


# ---- Monte Carlo: a width-1000 network at a returned point keeps chi_1 = 1 ----------------------


def _jacobian_growth(name, phi, sigma_w2, sigma_b2, q_start, width=1000, layers=40, burn=10, probes=16, seed=0):
    """Mean over layers burn..layers of log(sum_k |dh_k^{l+1}|^2 / sum_k |dh_k^l|^2) for `probes`
    tangent vectors pushed forward through one random network (the forward Jacobian; its growth
    per layer is chi_1 in mean-field theory). Also the last layer's q."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(width, generator=g, dtype=torch.float64) * math.sqrt(q_start)
    dh = torch.randn(width, probes, generator=g, dtype=torch.float64)
    logs = []
    for layer in range(layers):
        w = torch.randn(width, width, generator=g, dtype=torch.float64) * math.sqrt(sigma_w2 / width)
        b = torch.randn(width, generator=g, dtype=torch.float64) * math.sqrt(sigma_b2)
        x = h.clone().requires_grad_(True)
        y = phi(x)
        (dphi,) = torch.autograd.grad(y.sum(), x)
        new_dh = w @ (dphi[:, None] * dh)
        if layer >= burn:
            logs.append(math.log(new_dh.pow(2).sum().item() / dh.pow(2).sum().item()))
        h, dh = w @ y.detach() + b, new_dh
        dh = dh / dh.pow(2).mean().sqrt()  # rescale to avoid overflow; ratios are unaffected
    return sum(logs) / len(logs), h.pow(2).mean().item()


@pytest.mark.parametrize("name,sigma_b2", [("gelu", 0.5), ("silu", 1.0)])
def test_width_1000_network_at_the_edge_keeps_chi_1(name, sigma_b2):
    phi = {"gelu": nn.functional.gelu, "silu": nn.functional.silu}[name]
    w = mf.critical_sigma_w2(sigma_b2, name)
    p = mf.fixed_point(w, sigma_b2, name)
    q_star = p.q_star
    # Tolerance. Per layer, R = |W a|^2 / |dh|^2 with a = phi'(h) dh: given a, |W a_k|^2 is
    # sigma_w2 |a_k|^2 / N times a chi^2_N, relative variance 2 / N per probe (2 / (N K) for K
    # nearly orthogonal probes); |a|^2 / |dh|^2 samples phi'^2 over N units, relative variance
    # (E[phi'^4] (1 + 2 / K) - E[phi'^2]^2) / (N E[phi'^2]^2) (shared by the probes). So
    # var(log R) ~ v below, the mean over L layers has standard deviation sqrt(v / L), E[log R]
    # sits v / 2 below log chi_1 (Jensen), and the O(1 / N) finite-width shift of q gets 2 / N.
    f, df, _, kinks, _ = REFERENCE[name]
    m2 = gauss(lambda x: df(x) ** 2, q_star, kinks)
    m4 = gauss(lambda x: df(x) ** 4, q_star, kinks)
    n, k, layers = 1000, 16, 30
    v = (2 / k + (m4 * (1 + 2 / k) - m2**2) / m2**2) / n
    tolerance = 4 * math.sqrt(v / layers) + v / 2 + 2 / n
    # A network whose inputs put the first layer at q* (the point's own fixed point) ...
    growth, q_last = _jacobian_growth(name, phi, w, sigma_b2, q_start=q_star)
    assert abs(growth) < tolerance, (growth, tolerance)
    # q stays near q*, within its finite-width wandering: each layer adds relative noise of variance
    # s1^2 = (2 + (sigma_w2 E[phi^2] / q*)^2 (E[phi^4] / E[phi^2]^2 - 1)) / N (a chi^2_N of the
    # pre-activations, and the sampled E[phi^2]), damped by the q-map's slope a < 1 at a stable q*:
    # after L layers the spread is s1 sqrt((1 - a^2L) / (1 - a^2)) (large: a ~ 0.98 at criticality).
    slope = p.fixed_points[p.reached].slope
    e2 = gauss(lambda x: f(x) ** 2, q_star, kinks)
    e4 = gauss(lambda x: f(x) ** 4, q_star, kinks)
    s1 = math.sqrt((2 + (w * e2 / q_star) ** 2 * (e4 / e2**2 - 1)) / n)
    spread = s1 * math.sqrt((1 - slope ** 80) / (1 - slope**2))
    assert abs(math.log(q_last / q_star)) < 4 * spread, (q_last, q_star, spread)
    # ... and one started from the default q0 = sigma_w2 + sigma_b2 climbs towards q* (slowly: the
    # q-map's slope there is ~0.98), as the mean-field iterate says, instead of diverging.
    _, q_last = _jacobian_growth(name, phi, w, sigma_b2, q_start=w + sigma_b2, layers=20, burn=19, probes=1)
    q_theory = w + sigma_b2
    for _ in range(20):
        q_theory = mf.q_map(q_theory, w, sigma_b2, name)
    assert w + sigma_b2 < q_theory < q_star
    assert abs(math.log(q_last / q_theory)) < 4 * spread, (q_last, q_theory, spread)
    # The old silu answer (critical_sigma_w2(0.04, "silu") was 2.8208 before the stability check):
    # from q0 = sigma_w2 + sigma_b2 the variance diverges and gradients grow ~ sigma_w2 / 2 per
    # layer; from a small q0 the network falls to the ordered fixed point, chi_1 = 0.82.
    if name == "silu":
        old, q_old = _jacobian_growth(name, phi, 2.820826397721833, 0.04, q_start=2.860826397721833, layers=20, burn=5)
        assert old > 10 * tolerance and q_old > 1e3, (old, q_old)
        low, _ = _jacobian_growth(name, phi, 2.820826397721833, 0.04, q_start=0.1, layers=20, burn=5)
        assert low == pytest.approx(math.log(0.82028), abs=0.03)


# ---- section 3: the calculator on tensors, batch norm for any activation ----------------------


def test_maps_and_fixed_points_on_tensors_match_the_scalar_calculator():
    q = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    w = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    out = mf.q_map(q, w, 0.1, "gelu")
    assert out.shape == (2, 3) and out.dtype == torch.float64
    for i in range(2):
        for j in range(3):
            assert out[i, j].item() == mf.q_map(q[j].item(), w[i, 0].item(), 0.1, "gelu")
    c = mf.c_map(torch.tensor([-0.5, 0.3, 1.0], dtype=torch.float64), 1.5, 2.0, torch.tensor([0.0, 0.1, 0.2], dtype=torch.float64), "tanh")
    assert [c[i].item() for i in range(3)] == [
        mf.c_map(cc, 1.5, 2.0, bb, "tanh") for cc, bb in [(-0.5, 0.0), (0.3, 0.1), (1.0, 0.2)]
    ]
    ws, bs = torch.tensor([0.8, 1.5, 2.5]), torch.tensor([0.0, 0.05, 0.3])
    fp = mf.fixed_point(ws, bs, "tanh")
    chi_1, chi_c = mf.susceptibilities(ws, bs, "tanh")
    for i in range(3):
        p = mf.fixed_point(ws[i].item(), bs[i].item(), "tanh")
        assert fp.q_star[i].item() == p.q_star and fp.chi_1[i].item() == p.chi_1 and fp.c_star[i].item() == p.c_star
        assert chi_1[i].item() == p.chi_1 and chi_c[i].item() == p.chi_c
        assert mf.PHASES[int(fp.phase[i])] == p.phase


def test_tensor_calculator_checks_every_element():
    with pytest.raises(RuntimeError, match=r"q_map: sigma_w2 must be a positive, finite variance"):
        mf.q_map(torch.tensor([1.0, 1.0]), torch.tensor([1.0, -1.0]), 0.0, "tanh")
    with pytest.raises(RuntimeError, match=r"c_map: c must be a correlation in \[-1, 1\], got 1.5"):
        mf.c_map(torch.tensor([0.5, 1.5]), 1.0, 1.0, 0.0, "tanh")


def _bn_growth_monte_carlo(phi, width, batch, depth, seed):
    """Per-layer growth of E|dL/dz^l|^2 backwards in h = W x, z = BN(h), x = phi(z), measured over
    the middle layers of one network (autograd through torch's batch statistics)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, width, generator=g, dtype=torch.float64)
    zs = []
    for _ in range(depth):
        w = torch.randn(width, width, generator=g, dtype=torch.float64).div_(math.sqrt(width)).requires_grad_()
        h = x @ w.T
        z = (h - h.mean(0)) / h.var(0, unbiased=False).add(1e-12).sqrt()
        z.retain_grad()
        zs.append(z)
        x = phi(z)
    loss = (x * torch.randn(batch, width, generator=g, dtype=torch.float64)).sum()
    loss.backward()
    norms = [z.grad.pow(2).sum().item() for z in zs]
    ratios = [math.log(norms[l] / norms[l + 1]) for l in range(3, depth - 3)]
    return math.exp(sum(ratios) / len(ratios)), len(ratios)


@pytest.mark.parametrize("name,phi", [("relu", torch.relu), ("tanh", torch.tanh), ("gelu", nn.functional.gelu)])
def test_batchnorm_gradient_growth_against_monte_carlo(name, phi):
    # Per layer, the log of the squared-gradient ratio fluctuates with relative variance ~ 2 / (N B)
    # per unit-sample pair times the spread of phi'^2 (below 3 for these), so over L layers
    # 4 sigma ~ 4 sqrt(3 * 2 / (N B L)) ~ 0.7% at N = B = 256, L = 14. The theory is the N, B -> inf
    # limit: the BN projection (mean and scale directions removed, 2 of B) and the batch variance
    # estimate shift the rate by O(1 / B), allowed 3 / B; and mean-field theory has O(1 / N)
    # corrections, allowed 4 / N (measured for tanh: +2.0%, +1.4%, +0.6% at N = 128, 256, 512).
    width = batch = 256
    rate, layers = _bn_growth_monte_carlo(phi, width, batch, depth=20, seed=1)
    tolerance = 4 * math.sqrt(6 / (width * batch * layers)) + 3 / batch + 4 / width
    assert rate == pytest.approx(mf.batchnorm_gradient_growth(name), rel=tolerance)


# ---- section 4: regression tests ------------------------------------------------------------------


def test_c_map_at_one_stays_a_correlation_and_measure_takes_duplicates():
    for q in (0.3, 1.0, 2.7, 10.0):
        for name in ("tanh", "gelu", "silu", "erf"):
            assert mf.c_map(1.0, q, 1.7, 0.05, name) <= 1.0
    assert mf.c_map(torch.ones(3), torch.tensor([0.3, 2.7, 10.0]), 1.7, 0.05, "tanh").max() <= 1.0
    net = nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 8))
    x = torch.randn(3, 32, generator=torch.Generator().manual_seed(0))
    report = mf.measure(net, torch.cat([x, x]), jacobian=False)  # duplicate inputs: c0 = 1 pairs
    assert report.c_theory.max() <= 1.0
    parallel = mf.measure(net, torch.cat([x[:1], 2.0 * x[:1]]), jacobian=False)  # parallel inputs
    assert parallel.c0 == 1.0


@pytest.mark.parametrize("q", [1e3, 1e10, 1e100, 1e200, 1e300, 1e308])
def test_maps_at_huge_variances_reach_their_limits(q):
    # As q -> infinity with sigma_w2 = 1, sigma_b2 = 0.1, c = 0.5 (independent closed forms):
    # erf: 2q / (1 + 2q) -> 1, so q_out -> 1.1 and c_out -> ((2/pi) asin(c) + 0.1) / 1.1 (at the rate
    # 1 / sqrt(q) of asin near 1);
    # relu: exactly c_out = (w q J(c) / 2 + b) / (w q / 2 + b), with the arc-cosine
    # J(c) = (sqrt(1 - c^2) + (pi - acos c) c) / pi;
    # sin, cos: E[phi(u) phi(v)] -> 0 off the diagonal, E[phi^2] -> 1/2, so c_out -> 0.1 / 0.6.
    # They were NaN (erf past q ~ 1e200, sin / cos past q ~ 1400) or 1 (relu past q ~ 1e154): the
    # closed forms multiplied two variances, or e^-q (0) by sinh(c q) (inf).
    c, w, b = 0.5, 1.0, 0.1
    erf_limit = (2 / math.pi * math.asin(c) * w + b) / (w + b)
    arc_cosine = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / math.pi
    relu_c = (w * arc_cosine / 2 + b / q) / (w / 2 + b / q)
    assert mf.c_map(c, q, w, b, "erf") == pytest.approx(erf_limit, rel=1 / math.sqrt(q) + 1e-13)
    assert mf.q_map(q, w, b, "erf") == pytest.approx(w + b, rel=1 / math.sqrt(q) + 1e-13)
    assert mf.c_map(c, q, w, b, "relu") == pytest.approx(relu_c, rel=1e-13)
    for name in ("sin", "cos"):
        assert mf.c_map(c, q, w, b, name) == pytest.approx(b / (w / 2 + b), rel=1e-13)
        assert mf.q_map(q, w, b, name) == pytest.approx(w / 2 + b, rel=1e-13)


def test_trigonometric_maps_near_correlation_one_at_large_variance():
    # q = 2000, c = 1 - 1e-4: e^-q = 0 and sinh(c q) = inf in double, yet the kernel is
    # e^-q(1 - c) / 2 + O(e^-q(1 + c)) = e^-0.2 / 2: not small.
    q, c, w, b = 2000.0, 1.0 - 1e-4, 1.0, 0.1
    k_sin = 0.5 * math.exp(-q * (1 - c))  # the e^-q(1 + c) term is below double's range
    assert mf.c_map(c, q, w, b, "sin") == pytest.approx((w * k_sin + b) / (w / 2 + b), rel=1e-12)
    assert mf.c_map(c, q, w, b, "cos") == pytest.approx((w * k_sin + b) / (w / 2 + b), rel=1e-12)


def test_dropout_is_modelled_or_refused():
    q, w, b, p = 1.3, 1.8, 0.1, 0.25
    plain = mf.q_map(q, w, b, "tanh")
    assert mf.q_map(q, w, b, "tanh", dropout=p) == pytest.approx((plain - b) / (1 - p) + b, rel=1e-14)
    assert mf.c_map(1.0, q, w, b, "tanh", dropout=p) < 1.0
    with pytest.raises(ValueError, match=r"dropout must be a probability"):
        mf.q_map(q, w, b, "tanh", dropout=1.0)
    # The fixed point with dropout: q* and c* are fixed points of the maps with dropout, c* < 1 even
    # where the dropout-free network is ordered (c* = 1), and xi_c is finite at the old edge of chaos.
    for sigma_w2 in (1.0, mf.critical_sigma_w2(0.05, "tanh"), 2.5):
        fp = mf.fixed_point(sigma_w2, 0.05, "tanh", dropout=p)
        assert fp.dropout == p
        assert mf.q_map(fp.q_star, sigma_w2, 0.05, "tanh", dropout=p) == pytest.approx(fp.q_star, rel=1e-12)
        assert mf.c_map(fp.c_star, fp.q_star, sigma_w2, 0.05, "tanh", dropout=p) == pytest.approx(fp.c_star, abs=1e-12)
        assert fp.c_star < 1.0 and math.isfinite(fp.xi_c)
        plain = mf.fixed_point(sigma_w2 / (1 - p), 0.05, "tanh")
        assert fp.q_star == pytest.approx(plain.q_star, rel=1e-14) and fp.chi_1 == pytest.approx(plain.chi_1, rel=1e-14)
    tensor = mf.fixed_point(torch.tensor([1.0, 2.5]), 0.05, "tanh", dropout=p)
    assert tensor.c_star[1].item() == pytest.approx(mf.fixed_point(2.5, 0.05, "tanh", dropout=p).c_star, rel=1e-14)
    net = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 16))
    with pytest.raises(ValueError, match=r"dropout in training mode: 2 \(p=0.2\).*no critical point"):
        init.edge_of_chaos_(net)
    init.edge_of_chaos_(net.eval())  # dropout-free edge of chaos in evaluation mode
    # measure() in training mode uses the maps with the keep probability: a wide network agrees.
    g = torch.Generator().manual_seed(0)
    wide = nn.Sequential(nn.Linear(64, 3000), nn.Tanh(), nn.Dropout(0.5), nn.Linear(3000, 3000)).train()
    for layer in (wide[0], wide[3]):
        init.critical_normal_(layer.weight, 1.5, generator=g)
        nn.init.zeros_(layer.bias)
    torch.manual_seed(0)
    r = mf.measure(wide, torch.randn(4, 64, generator=g), jacobian=False)
    # q of the last layer: a mean over 3000 units of 4 inputs; with dropout each unit's square has
    # relative spread ~ sqrt(2 + 1/(1-p)) / sqrt(3000 * 4) ~ 2%; 10% is far outside it, and far from
    # the dropout-free map (which would be low by a factor 1 - p = 0.5).
    assert r.q[-1].item() == pytest.approx(r.q_theory[-1].item(), rel=0.1)
    assert r.c_theory[-1].item() < 1.0
    with pytest.raises(ValueError, match=r"Dropout in training mode\) comes before an activation"):
        mf.measure(nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Tanh(), nn.Linear(4, 4)).train(), torch.randn(2, 4))


def test_initialisers_require_the_activation_and_take_kaiming_arguments():
    w = torch.empty(400, 300)
    with pytest.raises(ValueError, match=r"critical_normal_: sigma_w2 is None.*pass activation="):
        init.critical_normal_(w)
    with pytest.raises(ValueError, match=r"critical_uniform_: sigma_w2 is None"):
        init.critical_uniform_(w)
    g = torch.Generator().manual_seed(0)
    init.critical_normal_(w, nonlinearity="relu", generator=g)
    # 120000 entries: the sample variance has relative standard deviation sqrt(2 / 120000) = 0.4%.
    assert w.var().item() == pytest.approx(2.0 / 300, rel=0.02)
    init.critical_normal_(w, nonlinearity=nn.ReLU(), mode="fan_out", generator=g)
    assert w.var().item() == pytest.approx(2.0 / 400, rel=0.02)
    init.critical_uniform_(w, activation="relu", generator=g)
    assert w.abs().max().item() <= math.sqrt(3 * 2.0 / 300)
    assert w.var().item() == pytest.approx(2.0 / 300, rel=0.02)
    init.critical_uniform_(w, 1.0, mode="fan_out", generator=g)
    assert w.var().item() == pytest.approx(1.0 / 400, rel=0.02)
    with pytest.raises(ValueError, match="not both"):
        init.critical_normal_(w, activation="relu", nonlinearity="relu")
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.critical_normal_(w, 1.0, mode="fan_avg")
    torch.library.opcheck(torch.ops.statmech.critical_uniform_.default, (torch.empty(8, 4), 2.0, None))


def test_custom_activations_declare_kinks_and_relu6_uses_them():
    """E[phi'^2] + E[phi'' phi] must equal d E[phi^2] / dq = E[phi^2 (z^2 - 1)] / (2 q) (no
    derivative needed); for relu6 that holds only with the Dirac term of its kink at 6."""
    relu6 = lambda x: min(max(x, 0.0), 6.0)  # noqa: E731
    for q in (4.0, 25.0):
        slope = gauss(lambda x: relu6(x) ** 2 * (x * x / q - 1), q, [0.0, 6.0]) / (2 * q)
        declared = _C.meanfield.moments(mf.activation(lambda t: torch.clamp(t, 0, 6), kinks=[0.0, 6.0]), q)
        assert declared["second_slope"] == pytest.approx(slope, rel=1e-9)
        second = gauss(lambda x: relu6(x) ** 2, q, [0.0, 6.0])
        assert declared["second"] == pytest.approx(second, rel=1e-10)
        undeclared = _C.meanfield.moments(mf.activation(lambda t: torch.clamp(t, 0, 6)), q)
        assert abs(undeclared["second_slope"] - slope) > 1e-3 * slope  # the missing Dirac term
    from statmech._module_activations import activation_of

    spec = activation_of(nn.ReLU6())
    assert spec.kinks == (0.0, 6.0)
    m = _C.meanfield.moments(spec.resolve(), 25.0)
    assert m["second_slope"] == pytest.approx(gauss(lambda x: relu6(x) ** 2 * (x * x / 25 - 1), 25.0, [0.0, 6.0]) / 50, rel=1e-9)
    step = mf.activation(lambda t: (t > 0).double() + 0 * t, jumps=[0.0])
    assert math.isinf(_C.meanfield.moments(step, 1.0)["derivative_second"])
    with pytest.raises(TypeError, match="kinks= and jumps= are for callables"):
        mf.activation("tanh", kinks=[0.0])


def test_custom_activation_under_inference_mode():
    user_tanh = mf.activation(lambda t: torch.tanh(t))
    expected = mf.fixed_point(1.5, 0.1, "tanh")
    with torch.inference_mode():
        p = mf.fixed_point(1.5, 0.1, user_tanh)
        assert mf.critical_sigma_w2(0.1, user_tanh) == pytest.approx(mf.critical_sigma_w2(0.1, "tanh"), rel=1e-9)
    assert p.q_star == pytest.approx(expected.q_star, rel=1e-10)


@pytest.mark.parametrize("name", ["tanh", "gelu", "silu", "elu", "selu"])
def test_critical_points_satisfy_the_shared_scipy_reference(name):
    """Points of critical_line checked with tests/python/gaussian_reference.py (nested scipy quad;
    at c = 1 it is E[f(u)^2]) at 1e-8: chi_1 = sigma_w2 E[phi'^2] = 1 and q_map(q*) = q*."""
    from gaussian_reference import quad_dual

    f, df, _, kinks, _ = REFERENCE[name]
    sigma_b2 = torch.tensor([0.2, 0.7, 1.0], dtype=torch.float64)
    line = mf.critical_line(sigma_b2, name, return_reason=True)
    checked = 0
    for w, q, b, reason in zip(line.sigma_w2.tolist(), line.q_star.tolist(), sigma_b2.tolist(), line.reason.tolist()):
        if reason != 0:
            continue
        checked += 1
        assert w * quad_dual(df, kinks, q, q, 1.0) == pytest.approx(1.0, rel=1e-8)
        assert w * quad_dual(f, kinks, q, q, 1.0) + b == pytest.approx(q, rel=1e-8)
    assert checked >= 2
