#pragma once

// Umbrella header of the torch-statmech C++ API. Link against statmech::statmech.

#include <statmech/activation.h>
#include <statmech/binary_hopfield.h>
#include <statmech/dual_activation.h>
#include <statmech/gp.h>
#include <statmech/init.h>
#include <statmech/macros.h>
#include <statmech/kernel_shaping.h>
#include <statmech/meanfield.h>
#include <statmech/nn/transformed_activation.h>
#include <statmech/nn/rbm.h>
#include <statmech/nn/gp.h>
#include <statmech/ops.h>
#include <statmech/version.h>

#include <cstdint>
#include <string>

namespace statmech {

// The CUDA version the library was compiled against (e.g. 13000 for 13.0), or -1 without CUDA.
STATMECH_API int64_t cuda_version();

// The library version, e.g. "0.1.0".
STATMECH_API std::string version();

namespace detail {
// Link anchor: taking the address of a function defined in libstatmech makes every program that
// includes this header keep the library as a dependency, even under --as-needed, so the operator
// registrations in it run when the program starts.
[[maybe_unused]] inline auto* const link_anchor = &cuda_version;
} // namespace detail

} // namespace statmech
