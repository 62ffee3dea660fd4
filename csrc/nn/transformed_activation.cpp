#include <statmech/nn/transformed_activation.h>

#include <c10/util/Exception.h>

#include <utility>

namespace statmech::nn {

TransformedActivationOptions::TransformedActivationOptions(std::string activation)
    : activation_(std::move(activation)) {}

TransformedActivationOptions::TransformedActivationOptions(const meanfield::ActivationTransform& transform)
    : activation_(transform.activation.name()),
      parameter_(transform.activation.parameter()),
      input_scale_(transform.input_scale),
      input_shift_(transform.input_shift),
      output_shift_(transform.output_shift),
      output_scale_(transform.output_scale) {
  TORCH_CHECK(transform.activation.kind() != ActivationKind::Custom,
              "TransformedActivationOptions: the transformation is of a custom activation, which the module "
              "cannot apply; use a built-in activation");
}

TransformedActivationImpl::TransformedActivationImpl(TransformedActivationOptions options)
    : options(std::move(options)) {
  reset();
}

void TransformedActivationImpl::reset() {
  // Validate the name early (the operator lists the valid ones).
  Activation::named(options.activation());
}

torch::Tensor TransformedActivationImpl::forward(const torch::Tensor& input) {
  return transformed_activation(
      input, options.activation(), options.parameter(), options.input_scale(), options.input_shift(),
      options.output_shift(), options.output_scale());
}

void TransformedActivationImpl::pretty_print(std::ostream& stream) const {
  stream << "statmech::nn::TransformedActivation(activation=" << options.activation();
  if (options.parameter() != 0.0) {
    stream << ", parameter=" << options.parameter();
  }
  stream << ", input_scale=" << options.input_scale() << ", input_shift=" << options.input_shift()
         << ", output_shift=" << options.output_shift() << ", output_scale=" << options.output_scale() << ")";
}

} // namespace statmech::nn
