#pragma once

// Per-entry evaluation of the dual activation for the kernel operators (ops/gp): the closed forms
// of ops/common/closed_forms.cpp, written once more as templates over the floating type that
// compile for the host and for CUDA devices, together with the partial derivatives the
// hand-written backward of the kernels needs.
//
// Variables: a, b are the variances of the two pre-activations (q1, q2), c their correlation,
// r = sqrt(a b). For each activation:
//   k  = E[phi(u) phi(v)],   kd = E[phi'(u) phi'(v)]
// and the partials at fixed c (what the layer recursion needs, c being recomputed from the
// covariance at every layer):
//   k_a = dk/da, k_b = dk/db, k_c = dk/dc (= r kd by Price's theorem), kd_a, kd_b, kd_c.
//
// At |c| = 1 (duplicate inputs, the diagonal) the arc-cosine kernels have dkd/dc = 1 / (2 pi s)
// with s = sqrt(1 - c^2) -> 0. The correlation is at its extremum there, so every first-order
// variation of c vanishes: the term kd_c * dc is zero, and the partial is returned as 0 (instead
// of inf * 0 = NaN). For step and sign, kd itself diverges at |c| = 1 (phi' is a Dirac delta):
// their NTK is infinite on the diagonal, as it is in neural-tangents.

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define STATMECH_HD __host__ __device__ __forceinline__
#else
#define STATMECH_HD inline
#endif

namespace statmech::dual::entry {

// float overloads on the host (the global ::sqrt etc. take double); CUDA has both on the device.
using std::atan2;
using std::cos;
using std::cosh;
using std::exp;
using std::sin;
using std::sinh;
using std::sqrt;

// The activations with a closed form (has_closed_form in activation_traits.h).
enum class Form : int { Linear, Relu, LeakyRelu, Abs, Step, Sign, Erf, Sin, Cos };

template <typename T>
struct Value {
  T k, kd;
};

template <typename T>
struct Partials {
  T k, kd;
  T k_a, k_b, k_c;
  T kd_a, kd_b, kd_c;
};

template <typename T>
struct Constants {
  static constexpr T kPi = T(3.14159265358979323846);
  static constexpr T kInvTwoPi = T(0.15915494309189533577);
  static constexpr T kTwoOverPi = T(0.63661977236758134308);
};

// sin(e) - e cos(e) = s + (pi - theta) c for e = pi - theta; it vanishes like e^3 / 3 as c -> -1,
// where small e uses the series sum_{n>=1} (-1)^(n+1) 2n e^(2n+1) / (2n+1)! (as closed_forms.cpp).
template <typename T>
STATMECH_HD T sin_minus_e_cos(T e) {
  if (e > T(0.5)) {
    return sin(e) - e * cos(e);
  }
  const T e2 = e * e;
  T term = e * e2 / T(6);
  T sum = 0;
  for (int n = 1; n <= 12; ++n) {
    sum += (n % 2 == 1 ? T(1) : T(-1)) * T(2 * n) * term;
    term *= e2 / (T(2 * n + 2) * T(2 * n + 3));
  }
  return sum;
}

// sqrt(a b) for variances a, b >= 0, also where the product itself overflows (a b beyond ~3e38 in
// float, ~1e308 in double: large inputs) or falls out of the normal range (tiny variances).
template <typename T>
STATMECH_HD T root_product(T a, T b) {
  const T product = a * b;
  constexpr T kSmallest = sizeof(T) == 4 ? T(1.17549435e-38f) : T(2.2250738585072014e-308);
  constexpr T kLargest = sizeof(T) == 4 ? T(3.40282347e+38f) : T(1.7976931348623157e+308);
  if (product >= kSmallest && product <= kLargest) {
    return sqrt(product); // exact for a = b (sqrt(fl(a a)) = a)
  }
  // a = b (an entry with itself): exactly a, so that its correlation is exactly 1 here too.
  return a == b ? a : sqrt(a) * sqrt(b);
}

// The erf dual without overflow for any finite variances. With d = 1 + 2q and u = q / d (< 1/2),
// det = d1 d2 - 4 c^2 a b = d1 d2 rest, rest = 1 / (d1 d2) + 2 u1 / d2 + 2 u2 / d1 + 4 u1 u2 (1 - c^2):
// every term of rest is positive (no cancellation as c -> 1), and 1 / sqrt(det) is formed from
// 1 / d1, 1 / d2 and rest instead of the product d1 d2, which overflows for large q. Three
// divisions in all (they are what costs, in double on a GPU).
template <typename T>
struct ErfTerms {
  T inverse_d1, inverse_d2; // 1 / (1 + 2q)
  // k = (2 / pi) atan2(numerator, denominator): 2 c sqrt(a b) and sqrt(det), both over sqrt(d1 d2).
  T numerator, denominator;
  T inverse_root_det; // 1 / sqrt(det)
};

// q / (1 + 2q) from 1 / (1 + 2q): directly below q = 1, as 1/2 - 1/2 / (1 + 2q) above (exact where
// 1 + 2q overflows to inf, and free of cancellation there).
template <typename T>
STATMECH_HD T over_one_plus_twice(T q, T inverse_d) {
  return q < T(1) ? q * inverse_d : T(0.5) - T(0.5) * inverse_d;
}

template <typename T>
STATMECH_HD ErfTerms<T> erf_terms(T a, T b, T c) {
  ErfTerms<T> e{};
  e.inverse_d1 = T(1) / (T(1) + T(2) * a);
  e.inverse_d2 = T(1) / (T(1) + T(2) * b);
  const T u1 = over_one_plus_twice(a, e.inverse_d1), u2 = over_one_plus_twice(b, e.inverse_d2);
  const T rest = e.inverse_d1 * e.inverse_d2 + T(2) * (u1 * e.inverse_d2 + u2 * e.inverse_d1) +
                 T(4) * u1 * u2 * (T(1) - c) * (T(1) + c);
  e.numerator = T(2) * c * sqrt(u1) * sqrt(u2);
  e.denominator = sqrt(rest);
  e.inverse_root_det = sqrt(e.inverse_d1) * sqrt(e.inverse_d2) / e.denominator;
  return e;
}

// E[sin u sin v] = e^-h sinh(t) and E[cos u cos v] = e^-h cosh(t), h = (a + b) / 2, t = c sqrt(a b),
// |t| <= h. Beyond |t| = 1 each exponential is formed as e^(+-t - h) <= 1: sinh(t) alone overflows
// past t ~ 89 in float (~710 in double) while e^-h underflows, and their product would be NaN or
// a false 0 when c is near 1.
template <typename T>
struct Trigonometric {
  T odd, even; // e^-h sinh(t), e^-h cosh(t)
};

template <typename T>
STATMECH_HD Trigonometric<T> trigonometric(T a, T b, T t) {
  const T h = T(0.5) * (a + b);
  const T up = T(0.5) * exp(t - h), down = T(0.5) * exp(-t - h);
  const T odd = (t > T(1) || t < T(-1)) ? up - down : exp(-h) * sinh(t);
  return {odd, up + down};
}

// a / (2 a) for the degree-one homogeneous kernels; 0 at a = 0 (a zero-variance row).
template <typename T>
STATMECH_HD T half_over(T value, T a) {
  return a > 0 ? value / (T(2) * a) : T(0);
}

// k and kd only (the forward).
template <Form F, typename T>
STATMECH_HD Value<T> value(T a, T b, T c, T r, T alpha) {
  using K = Constants<T>;
  if constexpr (F == Form::Linear) {
    return {c * r, T(1)};
  } else if constexpr (F == Form::Relu || F == Form::LeakyRelu) {
    const T s = sqrt((T(1) - c) * (T(1) + c));
    const T e = atan2(s, -c);
    const T relu_k = r * K::kInvTwoPi * sin_minus_e_cos(e);
    const T relu_kd = e * K::kInvTwoPi;
    if constexpr (F == Form::Relu) {
      return {relu_k, relu_kd};
    } else {
      const T beta2 = (T(1) - alpha) * (T(1) - alpha);
      return {beta2 * relu_k + alpha * c * r, beta2 * relu_kd + alpha};
    }
  } else if constexpr (F == Form::Abs) {
    const T s = sqrt((T(1) - c) * (T(1) + c));
    const T asin_c = atan2(c, s);
    return {K::kTwoOverPi * r * (s + c * asin_c), K::kTwoOverPi * asin_c};
  } else if constexpr (F == Form::Step) {
    const T s = sqrt((T(1) - c) * (T(1) + c));
    return {atan2(s, -c) * K::kInvTwoPi, K::kInvTwoPi / (r * s)};
  } else if constexpr (F == Form::Sign) {
    const T s = sqrt((T(1) - c) * (T(1) + c));
    return {K::kTwoOverPi * atan2(c, s), K::kTwoOverPi / (r * s)};
  } else if constexpr (F == Form::Erf) {
    const ErfTerms<T> e = erf_terms(a, b, c);
    return {K::kTwoOverPi * atan2(e.numerator, e.denominator), T(2) * K::kTwoOverPi * e.inverse_root_det};
  } else { // Sin, Cos
    const Trigonometric<T> w = trigonometric(a, b, c * r);
    return F == Form::Sin ? Value<T>{w.odd, w.even} : Value<T>{w.even, w.odd};
  }
}

// k, kd and their partial derivatives (the backward).
template <Form F, typename T>
STATMECH_HD Partials<T> partials(T a, T b, T c, T r, T alpha) {
  using K = Constants<T>;
  Partials<T> p{};
  if constexpr (F == Form::Linear) {
    p.k = c * r, p.kd = T(1);
    p.k_a = half_over(p.k, a), p.k_b = half_over(p.k, b), p.k_c = r;
  } else if constexpr (F == Form::Relu || F == Form::LeakyRelu || F == Form::Abs) {
    const T s = sqrt((T(1) - c) * (T(1) + c));
    T slope; // d kd / dc
    if constexpr (F == Form::Abs) {
      const T asin_c = atan2(c, s);
      p.k = K::kTwoOverPi * r * (s + c * asin_c);
      p.kd = K::kTwoOverPi * asin_c;
      slope = K::kTwoOverPi;
    } else {
      const T e = atan2(s, -c);
      const T beta2 = F == Form::Relu ? T(1) : (T(1) - alpha) * (T(1) - alpha);
      const T extra = F == Form::Relu ? T(0) : alpha;
      p.k = beta2 * r * K::kInvTwoPi * sin_minus_e_cos(e) + extra * c * r;
      p.kd = beta2 * e * K::kInvTwoPi + extra;
      slope = beta2 * K::kInvTwoPi;
    }
    p.k_a = half_over(p.k, a), p.k_b = half_over(p.k, b), p.k_c = r * p.kd;
    p.kd_c = s > 0 ? slope / s : T(0);
  } else if constexpr (F == Form::Step || F == Form::Sign) {
    const T s = sqrt((T(1) - c) * (T(1) + c));
    const T scale = F == Form::Step ? K::kInvTwoPi : K::kTwoOverPi;
    p.k = F == Form::Step ? atan2(s, -c) * K::kInvTwoPi : K::kTwoOverPi * atan2(c, s);
    p.kd = scale / (r * s);
    p.k_c = s > 0 ? scale / s : T(0);
    p.kd_a = -half_over(p.kd, a), p.kd_b = -half_over(p.kd, b);
    p.kd_c = s > 0 ? scale * c / (r * s * s * s) : T(0);
  } else if constexpr (F == Form::Erf) {
    const ErfTerms<T> e = erf_terms(a, b, c);
    const T inv = e.inverse_root_det;
    p.k = K::kTwoOverPi * atan2(e.numerator, e.denominator);
    p.kd = T(2) * K::kTwoOverPi * inv;
    // c r / (a d1 root_det) = c sqrt(b / a) / (d1 root_det); the 1 / det^(3/2) factors are taken
    // one 1 / root_det at a time after a factor of order q, so that none overflows or underflows early.
    p.k_a = a > 0 ? K::kTwoOverPi * c * (sqrt(b) / sqrt(a)) * e.inverse_d1 * inv : T(0);
    p.k_b = b > 0 ? K::kTwoOverPi * c * (sqrt(a) / sqrt(b)) * e.inverse_d2 * inv : T(0);
    p.k_c = r * p.kd;
    p.kd_a = -T(2) * K::kTwoOverPi * ((T(1) + T(2) * b * (T(1) - c) * (T(1) + c)) * inv) * inv * inv;
    p.kd_b = -T(2) * K::kTwoOverPi * ((T(1) + T(2) * a * (T(1) - c) * (T(1) + c)) * inv) * inv * inv;
    p.kd_c = T(8) * K::kTwoOverPi * c * (a * inv) * (b * inv) * inv;
  } else { // Sin, Cos
    const T t = c * r;
    const Trigonometric<T> w = trigonometric(a, b, t);
    const T odd = w.odd;
    const T even = w.even;
    p.k = F == Form::Sin ? odd : even;
    p.kd = F == Form::Sin ? even : odd;
    p.k_a = T(-0.5) * p.k + half_over(p.kd * t, a);
    p.k_b = T(-0.5) * p.k + half_over(p.kd * t, b);
    p.kd_a = T(-0.5) * p.kd + half_over(p.k * t, a);
    p.kd_b = T(-0.5) * p.kd + half_over(p.k * t, b);
    p.k_c = r * p.kd;
    p.kd_c = r * p.k;
  }
  return p;
}

} // namespace statmech::dual::entry
