// rbm_free_energy: input checks and the device-independent part of the forward.

#include "ops/rbm/free_energy.h"

#include "ops/common/checks.h"

#include <ATen/ATen.h>

namespace statmech::rbm {

void check_free_energy_inputs(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias) {
  const char* op = kFreeEnergyOp;
  checks::floating(op, "visible", visible);
  checks::floating(op, "weight", weight);
  checks::floating(op, "visible_bias", visible_bias);
  checks::floating(op, "hidden_bias", hidden_bias);
  checks::rank(op, "visible", visible, 2, "[batch, visible]");
  checks::rank(op, "weight", weight, 2, "[visible, hidden]");
  checks::rank(op, "visible_bias", visible_bias, 1, "[visible]");
  checks::rank(op, "hidden_bias", hidden_bias, 1, "[hidden]");
  checks::size(op, "weight", weight, 0, visible.sym_size(1), "the number of visible units visible.size(1)");
  checks::size(op, "visible_bias", visible_bias, 0, visible.sym_size(1), "the number of visible units visible.size(1)");
  checks::size(op, "hidden_bias", hidden_bias, 0, weight.sym_size(1), "the number of hidden units weight.size(1)");
  checks::same_dtype(op, "weight", weight, "visible", visible);
  checks::same_dtype(op, "visible_bias", visible_bias, "visible", visible);
  checks::same_dtype(op, "hidden_bias", hidden_bias, "visible", visible);
  checks::same_device(op, "weight", weight, "visible", visible);
  checks::same_device(op, "visible_bias", visible_bias, "visible", visible);
  checks::same_device(op, "hidden_bias", hidden_bias, "visible", visible);
}

std::tuple<at::Tensor, at::Tensor> free_energy_forward(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    bool keep_probability,
    SoftplusRowsFn softplus_rows) {
  check_free_energy_inputs(visible, weight, visible_bias, hidden_bias);
  // Fresh and contiguous; the row pass adds the hidden bias (cheaper than addmm's broadcast copy)
  // and turns it into sigmoid(pre + c) in place.
  at::Tensor pre = at::mm(visible, weight);
  at::Tensor free_energy = at::empty({visible.size(0)}, visible.options());
  if (visible.size(0) > 0) {
    softplus_rows(pre, hidden_bias, free_energy, keep_probability);
  }
  free_energy.addmv_(visible, visible_bias, /*beta=*/1, /*alpha=*/-1);
  return {free_energy, keep_probability ? pre : at::Tensor()};
}

} // namespace statmech::rbm
