// The branch-free exp / log1p of ops/common/vectorizable_math.h against the C library, over the
// whole range each is used on, in units in the last place (ulp) of the reference value.

#include "ops/common/vectorizable_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace {

template <typename T>
double ulp_error(T value, T reference) {
  const double spacing = std::nextafter(reference, std::numeric_limits<T>::infinity()) - reference;
  return std::abs(static_cast<double>(value) - static_cast<double>(reference)) / spacing;
}

// `count` points evenly spread over [lo, hi], plus the end points.
template <typename T>
std::vector<T> grid(T lo, T hi, int count) {
  std::vector<T> points;
  for (int i = 0; i <= count; ++i) {
    points.push_back(lo + (hi - lo) * static_cast<T>(i) / static_cast<T>(count));
  }
  return points;
}

// The argument below which exp_nonpositive flushes to zero.
template <typename T>
T math_limits_lowest() {
  return statmech::math::FloatBits<T>::kMinExpArgument;
}

template <typename T>
class VectorizableMath : public ::testing::Test {};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(VectorizableMath, FloatTypes);

TYPED_TEST(VectorizableMath, ExpMatchesLibmOnTheNormalRange) {
  using T = TypeParam;
  const T lowest = math_limits_lowest<T>();
  double worst = 0;
  for (const T x : grid<T>(lowest, T(0), 2'000'000)) {
    worst = std::max(worst, ulp_error(statmech::math::exp_nonpositive(x), std::exp(x)));
  }
  // Small arguments, where exp(x) = 1 + x must not lose x.
  for (T x = T(-1e-30); x > T(-1); x *= T(1.7)) {
    worst = std::max(worst, ulp_error(statmech::math::exp_nonpositive(x), std::exp(x)));
  }
  EXPECT_LE(worst, 2.0) << "worst error " << worst << " ulp";
}

TYPED_TEST(VectorizableMath, ExpFlushesToZeroBelowTheNormalRange) {
  using T = TypeParam;
  const T lowest = math_limits_lowest<T>();
  for (const T x : {lowest - T(0.5), lowest * T(2), -std::numeric_limits<T>::infinity()}) {
    EXPECT_EQ(statmech::math::exp_nonpositive(x), T(0)) << "x = " << x;
    // What is dropped is below the smallest normal number.
    EXPECT_LT(std::exp(x), std::numeric_limits<T>::min() * T(1.01)) << "x = " << x;
  }
  EXPECT_EQ(statmech::math::exp_nonpositive(T(0)), T(1));
}

TYPED_TEST(VectorizableMath, Log1pMatchesLibmOnTheUnitInterval) {
  using T = TypeParam;
  double worst = 0;
  for (const T e : grid<T>(T(0), T(1), 2'000'000)) {
    worst = std::max(worst, ulp_error(statmech::math::log1p_unit_interval(e), std::log1p(e)));
  }
  // Tiny e: log1p(e) = e to full precision (where log(1 + e) would return 0).
  for (T e = std::numeric_limits<T>::min(); e < T(1e-3); e *= T(3.1)) {
    worst = std::max(worst, ulp_error(statmech::math::log1p_unit_interval(e), std::log1p(e)));
  }
  EXPECT_LE(worst, 3.0) << "worst error " << worst << " ulp";
  EXPECT_EQ(statmech::math::log1p_unit_interval(T(0)), T(0));
}

} // namespace
