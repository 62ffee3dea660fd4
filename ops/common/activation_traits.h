#pragma once

// What the quadrature needs to know about an activation: where it is not smooth, and how far its
// nearest complex singularity is from the real axis (which sets the panel width).

#include <statmech/activation.h>

#include "ops/common/constants.h"

#include <limits>
#include <vector>

namespace statmech::dual {

// Activations whose k, k-dot and moments have closed forms (closed_forms.h).
inline bool has_closed_form(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::Linear:
    case ActivationKind::Relu:
    case ActivationKind::LeakyRelu:
    case ActivationKind::Abs:
    case ActivationKind::Step:
    case ActivationKind::Sign:
    case ActivationKind::Erf:
    case ActivationKind::Sin:
    case ActivationKind::Cos:
      return true;
    default:
      return false;
  }
}

// Points where phi, phi' or phi'' is not smooth; the quadrature splits its panels there.
inline std::vector<double> kinks(const Activation& activation) {
  switch (activation.kind()) {
    case ActivationKind::Relu:
    case ActivationKind::LeakyRelu:
    case ActivationKind::Abs:
    case ActivationKind::Step:
    case ActivationKind::Sign:
    case ActivationKind::Elu:
    case ActivationKind::Selu:
      return {0.0};
    case ActivationKind::HardTanh:
      return {-1.0, 1.0};
    case ActivationKind::Custom: {
      // Declared by the user: both kinds of points split the quadrature.
      std::vector<double> points = activation.kinks();
      points.insert(points.end(), activation.jumps().begin(), activation.jumps().end());
      return points;
    }
    default:
      return {};
  }
}

// Half-width of the strip around the real axis in which phi (piece by piece) is analytic: tanh has
// poles at i pi / 2, the logistic function (and silu, softplus through it) at i pi. Entire
// functions get 2, a resolution that keeps panels narrow enough for e^{-x^2}-type growth off
// the axis. A user function is unknown and gets the cautious 0.5.
inline double analytic_half_width(const Activation& activation) {
  using constants::kPi;
  switch (activation.kind()) {
    case ActivationKind::Tanh:
      return kPi / 2;
    case ActivationKind::Sigmoid:
    case ActivationKind::Silu:
    case ActivationKind::Softplus:
      return kPi;
    case ActivationKind::Custom:
      return 0.5;
    default:
      return 2.0;
  }
}

// Where phi is rough (complex singularities nearest the axis, kinks): at 0 for every built-in
// (tanh's poles are at i pi / 2 + i pi k, the logistic's at i pi + 2 i pi k, kinks at 0 or at
// +-1 which scale towards 0 with the variance). Quadrature meshes are graded away from it. A
// user function is unknown; it is graded around 0 too, because whatever scale of x its features
// have, at a large variance they sit at z = x / sqrt(q) near 0. (Uniformly narrow panels instead
// would need ~sqrt(q) nodes: 3e7 of them, 240 MB, at the q ~ 1e12 a critical-line scan reaches.)
inline double roughness_centre(const Activation& activation) {
  return 0.0;
}

} // namespace statmech::dual
