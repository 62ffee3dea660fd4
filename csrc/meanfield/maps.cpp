// The variance and correlation maps, on numbers and element-wise on tensors.

#include <statmech/meanfield.h>

#include "ops/common/checks.h"
#include <statmech/dual_activation.h>

#include <ATen/ExpandUtils.h>
#include <ATen/Functions.h>
#include <ATen/Parallel.h>

#include <algorithm>

namespace statmech::meanfield {
namespace {

double q_map_unchecked(double q, double sigma_w2, double sigma_b2, const Activation& activation, double dropout) {
  return sigma_w2 * dual::moments(activation, q).second / (1.0 - dropout) + sigma_b2;
}

double c_map_unchecked(
    double c, double q, double sigma_w2, double sigma_b2, const Activation& activation, double dropout) {
  const double next_variance = q_map_unchecked(q, sigma_w2, sigma_b2, activation, dropout);
  const double next = (sigma_w2 * dual::kernel(activation, q, q, c).value + sigma_b2) / next_variance;
  // The kernel and the moments come from different rules; rounding must not leave [-1, 1].
  return std::clamp(next, -1.0, 1.0);
}

// The arguments broadcast together, as contiguous float64 CPU tensors.
std::vector<at::Tensor> broadcast_parameters(const char* fn, std::vector<std::pair<const char*, at::Tensor>> args) {
  std::vector<at::Tensor> tensors;
  for (const auto& [name, t] : args) {
    TORCH_CHECK(t.defined() && (t.is_floating_point() || !t.is_complex()), fn, ": ", name,
                " must be a real tensor or number, got ", t.defined() ? t.scalar_type() : at::ScalarType::Undefined);
    tensors.push_back(t.to(at::kCPU, at::kDouble));
  }
  auto expanded = at::expand_outplace(tensors);
  for (auto& t : expanded) {
    t = t.contiguous();
  }
  return expanded;
}

template <typename Fn>
void for_each_element(const Activation& activation, int64_t n, Fn&& fn) {
  const auto run = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      fn(i);
    }
  };
  // A user activation calls into Python, which holds one interpreter lock: stay on this thread.
  if (activation.kind() == ActivationKind::Custom) {
    run(0, n);
  } else {
    at::parallel_for(0, n, 1, run);
  }
}

} // namespace

double q_map(double q, double sigma_w2, double sigma_b2, const Activation& activation, double dropout) {
  checks::positive_variance("q_map", "q", q);
  checks::positive_variance("q_map", "sigma_w2", sigma_w2);
  checks::nonnegative_variance("q_map", "sigma_b2", sigma_b2);
  checks::dropout_rate("q_map", "dropout", dropout);
  return q_map_unchecked(q, sigma_w2, sigma_b2, activation, dropout);
}

double c_map(double c, double q, double sigma_w2, double sigma_b2, const Activation& activation, double dropout) {
  checks::correlation("c_map", "c", c);
  checks::positive_variance("c_map", "q", q);
  checks::positive_variance("c_map", "sigma_w2", sigma_w2);
  checks::nonnegative_variance("c_map", "sigma_b2", sigma_b2);
  checks::dropout_rate("c_map", "dropout", dropout);
  return c_map_unchecked(c, q, sigma_w2, sigma_b2, activation, dropout);
}

at::Tensor q_map(
    const at::Tensor& q, const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, const Activation& activation,
    double dropout) {
  checks::dropout_rate("q_map", "dropout", dropout);
  const auto t = broadcast_parameters("q_map", {{"q", q}, {"sigma_w2", sigma_w2}, {"sigma_b2", sigma_b2}});
  const auto* qv = t[0].data_ptr<double>();
  const auto* w = t[1].data_ptr<double>();
  const auto* b = t[2].data_ptr<double>();
  const int64_t n = t[0].numel();
  for (int64_t i = 0; i < n; ++i) {
    checks::positive_variance("q_map", "q", qv[i]);
    checks::positive_variance("q_map", "sigma_w2", w[i]);
    checks::nonnegative_variance("q_map", "sigma_b2", b[i]);
  }
  auto out = at::empty_like(t[0]);
  auto* o = out.data_ptr<double>();
  for_each_element(activation, n, [&](int64_t i) { o[i] = q_map_unchecked(qv[i], w[i], b[i], activation, dropout); });
  return out;
}

at::Tensor c_map(
    const at::Tensor& c, const at::Tensor& q, const at::Tensor& sigma_w2, const at::Tensor& sigma_b2,
    const Activation& activation, double dropout) {
  checks::dropout_rate("c_map", "dropout", dropout);
  const auto t =
      broadcast_parameters("c_map", {{"c", c}, {"q", q}, {"sigma_w2", sigma_w2}, {"sigma_b2", sigma_b2}});
  const auto* cv = t[0].data_ptr<double>();
  const auto* qv = t[1].data_ptr<double>();
  const auto* w = t[2].data_ptr<double>();
  const auto* b = t[3].data_ptr<double>();
  const int64_t n = t[0].numel();
  for (int64_t i = 0; i < n; ++i) {
    checks::correlation("c_map", "c", cv[i]);
    checks::positive_variance("c_map", "q", qv[i]);
    checks::positive_variance("c_map", "sigma_w2", w[i]);
    checks::nonnegative_variance("c_map", "sigma_b2", b[i]);
  }
  auto out = at::empty_like(t[0]);
  auto* o = out.data_ptr<double>();
  for_each_element(
      activation, n, [&](int64_t i) { o[i] = c_map_unchecked(cv[i], qv[i], w[i], b[i], activation, dropout); });
  return out;
}

} // namespace statmech::meanfield
