// _rbm_free_energy_backward: written with ATen ops only (BLAS calls and one in-place row scaling),
// so one implementation serves every device and the meta/fake tensors (CompositeExplicitAutograd).
//
// With p = sigmoid(c + v W) and the upstream gradient g [batch]:
//   dF/dv = -(a + W p)   dF/dW = -v p^T   dF/da = -v   dF/dc = -p
// Every gradient is linear in the row-scaled p' = -g * p:
//   grad_v = p' W^T + (-g) a^T   grad_W = v^T p'   grad_a = v^T (-g)   grad_c = sum_b p'_b
// so p is scaled in place (the schema marks it mutated) and the backward allocates nothing of size
// [batch, hidden]: its peak memory is the gradients themselves.

#include "ops/rbm/free_energy.h"

#include "ops/common/checks.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

#include <array>
#include <utility>

namespace statmech::rbm {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_free_energy_backward(
    const at::Tensor& grad,
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    at::Tensor& hidden_probability,
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
  // The saved tensors must fit together too (a mismatch gave gradients of the wrong shapes).
  checks::rank(op, "visible", visible, 2, "[batch, visible]");
  checks::rank(op, "weight", weight, 2, "[visible, hidden]");
  checks::size(op, "weight", weight, 0, visible.sym_size(1), "the number of visible units visible.size(1)");
  checks::rank(op, "visible_bias", visible_bias, 1, "[visible]");
  checks::size(op, "visible_bias", visible_bias, 0, visible.sym_size(1), "the number of visible units visible.size(1)");
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor&>{"weight", weight},
                                {"visible_bias", visible_bias}, {"hidden_probability", hidden_probability}}) {
    checks::same_dtype(op, name, t, "visible", visible);
    checks::same_device(op, name, t, "visible", visible);
  }

  const at::Tensor neg_grad = grad.neg(); // [batch]
  const at::Tensor& scaled = hidden_probability.mul_(neg_grad.unsqueeze(1)); // p' = -g * p
  at::Tensor grad_visible, grad_weight, grad_visible_bias, grad_hidden_bias;
  if (output_mask[0]) {
    grad_visible = at::mm(scaled, weight.t()).addr_(neg_grad, visible_bias);
  }
  if (output_mask[1]) {
    grad_weight = at::mm(visible.t(), scaled);
  }
  if (output_mask[2]) {
    grad_visible_bias = at::mv(visible.t(), neg_grad);
  }
  if (output_mask[3]) {
    grad_hidden_bias = scaled.sum(0);
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
