// critical_orthogonal_: the weight flattened to [out, fan_in] becomes a scaled Haar-orthogonal
// matrix (see scaled_haar_orthogonal for the scaling convention).

#include "ops/init/init.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace statmech::init {
namespace {

void critical_orthogonal(at::Tensor& tensor, double sigma_w2, std::optional<at::Generator> generator) {
  check_weight(kCriticalOrthogonalOp, tensor);
  check_sigma_w2(kCriticalOrthogonalOp, sigma_w2);
  if (tensor.numel() == 0) {
    return;
  }
  const int64_t rows = tensor.size(0);
  const int64_t cols = tensor.numel() / rows;
  const auto matrix = scaled_haar_orthogonal(rows, cols, sigma_w2, generator, tensor.options());
  // Row-major flattening of [out, in, k...] is the [out, fan_in] view; copy_ handles any strides
  // and the cast back to half precision.
  tensor.copy_(matrix.reshape(tensor.sizes()));
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("critical_orthogonal_", &critical_orthogonal);
}

} // namespace statmech::init
