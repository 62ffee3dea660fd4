// Meta kernels of the initialisers: the real kernels' checks and nothing else (they return
// nothing and only mutate their input), so fake tensors see the same errors.

#include "ops/init/init.h"

#include <torch/library.h>

namespace statmech::init {
namespace {

void critical_normal_meta(at::Tensor& tensor, double sigma_w2, std::optional<at::Generator>) {
  check_weight(kCriticalNormalOp, tensor);
  check_sigma_w2(kCriticalNormalOp, sigma_w2);
}

void critical_uniform_meta(at::Tensor& tensor, double sigma_w2, std::optional<at::Generator>) {
  check_weight(kCriticalUniformOp, tensor);
  check_sigma_w2(kCriticalUniformOp, sigma_w2);
}

void critical_orthogonal_meta(at::Tensor& tensor, double sigma_w2, std::optional<at::Generator>) {
  check_weight(kCriticalOrthogonalOp, tensor);
  check_sigma_w2(kCriticalOrthogonalOp, sigma_w2);
}

void delta_orthogonal_meta(at::Tensor& tensor, double sigma_w2, std::optional<at::Generator>) {
  check_conv_weight_for_delta(tensor);
  check_sigma_w2(kDeltaOrthogonalOp, sigma_w2);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("critical_normal_", &critical_normal_meta);
  m.impl("critical_uniform_", &critical_uniform_meta);
  m.impl("critical_orthogonal_", &critical_orthogonal_meta);
  m.impl("delta_orthogonal_", &delta_orthogonal_meta);
}

} // namespace statmech::init
