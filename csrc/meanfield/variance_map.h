#pragma once

// All fixed points of the variance map q -> sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2, their
// stability and basins, and which one an initial variance q0 flows to.
//
// The moments E[phi^2], E[phi'^2], E[phi'' phi] at variance q do not depend on (sigma_w2,
// sigma_b2), so they are tabulated once per activation on a geometric grid of q and every point of a
// grid of parameters (phase_diagram, critical_line, the tensor calculator) reuses the table: the
// roots of g(q) = q_map(q) - q are bracketed by its sign changes on the grid and refined by Newton
// steps inside the bracket.

#include <statmech/dual_activation.h>
#include <statmech/meanfield.h>

#include <memory>
#include <vector>

namespace statmech::meanfield::detail {

// The grid: q_j = kGridSmallest * 2^(j / 2), j = 0..kGridPoints-1, 1e-12 .. ~1e12. Above the top
// one more evaluation, at q = 1e300, finds a stable fixed point there (bounded activations with a
// large sigma_w2 or sigma_b2); a variance that still grows there is reported as diverging.
inline constexpr double kGridSmallest = 1e-12;
inline constexpr int kGridPoints = 160;
// The q -> 0+ limit is taken at this variance (exact to rounding for every activation here).
inline constexpr double kVanishingVariance = 1e-30;

class MomentTable {
 public:
  explicit MomentTable(const Activation& activation);

  const Activation& activation() const {
    return activation_;
  }
  const std::vector<double>& q() const {
    return q_;
  }
  const std::vector<dual::Moments>& moments() const {
    return moments_;
  }
  const dual::Moments& origin() const {
    return origin_;
  }
  // phi(0) = 0 (to rounding): with sigma_b2 = 0, q = 0 is a fixed point.
  bool zero_maps_to_zero() const {
    return zero_maps_to_zero_;
  }
  // E[phi^2] is non-decreasing in q on the grid, so the q-map is monotone and its orbits converge
  // monotonically to the nearest fixed point in the direction of q_map(q0) - q0.
  bool monotone() const {
    return monotone_;
  }

 private:
  Activation activation_;
  std::vector<double> q_;
  std::vector<dual::Moments> moments_;
  dual::Moments origin_;
  bool zero_maps_to_zero_;
  bool monotone_;
};

// The table of a built-in activation is computed once per process (keyed by kind and parameter);
// a custom one each time.
std::shared_ptr<const MomentTable> moment_table(const Activation& activation);

// All fixed points of the q-map, in increasing order, and the one reached from q0.
struct VarianceRoots {
  std::vector<VarianceFixedPoint> points;
  // Every q is a fixed point (positively homogeneous phi with sigma_b2 = 0 on its critical line,
  // e.g. relu with sigma_w2 = 2): then `points` holds only q0, neutral (dq'/dq = 1).
  bool every_q_fixed = false;
  // q_map(q) > q above the largest fixed point: large variances grow without bound.
  bool diverges_above = false;
  // Index into points of the fixed point an orbit from q0 converges to; -1 when it diverges.
  int reached = -1;
};

VarianceRoots variance_roots(const MomentTable& table, double sigma_w2, double sigma_b2, double q0);

// The fixed point (q*, c*, chi_1, ...) reached from q0: what fixed_point returns. No argument checks.
FixedPoint solve_fixed_point(
    const MomentTable& table, double sigma_w2, double sigma_b2, double q0, double dropout = 0.0);

// q0 when the caller gives none: the variance of the first layer's pre-activations for inputs with
// mean squared entry 1 (|x|^2 = fan_in, e.g. standardised data): sigma_w2 * 1 + sigma_b2.
inline double default_q0(double sigma_w2, double sigma_b2) {
  return sigma_w2 + sigma_b2;
}

} // namespace statmech::meanfield::detail
