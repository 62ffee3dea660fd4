#include "ops/common/kernel_series.h"

#include "ops/common/activation_traits.h"
#include "ops/common/quadrature.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace statmech::dual {

bool uses_row_series(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::Tanh:
    case ActivationKind::Sigmoid:
    case ActivationKind::Gelu:
    case ActivationKind::Silu:
    case ActivationKind::Softplus:
      return true;
    default:
      return false;
  }
}

RowSeries row_series(
    const Activation& activation, double q, int64_t max_terms, double tolerance, double* b, double* derivative) {
  // As in hermite_coefficients: the integrand decays like e^{-z^2/4}, so the rule reaches
  // |z| = 13, panels no wider than the analytic strip of phi(sqrt(q) z) and narrow enough to
  // resolve He_K (wavelength ~ 2 pi / sqrt(K)): half-width 0.25 at K = 256, wider for fewer terms.
  constexpr double kReach = 13.0;
  const double root_q = std::sqrt(q);
  const double widest = std::min(1.0, 0.25 * std::sqrt(256.0 / static_cast<double>(std::max<int64_t>(max_terms, 16))));
  quadrature::Rule rule;
  quadrature::append_gaussian_rule(
      -kReach, kReach, {}, analytic_half_width(activation) / root_q, widest, roughness_centre(activation), rule);
  const auto n = static_cast<int64_t>(rule.nodes.size());
  std::vector<double> x(n), phi(n), dphi(n), d2phi(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = root_q * rule.nodes[i];
  }
  activation.evaluate(n, x.data(), phi.data(), dphi.data(), d2phi.data());

  // db_k/dq = E[phi'(sqrt(q) z) z h_k(z)] / (2 sqrt(q)).
  const double* z = rule.nodes.data();
  std::vector<double> weighted(n), weighted_derivative(derivative ? n : 0);
  double energy = 0.0, derivative_mean_square = 0.0, curvature = 0.0;
  double b0 = 0.0, db0 = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    weighted[i] = rule.weights[i] * phi[i];
    energy += weighted[i] * phi[i];
    derivative_mean_square += rule.weights[i] * dphi[i] * dphi[i];
    curvature += weighted[i] * d2phi[i];
    b0 += weighted[i];
    if (derivative) {
      weighted_derivative[i] = rule.weights[i] * dphi[i] * z[i] / (2.0 * root_q);
      db0 += weighted_derivative[i];
    }
  }
  RowSeries out;
  out.energy = energy;
  out.derivative_energy = q * derivative_mean_square;
  out.second_slope = derivative_mean_square + curvature;
  out.terms = max_terms;
  b[0] = b0;
  if (derivative) {
    derivative[0] = db0;
  }
  double kept = b0 * b0;
  double derivative_kept = 0.0;
  bool converged = false;
  std::vector<double> previous(n, 0.0), current(n, 1.0);
  for (int64_t k = 0; k < max_terms; ++k) {
    const double root = std::sqrt(static_cast<double>(k));
    const double inverse_next = 1.0 / std::sqrt(static_cast<double>(k + 1));
    double sum = 0.0, derivative_sum = 0.0;
    if (derivative) {
      for (int64_t i = 0; i < n; ++i) {
        const double next = (z[i] * current[i] - root * previous[i]) * inverse_next;
        previous[i] = current[i];
        current[i] = next;
        sum += weighted[i] * next;
        derivative_sum += weighted_derivative[i] * next;
      }
      derivative[k + 1] = derivative_sum;
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const double next = (z[i] * current[i] - root * previous[i]) * inverse_next;
        previous[i] = current[i];
        current[i] = next;
        sum += weighted[i] * next;
      }
    }
    b[k + 1] = sum;
    kept += sum * sum;
    derivative_kept += static_cast<double>(k + 1) * sum * sum;
    if (!converged && energy - kept <= tolerance * energy &&
        out.derivative_energy - derivative_kept <= tolerance * out.derivative_energy) {
      out.terms = k + 1;
      converged = true;
    }
  }
  return out;
}

} // namespace statmech::dual
