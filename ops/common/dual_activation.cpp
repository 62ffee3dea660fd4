#include <statmech/dual_activation.h>

#include "ops/common/hermite_series.h"

#include "ops/common/activation_traits.h"
#include "ops/common/checks.h"
#include "ops/common/closed_forms.h"
#include "ops/common/direct_quadrature.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace statmech::dual {
namespace {

// The series answers only where its rigorous remainder bound is below this fraction of the
// Cauchy-Schwarz scale; the target accuracy of the core is 1e-10 relative.
constexpr double kSeriesTolerance = 1e-14;

} // namespace

Moments moments(const Activation& activation, double q) {
  checks::positive_variance("dual::moments", "q", q);
  return has_closed_form(activation.kind()) ? closed_form_moments(activation, q)
                                            : quadrature_moments(activation, q);
}

DualKernel::DualKernel(const Activation& activation, double q1, double q2)
    : activation_(activation), q1_(q1), q2_(q2), closed_form_(has_closed_form(activation.kind())) {
  checks::positive_variance("dual::kernel", "q1", q1);
  checks::positive_variance("dual::kernel", "q2", q2);
  if (!closed_form_) {
    series1_ = std::make_shared<const HermiteCoefficients>(hermite_coefficients(activation, q1));
    series2_ = q2 == q1 ? series1_
                        : std::make_shared<const HermiteCoefficients>(hermite_coefficients(activation, q2));
  }
}

bool DualKernel::series_suffices(double c) const {
  if (closed_form_) {
    return false;
  }
  const double a = std::fabs(c);
  const double value_bound = std::pow(a, kSeriesTerms + 1) * std::sqrt(series1_->tail * series2_->tail);
  const double derivative_bound =
      std::pow(a, kSeriesTerms) * std::sqrt(series1_->derivative_tail * series2_->derivative_tail);
  return value_bound <= kSeriesTolerance * std::sqrt(series1_->energy * series2_->energy) &&
      derivative_bound <= kSeriesTolerance * std::sqrt(series1_->derivative_energy * series2_->derivative_energy);
}

Kernel DualKernel::operator()(double c) const {
  checks::correlation("dual::kernel", "c", c);
  if (closed_form_) {
    return closed_form_kernel(activation_, q1_, q2_, c);
  }
  if (!series_suffices(c)) {
    return direct_kernel(activation_, q1_, q2_, c);
  }
  // Horner in c for both sums.
  const auto& b1 = series1_->b;
  const auto& b2 = series2_->b;
  double value = 0.0;
  double scaled_derivative = 0.0;
  for (int64_t k = kSeriesTerms; k >= 0; --k) {
    const double product = b1[k] * b2[k];
    value = value * c + product;
    if (k >= 1) {
      scaled_derivative = scaled_derivative * c + static_cast<double>(k) * product;
    }
  }
  return {value, scaled_derivative / std::sqrt(q1_ * q2_)};
}

Kernel kernel(const Activation& activation, double q1, double q2, double c) {
  if (has_closed_form(activation.kind())) {
    checks::positive_variance("dual::kernel", "q1", q1);
    checks::positive_variance("dual::kernel", "q2", q2);
    checks::correlation("dual::kernel", "c", c);
    return closed_form_kernel(activation, q1, q2, c);
  }
  return DualKernel(activation, q1, q2)(c);
}

} // namespace statmech::dual
