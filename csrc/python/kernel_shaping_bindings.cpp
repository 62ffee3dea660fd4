// Bindings of kernel shaping (DKS / TAT). The documented Python surface is
// python/statmech/_kernel_shaping.py (re-exported by statmech.meanfield); these are its native halves.

#include "bindings.h"

#include <statmech/statmech.h>

#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

namespace py = pybind11;

namespace statmech::python {
namespace {

namespace mf = statmech::meanfield;

// A Python callable as a C++ function; it takes the interpreter lock, which the entry points
// below release.
mf::ScalarFunction scalar_function(const py::object& fn) {
  if (fn.is_none()) {
    return {};
  }
  auto shared = std::make_shared<py::object>(fn);
  return [shared](double x) {
    py::gil_scoped_acquire gil;
    return (*shared)(x).cast<double>();
  };
}

mf::SubnetMaxFunction subnet_function(const py::object& fn) {
  if (fn.is_none()) {
    return {};
  }
  auto shared = std::make_shared<py::object>(fn);
  return [shared](double x, const mf::ScalarFunction& r) {
    py::gil_scoped_acquire gil;
    py::cpp_function local_map([&r](double y) { return r(y); });
    return (*shared)(x, local_map).cast<double>();
  };
}

mf::NetworkDescription description(
    int64_t depth, const py::object& subnet_max_func, const py::object& max_slope_func,
    const py::object& max_curv_func) {
  mf::NetworkDescription d;
  d.depth = depth;
  d.subnet_max_func = subnet_function(subnet_max_func);
  d.max_slope_func = scalar_function(max_slope_func);
  d.max_curv_func = scalar_function(max_curv_func);
  return d;
}

py::dict maps_dict(const mf::LocalMaps& m) {
  return py::dict(py::arg("q_value") = m.q_value, py::arg("q_slope") = m.q_slope,
                  py::arg("c_value_0") = m.c_value_0, py::arg("c_slope_0") = m.c_slope_0,
                  py::arg("c_slope_1") = m.c_slope_1, py::arg("c_curvature_1") = m.c_curvature_1);
}

} // namespace

void register_kernel_shaping(py::module_& parent) {
  auto m = parent.def_submodule("kernel_shaping", "Native half of statmech.meanfield.dks / tat.");

  py::class_<mf::ActivationTransform>(m, "ActivationTransform")
      .def_readonly("activation", &mf::ActivationTransform::activation)
      .def_readonly("method", &mf::ActivationTransform::method)
      .def_readonly("input_scale", &mf::ActivationTransform::input_scale)
      .def_readonly("input_shift", &mf::ActivationTransform::input_shift)
      .def_readonly("output_shift", &mf::ActivationTransform::output_shift)
      .def_readonly("output_scale", &mf::ActivationTransform::output_scale)
      .def_readonly("local_target", &mf::ActivationTransform::local_target)
      .def_readonly("residual", &mf::ActivationTransform::residual)
      .def("__repr__", &mf::ActivationTransform::repr);

  m.def(
      "dks",
      [](const Activation& activation, int64_t depth, const py::object& subnet_max_func,
         const py::object& max_slope_func, double zeta, double local_q_slope) {
        const auto network = description(depth, subnet_max_func, max_slope_func, py::none());
        py::gil_scoped_release release;
        return mf::dks(activation, network, mf::DksOptions().zeta(zeta).local_q_slope(local_q_slope));
      },
      py::arg("activation"), py::arg("depth"), py::arg("subnet_max_func"), py::arg("max_slope_func"), py::arg("zeta"),
      py::arg("local_q_slope"));
  m.def(
      "tat",
      [](const Activation& activation, int64_t depth, const py::object& subnet_max_func,
         const py::object& max_curv_func, double tau, double eta) {
        const auto network = description(depth, subnet_max_func, py::none(), max_curv_func);
        py::gil_scoped_release release;
        return mf::tat(activation, network, mf::TatOptions().tau(tau).eta(eta));
      },
      py::arg("activation"), py::arg("depth"), py::arg("subnet_max_func"), py::arg("max_curv_func"), py::arg("tau"),
      py::arg("eta"));
  m.def(
      "local_maps",
      [](const Activation& activation, double input_scale, double input_shift, double output_shift,
         double output_scale) {
        mf::LocalMaps r;
        {
          py::gil_scoped_release release;
          r = mf::local_maps(activation, input_scale, input_shift, output_shift, output_scale);
        }
        return maps_dict(r);
      },
      py::arg("activation"), py::arg("input_scale"), py::arg("input_shift"), py::arg("output_shift"),
      py::arg("output_scale"));
}

} // namespace statmech::python
