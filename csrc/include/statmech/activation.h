#pragma once

// The activation functions the mean-field calculator and the kernel layers understand: the
// built-in ones by name (with closed-form or specialised Gaussian expectations), and any
// user-defined element-wise function on tensors (its derivatives are taken by autograd).

#include <statmech/macros.h>

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

namespace statmech {

enum class ActivationKind {
  Linear,
  Relu,
  LeakyRelu, // parameter: negative slope
  Abs,
  Step, // Heaviside, 1[x > 0]
  Sign,
  Erf,
  Tanh,
  Sigmoid, // the logistic function 1 / (1 + e^-x)
  Gelu, // exact: x Phi(x)
  Silu, // x sigmoid(x), a.k.a. swish
  Softplus, // log(1 + e^x)
  Elu, // parameter: alpha
  Selu, // PyTorch's constants
  Sin,
  Cos,
  HardTanh, // clamp(x, -1, 1)
  Custom,
};

class STATMECH_API Activation {
 public:
  // An element-wise function of a float64 tensor. It must be differentiable twice by autograd
  // (piecewise-smooth functions are fine: derivatives are then taken almost everywhere).
  using Function = std::function<at::Tensor(const at::Tensor&)>;

  // Implicit from a name, so that every calculator function also takes a plain string:
  // statmech::meanfield::fixed_point(2.0, 0.0, "relu"). Same as named(name).
  Activation(const std::string& name) : Activation(named(name)) {} // NOLINT(google-explicit-constructor)
  Activation(const char* name) : Activation(named(name)) {} // NOLINT(google-explicit-constructor)

  // A built-in activation by name (see names()); leaky_relu takes its default slope 0.01 and
  // elu its default alpha 1, as in torch.nn. Throws, listing the valid names, on an unknown name.
  static Activation named(const std::string& name);
  static Activation leaky_relu(double negative_slope = 0.01);
  static Activation elu(double alpha = 1.0);
  // A user-defined activation. Its Gaussian expectations are computed by quadrature; the
  // accuracy assumes fn is smooth (analytic) on the real line, as the built-in smooth ones are,
  // except at the points it declares:
  //   kinks: where phi is continuous but phi' jumps (relu6 at 0 and 6). The quadrature is split
  //          there and E[phi'' phi] gains the Dirac terms [phi'](x_k) phi(x_k) p_q(x_k) that the
  //          almost-everywhere derivative misses ([phi'] the jump of phi', p_q the N(0, q) density).
  //   jumps: where phi itself jumps. The quadrature is split there; E[phi'^2] is then infinite (phi'
  //          holds a Dirac delta), E[phi'' phi] undefined (NaN), and the slope of the variance map
  //          is taken as E[phi^2 (z^2 - 1)] / (2 q), which needs no derivative.
  static Activation custom(
      Function fn, std::string name = "custom", std::vector<double> kinks = {}, std::vector<double> jumps = {});

  // The names accepted by named(), in a stable order.
  static const std::vector<std::string>& names();

  ActivationKind kind() const {
    return kind_;
  }
  // negative_slope for leaky_relu, alpha for elu, unused (0) otherwise.
  double parameter() const {
    return parameter_;
  }
  const std::string& name() const {
    return name_;
  }
  const Function& function() const {
    return function_;
  }
  // The points a custom activation declared (sorted); empty for the built-ins, whose kinks the
  // core knows.
  const std::vector<double>& kinks() const {
    return kinks_;
  }
  const std::vector<double>& jumps() const {
    return jumps_;
  }
  // e.g. "leaky_relu(negative_slope=0.1)"
  std::string repr() const;

  // phi, phi' and phi'' at n points (derivatives almost everywhere; 0 where a built-in one has a
  // Dirac delta, e.g. the derivative of step). Used by the quadrature rules.
  void evaluate(int64_t n, const double* x, double* phi, double* dphi, double* d2phi) const;

 private:
  Activation(ActivationKind kind, double parameter, std::string name, Function function = {})
      : kind_(kind), parameter_(parameter), name_(std::move(name)), function_(std::move(function)) {}

  ActivationKind kind_;
  double parameter_;
  std::string name_;
  Function function_;
  std::vector<double> kinks_, jumps_;
};

} // namespace statmech
