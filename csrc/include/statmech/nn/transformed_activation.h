#pragma once

// statmech::nn::TransformedActivation: the activation of kernel shaping (DKS / TAT) as a module,
//   phi_hat(x) = output_scale * (phi(input_scale * x + input_shift) + output_shift),
// the counterpart of Python's statmech.nn.TransformedActivation. Build the options from
// statmech::meanfield::dks / tat:
//
//   auto t = statmech::meanfield::dks("tanh", 100);
//   statmech::nn::TransformedActivation act(statmech::nn::TransformedActivationOptions(t));
//
// The four numbers are plain options (not parameters or buffers): the transformation is fixed at
// initialisation, as in the papers.

#include <statmech/kernel_shaping.h>
#include <statmech/macros.h>

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <ostream>
#include <string>

namespace statmech::nn {

struct STATMECH_API TransformedActivationOptions {
  // phi by name (statmech::Activation::names()), identity transform.
  TransformedActivationOptions(std::string activation = "tanh"); // NOLINT(google-explicit-constructor)
  // The transformation dks() / tat() computed (its activation must be a built-in one).
  TransformedActivationOptions(const meanfield::ActivationTransform& transform); // NOLINT(google-explicit-constructor)

  TORCH_ARG(std::string, activation);
  TORCH_ARG(double, parameter) = 0.0; // leaky_relu's negative_slope, elu's alpha
  TORCH_ARG(double, input_scale) = 1.0;
  TORCH_ARG(double, input_shift) = 0.0;
  TORCH_ARG(double, output_shift) = 0.0;
  TORCH_ARG(double, output_scale) = 1.0;
};

// Element-wise; input of any shape and floating dtype, output of the same shape.
class STATMECH_API TransformedActivationImpl : public torch::nn::Cloneable<TransformedActivationImpl> {
 public:
  explicit TransformedActivationImpl(TransformedActivationOptions options = {});

  torch::Tensor forward(const torch::Tensor& input);
  // Nothing to reset: the module has no parameters.
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  TransformedActivationOptions options;
};

TORCH_MODULE(TransformedActivation);

} // namespace statmech::nn
