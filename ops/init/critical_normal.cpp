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
  const double std_dev = std::sqrt(sigma_w2 / static_cast<double>(fan_in));
  // Draws beyond 8 standard deviations have probability 1e-15 each.
  check_weight_scale(kCriticalNormalOp, tensor, sigma_w2, std_dev, 8 * std_dev);
  tensor.normal_(0.0, std_dev, generator);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("critical_normal_", &critical_normal);
}

} // namespace statmech::init
