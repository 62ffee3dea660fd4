#pragma once

// Quadrature rules for Gaussian expectations E[g(z)], z ~ N(0, 1).
//
// Why composite Gauss-Legendre and not Gauss-Hermite: an n-point Gauss-Hermite rule spreads its
// nodes over |z| < ~2 sqrt(n), so its resolution near the origin only grows like sqrt(n). For
// tanh(sqrt(q) z) at q = 10 (poles at distance pi / (2 sqrt(10)) ~ 0.5 from the real axis) we
// measured 300 Gauss-Hermite nodes to give only 8e-7 relative error on E[phi^2], whereas panels of
// half-width <= the pole distance with 20 Gauss-Legendre nodes each give ~1e-15 with ~400 nodes.
// Panels also take breakpoints, so piecewise activations (elu, hard_tanh, ...) are integrated
// piece by piece with exponential convergence instead of the algebraic rate across a kink.
// The Legendre nodes come from the Golub-Welsch eigenproblem, never from a table.

#include <cstdint>
#include <vector>

namespace statmech::quadrature {

struct Rule {
  std::vector<double> nodes;
  std::vector<double> weights;
};

// The n-point Gauss-Legendre rule on [-1, 1] by Golub-Welsch: the nodes are the eigenvalues of
// the symmetric tridiagonal Jacobi matrix of the Legendre recurrence, the weights 2 v_0^2 from
// its normalised eigenvectors (at::linalg_eigh in float64). Computed once per n and cached.
const Rule& gauss_legendre(int64_t n);

// Nodes per panel of the composite rules below.
constexpr int64_t kPanelNodes = 20;

// Appends to `rule` a composite rule for the integral of g(z) * N(z; 0, 1) over [lo, hi]: the
// interval is split at `breakpoints` (those inside it) and each piece into panels of half-width at
// most `half_width`, each with kPanelNodes Gauss-Legendre nodes. The weights include the standard
// normal density, so sum_i w_i g(z_i) approximates E[g(z) 1(lo < z < hi)].
//
// With a finite `centre`, g is taken to be rough only near it (the activations here have their
// complex singularities and kinks at real part 0, so phi(m + s z) is rough only near z = -m / s):
// the mesh is graded geometrically away from the centre, a piece at distance r getting panels of
// half-width up to max(half_width, r / 2), never more than `widest`. The nodes then grow like
// log(1 / half_width) instead of 1 / half_width, which keeps large variances cheap.
void append_gaussian_rule(
    double lo, double hi, std::vector<double> breakpoints, double half_width, double widest, double centre,
    Rule& rule);

} // namespace statmech::quadrature
