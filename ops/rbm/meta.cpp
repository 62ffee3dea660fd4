// Meta kernels of rbm_free_energy and the sampling ops: shapes only, with the real kernels' checks, so fake tensors
// (torch.compile, torch.export) see the same errors and the same output shapes.

#include "ops/rbm/free_energy.h"
#include "ops/rbm/sampling.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <vector>

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

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_gibbs_meta(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    int64_t steps, double /*beta*/, const std::optional<at::Tensor>& visible_log_variance,
    std::optional<at::Generator> /*generator*/) {
  constexpr const char* op = "rbm_gibbs";
  check_model(op, weight, visible_bias, hidden_bias, visible_log_variance);
  check_visible_state(op, "visible", visible, weight, 2, "[chains, visible]");
  check_steps(op, steps);
  const auto hidden_shape = std::vector<c10::SymInt>{visible.sym_size(0), weight.sym_size(1)};
  return {
      at::empty_symint(visible.sym_sizes(), visible.options()), at::empty_symint(hidden_shape, visible.options()),
      at::empty_symint(visible.sym_sizes(), visible.options()), at::empty_symint(hidden_shape, visible.options())};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> rbm_parallel_tempering_meta(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& betas, int64_t steps, const std::optional<at::Tensor>& visible_log_variance,
    std::optional<at::Generator> /*generator*/) {
  check_parallel_tempering_shapes(visible, weight, visible_bias, hidden_bias, betas, steps, visible_log_variance);
  const auto hidden_shape = std::vector<c10::SymInt>{visible.sym_size(0), visible.sym_size(1), weight.sym_size(1)};
  auto pairs = visible.sym_size(0) - 1;
  return {
      at::empty_symint(visible.sym_sizes(), visible.options()), at::empty_symint(hidden_shape, visible.options()),
      at::empty_symint({pairs}, visible.options().dtype(at::kDouble))};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_ais_meta(
    const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias, const std::optional<at::Tensor>& betas, int64_t runs,
    std::optional<at::Generator> /*generator*/, const std::optional<at::Tensor>& visible_log_variance) {
  check_ais_inputs(weight, visible_bias, hidden_bias, base_visible_bias, betas, runs, visible_log_variance);
  const auto options = weight.options().dtype(at::kDouble);
  return {at::empty({}, options), at::empty({}, options), at::empty({}, options), at::empty({runs}, options)};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("rbm_gibbs", &rbm_gibbs_meta);
  m.impl("rbm_parallel_tempering", &rbm_parallel_tempering_meta);
  m.impl("rbm_ais", &rbm_ais_meta);
  m.impl("rbm_free_energy", &rbm_free_energy_meta);
  m.impl("_rbm_free_energy_forward", &rbm_free_energy_forward_meta);
}

} // namespace statmech::rbm
