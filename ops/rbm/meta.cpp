// Meta kernels of rbm_free_energy: shapes only, with the real kernels' checks, so fake tensors
// (torch.compile, torch.export) see the same errors and the same output shapes.

#include "ops/rbm/free_energy.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace statmech::rbm {
namespace {

at::Tensor rbm_free_energy_meta(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  check_free_energy_inputs(visible, weight, visible_bias, hidden_bias);
  return at::empty_symint({visible.sym_size(0)}, visible.options());
}

std::tuple<at::Tensor, at::Tensor> rbm_free_energy_forward_meta(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  check_free_energy_inputs(visible, weight, visible_bias, hidden_bias);
  return {
      at::empty_symint({visible.sym_size(0)}, visible.options()),
      at::empty_symint({visible.sym_size(0), weight.sym_size(1)}, visible.options())};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("rbm_free_energy", &rbm_free_energy_meta);
  m.impl("_rbm_free_energy_forward", &rbm_free_energy_forward_meta);
}

} // namespace statmech::rbm
