// critical_normal_: W_ij ~ N(0, sigma_w2 / fan_in), on any device through ATen's normal_.

#include "ops/init/init.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>

namespace statmech::init {
namespace {

void critical_normal(at::Tensor& tensor, double sigma_w2, std::optional<at::Generator> generator) {
  check_weight(kCriticalNormalOp, tensor);
  check_sigma_w2(kCriticalNormalOp, sigma_w2);
  if (tensor.numel() == 0) {
    return;
  }
  const int64_t fan_in = tensor.numel() / tensor.size(0);
  tensor.normal_(0.0, std::sqrt(sigma_w2 / static_cast<double>(fan_in)), generator);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("critical_normal_", &critical_normal);
}

} // namespace statmech::init
