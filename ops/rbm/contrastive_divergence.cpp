// rbm_contrastive_divergence: the CD-k / PCD-k loss mean F(v_data) - mean F(v_model), with the
// k-step chain, in one operator.
//
// The composed form (rbm_gibbs, then rbm_free_energy twice, then their backwards) computes
// v_data W twice (the first Gibbs half-step and F(v_data)) and v_model W twice (the last hidden
// probabilities and F(v_model)): 7 GEMMs of [batch, visible] x [visible, hidden] for CD-1. Fused,
// each is computed once and p(h | v) of both ends is kept for the backward:
//   forward  x_d = c + v_d W, chain (one GEMM per half-step), x_m = c + v_m W
//   backward dL/dW = g (v_m^T p_m / M - v_d^T p_d / B), dL/da = g (mean v_m - mean v_d),
//            dL/dc = g (mean p_m - mean p_d)
// i.e. 5 GEMMs for CD-1, the count of the hand-written update in scikit-learn's BernoulliRBM, with
// the chain and the loss in C++. The model samples carry no gradient (the chain is detached), so
// the gradient is the CD/PCD estimate <dF/dθ>_data - <dF/dθ>_model.
//
// Written in ATen ops (CompositeExplicitAutograd), so it runs on every device; autograd in C++.

#include "ops/rbm/sampling.h"

#include "ops/common/checks.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

#include <utility>

namespace statmech::rbm {
namespace {

constexpr const char* kOp = "rbm_contrastive_divergence";

void check_inputs(
    const at::Tensor& visible, const std::optional<at::Tensor>& chain_start, const at::Tensor& weight,
    const at::Tensor& visible_bias, const at::Tensor& hidden_bias, int64_t steps) {
  check_model(kOp, weight, visible_bias, hidden_bias, std::nullopt);
  check_visible_state(kOp, "visible", visible, weight, 2, "[batch, visible]");
  if (chain_start.has_value()) {
    check_visible_state(kOp, "chain_start", *chain_start, weight, 2, "[chains, visible]");
  }
  check_steps(kOp, steps);
  // The loss is a mean over the rows of each end of the chain: undefined without rows. Checked
  // here, where the meta kernel sees it too.
  TORCH_SYM_CHECK(visible.sym_size(0).sym_gt(0), kOp, ": visible needs at least one row, got shape ", visible.sym_sizes());
  if (chain_start.has_value()) {
    TORCH_SYM_CHECK(
        chain_start->sym_size(0).sym_gt(0), kOp, ": chain_start needs at least one row, got shape ",
        chain_start->sym_sizes());
  }
}

at::Tensor bernoulli_from(const at::Tensor& probability, const std::optional<at::Generator>& generator) {
  return at::empty_like(probability).uniform_(0, 1, generator).lt_(probability);
}

// F(v) given x = c + vW: -a.v - sum_j softplus(x_j).
at::Tensor free_energy_from_input(const at::Tensor& v, const at::Tensor& x, const at::Tensor& visible_bias) {
  return at::softplus(x).sum(1).add_(at::mv(v, visible_bias)).neg_();
}

// (loss, chain end v_m, p(h = 1 | v_d), p(h = 1 | v_m))
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> cd_forward(
    const at::Tensor& visible, const std::optional<at::Tensor>& chain_start, const at::Tensor& weight,
    const at::Tensor& visible_bias, const at::Tensor& hidden_bias, int64_t steps,
    std::optional<at::Generator> generator) {
  check_inputs(visible, chain_start, weight, visible_bias, hidden_bias, steps);
  const at::Tensor data_input = at::addmm(hidden_bias, visible, weight);
  const at::Tensor data_free_energy = free_energy_from_input(visible, data_input, visible_bias);
  const at::Tensor data_probability = data_input.sigmoid();
  at::Tensor v = chain_start.has_value() ? chain_start->contiguous() : visible.contiguous();
  at::Tensor x = chain_start.has_value() ? at::addmm(hidden_bias, v, weight) : data_input;
  at::Tensor p = chain_start.has_value() ? x.sigmoid() : data_probability;
  for (int64_t step = 0; step < steps; ++step) {
    const at::Tensor h = bernoulli_from(p, generator);
    v = bernoulli_from(at::addmm(visible_bias, h, weight.t()).sigmoid_(), generator);
    x = at::addmm(hidden_bias, v, weight);
    p = x.sigmoid();
  }
  const at::Tensor model_free_energy = free_energy_from_input(v, x, visible_bias);
  at::Tensor loss = data_free_energy.mean() - model_free_energy.mean();
  // The chain end is a fresh tensor except for steps = 0, where it is the (copied) start.
  at::Tensor chain_end = steps == 0 ? v.clone() : v;
  return {loss, chain_end, data_probability, p};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> cd_backward(
    const at::Tensor& grad, const at::Tensor& visible, const at::Tensor& chain_end,
    const at::Tensor& data_probability, const at::Tensor& model_probability, std::array<bool, 3> output_mask) {
  // The private op is callable on its own: its saved tensors must fit together (a mismatch raised
  // ATen's GEMM errors; no rows gave NaN means).
  constexpr const char* op = "_rbm_contrastive_divergence_backward";
  checks::floating(op, "grad", grad);
  TORCH_CHECK(grad.dim() == 0, op, ": grad must be 0-D (the loss is a scalar), got shape ", grad.sym_sizes());
  checks::floating(op, "visible", visible);
  checks::rank(op, "visible", visible, 2, "[batch, visible]");
  checks::rank(op, "chain_end", chain_end, 2, "[chains, visible]");
  checks::size(op, "chain_end", chain_end, 1, visible.sym_size(1), "the number of visible units visible.size(1)");
  checks::rank(op, "data_hidden_probability", data_probability, 2, "[batch, hidden]");
  checks::size(op, "data_hidden_probability", data_probability, 0, visible.sym_size(0), "the batch size visible.size(0)");
  checks::rank(op, "model_hidden_probability", model_probability, 2, "[chains, hidden]");
  checks::size(op, "model_hidden_probability", model_probability, 0, chain_end.sym_size(0), "the number of chains chain_end.size(0)");
  checks::size(op, "model_hidden_probability", model_probability, 1, data_probability.sym_size(1), "the number of hidden units data_hidden_probability.size(1)");
  TORCH_SYM_CHECK(visible.sym_size(0).sym_gt(0), op, ": visible needs at least one row, got shape ", visible.sym_sizes());
  TORCH_SYM_CHECK(chain_end.sym_size(0).sym_gt(0), op, ": chain_end needs at least one row, got shape ", chain_end.sym_sizes());
  for (const auto& [name, t] : {std::pair<const char*, const at::Tensor&>{"chain_end", chain_end},
                                {"data_hidden_probability", data_probability},
                                {"model_hidden_probability", model_probability}}) {
    checks::same_dtype(op, name, t, "visible", visible);
    checks::same_device(op, name, t, "visible", visible);
  }
  const double batch = static_cast<double>(visible.size(0));
  const double chains = static_cast<double>(chain_end.size(0));
  const at::Tensor g = grad.to(visible.scalar_type());
  at::Tensor grad_weight, grad_visible_bias, grad_hidden_bias;
  if (output_mask[0]) {
    grad_weight = at::mm(chain_end.t(), model_probability).div_(chains);
    grad_weight.addmm_(visible.t(), data_probability, 1.0, -1.0 / batch).mul_(g);
  }
  if (output_mask[1]) {
    grad_visible_bias = (chain_end.mean(0) - visible.mean(0)).mul_(g);
  }
  if (output_mask[2]) {
    grad_hidden_bias = (model_probability.mean(0) - data_probability.mean(0)).mul_(g);
  }
  return {grad_weight, grad_visible_bias, grad_hidden_bias};
}

std::tuple<at::Tensor, at::Tensor> cd_public(
    const at::Tensor& visible, const std::optional<at::Tensor>& chain_start, const at::Tensor& weight,
    const at::Tensor& visible_bias, const at::Tensor& hidden_bias, int64_t steps,
    std::optional<at::Generator> generator) {
  auto [loss, chain_end, pd, pm] = cd_forward(visible, chain_start, weight, visible_bias, hidden_bias, steps, std::move(generator));
  return {loss, chain_end};
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> call_forward(
    const at::Tensor& visible, const std::optional<at::Tensor>& chain_start, const at::Tensor& weight,
    const at::Tensor& visible_bias, const at::Tensor& hidden_bias, int64_t steps,
    std::optional<at::Generator> generator) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::_rbm_contrastive_divergence_forward", "")
                       .typed<decltype(cd_forward)>();
  return op.call(visible, chain_start, weight, visible_bias, hidden_bias, steps, std::move(generator));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> call_backward(
    const at::Tensor& grad, const at::Tensor& visible, const at::Tensor& chain_end, const at::Tensor& pd,
    const at::Tensor& pm, std::array<bool, 3> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::_rbm_contrastive_divergence_backward", "")
                       .typed<decltype(cd_backward)>();
  return op.call(grad, visible, chain_end, pd, pm, mask);
}

class ContrastiveDivergenceFunction : public torch::autograd::Function<ContrastiveDivergenceFunction> {
 public:
  static variable_list forward(
      AutogradContext* ctx, const at::Tensor& visible, const at::Tensor& chain_start, const at::Tensor& weight,
      const at::Tensor& visible_bias, const at::Tensor& hidden_bias, int64_t steps,
      std::optional<at::Generator> generator, bool has_chain) {
    // chain_start is always a defined Tensor here (the data itself for CD, with has_chain false)
    // so that every tensor argument keeps a fixed input index for needs_input_grad.
    at::AutoDispatchBelowADInplaceOrView guard;
    const std::optional<at::Tensor> start = has_chain ? std::optional<at::Tensor>(chain_start) : std::nullopt;
    auto [loss, chain_end, pd, pm] =
        call_forward(visible, start, weight, visible_bias, hidden_bias, steps, std::move(generator));
    ctx->save_for_backward({visible, chain_end, pd, pm});
    ctx->mark_non_differentiable({chain_end});
    return {loss, chain_end};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const std::array<bool, 3> mask = {ctx->needs_input_grad(2), ctx->needs_input_grad(3), ctx->needs_input_grad(4)};
    at::Tensor grad = grad_outputs[0].defined() ? grad_outputs[0] : at::zeros({}, saved[0].options());
    auto [gw, ga, gc] = call_backward(grad, saved[0], saved[1], saved[2], saved[3], mask);
    return {at::Tensor(), at::Tensor(), gw, ga, gc, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor> cd_autograd(
    const at::Tensor& visible, const std::optional<at::Tensor>& chain_start, const at::Tensor& weight,
    const at::Tensor& visible_bias, const at::Tensor& hidden_bias, int64_t steps,
    std::optional<at::Generator> generator) {
  const bool needs_grad = at::GradMode::is_enabled() &&
      (weight.requires_grad() || visible_bias.requires_grad() || hidden_bias.requires_grad());
  if (!needs_grad) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [loss, chain_end, pd, pm] =
        call_forward(visible, chain_start, weight, visible_bias, hidden_bias, steps, std::move(generator));
    return {loss, chain_end};
  }
  auto outputs = ContrastiveDivergenceFunction::apply(
      visible.detach(), chain_start.has_value() ? chain_start->detach() : visible.detach(), weight, visible_bias,
      hidden_bias, steps, std::move(generator), chain_start.has_value());
  return {outputs[0], outputs[1]};
}

// ---- meta ----------------------------------------------------------------------------------------
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> cd_forward_meta(
    const at::Tensor& visible, const std::optional<at::Tensor>& chain_start, const at::Tensor& weight,
    const at::Tensor& visible_bias, const at::Tensor& hidden_bias, int64_t steps, std::optional<at::Generator>) {
  check_inputs(visible, chain_start, weight, visible_bias, hidden_bias, steps);
  const at::Tensor& end = chain_start.has_value() ? *chain_start : visible;
  return {
      at::empty({}, visible.options()), at::empty_symint(end.sym_sizes(), visible.options()),
      at::empty_symint({visible.sym_size(0), weight.sym_size(1)}, visible.options()),
      at::empty_symint({end.sym_size(0), weight.sym_size(1)}, visible.options())};
}

std::tuple<at::Tensor, at::Tensor> cd_public_meta(
    const at::Tensor& visible, const std::optional<at::Tensor>& chain_start, const at::Tensor& weight,
    const at::Tensor& visible_bias, const at::Tensor& hidden_bias, int64_t steps, std::optional<at::Generator> g) {
  auto [loss, end, pd, pm] = cd_forward_meta(visible, chain_start, weight, visible_bias, hidden_bias, steps, g);
  return {loss, end};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("rbm_contrastive_divergence", &cd_public);
  m.impl("_rbm_contrastive_divergence_forward", &cd_forward);
  m.impl("_rbm_contrastive_divergence_backward", &cd_backward);
}

TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("rbm_contrastive_divergence", &cd_autograd);
  m.impl("_rbm_contrastive_divergence_forward", torch::autograd::autogradNotImplementedFallback());
  m.impl("_rbm_contrastive_divergence_backward", torch::autograd::autogradNotImplementedFallback());
}

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("rbm_contrastive_divergence", &cd_public_meta);
  m.impl("_rbm_contrastive_divergence_forward", &cd_forward_meta);
}

} // namespace statmech::rbm
