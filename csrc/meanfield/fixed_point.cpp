// The fixed point of the variance map, its stability, the correlation fixed point and the depth
// scales (Poole et al. 2016; Schoenholz et al. 2017, eqs. 4-9).

#include <statmech/meanfield.h>

#include "csrc/meanfield/argument_checks.h"
#include "csrc/meanfield/fixed_point_solver.h"
#include "csrc/meanfield/root_finding.h"
#include <statmech/dual_activation.h>

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

namespace statmech::meanfield {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// A fixed point beyond this variance is reported as diverging: the search doubles q up to here.
constexpr double kLargestVariance = 1e12;
// The q -> 0+ limit is taken at this variance (exact to rounding for every activation here).
constexpr double kVanishingVariance = 1e-30;

// -1 / ln(rate): the number of layers over which a deviation decays by e.
double depth_scale(double rate) {
  rate = std::fabs(rate);
  if (rate == 0) {
    return 0.0;
  }
  return rate < 1 ? -1.0 / std::log(rate) : kInf;
}

// Stable fixed point of the c-map in the chaotic phase (chi_1 > 1, so c = 1 is unstable). With
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
  out << ")";
  return out.str();
}

namespace detail {

FixedPoint solve_fixed_point(double sigma_w2, double sigma_b2, const Activation& activation) {
  FixedPoint point{sigma_w2, sigma_b2, kNaN, false, kNaN, kNaN, kNaN, kNaN, kNaN, Phase::Unstable};
  // g(q) = q_map(q) - q and its slope, from one moments evaluation.
  const auto step = [&](double q) {
    const auto m = dual::moments(activation, q);
    return std::pair<double, double>{sigma_w2 * m.second + sigma_b2 - q, sigma_w2 * m.second_slope - 1.0};
  };

  const auto origin = dual::moments(activation, kVanishingVariance);
  const bool zero_is_fixed = sigma_b2 == 0 && origin.second <= 1e6 * kVanishingVariance;
  const double origin_slope = sigma_w2 * origin.second_slope;
  constexpr double kMarginal = 1e-12;

  double q_star = kNaN;
  double lo = 0.0;
  if (zero_is_fixed && origin_slope <= 1.0 + kMarginal) {
    // Small variances shrink (or, at slope 1, stay): q* = 0 unless the map rises above the
    // diagonal further out, as a convex E[phi^2] could make it.
    q_star = 0.0;
    for (double q = 1e-3; q <= 1e3; q *= 10) {
      if (step(q).first > kMarginal * q) {
        q_star = kNaN;
        lo = q;
        break;
      }
    }
  } else if (zero_is_fixed) {
    lo = 1e-12; // q = 0 is an unstable fixed point; g > 0 just above it
  }

  if (std::isnan(q_star)) {
    // First downward crossing of the diagonal above lo.
    double hi = std::max(1e-3, 2.0 * lo);
    while (step(hi).first >= 0) {
      lo = hi;
      hi *= 2.0;
      if (hi > kLargestVariance) {
        point.q_star = kInf;
        point.phase = Phase::Diverging;
        return point;
      }
    }
    q_star = bracketed_newton(step, lo, hi);
  }

  point.q_star = q_star;
  const auto m = q_star > 0 ? dual::moments(activation, q_star) : origin;
  const double variance_slope = sigma_w2 * m.second_slope;
  // The root found is a downward crossing of the diagonal, so dq'/dq <= 1 there; and for any phi,
  // sqrt(q) E[phi(sqrt(q) z)^2] is non-decreasing in q (a Gaussian smoothing of phi^2 >= 0), which
  // gives dq'/dq >= -(q* - sigma_b2) / (2 q*) >= -1/2. So |dq'/dq| > 1 can only come from rounding
  // at a tangency; the check stays, so that such a point is reported, never used.
  point.stable = std::fabs(variance_slope) <= 1.0 + kMarginal;
  if (!point.stable) {
    point.phase = Phase::Unstable;
    return point;
  }
  point.chi_1 = sigma_w2 * m.derivative_second;
  point.xi_q = depth_scale(variance_slope);
  constexpr double kCritical = 1e-10;
  if (point.chi_1 <= 1.0 + kCritical || q_star == 0) {
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

FixedPoint fixed_point(double sigma_w2, double sigma_b2, const Activation& activation) {
  detail::check_positive_variance("fixed_point", "sigma_w2", sigma_w2);
  detail::check_nonnegative_variance("fixed_point", "sigma_b2", sigma_b2);
  return detail::solve_fixed_point(sigma_w2, sigma_b2, activation);
}

} // namespace statmech::meanfield
