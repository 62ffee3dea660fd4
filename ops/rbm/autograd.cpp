// Autograd of rbm_free_energy, in C++ so LibTorch-only programs can train through it.
// The forward keeps p(h = 1 | v) from the private forward op; the backward is the private op
// _rbm_free_energy_backward (ops/rbm/backward.cpp), which scales p in place to avoid a
// [batch, hidden] temporary.
//
// p is therefore owned by this node alone: it is kept in saved_data (not save_for_backward, whose
// version check would reject the in-place use), handed to the first backward and dropped there,
// so it is freed as early as a saved tensor would be. A later backward through the same graph
// (retain_graph=True) recomputes p from the saved inputs.

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/FuncTorchTLS.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "ops/rbm/free_energy.h"

namespace statmech::rbm {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::tuple<at::Tensor, at::Tensor> call_forward(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::_rbm_free_energy_forward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
  return op.call(visible, weight, visible_bias, hidden_bias);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> call_backward(
    const at::Tensor& grad, const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias,
    at::Tensor& hidden_probability, std::array<bool, 4> output_mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::_rbm_free_energy_backward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                           at::Tensor&, std::array<bool, 4>)>();
  return op.call(grad, visible, weight, visible_bias, hidden_probability, output_mask);
}

class RbmFreeEnergyFunction : public torch::autograd::Function<RbmFreeEnergyFunction> {
 public:
  static at::Tensor forward(
      AutogradContext* ctx, const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias,
      const at::Tensor& hidden_bias) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [free_energy, hidden_probability] = call_forward(visible, weight, visible_bias, hidden_bias);
    ctx->save_for_backward({visible, weight, visible_bias, hidden_bias});
    ctx->saved_data["hidden_probability"] = hidden_probability;
    return free_energy;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const std::array<bool, 4> mask = {
        ctx->needs_input_grad(0), ctx->needs_input_grad(1), ctx->needs_input_grad(2), ctx->needs_input_grad(3)};
    at::Tensor hidden_probability;
    if (auto found = ctx->saved_data.find("hidden_probability"); found != ctx->saved_data.end()) {
      hidden_probability = std::move(found->second).toTensor();
      ctx->saved_data.erase("hidden_probability");
    } else {
      hidden_probability = std::get<1>(call_forward(saved[0], saved[1], saved[2], saved[3]));
    }
    auto [grad_visible, grad_weight, grad_visible_bias, grad_hidden_bias] =
        call_backward(grad_outputs[0], saved[0], saved[1], saved[2], hidden_probability, mask);
    return {grad_visible, grad_weight, grad_visible_bias, grad_hidden_bias};
  }
};

bool has_forward_grad(const at::Tensor& t) {
  return t._fw_grad(/*level=*/0).defined();
}

// True inside torch.func transforms that refuse C++ autograd Functions (grad, vjp, jacrev...).
// Asked the same way torch::autograd::Function::apply asks, so the answer cannot disagree.
bool functorch_refuses_cpp_function() {
  const auto& functorch_tls = at::functorch::functorchTLSAccessor();
  if (!functorch_tls) {
    return false;
  }
  try {
    functorch_tls->checkSupportsCppAutogradFunction();
    return false;
  } catch (const c10::Error&) {
    return true;
  }
}

at::Tensor rbm_free_energy_autograd(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  const bool needs_grad = at::GradMode::is_enabled() &&
      (visible.requires_grad() || weight.requires_grad() || visible_bias.requires_grad() || hidden_bias.requires_grad());
  if (has_forward_grad(visible) || has_forward_grad(weight) || has_forward_grad(visible_bias) ||
      has_forward_grad(hidden_bias) || (needs_grad && functorch_refuses_cpp_function())) {
    // Forward-mode AD (dual tensors, torch.func.jvp): the custom Function has no jvp, and the
    // fast path below would drop the tangent. Under torch.func transforms (grad, vjp) a C++
    // Function is refused. The same expression in differentiable ATen ops carries tangents (one
    // extra GEMM for the tangent, as a hand-written jvp would) and reverse gradients alike.
    // Checked first so a tangent is never lost.
    check_free_energy_inputs(visible, weight, visible_bias, hidden_bias);
    return -at::mv(visible, visible_bias) - at::softplus(at::addmm(hidden_bias, visible, weight)).sum(1);
  }
  if (!needs_grad) {
    // Nothing to differentiate: skip saving p(h | v) and go straight to the device kernel.
    static auto op = c10::Dispatcher::singleton()
                         .findSchemaOrThrow("statmech::rbm_free_energy", "")
                         .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
    at::AutoDispatchBelowADInplaceOrView guard;
    return op.call(visible, weight, visible_bias, hidden_bias);
  }
  return RbmFreeEnergyFunction::apply(visible, weight, visible_bias, hidden_bias);
}

// Autocast: float16 / bfloat16 inputs are computed in float32 (softplus sums over hundreds of
// units lose too much in half precision), as autocast does for softplus and sum; the result is
// float32. float32 and float64 inputs pass through unchanged.
template <c10::DispatchKey kAutocastKey, c10::DeviceType kDeviceType>
at::Tensor rbm_free_energy_autocast(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(kAutocastKey);
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::rbm_free_energy", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
  const auto to_float = [](const at::Tensor& t) {
    return t.defined() && (t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16)
        ? at::autocast::cached_cast(at::kFloat, t, kDeviceType)
        : t;
  };
  return op.call(to_float(visible), to_float(weight), to_float(visible_bias), to_float(hidden_bias));
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("rbm_free_energy", &rbm_free_energy_autograd);
}

TORCH_LIBRARY_IMPL(statmech, AutocastCPU, m) {
  m.impl("rbm_free_energy", &rbm_free_energy_autocast<c10::DispatchKey::AutocastCPU, c10::DeviceType::CPU>);
}

TORCH_LIBRARY_IMPL(statmech, AutocastCUDA, m) {
  m.impl("rbm_free_energy", &rbm_free_energy_autocast<c10::DispatchKey::AutocastCUDA, c10::DeviceType::CUDA>);
}

} // namespace statmech::rbm
