// fc_kernel for an Activation object (statmech::gp::fc_kernel_activation, csrc/include/statmech/gp.h).
//
// A built-in activation goes through the dispatcher (torch.ops.statmech.fc_kernel) by name. A
// user-defined one (Activation::custom) cannot be named in an operator schema, so it runs here,
// eagerly, through a torch::autograd::Function whose forward and backward are the conditional
// quadrature path of fc_kernel_quadrature.h. Its function is called serially on the calling
// thread (never from at::parallel_for workers): a Python callable takes the interpreter lock on
// each call, which the Python binding (csrc/python/gp_bindings.cpp) releases around the whole
// computation, and the autograd engine releases around a backward pass.

#include <statmech/gp.h>

#include "ops/gp/fc_kernel.h"
#include "ops/gp/fc_kernel_quadrature.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/custom_class.h>

namespace statmech::gp {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr const char* kOp = "fc_kernel_activation";

struct ActivationCapsule : torch::CustomClassHolder {
  explicit ActivationCapsule(Activation a) : activation(std::move(a)) {}
  Activation activation;
};

FcKernelConfig config_for(
    const at::Tensor& x1, const at::Tensor& x2, bool has_x2, const at::Tensor& sigma_w2, const at::Tensor& sigma_b2,
    int64_t depth, const Activation& activation, const std::string& parameterization, double width, bool nngp,
    bool ntk, bool diagonal) {
  return check_fc_kernel_inputs(
      kOp, x1, has_x2 ? std::optional<at::Tensor>(x2) : std::nullopt, sigma_w2, sigma_b2, depth, activation,
      parameterization, width, nngp, ntk, diagonal);
}

class CustomFcKernelFunction : public torch::autograd::Function<CustomFcKernelFunction> {
 public:
  static at::Tensor forward(
      AutogradContext* ctx, const at::Tensor& x1, const at::Tensor& x2, const at::Tensor& sigma_w2,
      const at::Tensor& sigma_b2, bool has_x2, int64_t depth, c10::intrusive_ptr<ActivationCapsule> activation,
      std::string parameterization, double width, bool nngp, bool ntk, bool diagonal) {
    const FcKernelConfig config = config_for(
        x1, x2, has_x2, sigma_w2, sigma_b2, depth, activation->activation, parameterization, width, nngp, ntk,
        diagonal);
    const auto variances = check_fc_kernel_values(
        kOp, x1, has_x2 ? std::optional<at::Tensor>(x2) : std::nullopt, sigma_w2, sigma_b2);
    at::Tensor out = fc_kernel_quadrature(
        config, x1.detach(), has_x2 ? x2.detach() : at::Tensor(), variances.first, variances.second);
    ctx->save_for_backward({x1, has_x2 ? x2 : at::Tensor(), sigma_w2, sigma_b2});
    ctx->saved_data["activation"] = at::IValue::make_capsule(activation);
    ctx->saved_data["depth"] = depth;
    ctx->saved_data["parameterization"] = parameterization;
    ctx->saved_data["width"] = width;
    ctx->saved_data["nngp"] = nngp;
    ctx->saved_data["ntk"] = ntk;
    ctx->saved_data["diagonal"] = diagonal;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const bool has_x2 = saved[1].defined();
    const auto capsule = ctx->saved_data["activation"].toCapsule();
    const Activation& activation = static_cast<ActivationCapsule*>(capsule.get())->activation;
    const FcKernelConfig config = config_for(
        saved[0], saved[1], has_x2, saved[2], saved[3], ctx->saved_data["depth"].toInt(), activation,
        ctx->saved_data["parameterization"].toStringRef(), ctx->saved_data["width"].toDouble(),
        ctx->saved_data["nngp"].toBool(), ctx->saved_data["ntk"].toBool(), ctx->saved_data["diagonal"].toBool());
    const std::array<bool, 4> mask = {
        ctx->needs_input_grad(0), has_x2 && ctx->needs_input_grad(1), ctx->needs_input_grad(2),
        ctx->needs_input_grad(3)};
    auto [g1, g2, gw, gb] = fc_kernel_quadrature_backward(
        config, grad_outputs[0].detach(), saved[0].detach(), has_x2 ? saved[1].detach() : at::Tensor(),
        saved[2].detach(), saved[3].detach(), mask);
    return {g1, g2, gw, gb, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

} // namespace

at::Tensor fc_kernel_activation(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const Activation& activation, const std::string& parameterization,
    double width, bool nngp, bool ntk, bool diagonal) {
  if (activation.kind() != ActivationKind::Custom) {
    const bool parameterised = activation.kind() == ActivationKind::LeakyRelu || activation.kind() == ActivationKind::Elu;
    return fc_kernel(
        x1, x2, sigma_w2, sigma_b2, depth, activation.name(),
        parameterised ? std::optional<double>(activation.parameter()) : std::nullopt, parameterization, width, nngp,
        ntk, diagonal);
  }
  return CustomFcKernelFunction::apply(
      // (Function::apply does not take undefined tensors: without x2, x1 fills its slot.)
      x1, x2.has_value() ? *x2 : x1, sigma_w2, sigma_b2, x2.has_value(), depth,
      c10::make_intrusive<ActivationCapsule>(activation), parameterization, width, nngp, ntk, diagonal);
}

} // namespace statmech::gp
