// statmech._C.hopfield: runs the C++ modules statmech::nn::Hopfield / HopfieldPooling /
// HopfieldLayer from Python with the keyword arguments and the state_dict of their Python
// twins, so the tests can check that the two frontends have the same options, defaults,
// parameter names and outputs.

#include "bindings.h"

#include <statmech/nn/hopfield.h>

#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace py = pybind11;

namespace statmech::python {
namespace {

template <typename T>
std::optional<T> optional_item(const py::dict& kwargs, const char* name) {
  if (!kwargs.contains(name) || kwargs[name].is_none()) {
    return std::nullopt;
  }
  return kwargs[name].cast<T>();
}

nn::HopfieldOptions hopfield_options(int64_t input_size, const py::dict& kwargs) {
  nn::HopfieldOptions o(input_size);
  static const std::set<std::string> known = {
      "hidden_size", "output_size", "pattern_size", "num_heads", "stored_size", "value_size", "beta", "learn_beta",
      "update_steps", "eps", "separation", "dropout", "state_projection", "stored_projection", "value_projection",
      "out_projection", "bias", "normalize_state", "normalize_stored", "normalize_value", "batch_first",
      "num_queries", "num_patterns", "separate_values"};
  for (const auto& item : kwargs) {
    const auto name = item.first.cast<std::string>();
    TORCH_CHECK(known.count(name), "statmech._C.hopfield: unknown option ", name);
  }
  o.hidden_size(optional_item<int64_t>(kwargs, "hidden_size"));
  o.output_size(optional_item<int64_t>(kwargs, "output_size"));
  o.pattern_size(optional_item<int64_t>(kwargs, "pattern_size"));
  o.stored_size(optional_item<int64_t>(kwargs, "stored_size"));
  o.value_size(optional_item<int64_t>(kwargs, "value_size"));
  if (auto v = optional_item<int64_t>(kwargs, "num_heads")) o.num_heads(*v);
  if (kwargs.contains("beta") && !kwargs["beta"].is_none()) {
    if (py::isinstance<py::float_>(kwargs["beta"]) || py::isinstance<py::int_>(kwargs["beta"])) {
      o.beta(kwargs["beta"].cast<double>());
    } else {
      o.head_betas(kwargs["beta"].cast<std::vector<double>>());
    }
  }
  if (auto v = optional_item<bool>(kwargs, "learn_beta")) o.learn_beta(*v);
  if (auto v = optional_item<int64_t>(kwargs, "update_steps")) o.update_steps(*v);
  if (auto v = optional_item<double>(kwargs, "eps")) o.eps(*v);
  if (auto v = optional_item<std::string>(kwargs, "separation")) o.separation(*v);
  if (auto v = optional_item<double>(kwargs, "dropout")) o.dropout(*v);
  if (auto v = optional_item<bool>(kwargs, "state_projection")) o.state_projection(*v);
  if (auto v = optional_item<bool>(kwargs, "stored_projection")) o.stored_projection(*v);
  if (auto v = optional_item<bool>(kwargs, "value_projection")) o.value_projection(*v);
  if (auto v = optional_item<bool>(kwargs, "out_projection")) o.out_projection(*v);
  if (auto v = optional_item<bool>(kwargs, "bias")) o.bias(*v);
  if (auto v = optional_item<bool>(kwargs, "normalize_state")) o.normalize_state(*v);
  if (auto v = optional_item<bool>(kwargs, "normalize_stored")) o.normalize_stored(*v);
  if (auto v = optional_item<bool>(kwargs, "normalize_value")) o.normalize_value(*v);
  if (auto v = optional_item<bool>(kwargs, "batch_first")) o.batch_first(*v);
  return o;
}

// Copies `state` into the module's parameters and buffers; the two name sets must be equal.
void load_state(torch::nn::Module& module, const std::map<std::string, at::Tensor>& state) {
  torch::NoGradGuard guard;
  std::set<std::string> seen;
  auto copy = [&](const std::string& name, at::Tensor& target) {
    if (!target.defined()) {
      return;
    }
    const auto found = state.find(name);
    TORCH_CHECK(found != state.end(), "statmech._C.hopfield: the C++ module has ", name, " but the state_dict has not");
    target.set_data(found->second.detach().clone());
    seen.insert(name);
  };
  for (auto& item : module.named_parameters()) {
    copy(item.key(), item.value());
  }
  for (auto& item : module.named_buffers()) {
    copy(item.key(), item.value());
  }
  for (const auto& item : state) {
    TORCH_CHECK(seen.count(item.first), "statmech._C.hopfield: the state_dict has ", item.first, " but the C++ module has not");
  }
}

at::Tensor input(const std::vector<std::optional<at::Tensor>>& inputs, size_t i) {
  return i < inputs.size() && inputs[i].has_value() ? *inputs[i] : at::Tensor();
}

// Runs method ("forward", "association" or "energy") of a freshly built C++ module of `kind`
// ("Hopfield", "HopfieldPooling" or "HopfieldLayer") with the given state, in eval mode.
at::Tensor run_module(
    const std::string& kind, int64_t input_size, const py::dict& kwargs,
    const std::map<std::string, at::Tensor>& state, const std::string& method,
    const std::vector<std::optional<at::Tensor>>& inputs) {
  const auto options = hopfield_options(input_size, kwargs);
  auto call = [&](auto& module, auto&& forward, auto&& association, auto&& energy) {
    load_state(*module, state);
    module->eval();
    if (method == "forward") return forward();
    if (method == "association") return association();
    TORCH_CHECK(method == "energy", "statmech._C.hopfield: unknown method ", method);
    return energy();
  };
  const auto a = input(inputs, 0), b = input(inputs, 1), c = input(inputs, 2), d = input(inputs, 3),
             e = input(inputs, 4);
  if (kind == "Hopfield") {
    nn::Hopfield m(options);
    return call(
        m, [&] { return m->forward(a, b, c, d, e); }, [&] { return m->association(a, b, c, d); },
        [&] { return m->energy(a, b, c, d); });
  }
  if (kind == "HopfieldPooling") {
    nn::HopfieldPooling m(
        nn::HopfieldPoolingOptions(input_size, optional_item<int64_t>(kwargs, "num_queries").value_or(1)).hopfield(options));
    return call(
        m, [&] { return m->forward(a, b, c, d); }, [&] { return m->association(a, b, c); },
        [&] { return m->energy(a, b, c); });
  }
  TORCH_CHECK(kind == "HopfieldLayer", "statmech._C.hopfield: unknown module ", kind);
  const auto patterns = optional_item<int64_t>(kwargs, "num_patterns");
  TORCH_CHECK(patterns.has_value(), "statmech._C.hopfield: HopfieldLayer needs num_patterns");
  nn::HopfieldLayer m(nn::HopfieldLayerOptions(input_size, *patterns)
                          .hopfield(options)
                          .separate_values(optional_item<bool>(kwargs, "separate_values").value_or(false)));
  return call(
      m, [&] { return m->forward(a, b); }, [&] { return m->association(a, b); }, [&] { return m->energy(a, b); });
}

} // namespace

void register_hopfield(py::module_& m) {
  auto sub = m.def_submodule("hopfield", "The C++ Hopfield modules, for cross-checks against statmech.nn");
  sub.def(
      "run_module", &run_module, py::arg("kind"), py::arg("input_size"), py::arg("kwargs"), py::arg("state"),
      py::arg("method"), py::arg("inputs"),
      "Build the C++ module `kind` with these keyword arguments, load `state` (a state_dict), and run "
      "`method` on `inputs` in eval mode.");
}

} // namespace statmech::python
