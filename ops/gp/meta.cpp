// Meta kernels of fc_kernel and _fc_kernel_backward: shapes only, with the real kernels' shape
// checks, so fake tensors (torch.compile, torch.export) see the same errors and shapes.

#include "ops/gp/fc_kernel.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace statmech::gp {
namespace {

at::Tensor fc_kernel_meta(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2, const at::Tensor& sigma_b2,
    int64_t depth, c10::string_view activation, std::optional<double> activation_parameter,
    c10::string_view parameterization, double width, bool nngp, bool ntk, bool diagonal) {
  const FcKernelConfig config = check_fc_kernel_inputs(
      kFcKernelOp, x1, x2, sigma_w2, sigma_b2, depth, std::string(activation), activation_parameter,
      std::string(parameterization), width, nngp, ntk, diagonal);
  return at::empty_symint(fc_kernel_output_shape(config, x1, x2), x1.options());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> fc_kernel_backward_meta(
    const at::Tensor& grad, const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, c10::string_view activation,
    std::optional<double> activation_parameter, c10::string_view parameterization, double width, bool nngp,
    bool ntk, bool diagonal, std::array<bool, 4> output_mask) {
  const FcKernelConfig config = check_fc_kernel_inputs(
      "_fc_kernel_backward", x1, x2, sigma_w2, sigma_b2, depth, std::string(activation), activation_parameter,
      std::string(parameterization), width, nngp, ntk, diagonal);
  check_fc_kernel_grad("_fc_kernel_backward", grad, config, x1, x2);
  return {
      output_mask[0] ? at::empty_symint(x1.sym_sizes(), x1.options()) : at::Tensor(),
      output_mask[1] && x2.has_value() ? at::empty_symint(x2->sym_sizes(), x2->options()) : at::Tensor(),
      output_mask[2] ? at::empty({}, sigma_w2.options()) : at::Tensor(),
      output_mask[3] ? at::empty({}, sigma_b2.options()) : at::Tensor()};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("fc_kernel", &fc_kernel_meta);
  m.impl("_fc_kernel_backward", &fc_kernel_backward_meta);
}

} // namespace statmech::gp
