#include "ops/common/closed_forms.h"
#include "ops/common/constants.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <limits>

namespace statmech::dual {
namespace {

using constants::kPi;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// sin(e) - e cos(e), which vanishes like e^3 / 3 as the correlation goes to -1 (e = pi - theta):
// the direct formula would cancel away all but a few digits there, so small e uses the series
// sum_{n>=1} (-1)^(n+1) 2n e^(2n+1) / (2n+1)!.
double sin_minus_e_cos(double e) {
  if (e > 0.5) {
    return std::sin(e) - e * std::cos(e);
  }
  const double e2 = e * e;
  double term = e * e2 / 6.0; // e^3 / 3!
  double sum = 0.0;
  for (int n = 1; n <= 12; ++n) {
    sum += (n % 2 == 1 ? 1.0 : -1.0) * 2.0 * n * term;
    term *= e2 / ((2.0 * n + 2.0) * (2.0 * n + 3.0));
  }
  return sum;
}

struct Angles {
  double s; // sqrt(1 - c^2), from (1 - c)(1 + c) to keep its digits near |c| = 1
  double complement; // pi - arccos(c), accurate near c = -1 as well
};

Angles angles(double c) {
  const double s = std::sqrt((1.0 - c) * (1.0 + c));
  return {s, std::atan2(s, -c)};
}

// Arc-cosine kernel of degree 1 (relu): sqrt(q1 q2) / (2 pi) (sin theta + (pi - theta) cos theta).
double relu_kernel(double scale, const Angles& a) {
  return scale / (2.0 * kPi) * sin_minus_e_cos(a.complement);
}

} // namespace

Moments closed_form_moments(const Activation& activation, double q) {
  const double alpha = activation.parameter();
  switch (activation.kind()) {
    case ActivationKind::Linear:
      return {0.0, q, 1.0, 0.0, 1.0};
    case ActivationKind::Relu:
    case ActivationKind::LeakyRelu: {
      const double a = activation.kind() == ActivationKind::Relu ? 0.0 : alpha;
      const double half_sum = 0.5 * (1.0 + a * a);
      return {(1.0 - a) * std::sqrt(q / (2.0 * kPi)), half_sum * q, half_sum, 0.0, half_sum};
    }
    case ActivationKind::Abs:
      return {std::sqrt(2.0 * q / kPi), q, 1.0, 0.0, 1.0};
    case ActivationKind::Step:
      return {0.5, 0.5, kInf, kNaN, 0.0};
    case ActivationKind::Sign:
      return {0.0, 1.0, kInf, kNaN, 0.0};
    case ActivationKind::Erf: {
      const double second = 2.0 / kPi * std::asin(2.0 * q / (1.0 + 2.0 * q));
      const double derivative_second = 4.0 / kPi / std::sqrt(1.0 + 4.0 * q);
      const double slope = 4.0 / (kPi * (1.0 + 2.0 * q) * std::sqrt(1.0 + 4.0 * q));
      return {0.0, second, derivative_second, slope - derivative_second, slope};
    }
    case ActivationKind::Sin: {
      const double second = -0.5 * std::expm1(-2.0 * q);
      return {0.0, second, 1.0 - second, -second, std::exp(-2.0 * q)};
    }
    case ActivationKind::Cos: {
      const double derivative_second = -0.5 * std::expm1(-2.0 * q);
      const double second = 1.0 - derivative_second;
      return {std::exp(-0.5 * q), second, derivative_second, -second, -std::exp(-2.0 * q)};
    }
    default:
      TORCH_INTERNAL_ASSERT(false, "closed_form_moments: no closed form for ", activation.repr());
  }
}

Kernel closed_form_kernel(const Activation& activation, double q1, double q2, double c) {
  const double scale = std::sqrt(q1 * q2);
  const Angles a = angles(c);
  switch (activation.kind()) {
    case ActivationKind::Linear:
      return {c * scale, 1.0};
    case ActivationKind::Relu:
      return {relu_kernel(scale, a), a.complement / (2.0 * kPi)};
    case ActivationKind::LeakyRelu: {
      // phi = (1 - alpha) relu + alpha x, and E[relu(u) v] = E[u relu(v)] = c sqrt(q1 q2) / 2.
      const double alpha = activation.parameter();
      const double beta = 1.0 - alpha;
      return {beta * beta * relu_kernel(scale, a) + alpha * c * scale,
              beta * beta * a.complement / (2.0 * kPi) + alpha};
    }
    case ActivationKind::Abs:
      // |x| = 2 relu(x) - x gives (2 / pi) sqrt(q1 q2) (s + c arcsin c), without the cancellation.
      return {2.0 / kPi * scale * (a.s + c * std::atan2(c, a.s)), 2.0 / kPi * std::atan2(c, a.s)};
    case ActivationKind::Step:
      // kdot = E[delta(u) delta(v)], the joint density at the origin.
      return {a.complement / (2.0 * kPi), 1.0 / (2.0 * kPi * scale * a.s)};
    case ActivationKind::Sign:
      return {2.0 / kPi * std::atan2(c, a.s), 2.0 / (kPi * scale * a.s)};
    case ActivationKind::Erf: {
      const double d1 = 1.0 + 2.0 * q1;
      const double d2 = 1.0 + 2.0 * q2;
      const double value = 2.0 / kPi * std::asin(2.0 * c * scale / std::sqrt(d1 * d2));
      const double derivative = 4.0 / kPi / std::sqrt(d1 * d2 - 4.0 * c * c * q1 * q2);
      return {value, derivative};
    }
    case ActivationKind::Sin:
    case ActivationKind::Cos: {
      const double damping = std::exp(-0.5 * (q1 + q2));
      const double odd = damping * std::sinh(c * scale);
      const double even = damping * std::cosh(c * scale);
      return activation.kind() == ActivationKind::Sin ? Kernel{odd, even} : Kernel{even, odd};
    }
    default:
      TORCH_INTERNAL_ASSERT(false, "closed_form_kernel: no closed form for ", activation.repr());
  }
}

} // namespace statmech::dual
