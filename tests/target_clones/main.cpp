// A kernel in the style of ops/rbm/cpu (branch-free exp over a row, STATMECH_CPU_CLONES), checked
// against libm. Prints whether it was compiled as clones.
#include "ops/common/vectorizable_math.h"

#include <cmath>
#include <cstdio>
#include <vector>

namespace {

template <typename T>
STATMECH_CPU_CLONES void exp_row(const T* in, T* out, int n) {
  for (int i = 0; i < n; ++i) {
    out[i] = statmech::math::exp_nonpositive(in[i]);
  }
}

} // namespace

int main() {
  std::vector<double> in(1000), out(1000);
  for (int i = 0; i < 1000; ++i) {
    in[i] = -0.05 * i;
  }
  exp_row<double>(in.data(), out.data(), 1000);
  for (int i = 0; i < 1000; ++i) {
    if (std::abs(out[i] - std::exp(in[i])) > 1e-14 * std::exp(in[i])) {
      std::printf("exp_row wrong at %d: %.17g vs %.17g\n", i, out[i], std::exp(in[i]));
      return 1;
    }
  }
#if defined(STATMECH_HAVE_TARGET_CLONES)
  std::puts("target_clones: compiled for x86-64-v3 and the baseline ISA");
#else
  std::puts("target_clones: not available, compiled once for the baseline ISA");
#endif
  return 0;
}
