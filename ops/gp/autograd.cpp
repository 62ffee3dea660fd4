// Autograd of fc_kernel, in C++ so LibTorch-only programs train through it. The forward saves the
// inputs only (no per-layer N x M intermediates); the backward is the private op
// _fc_kernel_backward, which recomputes each entry's layers and runs them in reverse.

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

namespace statmech::gp {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using ForwardSignature = at::Tensor(
    const at::Tensor&, const std::optional<at::Tensor>&, const at::Tensor&, const at::Tensor&, int64_t,
    c10::string_view, std::optional<double>, c10::string_view, double, bool, bool, bool);
using BackwardSignature = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, const at::Tensor&, const at::Tensor&,
    int64_t, c10::string_view, std::optional<double>, c10::string_view, double, bool, bool, bool,
    std::array<bool, 4>);

c10::TypedOperatorHandle<ForwardSignature> forward_op() {
  static auto op =
      c10::Dispatcher::singleton().findSchemaOrThrow("statmech::fc_kernel", "").typed<ForwardSignature>();
  return op;
}

std::optional<at::Tensor> optional(const at::Tensor& t) {
  return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt;
}

class FcKernelFunction : public torch::autograd::Function<FcKernelFunction> {
 public:
  static at::Tensor forward(
      AutogradContext* ctx, const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& sigma_w2,
      const at::Tensor& sigma_b2, bool has_x2, int64_t depth, std::string activation,
      std::optional<double> activation_parameter, std::string parameterization, double width, bool nngp, bool ntk,
      bool diagonal) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor out = forward_op().call(
        x1, has_x2 ? std::optional<at::Tensor>(x2) : std::nullopt, sigma_w2, sigma_b2, depth, activation, activation_parameter, parameterization, width,
        nngp, ntk, diagonal);
    ctx->save_for_backward({x1, has_x2 ? x2 : at::Tensor(), sigma_w2, sigma_b2});
    ctx->saved_data["depth"] = depth;
    ctx->saved_data["activation"] = activation;
    ctx->saved_data["activation_parameter"] =
        activation_parameter.has_value() ? c10::IValue(*activation_parameter) : c10::IValue();
    ctx->saved_data["parameterization"] = parameterization;
    ctx->saved_data["width"] = width;
    ctx->saved_data["nngp"] = nngp;
    ctx->saved_data["ntk"] = ntk;
    ctx->saved_data["diagonal"] = diagonal;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("statmech::_fc_kernel_backward", "")
                         .typed<BackwardSignature>();
    const auto saved = ctx->get_saved_variables();
    const bool has_x2 = saved[1].defined();
    const std::array<bool, 4> mask = {
        ctx->needs_input_grad(0), has_x2 && ctx->needs_input_grad(1), ctx->needs_input_grad(2),
        ctx->needs_input_grad(3)};
    const auto& parameter = ctx->saved_data["activation_parameter"];
    auto [g1, g2, gw, gb] = op.call(
        grad_outputs[0], saved[0], optional(saved[1]), saved[2], saved[3], ctx->saved_data["depth"].toInt(),
        ctx->saved_data["activation"].toStringRef(),
        parameter.isNone() ? std::nullopt : std::optional<double>(parameter.toDouble()),
        ctx->saved_data["parameterization"].toStringRef(), ctx->saved_data["width"].toDouble(),
        ctx->saved_data["nngp"].toBool(), ctx->saved_data["ntk"].toBool(), ctx->saved_data["diagonal"].toBool(),
        mask);
    return {g1, g2, gw, gb, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

at::Tensor fc_kernel_autograd(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2, const at::Tensor& sigma_b2,
    int64_t depth, c10::string_view activation, std::optional<double> activation_parameter,
    c10::string_view parameterization, double width, bool nngp, bool ntk, bool diagonal) {
  const bool needs_grad = at::GradMode::is_enabled() &&
      (x1.requires_grad() || (x2.has_value() && x2->requires_grad()) || sigma_w2.requires_grad() ||
       sigma_b2.requires_grad());
  if (!needs_grad) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return forward_op().call(
        x1, x2, sigma_w2, sigma_b2, depth, activation, activation_parameter, parameterization, width, nngp, ntk,
        diagonal);
  }
  return FcKernelFunction::apply(
      // (Function::apply does not take undefined tensors: without x2, x1 fills its slot.)
      x1, x2.has_value() ? *x2 : x1, sigma_w2, sigma_b2, x2.has_value(), depth, std::string(activation),
      activation_parameter, std::string(parameterization), width, nngp, ntk, diagonal);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("fc_kernel", &fc_kernel_autograd);
  // First order only: differentiating the backward raises instead of returning zeros.
  m.impl("_fc_kernel_backward", torch::autograd::autogradNotImplementedFallback());
}

} // namespace statmech::gp
