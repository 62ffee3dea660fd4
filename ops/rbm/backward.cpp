// _rbm_free_energy_backward: written with ATen ops only (three BLAS calls and two row scalings), so
// one implementation serves every device and the meta/fake tensors (CompositeExplicitAutograd).
//
// With p = sigmoid(c + v W) and the upstream gradient g [batch]:
//   dF/dv = -(a + W p)   dF/dW = -v p^T   dF/da = -v   dF/dc = -p
// The row scaling by -g is applied to whichever of v [batch, visible] and p [batch, hidden] is
// smaller, so no [batch, hidden] temporary is made when hidden is the larger side.

#include "ops/rbm/free_energy.h"

#include "ops/common/checks.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

#include <array>

namespace statmech::rbm {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_free_energy_backward(
    const at::Tensor& grad,
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_probability,
    std::array<bool, 4> output_mask) {
  constexpr const char* op = "_rbm_free_energy_backward";
  checks::floating(op, "grad", grad);
  checks::rank(op, "grad", grad, 1, "[batch]");
  checks::rank(op, "hidden_probability", hidden_probability, 2, "[batch, hidden]");
  checks::size(op, "grad", grad, 0, visible.sym_size(0), "the batch size visible.size(0)");
  checks::size(op, "hidden_probability", hidden_probability, 0, visible.sym_size(0), "the batch size visible.size(0)");
  checks::size(op, "hidden_probability", hidden_probability, 1, weight.sym_size(1), "the number of hidden units weight.size(1)");
  checks::same_dtype(op, "grad", grad, "visible", visible);
  checks::same_device(op, "grad", grad, "visible", visible);

  const at::Tensor neg_grad = grad.neg().unsqueeze(1); // [batch, 1]
  at::Tensor grad_visible, grad_weight, grad_visible_bias, grad_hidden_bias;
  if (output_mask[0]) {
    grad_visible = at::addmm(visible_bias, hidden_probability, weight.t()).mul_(neg_grad);
  }
  if (output_mask[1]) {
    grad_weight = visible.sym_size(1) <= weight.sym_size(1)
        ? at::mm((visible * neg_grad).t(), hidden_probability)
        : at::mm(visible.t(), hidden_probability * neg_grad);
  }
  if (output_mask[2]) {
    grad_visible_bias = at::mv(visible.t(), neg_grad.squeeze(1));
  }
  if (output_mask[3]) {
    grad_hidden_bias = at::mv(hidden_probability.t(), neg_grad.squeeze(1));
  }
  return {grad_visible, grad_weight, grad_visible_bias, grad_hidden_bias};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("_rbm_free_energy_backward", &rbm_free_energy_backward);
}

// The backward is first-order only: differentiating through it raises a clear error instead of
// silently returning zero second derivatives.
TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("_rbm_free_energy_backward", torch::autograd::autogradNotImplementedFallback());
  m.impl("_rbm_free_energy_forward", torch::autograd::autogradNotImplementedFallback());
}

} // namespace statmech::rbm
