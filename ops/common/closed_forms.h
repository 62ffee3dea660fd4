#pragma once

// Closed-form dual activations (Cho & Saul 2009 for the arc-cosine kernels of relu and step;
// Williams 1997 for erf; elementary Gaussian integrals for the rest).

#include <statmech/dual_activation.h>

namespace statmech::dual {

// For activations where has_closed_form(kind) holds.
Moments closed_form_moments(const Activation& activation, double q);
Kernel closed_form_kernel(const Activation& activation, double q1, double q2, double c);

} // namespace statmech::dual
