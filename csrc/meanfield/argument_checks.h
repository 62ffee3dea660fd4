#pragma once

// Argument checks of the calculator: each message names the function, the argument, what was
// expected and what was received, and reminds that variances are sigma^2.

#include <c10/util/Exception.h>

#include <cmath>

namespace statmech::meanfield::detail {

inline void check_positive_variance(const char* fn, const char* name, double value) {
  TORCH_CHECK(std::isfinite(value) && value > 0, fn, ": ", name,
              " must be a positive, finite variance (sigma^2, not sigma), got ", value);
}

inline void check_nonnegative_variance(const char* fn, const char* name, double value) {
  TORCH_CHECK(std::isfinite(value) && value >= 0, fn, ": ", name,
              " must be a non-negative, finite variance (sigma^2, not sigma), got ", value);
}

inline void check_correlation(const char* fn, const char* name, double value) {
  TORCH_CHECK(value >= -1.0 && value <= 1.0, fn, ": ", name, " must be a correlation in [-1, 1], got ", value);
}

} // namespace statmech::meanfield::detail
