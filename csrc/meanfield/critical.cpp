// The critical line chi_1 = 1. Along it the fixed point q* parameterises everything in closed
// form (sigma_w2 = 1 / E[phi'^2], sigma_b2 = q* - sigma_w2 E[phi^2], both at q*), so finding the
// critical sigma_w2 for a given sigma_b2 is a one-dimensional root in q* of
//   bias(q) = q - E[phi(sqrt(q) z)^2] / E[phi'(sqrt(q) z)^2] = sigma_b2,
// which needs one moments evaluation per step and no nested fixed-point solve.

#include <statmech/meanfield.h>

#include "csrc/meanfield/argument_checks.h"
#include "csrc/meanfield/root_finding.h"
#include <statmech/dual_activation.h>

#include <ATen/Functions.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

namespace statmech::meanfield {
namespace {

// The scan that brackets q*: q = 1e-8 * 2^j up to ~1e12, where bias(q) first reaches sigma_b2.
constexpr double kSmallestScanVariance = 1e-8;
constexpr int kScanPoints = 67;
constexpr double kVanishingVariance = 1e-30;

double critical_bias(const Activation& activation, double q) {
  const auto m = dual::moments(activation, q);
  return q - m.second / m.derivative_second;
}

// The scan is the same for every sigma_b2, so a critical line computes it once.
class CriticalLineSolver {
 public:
  explicit CriticalLineSolver(const Activation& activation) : activation_(activation) {
    const auto origin = dual::moments(activation, kVanishingVariance);
    TORCH_CHECK(std::isfinite(origin.derivative_second) && origin.derivative_second > 0,
                "critical_sigma_w2: E[phi'^2] of ", activation.repr(), " is ", origin.derivative_second,
                " (phi' is a Dirac delta or zero), so chi_1 = sigma_w2 E[phi'^2] never equals 1");
    origin_bias_ = kVanishingVariance - origin.second / origin.derivative_second;
    origin_sigma_w2_ = 1.0 / origin.derivative_second;
    double q = kSmallestScanVariance;
    for (int j = 0; j < kScanPoints; ++j, q *= 2) {
      scan_q_.push_back(q);
      scan_bias_.push_back(critical_bias(activation, q));
    }
  }

  double sigma_w2(double sigma_b2) const {
    // q* -> 0 along the critical line as sigma_b2 -> 0 when phi(0) = 0 (tanh, erf, relu, ...).
    if (sigma_b2 == 0 && std::fabs(origin_bias_) <= 1e6 * kVanishingVariance) {
      return origin_sigma_w2_;
    }
    for (size_t j = 0; j < scan_q_.size(); ++j) {
      if (scan_bias_[j] >= sigma_b2) {
        if (scan_bias_[j] == sigma_b2) {
          return at_variance(scan_q_[j]);
        }
        const double lo = j == 0 ? kVanishingVariance : scan_q_[j - 1];
        const double bias_lo = j == 0 ? origin_bias_ : scan_bias_[j - 1];
        const auto g = [&](double q) { return critical_bias(activation_, q) - sigma_b2; };
        return at_variance(detail::bracketed_secant(g, lo, scan_q_[j], bias_lo - sigma_b2, scan_bias_[j] - sigma_b2));
      }
    }
    TORCH_CHECK(false, "critical_sigma_w2: ", activation_.repr(), " has no critical point with sigma_b2 = ",
                sigma_b2, " and a finite fixed point q* <= ", scan_q_.back(),
                " (for positively homogeneous activations such as relu, q - E[phi^2]/E[phi'^2] is 0 for every "
                "q, so the critical line is sigma_b2 = 0 only; at chi_1 = 1 with sigma_b2 > 0 the variance diverges)");
  }

 private:
  double at_variance(double q) const {
    return 1.0 / dual::moments(activation_, q).derivative_second;
  }

  Activation activation_;
  double origin_bias_, origin_sigma_w2_;
  std::vector<double> scan_q_, scan_bias_;
};

} // namespace

std::pair<double, double> critical_point(double q_star, const Activation& activation) {
  detail::check_positive_variance("critical_point", "q_star", q_star);
  const auto m = dual::moments(activation, q_star);
  TORCH_CHECK(std::isfinite(m.derivative_second) && m.derivative_second > 0, "critical_point: E[phi'^2] of ",
              activation.repr(), " at q_star = ", q_star, " is ", m.derivative_second,
              ", so no sigma_w2 makes chi_1 = sigma_w2 E[phi'^2] equal 1");
  const double sigma_w2 = 1.0 / m.derivative_second;
  double sigma_b2 = q_star - sigma_w2 * m.second;
  // Rounding of an exact zero (e.g. relu, where sigma_b2 = 0 for every q*) is not an error.
  if (sigma_b2 < 0 && sigma_b2 >= -1e-12 * q_star) {
    sigma_b2 = 0.0;
  }
  TORCH_CHECK(sigma_b2 >= 0, "critical_point: for ", activation.repr(), " the fixed point q_star = ", q_star,
              " is critical only with sigma_w2 = ", sigma_w2, " and sigma_b2 = ", sigma_b2,
              " < 0, which is not a variance; choose another q_star");
  return {sigma_w2, sigma_b2};
}

double critical_sigma_w2(double sigma_b2, const Activation& activation) {
  detail::check_nonnegative_variance("critical_sigma_w2", "sigma_b2", sigma_b2);
  return CriticalLineSolver(activation).sigma_w2(sigma_b2);
}

at::Tensor critical_line(const at::Tensor& sigma_b2, const Activation& activation) {
  TORCH_CHECK(sigma_b2.defined() && sigma_b2.dim() == 1 && sigma_b2.is_floating_point(),
              "critical_line: sigma_b2 must be a 1-D floating tensor of bias variances (sigma^2), got ",
              sigma_b2.defined() ? sigma_b2.sizes() : at::IntArrayRef{}, " ",
              sigma_b2.defined() ? sigma_b2.scalar_type() : at::ScalarType::Undefined);
  const auto input = sigma_b2.to(at::kCPU, at::kDouble).contiguous();
  const auto* b = input.data_ptr<double>();
  for (int64_t i = 0; i < input.numel(); ++i) {
    detail::check_nonnegative_variance("critical_line", "sigma_b2", b[i]);
  }
  const CriticalLineSolver solver(activation);
  auto out = at::empty_like(input);
  auto* w = out.data_ptr<double>();
  const auto solve = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      w[i] = solver.sigma_w2(b[i]);
    }
  };
  // A user activation calls into Python, which holds one interpreter lock: stay on this thread.
  if (activation.kind() == ActivationKind::Custom) {
    solve(0, input.numel());
  } else {
    at::parallel_for(0, input.numel(), 1, solve);
  }
  return out;
}

} // namespace statmech::meanfield
