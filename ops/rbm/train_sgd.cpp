// rbm_train_sgd: checks, the device-generic ATen passes (CompositeExplicitAutograd: CUDA and
// any other device run the step loop of train_sgd.h on ATen ops, random numbers from the
// torch.Generator through uniform_ and normal_), the meta kernel and the autograd registrations. The CPU
// kernel is in cpu/train_sgd_cpu.cpp.

#include "ops/rbm/train_sgd.h"

#include "ops/common/checks.h"
#include "ops/rbm/sampling.h"

#include <ATen/ATen.h>
#include <ATen/MemoryOverlap.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/VariableTypeUtils.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

#include <cmath>
#include <utility>
#include <vector>

namespace statmech::rbm {

namespace {
constexpr const char* kOp = "rbm_train_sgd";

void check_like(const char* name, const at::Tensor& t, const char* ref_name, const at::Tensor& ref) {
  TORCH_CHECK(t.defined(), kOp, ": ", name, " must be a tensor, got an undefined tensor");
  TORCH_CHECK(
      t.dim() == ref.dim(), kOp, ": ", name, " must have the shape of ", ref_name, " ", ref.sym_sizes(), ", got shape ",
      t.sym_sizes());
  for (int64_t d = 0; d < ref.dim(); ++d) {
    checks::size(kOp, name, t, d, ref.sym_size(d), ref_name);
  }
  checks::same_dtype(kOp, name, t, ref_name, ref);
  checks::same_device(kOp, name, t, ref_name, ref);
}
} // namespace

void check_train_sgd_inputs(
    const at::Tensor& data, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& weight_velocity, const at::Tensor& visible_bias_velocity, const at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, const SgdSettings& s, const VisibleVariance& variance) {
  check_model(
      kOp, weight, visible_bias, hidden_bias,
      variance.gaussian() ? std::optional<at::Tensor>(variance.log_variance) : std::nullopt);
  check_visible_state(kOp, "data", data, weight, 2, "[N, visible]");
  TORCH_SYM_CHECK(data.sym_size(0).sym_ge(1), kOp, ": data needs at least one row, got shape ", data.sym_sizes());
  check_like("weight_velocity", weight_velocity, "weight", weight);
  check_like("visible_bias_velocity", visible_bias_velocity, "visible_bias", visible_bias);
  check_like("hidden_bias_velocity", hidden_bias_velocity, "hidden_bias", hidden_bias);
  if (variance.gaussian()) {
    TORCH_CHECK(
        variance.velocity.defined(), kOp,
        ": visible_log_variance_velocity (the momentum buffer of visible_log_variance, zeros to start) must be given "
        "with visible_log_variance");
    check_like("visible_log_variance_velocity", variance.velocity, "visible_log_variance", variance.log_variance);
  } else {
    TORCH_CHECK(
        !variance.velocity.defined(), kOp,
        ": visible_log_variance_velocity was given without visible_log_variance (a Bernoulli visible layer has no "
        "variance to update)");
  }
  if (chain_start.has_value()) {
    TORCH_CHECK(
        s.persistent, kOp, ": chain_start is the state of PCD's persistent chains; pass persistent=True or no chain_start");
    check_visible_state(kOp, "chain_start", *chain_start, weight, 2, "[chains, visible]");
    TORCH_SYM_CHECK(
        chain_start->sym_size(0).sym_ge(1), kOp, ": chain_start needs at least one row, got shape ",
        chain_start->sym_sizes());
  }
  check_steps(kOp, s.steps);
  TORCH_CHECK(s.batch_size >= 1, kOp, ": batch_size must be >= 1, got ", s.batch_size);
  TORCH_CHECK(s.epochs >= 0, kOp, ": epochs must be >= 0, got ", s.epochs);
  TORCH_CHECK(std::isfinite(s.lr) && s.lr > 0, kOp, ": lr must be a positive, finite learning rate, got ", s.lr);
  TORCH_CHECK(
      std::isfinite(s.momentum) && s.momentum >= 0, kOp, ": momentum must be finite and >= 0, got ", s.momentum);
  TORCH_CHECK(
      std::isfinite(s.weight_decay) && s.weight_decay >= 0, kOp, ": weight_decay must be finite and >= 0, got ",
      s.weight_decay);
}

VisibleVariance visible_variance(
    const std::optional<at::Tensor>& visible_log_variance, const std::optional<at::Tensor>& visible_log_variance_velocity) {
  return {visible_log_variance.value_or(at::Tensor()), visible_log_variance_velocity.value_or(at::Tensor())};
}

void check_train_sgd_no_overlap(
    const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& weight_velocity, const at::Tensor& visible_bias_velocity, const at::Tensor& hidden_bias_velocity,
    const VisibleVariance& variance) {
  std::vector<std::pair<const at::Tensor*, const char*>> mutated = {
      {&weight, "weight"},
      {&visible_bias, "visible_bias"},
      {&hidden_bias, "hidden_bias"},
      {&weight_velocity, "weight_velocity"},
      {&visible_bias_velocity, "visible_bias_velocity"},
      {&hidden_bias_velocity, "hidden_bias_velocity"}};
  if (variance.gaussian()) {
    mutated.emplace_back(&variance.log_variance, "visible_log_variance");
    mutated.emplace_back(&variance.velocity, "visible_log_variance_velocity");
  }
  for (size_t i = 0; i < mutated.size(); ++i) {
    const auto& [tensor, name] = mutated[i];
    TORCH_CHECK(
        at::has_internal_overlap(*tensor) != at::MemOverlap::Yes, kOp, ": ", name,
        " is updated in place but several of its elements share memory (an expanded tensor?); pass a tensor that "
        "owns its elements (.clone())");
    for (size_t j = 0; j < i; ++j) {
      const at::MemOverlapStatus status = at::get_overlap_status(*tensor, *mutated[j].first);
      TORCH_CHECK(
          status != at::MemOverlapStatus::Full && status != at::MemOverlapStatus::Partial, kOp, ": ", name, " and ",
          mutated[j].second, " share memory, but both are updated in place; pass separate tensors");
    }
  }
}

int64_t train_sgd_chains(const at::Tensor& data, const std::optional<at::Tensor>& chain_start, const SgdSettings& s) {
  if (!s.persistent) {
    return 0;
  }
  return chain_start.has_value() ? chain_start->size(0) : std::min<int64_t>(s.batch_size, data.size(0));
}

namespace {

void check_binary(const at::Tensor& data) {
  TORCH_CHECK(
      data.eq(0).logical_or_(data.eq(1)).all().item<bool>(), kOp,
      ": data must be binary (every entry 0 or 1) for a Bernoulli visible layer; got other values (binarise it, e.g. "
      "data > 0.5, or use GaussianBernoulliRBM)");
}

// The passes of train_sgd_loop on ATen ops (every device).
struct AtenPasses {
  std::optional<at::Generator> generator;
  bool mean_field;
  at::Tensor accumulator; // [2] float64: loss, reconstruction error

  at::Tensor order(int64_t n, bool shuffle) {
    const auto options = accumulator.options().dtype(at::kLong);
    return shuffle ? at::randperm(n, generator, options) : at::arange(n, options);
  }
  void gather(at::Tensor& out, const at::Tensor& data, const at::Tensor& order, int64_t start) {
    at::index_select_out(out, data, 0, order.narrow(0, start, out.size(0)));
  }
  void addmm(at::Tensor& out, const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta, double alpha) {
    if (out.is_same(self)) {
      out.addmm_(a, b, beta, alpha);
    } else {
      at::addmm_out(out, self, a, b, beta, alpha);
    }
  }
  // c + v+ W for the data rows.
  void data_input(at::Tensor& out, const at::Tensor& bias, const at::Tensor& visible, const at::Tensor& weight) {
    addmm(out, bias, visible, weight, 1.0, 1.0);
  }
  // target <- beta target + alpha [v-; v+]^T [-p- / M; p+ / b] (one stacked GEMM).
  void weight_gradient(
      at::Tensor& target, const at::Tensor& visible_block, const at::Tensor& hidden_block, int64_t /*chains*/,
      double beta, double alpha) {
    addmm(target, target, visible_block.t(), hidden_block, beta, alpha);
  }
  void sample(at::Tensor& out, const at::Tensor& probability) {
    if (mean_field) {
      out.copy_(probability);
    } else {
      out.uniform_(0, 1, generator).lt_(probability);
    }
  }
  void accumulate(int slot, double weight, const at::Tensor& terms) {
    accumulator[slot].add_(terms.sum(at::kDouble), weight);
  }
  // x <- sigmoid(x); sample ~ x; accumulator[slot] += weight * sum softplus(x_in).
  void hidden(at::Tensor& x, const at::Tensor& sample_out, int slot, double weight) {
    if (slot >= 0) {
      accumulate(slot, weight, at::softplus(x));
    }
    x.sigmoid_();
    if (sample_out.defined()) {
      at::Tensor out = sample_out;
      sample(out, x);
    }
  }
  // x <- sigmoid(x); accumulator[slot] += weight * sum (x - target)^2; sample ~ x.
  void visible(at::Tensor& x, const at::Tensor& sample_out, const at::Tensor& target, int slot, double weight) {
    x.sigmoid_();
    if (slot >= 0) {
      accumulate(slot, weight, (x - target).square());
    }
    if (sample_out.defined()) {
      at::Tensor out = sample_out;
      sample(out, x);
    }
  }
  // accumulator[slot] += weight * T(v), F(v) = -T(v) - sum softplus: T = a.v (Bernoulli) or
  // -sum_i (v_i - a_i)^2 / (2 s_i) (Gaussian, inverse_variance 1 / s given).
  void visible_energy(
      const at::Tensor& v, const at::Tensor& bias, const at::Tensor& inverse_variance, int slot, double weight) {
    if (inverse_variance.defined()) {
      accumulate(slot, -0.5 * weight, (v - bias).square_().mul_(inverse_variance));
    } else {
      accumulate(slot, weight, at::mv(v, bias));
    }
  }
  // Gaussian visible half-step from the mean x = a + h W^T: accumulator[slot] += weight * sum
  // (x - target)^2; sample ~ N(x, s) (x itself, mean field) and scaled = sample / s.
  void gaussian_visible(
      at::Tensor& x, const at::Tensor& sample_out, const at::Tensor& scaled_out, const at::Tensor& target, int slot,
      double weight, const at::Tensor& standard_deviation, const at::Tensor& inverse_variance) {
    if (slot >= 0) {
      accumulate(slot, weight, (x - target).square());
    }
    if (sample_out.defined()) {
      at::Tensor out = sample_out;
      if (mean_field) {
        out.copy_(x);
      } else {
        out.normal_(0, 1, generator).mul_(standard_deviation).add_(x);
      }
      at::Tensor scaled = scaled_out;
      at::mul_out(scaled, out, inverse_variance);
    }
  }
  // out <- rows * scale (scale broadcast over the rows).
  void scale_columns(at::Tensor& out, const at::Tensor& rows, const at::Tensor& scale) {
    at::mul_out(out, rows, scale);
  }
  // 1 / s = exp(-z) and sqrt(s) = exp(z / 2).
  void variance_scales(const at::Tensor& log_variance, at::Tensor& inverse_variance, at::Tensor& standard_deviation) {
    at::exp_out(inverse_variance, log_variance.neg());
    at::exp_out(standard_deviation, log_variance.mul(0.5));
  }
  void scale_rows(at::Tensor& t, double factor) {
    t.mul_(factor);
  }
  void step(at::Tensor& param, at::Tensor& velocity, const at::Tensor& d, double lr, double momentum, double decay) {
    if (momentum == 0.0) {
      param.mul_(1.0 - lr * decay).add_(d, lr);
    } else {
      velocity.mul_(momentum).sub_(d).add_(param, decay);
      param.add_(velocity, -lr);
    }
  }
  void update_biases(
      at::Tensor& visible_bias, at::Tensor& visible_velocity, at::Tensor& hidden_bias, at::Tensor& hidden_velocity,
      const at::Tensor& positive_visible, const at::Tensor& negative_visible, const at::Tensor& hidden_block, double lr,
      double momentum, double decay) {
    const at::Tensor dv = positive_visible.mean(0) - negative_visible.mean(0);
    const at::Tensor dh = hidden_block.sum(0);
    step(visible_bias, visible_velocity, dv, lr, momentum, decay);
    step(hidden_bias, hidden_velocity, dh, lr, momentum, decay);
  }
  // The Gaussian update (train_sgd.h): every d from the step's parameters, then the SGD steps.
  void update_gaussian(
      at::Tensor& weight, at::Tensor& weight_velocity, const at::Tensor& weight_delta, at::Tensor& visible_bias,
      at::Tensor& visible_velocity, at::Tensor& hidden_bias, at::Tensor& hidden_velocity, at::Tensor& log_variance,
      at::Tensor& log_variance_velocity, const at::Tensor& positive_visible, const at::Tensor& negative_visible,
      const at::Tensor& hidden_block, const at::Tensor& inverse_variance, double lr, double momentum, double decay) {
    const at::Tensor positive_centred = positive_visible - visible_bias;
    const at::Tensor negative_centred = negative_visible - visible_bias;
    const at::Tensor dv = (positive_centred.mean(0) - negative_centred.mean(0)).mul_(inverse_variance);
    const at::Tensor dz = (positive_centred.square().mean(0) - negative_centred.square().mean(0))
                              .mul_(inverse_variance)
                              .mul_(0.5)
                              .sub_((weight * weight_delta).sum(1));
    const at::Tensor dh = hidden_block.sum(0);
    step(visible_bias, visible_velocity, dv, lr, momentum, decay);
    step(hidden_bias, hidden_velocity, dh, lr, momentum, decay);
    step(log_variance, log_variance_velocity, dz, lr, momentum, decay);
    step(weight, weight_velocity, weight_delta, lr, momentum, decay);
  }
  void axpy(at::Tensor& y, const at::Tensor& x, double alpha) {
    y.add_(x, alpha);
  }
  void flush(at::Tensor& metrics, int64_t epoch) {
    metrics[epoch].copy_(accumulator);
    accumulator.zero_();
  }
};

} // namespace

std::tuple<at::Tensor, at::Tensor> train_sgd_aten(
    const at::Tensor& data, at::Tensor& weight, at::Tensor& visible_bias, at::Tensor& hidden_bias,
    at::Tensor& weight_velocity, at::Tensor& visible_bias_velocity, at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, const SgdSettings& s, const VisibleVariance& variance,
    std::optional<at::Generator> generator) {
  check_train_sgd_inputs(
      data, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity, chain_start, s,
      variance);
  check_train_sgd_no_overlap(
      weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity, variance);
  if (!variance.gaussian()) {
    check_binary(data);
  }
  AtenPasses passes{std::move(generator), s.mean_field, at::zeros({2}, data.options().dtype(at::kDouble))};
  return train_sgd_loop(
      passes, data, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity,
      chain_start, s, variance);
}

namespace {

std::tuple<at::Tensor, at::Tensor> train_sgd_composite(
    const at::Tensor& data, at::Tensor& weight, at::Tensor& visible_bias, at::Tensor& hidden_bias,
    at::Tensor& weight_velocity, at::Tensor& visible_bias_velocity, at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, int64_t steps, int64_t batch_size, double lr, double momentum,
    double weight_decay, bool persistent, int64_t epochs, bool shuffle, bool mean_field, bool track_reconstruction,
    std::optional<at::Generator> generator, const std::optional<at::Tensor>& visible_log_variance,
    const std::optional<at::Tensor>& visible_log_variance_velocity) {
  const SgdSettings s{steps, batch_size, lr, momentum, weight_decay, persistent, epochs, shuffle, mean_field, track_reconstruction};
  return train_sgd_aten(
      data, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity,
      chain_start, s, visible_variance(visible_log_variance, visible_log_variance_velocity), std::move(generator));
}

std::tuple<at::Tensor, at::Tensor> train_sgd_meta(
    const at::Tensor& data, at::Tensor& weight, at::Tensor& visible_bias, at::Tensor& hidden_bias,
    at::Tensor& weight_velocity, at::Tensor& visible_bias_velocity, at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, int64_t steps, int64_t batch_size, double lr, double momentum,
    double weight_decay, bool persistent, int64_t epochs, bool shuffle, bool mean_field, bool track_reconstruction,
    std::optional<at::Generator> /*generator*/, const std::optional<at::Tensor>& visible_log_variance,
    const std::optional<at::Tensor>& visible_log_variance_velocity) {
  const SgdSettings s{steps, batch_size, lr, momentum, weight_decay, persistent, epochs, shuffle, mean_field, track_reconstruction};
  check_train_sgd_inputs(
      data, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity, chain_start, s,
      visible_variance(visible_log_variance, visible_log_variance_velocity));
  c10::SymInt chains = 0;
  if (persistent) {
    chains = chain_start.has_value() ? chain_start->sym_size(0)
                                     : c10::SymInt(batch_size).min(data.sym_size(0));
  }
  return {
      at::empty({epochs, 2}, data.options().dtype(at::kDouble)),
      at::empty_symint({chains, weight.sym_size(0)}, weight.options())};
}

// The Autograd key: the op is an optimiser step, not differentiable. Parameters that require
// grad must be updated under no_grad (as torch.optim does); the version counters of the mutated
// tensors are bumped, so autograd notices if a saved tensor was changed.
std::tuple<at::Tensor, at::Tensor> train_sgd_autograd(
    const at::Tensor& data, at::Tensor& weight, at::Tensor& visible_bias, at::Tensor& hidden_bias,
    at::Tensor& weight_velocity, at::Tensor& visible_bias_velocity, at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, int64_t steps, int64_t batch_size, double lr, double momentum,
    double weight_decay, bool persistent, int64_t epochs, bool shuffle, bool mean_field, bool track_reconstruction,
    std::optional<at::Generator> generator, const std::optional<at::Tensor>& visible_log_variance,
    const std::optional<at::Tensor>& visible_log_variance_velocity) {
  at::Tensor log_variance = visible_log_variance.value_or(at::Tensor());
  at::Tensor log_variance_velocity = visible_log_variance_velocity.value_or(at::Tensor());
  at::Tensor* mutated[] = {
      &weight, &visible_bias, &hidden_bias, &weight_velocity, &visible_bias_velocity, &hidden_bias_velocity,
      &log_variance, &log_variance_velocity};
  const char* names[] = {"weight", "visible_bias", "hidden_bias", "weight_velocity", "visible_bias_velocity",
                         "hidden_bias_velocity", "visible_log_variance", "visible_log_variance_velocity"};
  for (size_t k = 0; k < 8; ++k) {
    TORCH_CHECK(
        !(at::GradMode::is_enabled() && mutated[k]->defined() && mutated[k]->requires_grad()), kOp, ": ", names[k],
        " requires grad and is updated in place; call rbm_train_sgd under torch.no_grad() (it is an optimiser step, "
        "not a differentiable op)");
  }
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::rbm_train_sgd", "")
                       .typed<decltype(train_sgd_autograd)>();
  std::tuple<at::Tensor, at::Tensor> result;
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    result = op.call(
        data, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity,
        chain_start, steps, batch_size, lr, momentum, weight_decay, persistent, epochs, shuffle, mean_field,
        track_reconstruction, std::move(generator), visible_log_variance, visible_log_variance_velocity);
  }
  for (at::Tensor* t : mutated) {
    if (t->defined()) {
      torch::autograd::increment_version(*t);
    }
  }
  return result;
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("rbm_train_sgd", &train_sgd_composite);
}

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("rbm_train_sgd", &train_sgd_meta);
}

TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("rbm_train_sgd", &train_sgd_autograd);
}

TORCH_LIBRARY_IMPL(statmech, ADInplaceOrView, m) {
  m.impl("rbm_train_sgd", torch::autograd::autogradNotImplementedInplaceOrViewFallback());
}

} // namespace statmech::rbm
