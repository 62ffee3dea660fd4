"""statmech.diagnostics.measure (statmech.meanfield.measure): measured q_l, c_l against the
mean-field maps within a derived Monte-Carlo tolerance; Jacobian singular values; errors."""

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import statmech
from statmech import init
from statmech.diagnostics import measure

meanfield = pytest.importorskip("statmech.meanfield")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def correlated_pair(n, q0, c0, g):
    """Two inputs of mean square q0 each and correlation c0, both exactly (Gram-Schmidt)."""
    z = torch.randn(2, n, dtype=torch.float64, generator=g)
    u = z[0] / z[0].norm()
    v = z[1] - (z[1] @ u) * u
    v = v / v.norm()
    scale = math.sqrt(q0 * n)
    return torch.stack([u, c0 * u + math.sqrt(1 - c0**2) * v]) * scale


def propagated_sd(result, activation, width):
    """Monte-Carlo sd of the measured q_l and c_l at finite width.

    Each layer adds fresh noise: the mean of N squared (near-)Gaussian pre-activations has relative
    sd sqrt(2/N), and an empirical correlation of N pairs has sd (1 - c^2)/sqrt(N). Noise from
    earlier layers is carried forward by the local slope of the q- and c-map (finite differences of
    the calculator's maps), so var_l = slope_l^2 var_{l-1} + fresh_l^2.
    """
    sd_q, sd_c = [], []
    var_q = var_c = 0.0
    q_prev, c_prev, act_prev = result.q0, result.c0, "linear"
    for l in range(len(result.q)):
        sw, sb = result.sigma_w2[l].item(), result.sigma_b2[l].item()
        dq, dc = 1e-4 * q_prev, 1e-4
        slope_q = (meanfield.q_map(q_prev + dq, sw, sb, act_prev) - meanfield.q_map(q_prev - dq, sw, sb, act_prev)) / (2 * dq)
        slope_c = (meanfield.c_map(min(c_prev + dc, 1.0), q_prev, sw, sb, act_prev)
                   - meanfield.c_map(c_prev - dc, q_prev, sw, sb, act_prev)) / (min(c_prev + dc, 1.0) - (c_prev - dc))
        q_l, c_l = result.q_theory[l].item(), result.c_theory[l].item()
        var_q = slope_q**2 * var_q + 2 * q_l**2 / width
        var_c = slope_c**2 * var_c + (1 - c_l**2) ** 2 / width
        sd_q.append(math.sqrt(var_q))
        sd_c.append(math.sqrt(var_c))
        q_prev, c_prev, act_prev = q_l, c_l, activation
    return torch.tensor(sd_q, dtype=torch.float64), torch.tensor(sd_c, dtype=torch.float64)


def test_deep_tanh_mlp_follows_the_q_and_c_maps():
    width, depth, sigma_w2, sigma_b2 = 1000, 20, 1.5, 0.05
    g = gen(0)
    layers = []
    for _ in range(depth):
        linear = nn.Linear(width, width, dtype=torch.float64)
        init.critical_normal_(linear.weight, sigma_w2, generator=g)
        with torch.no_grad():
            linear.bias.normal_(0, math.sqrt(sigma_b2), generator=g)
        layers += [linear, nn.Tanh()]
    net = nn.Sequential(*layers)
    x = correlated_pair(width, q0=2.0, c0=0.3, g=g)
    result = measure(net, x, jacobian=False)
    assert result.q0 == pytest.approx(2.0) and result.c0 == pytest.approx(0.3)
    assert result.activations == ["tanh"] * depth and len(result.layers) == depth
    sd_q, sd_c = propagated_sd(result, "tanh", width)
    # Five propagated standard deviations (a false alarm below 1e-6 per layer for Gaussian noise),
    # with the per-layer sigma_w2, sigma_b2 measured from the realised weights (measure's default).
    z_q = (result.q - result.q_theory).abs() / sd_q
    z_c = (result.c - result.c_theory).abs() / sd_c
    assert (z_q < 5).all(), f"q off by {z_q.max():.2f} sd\n{result}"
    assert (z_c < 5).all(), f"c off by {z_c.max():.2f} sd\n{result}"
    # With the nominal variances the theory converges to the calculator's fixed point (tanh at
    # (1.5, 0.05) is ordered, chi_1 < 1: q -> q*; c grows towards 1, slowly so near criticality).
    nominal = measure(net, x, sigma_w2=sigma_w2, sigma_b2=sigma_b2, jacobian=False)
    point = meanfield.fixed_point(sigma_w2, sigma_b2, "tanh")
    assert nominal.q_theory[-1].item() == pytest.approx(point.q_star, rel=1e-3)
    assert point.chi_1 < 1 and nominal.c_theory[-1] > nominal.c_theory[0] + 0.4
    print(result, f"\nmax |z_q| = {z_q.max():.2f}, max |z_c| = {z_c.max():.2f}")


def test_orthogonal_linear_network_has_an_isometric_jacobian():
    net = nn.Sequential(*[nn.Linear(50, 50, bias=False, dtype=torch.float64) for _ in range(6)])
    for layer in net:
        init.critical_orthogonal_(layer.weight, 1.0, generator=gen(1))
    x = torch.randn(3, 50, dtype=torch.float64, generator=gen(2))
    result = measure(net, x)
    assert_close(result.singular_values, torch.ones(50, dtype=torch.float64), rtol=0, atol=1e-12)
    # Linear, unit-variance orthogonal maps preserve every second moment exactly.
    assert_close(result.q, result.q_theory, rtol=1e-12, atol=0)
    assert_close(result.c, result.c_theory, rtol=0, atol=1e-12)


def test_jacobian_singular_values_match_autograd():
    net = nn.Sequential(nn.Linear(7, 9), nn.Tanh(), nn.Linear(9, 5), nn.ReLU(), nn.Linear(5, 4)).double()
    x = torch.randn(2, 7, dtype=torch.float64, generator=gen(3))
    result = measure(net, x)
    jac = torch.autograd.functional.jacobian(lambda v: net(v.unsqueeze(0)).squeeze(0), x[0])
    assert_close(result.singular_values, torch.linalg.svdvals(jac))
    assert result.activations == ["tanh", "relu", "linear"]


def test_delta_orthogonal_convnet_follows_the_maps():
    # The delta-orthogonal kernel is a pointwise (1x1) orthogonal map, so borders play no part and
    # every position obeys the MLP maps; the units are channels x positions.
    channels, length, depth = 128, 16, 8
    g = gen(4)
    layers = []
    for _ in range(depth):
        conv = nn.Conv1d(channels, channels, 3, padding=1, dtype=torch.float64)
        init.delta_orthogonal_(conv.weight, 1.2, generator=g)
        with torch.no_grad():
            conv.bias.normal_(0, math.sqrt(0.02), generator=g)
        layers += [conv, nn.Tanh()]
    net = nn.Sequential(*layers, nn.Flatten())
    x = correlated_pair(channels * length, 1.0, 0.5, g).reshape(2, channels, length)
    result = measure(net, x, jacobian=False)
    assert result.width == [channels * length] * depth
    assert_close(result.sigma_w2, torch.full((depth,), 1.2, dtype=torch.float64))
    sd_q, sd_c = propagated_sd(result, "tanh", channels)  # conservative: positions share weights
    assert ((result.q - result.q_theory).abs() < 5 * sd_q).all(), str(result)
    assert ((result.c - result.c_theory).abs() < 5 * sd_c).all(), str(result)


def test_repr_is_a_table():
    net = nn.Sequential(nn.Linear(10, 10), nn.Tanh(), nn.Linear(10, 3)).double()
    text = repr(measure(net, torch.randn(4, 10, dtype=torch.float64)))
    for word in ("SignalPropagation", "q theory", "c theory", "sigma_w2", "Jacobian", "condition number"):
        assert word in text


def test_measure_is_re_exported_from_meanfield():
    assert meanfield.measure is statmech.diagnostics.measure


@pytest.mark.parametrize(
    "model,x,error,words",
    [
        (nn.Linear(3, 3), torch.randn(2, 3), TypeError, ["model", "nn.Sequential", "Linear"]),
        (nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Linear(3, 3)), torch.randn(2, 3), ValueError,
         ["model[1]", "BatchNorm1d", "not modelled"]),
        (nn.Sequential(nn.Tanh(), nn.Linear(3, 3)), torch.randn(2, 3), ValueError, ["model[0]", "before the first"]),
        (nn.Sequential(nn.Linear(3, 3)), torch.randn(3), ValueError, ["x", "batch", "shape (3,)"]),
    ],
)
def test_errors_name_the_argument(model, x, error, words):
    with pytest.raises(error) as info:
        measure(model, x)
    for word in words:
        assert word in str(info.value)
