// The classical binary Hopfield operators: input checks, the storage rules, the energy, the
// synchronous dynamics (batched GEMMs, so every device runs it) and the parts of the asynchronous
// and stochastic dynamics that are not a device kernel. Conventions: binary_dynamics.h.

#include "ops/hopfield/binary_dynamics.h"

#include "ops/common/checks.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

#include <cmath>

namespace statmech::hopfield {

// ---- checks -----------------------------------------------------------------------------------

namespace {

void real_or_bool(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", name, " must be a tensor, got an undefined tensor");
  TORCH_CHECK(
      !at::isComplexType(t.scalar_type()), op, ": ", name,
      " must be real (spins are read as +1 where > 0, -1 elsewhere), got ", t.scalar_type());
}

} // namespace

void check_network(
    const char* op, const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold) {
  real_or_bool(op, "state", state);
  checks::rank(op, "state", state, 2, "[batch, N]");
  checks::floating(op, "weight", weight);
  TORCH_CHECK(
      weight.dim() == 2 || weight.dim() == 3, op, ": weight must be 2-D [N, N] or 3-D [batch, N, N], got ",
      weight.dim(), "-D with shape ", weight.sym_sizes());
  const int64_t last = weight.dim() - 1;
  checks::size(op, "weight", weight, last, state.sym_size(1), "the number of neurons state.size(1)");
  checks::size(op, "weight", weight, last - 1, state.sym_size(1), "the number of neurons state.size(1)");
  if (weight.dim() == 3) {
    checks::size(op, "weight", weight, 0, state.sym_size(0), "the batch size state.size(0)");
  }
  checks::same_device(op, "weight", weight, "state", state);
  if (threshold.has_value() && threshold->defined()) {
    const at::Tensor& theta = *threshold;
    checks::floating(op, "threshold", theta);
    TORCH_CHECK(
        theta.dim() == 1 || theta.dim() == 2, op, ": threshold must be 1-D [N] or 2-D [batch, N], got ",
        theta.dim(), "-D with shape ", theta.sym_sizes());
    checks::size(op, "threshold", theta, theta.dim() - 1, state.sym_size(1), "the number of neurons state.size(1)");
    if (theta.dim() == 2) {
      checks::size(op, "threshold", theta, 0, state.sym_size(0), "the batch size state.size(0)");
    }
    checks::same_dtype(op, "threshold", theta, "weight", weight);
    checks::same_device(op, "threshold", theta, "state", state);
  }
}

void check_store(const at::Tensor& patterns, std::string_view rule) {
  real_or_bool(kStoreOp, "patterns", patterns);
  checks::rank(kStoreOp, "patterns", patterns, 2, "[patterns, N]");
  TORCH_SYM_CHECK(
      patterns.sym_size(1).sym_gt(0), kStoreOp, ": patterns must have at least one neuron, got shape ",
      patterns.sym_sizes());
  TORCH_CHECK(
      rule == "hebbian" || rule == "storkey" || rule == "pseudo_inverse", kStoreOp,
      ": rule must be one of 'hebbian', 'storkey', 'pseudo_inverse', got '", rule, "'");
}

void check_update(const char* op, std::string_view update) {
  TORCH_CHECK(update == "async" || update == "sync", op, ": update must be 'async' or 'sync', got '", update, "'");
}

void check_max_sweeps(const char* op, int64_t max_sweeps) {
  TORCH_CHECK(max_sweeps >= 0, op, ": max_sweeps must be >= 0, got ", max_sweeps);
}

void check_temperatures(const char* op, at::ArrayRef<double> temperatures, size_t min_count) {
  TORCH_CHECK(
      temperatures.size() >= min_count, op, ": temperatures must hold at least ", min_count, " value(s), got ",
      temperatures.size());
  for (size_t k = 0; k < temperatures.size(); ++k) {
    TORCH_CHECK(
        std::isfinite(temperatures[k]) && temperatures[k] >= 0, op, ": temperatures must be finite and >= 0, got ",
        temperatures[k], " at index ", k);
  }
}

void check_couplings(const at::Tensor& weight, std::string_view distribution) {
  checks::floating(kCouplingsOp, "weight", weight);
  TORCH_CHECK(
      weight.dim() >= 2, kCouplingsOp, ": weight must be [..., N, N], got ", weight.dim(), "-D with shape ",
      weight.sym_sizes());
  checks::size(
      kCouplingsOp, "weight", weight, weight.dim() - 1, weight.sym_size(weight.dim() - 2),
      "the number of spins weight.size(-2)");
  TORCH_CHECK(
      distribution == "gaussian" || distribution == "pm", kCouplingsOp,
      ": distribution must be 'gaussian' (J_ij ~ N(0, 1/N)) or 'pm' (J_ij = +-1/sqrt(N)), got '", distribution, "'");
}

void check_async_orders(const at::Tensor& state, int64_t sweeps) {
  real_or_bool(kAsyncOrdersOp, "state", state);
  checks::rank(kAsyncOrdersOp, "state", state, 2, "[batch, N]");
  TORCH_CHECK(sweeps >= 0, kAsyncOrdersOp, ": sweeps must be >= 0, got ", sweeps);
}

// ---- shared pieces ----------------------------------------------------------------------------

at::Tensor to_spins(const at::Tensor& x, at::ScalarType dtype) {
  return at::where(x > 0, 1.0, -1.0).to(dtype);
}

at::Tensor local_fields(const at::Tensor& spins, const at::Tensor& weight) {
  const at::Tensor w = weight.scalar_type() == spins.scalar_type() ? weight : weight.to(spins.scalar_type());
  if (w.dim() == 2) {
    return at::mm(spins, w.t());
  }
  return at::bmm(w, spins.unsqueeze(-1)).squeeze(-1);
}

at::Tensor energy_of_spins(const at::Tensor& spins, const at::Tensor& weight, const at::Tensor& threshold) {
  at::Tensor energy = (spins * local_fields(spins, weight)).sum(-1).mul(-0.5);
  if (threshold.defined()) {
    energy = energy + (spins * threshold).sum(-1);
  }
  return energy;
}

at::Tensor initial_fields_double(const at::Tensor& spins, const at::Tensor& weight, const at::Tensor& threshold) {
  const at::Tensor s = spins.to(at::kDouble);
  at::Tensor fields = local_fields(s, weight);
  fields.sub_(weight.diagonal(0, -2, -1).to(at::kDouble) * s);
  if (threshold.defined()) {
    fields.sub_(threshold.to(at::kDouble));
  }
  return fields.contiguous();
}

namespace {

at::Tensor threshold_or_undefined(const std::optional<at::Tensor>& threshold) {
  return threshold.has_value() ? *threshold : at::Tensor();
}

// Synchronous updates, s <- sign(f) for every neuron at once, as batched GEMMs (any device). Rows
// that reach a fixed point stop changing; the loop ends when every row is fixed or after
// max_sweeps sweeps (one extra field evaluation then tells whether the last state is fixed).
void synchronous(
    at::Tensor& spins, const at::Tensor& weight, const at::Tensor& threshold, int64_t max_sweeps,
    at::Tensor& sweeps, at::Tensor& converged) {
  const at::Tensor diag = weight.diagonal(0, -2, -1);
  for (int64_t sweep = 0;; ++sweep) {
    at::Tensor fields = local_fields(spins, weight) - diag * spins;
    if (threshold.defined()) {
      fields = fields - threshold;
    }
    const at::Tensor updated = at::where(fields > 0, 1.0, at::where(fields < 0, -1.0, spins)).to(spins.scalar_type());
    const at::Tensor changed = (updated != spins).any(1);
    converged.copy_(changed.logical_not());
    if (sweep == max_sweeps || !changed.any().item<bool>()) {
      return;
    }
    spins.copy_(at::where(changed.unsqueeze(1), updated, spins));
    sweeps.add_(changed);
  }
}

// E from the incrementally kept fields, O(batch N) instead of a GEMM: with h = f + diag s + theta,
// E = -1/2 s.h + theta.s = -1/2 s.f - 1/2 sum(diag) + 1/2 theta.s.
at::Tensor energy_from_fields(const AsyncArgs& args, const at::Tensor& threshold) {
  const at::Tensor s = args.spins.to(at::kDouble);
  at::Tensor energy = (s * args.fields).sum(-1).mul(-0.5) - 0.5 * args.diag.to(at::kDouble).sum(-1);
  if (threshold.defined()) {
    energy = energy + 0.5 * (s * threshold.to(at::kDouble)).sum(-1);
  }
  return energy.to(args.spins.scalar_type());
}

AsyncArgs make_async_args(const at::Tensor& spins, const at::Tensor& weight, const at::Tensor& threshold) {
  AsyncArgs args;
  args.spins = spins;
  args.weight = weight;
  args.diag = weight.diagonal(0, -2, -1).contiguous();
  args.fields = initial_fields_double(spins, weight, threshold);
  return args;
}

} // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> run_forward(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold,
    std::string_view update, int64_t max_sweeps, std::optional<at::Generator> generator, AsyncKernelFn kernel) {
  check_network(kRunOp, state, weight, threshold);
  check_update(kRunOp, update);
  check_max_sweeps(kRunOp, max_sweeps);
  const at::Tensor theta = threshold_or_undefined(threshold);
  at::Tensor spins = to_spins(state, weight.scalar_type()).contiguous();
  const int64_t batch = spins.size(0);
  at::Tensor sweeps = at::zeros({batch}, state.options().dtype(at::kLong));
  at::Tensor converged = at::zeros({batch}, state.options().dtype(at::kBool));
  if (batch > 0 && spins.size(1) > 0) {
    if (update == "sync") {
      synchronous(spins, weight, theta, max_sweeps, sweeps, converged);
    } else {
      AsyncArgs args = make_async_args(spins, weight, theta);
      args.max_sweeps = max_sweeps;
      args.sweeps = sweeps;
      args.converged = converged;
      kernel(args, std::move(generator));
      return {spins, energy_from_fields(args, theta), sweeps, converged};
    }
  } else {
    converged.fill_(true);
  }
  at::Tensor energy = energy_of_spins(spins, weight, theta);
  return {spins, energy, sweeps, converged};
}

std::tuple<at::Tensor, at::Tensor> glauber_forward(
    const at::Tensor& state, const at::Tensor& weight, at::ArrayRef<double> temperatures,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator> generator, AsyncKernelFn kernel) {
  check_network(kGlauberOp, state, weight, threshold);
  check_temperatures(kGlauberOp, temperatures, 0);
  const at::Tensor theta = threshold_or_undefined(threshold);
  at::Tensor spins = to_spins(state, weight.scalar_type()).contiguous();
  const int64_t batch = spins.size(0);
  if (batch > 0 && spins.size(1) > 0 && !temperatures.empty()) {
    AsyncArgs args = make_async_args(spins, weight, theta);
    args.temperatures = temperatures.vec();
    args.sweeps = at::zeros({batch}, state.options().dtype(at::kLong));
    args.converged = at::zeros({batch}, state.options().dtype(at::kBool));
    kernel(args, std::move(generator));
    return {spins, energy_from_fields(args, theta)};
  }
  return {spins, energy_of_spins(spins, weight, theta)};
}

namespace {

// ---- storage rules ----------------------------------------------------------------------------

at::ScalarType store_dtype(const at::Tensor& patterns) {
  return at::isFloatingType(patterns.scalar_type()) && patterns.scalar_type() != at::kHalf &&
          patterns.scalar_type() != at::kBFloat16
      ? patterns.scalar_type()
      : at::typeMetaToScalarType(at::get_default_dtype());
}

at::Tensor binary_hopfield_store(const at::Tensor& patterns, c10::string_view rule) {
  check_store(patterns, rule);
  const at::ScalarType dtype = store_dtype(patterns);
  const int64_t neurons = patterns.size(1);
  const double n = static_cast<double>(neurons);
  at::Tensor xi = to_spins(patterns, dtype); // [P, N]
  at::Tensor weight;
  if (rule == "hebbian") {
    // Hebb (1949) / Hopfield (1982): W = (1/N) sum_mu xi_mu xi_mu^T.
    weight = at::mm(xi.t(), xi).div_(n);
  } else if (rule == "storkey") {
    // Storkey (1997), one pattern at a time:
    //   w_ij += (1/N) (xi_i xi_j - xi_i h_ji - h_ij xi_j),  h_ij = sum_{k != i, j} w_ik xi_k.
    // With a zero diagonal h_ij = h_i - w_ij xi_j (h = W xi) and xi_i^2 = 1, so the update is
    //   W <- (1 + 2/N) W + (1/N) (xi xi^T - xi h^T - h xi^T),
    // a rank-two update per pattern: [x, -h] [x - h, x]^T, one pass over W (addmm_).
    weight = at::zeros({neurons, neurons}, xi.options());
    for (int64_t mu = 0; mu < xi.size(0); ++mu) {
      const at::Tensor x = xi[mu];
      const at::Tensor h = at::mv(weight, x);
      const at::Tensor left = at::stack({x, h.neg()}, 1);  // [N, 2]
      const at::Tensor right = at::stack({x - h, x}, 0);   // [2, N]
      weight.addmm_(left, right, 1.0 + 2.0 / n, 1.0 / n);
      weight.diagonal().zero_();
    }
  } else {
    // Projection rule (Personnaz, Guyon & Dreyfus 1985; Kanter & Sompolinsky 1987): W is the
    // orthogonal projector onto the span of the patterns, W = X^+ X; the diagonal is removed
    // below (Kanter & Sompolinsky), which enlarges the basins of attraction.
    weight = at::mm(at::linalg_pinv(xi), xi);
  }
  weight.diagonal().zero_();
  return weight;
}

at::Tensor binary_hopfield_store_meta(const at::Tensor& patterns, c10::string_view rule) {
  check_store(patterns, rule);
  return at::empty_symint(
      {patterns.sym_size(1), patterns.sym_size(1)}, patterns.options().dtype(store_dtype(patterns)));
}

// ---- energy -------------------------------------------------------------------------------------

at::Tensor binary_hopfield_energy(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold) {
  check_network(kEnergyOp, state, weight, threshold);
  return energy_of_spins(to_spins(state, weight.scalar_type()), weight, threshold_or_undefined(threshold));
}

// ---- spin-glass couplings ------------------------------------------------------------------------

void spin_glass_couplings(at::Tensor& weight, c10::string_view distribution, std::optional<at::Generator> generator) {
  check_couplings(weight, distribution);
  if (weight.numel() == 0) {
    return;
  }
  const int64_t n = weight.size(-1);
  at::Tensor draw = at::empty_like(weight, at::MemoryFormat::Contiguous);
  if (distribution == "gaussian") {
    draw.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(n)), generator);
  } else {
    draw.bernoulli_(0.5, generator).mul_(2.0 / std::sqrt(static_cast<double>(n))).sub_(1.0 / std::sqrt(static_cast<double>(n)));
  }
  // One draw per pair i < j, mirrored: J symmetric with a zero diagonal.
  const at::Tensor upper = draw.triu(1);
  weight.copy_(upper + upper.transpose(-2, -1));
}

void spin_glass_couplings_meta(at::Tensor& weight, c10::string_view distribution, std::optional<at::Generator>) {
  check_couplings(weight, distribution);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("binary_hopfield_store", &binary_hopfield_store);
  m.impl("spin_glass_couplings_", &spin_glass_couplings);
}

TORCH_LIBRARY_IMPL(statmech, CompositeImplicitAutograd, m) {
  // Differentiable in weight and threshold through ATen (the spins are constants).
  m.impl("binary_hopfield_energy", &binary_hopfield_energy);
}

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("binary_hopfield_store", &binary_hopfield_store_meta);
  m.impl("spin_glass_couplings_", &spin_glass_couplings_meta);
}

// The dynamics return spins, energies and counts: nothing to differentiate. Asking for a gradient
// through them raises instead of silently returning none.
TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("binary_hopfield_store", torch::autograd::autogradNotImplementedFallback());
  m.impl("binary_hopfield_run", torch::autograd::autogradNotImplementedFallback());
  m.impl("binary_hopfield_glauber", torch::autograd::autogradNotImplementedFallback());
  m.impl("binary_hopfield_parallel_tempering", torch::autograd::autogradNotImplementedFallback());
}

} // namespace statmech::hopfield
