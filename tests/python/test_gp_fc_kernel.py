"""fc_kernel: values against references written here (closed-form recursions, 2-D Gauss-Hermite
quadrature), gradients (gradcheck, float64), opcheck, compile, errors, blocked products."""


import numpy as np
import pytest
import torch

import statmech  # noqa: F401
from statmech.gp import fc_kernel, fc_kernel_matmul

# ---- independent references ---------------------------------------------------------------------


def _relu_dual(a, b, c):
    r = np.sqrt(a * b)
    theta = np.arccos(np.clip(c, -1, 1))
    k = r / (2 * np.pi) * (np.sin(theta) + (np.pi - theta) * c)
    kd = (np.pi - theta) / (2 * np.pi)
    return k, kd


def _erf_dual(a, b, c):
    # Williams (1997): E[erf(u) erf(v)] = (2/pi) asin(2 S / sqrt((1 + 2a)(1 + 2b))).
    s = c * np.sqrt(a * b)
    k = 2 / np.pi * np.arcsin(2 * s / np.sqrt((1 + 2 * a) * (1 + 2 * b)))
    kd = 4 / np.pi / np.sqrt((1 + 2 * a) * (1 + 2 * b) - 4 * s * s)
    return k, kd


def _quadrature_dual(phi, dphi, degree=200):
    # 200 x 200 Gauss-Hermite (probabilists') rule on the Cholesky factor of the 2 x 2 covariance.
    z, w = np.polynomial.hermite_e.hermegauss(degree)
    w = w / np.sqrt(2 * np.pi)

    def dual(a, b, c):
        a, b, c = np.broadcast_arrays(a, b, c)
        out_k = np.empty(a.shape)
        out_kd = np.empty(a.shape)
        for index in np.ndindex(a.shape):
            qa, qb, cc = a[index], b[index], np.clip(c[index], -1, 1)
            u = np.sqrt(qa) * z[:, None]
            v = np.sqrt(qb) * (cc * z[:, None] + np.sqrt(max(1 - cc * cc, 0.0)) * z[None, :])
            weight = w[:, None] * w[None, :]
            out_k[index] = np.sum(weight * phi(u) * phi(v))
            out_kd[index] = np.sum(weight * dphi(u) * dphi(v))
        return out_k, out_kd

    return dual


def _legendre_dual(phi, dphi, panels=80, nodes=10, reach=10.0):
    # Composite Gauss-Legendre on [-reach, reach] in both Cholesky variables (800^2 nodes): its
    # panels (width 0.25) resolve tanh's poles at i pi / (2 sqrt(q)), where Gauss-Hermite with
    # 200 nodes is only good to ~1e-8.
    t, tw = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(-reach, reach, panels + 1)
    half = (edges[1:] - edges[:-1]) / 2
    z = ((edges[:-1] + edges[1:])[:, None] / 2 + half[:, None] * t[None, :]).ravel()
    w = (half[:, None] * tw[None, :]).ravel() * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)

    def dual(a, b, c):
        a, b, c = np.broadcast_arrays(a, b, c)
        out_k = np.empty(a.shape)
        out_kd = np.empty(a.shape)
        for index in np.ndindex(a.shape):
            qa, qb, cc = a[index], b[index], np.clip(c[index], -1, 1)
            u = np.sqrt(qa) * z
            outer_phi, outer_dphi = w * phi(u), w * dphi(u)
            v = np.sqrt(qb) * (cc * z[:, None] + np.sqrt(max(1 - cc * cc, 0.0)) * z[None, :])
            inner_phi, inner_dphi = phi(v) @ w, dphi(v) @ w
            out_k[index] = outer_phi @ inner_phi
            out_kd[index] = outer_dphi @ inner_dphi
        return out_k, out_kd

    return dual


def _moment_diag(dual, q):
    return dual(q, q, np.ones_like(q))[0]


def reference(x1, x2, depth, dual, sw2, sb2, parameterization="ntk", width=1.0):
    """The recursion of fc_kernel's docstring, on whole matrices, in numpy float64."""
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = x1 if x2 is None else np.asarray(x2, dtype=np.float64)
    d = x1.shape[1]
    dot = x1 @ x2.T
    s = sw2 * dot / d + sb2
    qa = sw2 * (x1 * x1).sum(1) / d + sb2
    qb = sw2 * (x2 * x2).sum(1) / d + sb2
    theta = dot + 1 if parameterization == "standard" else s.copy()
    for _ in range(depth):
        a, b = qa[:, None], qb[None, :]
        c = np.clip(s / np.sqrt(a * b), -1, 1)
        # Rounding leaves the diagonal at 1 - 1e-16, where relu's kd has an infinite slope in c.
        c = np.where(np.abs(c) > 1 - 1e-14, np.sign(c), c)
        k, kd = dual(a, b, c)
        s = sw2 * k + sb2
        theta = (width * k + 1 if parameterization == "standard" else s) + sw2 * kd * theta
        qa = sw2 * _moment_diag(dual, qa) + sb2
        qb = sw2 * _moment_diag(dual, qb) + sb2
    return s, theta


def _data(n=6, m=5, d=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(m, d, generator=g, dtype=dtype)


# ---- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation,dual", [("relu", _relu_dual), ("erf", _erf_dual)])
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
@pytest.mark.parametrize("depth", [0, 1, 3, 6])
def test_closed_forms_match_reference(activation, dual, parameterization, depth):
    x1, x2 = _data()
    for other in (x2, None):
        nngp, ntk = fc_kernel(x1, other, depth=depth, activation=activation, sigma_w2=1.7, sigma_b2=0.3,
                              parameterization=parameterization, width=7.0)
        ref_nngp, ref_ntk = reference(x1, other, depth, dual, 1.7, 0.3, parameterization, 7.0)
        np.testing.assert_allclose(nngp.numpy(), ref_nngp, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(ntk.numpy(), ref_ntk, rtol=1e-12, atol=1e-13)
    diag = fc_kernel(x1, depth=depth, activation=activation, sigma_w2=1.7, sigma_b2=0.3,
                     parameterization=parameterization, width=7.0, diagonal=True)
    full = fc_kernel(x1, depth=depth, activation=activation, sigma_w2=1.7, sigma_b2=0.3,
                     parameterization=parameterization, width=7.0)
    for dg, fl in zip(diag, full):
        torch.testing.assert_close(dg, fl.diagonal(), rtol=1e-12, atol=1e-13)


def _from_relu(activation):
    # Kinked activations as combinations of relu and x (phi = beta relu + alpha x), Cho & Saul's
    # step kernel (pi - theta) / (2 pi) = kd_relu, and sign = 2 step - 1.
    def dual(a, b, c):
        k, kd = _relu_dual(a, b, c)
        cr = c * np.sqrt(a * b)
        if activation == "leaky_relu":
            alpha = 0.2
            return (1 - alpha) ** 2 * k + alpha * cr, (1 - alpha) ** 2 * kd + alpha
        if activation == "abs":
            return 4 * k - cr, 4 * kd - 1
        if activation == "step":
            return kd, np.zeros_like(kd)
        return 4 * kd - 1, np.zeros_like(kd)  # sign

    return dual


@pytest.mark.parametrize("activation", ["leaky_relu", "abs", "step", "sign", "linear", "sin", "cos"])
def test_other_closed_forms(activation):
    x1, x2 = _data(4, 3)
    if activation in ("linear", "sin", "cos"):
        phi, dphi = {
            "linear": (lambda x: x, lambda x: np.ones_like(x)),
            "sin": (np.sin, np.cos),
            "cos": (np.cos, lambda x: -np.sin(x)),
        }[activation]
        dual, tol = _quadrature_dual(phi, dphi, degree=200), 1e-10
    else:
        dual, tol = _from_relu(activation), 1e-12
    parameter = 0.2 if activation == "leaky_relu" else None
    nngp, ntk = fc_kernel(x1, x2, depth=2, activation=activation, sigma_w2=1.3, sigma_b2=0.2,
                          activation_parameter=parameter)
    ref_nngp, ref_ntk = reference(x1, x2, 2, dual, 1.3, 0.2)
    np.testing.assert_allclose(nngp.numpy(), ref_nngp, rtol=tol, atol=tol)
    if activation not in ("step", "sign"):  # phi' is a Dirac delta: kd is not E[0 * 0]
        np.testing.assert_allclose(ntk.numpy(), ref_ntk, rtol=tol, atol=tol)


_SMOOTH = {
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "softplus": (lambda x: np.logaddexp(0, x), lambda x: 1 / (1 + np.exp(-x))),
    "silu": (lambda x: x / (1 + np.exp(-x)), lambda x: 1 / (1 + np.exp(-x)) * (1 + x * np.exp(-x) / (1 + np.exp(-x)))),
}


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus", "silu", "gelu"])
def test_series_matches_2d_quadrature(activation):
    from scipy.special import erf

    if activation == "gelu":
        phi = lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2)))  # noqa: E731
        dphi = lambda x: 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    else:
        phi, dphi = _SMOOTH[activation]
    x1, x2 = _data(3, 2)
    x2[0] = x1[0]  # a correlation of 1 off the diagonal
    nngp, ntk = fc_kernel(x1, x2, depth=3, activation=activation, sigma_w2=1.5, sigma_b2=0.1)
    ref_nngp, ref_ntk = reference(x1, x2, 3, _legendre_dual(phi, dphi), 1.5, 0.1)
    np.testing.assert_allclose(nngp.numpy(), ref_nngp, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(ntk.numpy(), ref_ntk, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_float32_agrees_with_float64(activation):
    x1, x2 = _data()
    k64 = fc_kernel(x1, x2, depth=4, activation=activation, sigma_w2=2.0, sigma_b2=0.1)
    k32 = fc_kernel(x1.float(), x2.float(), depth=4, activation=activation, sigma_w2=2.0, sigma_b2=0.1)
    for a, b in zip(k32, k64):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, rtol=2e-5, atol=2e-5)


def test_get_order_and_single():
    x1, _ = _data()
    nngp, ntk = fc_kernel(x1, depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.0)
    ntk2, nngp2 = fc_kernel(x1, depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.0, get=("ntk", "nngp"))
    only = fc_kernel(x1, depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.0, get="ntk")
    torch.testing.assert_close(ntk, ntk2)
    torch.testing.assert_close(nngp, nngp2)
    torch.testing.assert_close(only, ntk)


def test_matmul_matches_dense():
    x1, x2 = _data(9, 7)
    v = torch.randn(7, 3, dtype=torch.float64)
    for kernel in ("nngp", "ntk"):
        dense = fc_kernel(x1, x2, depth=3, activation="relu", sigma_w2=2.0, sigma_b2=0.1, get=kernel)
        blocked = fc_kernel_matmul(x1, x2, v, depth=3, activation="relu", sigma_w2=2.0, sigma_b2=0.1,
                                   kernel=kernel, block_size=2)
        torch.testing.assert_close(blocked, dense @ v)
        vec = fc_kernel_matmul(x1, x2, v[:, 0], depth=3, activation="relu", sigma_w2=2.0, sigma_b2=0.1,
                               kernel=kernel, block_size=4)
        torch.testing.assert_close(vec, dense @ v[:, 0])


# ---- large inputs -----------------------------------------------------------------------------------


def _mp_dual(activation, a, b, c):
    """(k, kd) of the closed forms in 50-digit arithmetic, where nothing overflows."""
    import mpmath as mp

    r = mp.sqrt(a * b)
    if activation in ("sin", "cos"):
        odd = mp.exp(-(a + b) / 2) * mp.sinh(c * r)
        even = mp.exp(-(a + b) / 2) * mp.cosh(c * r)
        return (odd, even) if activation == "sin" else (even, odd)
    if activation == "erf":
        d = (1 + 2 * a) * (1 + 2 * b)
        return 2 / mp.pi * mp.asin(2 * c * r / mp.sqrt(d)), 4 / mp.pi / mp.sqrt(d - 4 * c * c * a * b)
    theta = mp.acos(c)
    k = r / (2 * mp.pi) * (mp.sin(theta) + (mp.pi - theta) * c)
    kd = (mp.pi - theta) / (2 * mp.pi)
    if activation == "abs":  # |x| = 2 relu(x) - x
        return 4 * k - c * r, 4 * kd - 1
    return k, kd


def _mp_reference(x1, x2, depth, activation, sw2, sb2):
    """fc_kernel's recursion (ntk parameterisation) entry by entry with mpmath at 50 digits."""
    import mpmath as mp

    mp.mp.dps = 50
    x1 = [[mp.mpf(float(v)) for v in row] for row in x1.double().tolist()]
    x2 = [[mp.mpf(float(v)) for v in row] for row in x2.double().tolist()]
    d = len(x1[0])
    nngp = np.empty((len(x1), len(x2)))
    ntk = np.empty_like(nngp)
    for i, u in enumerate(x1):
        for j, v in enumerate(x2):
            s = sw2 * mp.fsum(p * q for p, q in zip(u, v)) / d + sb2
            qa = sw2 * mp.fsum(p * p for p in u) / d + sb2
            qb = sw2 * mp.fsum(q * q for q in v) / d + sb2
            theta = s
            for _ in range(depth):
                c = max(min(s / mp.sqrt(qa * qb), mp.mpf(1)), mp.mpf(-1))
                k, kd = _mp_dual(activation, qa, qb, c)
                s = sw2 * k + sb2
                theta = s + sw2 * kd * theta
                qa = sw2 * _mp_dual(activation, qa, qa, mp.mpf(1))[0] + sb2
                qb = sw2 * _mp_dual(activation, qb, qb, mp.mpf(1))[0] + sb2
            nngp[i, j], ntk[i, j] = float(s), float(theta)
    return nngp, ntk


def _large_inputs(scale, dtype):
    # Three rows, the third a near-copy of the first (correlation ~1 - 1e-6, so that even at large
    # variances one off-diagonal entry of sin / cos is far from 0), against themselves.
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 4, generator=g, dtype=torch.float64)
    x = torch.cat([x, x[:1] + 1e-3 * torch.randn(1, 4, generator=g, dtype=torch.float64)])
    return (x * scale / x[0].norm() * 2).to(dtype)


@pytest.mark.parametrize("activation", ["sin", "cos", "erf", "relu", "abs"])
@pytest.mark.parametrize("scale", [10.0, 30.0, 1e3, 1e10, 1e17])
def test_large_inputs_match_high_precision(activation, scale, device):
    # Variances q ~ scale^2: sinh(q) overflows and e^-q underflows (float: q > ~88, double:
    # q > ~710), the erf determinant's product of variances overflows (float: q > ~1e19), and so
    # does sqrt(q1 q2) itself. The kernels must stay finite and correct there, in both dtypes.
    x = _large_inputs(scale, torch.float64)
    ref_nngp, ref_ntk = _mp_reference(x, x, 2, activation, 2.0, 0.1)
    for dtype, rtol in ((torch.float64, 1e-9), (torch.float32, 2e-3)):
        xd = x.to(dtype).to(device)
        # Near c = 1 and large q the kernels are ill-conditioned in c: e^-q(1 - c) (sin, cos) has
        # sensitivity q, erf's kd ~ 1 / sqrt(1 / q + 1 - c^2) about 1 / (1 - c). With float's c
        # (~6e-8 apart) the near-copy entries (1 - c ~ 1e-6) carry errors of 10% or more from
        # q ~ 1e6 on; they are compared in double only.
        compared = np.ones((3, 3), dtype=bool)
        if dtype == torch.float32 and activation in ("sin", "cos", "erf") and scale > 30:
            compared[0, 2] = compared[2, 0] = False
        for other in (xd, None):
            nngp, ntk = fc_kernel(xd, other, depth=2, activation=activation, sigma_w2=2.0, sigma_b2=0.1)
            for ours, ref in ((nngp, ref_nngp), (ntk, ref_ntk)):
                ours = ours.double().cpu()
                assert torch.isfinite(ours).all(), (dtype, ours)
                np.testing.assert_allclose(ours.numpy()[compared], ref[compared], rtol=rtol,
                                           atol=rtol * np.abs(ref).max())
        diag_nngp, diag_ntk = fc_kernel(xd, depth=2, activation=activation, sigma_w2=2.0, sigma_b2=0.1,
                                        diagonal=True)
        np.testing.assert_allclose(diag_nngp.double().cpu().numpy(), ref_nngp.diagonal(), rtol=rtol)
        np.testing.assert_allclose(diag_ntk.double().cpu().numpy(), ref_ntk.diagonal(), rtol=rtol)


@pytest.mark.parametrize("activation", ["sin", "cos", "erf"])
def test_gradients_at_large_variances(activation, device):
    # q ~ 900: e^-q sinh(q c) was inf * 0 = NaN in the forward and the backward. The near-copy rows
    # keep an off-diagonal entry away from 0, so the check is not of zeros only.
    x = _large_inputs(30.0, torch.float64).to(device).requires_grad_()
    w = torch.tensor(2.0, dtype=torch.float64, device=device, requires_grad=True)
    b = torch.tensor(0.1, dtype=torch.float64, device=device, requires_grad=True)

    def f(x, w, b):
        return fc_kernel(x, depth=2, activation=activation, sigma_w2=w, sigma_b2=b)

    nngp = f(x, w, b)[0]
    assert nngp[0, 2].abs() > 1e-3
    assert torch.autograd.gradcheck(f, (x, w, b))
    for dtype in (torch.float32, torch.float64):
        xd = x.detach().to(dtype).requires_grad_()
        grads = torch.autograd.grad(sum(k.sum() for k in f(xd, w.to(dtype), b.to(dtype))), (xd,))
        assert torch.isfinite(grads[0]).all()


# ---- gradients ------------------------------------------------------------------------------------


def _sig(value):
    return torch.tensor(value, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize(
    "activation,parameterization",
    [(a, p) for a in ("relu", "erf", "leaky_relu", "abs", "sin") for p in ("ntk", "standard")]
    + [("tanh", "ntk"), ("gelu", "standard")],
)
def test_gradcheck(activation, parameterization):
    x1, x2 = _data(4, 3, 3)
    x1.requires_grad_()
    x2.requires_grad_()
    w, b = _sig(1.7), _sig(0.2)

    depth = 2 if activation in ("tanh", "gelu") else 3  # series: each call recomputes coefficients

    def f(x1, x2, w, b):
        return fc_kernel(x1, x2, depth=depth, activation=activation, sigma_w2=w, sigma_b2=b,
                         parameterization=parameterization, width=3.0)

    assert torch.autograd.gradcheck(f, (x1, x2, w, b))

    def g(x1, w, b):
        return fc_kernel(x1, depth=2, activation=activation, sigma_w2=w, sigma_b2=b,
                         parameterization=parameterization, width=3.0)

    assert torch.autograd.gradcheck(g, (x1, w, b))

    def h(x1, w, b):
        return fc_kernel(x1, depth=2, activation=activation, sigma_w2=w, sigma_b2=b,
                         parameterization=parameterization, diagonal=True)

    assert torch.autograd.gradcheck(h, (x1, w, b))


@pytest.mark.parametrize("activation", ["relu", "erf", "abs", "sin"])
def test_gradient_finite_and_correct_at_correlation_one(activation):
    # Duplicate rows and x1 = x2: the correlation is exactly +-1, where relu's kd has an infinite
    # derivative in c. The kernel's gradient is finite; the NNGP is smooth there and checked by
    # gradcheck; the NTK of kinked activations has a cone (|delta|) in a single row at duplicates,
    # whose symmetric (central-difference) derivative is what the backward returns. Finite
    # differences there are limited by sqrt(rounding) in the forward, hence eps = 1e-4.
    x1, _ = _data(4, 3, 3)
    x1 = torch.cat([x1, x1[:1], -x1[1:2]]).requires_grad_()
    w, b = _sig(1.7), _sig(0.1)

    for get in ("nngp", "ntk"):
        def f(x1, w, b):
            return fc_kernel(x1, depth=3, activation=activation, sigma_w2=w, sigma_b2=b, get=get)

        out = f(x1, w, b)
        grads = torch.autograd.grad(out.sum(), (x1, w, b))
        assert all(torch.isfinite(g).all() for g in grads)
        kinked = activation in ("relu", "abs") and get == "ntk"
        assert torch.autograd.gradcheck(f, (x1, w, b), eps=1e-4 if kinked else 1e-6,
                                        atol=1e-5 if kinked else 1e-7, rtol=1e-3 if kinked else 1e-3)

    def diag(x1, x2):
        return fc_kernel(x1, x2, depth=3, activation=activation, sigma_w2=w, sigma_b2=b, diagonal=True,
                         get="nngp")

    x2 = x1.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(diag, (x1, x2))


def test_x1_equal_x2_gradient_matches_none():
    x1, _ = _data(5, 3, 3)
    a = x1.clone().requires_grad_()
    bb = x1.clone().requires_grad_()
    ka = fc_kernel(a, depth=3, activation="relu", sigma_w2=2.0, sigma_b2=0.1, get="ntk")
    kb = fc_kernel(bb, bb, depth=3, activation="relu", sigma_w2=2.0, sigma_b2=0.1, get="ntk")
    torch.testing.assert_close(ka, kb)
    weights = torch.randn(5, 5, dtype=torch.float64)
    (ga,) = torch.autograd.grad((ka * weights).sum(), a)
    (gb,) = torch.autograd.grad((kb * weights).sum(), bb)
    torch.testing.assert_close(ga, gb)


# ---- operator machinery -----------------------------------------------------------------------------


def test_opcheck():
    x1, x2 = _data(5, 4, 3)
    w = torch.tensor(1.5, dtype=torch.float64)
    b = torch.tensor(0.2, dtype=torch.float64)
    samples = [
        (x1, x2, w, b, 2, "relu"),
        (x1, None, w, b, 3, "erf"),
        (x1[:3], x2[:2], w, b, 1, "tanh"),
        (x1.requires_grad_(), x2.requires_grad_(), w.requires_grad_(), b.requires_grad_(), 2, "erf"),
    ]
    for args in samples:
        torch.library.opcheck(torch.ops.statmech.fc_kernel.default, args)
        diagonal_args = (args[0], None) + args[2:]
        torch.library.opcheck(torch.ops.statmech.fc_kernel.default, diagonal_args, {"diagonal": True, "nngp": False})
    v = torch.randn(4, dtype=torch.float64)
    torch.library.opcheck(torch.ops.statmech.fc_kernel_matmul.default,
                          (x1.detach(), x2.detach(), v, w.detach(), b.detach(), 2, "relu"), {"block_size": 2})


def test_compile_fullgraph():
    x1, x2 = _data(5, 4, 3)

    def f(x1, x2, w):
        nngp, ntk = fc_kernel(x1, x2, depth=2, activation="relu", sigma_w2=w, sigma_b2=0.1)
        return (nngp + ntk).sum()

    w = torch.tensor(2.0, dtype=torch.float64)
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x1, x2, w), f(x1, x2, w))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(x2=torch.randn(3, 5, dtype=torch.float64)), r"fc_kernel: x2.size\(1\) must equal"),
        (dict(depth=-1), "depth .* must be >= 0"),
        # More layers than memory (the per-layer variances of every row are kept): was the OOM killer.
        (dict(depth=10**12), r"depth = 1000000000000 keeps depth \+ 1 variances .* rows, which needs .* GB, more than"),
        (dict(sigma_w2=-1.0), "sigma_w2 must be a non-negative"),
        (dict(sigma_b2=float("nan")), "sigma_b2 must be a non-negative"),
        (dict(activation="swish2"), "unknown activation 'swish2'"),
        (dict(activation="tanh", activation_parameter=0.5), "activation_parameter applies to leaky_relu"),
        (dict(parameterization="mup"), "parameterization must be 'ntk' or 'standard'"),
        (dict(x1=torch.ones(3, 4, dtype=torch.int64)), "fc_kernel: x1 must be float32 or float64"),
        (dict(x1=torch.tensor([[float("inf"), 0.0, 1.0, 2.0]], dtype=torch.float64)), "x1 must be finite"),
        (dict(sigma_w2=torch.ones(2, dtype=torch.float64)), "sigma_w2 must be a 0-d tensor"),
        (dict(x1=torch.randn(3, dtype=torch.float64)), "x1 must be 2-D"),
        # Read on the host: a meta variance has no value (was read as garbage).
        (dict(sigma_w2=torch.tensor(1.0, dtype=torch.float64, device="meta")),
         "fc_kernel: sigma_w2 is on meta but x1 is on cpu; sigma_w2 must be on the CPU or on x1's device"),
        # A variance that overflows float64: was std::bad_alloc (tanh's series) or an error from an
        # internal function (elu's quadrature, at layer 1).
        (dict(x1=torch.full((2, 4), 1e200, dtype=torch.float64), activation="tanh"),
         "fc_kernel: the pre-activation variance of layer 0 overflows float64"),
        (dict(sigma_w2=1e200, sigma_b2=0.1, activation="elu"), "fc_kernel: the pre-activation variance of layer 1 overflows"),
    ],
)
def test_bad_input_errors(kwargs, match):
    args = dict(x1=torch.randn(3, 4, dtype=torch.float64), x2=None, depth=2, activation="relu", sigma_w2=1.0,
                sigma_b2=0.0)
    args.update(kwargs)
    x1 = args.pop("x1")
    x2 = args.pop("x2")
    with pytest.raises(RuntimeError, match=match):
        fc_kernel(x1, x2, **args)


def test_empty_inputs():
    x = torch.zeros(0, 3, dtype=torch.float64)
    nngp, ntk = fc_kernel(x, depth=2, activation="relu", sigma_w2=1.0, sigma_b2=0.0)
    assert nngp.shape == (0, 0) and ntk.shape == (0, 0)
    # No rows of x1: an empty product still in the autograd graph (was a detached zeros: backward
    # raised "does not require grad").
    v = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    out = fc_kernel_matmul(x, torch.randn(4, 3, dtype=torch.float64), v, depth=2, activation="relu", sigma_w2=1.0,
                           sigma_b2=0.1)
    assert out.shape == (0, 2) and out.requires_grad
    out.sum().backward()
    assert torch.equal(v.grad, torch.zeros_like(v))


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh"])
def test_device_matches_cpu(device, activation):
    if device.type == "cpu":
        pytest.skip("compares a device kernel with the CPU one")
    x1, x2 = _data(37, 21, 5)
    for dtype, tol in ((torch.float64, 1e-11), (torch.float32, 1e-4)):
        cpu = torch.stack(fc_kernel(x1.to(dtype), x2.to(dtype), depth=5, activation=activation, sigma_w2=1.7,
                                    sigma_b2=0.1))
        dev = torch.stack(fc_kernel(x1.to(device, dtype), x2.to(device, dtype), depth=5, activation=activation,
                                    sigma_w2=1.7, sigma_b2=0.1))
        torch.testing.assert_close(dev.cpu(), cpu, rtol=tol, atol=tol)
        # x2 None: the device evaluates the tiles on and above the diagonal and mirrors them
        # (37 rows: partial tiles of 16 on the diagonal).
        cpu = torch.stack(fc_kernel(x1.to(dtype), depth=5, activation=activation, sigma_w2=1.7, sigma_b2=0.1))
        dev = torch.stack(fc_kernel(x1.to(device, dtype), depth=5, activation=activation, sigma_w2=1.7,
                                    sigma_b2=0.1)).cpu()
        torch.testing.assert_close(dev, cpu, rtol=tol, atol=tol)
        assert torch.equal(dev, dev.transpose(1, 2))
        a = x1.to(dtype).requires_grad_()
        b = x1.to(device, dtype).requires_grad_()
        (ga,) = torch.autograd.grad(sum(k.sum() for k in fc_kernel(a, depth=3, activation=activation, sigma_w2=1.7,
                                                                   sigma_b2=0.1)), a)
        (gb,) = torch.autograd.grad(sum(k.sum() for k in fc_kernel(b, depth=3, activation=activation, sigma_w2=1.7,
                                                                   sigma_b2=0.1)), b)
        torch.testing.assert_close(gb.cpu(), ga, rtol=10 * tol, atol=10 * tol)


def test_vectorised_rows_match_scalar_entries():
    # Row lengths that are not multiples of the SIMD width, triangular and rectangular: the
    # vectorised columns and the scalar tails agree with the reference.
    x1, x2 = _data(11, 13, 4)
    for act, dual in (("relu", _relu_dual), ("erf", _erf_dual)):
        for other in (x2, None):
            nngp, ntk = fc_kernel(x1, other, depth=4, activation=act, sigma_w2=1.9, sigma_b2=0.05)
            ref_nngp, ref_ntk = reference(x1, other, 4, dual, 1.9, 0.05)
            np.testing.assert_allclose(nngp.numpy(), ref_nngp, rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose(ntk.numpy(), ref_ntk, rtol=1e-12, atol=1e-13)
            n32, t32 = fc_kernel(x1.float(), None if other is None else other.float(), depth=4, activation=act,
                                 sigma_w2=1.9, sigma_b2=0.05)
            np.testing.assert_allclose(t32.double().numpy(), ref_ntk, rtol=2e-5, atol=2e-5)


def _gelu_pair():
    from scipy.special import erf

    phi = lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2)))  # noqa: E731
    dphi = lambda x: 0.5 * (1 + erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)  # noqa: E731
    return phi, dphi


def _series_data(n, m, d=5, seed=3):
    # Rows of different norms (different variances, so different per-row truncations and a
    # layer whose terms are set by the largest), a duplicate row and a negated one (correlations
    # +1 and -1 off the diagonal).
    x1, x2 = _data(n, m, d, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    x1 = x1 * (0.3 + 1.7 * torch.rand(n, 1, generator=g, dtype=torch.float64))
    x2 = x2 * (0.3 + 1.7 * torch.rand(m, 1, generator=g, dtype=torch.float64))
    x1[n - 1] = x1[0]
    x2[m - 1] = -x1[1]
    x2[31] = x1[0]
    return x1, x2


# Entries in different lanes and tiles of the CPU series path (tiles of 32 columns, passes of 16
# columns in float64): the first and last lanes of the first tile, lanes of the next one.
_SERIES_ROWS = [0, 17, 36]
_SERIES_COLUMNS = [0, 31, 32, 40]


@pytest.mark.parametrize(
    "activation,parameterization",
    [("tanh", "ntk"), ("tanh", "standard"), ("sigmoid", "ntk"), ("gelu", "ntk"), ("softplus", "standard")],
)
def test_series_tiles_match_2d_quadrature(activation, parameterization):
    # The column-tiled series kernel (odd symmetry: tanh, sigmoid; even plus linear: gelu,
    # softplus) on a 37 x 41 problem, against 800^2-node Gauss-Legendre quadrature of the same
    # recursion at entries spread over lanes and tiles (an entry's recursion depends on its own
    # two rows only, so the reference runs on those rows). Column 31 duplicates row 0
    # (correlation 1), column 40 is minus row 1.
    phi, dphi = _gelu_pair() if activation == "gelu" else _SMOOTH[activation]
    x1, x2 = _series_data(37, 41)
    width = 2.0 if parameterization == "standard" else 1.0
    kwargs = dict(depth=3, activation=activation, sigma_w2=1.5, sigma_b2=0.1, parameterization=parameterization,
                  width=width)
    nngp, ntk = fc_kernel(x1, x2, **kwargs)
    rows, columns = _SERIES_ROWS, _SERIES_COLUMNS
    ref_nngp, ref_ntk = reference(x1[rows], x2[columns], 3, _legendre_dual(phi, dphi), 1.5, 0.1, parameterization,
                                  width)
    np.testing.assert_allclose(nngp[rows][:, columns].numpy(), ref_nngp, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ntk[rows][:, columns].numpy(), ref_ntk, rtol=1e-12, atol=1e-13)
    # Symmetric (x2 None: the upper triangle, mirrored) against the rectangular path on a copy.
    sym = torch.stack(fc_kernel(x1, **kwargs))
    rect = torch.stack(fc_kernel(x1, x1.clone(), **kwargs))
    torch.testing.assert_close(sym, rect, rtol=1e-13, atol=1e-14)
    assert torch.equal(sym, sym.transpose(1, 2))


@pytest.mark.parametrize("activation", ["tanh", "gelu", "silu"])
def test_series_tiles_agree_with_diagonal_and_float32(activation):
    # The tiled off-diagonal path against the per-entry diagonal path (the same coefficients,
    # summed entry by entry), and float32 (float32 tables) against float64.
    x1, x2 = _series_data(37, 41)
    kwargs = dict(depth=5, activation=activation, sigma_w2=1.8, sigma_b2=0.1)
    full = torch.stack(fc_kernel(x1, **kwargs))
    diagonal = torch.stack(fc_kernel(x1, diagonal=True, **kwargs))
    torch.testing.assert_close(torch.diagonal(full, dim1=1, dim2=2), diagonal, rtol=1e-12, atol=1e-13)
    for other in (x2, None):
        k64 = torch.stack(fc_kernel(x1, other, **kwargs))
        k32 = torch.stack(fc_kernel(x1.float(), None if other is None else other.float(), **kwargs))
        torch.testing.assert_close(k32.double(), k64, rtol=2e-5, atol=2e-5)
    # Row blocks of the rectangular kernel are the kernel of the row block (no coupling between
    # rows other than through the shared truncation, which only adds terms).
    block = torch.stack(fc_kernel(x1[5:9], x2, **kwargs))
    torch.testing.assert_close(block, torch.stack(fc_kernel(x1, x2, **kwargs))[:, 5:9], rtol=1e-12, atol=1e-13)


def test_backward_op_checks_grad(device):
    # The private backward reads grad through raw pointers on every device: a grad of another
    # shape (the CUDA kernel did not check it) or dtype is a named error, on meta too.
    backward = torch.ops.statmech._fc_kernel_backward
    x1, x2 = (x.to(device) for x in _data(3, 5, 4))
    w, b = (torch.tensor(v, dtype=torch.float64, device=device) for v in (1.5, 0.1))
    rest = (2, "tanh", None, "ntk", 1.0, True, True, False, [True] * 4)
    grad = torch.ones(2, 3, 5, dtype=torch.float64, device=device)
    assert [tuple(g.shape) for g in backward(grad, x1, x2, w, b, *rest)] == [(3, 4), (5, 4), (), ()]
    for dev in (device, "meta"):
        args = [t.to(dev) for t in (x1, x2, w, b)]
        with pytest.raises(RuntimeError, match=r"_fc_kernel_backward: grad must have the output's shape"):
            backward(grad[:, :, :2].to(dev), *args, *rest)
        with pytest.raises(RuntimeError, match="_fc_kernel_backward: grad has dtype Float but x1 has dtype Double"):
            backward(grad.float().to(dev), *args, *rest)


def test_ntk_predict_checks_targets():
    x = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"ntk_predict: y_train must be \[N\] or \[N, k\] with N = x_train.shape\[0\] = 4"):
        statmech.gp.ntk_predict(x, torch.zeros(5, dtype=torch.float64), x, depth=2, activation="relu", sigma_w2=2.0,
                                sigma_b2=0.1)


def test_cuda_rows_beyond_one_launch(device):
    if device.type != "cuda":
        pytest.skip("the CUDA kernel's launch limit")
    # The row tiles of x1 go on gridDim.y (<= 65535 tiles of 16 rows per launch): more rows take
    # several launches. The last rows, in the second launch, against the CPU kernel; forward and
    # backward.
    n = 65535 * 16 + 37
    x1 = torch.randn(n, 2, dtype=torch.float64, device=device, requires_grad=True)
    x2 = torch.randn(3, 2, dtype=torch.float64, device=device)
    nngp, ntk = fc_kernel(x1, x2, depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.1)
    tail = x1.detach()[-300:].cpu().requires_grad_()
    ref_nngp, ref_ntk = fc_kernel(tail, x2.cpu(), depth=2, activation="relu", sigma_w2=2.0, sigma_b2=0.1)
    torch.testing.assert_close(nngp[-300:].cpu(), ref_nngp)
    torch.testing.assert_close(ntk[-300:].cpu(), ref_ntk)
    (grad,) = torch.autograd.grad((nngp + ntk).sum(), x1)
    (ref_grad,) = torch.autograd.grad((ref_nngp + ref_ntk).sum(), tail)
    torch.testing.assert_close(grad[-300:].cpu(), ref_grad)
    head = x1.detach()[:5].cpu()
    torch.testing.assert_close(nngp[:5].detach().cpu(), fc_kernel(head, x2.cpu(), depth=2, activation="relu",
                                                                   sigma_w2=2.0, sigma_b2=0.1)[0])
