// Public C++ entry points of the RBM operators. They call through the dispatcher, so C++ callers
// get autograd, the device kernels and the checks exactly as torch.ops.statmech does.

#include <statmech/ops.h>

#include <ATen/core/dispatch/Dispatcher.h>

namespace statmech {

at::Tensor rbm_free_energy(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::rbm_free_energy", "")
                       .typed<decltype(rbm_free_energy)>();
  return op.call(visible, weight, visible_bias, hidden_bias);
}

} // namespace statmech
