#pragma once

// The forward of fc_kernel for the arc-cosine / erf closed forms, several columns at a time in
// AVX2 registers: arctangents from glibc's vector math library (libmvec, glibc >= 2.35, within
// 4 ulp), square roots and the rest in vector arithmetic. The Hermite-series activations have their
// own path (fc_kernel_series.h); the scalar path (fc_kernel_entry.h) serves sin / cos, the
// diagonal, the tails of rows, and CPUs without AVX2 + FMA.

#include "ops/gp/fc_kernel_entry.h"

#include <cstdint>
#include <limits>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
#if __GLIBC_PREREQ(2, 35)
#define STATMECH_GP_SIMD 1
#endif
#endif

#if defined(STATMECH_GP_SIMD)
#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma")
extern "C" {
__m256d _ZGVdN4vv_atan2(__m256d, __m256d);
__m256 _ZGVdN8vv_atan2f(__m256, __m256);
}

namespace statmech::gp::simd {

template <typename T>
struct Lanes;
template <>
struct Lanes<double> {
  typedef double V __attribute__((vector_size(32)));
  static constexpr int kWidth = 4;
  static V atan2(V y, V x) {
    return reinterpret_cast<V>(_ZGVdN4vv_atan2(reinterpret_cast<__m256d>(y), reinterpret_cast<__m256d>(x)));
  }
  static V sqrt(V x) {
    return reinterpret_cast<V>(_mm256_sqrt_pd(reinterpret_cast<__m256d>(x)));
  }
};
template <>
struct Lanes<float> {
  typedef float V __attribute__((vector_size(32)));
  static constexpr int kWidth = 8;
  static V atan2(V y, V x) {
    return reinterpret_cast<V>(_ZGVdN8vv_atan2f(reinterpret_cast<__m256>(y), reinterpret_cast<__m256>(x)));
  }
  static V sqrt(V x) {
    return reinterpret_cast<V>(_mm256_sqrt_ps(reinterpret_cast<__m256>(x)));
  }
};

// True when every lane of a comparison mask is set.
template <typename M>
inline bool all_set(M mask) {
  for (int w = 0; w < static_cast<int>(sizeof(M) / sizeof(mask[0])); ++w) {
    if (!mask[w]) {
      return false;
    }
  }
  return true;
}

inline bool available() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// k and kd of the closed form F at W entries (kernel_entry.h's value<F>, lane-wise).
template <dual::entry::Form F, typename T>
inline void dual_value(
    typename Lanes<T>::V a, typename Lanes<T>::V b, typename Lanes<T>::V c, typename Lanes<T>::V r, T alpha,
    typename Lanes<T>::V& k, typename Lanes<T>::V& kd) {
  using L = Lanes<T>;
  using V = typename L::V;
  using K = dual::entry::Constants<T>;
  using dual::entry::Form;
  const V zero = V{} + T(0);
  const V one = zero + T(1);
  if constexpr (F == Form::Linear) {
    k = c * r, kd = one;
  } else if constexpr (F == Form::Erf) {
    // kernel_entry.h's erf_terms: no product of two variances, so nothing overflows.
    const V inverse_d1 = one / (one + T(2) * a), inverse_d2 = one / (one + T(2) * b);
    const V u1 = a < one ? a * inverse_d1 : T(0.5) - T(0.5) * inverse_d1;
    const V u2 = b < one ? b * inverse_d2 : T(0.5) - T(0.5) * inverse_d2;
    const V rest = inverse_d1 * inverse_d2 + T(2) * (u1 * inverse_d2 + u2 * inverse_d1) +
                   T(4) * u1 * u2 * (one - c) * (one + c);
    const V root_rest = L::sqrt(rest);
    k = K::kTwoOverPi * L::atan2(T(2) * c * L::sqrt(u1) * L::sqrt(u2), root_rest);
    kd = (T(2) * K::kTwoOverPi) * L::sqrt(inverse_d1) * L::sqrt(inverse_d2) / root_rest;
  } else {
    V s2 = (one - c) * (one + c);
    s2 = s2 > zero ? s2 : zero;
    const V s = L::sqrt(s2);
    if constexpr (F == Form::Relu || F == Form::LeakyRelu) {
      const V e = L::atan2(s, -c);
      // sin(e) - e cos(e) = s + e c; for e <= 0.5 (c near -1) its series, free of cancellation.
      const V e2 = e * e;
      V term = e * e2 / T(6);
      V series = zero;
      for (int n = 1; n <= 12; ++n) {
        series += (n % 2 == 1 ? T(1) : T(-1)) * T(2 * n) * term;
        term *= e2 / (T(2 * n + 2) * T(2 * n + 3));
      }
      const V j = e > T(0.5) ? s + e * c : series;
      const T beta2 = F == Form::Relu ? T(1) : (T(1) - alpha) * (T(1) - alpha);
      const T extra = F == Form::Relu ? T(0) : alpha;
      k = beta2 * K::kInvTwoPi * r * j + extra * c * r;
      kd = beta2 * K::kInvTwoPi * e + extra;
    } else if constexpr (F == Form::Abs) {
      const V asin_c = L::atan2(c, s);
      k = K::kTwoOverPi * r * (s + c * asin_c);
      kd = K::kTwoOverPi * asin_c;
    } else if constexpr (F == Form::Step) {
      k = L::atan2(s, -c) * K::kInvTwoPi;
      kd = K::kInvTwoPi / (r * s);
    } else { // Sign
      k = K::kTwoOverPi * L::atan2(c, s);
      kd = K::kTwoOverPi / (r * s);
    }
  }
}

// Entries (i, j0 + w) for w < W * chunks of one row: qa = row i's variances [depth + 1],
// columns_q = the column rows' variances transposed, layer l at columns_q + l * column_stride.
template <dual::entry::Form F, typename T>
inline void row_chunks(
    const EntryParams<T>& p, T alpha, const T* qa, const T* columns_q, int64_t column_stride, const T* dots,
    int64_t chunks, T* nngp, T* ntk) {
  using L = Lanes<T>;
  using V = typename L::V;
  constexpr int W = L::kWidth;
  constexpr T kSnap = sizeof(T) == 4 ? T(4e-7) : T(1e-15);
  const V zero = V{} + T(0);
  const V one = zero + T(1);
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int64_t offset = chunk * W;
    V dot;
    __builtin_memcpy(&dot, dots + offset, sizeof(V));
    V covariance = p.sigma_w2 * p.inverse_features * dot + p.sigma_b2;
    V tangent = p.standard ? dot + one : covariance;
    for (int64_t l = 0; l < p.depth; ++l) {
      const V a = zero + qa[l];
      V b;
      __builtin_memcpy(&b, columns_q + l * column_stride + offset, sizeof(V));
      const V product = a * b;
      // kernel_entry.h's root_product: where a b overflows or leaves the normal range (rare: huge
      // or tiny variances), sqrt(a) sqrt(b) instead.
      const auto normal = (product >= std::numeric_limits<T>::min()) & (product <= std::numeric_limits<T>::max());
      V r = L::sqrt(product);
      if (!all_set(normal)) {
        const V split = L::sqrt(a) * L::sqrt(b);
        r = normal ? r : (a == b ? a : split);
      }
      V c = covariance / r;
      c = c >= T(1) - kSnap ? one : c;
      c = c <= T(-1) + kSnap ? -one : c;
      c = r > zero ? c : zero;
      V k, kd;
      dual_value<F, T>(a, b, c, r, alpha, k, kd);
      covariance = p.sigma_w2 * k + p.sigma_b2;
      tangent = (p.standard ? p.width * k + one : covariance) + p.sigma_w2 * kd * tangent;
    }
    if (nngp) {
      __builtin_memcpy(nngp + offset, &covariance, sizeof(V));
    }
    if (ntk) {
      __builtin_memcpy(ntk + offset, &tangent, sizeof(V));
    }
  }
}

} // namespace statmech::gp::simd

#pragma GCC pop_options
#endif
