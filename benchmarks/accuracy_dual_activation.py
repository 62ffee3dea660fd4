"""Accuracy of the dual-activation core against independent references, float64.

    python benchmarks/accuracy_dual_activation.py [--quick]

References, none of which shares code with the core:
- smooth activations: a 2-D trapezoid rule in the eigenbasis of the covariance,
  step 0.04 on [-11, 11]^2 (551^2 nodes). For an integrand analytic in a strip of half-width d
  the trapezoid error is ~exp(-2 pi d / h): for tanh at q = 10 (d ~ 0.5), ~1e-34.
- piecewise activations (relu family, abs, step, sign, elu, selu, hard_tanh): nested
  scipy.integrate.quad with the kinks passed as breakpoints.
Piecewise activations use the smaller grid of --quick (nested quad is slow): q in {1e-3, 0.3, 10},
9 correlations. Errors are relative to |k| where |k| >= 1e-3 of the Cauchy-Schwarz scale sqrt(E[phi(u)^2] E[phi(v)^2])
(else relative to that scale), over q1, q2 in [1e-3, 10] and c in [-1, 1], c within 1e-6 of +-1 included.
"""

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import integrate, special

import statmech  # noqa: F401
from statmech._C import meanfield as native

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
from gaussian_reference import quad_dual  # noqa: E402  (the independent reference the tests use)

SELU_SCALE, SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


def numpy_activation(name):
    """phi and phi' written with numpy, independently of the C++ evaluation."""
    sig = lambda x: special.expit(x)
    table = {
        "tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2),
        "sigmoid": (sig, lambda x: sig(x) * sig(-x)),
        "gelu": (lambda x: x * special.ndtr(x), lambda x: special.ndtr(x) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)),
        "silu": (lambda x: x * sig(x), lambda x: sig(x) * (1 + x * sig(-x))),
        "softplus": (lambda x: np.logaddexp(0, x), sig),
        "erf": (special.erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x)),
        "sin": (np.sin, np.cos),
        "cos": (np.cos, lambda x: -np.sin(x)),
        "linear": (lambda x: x, lambda x: np.ones_like(x)),
        "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
        "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.where(x > 0, 1.0, 0.01)),
        "abs": (np.abs, np.sign),
        "step": (lambda x: (x > 0) * 1.0, None),
        "sign": (np.sign, None),
        "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))),
        "selu": (
            lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0))),
            lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0))),
        ),
        "hard_tanh": (lambda x: np.clip(x, -1, 1), lambda x: (np.abs(x) < 1) * 1.0),
    }
    return table[name]


KINKS = {"relu": [0.0], "leaky_relu": [0.0], "abs": [0.0], "step": [0.0], "sign": [0.0], "elu": [0.0], "selu": [0.0], "hard_tanh": [-1.0, 1.0]}


def trapezoid_reference(f, q1, q2, c, h=0.04, reach=11.0):
    cov = np.array([[q1, c * math.sqrt(q1 * q2)], [c * math.sqrt(q1 * q2), q2]])
    lam, vec = np.linalg.eigh(cov)
    lam = np.maximum(lam, 0.0)
    a = np.arange(-reach, reach + h / 2, h)
    w = h * np.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    A, B = np.meshgrid(a, a, indexing="ij")
    W = np.outer(w, w)
    u = vec[0, 0] * math.sqrt(lam[0]) * A + vec[0, 1] * math.sqrt(lam[1]) * B
    v = vec[1, 0] * math.sqrt(lam[0]) * A + vec[1, 1] * math.sqrt(lam[1]) * B
    return float((W * f(u) * f(v)).sum())


def nested_quad_reference(f, kinks, q1, q2, c):
    """E[f(u) f(v)] by nested scipy quad (tests/python/gaussian_reference.py), f given in numpy."""
    return quad_dual(lambda t: float(f(np.array(t))), kinks, q1, q2, c)


def grid(quick):
    qs = [1e-3, 0.3, 10.0] if quick else [1e-3, 0.05, 1.0, 3.0, 10.0]
    cs = [-1.0, -1 + 1e-6, -0.7, 0.0, 0.3, 0.9, 0.999, 1 - 1e-6, 1.0] if quick else [
        -1.0, -1 + 1e-6, -0.99, -0.7, -0.3, 0.0, 0.2, 0.5, 0.8, 0.95, 0.999, 1 - 1e-6, 1.0]
    return [(q1, q2, c) for q1 in qs for q2 in qs for c in cs]


def measure(name, quick):
    f, df = numpy_activation(name)
    act = native.Activation.named(name)
    kinks = KINKS.get(name)
    worst_k = worst_kdot = 0.0
    where = None
    for q1, q2, c in grid(quick or kinks is not None):
        if kinks is None:
            ref_k = trapezoid_reference(f, q1, q2, c)
            ref_d = trapezoid_reference(df, q1, q2, c)
            scale_k = math.sqrt(trapezoid_reference(f, q1, q1, 1.0) * trapezoid_reference(f, q2, q2, 1.0))
            scale_d = math.sqrt(trapezoid_reference(df, q1, q1, 1.0) * trapezoid_reference(df, q2, q2, 1.0))
        else:
            ref_k = nested_quad_reference(f, kinks, q1, q2, c)
            scale_k = math.sqrt(nested_quad_reference(f, kinks, q1, q1, 1.0) * nested_quad_reference(f, kinks, q2, q2, 1.0))
            if df is not None and abs(c) < 1:
                ref_d = nested_quad_reference(df, kinks, q1, q2, c)
                scale_d = math.sqrt(nested_quad_reference(df, kinks, q1, q1, 1.0) * nested_quad_reference(df, kinks, q2, q2, 1.0))
            else:
                ref_d = None
        k, kdot = native.dual_kernel(act, q1, q2, c)
        err_k = abs(k - ref_k) / max(abs(ref_k), 1e-3 * scale_k)
        if err_k > worst_k:
            worst_k, where = err_k, (q1, q2, c)
        if ref_d is not None:
            worst_kdot = max(worst_kdot, abs(kdot - ref_d) / max(abs(ref_d), 1e-3 * scale_d))
    return worst_k, worst_kdot, where


def main():
    warnings.simplefilter("ignore")  # quad's roundoff warnings at its 1e-14 target
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    names = args.names or ["tanh", "sigmoid", "gelu", "silu", "softplus", "erf", "sin", "cos", "linear",
                           "relu", "leaky_relu", "abs", "step", "sign", "elu", "selu", "hard_tanh"]
    print("| activation | max rel. error k | max rel. error kdot | worst (q1, q2, c) for k |")
    print("|---|---|---|---|")
    for name in names:
        k, kd, where = measure(name, args.quick)
        kd_text = "n/a (phi' is a Dirac delta)" if numpy_activation(name)[1] is None else f"{kd:.1e}"
        print(f"| {name} | {k:.1e} | {kd_text} | {where} |", flush=True)


if __name__ == "__main__":
    main()
