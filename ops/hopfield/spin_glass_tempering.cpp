// binary_hopfield_parallel_tempering: replica-exchange Monte Carlo (Swendsen & Wang 1986;
// Hukushima & Nemoto 1996) over the heat-bath dynamics of binary_hopfield_glauber, for the ground
// states of spin glasses (Sherrington-Kirkpatrick couplings from spin_glass_couplings_) and of any
// symmetric Hopfield network. Input checks and setup; on CPU the chains run in the CPU kernel
// (cpu/binary_dynamics_cpu.cpp). Every other device (CUDA) runs the device-generic version below,
// composed of ATen ops and binary_hopfield_glauber (which has a CUDA kernel): the same dynamics,
// the same exchange convention and the same outputs, with other random streams. It is on CPU too as
// the private op _binary_hopfield_parallel_tempering_generic, so that it is tested without a GPU.

#include "ops/hopfield/binary_dynamics.h"

#include "ops/common/checks.h"

#include <statmech/binary_hopfield.h>

#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <limits>

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
  // At least one replica before state.select(1, 0) below.
  check_temperatures(op, temperatures, 1);
  // The neuron counts against state.size(2), named as such, before the checks on one replica.
  if (weight.dim() == 2 || weight.dim() == 3) {
    checks::size(op, "weight", weight, weight.dim() - 1, state.sym_size(2), "the number of neurons state.size(2)");
  }
  if (threshold.has_value() && threshold->defined() && (threshold->dim() == 1 || threshold->dim() == 2)) {
    checks::size(
        op, "threshold", *threshold, threshold->dim() - 1, state.sym_size(2), "the number of neurons state.size(2)");
  }
  // The network checks on one replica's view, [batch, N].
  check_network(op, state.select(1, 0), weight, threshold);
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

// Device-generic parallel tempering. Each round: one heat-bath sweep per replica (a call of
// binary_hopfield_glauber on the [batch, N] view of replica r with the schedule {T_r}: it draws its
// own neuron orders and heat-bath numbers from `generator`), the energies of all replicas in
// float64, then exchange attempts between the pairs (r, r + 1) with r = round % 2, r + 2, ...
// (the CPU kernel's convention), accepted when log_ratio = (1/T_r - 1/T_r+1)(E_r - E_r+1) >= 0 or
// u < exp(log_ratio), u ~ U[0, 1) from `generator` on the state's device; T = 0 is beta = inf. The
// replicas stay in temperature order (an accepted exchange swaps the two states). The best state is
// the lowest energy over the replicas at every round boundary, the initial state included; on a
// tie the earlier round, then the lower temperature, wins (as on CPU).
TemperingResult parallel_tempering_generic(
    const at::Tensor& state, const at::Tensor& weight, at::ArrayRef<double> temperatures, int64_t sweeps,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator> generator) {
  check_tempering(state, weight, temperatures, sweeps, threshold);
  const at::ScalarType dtype = weight.scalar_type();
  const int64_t batch = state.size(0), replicas = state.size(1), n = state.size(2);
  const int64_t pairs = std::max<int64_t>(replicas - 1, 0);
  at::Tensor spins = to_spins(state, dtype).contiguous(); // [batch, R, N], temperature order
  const at::Tensor w = weight.to(at::kDouble);
  const at::Tensor wt = w.transpose(-2, -1);
  at::Tensor theta3; // [N] or [batch, 1, N]
  if (threshold.has_value() && threshold->defined()) {
    const at::Tensor t = threshold->to(at::kDouble);
    theta3 = t.dim() == 1 ? t : t.unsqueeze(1);
  }
  auto energies = [&](const at::Tensor& s_spins) { // [batch, R] float64
    const at::Tensor s = s_spins.to(at::kDouble);
    at::Tensor e = (s * at::matmul(s, wt)).sum(-1).mul(-0.5);
    if (theta3.defined()) {
      e = e + (s * theta3).sum(-1);
    }
    return e;
  };
  at::Tensor energy = energies(spins);
  const auto double_options = energy.options();
  at::Tensor swap_rate = at::zeros({batch, pairs}, double_options);
  if (batch == 0 || n == 0) {
    return {
        spins, energy.to(dtype), at::empty({batch, n}, spins.options()), at::zeros({batch}, weight.options()),
        swap_rate.to(dtype)};
  }
  const auto long_options = state.options().dtype(at::kLong);
  const at::Tensor rows = at::arange(batch, long_options);
  // The best over the replicas of one round boundary: argmin takes the first (lowest temperature).
  at::Tensor best_index = energy.argmin(1);
  at::Tensor best_energy = energy.gather(1, best_index.unsqueeze(1)).squeeze(1);
  at::Tensor best_spins = spins.index({rows, best_index});
  at::Tensor accepted = at::zeros({batch, pairs}, long_options);
  // The exchange of the pairs starting at `parity`: indices, inverse temperature differences.
  struct Exchange {
    at::Tensor lower, upper; // [P'] int64: r and r + 1
    at::Tensor dbeta;        // [P'] float64: 1/T_r - 1/T_r+1 (0 where equal, inf - finite as is)
  };
  std::vector<Exchange> exchanges;
  for (int64_t parity = 0; parity < 2; ++parity) {
    std::vector<int64_t> lower;
    std::vector<double> dbeta;
    for (int64_t r = parity; r + 1 < replicas; r += 2) {
      const double t0 = temperatures[r], t1 = temperatures[r + 1];
      const double inf = std::numeric_limits<double>::infinity();
      const double beta0 = t0 > 0 ? 1.0 / t0 : inf, beta1 = t1 > 0 ? 1.0 / t1 : inf;
      lower.push_back(r);
      dbeta.push_back(beta0 == beta1 ? 0.0 : beta0 - beta1);
    }
    Exchange ex;
    ex.lower = at::tensor(lower, at::kLong).to(state.device());
    ex.upper = ex.lower + 1;
    ex.dbeta = at::tensor(dbeta, at::kDouble).to(state.device());
    exchanges.push_back(std::move(ex));
  }
  std::vector<at::Tensor> swept(replicas);
  for (int64_t round = 0; round < sweeps; ++round) {
    for (int64_t r = 0; r < replicas; ++r) {
      swept[r] = std::get<0>(
          statmech::binary_hopfield_glauber(spins.select(1, r), weight, {temperatures[r]}, threshold, generator));
    }
    spins = at::stack(swept, 1);
    energy = energies(spins);
    const Exchange& ex = exchanges[round % 2];
    const int64_t count = ex.lower.numel();
    if (count > 0) {
      const at::Tensor e0 = energy.index_select(1, ex.lower), e1 = energy.index_select(1, ex.upper);
      // (e0 - e1) * dbeta, but 0 where dbeta = 0 (equal temperatures), even if e0 - e1 is not finite.
      const at::Tensor log_ratio = at::where(ex.dbeta == 0, at::zeros_like(e0), (e0 - e1) * ex.dbeta);
      const at::Tensor u = at::rand({batch, count}, generator, double_options);
      const at::Tensor accept = log_ratio.ge(0).logical_or(u.lt(log_ratio.exp()));
      accepted.index_add_(1, ex.lower, accept.to(at::kLong));
      // Source replica of every slot after the exchange: r <-> r + 1 where accepted.
      at::Tensor source = at::arange(replicas, long_options).expand({batch, replicas}).clone();
      source.index_copy_(1, ex.lower, at::where(accept, ex.upper, ex.lower));
      source.index_copy_(1, ex.upper, at::where(accept, ex.lower, ex.upper));
      spins = spins.gather(1, source.unsqueeze(-1).expand({batch, replicas, n}));
      energy = energy.gather(1, source);
    }
    const at::Tensor index = energy.argmin(1);
    const at::Tensor low = energy.gather(1, index.unsqueeze(1)).squeeze(1);
    const at::Tensor better = low < best_energy;
    best_energy = at::where(better, low, best_energy);
    best_spins = at::where(better.unsqueeze(1), spins.index({rows, index}), best_spins);
  }
  // Attempts per pair are deterministic: pair r is tried in the rounds with round % 2 == r % 2.
  std::vector<double> attempted(pairs);
  for (int64_t r = 0; r < pairs; ++r) {
    attempted[r] = static_cast<double>(r % 2 == 0 ? (sweeps + 1) / 2 : sweeps / 2);
  }
  const at::Tensor attempts = at::tensor(attempted, at::kDouble).to(state.device());
  swap_rate = at::where(attempts > 0, accepted.to(at::kDouble) / attempts.clamp_min(1), at::zeros_like(attempts));
  return {spins.contiguous(), energy.to(dtype), best_spins, best_energy.to(dtype), swap_rate.to(dtype)};
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
  m.impl("_binary_hopfield_parallel_tempering_generic", &parallel_tempering_generic);
}

TORCH_LIBRARY_IMPL(statmech, CUDA, m) {
  m.impl("binary_hopfield_parallel_tempering", &parallel_tempering_generic);
  m.impl("_binary_hopfield_parallel_tempering_generic", &parallel_tempering_generic);
}

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("binary_hopfield_parallel_tempering", &parallel_tempering_meta);
  m.impl("_binary_hopfield_parallel_tempering_generic", &parallel_tempering_meta);
}

} // namespace statmech::hopfield
