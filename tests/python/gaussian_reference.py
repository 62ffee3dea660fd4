"""An independent reference for Gaussian expectations, shared by the tests and
benchmarks/accuracy_dual_activation.py. It uses scipy only, none of statmech's code.

E[f(u) f(v)] for u, v of variances q1, q2 and correlation c, by nested scipy.integrate.quad in the
Cholesky parameterisation u = sqrt(q1) x, v = sqrt(q2) (c x + s y), s = sqrt(1 - c^2), split at the
kinks of f and, around the kinks of x -> f(sqrt(q2) c x), at geometric distances ~s/|c| where the
inner mean steepens (without them quad was off by 1e-6 at c = 1 - 1e-6).
"""

import math

from scipy import integrate


def _density(t):
    return math.exp(-t * t / 2) / math.sqrt(2 * math.pi)


def quad_dual(f, kinks, q1, q2, c):
    """f: a scalar function of a float; kinks: where f or f' jumps."""
    s = math.sqrt(max((1 - c) * (1 + c), 0.0))
    opts = dict(epsabs=1e-15, epsrel=1e-13, limit=200)

    def inner(x):
        m = math.sqrt(q2) * c * x
        if s == 0:
            return f(m)
        sd = math.sqrt(q2) * s
        pts = [(k - m) / sd for k in kinks if abs((k - m) / sd) < 12]
        return integrate.quad(lambda y: f(m + sd * y) * _density(y), -12, 12, points=pts or None, **opts)[0]

    pts = [k / math.sqrt(q1) for k in kinks]
    for k in kinks if c != 0 else []:
        centre = k / (math.sqrt(q2) * c)
        pts.append(centre)
        h = s / abs(c)
        while 0 < h < 1:
            pts += [centre - h, centre + h]
            h *= 2
    edges = sorted({-12.0, 12.0, *[p for p in pts if abs(p) < 12]})
    outer = lambda x: f(math.sqrt(q1) * x) * inner(x) * _density(x)
    return sum(integrate.quad(outer, a, b, **opts)[0] for a, b in zip(edges[:-1], edges[1:]))
