// Bindings of the activation type, the dual activation and the mean-field calculator. The
// documented Python surface is python/statmech/meanfield.py; these are its native halves.

#include "bindings.h"

#include <statmech/statmech.h>

#include <pybind11/functional.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

namespace py = pybind11;

namespace statmech::python {

void register_meanfield(py::module_& parent) {
  auto m = parent.def_submodule("meanfield", "Native half of statmech.meanfield (variances are sigma^2).");
  using statmech::Activation;
  namespace mf = statmech::meanfield;

  py::class_<Activation>(m, "Activation")
      .def_static("named", &Activation::named, py::arg("name"))
      .def_static("leaky_relu", &Activation::leaky_relu, py::arg("negative_slope") = 0.01)
      .def_static("elu", &Activation::elu, py::arg("alpha") = 1.0)
      // The callable runs with the interpreter lock held (pybind11 takes it in the wrapper).
      .def_static("custom", &Activation::custom, py::arg("fn"), py::arg("name") = "custom",
                  py::arg("kinks") = std::vector<double>{}, py::arg("jumps") = std::vector<double>{})
      .def_property_readonly("kinks", &Activation::kinks)
      .def_property_readonly("jumps", &Activation::jumps)
      .def_static("names", &Activation::names)
      .def_property_readonly("name", &Activation::name)
      .def_property_readonly("parameter", &Activation::parameter)
      .def_property_readonly("is_custom", [](const Activation& a) { return a.kind() == ActivationKind::Custom; })
      .def("__repr__", [](const Activation& a) { return "Activation(" + a.repr() + ")"; });

  // Every entry point that evaluates an activation releases the interpreter lock: a Python
  // activation re-acquires it for each call, and C++ autograd (its derivatives) refuses to run
  // while it is held.
  const auto nogil = py::call_guard<py::gil_scoped_release>();
  m.def("moments", [](const Activation& a, double q) {
    dual::Moments r;
    {
      py::gil_scoped_release release;
      r = dual::moments(a, q);
    }
    return py::dict(py::arg("mean") = r.mean, py::arg("second") = r.second,
                    py::arg("derivative_second") = r.derivative_second, py::arg("curvature") = r.curvature,
                    py::arg("second_slope") = r.second_slope);
  });
  m.def("dual_kernel", [](const Activation& a, double q1, double q2, double c) {
    const auto r = dual::kernel(a, q1, q2, c);
    return std::make_pair(r.value, r.derivative);
  }, nogil);
  m.def("dual_kernel_uses_series", [](const Activation& a, double q1, double q2, double c) {
    return dual::DualKernel(a, q1, q2).series_suffices(c);
  }, nogil);

  py::enum_<mf::Phase>(m, "Phase")
      .value("ordered", mf::Phase::Ordered)
      .value("critical", mf::Phase::Critical)
      .value("chaotic", mf::Phase::Chaotic)
      .value("diverging", mf::Phase::Diverging)
      .value("unstable", mf::Phase::Unstable);
  m.def("phase_name", &mf::phase_name);

  py::class_<mf::VarianceFixedPoint>(m, "VarianceFixedPoint")
      .def_readonly("q", &mf::VarianceFixedPoint::q)
      .def_readonly("slope", &mf::VarianceFixedPoint::slope)
      .def_readonly("stable", &mf::VarianceFixedPoint::stable)
      .def_readonly("basin_lo", &mf::VarianceFixedPoint::basin_lo)
      .def_readonly("basin_hi", &mf::VarianceFixedPoint::basin_hi);

  py::class_<mf::FixedPoint>(m, "FixedPoint")
      .def_readonly("q0", &mf::FixedPoint::q0)
      .def_readonly("fixed_points", &mf::FixedPoint::fixed_points)
      .def_readonly("reached", &mf::FixedPoint::reached)
      .def_readonly("dropout", &mf::FixedPoint::dropout)
      .def_readonly("sigma_w2", &mf::FixedPoint::sigma_w2)
      .def_readonly("sigma_b2", &mf::FixedPoint::sigma_b2)
      .def_readonly("q_star", &mf::FixedPoint::q_star)
      .def_readonly("stable", &mf::FixedPoint::stable)
      .def_readonly("c_star", &mf::FixedPoint::c_star)
      .def_readonly("chi_1", &mf::FixedPoint::chi_1)
      .def_readonly("chi_c", &mf::FixedPoint::chi_c)
      .def_readonly("xi_q", &mf::FixedPoint::xi_q)
      .def_readonly("xi_c", &mf::FixedPoint::xi_c)
      .def_property_readonly("phase", [](const mf::FixedPoint& p) { return mf::phase_name(p.phase); })
      .def("__repr__", &mf::FixedPoint::repr);

  py::class_<mf::PhaseDiagram>(m, "PhaseDiagram")
      .def_readonly("sigma_w2", &mf::PhaseDiagram::sigma_w2)
      .def_readonly("sigma_b2", &mf::PhaseDiagram::sigma_b2)
      .def_readonly("q_star", &mf::PhaseDiagram::q_star)
      .def_readonly("c_star", &mf::PhaseDiagram::c_star)
      .def_readonly("chi_1", &mf::PhaseDiagram::chi_1)
      .def_readonly("chi_c", &mf::PhaseDiagram::chi_c)
      .def_readonly("xi_q", &mf::PhaseDiagram::xi_q)
      .def_readonly("xi_c", &mf::PhaseDiagram::xi_c)
      .def_readonly("phase", &mf::PhaseDiagram::phase)
      .def_readonly("stable", &mf::PhaseDiagram::stable)
      .def_readonly("fixed_points", &mf::PhaseDiagram::fixed_points)
      .def_readonly("unstable_critical", &mf::PhaseDiagram::unstable_critical);

  py::class_<mf::CriticalLine>(m, "CriticalLine")
      .def_readonly("sigma_w2", &mf::CriticalLine::sigma_w2)
      .def_readonly("q_star", &mf::CriticalLine::q_star)
      .def_readonly("reason", &mf::CriticalLine::reason);
  py::class_<mf::CriticalCurve>(m, "CriticalCurve")
      .def_readonly("sigma_w2", &mf::CriticalCurve::sigma_w2)
      .def_readonly("sigma_b2", &mf::CriticalCurve::sigma_b2)
      .def_readonly("slope", &mf::CriticalCurve::slope);
  m.def("critical_reason_name", [](int64_t code) { return mf::critical_reason_name(static_cast<mf::CriticalReason>(code)); });

  using Optional = std::optional<double>;
  m.def("q_map", py::overload_cast<double, double, double, const Activation&, double>(&mf::q_map), py::arg("q"),
        py::arg("sigma_w2"), py::arg("sigma_b2"), py::arg("activation"), py::arg("dropout") = 0.0, nogil);
  m.def("c_map", py::overload_cast<double, double, double, double, const Activation&, double>(&mf::c_map),
        py::arg("c"), py::arg("q"), py::arg("sigma_w2"), py::arg("sigma_b2"), py::arg("activation"),
        py::arg("dropout") = 0.0, nogil);
  m.def("q_map_tensor",
        py::overload_cast<const at::Tensor&, const at::Tensor&, const at::Tensor&, const Activation&, double>(
            &mf::q_map),
        py::arg("q"), py::arg("sigma_w2"), py::arg("sigma_b2"), py::arg("activation"), py::arg("dropout") = 0.0, nogil);
  m.def("c_map_tensor",
        py::overload_cast<const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                          const Activation&, double>(&mf::c_map),
        py::arg("c"), py::arg("q"), py::arg("sigma_w2"), py::arg("sigma_b2"), py::arg("activation"),
        py::arg("dropout") = 0.0, nogil);
  m.def("fixed_point", &mf::fixed_point, py::arg("sigma_w2"), py::arg("sigma_b2"), py::arg("activation"),
        py::arg("q0") = Optional{}, py::arg("dropout") = 0.0, nogil);
  m.def("fixed_points_tensor", [](const at::Tensor& w, const at::Tensor& b, const Activation& a,
                                  std::optional<at::Tensor> q0, double dropout) {
    return mf::fixed_points(w, b, a, q0.value_or(at::Tensor()), dropout);
  }, py::arg("sigma_w2"), py::arg("sigma_b2"), py::arg("activation"), py::arg("q0") = py::none(),
     py::arg("dropout") = 0.0, nogil);
  m.def("critical_sigma_w2", &mf::critical_sigma_w2, py::arg("sigma_b2"), py::arg("activation"),
        py::arg("q0") = Optional{}, nogil);
  m.def("critical_point", &mf::critical_point, py::arg("q_star"), py::arg("activation"), py::arg("q0") = Optional{},
        nogil);
  m.def("critical_line", &mf::critical_line, py::arg("sigma_b2"), py::arg("activation"), py::arg("q0") = Optional{},
        nogil);
  m.def("critical_line_with_reasons", &mf::critical_line_with_reasons, py::arg("sigma_b2"), py::arg("activation"),
        py::arg("q0") = Optional{}, nogil);
  m.def("critical_curve", &mf::critical_curve, py::arg("q_star"), py::arg("activation"), nogil);
  m.def("phase_diagram", &mf::phase_diagram, py::arg("sigma_w2"), py::arg("sigma_b2"), py::arg("activation"),
        py::arg("q0") = Optional{}, nogil);
  m.def("gradient_growth", &mf::gradient_growth, py::arg("sigma_w2"), py::arg("sigma_b2"), py::arg("activation"), nogil);
  m.def("residual_gradient_growth", &mf::residual_gradient_growth, py::arg("sigma_w2"), py::arg("sigma_b2"),
        py::arg("activation"), py::arg("depth"), py::arg("sigma_v2") = 1.0, py::arg("sigma_a2") = 0.0,
        py::arg("p0") = 1.0, nogil);
  m.def("batchnorm_gradient_growth", &mf::batchnorm_gradient_growth, py::arg("activation"));
}

} // namespace statmech::python
