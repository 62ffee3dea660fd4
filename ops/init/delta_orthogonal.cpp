// delta_orthogonal_ (Xiao et al. 2018, "Dynamical isometry and a mean field theory of CNNs",
// Algorithm 2): a convolution that is the identity in space and orthogonal across channels, so
// the input-output Jacobian of a deep CNN inherits the spectrum of an orthogonal MLP.

#include "ops/init/init.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

namespace statmech::init {
namespace {

void delta_orthogonal(at::Tensor& tensor, double sigma_w2, std::optional<at::Generator> generator) {
  check_conv_weight_for_delta(tensor);
  check_sigma_w2(kDeltaOrthogonalOp, sigma_w2);
  if (tensor.numel() > 0) {
    // The centre tap's [out, in] matrix, as in critical_orthogonal_ (out >= in).
    const auto out = static_cast<double>(tensor.size(0)), in = static_cast<double>(tensor.size(1));
    check_weight_scale(kDeltaOrthogonalOp, tensor, sigma_w2, std::sqrt(sigma_w2 / in), std::sqrt(sigma_w2 * out / in));
  }
  tensor.zero_();
  if (tensor.numel() == 0) {
    return;
  }
  // Only the centre tap carries weight, so the effective fan_in is `in`, not in * prod(kernel):
  // the [out, in] matrix follows critical_orthogonal_'s convention with that fan_in.
  const auto matrix = scaled_haar_orthogonal(tensor.size(0), tensor.size(1), sigma_w2, generator, tensor.options());
  at::Tensor centre = tensor;
  while (centre.dim() > 2) {
    centre = centre.select(2, centre.size(2) / 2);
  }
  centre.copy_(matrix);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("delta_orthogonal_", &delta_orthogonal);
}

} // namespace statmech::init
