#pragma once

// fc_kernel for the activations of the dual-activation core that have neither a closed form nor a
// fast-converging Hermite series: elu, selu, hard_tanh (kinked, their coefficients decay
// algebraically) and user-defined activations (Activation::custom). The slow, exact path.
//
// Each row and layer gets the core's Hermite coefficients b_n(q) (hermite_series.h). An entry
// whose correlation is small enough for the series' rigorous remainder bound (|c| below ~0.9 for
// these activations) is a polynomial in c, its partials too (db_n/dq = (sqrt((n+1)(n+2)) b_{n+2}
// + n b_n) / (2 q) by Gaussian integration by parts). The others evaluate k, kd (and, in the
// backward, their partials in (q1, q2, c)) by conditional one-dimensional quadrature. With u = sqrt(q1) x, v = sqrt(q2) (c x + s y),
// s = sqrt(1 - c^2), x and y independent standard normals, and Y = v | x ~ N(m, sigma^2),
// m = sqrt(q2) c x, sigma = sqrt(q2) s:
//   k     = E_x[phi(u) G(x)],                   G  = E[phi(Y)]
//   kd    = E_x[phi'(u) H(x)],                  H  = E[phi'(Y)]
//   dk/dq1  = E_x[phi'(u) u G(x)] / (2 q1)      (d u / d q1 = u / (2 q1))
//   dk/dq2  = E_x[phi(u) Gv(x)] / (2 q2),       Gv = E[Y phi'(Y)]
//   dk/dc   = sqrt(q1 q2) kd                    (Price's theorem)
//   dkd/dq1 = E_x[phi''(u) u H(x)] / (2 q1)
//   dkd/dq2 = E_x[phi'(u) Hv(x)] / (2 q2),      Hv = E[Y phi''(Y)]
//   dkd/dc  = sqrt(q1 q2) E_x[phi''(u) Hc(x)],  Hc = E[phi''(Y)]
// where phi'' includes the Dirac terms [phi'](t) delta(x - t) at the kinks t of phi (elu with
// alpha != 1 and selu at 0, hard_tanh at +-1, a custom activation's declared kinks); they enter
// as point terms (their factor u vanishes at a kink at 0). For the built-ins the inner
// expectations G, H, Gv, Hv, Hc are closed forms in the normal CDF; for a custom activation they
// are composite Gauss-Legendre rules like the core's direct_kernel (ops/common/direct_quadrature).
// The outer rule is the core's: split at the kinks of phi(u) and graded towards those of G (width
// s / |c|), so it stays accurate as |c| -> 1. At |c| = 1 exactly, Y = m is deterministic and the
// Dirac terms of phi''(Y) become point terms in x; dkd/dc is not needed there (the correlation is
// extremal, see fc_kernel_entry.h). Where a Dirac term meets the other factor's jump (hard_tanh on
// the diagonal) phi' is taken as the mean of its one-sided values, which is what d/dq E[phi'^2]
// needs.
//
// Custom activations with `jumps` are refused (phi' holds a Dirac delta: the NTK is infinite on
// the diagonal and the NNGP backward would need E[delta delta]).
//
// Everything is computed in float64 (inputs of other dtypes are converted) on the CPU; CUDA
// inputs are copied to the CPU and the results copied back. Built-in activations run in parallel
// over rows (at::parallel_for); a custom activation is evaluated serially on the calling thread,
// because its function takes the Python interpreter lock (see csrc/python/gp_bindings.cpp).

#include "ops/gp/fc_kernel.h"

#include <statmech/activation.h>

#include <ATen/core/Tensor.h>

#include <array>
#include <tuple>

namespace statmech::gp {

// True for the activations fc_kernel evaluates by this path.
bool uses_quadrature_path(const Activation& activation);

// Forward: [outputs, N, M] or [outputs, N] with diagonal, in x1's dtype and on x1's device.
at::Tensor fc_kernel_quadrature(
    const FcKernelConfig& config, const at::Tensor& x1, const at::Tensor& x2, double sigma_w2, double sigma_b2);

// Backward: gradients with respect to (x1, x2, sigma_w2, sigma_b2), those in output_mask.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> fc_kernel_quadrature_backward(
    const FcKernelConfig& config, const at::Tensor& grad, const at::Tensor& x1, const at::Tensor& x2,
    const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, std::array<bool, 4> output_mask);

// k, kd and their partials at (q1, q2, c) for one activation (exposed for the C++ tests).
struct QuadraturePartials {
  double k, kd, k_q1, k_q2, k_c, kd_q1, kd_q2, kd_c;
};
QuadraturePartials quadrature_partials(const Activation& activation, double q1, double q2, double c);

} // namespace statmech::gp
