// critical_orthogonal_: the weight flattened to [out, fan_in] becomes a scaled Haar-orthogonal
// matrix (see scaled_haar_orthogonal for the scaling convention).

#include "ops/init/init.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

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
  // Entries of variance sigma_w2 / cols, at most sqrt(sigma_w2 max(1, rows / cols)) (haar.cpp).
  check_weight_scale(
      kCriticalOrthogonalOp, tensor, sigma_w2, std::sqrt(sigma_w2 / static_cast<double>(cols)),
      std::sqrt(sigma_w2 * std::max(1.0, static_cast<double>(rows) / static_cast<double>(cols))));
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
