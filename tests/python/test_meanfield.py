"""statmech.meanfield: the calculator's Python API, numbers from the literature (each test cites
its source), the dual-activation core against scipy quadrature, user-defined activations, and
input errors."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

import statmech
from statmech import meanfield as mf
from statmech._C import meanfield as native

from gaussian_reference import quad_dual

# scipy's quad warns when it cannot confirm its 1e-13 target; the assertions judge the result.
pytestmark = pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")

SELU_SCALE, SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


PIECEWISE = {
    # name: (phi, phi', kinks)
    "relu": (lambda x: max(x, 0.0), lambda x: float(x > 0), [0.0]),
    "leaky_relu": (lambda x: x if x > 0 else 0.01 * x, lambda x: 1.0 if x > 0 else 0.01, [0.0]),
    "abs": (abs, lambda x: math.copysign(1.0, x), [0.0]),
    "step": (lambda x: float(x > 0), None, [0.0]),
    "sign": (lambda x: float(np.sign(x)), None, [0.0]),
    "elu": (lambda x: x if x > 0 else math.expm1(x), lambda x: 1.0 if x > 0 else math.exp(x), [0.0]),
    "selu": (
        lambda x: SELU_SCALE * (x if x > 0 else SELU_ALPHA * math.expm1(x)),
        lambda x: SELU_SCALE * (1.0 if x > 0 else SELU_ALPHA * math.exp(x)),
        [0.0],
    ),
    "hard_tanh": (lambda x: min(max(x, -1.0), 1.0), lambda x: float(abs(x) < 1), [-1.0, 1.0]),
}

POINTS = [(1.0, 1.0, 0.5), (0.05, 3.0, 0.999), (10.0, 10.0, 1 - 1e-6), (1e-3, 2.0, -0.3), (4.0, 0.2, -1 + 1e-6)]


@pytest.mark.parametrize("name", sorted(PIECEWISE))
def test_piecewise_dual_activation_matches_scipy_quad(name):
    """Issue 3 section 1: closed forms (relu family, abs, step, sign) and the kink-split
    quadrature (elu, selu, hard_tanh) against nested quad; measured errors are ~1e-15."""
    phi, dphi, kinks = PIECEWISE[name]
    act = mf.activation(name)
    for q1, q2, c in POINTS:
        k, kdot = native.dual_kernel(act, q1, q2, c)
        ref = quad_dual(phi, kinks, q1, q2, c)
        scale = math.sqrt(quad_dual(phi, kinks, q1, q1, 1.0) * quad_dual(phi, kinks, q2, q2, 1.0))
        assert abs(k - ref) <= 1e-10 * max(abs(ref), 1e-3 * scale), (name, q1, q2, c, k, ref)
        if dphi is not None:
            ref_d = quad_dual(dphi, kinks, q1, q2, c)
            assert abs(kdot - ref_d) <= 1e-10 * max(abs(ref_d), 1e-3), (name, q1, q2, c, kdot, ref_d)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "gelu", "silu", "softplus"])
def test_smooth_dual_activation_matches_scipy_quad(name):
    """The Hermite series / 2-D quadrature for smooth activations against nested quad (the C++
    suite checks the full (q1, q2, c) grid against a 551^2-node trapezoid rule)."""
    f = {
        "tanh": math.tanh,
        "sigmoid": special.expit,
        "gelu": lambda x: x * special.ndtr(x),
        "silu": lambda x: x * special.expit(x),
        "softplus": lambda x: float(np.logaddexp(0.0, x)),
    }[name]
    act = mf.activation(name)
    for q1, q2, c in [(0.5, 2.0, 0.3), (10.0, 10.0, 0.999999), (10.0, 0.001, -1.0)]:
        k, _ = native.dual_kernel(act, q1, q2, c)
        ref = quad_dual(f, [], q1, q2, c)
        assert abs(k - ref) <= 1e-10 * max(abs(ref), 1e-3), (name, q1, q2, c, k, ref)


def test_step_and_sign_derivative_kernels_are_delta_densities():
    """phi' of step is a Dirac delta: E[delta(u) delta(v)] is the joint density at 0."""
    q1, q2, c = 0.5, 2.0, 0.6
    density = 1 / (2 * math.pi * math.sqrt(q1 * q2 * (1 - c * c)))
    assert native.dual_kernel(mf.activation("step"), q1, q2, c)[1] == pytest.approx(density, rel=1e-14)
    assert native.dual_kernel(mf.activation("sign"), q1, q2, c)[1] == pytest.approx(4 * density, rel=1e-14)


# ---------------------------------------------------------------------------------------------
# Numbers from the literature
# ---------------------------------------------------------------------------------------------
def test_relu_critical_at_two_zero():
    """He et al. 2015; Schoenholz et al. 2017 Sec. 3: relu has chi_1 = sigma_w2 / 2, critical at (2, 0)."""
    p = mf.fixed_point(2.0, 0.0, "relu")
    assert p.phase == "critical" and p.usable
    assert p.chi_1 == pytest.approx(1.0, abs=1e-14) and math.isinf(p.xi_c)
    for w in (0.5, 1.0, 1.7):
        assert mf.fixed_point(w, 0.2, "relu").chi_1 == pytest.approx(w / 2, rel=1e-14)
        assert mf.gradient_growth(w, 0.2, "relu") == pytest.approx(w / 2, rel=1e-14)
    assert mf.critical_sigma_w2(0.0, "relu") == pytest.approx(2.0, rel=1e-14)
    assert mf.critical_sigma_w2(0.0, "relu") == pytest.approx(torch.nn.init.calculate_gain("relu") ** 2)


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.2, 0.5])
def test_leaky_relu_critical_weight_variance(alpha):
    """E[phi'^2] = (1 + alpha^2) / 2, so sigma_w2 = 2 / (1 + alpha^2) = calculate_gain('leaky_relu', alpha)^2."""
    act = mf.activation("leaky_relu", negative_slope=alpha)
    assert mf.critical_sigma_w2(0.0, act) == pytest.approx(2 / (1 + alpha**2), rel=1e-13)
    assert mf.critical_sigma_w2(0.0, act) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", alpha) ** 2)


def test_erf_q_map_and_critical_line():
    """Williams 1997: E[erf(u)^2] = (2/pi) arcsin(2q/(1+2q)); E[erf'^2] = (4/pi)/sqrt(1+4q), so the
    critical sigma_w2 = (pi/4) sqrt(1 + 4 q*) (Pennington et al. 2017)."""
    for q in (0.01, 0.5, 2.0, 9.0):
        expected = 1.3 * (2 / math.pi) * math.asin(2 * q / (1 + 2 * q)) + 0.2
        assert mf.q_map(q, 1.3, 0.2, "erf") == pytest.approx(expected, rel=1e-14)
    for q_star in (0.1, 1.0, 3.0):
        w, b = mf.critical_point(q_star, "erf")
        assert w == pytest.approx(math.pi / 4 * math.sqrt(1 + 4 * q_star), rel=1e-13)
        p = mf.fixed_point(w, b, "erf")
        assert p.phase == "critical" and p.q_star == pytest.approx(q_star, rel=1e-10)
        assert mf.critical_sigma_w2(b, "erf") == pytest.approx(w, rel=1e-10)


def test_tanh_critical_line_tends_to_one():
    """Poole et al. 2016 / Schoenholz et al. 2017 Fig. 1: the tanh critical line reaches sigma_w2 = 1
    as sigma_b2 -> 0, and passes near (1.76, 0.05)."""
    line = mf.critical_line(torch.tensor([0.0, 1e-8, 1e-6, 1e-4, 1e-2, 0.05]), "tanh")
    assert line.dtype == torch.float64
    assert line[0].item() == pytest.approx(1.0, abs=1e-12)
    assert bool((line[1:] > line[:-1]).all())
    assert line[1].item() - 1 < 1e-2
    assert line[-1].item() == pytest.approx(1.76, abs=0.01)


def test_pytorch_tanh_gain_is_chaotic():
    """torch.nn.init.calculate_gain('tanh') = 5/3: sigma_w2 = 25/9 with zero bias has chi_1 > 1."""
    gain = torch.nn.init.calculate_gain("tanh")
    p = mf.fixed_point(gain**2, 0.0, "tanh")
    assert p.phase == "chaotic" and p.chi_1 > 1 and p.chi_c < 1
    assert p.c_star == pytest.approx(0.0, abs=1e-12)


def test_batchnorm_relu_gradient_growth():
    """Yang et al. 2019, A mean field theory of batch normalization: pi / (pi - 1) per layer."""
    assert mf.batchnorm_gradient_growth("relu") == pytest.approx(math.pi / (math.pi - 1), rel=1e-15)
    # The general rate E[phi'^2] / Var[phi] is 1 for a linear activation and above 1 otherwise
    # (Gaussian Poincare inequality); the Monte Carlo of BN networks is in test_meanfield_stability.py.
    assert mf.batchnorm_gradient_growth("linear") == pytest.approx(1.0, rel=1e-14)
    for name in ("tanh", "gelu", "silu", "elu", "erf"):
        assert mf.batchnorm_gradient_growth(name) > 1.0


def test_residual_gradient_growth():
    """Yang & Schoenholz 2017 Sec. 3: 1 + sigma_v2 sigma_w2 E[phi'(sqrt(q^l) z)^2] per layer."""
    g = mf.residual_gradient_growth(0.5, 0.1, "linear", depth=3, sigma_v2=2.0)
    assert torch.allclose(g, torch.full((3,), 2.0, dtype=torch.float64), rtol=0, atol=1e-15)
    # relu: E[phi'^2] = 1/2 at every q.
    g = mf.residual_gradient_growth(1.0, 0.0, "relu", depth=5)
    assert torch.allclose(g, torch.full((5,), 1.5, dtype=torch.float64), rtol=0, atol=1e-15)


def test_residual_gradient_growth_matches_a_simulated_tanh_resnet():
    """Monte Carlo check of the residual recursion (Yang & Schoenholz 2017, Sec. 3) on random
    full residual tanh networks x^l = V phi(W x^{l-1} + b) + x^{l-1} of width N = 1000: the
    measured |dL/dx^{l-1}|^2 / |dL/dx^l|^2, averaged over 6 networks, against the theory's factor.
    Each measured ratio is a ratio of sums of N squares, with a relative standard deviation of
    about sqrt(2/N) = 4.5% per network, 1.8% over 6; the tolerance, 8%, is 4.4 of those."""
    n, depth, sigma_w2, sigma_b2, sigma_v2 = 1000, 6, 1.5, 0.1, 1.0
    theory = mf.residual_gradient_growth(sigma_w2, sigma_b2, "tanh", depth=depth, sigma_v2=sigma_v2)
    g = torch.Generator().manual_seed(0)
    measured = torch.zeros(depth, dtype=torch.float64)
    networks = 6
    for _ in range(networks):
        x = torch.randn(n, dtype=torch.float64, generator=g).requires_grad_()  # p0 = 1
        xs = [x]
        for _ in range(depth):
            w = torch.randn(n, n, dtype=torch.float64, generator=g) * math.sqrt(sigma_w2 / n)
            b = torch.randn(n, dtype=torch.float64, generator=g) * math.sqrt(sigma_b2)
            v = torch.randn(n, n, dtype=torch.float64, generator=g) * math.sqrt(sigma_v2 / n)
            xs.append(v @ torch.tanh(w @ xs[-1] + b) + xs[-1])
            xs[-1].retain_grad()
        (torch.randn(n, dtype=torch.float64, generator=g) @ xs[-1]).backward()
        norms = torch.stack([t.grad.square().sum() for t in xs])
        measured += (norms[:-1] / norms[1:]) / networks
    assert torch.allclose(measured, theory, rtol=0.08), (measured, theory)


# ---------------------------------------------------------------------------------------------
# API behaviour
# ---------------------------------------------------------------------------------------------
def test_fixed_point_fields_are_consistent():
    p = mf.fixed_point(2.5, 0.2, "tanh")
    assert isinstance(p, mf.FixedPoint) and p.phase == "chaotic"
    assert mf.q_map(p.q_star, 2.5, 0.2, "tanh") == pytest.approx(p.q_star, rel=1e-12)
    assert mf.c_map(p.c_star, p.q_star, 2.5, 0.2, "tanh") == pytest.approx(p.c_star, rel=1e-12)
    h = 1e-5
    slope = (mf.c_map(p.c_star + h, p.q_star, 2.5, 0.2, "tanh") - mf.c_map(p.c_star - h, p.q_star, 2.5, 0.2, "tanh")) / (2 * h)
    assert slope == pytest.approx(p.chi_c, rel=1e-7)
    assert p.xi_c == pytest.approx(-1 / math.log(p.chi_c))
    assert "chaotic" in repr(p) and "q_star=" in repr(p)


def test_diverging_variance_is_not_usable():
    p = mf.fixed_point(3.0, 0.5, "relu")
    assert p.phase == "diverging" and not p.stable and not p.usable
    assert math.isinf(p.q_star) and math.isnan(p.chi_1)
    assert "grows without bound" in repr(p)
    with pytest.raises(RuntimeError, match="diverging"):
        mf.gradient_growth(3.0, 0.5, "relu")


def test_maps_accept_tensors():
    q = torch.tensor([[0.5, 1.0], [2.0, 4.0]])
    out = mf.q_map(q, 1.5, 0.1, "erf")
    assert out.shape == (2, 2) and out.dtype == torch.float64
    assert out[1, 0].item() == pytest.approx(mf.q_map(2.0, 1.5, 0.1, "erf"))
    c = torch.linspace(-1, 1, 5)
    assert mf.c_map(c, 1.0, 1.5, 0.1, "tanh").shape == (5,)
    # c = 1 maps to 1 at any q: E[phi(u)^2] normalised by the next layer's variance.
    assert mf.c_map(1.0, 1.0, 1.5, 0.1, "tanh") == pytest.approx(1.0, rel=1e-13)


def test_phase_diagram_grid():
    w = torch.tensor([0.8, 1.5, 3.0])
    b = torch.tensor([0.0, 0.05, 0.3, 1.0])
    d = mf.phase_diagram(w, b, "tanh")
    for name in ("q_star", "c_star", "chi_1", "chi_c", "xi_q", "xi_c"):
        t = getattr(d, name)
        assert t.shape == (3, 4) and t.dtype == torch.float64, name
    assert d.phase.dtype == torch.int64 and d.stable.dtype == torch.bool
    for i, wi in enumerate(w.tolist()):
        for j, bj in enumerate(b.tolist()):
            p = mf.fixed_point(wi, bj, "tanh")
            assert d.chi_1[i, j].item() == p.chi_1
            assert mf.PHASES[d.phase[i, j].item()] == p.phase == d.phase_names()[i][j]


def test_python_callable_agrees_with_builtin():
    """A Python callable on tensors (derivatives by autograd) gives the built-in's numbers."""
    custom = mf.activation(lambda t: torch.tanh(t))
    for w, b in [(1.5, 0.05), (3.0, 0.3)]:
        a, r = mf.fixed_point(w, b, custom), mf.fixed_point(w, b, "tanh")
        for field in ("q_star", "c_star", "chi_1", "chi_c", "xi_q", "xi_c"):
            assert getattr(a, field) == pytest.approx(getattr(r, field), rel=1e-9), field
    gelu = mf.activation(torch.nn.functional.gelu)
    assert mf.q_map(2.0, 1.0, 0.0, gelu) == pytest.approx(mf.q_map(2.0, 1.0, 0.0, "gelu"), rel=1e-12)
    assert native.dual_kernel(gelu, 0.5, 3.0, 0.4)[0] == pytest.approx(
        native.dual_kernel(mf.activation("gelu"), 0.5, 3.0, 0.4)[0], rel=1e-10
    )


def test_activation_parameters():
    assert mf.activation("leaky_relu", negative_slope=0.1).parameter == 0.1
    assert mf.activation("elu", alpha=0.5).parameter == 0.5
    assert mf.activation("leaky_relu").parameter == 0.01
    assert "negative_slope=0.1" in repr(mf.activation("leaky_relu", negative_slope=0.1))


def test_errors_name_the_argument():
    with pytest.raises(RuntimeError, match=r"unknown activation 'tanhh'; valid names are linear, relu.*hard_tanh"):
        mf.fixed_point(1.0, 0.0, "tanhh")
    with pytest.raises(TypeError, match="negative_slope"):
        mf.activation("leaky_relu", slope=0.1)
    with pytest.raises(TypeError, match="takes no parameters"):
        mf.activation("tanh", alpha=1.0)
    with pytest.raises(RuntimeError, match=r"fixed_point: sigma_w2 must be a positive, finite variance \(sigma\^2"):
        mf.fixed_point(-1.0, 0.0, "tanh")
    with pytest.raises(RuntimeError, match="sigma_b2 must be a non-negative"):
        mf.fixed_point(1.0, -0.5, "tanh")
    with pytest.raises(RuntimeError, match="q_map: q must be a positive"):
        mf.q_map(0.0, 1.0, 0.0, "tanh")
    with pytest.raises(RuntimeError, match=r"c_map: c must be a correlation in \[-1, 1\], got 1.5"):
        mf.c_map(1.5, 1.0, 1.0, 0.0, "tanh")
    with pytest.raises(RuntimeError, match="critical_point.*sigma_b2 = .* < 0"):
        mf.critical_point(0.01, "softplus")
    with pytest.raises(RuntimeError, match="edge of chaos is sigma_b2 = 0 only"):
        mf.critical_sigma_w2(0.1, "relu")
    with pytest.raises(RuntimeError, match="phase_diagram: sigma_w2 must be a positive"):
        mf.phase_diagram(torch.tensor([0.0, 1.0]), torch.tensor([0.1]), "tanh")
    with pytest.raises(RuntimeError, match="must be differentiable by autograd"):
        mf.q_map(1.0, 1.0, 0.0, lambda t: t.detach() * 0 + 1)
    with pytest.raises(RuntimeError, match="same shape"):
        mf.q_map(1.0, 1.0, 0.0, lambda t: t.sum())


@pytest.mark.parametrize("name", ["hard_tanh", "elu", "selu", "tanh", "gelu", "softplus", "step", "relu", "sin", "erf"])
def test_second_slope_is_derivative_of_second_moment(name):
    """xi_q uses d E[phi(sqrt(q) z)^2] / dq = E[phi'^2] + E[phi'' phi] (Gaussian integration by
    parts), including the Dirac terms of phi'' for hard_tanh; checked by central differences."""
    act = mf.activation(name)
    for q in (0.3, 2.0):
        h = 1e-5
        fd = (native.moments(act, q + h)["second"] - native.moments(act, q - h)["second"]) / (2 * h)
        assert native.moments(act, q)["second_slope"] == pytest.approx(fd, rel=1e-8, abs=1e-9)


def test_critical_sigma_w2_of_a_callable_matches_the_builtin():
    """The critical-line scan reaches q ~ 1e12; a user callable must stay cheap there (its
    quadrature mesh is graded around 0, not uniformly ~sqrt(q) panels wide)."""
    user_tanh = mf.activation(lambda t: torch.tanh(t))
    for sigma_b2 in (0.0, 0.1, 1.0):
        assert mf.critical_sigma_w2(sigma_b2, user_tanh) == pytest.approx(
            mf.critical_sigma_w2(sigma_b2, "tanh"), rel=1e-10)


def test_callable_with_a_kink_away_from_zero_against_scipy():
    """phi(x) = relu(x) - relu(x - 3) / 2 at q = 1e6: the kink at x = 3 is at z = 3e-3."""
    phi = mf.activation(lambda t: torch.relu(t) - 0.5 * torch.relu(t - 3.0))
    root_q = 1e3

    def integrand(z):
        x = root_q * z
        return (max(x, 0.0) - 0.5 * max(x - 3.0, 0.0)) ** 2 * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    reference = (integrate.quad(integrand, 0.0, 3.0 / root_q, epsabs=0, epsrel=1e-13)[0]
                 + integrate.quad(integrand, 3.0 / root_q, 12.0, epsabs=0, epsrel=1e-13, limit=200)[0])
    assert mf.q_map(1e6, 1.0, 0.0, phi) == pytest.approx(reference, rel=1e-11)


def test_dual_kernel_uses_series_only_where_it_converges():
    """The Hermite series is used where its Parseval bound allows (moderate q, or |c| < 1) and
    quadrature otherwise (tanh at q = 10, c -> 1, where the coefficients decay slowly); both paths
    agree with an independent 2-D quadrature of the Cholesky form."""
    tanh = mf.activation("tanh")
    assert native.dual_kernel_uses_series(tanh, 1.0, 1.0, 0.5)
    assert not native.dual_kernel_uses_series(tanh, 10.0, 10.0, 1 - 1e-6)
    for q, c in ((1.0, 0.5), (10.0, 1 - 1e-6)):
        s = math.sqrt((1 - c) * (1 + c))

        def integrand(z2, z1):
            u = math.sqrt(q) * z1
            v = math.sqrt(q) * (c * z1 + s * z2)
            return math.tanh(u) * math.tanh(v) * math.exp(-0.5 * (z1 * z1 + z2 * z2)) / (2 * math.pi)

        reference = integrate.dblquad(integrand, -12, 12, -12, 12, epsabs=1e-13, epsrel=1e-12)[0]
        value, _ = native.dual_kernel(tanh, q, q, c)
        assert value == pytest.approx(reference, rel=1e-9)
