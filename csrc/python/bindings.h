#pragma once

// Registration functions of the statmech._C submodules, one per file in csrc/python.

#include <pybind11/pybind11.h>

namespace statmech::python {

// statmech._C.meanfield: Activation, the dual activation and the mean-field calculator.
void register_meanfield(pybind11::module_& m);

// statmech._C.hopfield: the C++ Hopfield modules, run from Python for cross-checks.
void register_hopfield(pybind11::module_& m);
// statmech._C.kernel_shaping: DKS / TAT (statmech.meanfield.dks, tat).
void register_kernel_shaping(pybind11::module_& m);
// statmech._C.gp: fc_kernel with an Activation object (user-defined activations).
void register_gp(pybind11::module_& m);

} // namespace statmech::python
