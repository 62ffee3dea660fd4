// The transformed activation of kernel shaping (DKS / TAT; csrc/include/statmech/kernel_shaping.h):
//   output_scale * (phi(input_scale * input + input_shift) + output_shift).
//
// A composition of ATen element-wise operators, registered as CompositeImplicitAutograd: autograd,
// the meta (fake-tensor) path and every device come from the decomposition, so there is no
// hand-written kernel, backward or meta function to keep in step with it. The activation is named
// as in statmech::Activation::names().

#include <statmech/kernel_shaping.h>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <cmath>
#include <sstream>

namespace statmech {
namespace {

constexpr const char* kOp = "transformed_activation";

at::Tensor apply_named(const at::Tensor& x, const std::string& name, double parameter) {
  if (name == "linear") {
    return x;
  }
  if (name == "relu") {
    return at::relu(x);
  }
  if (name == "leaky_relu") {
    return at::leaky_relu(x, parameter);
  }
  if (name == "abs") {
    return at::abs(x);
  }
  if (name == "step") {
    // 1 where x > 0, else 0, through sign (zero gradient) rather than a comparison, so the result
    // stays in the autograd graph like torch.sign's: a comparison would drop requires_grad.
    return at::sign(x).clamp_min(0);
  }
  if (name == "sign") {
    return at::sign(x);
  }
  if (name == "erf") {
    return at::erf(x);
  }
  if (name == "tanh") {
    return at::tanh(x);
  }
  if (name == "sigmoid") {
    return at::sigmoid(x);
  }
  if (name == "gelu") {
    return at::gelu(x); // exact: x Phi(x)
  }
  if (name == "silu") {
    return at::silu(x);
  }
  if (name == "softplus") {
    return at::softplus(x, 1, 20); // torch.nn.Softplus's defaults
  }
  if (name == "elu") {
    return at::elu(x, parameter);
  }
  if (name == "selu") {
    return at::selu(x);
  }
  if (name == "sin") {
    return at::sin(x);
  }
  if (name == "cos") {
    return at::cos(x);
  }
  if (name == "hard_tanh") {
    return at::hardtanh(x, -1, 1);
  }
  std::ostringstream valid;
  for (const auto& n : Activation::names()) {
    valid << (&n == &Activation::names().front() ? "" : ", ") << n;
  }
  TORCH_CHECK(false, kOp, ": unknown activation '", name, "'; valid names are ", valid.str());
}

at::Tensor transformed_activation_composite(
    const at::Tensor& input, c10::string_view activation, double parameter, double input_scale, double input_shift,
    double output_shift, double output_scale) {
  TORCH_CHECK(at::isFloatingType(input.scalar_type()), kOp, ": input must be a floating-point tensor, got ",
              input.scalar_type());
  TORCH_CHECK(std::isfinite(parameter), kOp, ": parameter must be finite, got ", parameter);
  TORCH_CHECK(std::isfinite(input_scale), kOp, ": input_scale must be finite, got ", input_scale);
  TORCH_CHECK(std::isfinite(input_shift), kOp, ": input_shift must be finite, got ", input_shift);
  TORCH_CHECK(std::isfinite(output_shift), kOp, ": output_shift must be finite, got ", output_shift);
  TORCH_CHECK(std::isfinite(output_scale), kOp, ": output_scale must be finite, got ", output_scale);
  // Identity steps are skipped (leaky-relu TAT has only an output scale): fewer temporaries.
  at::Tensor x = input;
  if (input_scale != 1.0) {
    x = at::mul(x, input_scale);
  }
  if (input_shift != 0.0) {
    x = at::add(x, input_shift);
  }
  x = apply_named(x, std::string(activation), parameter);
  if (output_shift != 0.0) {
    x = at::add(x, output_shift);
  }
  if (output_scale != 1.0) {
    x = at::mul(x, output_scale);
  }
  // Never return the input itself (linear with the identity transform): an operator's output may
  // not alias its input.
  return x.is_same(input) ? x.clone() : x;
}

} // namespace

at::Tensor transformed_activation(
    const at::Tensor& input, const std::string& activation, double parameter, double input_scale, double input_shift,
    double output_shift, double output_scale) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::transformed_activation", "")
                       .typed<at::Tensor(const at::Tensor&, c10::string_view, double, double, double, double, double)>();
  return op.call(input, activation, parameter, input_scale, input_shift, output_shift, output_scale);
}

TORCH_LIBRARY_IMPL(statmech, CompositeImplicitAutograd, m) {
  m.impl("transformed_activation", &transformed_activation_composite);
}

} // namespace statmech
