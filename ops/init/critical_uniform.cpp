// critical_uniform_: W_ij ~ U(-a, a) with a = sqrt(3 sigma_w2 / fan_in), so that the entries have
// the variance sigma_w2 / fan_in of critical_normal_ (torch.nn.init.kaiming_uniform_'s bound with
// gain^2 = sigma_w2). On any device through ATen's uniform_.

#include "ops/init/init.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <cmath>
#include <limits>

namespace statmech::init {
namespace {

void critical_uniform(at::Tensor& tensor, double sigma_w2, std::optional<at::Generator> generator) {
  check_weight(kCriticalUniformOp, tensor);
  check_sigma_w2(kCriticalUniformOp, sigma_w2);
  if (tensor.numel() == 0) {
    return;
  }
  const int64_t fan_in = tensor.numel() / tensor.size(0);
  const double bound = std::sqrt(3.0 * sigma_w2 / static_cast<double>(fan_in));
  double largest = 0;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, tensor.scalar_type(), "critical_uniform_", [&] {
    largest = static_cast<double>(std::numeric_limits<scalar_t>::max());
  });
  // uniform_ needs the width 2a of [-a, a) to be representable too.
  TORCH_CHECK(
      std::isfinite(bound) && bound <= largest / 2, kCriticalUniformOp, ": sigma_w2 = ", sigma_w2,
      " puts the range [-a, a), a = sqrt(3 sigma_w2 / fan_in) = ", bound, ", beyond what ", tensor.scalar_type(),
      " holds (width up to ", largest, ")");
  // Weights of standard deviation a / sqrt(3); tiny ones would be subnormal or 0.
  check_weight_scale(kCriticalUniformOp, tensor, sigma_w2, bound / std::sqrt(3.0), bound);
  tensor.uniform_(-bound, bound, generator);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("critical_uniform_", &critical_uniform);
}

} // namespace statmech::init
