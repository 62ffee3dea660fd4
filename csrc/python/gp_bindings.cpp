// Bindings of the GP kernels that cannot be operators: fc_kernel with an Activation object (a
// user-defined Python activation). The documented Python surface is statmech.gp.fc_kernel.

#include "bindings.h"

#include <statmech/statmech.h>

#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

namespace py = pybind11;

namespace statmech::python {

void register_gp(py::module_& parent) {
  auto m = parent.def_submodule("gp", "Native half of statmech.gp (custom activations).");
  // The interpreter lock is released for the whole computation: a Python activation takes it
  // again for each call (from this thread only: the custom path is serial), and C++ autograd,
  // which the activation's derivatives need, must not run while it is held.
  m.def(
      "fc_kernel_activation",
      [](const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
         const at::Tensor& sigma_b2, int64_t depth, const Activation& activation, const std::string& parameterization,
         double width, bool nngp, bool ntk, bool diagonal) {
        return statmech::gp::fc_kernel_activation(
            x1, x2, sigma_w2, sigma_b2, depth, activation, parameterization, width, nngp, ntk, diagonal);
      },
      py::arg("x1"), py::arg("x2"), py::arg("sigma_w2"), py::arg("sigma_b2"), py::arg("depth"), py::arg("activation"),
      py::arg("parameterization"), py::arg("width"), py::arg("nngp"), py::arg("ntk"), py::arg("diagonal"),
      py::call_guard<py::gil_scoped_release>());
}

} // namespace statmech::python
