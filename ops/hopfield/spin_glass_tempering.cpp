// binary_hopfield_parallel_tempering: replica-exchange Monte Carlo (Swendsen & Wang 1986;
// Hukushima & Nemoto 1996) over the heat-bath dynamics of binary_hopfield_glauber, for the ground
// states of spin glasses (Sherrington-Kirkpatrick couplings from spin_glass_couplings_) and of any
// symmetric Hopfield network. Input checks and setup; the chains run in the CPU kernel
// (cpu/binary_dynamics_cpu.cpp).

#include "ops/hopfield/binary_dynamics.h"

#include "ops/common/checks.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace statmech::hopfield {
namespace {

void check_tempering(
    const at::Tensor& state, const at::Tensor& weight, at::ArrayRef<double> temperatures, int64_t sweeps,
    const std::optional<at::Tensor>& threshold) {
  const char* op = kTemperingOp;
  checks::rank(op, "state", state, 3, "[batch, replicas, N]");
  TORCH_SYM_CHECK(
      state.sym_size(1).sym_eq(static_cast<int64_t>(temperatures.size())), op,
      ": state.size(1) must equal the number of temperatures = ", temperatures.size(), ", got shape ",
      state.sym_sizes());
  // The network checks on one replica's view, [batch, N].
  check_network(op, state.select(1, 0), weight, threshold);
  check_temperatures(op, temperatures, 1);
  TORCH_CHECK(sweeps >= 0, op, ": sweeps must be >= 0, got ", sweeps);
}

using TemperingResult = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

TemperingResult parallel_tempering_cpu(
    const at::Tensor& state, const at::Tensor& weight, at::ArrayRef<double> temperatures, int64_t sweeps,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator> generator) {
  check_tempering(state, weight, temperatures, sweeps, threshold);
  const at::Tensor theta = threshold.has_value() ? *threshold : at::Tensor();
  const int64_t batch = state.size(0), replicas = state.size(1), n = state.size(2);
  TemperingArgs args;
  args.spins = to_spins(state, weight.scalar_type()).contiguous();
  args.weight = weight;
  args.diag = weight.diagonal(0, -2, -1).contiguous();
  args.threshold = theta;
  // Fields and energies of every replica, [batch, R, N] and [batch, R], in float64.
  const at::Tensor s = args.spins.to(at::kDouble);
  const at::Tensor w = weight.to(at::kDouble);
  const at::Tensor h = at::matmul(s, w.transpose(-2, -1));
  const at::Tensor diag = w.dim() == 2 ? w.diagonal() : w.diagonal(0, -2, -1).unsqueeze(1);
  at::Tensor fields = h - diag * s;
  at::Tensor energy = (s * h).sum(-1).mul(-0.5);
  if (theta.defined()) {
    const at::Tensor t = theta.to(at::kDouble);
    const at::Tensor t3 = t.dim() == 1 ? t : t.unsqueeze(1);
    fields = fields - t3;
    energy = energy + (s * t3).sum(-1);
  }
  args.fields = fields.contiguous();
  args.energy = energy.contiguous();
  args.temperatures = temperatures.vec();
  args.sweeps = sweeps;
  args.best_spins = at::empty({batch, n}, args.spins.options());
  args.best_energy = at::empty({batch}, args.energy.options());
  args.swap_rate = at::zeros({batch, std::max<int64_t>(replicas - 1, 0)}, args.energy.options());
  if (batch > 0 && n > 0) {
    tempering_kernel_cpu(args, std::move(generator));
  } else {
    args.best_energy.zero_();
  }
  const at::ScalarType dtype = weight.scalar_type();
  return {
      args.spins, args.energy.to(dtype), args.best_spins, args.best_energy.to(dtype), args.swap_rate.to(dtype)};
}

TemperingResult parallel_tempering_meta(
    const at::Tensor& state, const at::Tensor& weight, at::ArrayRef<double> temperatures, int64_t sweeps,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator>) {
  check_tempering(state, weight, temperatures, sweeps, threshold);
  const auto options = state.options().dtype(weight.scalar_type());
  const c10::SymInt batch = state.sym_size(0), replicas = state.sym_size(1), n = state.sym_size(2);
  const int64_t pairs = std::max<int64_t>(static_cast<int64_t>(temperatures.size()) - 1, 0);
  return {
      at::empty_symint({batch, replicas, n}, options), at::empty_symint({batch, replicas}, options),
      at::empty_symint({batch, n}, options), at::empty_symint({batch}, options),
      at::empty_symint({batch, c10::SymInt(pairs)}, options)};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CPU, m) {
  m.impl("binary_hopfield_parallel_tempering", &parallel_tempering_cpu);
}

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("binary_hopfield_parallel_tempering", &parallel_tempering_meta);
}

} // namespace statmech::hopfield
