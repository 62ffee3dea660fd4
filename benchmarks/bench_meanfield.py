"""Mean-field calculator against the method of the authors' reference code, side by side.

    python benchmarks/bench_meanfield.py [--activation tanh] [--line-subset 20] [--grid-subset 8]

The reference (written here, as in the code released with Poole et al. 2016 / Schoenholz et al.
2017): every Gaussian expectation is a `scipy.integrate.quad` call (a `scipy.integrate.dblquad`
call for the two-dimensional ones), fixed points are found by iterating the maps, and the
critical sigma_w2 by `scipy.optimize.brentq` on chi_1(sigma_w2) - 1, each chi_1 after its own
fixed-point iteration. Ours: statmech.meanfield.critical_line and phase_diagram, float64.

Workloads: the critical line at 1,000 values of sigma_b2, and a 200 x 200 phase diagram over
sigma_w2 in [1, 4], sigma_b2 in [0, 0.3]. The reference is far too slow for the full workloads, so
it runs on a random subset of the points (--line-subset, --grid-subset); its time per point is
extrapolated to the full workload, and the disagreement is measured on that subset.
"""

import argparse
import math
import time

import numpy as np
import torch
from scipy import integrate, optimize

import statmech
from harness import machine_description, median_seconds, print_table
from statmech import meanfield

SQRT_2PI = math.sqrt(2 * math.pi)
ACTIVATIONS = {
    "tanh": (math.tanh, lambda x: 1.0 - math.tanh(x) ** 2),
    "erf": (lambda x: math.erf(x), lambda x: 2 / math.sqrt(math.pi) * math.exp(-x * x)),
}


class Reference:
    """The quad-per-expectation, iterate-to-convergence method."""

    def __init__(self, phi, dphi, tol=1e-10, max_iterations=500):
        self.phi, self.dphi, self.tol, self.max_iterations = phi, dphi, tol, max_iterations

    @staticmethod
    def gaussian(f):
        return integrate.quad(lambda z: f(z) * math.exp(-z * z / 2) / SQRT_2PI, -np.inf, np.inf)[0]

    @staticmethod
    def gaussian_2d(f, q, c):
        s = math.sqrt(max(1 - c * c, 0.0))
        r = math.sqrt(q)
        return integrate.dblquad(
            lambda y, x: f(r * x) * f(r * (c * x + s * y)) * math.exp(-(x * x + y * y) / 2) / (2 * math.pi),
            -10, 10, -10, 10,
        )[0]

    def q_star(self, w, b):
        q = 1.0
        for _ in range(self.max_iterations):
            nxt = w * self.gaussian(lambda z: self.phi(math.sqrt(q) * z) ** 2) + b
            if abs(nxt - q) < self.tol * max(q, 1e-12):
                return nxt, True
            q = nxt
        return q, False

    def chi_1(self, w, q):
        return w * self.gaussian(lambda z: self.dphi(math.sqrt(q) * z) ** 2)

    def critical_sigma_w2(self, b):
        return optimize.brentq(lambda w: self.chi_1(w, self.q_star(w, b)[0]) - 1.0, 0.5, 5.0, xtol=1e-12)

    def fixed_point(self, w, b):
        """(q*, chi_1, c*, chi_c, converged)."""
        q, converged = self.q_star(w, b)
        chi_1 = self.chi_1(w, q)
        c = 0.5
        for _ in range(self.max_iterations):
            nxt = min((w * self.gaussian_2d(self.phi, q, c) + b) / q, 1.0)
            if abs(nxt - c) < self.tol:
                c = nxt
                break
            c = nxt
        else:
            converged = False
        chi_c = w * self.gaussian_2d(self.dphi, q, c)
        return q, chi_1, c, chi_c, converged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activation", default="tanh", choices=sorted(ACTIVATIONS))
    parser.add_argument("--line-points", type=int, default=1000)
    parser.add_argument("--grid", type=int, default=200)
    parser.add_argument("--line-subset", type=int, default=20)
    parser.add_argument("--grid-subset", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device("cpu")
    rng = np.random.default_rng(args.seed)
    reference = Reference(*ACTIVATIONS[args.activation])
    act = args.activation
    print(f"machine: {machine_description(device)}")

    # --- critical line ---------------------------------------------------------------------
    sigma_b2 = torch.linspace(1e-3, 0.3, args.line_points, dtype=torch.float64)
    ours_line_time = median_seconds(lambda: meanfield.critical_line(sigma_b2, act), device, warmup=1, repeats=5)
    line = meanfield.critical_line(sigma_b2, act)
    subset = rng.choice(args.line_points, size=args.line_subset, replace=False)
    start = time.perf_counter()
    ref_line = [reference.critical_sigma_w2(float(sigma_b2[i])) for i in subset]
    ref_line_time = (time.perf_counter() - start) / len(subset) * args.line_points
    line_disagreement = max(abs(line[i].item() - r) / r for i, r in zip(subset, ref_line))

    # --- phase diagram ---------------------------------------------------------------------
    sigma_w2 = torch.linspace(1.0, 4.0, args.grid, dtype=torch.float64)
    sigma_b2_grid = torch.linspace(0.0, 0.3, args.grid, dtype=torch.float64)
    start = time.perf_counter()
    diagram = meanfield.phase_diagram(sigma_w2, sigma_b2_grid, act)
    ours_grid_time = time.perf_counter() - start  # one run: it takes seconds
    points = [(int(i), int(j)) for i, j in zip(rng.integers(0, args.grid, args.grid_subset), rng.integers(0, args.grid, args.grid_subset))]
    start = time.perf_counter()
    ref_points = [reference.fixed_point(float(sigma_w2[i]), float(sigma_b2_grid[j])) for i, j in points]
    ref_grid_time = (time.perf_counter() - start) / len(points) * args.grid**2
    worst = {"q_star": 0.0, "chi_1": 0.0, "c_star": 0.0, "chi_c": 0.0}
    unconverged = 0
    for (i, j), (q, chi_1, c, chi_c, converged) in zip(points, ref_points):
        if not converged:
            unconverged += 1
            print(f"  reference did not converge at sigma_w2={sigma_w2[i].item():.4g}, sigma_b2={sigma_b2_grid[j].item():.4g}: "
                  f"excluded from the disagreement (ours: {meanfield.fixed_point(sigma_w2[i].item(), sigma_b2_grid[j].item(), act)})")
            continue
        worst["q_star"] = max(worst["q_star"], abs(diagram.q_star[i, j].item() - q) / q)
        worst["chi_1"] = max(worst["chi_1"], abs(diagram.chi_1[i, j].item() - chi_1) / chi_1)
        worst["c_star"] = max(worst["c_star"], abs(diagram.c_star[i, j].item() - c))
        worst["chi_c"] = max(worst["chi_c"], abs(diagram.chi_c[i, j].item() - chi_c) / chi_c)

    print_table(
        f"Mean-field calculator ({act}, float64) vs quad-per-expectation reference",
        ["workload", "reference (s)", "ours (s)", "ours / reference", "speed-up", "largest disagreement"],
        [
            [f"critical line, {args.line_points} sigma_b2", f"{ref_line_time:.1f}*", f"{ours_line_time:.3f}",
             f"{ours_line_time / ref_line_time:.2e}", f"{ref_line_time / ours_line_time:.0f}x",
             f"sigma_w2 rel. {line_disagreement:.1e}"],
            [f"phase diagram {args.grid}x{args.grid}", f"{ref_grid_time:.0f}*", f"{ours_grid_time:.2f}",
             f"{ours_grid_time / ref_grid_time:.2e}", f"{ref_grid_time / ours_grid_time:.0f}x",
             ", ".join(f"{k} {v:.1e}" for k, v in worst.items()) + " (c_star abs., others rel.)"],
        ],
    )
    print(
        f"\n* reference time extrapolated from {args.line_subset} random critical-line points and "
        f"{args.grid_subset} random grid points (seconds per point x number of points); the "
        f"disagreement is measured on those points ({unconverged} grid point(s) where the reference's "
        "iteration had not converged excluded). The reference stops iterating at a relative "
        "change of 1e-10 (at most 500 iterations) with quad's default tolerances (1.5e-8), so "
        "near the critical line, where the maps converge slowly, its fixed points are the less "
        "accurate side."
    )


if __name__ == "__main__":
    main()
