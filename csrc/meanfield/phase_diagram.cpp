// fixed_point over a (sigma_w2, sigma_b2) grid.

#include <statmech/meanfield.h>

#include "csrc/meanfield/argument_checks.h"
#include "csrc/meanfield/fixed_point_solver.h"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>

namespace statmech::meanfield {
namespace {

at::Tensor checked_axis(const at::Tensor& t, const char* name, bool positive) {
  TORCH_CHECK(t.defined() && t.dim() == 1 && t.is_floating_point(), "phase_diagram: ", name,
              " must be a 1-D floating tensor of variances (sigma^2), got ",
              t.defined() ? t.sizes() : at::IntArrayRef{}, " ",
              t.defined() ? t.scalar_type() : at::ScalarType::Undefined);
  auto out = t.to(at::kCPU, at::kDouble).contiguous();
  const auto* v = out.data_ptr<double>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    if (positive) {
      detail::check_positive_variance("phase_diagram", name, v[i]);
    } else {
      detail::check_nonnegative_variance("phase_diagram", name, v[i]);
    }
  }
  return out;
}

} // namespace

PhaseDiagram phase_diagram(const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, const Activation& activation) {
  PhaseDiagram out;
  out.sigma_w2 = checked_axis(sigma_w2, "sigma_w2", true);
  out.sigma_b2 = checked_axis(sigma_b2, "sigma_b2", false);
  const int64_t rows = out.sigma_w2.numel();
  const int64_t cols = out.sigma_b2.numel();
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  for (auto* field : {&out.q_star, &out.c_star, &out.chi_1, &out.chi_c, &out.xi_q, &out.xi_c}) {
    *field = at::empty({rows, cols}, opts);
  }
  out.phase = at::empty({rows, cols}, opts.dtype(at::kLong));
  out.stable = at::empty({rows, cols}, opts.dtype(at::kBool));
  const auto* w = out.sigma_w2.data_ptr<double>();
  const auto* b = out.sigma_b2.data_ptr<double>();
  auto* q_star = out.q_star.data_ptr<double>();
  auto* c_star = out.c_star.data_ptr<double>();
  auto* chi_1 = out.chi_1.data_ptr<double>();
  auto* chi_c = out.chi_c.data_ptr<double>();
  auto* xi_q = out.xi_q.data_ptr<double>();
  auto* xi_c = out.xi_c.data_ptr<double>();
  auto* phase = out.phase.data_ptr<int64_t>();
  auto* stable = out.stable.data_ptr<bool>();
  const auto solve = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto p = detail::solve_fixed_point(w[i / cols], b[i % cols], activation);
      q_star[i] = p.q_star, c_star[i] = p.c_star, chi_1[i] = p.chi_1, chi_c[i] = p.chi_c;
      xi_q[i] = p.xi_q, xi_c[i] = p.xi_c, phase[i] = static_cast<int64_t>(p.phase), stable[i] = p.stable;
    }
  };
  // A user activation calls into Python, which holds one interpreter lock: stay on this thread.
  if (activation.kind() == ActivationKind::Custom) {
    solve(0, rows * cols);
  } else {
    at::parallel_for(0, rows * cols, 1, solve);
  }
  return out;
}

} // namespace statmech::meanfield
