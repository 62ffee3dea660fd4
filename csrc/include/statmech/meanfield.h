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
#include <utility>

namespace statmech::meanfield {

enum class Phase {
  Ordered, // chi_1 < 1: correlations go to 1, gradients vanish
  Critical, // chi_1 = 1: the edge of chaos
  Chaotic, // chi_1 > 1: correlations go to c* < 1, gradients explode
  Diverging, // the variance grows without bound (q_star = inf)
  Unstable, // the variance map's fixed point is unstable (|dq'/dq| > 1): no usable q_star
};

STATMECH_API std::string phase_name(Phase phase); // "ordered", "critical", ...

// The fixed point of the maps for one (sigma_w2, sigma_b2) and what follows from it. When phase is
// Diverging or Unstable every field but q_star (inf, or the unstable value) is NaN and stable is
// false: nothing here is usable as an initialisation.
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

  std::string repr() const;
};

// q^{l+1} = sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2, z ~ N(0, 1). q, sigma_w2 > 0, sigma_b2 >= 0.
STATMECH_API double q_map(double q, double sigma_w2, double sigma_b2, const Activation& activation);

// The correlation of the next layer's pre-activations for two inputs of variance q and
// correlation c: (sigma_w2 E[phi(u) phi(v)] + sigma_b2) / q_map(q), u, v of variance q and
// correlation c. At q = q* this is the c-map of Poole et al. c in [-1, 1].
STATMECH_API double c_map(double c, double q, double sigma_w2, double sigma_b2, const Activation& activation);

STATMECH_API FixedPoint fixed_point(double sigma_w2, double sigma_b2, const Activation& activation);

// sigma_w2 with chi_1 = 1 at the given sigma_b2 (root finding along the closed-form
// parameterisation of the critical line by q*, see critical_point). Throws when the activation
// has no critical point with finite q* at this sigma_b2 (e.g. relu with sigma_b2 > 0).
STATMECH_API double critical_sigma_w2(double sigma_b2, const Activation& activation);

// (sigma_w2, sigma_b2) whose fixed point is q* and critical: sigma_w2 = 1 / E[phi'^2],
// sigma_b2 = q* - sigma_w2 E[phi^2]. Throws when sigma_b2 would be negative.
STATMECH_API std::pair<double, double> critical_point(double q_star, const Activation& activation);

// critical_sigma_w2 at each entry of a 1-D float64 tensor of bias variances.
STATMECH_API at::Tensor critical_line(const at::Tensor& sigma_b2, const Activation& activation);

// fixed_point over the grid sigma_w2 x sigma_b2 (1-D tensors); every field is a float64 tensor of
// shape [len(sigma_w2), len(sigma_b2)]; phase holds the Phase as int64 (Ordered = 0, ...).
struct STATMECH_API PhaseDiagram {
  at::Tensor sigma_w2, sigma_b2;
  at::Tensor q_star, c_star, chi_1, chi_c, xi_q, xi_c;
  at::Tensor phase; // int64
  at::Tensor stable; // bool
};
STATMECH_API PhaseDiagram phase_diagram(
    const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, const Activation& activation);

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

// Batch-normalised networks (Yang et al. 2019, "A mean field theory of batch normalization"): with
// BN before a relu, squared gradients grow by pi / (pi - 1) per layer in the large width and
// large batch limit, whatever sigma_w2 and sigma_b2 (BN removes the weight scale). Only relu has
// this closed form; other activations throw.
STATMECH_API double batchnorm_gradient_growth(const Activation& activation);

} // namespace statmech::meanfield
