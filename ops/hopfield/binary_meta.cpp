// Meta kernels of binary_hopfield_run and binary_hopfield_glauber: the real kernels' checks and
// output shapes, so fake tensors (torch.compile, torch.export) see the same errors and shapes.

#include "ops/hopfield/binary_dynamics.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace statmech::hopfield {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> binary_hopfield_run_meta(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold,
    c10::string_view update, int64_t max_sweeps, std::optional<at::Generator>) {
  check_network(kRunOp, state, weight, threshold);
  check_update(kRunOp, update);
  check_max_sweeps(kRunOp, max_sweeps);
  const c10::SymInt batch = state.sym_size(0);
  return {
      at::empty_symint(state.sym_sizes(), state.options().dtype(weight.scalar_type())),
      at::empty_symint({batch}, state.options().dtype(weight.scalar_type())),
      at::empty_symint({batch}, state.options().dtype(at::kLong)),
      at::empty_symint({batch}, state.options().dtype(at::kBool))};
}

std::tuple<at::Tensor, at::Tensor> binary_hopfield_glauber_meta(
    const at::Tensor& state, const at::Tensor& weight, at::ArrayRef<double> temperatures,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator>) {
  check_network(kGlauberOp, state, weight, threshold);
  check_temperatures(kGlauberOp, temperatures, 0);
  return {
      at::empty_symint(state.sym_sizes(), state.options().dtype(weight.scalar_type())),
      at::empty_symint({state.sym_size(0)}, state.options().dtype(weight.scalar_type()))};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("binary_hopfield_run", &binary_hopfield_run_meta);
  m.impl("binary_hopfield_glauber", &binary_hopfield_glauber_meta);
}

} // namespace statmech::hopfield
