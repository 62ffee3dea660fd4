#pragma once

// The mean-field theory of signal propagation in deep random networks (Poole et al. 2016,
// Schoenholz et al. 2017): variance and correlation maps, their fixed points, the order-to-chaos
// transition and the depth scales, as a calculator.
//
// Every variance is sigma^2 (a variance, not a standard deviation): sigma_w2 is the variance of
// sqrt(fan_in) * W_ij, sigma_b2 the variance of the biases, q the variance of a pre-activation.
// (neural-tangents takes standard deviations; the two are easy to mix up.)
//
// The network: h^l = W^l phi(h^{l-1}) + b^l, W_ij ~ N(0, sigma_w2 / fan_in), b_i ~ N(0, sigma_b2).

#include <statmech/activation.h>
#include <statmech/macros.h>

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <optional>
#include <utility>
#include <vector>

namespace statmech::meanfield {

enum class Phase {
  Ordered, // chi_1 < 1: correlations go to 1, gradients vanish
  Critical, // chi_1 = 1: the edge of chaos
  Chaotic, // chi_1 > 1: correlations go to c* < 1, gradients explode
  Diverging, // the variance grows without bound (q_star = inf)
  Unstable, // the variance map's fixed point is unstable (|dq'/dq| > 1): no usable q_star
};

STATMECH_API std::string phase_name(Phase phase); // "ordered", "critical", ...

// One fixed point of the variance map q -> sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2.
struct STATMECH_API VarianceFixedPoint {
  double q; // the fixed point (0 is one when sigma_b2 = 0 and phi(0) = 0)
  double slope; // dq'/dq at q
  // Orbits settle here: the map crosses the diagonal downwards (slope in [-1/2, 1]; neutral,
  // slope 1, on relu's line of fixed points).
  bool stable;
  // The initial variances q0 in (basin_lo, basin_hi) flow to this fixed point (for a monotone
  // q-map; basin_hi = inf when every larger q0 comes here). [q, q] for an unstable fixed point.
  double basin_lo, basin_hi;
};

// The fixed point of the maps reached from the initial variance q0, for one (sigma_w2, sigma_b2),
// and what follows from it. When phase is Diverging or Unstable every field but q_star (inf, or
// the unstable value) is NaN and stable is false: nothing here is usable as an initialisation.
struct STATMECH_API FixedPoint {
  double sigma_w2;
  double sigma_b2;
  double q_star; // fixed point of the variance map
  bool stable; // |dq'/dq| <= 1 at q_star
  double c_star; // stable fixed point of the correlation map (1 in the ordered phase)
  double chi_1; // sigma_w2 E[phi'(sqrt(q*) z)^2]: per-layer growth of squared gradients
  double chi_c; // sigma_w2 E[phi'(u) phi'(v)] at (q*, q*, c*): slope of the c-map at c*
  double xi_q; // -1 / ln |sigma_w2 (E[phi'^2] + E[phi'' phi])|: depth scale of the variance
  double xi_c; // -1 / ln chi_c: depth scale of correlations (inf at criticality)
  Phase phase;
  // The initial variance the network starts from (the first layer's pre-activation variance).
  double q0 = 0.0;
  // Every fixed point of the variance map in increasing order, with stability and basin.
  std::vector<VarianceFixedPoint> fixed_points;
  // Index into fixed_points of the one q0 flows to (the one described above); -1 when the
  // variance diverges from q0.
  int64_t reached = -1;
  // Dropout probability p on phi(h) before the weights (0: none); see fixed_point.
  double dropout = 0.0;

  std::string repr() const;
};

// q^{l+1} = sigma_w2 E[phi(sqrt(q) z)^2] / (1 - dropout) + sigma_b2, z ~ N(0, 1). q, sigma_w2 > 0,
// sigma_b2 >= 0. `dropout` is the probability p of inverted dropout (nn.Dropout) applied to
// phi(h) before the weights: it keeps the mean and divides the second moment by the keep
// probability 1 - p (Schoenholz et al. 2017, Sec. 5).
STATMECH_API double q_map(
    double q, double sigma_w2, double sigma_b2, const Activation& activation, double dropout = 0.0);

// The correlation of the next layer's pre-activations for two inputs of variance q and
// correlation c: (sigma_w2 E[phi(u) phi(v)] + sigma_b2) / q_map(q), u, v of variance q and
// correlation c. At q = q* this is the c-map of Poole et al. c in [-1, 1]; the result is clamped
// to [-1, 1] (the kernel and the moments come from different rules, so c = 1 could round to
// 1 + 2e-15). With dropout (independent masks for the two inputs) the numerator keeps its value
// and the denominator grows, so c = 1 maps below 1 and c* < 1.
STATMECH_API double c_map(
    double c, double q, double sigma_w2, double sigma_b2, const Activation& activation, double dropout = 0.0);

// All fixed points of the variance map with their stability and basins, and the one reached from
// the initial variance q0 (default: sigma_w2 + sigma_b2, the first layer's pre-activation
// variance for inputs with mean squared entry 1, i.e. |x|^2 = fan_in as for standardised data).
// With dropout p (inverted, independent masks per input, on phi(h) before the weights) the maps are
// those of q_map / c_map with `dropout`: q* comes from sigma_w2 / (1 - p), chi_1 = sigma_w2
// E[phi'^2] / (1 - p) (the mask scales gradients too), and c = 1 is no longer a fixed point of the
// c-map: c* < 1 everywhere and xi_c stays finite (Schoenholz et al. 2017, Sec. 5).
STATMECH_API FixedPoint fixed_point(
    double sigma_w2, double sigma_b2, const Activation& activation, std::optional<double> q0 = std::nullopt,
    double dropout = 0.0);

// The edge of chaos. Along chi_1 = 1 the fixed point q* parameterises everything in closed form:
// sigma_w2 = 1 / E[phi'^2], sigma_b2 = q* - sigma_w2 E[phi^2] (both at q*), and the variance map's
// slope there is 1 + sigma_w2 E[phi'' phi]. A point of that curve is an edge of chaos only when
// q* is a STABLE fixed point (E[phi'' phi] <= 0) and the one a network starting from q0 reaches;
// silu and gelu, for instance, have chi_1 = 1 only at unstable fixed points for small sigma_b2
// (the network falls to an ordered fixed point or its variance diverges). The functions below
// return only edges of chaos; CriticalReason says why there is none.
enum class CriticalReason : int64_t {
  Found = 0, // chi_1 = 1 at a stable fixed point reached from q0
  Unstable = 1, // chi_1 = 1 only at fixed points the variance map leaves (dq'/dq > 1)
  Diverging = 2, // no finite fixed point has chi_1 = 1 (relu with sigma_b2 > 0: q* = inf)
  NotReached = 3, // chi_1 = 1 at a stable fixed point, but q0 lies in another one's basin
};
STATMECH_API std::string critical_reason_name(CriticalReason reason); // "found", "unstable", ...

// sigma_w2 with chi_1 = 1 at a stable fixed point reached from q0 (default sigma_w2 + sigma_b2,
// as fixed_point), at the given sigma_b2. Throws otherwise, naming the activation and sigma_b2,
// why (unstable, diverging, not reached) and the sigma_b2 ranges where a stable edge exists.
// When several fixed points qualify, the one with the smallest q*.
STATMECH_API double critical_sigma_w2(
    double sigma_b2, const Activation& activation, std::optional<double> q0 = std::nullopt);

// (sigma_w2, sigma_b2) whose fixed point is q* and critical, by the closed form above. Throws when
// sigma_b2 would be negative, when q* is an unstable fixed point, or when a network starting from
// q0 (default sigma_w2 + sigma_b2) does not reach it.
STATMECH_API std::pair<double, double> critical_point(
    double q_star, const Activation& activation, std::optional<double> q0 = std::nullopt);

// The closed-form curve chi_1 = 1 at each q* of a 1-D tensor, WITHOUT the stability check (for
// plots): sigma_w2, sigma_b2 (may be negative: not a variance) and the variance map's slope at q*
// (> 1: unstable). float64 tensors of the shape of q_star.
struct STATMECH_API CriticalCurve {
  at::Tensor sigma_w2, sigma_b2, slope;
};
STATMECH_API CriticalCurve critical_curve(const at::Tensor& q_star, const Activation& activation);

// critical_sigma_w2 at each entry of a 1-D tensor of bias variances; NaN where there is no edge of
// chaos (see critical_line_with_reasons for why).
STATMECH_API at::Tensor critical_line(
    const at::Tensor& sigma_b2, const Activation& activation, std::optional<double> q0 = std::nullopt);

// critical_line with the fixed point q* (NaN where none) and the CriticalReason per entry (int64).
struct STATMECH_API CriticalLine {
  at::Tensor sigma_w2, q_star, reason;
};
STATMECH_API CriticalLine critical_line_with_reasons(
    const at::Tensor& sigma_b2, const Activation& activation, std::optional<double> q0 = std::nullopt);

// fixed_point over the grid sigma_w2 x sigma_b2 (1-D tensors); every field is a float64 tensor of
// shape [len(sigma_w2), len(sigma_b2)]; phase holds the Phase as int64 (Ordered = 0, ...) of the
// fixed point reached from q0 (default sigma_w2 + sigma_b2 at each point), fixed_points the
// number of fixed points of the variance map (int64; > 1: the network's fate depends on q0) and
// unstable_critical the points where some unstable fixed point has chi_1 >= 1 while the reached
// one is ordered or the variance diverges: the region where the unstable branch of chi_1 = 1
// would have been mistaken for the edge of chaos.
struct STATMECH_API PhaseDiagram {
  at::Tensor sigma_w2, sigma_b2;
  at::Tensor q_star, c_star, chi_1, chi_c, xi_q, xi_c;
  at::Tensor phase; // int64
  at::Tensor stable; // bool
  at::Tensor fixed_points; // int64
  at::Tensor unstable_critical; // bool
};
STATMECH_API PhaseDiagram phase_diagram(
    const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, const Activation& activation,
    std::optional<double> q0 = std::nullopt);

// ---- the calculator on tensors --------------------------------------------------------------
// The same functions element-wise on float64 tensors of parameters, broadcast together (a Python
// number is a 0-d tensor), in C++ across intra-op threads (a custom activation on the calling
// thread). Results are float64 on the CPU.
STATMECH_API at::Tensor q_map(
    const at::Tensor& q, const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, const Activation& activation,
    double dropout = 0.0);
STATMECH_API at::Tensor c_map(
    const at::Tensor& c, const at::Tensor& q, const at::Tensor& sigma_w2, const at::Tensor& sigma_b2,
    const Activation& activation, double dropout = 0.0);
// fixed_point element-wise: fields as PhaseDiagram (shape: the broadcast shape of the arguments).
// q0 undefined: sigma_w2 + sigma_b2 per element. chi_1 and chi_c are the susceptibilities.
STATMECH_API PhaseDiagram fixed_points(
    const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, const Activation& activation,
    const at::Tensor& q0 = {}, double dropout = 0.0);

// Per-layer growth of E|dL/dh|^2 (backwards) in a plain network at its fixed point: chi_1
// (Schoenholz et al. 2017). Throws when the fixed point is diverging or unstable.
STATMECH_API double gradient_growth(double sigma_w2, double sigma_b2, const Activation& activation);

// Full residual network of Yang & Schoenholz 2017 (Sec. 3):
//   h^l = W^l x^{l-1} + b^l,   x^l = V^l phi(h^l) + a^l + x^{l-1},
// W ~ sigma_w2 / N, V ~ sigma_v2 / N, b ~ sigma_b2, a ~ sigma_a2, E|x^0|^2 / N = p0. Its mean-field
// recursion has no fixed point (p grows with depth):
//   q^l = sigma_w2 p^{l-1} + sigma_b2,   p^l = p^{l-1} + sigma_v2 E[phi(sqrt(q^l) z)^2] + sigma_a2,
// and the squared gradient grows backwards through layer l by
//   chi^{l-1} / chi^l = 1 + sigma_v2 sigma_w2 E[phi'(sqrt(q^l) z)^2].
// Returns those factors for l = 1..depth, float64 [depth].
STATMECH_API at::Tensor residual_gradient_growth(
    double sigma_w2, double sigma_b2, const Activation& activation, int64_t depth,
    double sigma_v2 = 1.0, double sigma_a2 = 0.0, double p0 = 1.0);

// Batch-normalised networks (Yang et al. 2019, "A mean field theory of batch normalization"):
//   h^l = W^l x^{l-1},  z^l = BN(h^l) (per unit over the batch),  x^l = phi(z^l).
// In the large width and large batch limit each unit's z is standard normal over the batch and
// the squared gradient grows backwards by
//   lambda = E[phi'(z)^2] / Var[phi(z)],  z ~ N(0, 1),
// per layer, whatever sigma_w2 and sigma_b2 (BN removes the weight scale). By the Gaussian
// Poincare inequality lambda >= 1 with equality only for linear phi: BN networks have exploding
// gradients for every nonlinearity (their Theorem 3.10). relu: pi / (pi - 1); tanh ~1.21.
STATMECH_API double batchnorm_gradient_growth(const Activation& activation);

} // namespace statmech::meanfield
