#pragma once

// k and kdot by conditional two-dimensional quadrature, for the (q1, q2, c) where the Hermite series
// would need too many terms. In the Cholesky parameterisation u = sqrt(q1) x,
// v = sqrt(q2) (c x + s y), s = sqrt(1 - c^2), with x, y independent standard normals,
//   k = E_x[ phi(sqrt(q1) x) G(x) ],   G(x) = E_y[ phi(sqrt(q2) c x + sqrt(q2) s y) ].
// The inner rule is split at the kinks of phi (which move with x) and its panels scale with the
// inner spread sqrt(q2) s, so near |c| = 1 it needs few panels; the outer rule is split at the
// kinks of phi(sqrt(q1) x) and, with a graded mesh of width ~s, at those of x -> phi(sqrt(q2) c x),
// where G steepens as s -> 0. This is why it stays accurate at c within 1e-6 of +-1, where the
// Hermite series converges slowly for large variances.

#include <statmech/dual_activation.h>

namespace statmech::dual {

Kernel direct_kernel(const Activation& activation, double q1, double q2, double c);

// Moments of phi(sqrt(q) z) by one-dimensional composite quadrature.
Moments quadrature_moments(const Activation& activation, double q);

} // namespace statmech::dual
