// The fixed point of the variance map, its stability, the correlation fixed point and the depth
// scales (Poole et al. 2016; Schoenholz et al. 2017, eqs. 4-9).

#include <statmech/meanfield.h>

#include "ops/common/checks.h"
#include "csrc/meanfield/variance_map.h"
#include <statmech/dual_activation.h>

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

namespace statmech::meanfield {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// -1 / ln(rate): the number of layers over which a deviation decays by e.
double depth_scale(double rate) {
  rate = std::fabs(rate);
  if (rate == 0) {
    return 0.0;
  }
  return rate < 1 ? -1.0 / std::log(rate) : kInf;
}

// Stable fixed point of the c-map in the chaotic phase (chi_1 > 1, so c = 1 is unstable), or with
// dropout (the c-map maps 1 below 1, so h(1) < 0 and the same argument holds). With
// equal variances k(q, q, c) = sum_k b_k^2 c^k (Mehler), so the c-map is increasing and convex on
// [0, 1]; h(c) = c_map(c) - c has h(0) >= 0, h(1) = 0, h'(1) = chi_1 - 1 > 0, hence exactly one
// root c* in [0, 1) with h' < 0 on [0, c*]. Newton's method from c = 0 on such a convex function
// climbs monotonically to c* without overshooting, so it never evaluates the kernel beyond c*,
// where (near c = 1) it is most expensive.
void solve_correlation(FixedPoint& point, const Activation& activation) {
  const double q = point.q_star;
  const dual::DualKernel kernel(activation, q, q);
  double c = 0.0;
  for (int iteration = 0; iteration < 200; ++iteration) {
    const auto k = kernel(c);
    const double h = (point.sigma_w2 * k.value + point.sigma_b2) / q - c;
    const double slope = point.sigma_w2 * k.derivative - 1.0;
    // At c = 0, h is (sigma_w2 E[phi]^2 + sigma_b2) / q*: below 1e-15 it is the rounding of an odd
    // activation's zero mean (c* = h / (1 - h') would be ~1e-32), and c* = 0.
    if (h <= (c == 0.0 ? 1e-15 : 0.0) || !(slope < 0)) {
      break; // at the root to rounding
    }
    const double next = std::min(c - h / slope, 1.0);
    if (!(next > c) || next - c <= 1e-15 * next) {
      c = next > c ? next : c;
      break;
    }
    c = next;
  }
  point.c_star = c;
  point.chi_c = c >= 1.0 ? point.chi_1 : point.sigma_w2 * kernel(c).derivative;
}

} // namespace

std::string phase_name(Phase phase) {
  switch (phase) {
    case Phase::Ordered:
      return "ordered";
    case Phase::Critical:
      return "critical";
    case Phase::Chaotic:
      return "chaotic";
    case Phase::Diverging:
      return "diverging";
    case Phase::Unstable:
      return "unstable";
  }
  return "unknown";
}

std::string FixedPoint::repr() const {
  std::ostringstream out;
  out << std::setprecision(6) << "FixedPoint(sigma_w2=" << sigma_w2 << ", sigma_b2=" << sigma_b2
      << ", phase='" << phase_name(phase) << "', q_star=" << q_star << ", stable=" << (stable ? "True" : "False");
  if (phase == Phase::Diverging) {
    out << ": the variance grows without bound";
  } else if (phase == Phase::Unstable) {
    out << ": |dq'/dq| > 1 at q_star, the variance does not settle there";
  } else {
    out << ", c_star=" << c_star << ", chi_1=" << chi_1 << ", chi_c=" << chi_c << ", xi_q=" << xi_q
        << ", xi_c=" << xi_c;
  }
  out << ", q0=" << q0 << ", fixed_points=[";
  for (size_t i = 0; i < fixed_points.size(); ++i) {
    const auto& p = fixed_points[i];
    out << (i ? ", " : "") << p.q << (p.stable ? " stable" : " unstable")
        << (static_cast<int64_t>(i) == reached ? " (reached)" : "");
  }
  out << "])";
  return out.str();
}

namespace detail {

FixedPoint solve_fixed_point(const MomentTable& table, double sigma_w2, double sigma_b2, double q0, double dropout) {
  FixedPoint point{sigma_w2, sigma_b2, kNaN, false, kNaN, kNaN, kNaN, kNaN, kNaN, Phase::Unstable};
  point.dropout = dropout;
  // Dropout divides the second moment (and the squared gradients) by the keep probability: the
  // variance map is that of the weight variance sigma_w2 / (1 - p).
  const double effective_sigma_w2 = sigma_w2 / (1.0 - dropout);
  auto roots = variance_roots(table, effective_sigma_w2, sigma_b2, q0);
  point.q0 = q0;
  point.reached = roots.reached;
  point.fixed_points = std::move(roots.points);
  if (point.reached < 0) {
    point.q_star = kInf;
    point.phase = Phase::Diverging;
    return point;
  }
  const auto& reached = point.fixed_points[point.reached];
  const double q_star = reached.q;
  point.q_star = q_star;
  point.stable = reached.stable;
  if (!point.stable) {
    point.phase = Phase::Unstable; // q0 sits exactly on an unstable fixed point
    return point;
  }
  const auto& activation = table.activation();
  const auto m = q_star > 0 ? dual::moments(activation, q_star) : table.origin();
  point.chi_1 = effective_sigma_w2 * m.derivative_second;
  point.xi_q = depth_scale(reached.slope);
  constexpr double kCritical = 1e-10;
  if (q_star == 0 || (dropout == 0 && point.chi_1 <= 1.0 + kCritical)) {
    // c = 1 is the stable correlation fixed point and the c-map's slope there is chi_1. (At
    // q* = 0 the network is linear to first order and every correlation is preserved.)
    point.c_star = 1.0;
    point.chi_c = point.chi_1;
  } else {
    solve_correlation(point, activation);
  }
  point.xi_c = depth_scale(point.chi_c);
  point.phase = std::fabs(point.chi_1 - 1.0) <= kCritical ? Phase::Critical
      : point.chi_1 < 1.0                                  ? Phase::Ordered
                                                           : Phase::Chaotic;
  return point;
}

} // namespace detail

FixedPoint fixed_point(
    double sigma_w2, double sigma_b2, const Activation& activation, std::optional<double> q0, double dropout) {
  checks::positive_variance("fixed_point", "sigma_w2", sigma_w2);
  checks::nonnegative_variance("fixed_point", "sigma_b2", sigma_b2);
  checks::dropout_rate("fixed_point", "dropout", dropout);
  if (q0) {
    checks::positive_variance("fixed_point", "q0", *q0);
  }
  const auto table = detail::moment_table(activation);
  return detail::solve_fixed_point(
      *table, sigma_w2, sigma_b2, q0.value_or(detail::default_q0(sigma_w2, sigma_b2)), dropout);
}

} // namespace statmech::meanfield
