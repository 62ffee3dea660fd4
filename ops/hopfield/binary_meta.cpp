// Meta kernels of binary_hopfield_run, binary_hopfield_glauber and _binary_hopfield_async_orders: the real kernels' checks and
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

at::Tensor binary_hopfield_async_orders_meta(const at::Tensor& state, int64_t sweeps, std::optional<at::Generator>) {
  check_async_orders(state, sweeps);
  return at::empty_symint({state.sym_size(0), c10::SymInt(sweeps), state.sym_size(1)}, state.options().dtype(at::kLong));
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("binary_hopfield_run", &binary_hopfield_run_meta);
  m.impl("binary_hopfield_glauber", &binary_hopfield_glauber_meta);
  m.impl("_binary_hopfield_async_orders", &binary_hopfield_async_orders_meta);
}

} // namespace statmech::hopfield
