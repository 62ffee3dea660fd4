// All fixed points of the variance map, their stability and basins (see variance_map.h).

#include "csrc/meanfield/variance_map.h"

#include "csrc/meanfield/root_finding.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>
#include <map>
#include <mutex>

namespace statmech::meanfield::detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// |g(q)| below this fraction of q is rounding of an exact zero (every q fixed, e.g. relu at sigma_w2 = 2).
constexpr double kZeroResidual = 1e-12;
// A fixed point whose slope is within this of 1 is neutral (relu's line of fixed points).
constexpr double kMarginal = 1e-12;
// The largest variance probed above the grid for a fixed point.
constexpr double kFarVariance = 1e300;

} // namespace

MomentTable::MomentTable(const Activation& activation)
    : activation_(activation), q_(kGridPoints), moments_(kGridPoints) {
  for (int j = 0; j < kGridPoints; ++j) {
    q_[j] = kGridSmallest * std::exp2(0.5 * j);
  }
  const auto fill = [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      moments_[j] = dual::moments(activation_, q_[j]);
    }
  };
  // A user activation calls into Python, which holds one interpreter lock: stay on this thread.
  if (activation.kind() == ActivationKind::Custom) {
    fill(0, kGridPoints);
  } else {
    at::parallel_for(0, kGridPoints, 8, fill);
  }
  origin_ = dual::moments(activation_, kVanishingVariance);
  zero_maps_to_zero_ = origin_.second <= 1e6 * kVanishingVariance;
  monotone_ = true;
  for (int j = 0; j < kGridPoints; ++j) {
    if (moments_[j].second_slope < -1e-12 * moments_[j].second / q_[j]) {
      monotone_ = false;
    }
  }
}

std::shared_ptr<const MomentTable> moment_table(const Activation& activation) {
  if (activation.kind() == ActivationKind::Custom) {
    return std::make_shared<const MomentTable>(activation);
  }
  static std::mutex mutex;
  static std::map<std::pair<int, double>, std::shared_ptr<const MomentTable>> cache;
  const std::pair<int, double> key{static_cast<int>(activation.kind()), activation.parameter()};
  {
    std::lock_guard<std::mutex> lock(mutex);
    const auto found = cache.find(key);
    if (found != cache.end()) {
      return found->second;
    }
  }
  auto table = std::make_shared<const MomentTable>(activation); // outside the lock: it may run in parallel
  std::lock_guard<std::mutex> lock(mutex);
  return cache.emplace(key, std::move(table)).first->second;
}

VarianceRoots variance_roots(const MomentTable& table, double sigma_w2, double sigma_b2, double q0) {
  const auto& grid = table.q();
  const auto& m = table.moments();
  const auto& activation = table.activation();
  const int n = static_cast<int>(grid.size());
  std::vector<double> g(n);
  for (int j = 0; j < n; ++j) {
    g[j] = sigma_w2 * m[j].second + sigma_b2 - grid[j];
  }
  const auto step = [&](double q) {
    const auto mq = dual::moments(activation, q);
    return std::pair<double, double>{sigma_w2 * mq.second + sigma_b2 - q, sigma_w2 * mq.second_slope - 1.0};
  };
  const auto slope_at = [&](double q) {
    return sigma_w2 * (q > 0 ? dual::moments(activation, q) : table.origin()).second_slope;
  };

  VarianceRoots roots;
  const bool zero_is_fixed = sigma_b2 == 0 && table.zero_maps_to_zero();
  if (zero_is_fixed) {
    bool every = true;
    for (int j = 0; j < n && every; ++j) {
      every = std::fabs(g[j]) <= kZeroResidual * grid[j];
    }
    if (every) {
      roots.every_q_fixed = true;
      const double slope = slope_at(q0);
      roots.points.push_back({q0, slope, std::fabs(slope) <= 1.0 + kMarginal, q0, q0});
      roots.reached = 0;
      return roots;
    }
    // q = 0 attracts when the map falls below the diagonal just above it.
    roots.points.push_back({0.0, slope_at(0.0), g[0] < 0, 0.0, 0.0});
  } else if (g[0] <= 0) {
    // A fixed point below the grid: q_map(q) >= sigma_b2 and, without a fixed zero, g(0+) > 0.
    const double lo = sigma_b2 > 0 ? sigma_b2 : kVanishingVariance;
    const double q = g[0] == 0 ? grid[0] : bracketed_newton(step, lo, grid[0]);
    roots.points.push_back({q, slope_at(q), true, 0.0, 0.0});
  }
  for (int j = 0; j + 1 < n; ++j) {
    const bool up_here = g[j] > 0;
    const bool up_next = g[j + 1] > 0;
    if (up_here == up_next) {
      continue;
    }
    double q;
    if (up_here) { // g falls through 0: a stable fixed point
      q = g[j + 1] == 0 ? grid[j + 1] : bracketed_newton(step, grid[j], grid[j + 1]);
    } else { // g rises through 0: an unstable one
      const auto negated = [&](double x) {
        const auto [value, slope] = step(x);
        return std::pair<double, double>{-value, -slope};
      };
      q = bracketed_newton(negated, grid[j], grid[j + 1]);
    }
    roots.points.push_back({q, slope_at(q), up_here, 0.0, 0.0});
  }
  roots.diverges_above = g[n - 1] > 0;
  // The orbit-following below treats variances beyond `top` as diverging.
  double top = grid[n - 1];
  if (roots.diverges_above) {
    // Above the grid: a bounded activation (tanh, erf, hard_tanh, sigmoid) with a large sigma_w2
    // or sigma_b2 has its stable fixed point there (q* ~ sigma_w2 + sigma_b2), which was
    // reported as a diverging variance. One evaluation at the top of the double range tells:
    // where g is negative there, g falls through 0 in between (bisected geometrically).
    // (Bisection on log q from the sign of g alone: out there E[phi^2] carries rounding of ~1e-15
    // relative, times sigma_w2, and the derivative E[phi'^2] + E[phi'' phi] cancels to noise,
    // so Newton steps would wander.)
    const double far = kFarVariance;
    const auto g_at = [&](double q) { return sigma_w2 * dual::moments(activation, q).second + sigma_b2 - q; };
    if (g_at(far) <= 0) {
      double lo = std::log(grid[n - 1]), hi = std::log(far);
      while (hi - lo > 1e-15 * hi) {
        const double mid = 0.5 * (lo + hi);
        (g_at(std::exp(mid)) > 0 ? lo : hi) = mid;
      }
      const double q = std::exp(0.5 * (lo + hi));
      // The slope dq'/dq by a central difference over +-1e-4 q (the analytic one is noise here).
      const double h = 1e-4 * q;
      const double slope = (g_at(q + h) - g_at(q - h)) / (2 * h) + 1.0;
      roots.points.push_back({q, slope, true, 0.0, 0.0});
      roots.diverges_above = false;
      top = far;
    }
  }

  // Basins: the unstable fixed points partition (0, inf); each stable one attracts the interval
  // between its unstable neighbours (for a monotone map; see MomentTable::monotone).
  const int count = static_cast<int>(roots.points.size());
  for (int i = 0; i < count; ++i) {
    auto& p = roots.points[i];
    if (!p.stable) {
      p.basin_lo = p.basin_hi = p.q;
      continue;
    }
    p.basin_lo = 0.0;
    for (int k = i - 1; k >= 0; --k) {
      if (!roots.points[k].stable) {
        p.basin_lo = roots.points[k].q;
        break;
      }
    }
    p.basin_hi = kInf;
    for (int k = i + 1; k < count; ++k) {
      if (!roots.points[k].stable) {
        p.basin_hi = roots.points[k].q;
        break;
      }
    }
  }

  // Which fixed point q0 flows to.
  roots.reached = -1;
  for (int i = 0; i < count; ++i) {
    const auto& p = roots.points[i];
    if (!p.stable && q0 == p.q) {
      roots.reached = i;
    } else if (p.stable && (q0 > p.basin_lo || (q0 == 0 && p.q == 0)) && q0 < p.basin_hi) {
      roots.reached = i;
    }
  }
  if (!table.monotone() && count > 0) {
    // The orbit may jump over an unstable fixed point: follow it.
    double q = q0;
    for (int iteration = 0; iteration < 5000 && std::isfinite(q) && q <= top; ++iteration) {
      for (int i = 0; i < count; ++i) {
        const auto& p = roots.points[i];
        if (p.stable && std::fabs(q - p.q) <= 1e-9 * std::max(p.q, 1e-12)) {
          roots.reached = i;
          return roots;
        }
      }
      q = q > 0 ? sigma_w2 * dual::moments(activation, q).second + sigma_b2 : sigma_b2;
    }
    if (!(q <= top)) {
      roots.reached = -1;
    }
  }
  return roots;
}

} // namespace statmech::meanfield::detail
