// fixed_point over a (sigma_w2, sigma_b2) grid, and element-wise over tensors of parameters. The
// moment table of the activation is computed once and shared by every point.

#include <statmech/meanfield.h>

#include "csrc/meanfield/variance_map.h"
#include "ops/common/checks.h"

#include <ATen/ExpandUtils.h>
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
      checks::positive_variance("phase_diagram", name, v[i]);
    } else {
      checks::nonnegative_variance("phase_diagram", name, v[i]);
    }
  }
  return out;
}

// Allocates the result fields with `sizes` and fills entry i from solve(i) -> (w, b, q0).
template <typename Parameters>
void fill(PhaseDiagram& out, at::IntArrayRef sizes, const Activation& activation, double dropout,
          Parameters&& parameters) {
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  for (auto* field : {&out.q_star, &out.c_star, &out.chi_1, &out.chi_c, &out.xi_q, &out.xi_c}) {
    *field = at::empty(sizes, opts);
  }
  out.phase = at::empty(sizes, opts.dtype(at::kLong));
  out.fixed_points = at::empty(sizes, opts.dtype(at::kLong));
  out.stable = at::empty(sizes, opts.dtype(at::kBool));
  out.unstable_critical = at::empty(sizes, opts.dtype(at::kBool));
  const int64_t n = out.q_star.numel();
  auto* q_star = out.q_star.data_ptr<double>();
  auto* c_star = out.c_star.data_ptr<double>();
  auto* chi_1 = out.chi_1.data_ptr<double>();
  auto* chi_c = out.chi_c.data_ptr<double>();
  auto* xi_q = out.xi_q.data_ptr<double>();
  auto* xi_c = out.xi_c.data_ptr<double>();
  auto* phase = out.phase.data_ptr<int64_t>();
  auto* count = out.fixed_points.data_ptr<int64_t>();
  auto* stable = out.stable.data_ptr<bool>();
  auto* unstable_critical = out.unstable_critical.data_ptr<bool>();
  const auto shared_table = detail::moment_table(activation);
  const auto& table = *shared_table;
  const auto solve = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto [w, b, q0] = parameters(i);
      const auto p = detail::solve_fixed_point(table, w, b, q0, dropout);
      q_star[i] = p.q_star, c_star[i] = p.c_star, chi_1[i] = p.chi_1, chi_c[i] = p.chi_c;
      xi_q[i] = p.xi_q, xi_c[i] = p.xi_c, phase[i] = static_cast<int64_t>(p.phase), stable[i] = p.stable;
      count[i] = static_cast<int64_t>(p.fixed_points.size());
      bool flag = false;
      if (p.phase == Phase::Ordered || p.phase == Phase::Diverging) {
        for (const auto& f : p.fixed_points) {
          if (!f.stable && f.q > 0) {
            const auto m = dual::moments(activation, f.q);
            flag = flag || w / (1.0 - dropout) * m.derivative_second >= 1.0;
          }
        }
      }
      unstable_critical[i] = flag;
    }
  };
  // A user activation calls into Python, which holds one interpreter lock: stay on this thread.
  if (activation.kind() == ActivationKind::Custom) {
    solve(0, n);
  } else {
    at::parallel_for(0, n, 1, solve);
  }
}

struct Point {
  double w, b, q0;
};

} // namespace

PhaseDiagram phase_diagram(
    const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, const Activation& activation, std::optional<double> q0) {
  if (q0) {
    checks::positive_variance("phase_diagram", "q0", *q0);
  }
  PhaseDiagram out;
  out.sigma_w2 = checked_axis(sigma_w2, "sigma_w2", true);
  out.sigma_b2 = checked_axis(sigma_b2, "sigma_b2", false);
  const int64_t cols = out.sigma_b2.numel();
  const auto* w = out.sigma_w2.data_ptr<double>();
  const auto* b = out.sigma_b2.data_ptr<double>();
  fill(out, {out.sigma_w2.numel(), cols}, activation, 0.0, [&](int64_t i) {
    const double wi = w[i / cols], bi = b[i % cols];
    return Point{wi, bi, q0.value_or(detail::default_q0(wi, bi))};
  });
  return out;
}

PhaseDiagram fixed_points(
    const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, const Activation& activation, const at::Tensor& q0,
    double dropout) {
  const char* fn = "fixed_point";
  checks::dropout_rate(fn, "dropout", dropout);
  std::vector<at::Tensor> args{sigma_w2, sigma_b2};
  if (q0.defined()) {
    args.push_back(q0);
  }
  for (const auto& t : args) {
    TORCH_CHECK(t.defined() && !t.is_complex(), fn, ": sigma_w2, sigma_b2 and q0 must be real tensors or numbers");
  }
  for (auto& t : args) {
    t = t.to(at::kCPU, at::kDouble);
  }
  auto expanded = at::expand_outplace(args);
  for (auto& t : expanded) {
    t = t.contiguous();
  }
  const auto* w = expanded[0].data_ptr<double>();
  const auto* b = expanded[1].data_ptr<double>();
  const double* q = q0.defined() ? expanded[2].data_ptr<double>() : nullptr;
  const int64_t n = expanded[0].numel();
  for (int64_t i = 0; i < n; ++i) {
    checks::positive_variance(fn, "sigma_w2", w[i]);
    checks::nonnegative_variance(fn, "sigma_b2", b[i]);
    if (q != nullptr) {
      checks::positive_variance(fn, "q0", q[i]);
    }
  }
  PhaseDiagram out;
  out.sigma_w2 = expanded[0];
  out.sigma_b2 = expanded[1];
  fill(out, expanded[0].sizes(), activation, dropout, [&](int64_t i) {
    return Point{w[i], b[i], q != nullptr ? q[i] : detail::default_q0(w[i], b[i])};
  });
  return out;
}

} // namespace statmech::meanfield
