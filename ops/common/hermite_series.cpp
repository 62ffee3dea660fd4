#include "ops/common/hermite_series.h"

#include "ops/common/activation_traits.h"
#include "ops/common/quadrature.h"

#include <algorithm>
#include <cmath>

namespace statmech::dual {

HermiteCoefficients hermite_coefficients(const Activation& activation, double q) {
  // He_k(z) e^{-z^2/4} / sqrt(k!) is bounded, so the integrand decays like e^{-z^2/4}: the rule
  // must reach |z| = 13 (e^{-42} ~ 6e-19), further than the plain moments need. Panels no wider
  // than 0.25 keep ~15 nodes per oscillation of He_256 (wavelength ~ 2 pi / sqrt(256) ~ 0.39):
  // with half-width 0.5 (and 128 terms) the coefficients of gelu at q = 10 were off by ~1e-12 absolute, which the k-dot
  // sum amplifies by k (measured 3e-9 relative error at c = -1, q1 = 3, q2 = 10; now 3e-15).
  // No wider than the analytic strip of phi(sqrt(q) z) keeps the convergence exponential.
  constexpr double kReach = 13.0;
  const double root_q = std::sqrt(q);
  std::vector<double> breaks;
  for (double kink : kinks(activation)) {
    breaks.push_back(kink / root_q);
  }
  quadrature::Rule rule;
  quadrature::append_gaussian_rule(
      -kReach, kReach, breaks, analytic_half_width(activation) / root_q, 0.25, roughness_centre(activation), rule);
  const auto n = static_cast<int64_t>(rule.nodes.size());
  std::vector<double> x(n), phi(n), dphi(n), d2phi(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = root_q * rule.nodes[i];
  }
  activation.evaluate(n, x.data(), phi.data(), dphi.data(), d2phi.data());

  HermiteCoefficients out;
  out.q = q;
  out.b.assign(kSeriesTerms + 1, 0.0);
  out.energy = 0.0;
  double derivative_mean_square = 0.0;
  std::vector<double> weighted(n), previous(n, 0.0), current(n, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    weighted[i] = rule.weights[i] * phi[i];
    out.energy += weighted[i] * phi[i];
    derivative_mean_square += rule.weights[i] * dphi[i] * dphi[i];
    out.b[0] += weighted[i];
  }
  // Normalised probabilists' Hermite recurrence h_{k+1} = (z h_k - sqrt(k) h_{k-1}) / sqrt(k+1),
  // one order at a time over all nodes: the inner loop is a straight vectorisable sweep.
  const double* z = rule.nodes.data();
  for (int64_t k = 0; k < kSeriesTerms; ++k) {
    const double root = std::sqrt(static_cast<double>(k));
    const double inverse_next = 1.0 / std::sqrt(static_cast<double>(k + 1));
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double next = (z[i] * current[i] - root * previous[i]) * inverse_next;
      previous[i] = current[i];
      current[i] = next;
      sum += weighted[i] * next;
    }
    out.b[k + 1] = sum;
  }
  out.derivative_energy = q * derivative_mean_square;
  double kept = 0.0;
  double derivative_kept = 0.0;
  for (int64_t k = 0; k <= kSeriesTerms; ++k) {
    kept += out.b[k] * out.b[k];
    derivative_kept += static_cast<double>(k) * out.b[k] * out.b[k];
  }
  out.tail = std::max(out.energy - kept, 0.0);
  out.derivative_tail = std::max(out.derivative_energy - derivative_kept, 0.0);
  return out;
}

} // namespace statmech::dual
