#pragma once

#include <statmech/meanfield.h>

namespace statmech::meanfield::detail {

// fixed_point without the argument checks, for callers that checked a whole grid already.
FixedPoint solve_fixed_point(double sigma_w2, double sigma_b2, const Activation& activation);

} // namespace statmech::meanfield::detail
