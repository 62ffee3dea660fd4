#pragma once

// exp and log1p on the ranges the energy-based ops need, written as straight-line arithmetic
// (no libm calls, no branches) so that loops over them are vectorised by the compiler. libm's
// std::exp / std::log1p are scalar calls, about 15x slower per element than ATen's SIMD softplus.
//
// Accuracy (checked in tests/cpp/test_vectorizable_math.cpp against std::exp / std::log1p):
// exp within 2 ulp and log1p within 3 ulp, in float32 and float64.

#include <cstdint>
#include <cstring>
#include <type_traits>

// Always inlined: GCC does not inline an ordinary inline function into a caller compiled for a
// different -march (the target_clones of a kernel), and a call per element defeats vectorisation.
#if defined(__GNUC__)
#define STATMECH_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define STATMECH_ALWAYS_INLINE inline
#endif

// STATMECH_CPU_CLONES before a kernel compiles it twice, for x86-64-v3 (AVX2 + FMA) and for the
// baseline ISA, and picks one at load time. (An ISA level, not "arch=haswell": GCC dispatches that
// clone on the CPU model, so AMD CPUs with AVX2 would get the baseline one.) The build probes the
// attribute (csrc/cmake/statmechTargetClones.cmake) and defines STATMECH_HAVE_TARGET_CLONES where
// it compiles and links for a function template (GCC 11+ on x86-64; not clang, which does not
// multiversion templates); elsewhere the kernel is compiled once.
#if defined(STATMECH_HAVE_TARGET_CLONES)
#define STATMECH_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define STATMECH_CPU_CLONES
#endif

namespace statmech::math {

template <typename T>
struct FloatBits;
template <>
struct FloatBits<float> {
  using Int = int32_t;
  static constexpr int kMantissaBits = 23;
  static constexpr Int kExponentBias = 127;
  static constexpr float kRoundMagic = 0x1.8p23f; // adding it rounds |t| < 2^22 to an integer
  static constexpr float kMinExpArgument = -87.3f; // below: exp underflows the normal range
};
template <>
struct FloatBits<double> {
  using Int = int64_t;
  static constexpr int kMantissaBits = 52;
  static constexpr Int kExponentBias = 1023;
  static constexpr double kRoundMagic = 0x1.8p52;
  static constexpr double kMinExpArgument = -708.3;
};

template <typename To, typename From>
STATMECH_ALWAYS_INLINE To bit_cast(From from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

// exp(x) for x <= 0: x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2), exp(r) by its
// Taylor polynomial (degree 13 for double: truncation < 5e-18; degree 7 for float: < 6e-9), and
// 2^n assembled in the exponent bits. Returns 0 below the normal range (exp(x) < 1e-38 / 1e-308).
template <typename T>
STATMECH_ALWAYS_INLINE T exp_nonpositive(T x) {
  using Bits = FloatBits<T>;
  using Int = typename Bits::Int;
  const T clamped = x < Bits::kMinExpArgument ? Bits::kMinExpArgument : x;
  const T shifted = clamped * T(1.4426950408889634) + Bits::kRoundMagic;
  const T n = shifted - Bits::kRoundMagic;
  // Integer work in the unsigned type: for a NaN input k is garbage and (k + bias) may be
  // negative or overflow the shift, which is undefined for signed integers (found by UBSan,
  // scripts/ubsan-check.sh); unsigned arithmetic wraps and gives the same bits in range.
  using UInt = std::make_unsigned_t<Int>;
  const UInt k = static_cast<UInt>(bit_cast<Int>(shifted)) - static_cast<UInt>(bit_cast<Int>(Bits::kRoundMagic));
  const T r = (clamped - n * T(0.693145751953125)) - n * T(1.4286068203094172321e-06);
  T p;
  if constexpr (std::is_same_v<T, double>) {
    p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
  } else {
    p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
  }
  p = p * r + T(1);
  p = p * r + T(1);
  const T scale = bit_cast<T>(static_cast<UInt>((k + static_cast<UInt>(Bits::kExponentBias)) << Bits::kMantissaBits));
  return x < Bits::kMinExpArgument ? T(0) : p * scale;
}

// log1p(e) for 0 <= e <= 1, as 2 atanh(s) with s = e / (2 + e) in [0, 1/3]:
// 2 s (1 + s^2/3 + s^4/5 + ...). No cancellation for small e; with s^2 <= 1/9 the series is cut
// where its tail is below the unit roundoff (17 terms for double, 8 for float).
template <typename T>
STATMECH_ALWAYS_INLINE T log1p_unit_interval(T e) {
  const T s = e / (T(2) + e);
  const T u = s * s;
  T p;
  if constexpr (std::is_same_v<T, double>) {
    p = 1.0 / 35.0;
    p = p * u + 1.0 / 33.0;
    p = p * u + 1.0 / 31.0;
    p = p * u + 1.0 / 29.0;
    p = p * u + 1.0 / 27.0;
    p = p * u + 1.0 / 25.0;
    p = p * u + 1.0 / 23.0;
    p = p * u + 1.0 / 21.0;
    p = p * u + 1.0 / 19.0;
    p = p * u + 1.0 / 17.0;
  } else {
    p = 1.0f / 17.0f;
  }
  p = p * u + T(1.0 / 15.0);
  p = p * u + T(1.0 / 13.0);
  p = p * u + T(1.0 / 11.0);
  p = p * u + T(1.0 / 9.0);
  p = p * u + T(1.0 / 7.0);
  p = p * u + T(1.0 / 5.0);
  p = p * u + T(1.0 / 3.0);
  p = p * u + T(1);
  return T(2) * s * p;
}

} // namespace statmech::math
