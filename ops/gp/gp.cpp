// Public C++ entry points of the GP kernel operators (csrc/include/statmech/gp.h). They call
// through the dispatcher, so C++ callers get autograd, the device kernels and the checks exactly
// as torch.ops.statmech does.

#include <statmech/gp.h>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

namespace statmech::gp {

at::Tensor fc_kernel(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const std::string& activation,
    std::optional<double> activation_parameter, const std::string& parameterization, double width, bool nngp,
    bool ntk, bool diagonal) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::fc_kernel", "")
                       .typed<at::Tensor(
                           const at::Tensor&, const std::optional<at::Tensor>&, const at::Tensor&, const at::Tensor&,
                           int64_t, c10::string_view, std::optional<double>, c10::string_view, double, bool, bool,
                           bool)>();
  return op.call(
      x1, x2, sigma_w2, sigma_b2, depth, activation, activation_parameter, parameterization, width, nngp, ntk,
      diagonal);
}

at::Tensor fc_kernel(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, double sigma_w2, double sigma_b2, int64_t depth,
    const std::string& activation, std::optional<double> activation_parameter, const std::string& parameterization,
    double width, bool nngp, bool ntk, bool diagonal) {
  const auto options = x1.options().requires_grad(false);
  return fc_kernel(
      x1, x2, at::scalar_tensor(sigma_w2, options), at::scalar_tensor(sigma_b2, options), depth, activation,
      activation_parameter, parameterization, width, nngp, ntk, diagonal);
}

at::Tensor fc_kernel_matmul(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& v, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const std::string& activation,
    std::optional<double> activation_parameter, const std::string& parameterization, double width,
    const std::string& kernel, int64_t block_size) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::fc_kernel_matmul", "")
                       .typed<at::Tensor(
                           const at::Tensor&, const std::optional<at::Tensor>&, const at::Tensor&, const at::Tensor&,
                           const at::Tensor&, int64_t, c10::string_view, std::optional<double>, c10::string_view,
                           double, c10::string_view, int64_t)>();
  return op.call(
      x1, x2, v, sigma_w2, sigma_b2, depth, activation, activation_parameter, parameterization, width, kernel,
      block_size);
}

} // namespace statmech::gp
