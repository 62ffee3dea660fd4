#pragma once

// The dual activation (implemented in ops/common): Gaussian expectations of an activation phi, shared by the mean-field
// calculator and the NNGP/NTK kernels. For pre-activations
//   u, v ~ N(0, [[q1, c sqrt(q1 q2)], [c sqrt(q1 q2), q2]])
// (q1, q2 are variances, sigma^2, not standard deviations):
//   k(q1, q2, c)     = E[phi(u) phi(v)]
//   kdot(q1, q2, c)  = E[phi'(u) phi'(v)]
// and the one-dimensional moments at variance q.
//
// How each is computed (see DualKernel):
// - closed forms for linear, relu, leaky_relu, abs, step, sign, erf, sin, cos (closed_forms.h);
// - otherwise the Hermite (Mehler / Price) series of docs/dual_activation.md when its remainder, bounded
//   rigorously through Parseval (hermite_series.h), is below 1e-14 of the Cauchy-Schwarz scale
//   sqrt(E[phi(u)^2] E[phi(v)^2]);
// - else (|c| near 1 at large variance, or a kinked activation whose coefficients decay slowly)
//   conditional two-dimensional quadrature (direct_quadrature.h).

#include <statmech/activation.h>
#include <statmech/macros.h>

#include <memory>

namespace statmech::dual {

struct HermiteCoefficients; // ops/common/hermite_series.h

// Moments of phi(sqrt(q) z), z ~ N(0, 1).
struct Moments {
  double mean; // E[phi]
  double second; // E[phi^2]
  double derivative_second; // E[phi'^2]    (+inf for step and sign: phi' is a Dirac delta)
  double curvature; // E[phi'' phi]  (NaN for step and sign)
  // d E[phi(sqrt(q) z)^2] / dq = E[phi'^2] + E[phi'' phi] (Gaussian integration by parts); finite
  // (zero) for step and sign too, where the two terms are not.
  double second_slope;
};

STATMECH_API Moments moments(const Activation& activation, double q);

struct Kernel {
  double value; // k
  double derivative; // kdot
};

// k and kdot for fixed variances q1, q2 at many correlations c: what depends only on the
// variances (Hermite coefficients) is computed once, in the constructor.
class STATMECH_API DualKernel {
 public:
  DualKernel(const Activation& activation, double q1, double q2);
  Kernel operator()(double c) const;
  // True when c is answered by the series (a polynomial in c), false when by 2-D quadrature.
  bool series_suffices(double c) const;

 private:
  Activation activation_;
  double q1_, q2_;
  bool closed_form_;
  std::shared_ptr<const HermiteCoefficients> series1_, series2_;
};

STATMECH_API Kernel kernel(const Activation& activation, double q1, double q2, double c);

} // namespace statmech::dual
