"""The native tensor entry points of statmech._C.meanfield, called directly: each against the
scalar calculator element by element, and the critical curve against its definition (a fixed
point of the q-map with chi_1 = sigma_w2 E[phi'(sqrt(q) z)^2] = 1, by scipy quadrature)."""

import math

import pytest
import torch
from scipy import integrate

import statmech  # noqa: F401
from statmech import _C

native = _C.meanfield
F64 = dict(dtype=torch.float64)


def test_q_map_tensor_matches_the_scalar_map_elementwise():
    tanh = native.Activation.named("tanh")
    q = torch.tensor([0.1, 1.0, 4.0], **F64)
    w = torch.tensor([[1.0], [2.5]], **F64)
    b = torch.tensor(0.05, **F64)
    got = native.q_map_tensor(q, w, b, tanh, 0.2)
    assert got.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert got[i, j].item() == pytest.approx(native.q_map(q[j].item(), w[i, 0].item(), 0.05, tanh, 0.2), rel=1e-14)


def test_c_map_tensor_matches_the_scalar_map_elementwise():
    gelu = native.Activation.named("gelu")
    c = torch.tensor([-0.9, 0.0, 0.5, 1.0], **F64)
    got = native.c_map_tensor(c, torch.tensor(1.3, **F64), torch.tensor(1.9, **F64), torch.tensor(0.1, **F64), gelu, 0.0)
    for j in range(4):
        assert got[j].item() == pytest.approx(native.c_map(c[j].item(), 1.3, 1.9, 0.1, gelu, 0.0), rel=1e-13, abs=1e-15)
    assert got[-1].item() <= 1.0  # clamped: a correlation, even where rounding would pass 1


def test_fixed_points_tensor_matches_the_scalar_fixed_point():
    tanh = native.Activation.named("tanh")
    w = torch.tensor([0.8, 1.5, 2.5], **F64)
    d = native.fixed_points_tensor(w, torch.tensor([0.1], **F64), tanh, None, 0.0)
    for i in range(3):
        q_star = d.q_star.flatten()[i].item()
        assert native.q_map(q_star, w[i].item(), 0.1, tanh, 0.0) == pytest.approx(q_star, rel=1e-9)


def test_critical_line_with_reasons_names_why_there_is_no_edge():
    silu = native.Activation.named("silu")
    line = native.critical_line_with_reasons(torch.tensor([0.04, 1.0], **F64), silu, None)
    assert math.isnan(line.sigma_w2[0].item()) and native.critical_reason_name(int(line.reason[0])) == "unstable"
    assert native.critical_reason_name(int(line.reason[1])) == "found"
    assert line.sigma_w2[1].item() == pytest.approx(1.967041, abs=2e-6)


def test_critical_curve_is_a_fixed_point_with_chi_one():
    q_star = torch.tensor([0.5, 1.0, 5.0], **F64)
    curve = native.critical_curve(q_star, native.Activation.named("tanh"))
    for q, w, b in zip(q_star.tolist(), curve.sigma_w2.tolist(), curve.sigma_b2.tolist()):
        gauss = lambda z, f: f(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
        second = integrate.quad(lambda z: gauss(z, lambda x: math.tanh(math.sqrt(q) * x) ** 2), -40, 40, epsabs=1e-14)[0]
        slope2 = integrate.quad(lambda z: gauss(z, lambda x: math.cosh(math.sqrt(q) * x) ** -4), -40, 40, epsabs=1e-14)[0]
        assert w * slope2 == pytest.approx(1.0, rel=1e-9)  # chi_1 = 1
        assert w * second + b == pytest.approx(q, rel=1e-9)  # q* is a fixed point of the q-map
