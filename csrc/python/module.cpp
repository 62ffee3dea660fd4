// statmech._C: loading it loads libstatmech, which registers every operator with the dispatcher
// (torch.ops.statmech.*). The module itself carries only the non-tensor API.

#include "bindings.h"

#include <statmech/statmech.h>

#include <pybind11/pybind11.h>

PYBIND11_MODULE(_C, m) {
  m.doc() = "torch-statmech native module";
  m.def("cuda_version", &statmech::cuda_version,
        "CUDA version the extension was compiled against (e.g. 13000), or -1 if built without CUDA.");
  m.def("version", &statmech::version, "Version of the native library.");
  statmech::python::register_meanfield(m);
  statmech::python::register_hopfield(m);
  statmech::python::register_kernel_shaping(m);
  statmech::python::register_gp(m);
}
