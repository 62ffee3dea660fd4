#pragma once

// Kernel shaping: Deep Kernel Shaping (DKS; Martens et al. 2021, arXiv:2110.01765) and Tailored
// Activation Transformations (TAT; Zhang et al. 2022, ICLR, openreview U0k7XNTiFEq).
//
// Both replace an activation phi by
//
//   phi_hat(x) = output_scale * (phi(input_scale * x + input_shift) + output_shift)
//              = gamma * (phi(alpha * x + beta) + delta)
//
// chosen so that the whole network's Q- and C-maps (the variance and correlation maps of
// mean-field theory, computed at q = 1) meet targets that make a deep network without skip
// connections or normalisation trainable. The "local" maps of one layer phi_hat, for inputs of
// variance 1 and correlation c, are
//
//   Q(q)  = E[phi_hat(sqrt(q) z)^2]                       (Q(1) = 1 for every method here)
//   C(c)  = E[phi_hat(u) phi_hat(v)] / Q(1),  u, v ~ N(0, [[1, c], [c, 1]]),
//
// so Q'(1) = E[z phi_hat(z) phi_hat'(z)], C(0) = E[phi_hat]^2, C'(1) = E[phi_hat'^2],
// C'(0) = E[phi_hat']^2 and C''(1) = E[phi_hat''^2] (with Q(1) = 1).
//
// - DKS: Q(1) = 1, Q'(1) = local_q_slope (1 in the paper), C(0) = 0, and C'(1) chosen so that the
//   maximal slope of the network's C map over its subnetworks is zeta (1.5 by default). Unknowns
//   alpha, beta (delta from C(0) = 0, gamma from Q(1) = 1). For relu (positively homogeneous) only
//   beta / alpha matters: beta is fixed to +-1 and Q'(1) is not targeted; for leaky_relu the
//   negative slope replaces alpha.
// - TAT, smooth activations: Q(1) = 1, Q'(1) = 1, C'(1) = 1 and C''(1) chosen so that the maximal
//   curvature C_f''(1) over subnetworks f is tau (0.3). Unknowns alpha, beta, delta.
// - TAT, leaky relu: phi_hat(x) = sqrt(2 / (1 + s^2)) leaky_relu_s(x), with the negative slope s
//   chosen so that the maximal C_f(0) over subnetworks is eta (0.9).
//
// Every Gaussian expectation comes from the dual-activation core (ops/common): its quadrature
// rules and activation evaluation for the shifted pre-activations alpha z + beta, and
// dual::kernel for the leaky-relu C map.
//
// The weights these transformations assume: q-preserving orthogonal matrices (scaled-uniform
// orthogonal, SUO: statmech::init::critical_orthogonal_ with sigma_w2 = 1, which rescales tall
// matrices by sqrt(out / in)), delta-orthogonal convolutions (init::delta_orthogonal_ with
// sigma_w2 = 1), zero biases, and inputs normalised so that every example has mean squared entry 1
// (q = 1 at the first layer). Gaussian fan-in weights (critical_normal_ with sigma_w2 = 1) keep the
// same maps in the infinite-width limit but with larger finite-width fluctuations.

#include <statmech/activation.h>
#include <statmech/macros.h>

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstdint>
#include <functional>
#include <string>

namespace statmech::meanfield {

// A real function of a real variable: a local map, or the network's maximal slope / curvature
// function.
using ScalarFunction = std::function<double(double)>;

// The "subnetwork maximizing function" M(x, r) of the TAT paper (its appendix on pseudocode): the
// largest value, over every subnetwork f of the network (every path from the input to an output
// through the nonlinear layers, combined at the skip connections as the network does), of the
// network's map with each nonlinear layer's local map replaced by r, evaluated at x. For a plain
// network of depth L it is r applied L times.
using SubnetMaxFunction = std::function<double(double x, const ScalarFunction& r)>;

// What DKS and TAT need to know about the network. Give one of:
// - depth: a plain network (no skip connections) with `depth` nonlinear layers;
// - subnet_max_func (TAT's M above), from which the others follow:
//   max_slope(x) = M(1, y -> x y), max_curvature(x) = M(0, y -> x + y);
// - max_slope_func (DKS's maximal slope function: the maximal C_f'(1) when every layer has local
//   slope C'(1) = x) for DKS, or max_curv_func (the maximal C_f''(1) when every layer has
//   C'(1) = 1 and C''(1) = x) for smooth TAT. Leaky-relu TAT needs depth or subnet_max_func.
struct STATMECH_API NetworkDescription {
  NetworkDescription() = default;
  NetworkDescription(int64_t depth) : depth(depth) {} // NOLINT(google-explicit-constructor)

  static NetworkDescription plain(int64_t depth);
  static NetworkDescription subnetwork(SubnetMaxFunction subnet_max_func);
  static NetworkDescription maximal_slope(ScalarFunction max_slope_func);
  static NetworkDescription maximal_curvature(ScalarFunction max_curv_func);

  int64_t depth = 0; // > 0: a plain network of this many nonlinear layers
  SubnetMaxFunction subnet_max_func;
  ScalarFunction max_slope_func;
  ScalarFunction max_curv_func;

  std::string repr() const;
};

// The options of dks(). zeta is dks's "c_slope_1_target", local_q_slope its
// "local_q_slope_target".
struct STATMECH_API DksOptions {
  TORCH_ARG(double, zeta) = 1.5; // maximal C_f'(1) over subnetworks; > 1
  TORCH_ARG(double, local_q_slope) = 1.0; // Q'(1) of each nonlinear layer; > 0
};

// The options of tat(). tau is dks's "c_curve_target" (smooth activations), eta its
// "c_val_0_target" (leaky relu).
struct STATMECH_API TatOptions {
  TORCH_ARG(double, tau) = 0.3; // maximal C_f''(1) over subnetworks; > 0
  TORCH_ARG(double, eta) = 0.9; // maximal C_f(0) over subnetworks; in (0, 1)
};

// The local maps of phi_hat at q = 1 (see the top of this file).
struct STATMECH_API LocalMaps {
  double q_value; // Q(1)
  double q_slope; // Q'(1)
  double c_value_0; // C(0)
  double c_slope_0; // C'(0)
  double c_slope_1; // C'(1)
  double c_curvature_1; // C''(1); +inf when phi' jumps (relu, leaky_relu, selu, ...)
};

// The transformed activation phi_hat(x) = output_scale (phi(input_scale x + input_shift) +
// output_shift), with phi = activation (for leaky relu its negative slope is part of activation).
struct STATMECH_API ActivationTransform {
  Activation activation = Activation::named("linear");
  std::string method; // "dks" or "tat"
  double input_scale = 1.0; // alpha
  double input_shift = 0.0; // beta
  double output_shift = 0.0; // delta
  double output_scale = 1.0; // gamma
  // The per-layer targets the solution meets, derived from the network description: C'(1) for
  // DKS, C''(1) for smooth TAT, C(0) for leaky-relu TAT (the other targets are fixed: see above).
  double local_target = 0.0;
  // Largest |residual| of the equations at the solution (relative to the targets).
  double residual = 0.0;

  // phi_hat at one point, and element-wise on a tensor (the transformed_activation operator).
  double operator()(double x) const;
  at::Tensor operator()(const at::Tensor& input) const;
  // Q and C maps of phi_hat at q = 1, recomputed from the parameters.
  LocalMaps local_maps() const;
  std::string repr() const;
};

// Deep Kernel Shaping for `activation` in the network described by `network` (a depth, or see
// NetworkDescription). Activations: the smooth built-ins, elu, selu, relu, leaky_relu, and
// custom ones (the quadrature assumes a custom activation is smooth); not step or sign.
STATMECH_API ActivationTransform dks(
    const Activation& activation, const NetworkDescription& network, const DksOptions& options = {});

// Tailored Activation Transformation. For leaky_relu (any slope given is replaced) the
// leaky-relu form with eta; for smooth activations the smooth form with tau. Activations whose
// derivative jumps other than leaky_relu (relu, elu with alpha != 1, selu, abs, hard_tanh) have
// C''(1) = inf and are refused.
STATMECH_API ActivationTransform tat(
    const Activation& activation, const NetworkDescription& network, const TatOptions& options = {});

// The Q and C maps at q = 1 of phi_hat = gamma (phi(alpha x + beta) + delta) for any parameters
// (not only solutions); Q(1) is not normalised away: the C values are divided by it.
STATMECH_API LocalMaps local_maps(
    const Activation& activation, double input_scale, double input_shift, double output_shift, double output_scale);

} // namespace statmech::meanfield

namespace statmech {

// The transformed activation, element-wise (the operator torch.ops.statmech.transformed_activation):
//   output_scale * (phi(input_scale * input + input_shift) + output_shift)
// with phi the built-in activation `activation` (a name of Activation::names()) and `parameter`
// its parameter (negative_slope for leaky_relu, alpha for elu; ignored otherwise). Any floating
// dtype and device; differentiable (a composition of ATen operators).
STATMECH_API at::Tensor transformed_activation(
    const at::Tensor& input, const std::string& activation, double parameter, double input_scale,
    double input_shift, double output_shift, double output_scale);

} // namespace statmech
