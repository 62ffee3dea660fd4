"""fc_kernel with the activations evaluated by conditional quadrature (elu, selu, hard_tanh and
user-defined callables): values against nested adaptive quadrature written here, gradients
(gradcheck, float64, duplicate rows, x1 = x2, diagonal), opcheck, modules, errors."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

import statmech  # noqa: F401
from statmech import meanfield
from statmech.gp import NNGPKernel, NTKKernel, fc_kernel, fc_kernel_matmul

SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _elu(alpha, scale=1.0):
    return (lambda x: scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
            lambda x: scale * np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))), [0.0])


ACTIVATIONS = {
    # name, activation_parameter -> (phi, phi', kinks)
    ("elu", None): _elu(1.0),
    ("elu", 0.5): _elu(0.5),
    ("selu", None): _elu(SELU_ALPHA, SELU_SCALE),
    ("hard_tanh", None): (lambda x: np.clip(x, -1, 1), lambda x: (np.abs(x) < 1).astype(float), [-1.0, 1.0]),
}


def _nested_dual(phi, dphi, kinks, a, b, c):
    """k, kd by nested scipy.integrate.quad over x, y ~ N(0, 1) with u = sqrt(a) x,
    v = sqrt(b) (c x + s y), split at every kink in both variables."""
    ra, rb = math.sqrt(a), math.sqrt(b)
    s = math.sqrt(max(1 - c * c, 0.0))
    gauss = lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)  # noqa: E731
    lim = 12.0
    outer_points = sorted({t / ra for t in kinks} | ({t / (rb * c) for t in kinks} if c != 0 else set()))
    outer_points = [p for p in outer_points if -lim < p < lim]

    def inner(f, x):
        if s == 0:
            return float(f(rb * c * x))
        points = [(t - rb * c * x) / (rb * s) for t in kinks]
        points = [p for p in points if -lim < p < lim]
        return integrate.quad(lambda y: float(f(rb * (c * x + s * y))) * gauss(y), -lim, lim, points=points or None,
                              epsabs=1e-14, epsrel=1e-12, limit=200)[0]

    def outer(f):
        return integrate.quad(lambda x: float(f(ra * x)) * inner(f, x) * gauss(x), -lim, lim,
                              points=outer_points or None, epsabs=1e-14, epsrel=1e-12, limit=200)[0]

    return outer(phi), outer(dphi)


def _moment(phi, kinks, q):
    r = math.sqrt(q)
    points = [t / r for t in kinks if abs(t / r) < 12]
    return integrate.quad(lambda x: float(phi(r * x)) ** 2 * math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi),
                          -12, 12, points=points or None, epsabs=1e-15, epsrel=1e-13, limit=200)[0]


def _reference(x, depth, phi, dphi, kinks, sw2, sb2):
    """The NNGP / NTK recursion (ntk parameterisation) entry by entry with nested quadrature."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    nngp, ntk = np.empty((n, n)), np.empty((n, n))
    q = [sw2 * float(x[i] @ x[i]) / d + sb2 for i in range(n)]
    qs = [q]
    for _ in range(depth):
        qs.append([sw2 * _moment(phi, kinks, v) + sb2 for v in qs[-1]])
    for i in range(n):
        for j in range(i, n):
            cov = sw2 * float(x[i] @ x[j]) / d + sb2
            theta = cov
            for layer in range(depth):
                a, b = qs[layer][i], qs[layer][j]
                c = float(np.clip(cov / math.sqrt(a * b), -1, 1))
                c = 1.0 if c > 1 - 1e-14 else c
                k, kd = _nested_dual(phi, dphi, kinks, a, b, c)
                cov = sw2 * k + sb2
                theta = cov + sw2 * kd * theta
            nngp[i, j] = nngp[j, i] = cov
            ntk[i, j] = ntk[j, i] = theta
    return nngp, ntk


def _data(n=3, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64)


# ---- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,parameter,depth", [("elu", None, 1), ("elu", 0.5, 2), ("selu", None, 1),
                                                  ("hard_tanh", None, 2)])
def test_values_match_nested_quadrature(name, parameter, depth):
    x = _data()
    phi, dphi, kinks = ACTIVATIONS[(name, parameter)]
    ref_nngp, ref_ntk = _reference(x, depth, phi, dphi, kinks, 1.6, 0.2)
    nngp, ntk = fc_kernel(x, depth=depth, activation=name, activation_parameter=parameter, sigma_w2=1.6, sigma_b2=0.2)
    np.testing.assert_allclose(nngp.numpy(), ref_nngp, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(ntk.numpy(), ref_ntk, rtol=1e-11, atol=1e-12)
    # x2 given (the full rectangle), the diagonal pass, float32.
    full = fc_kernel(x, x.clone(), depth=depth, activation=name, activation_parameter=parameter, sigma_w2=1.6,
                     sigma_b2=0.2)
    torch.testing.assert_close(full[0], nngp, rtol=1e-13, atol=1e-13)
    diag = fc_kernel(x, depth=depth, activation=name, activation_parameter=parameter, sigma_w2=1.6, sigma_b2=0.2,
                     diagonal=True)
    torch.testing.assert_close(diag[1], ntk.diagonal(), rtol=1e-13, atol=1e-13)
    single = fc_kernel(x.float(), depth=depth, activation=name, activation_parameter=parameter, sigma_w2=1.6,
                       sigma_b2=0.2)
    assert single[0].dtype == torch.float32
    torch.testing.assert_close(single[1].double(), ntk, rtol=1e-6, atol=1e-6)


def test_activation_objects_and_elu_alpha_one_is_default():
    x = _data(4)
    by_name = fc_kernel(x, depth=2, activation="elu", sigma_w2=1.5, sigma_b2=0.1)
    by_object = fc_kernel(x, depth=2, activation=meanfield.activation("elu", alpha=1.0), sigma_w2=1.5, sigma_b2=0.1)
    torch.testing.assert_close(by_object, by_name, rtol=0, atol=0)
    other = fc_kernel(x, depth=2, activation=meanfield.activation("elu", alpha=0.5), sigma_w2=1.5, sigma_b2=0.1)
    assert not torch.allclose(other[0], by_name[0])
    with pytest.raises(ValueError, match="activation_parameter given together with an Activation"):
        fc_kernel(x, depth=1, activation=meanfield.activation("elu"), activation_parameter=0.3, sigma_w2=1.0,
                  sigma_b2=0.1)


# ---- gradients ------------------------------------------------------------------------------------


def _gradcheck_inputs(n=4, duplicate=True):
    x = _data(n, 3, seed=1)
    if duplicate:
        x[2] = x[0]
    w = torch.tensor(1.4, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    return x.requires_grad_(), w, b


@pytest.mark.parametrize("name,parameter", [("elu", 0.5), ("selu", None), ("hard_tanh", None)])
def test_gradcheck(name, parameter):
    kw = dict(depth=2, activation=name, activation_parameter=parameter)
    # x2 = None with duplicate rows (correlation exactly 1 off the diagonal). The NNGP is smooth
    # there. The NTK of these kinked activations (phi' jumps) has a cone in a single row at
    # duplicates, as relu's does (test_gp_fc_kernel.py); the backward returns its symmetric
    # (central-difference) derivative, checked with eps = 1e-4 (sqrt(rounding) limits smaller steps).
    x, w, b = _gradcheck_inputs()
    assert torch.autograd.gradcheck(lambda x_, w_, b_: fc_kernel(x_, sigma_w2=w_, sigma_b2=b_, get="nngp", **kw),
                                    (x, w, b))
    assert torch.autograd.gradcheck(lambda x_, w_, b_: fc_kernel(x_, sigma_w2=w_, sigma_b2=b_, get="ntk", **kw),
                                    (x, w, b), eps=1e-4, atol=1e-5, rtol=1e-3)
    # Distinct rows: both kernels, x1 and x2, and the standard parameterisation.
    x, w, b = _gradcheck_inputs(3, duplicate=False)
    x2 = _data(2, 3, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, c, w_, b_: torch.stack(fc_kernel(a, c, sigma_w2=w_, sigma_b2=b_, parameterization="standard",
                                                   width=3.0, **kw)), (x, x2, w, b))
    assert torch.autograd.gradcheck(
        lambda a, w_, b_: torch.stack(fc_kernel(a, sigma_w2=w_, sigma_b2=b_, diagonal=True, **kw)), (x, w, b))


def test_hard_tanh_ntk_gradient_at_duplicates_is_the_mean_of_one_sided_ones():
    x = _data(4, 3, seed=1)
    x[2] = x[0]
    xs = x.clone().requires_grad_()
    fc_kernel(xs, depth=1, activation="hard_tanh", sigma_w2=1.4, sigma_b2=0.3, get="ntk")[0, 2].backward()
    h = 1e-6
    for k in range(3):
        def entry(eps):
            moved = x.clone()
            moved[0, k] += eps
            return float(fc_kernel(moved, depth=1, activation="hard_tanh", sigma_w2=1.4, sigma_b2=0.3, get="ntk")[0, 2])
        central = (entry(h) - entry(-h)) / (2 * h)
        assert abs(float(xs.grad[0, k]) - central) < 1e-5


def test_gradients_finite_at_correlation_one_and_minus_one():
    x = _data(3, 3, seed=4)
    x = torch.cat([x, x[:1], -x[:1]]).requires_grad_()
    for name in ("elu", "selu", "hard_tanh"):
        nngp, ntk = fc_kernel(x, depth=3, activation=name, sigma_w2=1.5, sigma_b2=0.0)
        (grad,) = torch.autograd.grad((nngp + ntk).sum(), x)
        assert torch.isfinite(grad).all()


def test_opcheck():
    x = _data(4, 3)
    x2 = _data(3, 3, seed=5)
    w = torch.tensor(1.5, dtype=torch.float64)
    b = torch.tensor(0.2, dtype=torch.float64)
    for args in [(x, x2, w, b, 2, "elu", 0.5), (x, None, w, b, 1, "selu", None),
                 (x.requires_grad_(), x2.requires_grad_(), w.requires_grad_(), b, 1, "hard_tanh", None)]:
        torch.library.opcheck(torch.ops.statmech.fc_kernel.default, args)
    v = torch.randn(3, dtype=torch.float64)
    torch.library.opcheck(torch.ops.statmech.fc_kernel_matmul.default,
                          (x.detach(), x2.detach(), v, w.detach(), b, 1, "selu"), {"block_size": 2})


# ---- custom activations -----------------------------------------------------------------------------


def test_custom_matches_builtin_and_nested_quadrature():
    x = _data(3, 2, seed=6)
    elu = meanfield.activation(lambda t: torch.where(t > 0, t, 0.5 * torch.expm1(t)), kinks=[0.0])
    custom = fc_kernel(x, depth=1, activation=elu, sigma_w2=1.5, sigma_b2=0.2)
    builtin = fc_kernel(x, depth=1, activation="elu", activation_parameter=0.5, sigma_w2=1.5, sigma_b2=0.2)
    torch.testing.assert_close(custom, builtin, rtol=1e-10, atol=1e-12)
    # A smooth callable without a built-in name, against the nested-quadrature recursion.
    phi = lambda t: np.sin(t) + 0.3 * t  # noqa: E731
    dphi = lambda t: np.cos(t) + 0.3  # noqa: E731
    nngp, ntk = fc_kernel(x, depth=1, activation=lambda t: torch.sin(t) + 0.3 * t, sigma_w2=1.5, sigma_b2=0.2)
    ref_nngp, ref_ntk = _reference(x, 1, phi, dphi, [], 1.5, 0.2)
    np.testing.assert_allclose(nngp.numpy(), ref_nngp, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ntk.numpy(), ref_ntk, rtol=1e-10, atol=1e-12)


def test_custom_gradcheck_with_kink():
    # relu6-like: kinks at 0 and 1 (declared); duplicate rows and the diagonal included.
    act = meanfield.activation(lambda t: torch.clamp(t, 0.0, 1.0) + 0.1 * t, kinks=[0.0, 1.0])
    x = _data(3, 2, seed=7)
    x[2] = x[0]
    x.requires_grad_()
    w = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, w_, b_: fc_kernel(a, depth=1, activation=act, sigma_w2=w_, sigma_b2=b_, get="nngp"), (x, w, b))
    distinct = _data(2, 2, seed=8).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, w_, b_: torch.stack(fc_kernel(a, depth=1, activation=act, sigma_w2=w_, sigma_b2=b_)),
        (distinct, w, b))


def test_custom_errors():
    x = _data(3, 2)
    step = meanfield.activation(lambda t: (t > 0).double() + 0 * t, jumps=[0.0])
    with pytest.raises(RuntimeError, match="declares jumps"):
        fc_kernel(x, depth=1, activation=step, sigma_w2=1.0, sigma_b2=0.1)
    with pytest.raises(TypeError, match="custom activations are not supported"):
        fc_kernel_matmul(x, None, torch.ones(3, dtype=torch.float64), depth=1, activation=torch.tanh, sigma_w2=1.0,
                         sigma_b2=0.1)
    with pytest.raises(RuntimeError, match="fc_kernel_activation: depth .* must be >= 0"):
        fc_kernel(x, depth=-1, activation=torch.tanh, sigma_w2=1.0, sigma_b2=0.1)


# ---- modules ----------------------------------------------------------------------------------------


def test_modules_take_the_new_activations():
    x = _data(4, 3)
    for module, get in ((NNGPKernel, "nngp"), (NTKKernel, "ntk")):
        kernel = module(depth=2, activation="elu", activation_parameter=0.7, sigma_w2=1.5, sigma_b2=0.2).double()
        ref = fc_kernel(x, depth=2, activation="elu", activation_parameter=0.7, sigma_w2=kernel.sigma_w2,
                        sigma_b2=kernel.sigma_b2, get=get)
        torch.testing.assert_close(kernel(x), ref)
        scripted = torch.jit.script(kernel)
        torch.testing.assert_close(scripted(x), ref)
        compiled = torch.compile(kernel, fullgraph=True, backend="aot_eager")
        torch.testing.assert_close(compiled(x), ref)
        assert "activation_parameter=0.7" in repr(kernel)
        custom = module(depth=1, activation=lambda t: torch.sin(t) + 0.3 * t).double()
        value = custom(x)
        value.sum().backward()
        assert custom.raw_sigma_w2.grad is not None and torch.isfinite(custom.raw_sigma_w2.grad)
        assert "custom" in repr(custom)


def test_device_matches_cpu(device):
    # On CUDA these activations are computed on the CPU and copied back (same numbers, same device).
    x1, x2 = _data(5, 3, seed=9), _data(4, 3, seed=10)
    cpu = fc_kernel(x1, x2, depth=2, activation="selu", sigma_w2=1.5, sigma_b2=0.2)
    dev = fc_kernel(x1.to(device), x2.to(device), depth=2, activation="selu", sigma_w2=1.5, sigma_b2=0.2)
    assert dev[0].device.type == device.type
    torch.testing.assert_close(dev[1].cpu(), cpu[1], rtol=1e-12, atol=1e-12)
    a = x1.clone().to(device).requires_grad_()
    fc_kernel(a, depth=2, activation="hard_tanh", sigma_w2=1.5, sigma_b2=0.2, get="ntk").sum().backward()
    b = x1.clone().requires_grad_()
    fc_kernel(b, depth=2, activation="hard_tanh", sigma_w2=1.5, sigma_b2=0.2, get="ntk").sum().backward()
    assert a.grad.device.type == device.type
    torch.testing.assert_close(a.grad.cpu(), b.grad, rtol=1e-12, atol=1e-12)


def test_custom_activation_from_several_python_threads_does_not_deadlock():
    # The custom path releases the interpreter lock and takes it again for each call of the
    # function, from the calling thread only; two Python threads (and the main one waiting on
    # them) must all finish, forward and backward.
    import threading

    act = meanfield.activation(lambda t: torch.sin(t) + 0.3 * t)
    x = _data(3, 2, seed=12)
    expected = fc_kernel(x, depth=1, activation=act, sigma_w2=1.2, sigma_b2=0.1, get="nngp")
    results = [None, None]

    def work(slot):
        xs = x.clone().requires_grad_()
        out = fc_kernel(xs, depth=1, activation=act, sigma_w2=1.2, sigma_b2=0.1, get="nngp")
        out.sum().backward()
        results[slot] = (out.detach(), xs.grad)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "custom activation deadlocked"
    for out, grad in results:
        torch.testing.assert_close(out, expected)
        assert torch.isfinite(grad).all()
