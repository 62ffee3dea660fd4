// Dense associative memory: input checks, the energy (composite ATen, so it runs on every device)
// and the meta kernel of the asynchronous dynamics.

#include "ops/hopfield/dense_memory.h"

#include "ops/common/checks.h"
#include "ops/hopfield/binary_dynamics.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

#include <cmath>

namespace statmech::hopfield {

Interaction check_dense_memory(
    const char* op, const at::Tensor& state, const at::Tensor& patterns, std::string_view interaction, int64_t degree,
    double beta) {
  TORCH_CHECK(state.defined(), op, ": state must be a tensor, got an undefined tensor");
  TORCH_CHECK(!at::isComplexType(state.scalar_type()), op, ": state must be real, got ", state.scalar_type());
  checks::rank(op, "state", state, 2, "[batch, N]");
  checks::floating(op, "patterns", patterns);
  checks::rank(op, "patterns", patterns, 2, "[patterns, N]");
  checks::size(op, "patterns", patterns, 1, state.sym_size(1), "the number of neurons state.size(1)");
  checks::same_device(op, "patterns", patterns, "state", state);
  TORCH_CHECK(degree >= 1, op, ": degree must be >= 1, got ", degree);
  TORCH_CHECK(std::isfinite(beta) && beta > 0, op, ": beta must be finite and > 0, got ", beta);
  if (interaction == "polynomial") {
    return Interaction::kPolynomial;
  }
  if (interaction == "rectified_polynomial") {
    return Interaction::kRectifiedPolynomial;
  }
  TORCH_CHECK(
      interaction == "exponential", op,
      ": interaction must be one of 'polynomial', 'rectified_polynomial', 'exponential', got '", interaction, "'");
  return Interaction::kExponential;
}

at::Tensor dense_memory_energy_of_spins(
    const at::Tensor& spins, const at::Tensor& patterns, Interaction interaction, int64_t degree, double beta) {
  // In float64 (overlaps are integers, exact), rounded once to the patterns' dtype at the end.
  const at::Tensor overlaps = at::mm(spins.to(at::kDouble), to_spins(patterns, at::kDouble).t()); // [batch, P]
  if (interaction == Interaction::kExponential) {
    // Terms all positive: the sum overflows (to E = -inf) only where E is beyond the range.
    return overlaps.mul(beta).exp().sum(-1).neg().to(patterns.scalar_type());
  }
  const at::Tensor f_argument = interaction == Interaction::kRectifiedPolynomial ? overlaps.relu() : overlaps;
  const at::Tensor plain = f_argument.pow(degree).sum(-1);
  // Past the double range the powers overflow and, with an odd degree, +inf - inf gave NaN (degree
  // 101 at N = 1000 in float32). There the sum is taken as sign(S) top^n |S| with
  // S = sum_mu (m_mu / top)^n, top = max_mu |m_mu|, in logarithms: +-inf only where E itself is.
  // (A column of ones appended: top >= 1, and defined without patterns.)
  const at::Tensor top = at::constant_pad_nd(f_argument.abs(), {0, 1}, 1.0).amax(-1, /*keepdim=*/true);
  const at::Tensor scaled_sum = f_argument.div(top).pow(degree).sum(-1);
  const at::Tensor scaled =
      scaled_sum.sign() * (top.squeeze(-1).log() * static_cast<double>(degree) + scaled_sum.abs().log()).exp();
  return at::where(plain.isfinite(), plain, scaled).neg().to(patterns.scalar_type());
}

namespace {

at::Tensor dense_memory_energy(
    const at::Tensor& state, const at::Tensor& patterns, c10::string_view interaction, int64_t degree, double beta) {
  const Interaction kind = check_dense_memory(kDenseEnergyOp, state, patterns, interaction, degree, beta);
  return dense_memory_energy_of_spins(to_spins(state, patterns.scalar_type()), patterns, kind, degree, beta);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> dense_memory_run_meta(
    const at::Tensor& state, const at::Tensor& patterns, c10::string_view interaction, int64_t degree, double beta,
    int64_t max_sweeps, std::optional<at::Generator>) {
  check_dense_memory(kDenseRunOp, state, patterns, interaction, degree, beta);
  check_max_sweeps(kDenseRunOp, max_sweeps);
  const c10::SymInt batch = state.sym_size(0);
  return {
      at::empty_symint(state.sym_sizes(), state.options().dtype(patterns.scalar_type())),
      at::empty_symint({batch}, state.options().dtype(patterns.scalar_type())),
      at::empty_symint({batch}, state.options().dtype(at::kLong)),
      at::empty_symint({batch}, state.options().dtype(at::kBool))};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeImplicitAutograd, m) {
  m.impl("dense_memory_energy", &dense_memory_energy);
}

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("dense_memory_run", &dense_memory_run_meta);
}

TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("dense_memory_run", torch::autograd::autogradNotImplementedFallback());
}

} // namespace statmech::hopfield
