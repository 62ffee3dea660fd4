#include "ops/common/direct_quadrature.h"

#include "ops/common/activation_traits.h"
#include "ops/common/quadrature.h"
#include "ops/common/constants.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace statmech::dual {
namespace {

// Both integration variables are standard normal; beyond |z| = 9.5 the mass is 2e-21.
constexpr double kReach = 9.5;
// Widest panel: 20 Gauss-Legendre nodes integrate the Gaussian weight times a smooth factor to
// rounding over a panel of this half-width anywhere in [-9.5, 9.5].
constexpr double kWidestHalfPanel = 0.75;

double half_panel(const Activation& activation, double spread) {
  const double strip = analytic_half_width(activation);
  return spread > 0 ? std::min(kWidestHalfPanel, strip / spread) : kWidestHalfPanel;
}

// A rule on [-kReach, kReach] for phi(mean + spread * z): rough where mean + spread * z = 0.
void append_rule(const Activation& activation, double mean, double spread, std::vector<double> breaks,
                 quadrature::Rule& rule) {
  const double centre = spread > 0 ? roughness_centre(activation) - mean / spread : 0.0;
  quadrature::append_gaussian_rule(
      -kReach, kReach, std::move(breaks), half_panel(activation, spread), kWidestHalfPanel, centre, rule);
}

} // namespace

Moments quadrature_moments(const Activation& activation, double q) {
  const double root_q = std::sqrt(q);
  std::vector<double> breaks;
  for (double kink : kinks(activation)) {
    breaks.push_back(kink / root_q);
  }
  quadrature::Rule rule;
  append_rule(activation, 0.0, root_q, breaks, rule);
  const auto n = static_cast<int64_t>(rule.nodes.size());
  std::vector<double> x(n), phi(n), dphi(n), d2phi(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = root_q * rule.nodes[i];
  }
  activation.evaluate(n, x.data(), phi.data(), dphi.data(), d2phi.data());
  Moments m{0.0, 0.0, 0.0, 0.0, 0.0};
  double second_by_parts = 0.0; // E[phi^2 (z^2 - 1)], = 2 q d E[phi^2] / dq without derivatives
  for (int64_t i = 0; i < n; ++i) {
    const double w = rule.weights[i];
    m.mean += w * phi[i];
    m.second += w * phi[i] * phi[i];
    m.derivative_second += w * dphi[i] * dphi[i];
    m.curvature += w * d2phi[i] * phi[i];
    second_by_parts += w * phi[i] * phi[i] * (rule.nodes[i] * rule.nodes[i] - 1.0);
  }
  const auto density = [q](double x) { return std::exp(-0.5 * x * x / q) / std::sqrt(2.0 * constants::kPi * q); };
  if (activation.kind() == ActivationKind::Custom) {
    if (!activation.jumps().empty()) {
      // phi' holds Dirac deltas: E[phi'^2] is infinite and E[phi'' phi] undefined, while the
      // variance map's slope stays finite (Gaussian integration by parts in q).
      m.derivative_second = std::numeric_limits<double>::infinity();
      m.curvature = std::numeric_limits<double>::quiet_NaN();
      m.second_slope = second_by_parts / (2.0 * q);
      return m;
    }
    // Declared kinks: phi'' holds [phi'](x_k) delta(x - x_k); the one-sided derivatives are taken
    // just beside the kink (exact for piecewise-linear pieces, O(1e-10) otherwise).
    const auto& points = activation.kinks();
    if (!points.empty()) {
      std::vector<double> at(3 * points.size()), f(at.size()), df(at.size()), d2f(at.size());
      for (size_t k = 0; k < points.size(); ++k) {
        const double h = 1e-10 * std::max(1.0, std::fabs(points[k]));
        at[3 * k] = points[k] - h, at[3 * k + 1] = points[k], at[3 * k + 2] = points[k] + h;
      }
      activation.evaluate(static_cast<int64_t>(at.size()), at.data(), f.data(), df.data(), d2f.data());
      for (size_t k = 0; k < points.size(); ++k) {
        m.curvature += (df[3 * k + 2] - df[3 * k]) * f[3 * k + 1] * density(points[k]);
      }
    }
  }
  if (activation.kind() == ActivationKind::HardTanh) {
    // phi' jumps by +1 at -1 and by -1 at +1, so phi'' holds delta(x + 1) - delta(x - 1), which
    // the a.e. derivative misses: E[phi'' phi] gains -2 p_q(1), p_q the N(0, q) density.
    m.curvature -= 2.0 * density(1.0);
  }
  m.second_slope = m.derivative_second + m.curvature;
  return m;
}

Kernel direct_kernel(const Activation& activation, double q1, double q2, double c) {
  const double s = std::sqrt((1.0 - c) * (1.0 + c));
  const double root_q1 = std::sqrt(q1);
  const double root_q2 = std::sqrt(q2);
  const double inner_spread = root_q2 * s;
  const auto activation_kinks = kinks(activation);

  // Outer rule in x.
  std::vector<double> outer_breaks;
  for (double kink : activation_kinks) {
    outer_breaks.push_back(kink / root_q1);
    if (c != 0.0) {
      // G(x) follows phi(sqrt(q2) c x) smoothed over a width s / |c|: a graded mesh around each
      // of its kinks keeps the panels next to them as narrow as that width.
      const double centre = kink / (root_q2 * c);
      outer_breaks.push_back(centre);
      for (double h = s / std::fabs(c); h < 1.0; h *= 2.0) {
        if (h > 0) {
          outer_breaks.push_back(centre - h);
          outer_breaks.push_back(centre + h);
        } else {
          break;
        }
      }
    }
  }
  quadrature::Rule outer;
  const double outer_spread = std::max(root_q1, root_q2 * std::fabs(c));
  append_rule(activation, 0.0, outer_spread, outer_breaks, outer);
  const auto nx = static_cast<int64_t>(outer.nodes.size());

  // Inner rules in y, one per outer node, flattened so that phi is evaluated in one call
  // (one call into Python for a user-defined activation).
  std::vector<int64_t> offsets(nx + 1, 0);
  std::vector<double> inner_points, inner_weights;
  for (int64_t i = 0; i < nx; ++i) {
    const double mean = root_q2 * c * outer.nodes[i];
    if (inner_spread == 0) {
      inner_points.push_back(mean);
      inner_weights.push_back(1.0);
    } else {
      // The inner rule follows the rough point y = -mean / spread and the kinks, both of which move
      // with x.
      std::vector<double> inner_breaks;
      for (double kink : activation_kinks) {
        inner_breaks.push_back((kink - mean) / inner_spread);
      }
      quadrature::Rule local;
      append_rule(activation, mean, inner_spread, inner_breaks, local);
      for (size_t j = 0; j < local.nodes.size(); ++j) {
        inner_points.push_back(mean + inner_spread * local.nodes[j]);
        inner_weights.push_back(local.weights[j]);
      }
    }
    offsets[i + 1] = static_cast<int64_t>(inner_points.size());
  }

  // Evaluate phi at the outer points and all inner points together.
  const auto ny = static_cast<int64_t>(inner_points.size());
  std::vector<double> points(nx + ny);
  for (int64_t i = 0; i < nx; ++i) {
    points[i] = root_q1 * outer.nodes[i];
  }
  std::copy(inner_points.begin(), inner_points.end(), points.begin() + nx);
  std::vector<double> phi(nx + ny), dphi(nx + ny), d2phi(nx + ny);
  activation.evaluate(nx + ny, points.data(), phi.data(), dphi.data(), d2phi.data());

  Kernel result{0.0, 0.0};
  for (int64_t i = 0; i < nx; ++i) {
    double g = 0.0;
    double dg = 0.0;
    for (int64_t j = offsets[i]; j < offsets[i + 1]; ++j) {
      g += inner_weights[j] * phi[nx + j];
      dg += inner_weights[j] * dphi[nx + j];
    }
    result.value += outer.weights[i] * phi[i] * g;
    result.derivative += outer.weights[i] * dphi[i] * dg;
  }
  return result;
}

} // namespace statmech::dual
