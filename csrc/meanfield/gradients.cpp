// Per-layer growth of squared gradient norms: plain, residual and batch-normalised networks.

#include <statmech/meanfield.h>

#include "ops/common/checks.h"
#include <statmech/dual_activation.h>

#include <ATen/Functions.h>

#include <cmath>

namespace statmech::meanfield {

double gradient_growth(double sigma_w2, double sigma_b2, const Activation& activation) {
  const auto point = fixed_point(sigma_w2, sigma_b2, activation);
  TORCH_CHECK(point.phase != Phase::Diverging && point.phase != Phase::Unstable, "gradient_growth: at sigma_w2 = ",
              sigma_w2, ", sigma_b2 = ", sigma_b2, " the variance map of ", activation.repr(), " has no stable "
              "fixed point (", phase_name(point.phase), "), so there is no per-layer growth rate: ", point.repr());
  return point.chi_1;
}

at::Tensor residual_gradient_growth(
    double sigma_w2, double sigma_b2, const Activation& activation, int64_t depth, double sigma_v2,
    double sigma_a2, double p0) {
  checks::positive_variance("residual_gradient_growth", "sigma_w2", sigma_w2);
  checks::nonnegative_variance("residual_gradient_growth", "sigma_b2", sigma_b2);
  checks::positive_variance("residual_gradient_growth", "sigma_v2", sigma_v2);
  checks::nonnegative_variance("residual_gradient_growth", "sigma_a2", sigma_a2);
  checks::positive_variance("residual_gradient_growth", "p0", p0);
  TORCH_CHECK(depth >= 1, "residual_gradient_growth: depth must be >= 1, got ", depth);
  auto out = at::empty({depth}, at::kDouble);
  auto* factor = out.data_ptr<double>();
  double p = p0;
  for (int64_t l = 0; l < depth; ++l) {
    const double q = sigma_w2 * p + sigma_b2;
    const auto m = dual::moments(activation, q);
    factor[l] = 1.0 + sigma_v2 * sigma_w2 * m.derivative_second;
    p += sigma_v2 * m.second + sigma_a2;
  }
  return out;
}

double batchnorm_gradient_growth(const Activation& activation) {
  // Each unit's BN output is standard normal over a large batch: the moments at q = 1.
  const auto m = dual::moments(activation, 1.0);
  const double variance = m.second - m.mean * m.mean;
  TORCH_CHECK(variance > 0, "batchnorm_gradient_growth: phi(z) of ", activation.repr(),
              " has zero variance for z ~ N(0, 1) (a constant activation), so the batch-normalised network "
              "has no signal to propagate");
  return m.derivative_second / variance;
}

} // namespace statmech::meanfield
