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
      // 2q / (1 + 2q) as 1 / (1 + 1 / (2q)): no inf / inf for q near the top of the double range.
      const double second = 2.0 / kPi * std::asin(1.0 / (1.0 + 0.5 / q));
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
  // sqrt(q1) sqrt(q2), not sqrt(q1 q2): the product overflows for variances beyond ~1e154.
  const double scale = std::sqrt(q1) * std::sqrt(q2);
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
      // With d = 1 + 2q and r = q / d (<= 1/2), written so that nothing overflows for any finite q:
      // value = (2 / pi) asin(2 c sqrt(r1 r2)),
      // kdot = (4 / pi) / sqrt(d1 d2 - 4 c^2 q1 q2)
      //      = (4 / pi) / (sqrt(d1) sqrt(d2) sqrt(1 / (d1 d2) + 2 r1 / d2 + 2 r2 / d1 + 4 r1 r2 (1 - c^2))).
      const double d1 = 1.0 + 2.0 * q1;
      const double d2 = 1.0 + 2.0 * q2;
      // r = q / d as 1 / (2 + 1 / q): d itself overflows for q near the top of the double range.
      const double r1 = 1.0 / (2.0 + 1.0 / q1);
      const double r2 = 1.0 / (2.0 + 1.0 / q2);
      const double value = 2.0 / kPi * std::asin(2.0 * c * std::sqrt(r1) * std::sqrt(r2));
      const double rest = 1.0 / d1 / d2 + 2.0 * r1 / d2 + 2.0 * r2 / d1 + 4.0 * r1 * r2 * (1.0 - c) * (1.0 + c);
      const double derivative = 4.0 / kPi / (std::sqrt(d1) * std::sqrt(d2) * std::sqrt(rest));
      return {value, derivative};
    }
    case ActivationKind::Sin:
    case ActivationKind::Cos: {
      // E[sin u sin v] = e^-a sinh(x), E[cos u cos v] = e^-a cosh(x), with a = (q1 + q2) / 2 and
      // x = c sqrt(q1 q2), |x| <= a. Beyond |x| = 1 each exponential is taken as e^(+-x - a) <= 1,
      // which neither overflows (sinh(x) alone does past x ~ 710) nor underflows to 0 when
      // e^-a does but the product is not small (c near 1).
      const double a = 0.5 * (q1 + q2);
      const double x = c * scale;
      const double up = 0.5 * std::exp(x - a), down = 0.5 * std::exp(-x - a);
      const double odd = std::abs(x) > 1.0 ? up - down : std::exp(-a) * std::sinh(x);
      const double even = up + down;
      return activation.kind() == ActivationKind::Sin ? Kernel{odd, even} : Kernel{even, odd};
    }
    default:
      TORCH_INTERNAL_ASSERT(false, "closed_form_kernel: no closed form for ", activation.repr());
  }
}

} // namespace statmech::dual
