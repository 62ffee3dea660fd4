// Input checks of the initialisers: named argument, expected and received value in every message.

#include "ops/init/init.h"

#include "ops/common/checks.h"

#include <c10/core/SymBool.h>
#include <c10/util/Exception.h>

#include <ATen/Dispatch.h>

#include <cmath>
#include <limits>

namespace statmech::init {

void check_weight(const char* op, const at::Tensor& tensor) {
  TORCH_CHECK(tensor.defined(), op, ": tensor must be a tensor, got an undefined tensor");
  TORCH_CHECK(
      at::isFloatingType(tensor.scalar_type()), op,
      ": tensor must have a floating-point dtype (float16, bfloat16, float32 or float64), got ",
      tensor.scalar_type());
  // fan_in needs an `in` dimension, as for torch.nn.init's fan computation.
  TORCH_CHECK(
      tensor.dim() >= 2, op, ": tensor must be at least 2-D [out, in, kernel...] so that fan_in = in * prod(kernel)"
      " is defined, got ", tensor.dim(), "-D with shape ", tensor.sym_sizes());
}

void check_sigma_w2(const char* op, double sigma_w2) {
  checks::positive_variance(op, "sigma_w2", sigma_w2);
}

void check_weight_scale(const char* op, const at::Tensor& tensor, double sigma_w2, double typical, double largest) {
  double finite_max = 0, smallest = 0;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, tensor.scalar_type(), "check_weight_scale", [&] {
    finite_max = static_cast<double>(std::numeric_limits<scalar_t>::max());
    // Subnormal weights keep at least half the significand's bits down to here.
    smallest = static_cast<double>(std::numeric_limits<scalar_t>::min()) *
        std::sqrt(static_cast<double>(std::numeric_limits<scalar_t>::epsilon()));
  });
  TORCH_CHECK(
      std::isfinite(largest) && largest <= finite_max, op, ": sigma_w2 = ", sigma_w2, " gives weights up to ~",
      largest, ", beyond what ", tensor.scalar_type(), " holds (largest finite value ", finite_max,
      "); use a wider dtype or a smaller sigma_w2");
  TORCH_CHECK(
      typical >= smallest, op, ": sigma_w2 = ", sigma_w2, " gives weights of magnitude ~", typical, ", below what ",
      tensor.scalar_type(), " holds with half its precision (", smallest,
      "): they would be subnormal or 0; use a wider dtype or a larger sigma_w2");
}

void check_conv_weight_for_delta(const at::Tensor& tensor) {
  const char* op = kDeltaOrthogonalOp;
  check_weight(op, tensor);
  TORCH_CHECK(
      tensor.dim() >= 3 && tensor.dim() <= 5, op,
      ": tensor must be a Conv1d/Conv2d/Conv3d weight, 3-D to 5-D [out, in, k...], got ", tensor.dim(),
      "-D with shape ", tensor.sym_sizes(), " (use critical_orthogonal_ for Linear weights)");
  for (int64_t d = 2; d < tensor.dim(); ++d) {
    // A centre tap exists only for odd kernel sizes.
    TORCH_SYM_CHECK(
        (tensor.sym_size(d) % 2).sym_eq(1), op, ": every kernel size of tensor must be odd so that the kernel"
        " has a centre tap, got kernel size ", tensor.sym_size(d), " in dimension ", d, " of shape ",
        tensor.sym_sizes());
  }
  // An [out, in] matrix with orthonormal columns exists only when in <= out.
  TORCH_SYM_CHECK(
      tensor.sym_size(1).sym_le(tensor.sym_size(0)), op, ": tensor must have in_channels <= out_channels"
      " (size(1) <= size(0)) for an orthogonal centre tap, got in_channels = ", tensor.sym_size(1),
      " > out_channels = ", tensor.sym_size(0), " (use critical_orthogonal_ or critical_normal_ instead)");
}

} // namespace statmech::init
