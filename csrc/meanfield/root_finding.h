#pragma once

// One-dimensional root finding for the calculator's fixed points.

#include <algorithm>
#include <cmath>
#include <utility>

namespace statmech::meanfield::detail {

// Root of g on [lo, hi] given g(lo) >= 0 > g(hi), with `step(x)` returning (g(x), g'(x)).
// Newton steps while they stay inside the shrinking bracket, bisection otherwise: quadratic
// convergence near the root, guaranteed convergence anywhere.
//
// A bracket that spans orders of magnitude (0 < 4 lo < hi) is bisected at its geometric mean:
// halving [sigma_b2, 1e-12] with sigma_b2 = 1e-300 took 200 steps to reach 1e-72, not the root.
inline double bracket_midpoint(double lo, double hi) {
  return lo > 0 && hi > 4 * lo ? std::sqrt(lo) * std::sqrt(hi) : 0.5 * (lo + hi);
}

template <typename Step>
double bracketed_newton(Step&& step, double lo, double hi) {
  double x = bracket_midpoint(lo, hi);
  for (int iteration = 0; iteration < 200; ++iteration) {
    const auto [g, slope] = step(x);
    if (g == 0) {
      return x;
    }
    (g > 0 ? lo : hi) = x;
    double next = x - g / slope;
    if (!std::isfinite(next) || !(next > lo && next < hi)) {
      next = bracket_midpoint(lo, hi);
    }
    const double scale = std::max(std::fabs(next), std::fabs(hi));
    if (std::fabs(next - x) <= 1e-15 * scale || hi - lo <= 4e-16 * scale) {
      return next;
    }
    x = next;
  }
  return x;
}

// Root of a function without a derivative, g(lo) < 0 <= g(hi) or the reverse (Illinois variant of
// regula falsi: superlinear, always bracketed).
template <typename Fn>
double bracketed_secant(Fn&& g, double lo, double hi, double g_lo, double g_hi) {
  int side = 0;
  double x = lo;
  double previous = hi;
  for (int iteration = 0; iteration < 200; ++iteration) {
    previous = x;
    x = (lo * g_hi - hi * g_lo) / (g_hi - g_lo);
    if (!(x > std::min(lo, hi) && x < std::max(lo, hi))) {
      x = 0.5 * (lo + hi);
    }
    const double gx = g(x);
    // A tiny step alone is no convergence: with |g(hi)| >> |g(lo)| regula falsi creeps from lo by
    // ~1e-16 per step (x^50 - 1.5 on [1, 2], dks at depth 50, stopped at 1 + 9e-16 instead of
    // 1.0081), so the step counts only once the bracket is narrow too.
    const double width = std::fabs(hi - lo), scale = std::max(std::fabs(lo), std::fabs(hi));
    if (gx == 0 || width <= 1e-15 * scale ||
        (iteration > 0 && std::fabs(x - previous) <= 1e-15 * std::fabs(x) && width <= 1e-9 * scale)) {
      return x;
    }
    if ((gx > 0) == (g_hi > 0)) {
      hi = x, g_hi = gx;
      if (side == 1) {
        g_lo *= 0.5;
      }
      side = 1;
    } else {
      lo = x, g_lo = gx;
      if (side == -1) {
        g_hi *= 0.5;
      }
      side = -1;
    }
  }
  return x;
}

} // namespace statmech::meanfield::detail
