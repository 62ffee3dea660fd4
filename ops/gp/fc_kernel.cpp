// fc_kernel: input checks and the first (per-row) pass, shared by the CPU and CUDA kernels.

#include "ops/gp/fc_kernel.h"
#include "ops/gp/fc_kernel_quadrature.h"

#include "ops/common/activation_traits.h"
#include "ops/common/checks.h"
#include "ops/common/closed_forms.h"
#include "ops/common/kernel_series.h"

#include <statmech/dual_activation.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace statmech::gp {
namespace {

Activation parse_activation(const char* op, const std::string& name, std::optional<double> parameter) {
  Activation activation = Activation::named(name);
  if (parameter.has_value()) {
    if (activation.kind() == ActivationKind::LeakyRelu) {
      activation = Activation::leaky_relu(*parameter);
    } else if (activation.kind() == ActivationKind::Elu) {
      activation = Activation::elu(*parameter);
    } else {
      TORCH_CHECK(false, op, ": activation_parameter applies to leaky_relu (negative_slope) and elu (alpha) only, got ",
                  *parameter, " for activation '", name, "'");
    }
  }
  TORCH_CHECK(
      dual::has_closed_form(activation.kind()) || dual::uses_row_series(activation.kind()) ||
          uses_quadrature_path(activation),
      op, ": activation '", name, "' is not supported by the kernel operators; supported: linear, relu, leaky_relu, "
      "abs, step, sign, erf, sin, cos (closed forms), tanh, sigmoid, gelu, silu, softplus (Hermite series) and elu, "
      "selu, hard_tanh (conditional quadrature)");
  return activation;
}

void check_sigma(const char* op, const char* name, const at::Tensor& sigma, const at::Tensor& x1) {
  checks::floating(op, name, sigma);
  TORCH_CHECK(sigma.dim() == 0, op, ": ", name, " must be a 0-d tensor (a variance) or a float, got shape ",
              sigma.sym_sizes());
  checks::same_dtype(op, name, sigma, "x1", x1);
  // Its value is read on the host: a CPU scalar or one on x1's device, never a tensor without data.
  TORCH_CHECK(
      sigma.device() == x1.device() || sigma.is_cpu(), op, ": ", name, " is on ", sigma.device(), " but x1 is on ",
      x1.device(), "; ", name, " must be on the CPU or on x1's device");
}

} // namespace

FcKernelConfig check_fc_kernel_inputs(
    const char* op, const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const std::string& activation,
    std::optional<double> activation_parameter, const std::string& parameterization, double width, bool nngp,
    bool ntk, bool diagonal) {
  checks::floating(op, "x1", x1);
  return check_fc_kernel_inputs(
      op, x1, x2, sigma_w2, sigma_b2, depth, parse_activation(op, activation, activation_parameter), parameterization,
      width, nngp, ntk, diagonal);
}

FcKernelConfig check_fc_kernel_inputs(
    const char* op, const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const Activation& activation, const std::string& parameterization,
    double width, bool nngp, bool ntk, bool diagonal) {
  checks::floating(op, "x1", x1);
  checks::rank(op, "x1", x1, 2, "[N, features]");
  if (x2.has_value()) {
    checks::floating(op, "x2", *x2);
    checks::rank(op, "x2", *x2, 2, "[M, features]");
    checks::size(op, "x2", *x2, 1, x1.sym_size(1), "the number of features x1.size(1)");
    checks::same_dtype(op, "x2", *x2, "x1", x1);
    checks::same_device(op, "x2", *x2, "x1", x1);
    if (diagonal) {
      checks::size(op, "x2", *x2, 0, x1.sym_size(0), "the number of rows x1.size(0) (diagonal=True pairs row i with row i)");
    }
  }
  TORCH_SYM_CHECK(x1.sym_size(1).sym_gt(0), op, ": x1 must have at least one feature, got shape ", x1.sym_sizes());
  check_sigma(op, "sigma_w2", sigma_w2, x1);
  check_sigma(op, "sigma_b2", sigma_b2, x1);
  TORCH_CHECK(depth >= 0, op, ": depth (the number of nonlinearities) must be >= 0, got ", depth);
  TORCH_CHECK(parameterization == "ntk" || parameterization == "standard", op,
              ": parameterization must be 'ntk' or 'standard', got '", parameterization, "'");
  TORCH_CHECK(std::isfinite(width) && width > 0, op, ": width must be a positive, finite number, got ", width);
  TORCH_CHECK(nngp || ntk, op, ": at least one of nngp and ntk must be requested");
  FcKernelConfig config;
  config.depth = depth;
  config.activation = activation;
  config.standard = parameterization == "standard";
  config.width = width;
  config.nngp = nngp;
  config.ntk = ntk;
  config.diagonal = diagonal;
  return config;
}

std::pair<double, double> check_fc_kernel_values(
    const char* op, const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2) {
  const double w = sigma_w2.item<double>();
  const double b = sigma_b2.item<double>();
  TORCH_CHECK(std::isfinite(w) && w >= 0, op, ": sigma_w2 must be a non-negative, finite variance, got ", w);
  TORCH_CHECK(std::isfinite(b) && b >= 0, op, ": sigma_b2 must be a non-negative, finite variance, got ", b);
  TORCH_CHECK(x1.numel() == 0 || at::isfinite(x1).all().item<bool>(), op, ": x1 must be finite (it has inf or NaN entries)");
  if (x2.has_value()) {
    TORCH_CHECK(x2->numel() == 0 || at::isfinite(*x2).all().item<bool>(), op,
                ": x2 must be finite (it has inf or NaN entries)");
  }
  return {w, b};
}

std::vector<c10::SymInt> fc_kernel_output_shape(
    const FcKernelConfig& config, const at::Tensor& x1, const std::optional<at::Tensor>& x2) {
  const c10::SymInt outputs(config.outputs());
  if (config.diagonal) {
    return {outputs, x1.sym_size(0)};
  }
  return {outputs, x1.sym_size(0), x2.has_value() ? x2->sym_size(0) : x1.sym_size(0)};
}

void check_fc_kernel_grad(
    const char* op, const at::Tensor& grad, const FcKernelConfig& config, const at::Tensor& x1,
    const std::optional<at::Tensor>& x2) {
  checks::floating(op, "grad", grad);
  checks::same_dtype(op, "grad", grad, "x1", x1);
  checks::same_device(op, "grad", grad, "x1", x1);
  const auto shape = fc_kernel_output_shape(config, x1, x2);
  TORCH_CHECK(grad.sym_sizes() == c10::SymIntArrayRef(shape), op, ": grad must have the output's shape ", shape,
              ", got ", grad.sym_sizes());
}

void check_layer_variance(double q, int64_t layer) {
  TORCH_CHECK(
      std::isfinite(q), "fc_kernel: the pre-activation variance of layer ", layer, " overflows float64 (q = ", q,
      "); sigma_w2, sigma_b2 or the squared norms |x|^2 / features are too large for this depth (rescale x1 / x2 "
      "or lower the variances)");
}

std::vector<double> squared_row_norms(const at::Tensor& x1, const at::Tensor& x2) {
  const double inverse_features = 1.0 / static_cast<double>(x1.size(1));
  auto norms = x1.to(at::kDouble).square().sum(1).mul_(inverse_features);
  if (x2.defined()) {
    norms = at::cat({norms, x2.to(at::kDouble).square().sum(1).mul_(inverse_features)});
  }
  norms = norms.cpu().contiguous();
  return std::vector<double>(norms.data_ptr<double>(), norms.data_ptr<double>() + norms.numel());
}

namespace {

// Rows at zero variance (a zero input without bias) are evaluated at this variance.
constexpr double kSmallestSeriesVariance = 1e-30;

// The relative accuracy asked of each row's series (kernel_series.h).
double series_tolerance(bool single_precision) {
  return single_precision ? 1e-9 : 1e-14;
}

} // namespace

bool series_reaches_tolerance(
    const FcKernelConfig& config, const std::vector<double>& squared_norms, double sigma_w2, double sigma_b2,
    bool single_precision) {
  const Activation& activation = config.activation;
  if (!dual::uses_row_series(activation.kind()) || squared_norms.empty()) {
    return true;
  }
  // The rows of largest and smallest variance stay so through the layers (E[phi^2] grows with q
  // for these activations); row_tables takes each layer's truncation from them.
  double rows[2] = {kSmallestSeriesVariance, INFINITY};
  for (const double norm : squared_norms) {
    const double q = sigma_w2 * norm + sigma_b2;
    rows[0] = std::max(rows[0], q);
    rows[1] = std::min(rows[1], std::max(q, kSmallestSeriesVariance));
  }
  // Tails within 100 times the kernels' tolerance: the series' error stays below ~1e-12 per layer
  // in float64, the accuracy the quadrature path also has (docs/dual_activation.md).
  const double tolerance = series_tolerance(single_precision);
  std::vector<double> scratch(dual::kMaxRowTerms + 1);
  for (int64_t l = 0; l < config.depth; ++l) {
    for (double& q : rows) {
      if (!std::isfinite(q)) {
        return true; // row_tables raises check_layer_variance's error
      }
      const dual::RowSeries s =
          dual::row_series(activation, q, dual::kMaxRowTerms, tolerance, scratch.data(), nullptr, 100 * tolerance);
      if (!s.converged && !s.coarse_converged) {
        return false;
      }
      q = std::max(sigma_w2 * s.energy + sigma_b2, kSmallestSeriesVariance);
    }
  }
  return true;
}

bool takes_quadrature_path(
    const FcKernelConfig& config, const at::Tensor& x1, const std::optional<at::Tensor>& x2, double sigma_w2,
    double sigma_b2) {
  if (uses_quadrature_path(config.activation)) {
    return true;
  }
  if (!dual::uses_row_series(config.activation.kind())) {
    return false;
  }
  return !series_reaches_tolerance(
      config, squared_row_norms(x1, x2.has_value() ? *x2 : at::Tensor()), sigma_w2, sigma_b2,
      x1.scalar_type() == at::kFloat);
}

RowTables row_tables(
    const FcKernelConfig& config, const std::vector<double>& squared_norms, double sigma_w2, double sigma_b2,
    bool for_backward, bool single_precision, const CoefficientSink* sink) {
  TORCH_INTERNAL_ASSERT(!(sink && for_backward), "row_tables: a coefficient sink is for the forward only");
  RowTables t;
  t.rows = static_cast<int64_t>(squared_norms.size());
  t.depth = config.depth;
  const int64_t rows = t.rows;
  const int64_t depth = config.depth;
  // q, and for the backward the second moments and slopes: 3 doubles per row and layer at most.
  checks::fits_in_host_memory(
      "fc_kernel", 3.0 * 8.0 * static_cast<double>(rows) * (static_cast<double>(depth) + 1.0),
      "depth = " + std::to_string(depth) + " keeps depth + 1 variances (and, for the backward, moments) for each of " +
          std::to_string(rows) + " rows, which needs");
  const int64_t stride = depth + 1;
  t.q.assign(rows * stride, 0.0);
  if (for_backward) {
    t.second.assign(rows * depth, 0.0);
    t.slope.assign(rows * depth, 0.0);
  }
  for (int64_t r = 0; r < rows; ++r) {
    t.q[r * stride] = sigma_w2 * squared_norms[r] + sigma_b2;
  }
  const Activation& activation = config.activation;
  if (!dual::uses_row_series(activation.kind())) {
    at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        for (int64_t l = 0; l < depth; ++l) {
          // As for the other activations: an infinite variance (|x|^2 / d past the double range)
          // is a named error, not NaN kernels (relu, erf).
          check_layer_variance(t.q[r * stride + l], l);
          const dual::Moments m = dual::closed_form_moments(activation, t.q[r * stride + l]);
          t.q[r * stride + l + 1] = sigma_w2 * m.second + sigma_b2;
          if (for_backward) {
            t.second[r * depth + l] = m.second;
            t.slope[r * depth + l] = m.second_slope;
          }
        }
      }
    });
    return t;
  }
  // Series activations: layer by layer, since a layer's number of terms is set by its largest
  // variance (the coefficients of these activations decay more slowly as q grows).
  t.series = true;
  const double tolerance = series_tolerance(single_precision);
  constexpr double kSmallestVariance = kSmallestSeriesVariance;
  t.terms.assign(rows * depth, 0);
  t.layer_terms.assign(depth, 0);
  t.coefficients.resize(depth);
  if (for_backward) {
    t.coefficient_derivatives.resize(depth);
  }
  std::vector<double> scratch(dual::kMaxRowTerms + 1);
  bool zero_at_origin;
  {
    double x = 0, f, df, d2f;
    activation.evaluate(1, &x, &f, &df, &d2f);
    zero_at_origin = f == 0;
  }
  for (int64_t l = 0; l < depth; ++l) {
    double largest = kSmallestVariance, smallest = INFINITY;
    for (int64_t r = 0; r < rows; ++r) {
      largest = std::max(largest, t.q[r * stride + l]);
      smallest = std::min(smallest, std::max(t.q[r * stride + l], kSmallestVariance));
    }
    int64_t terms = 1, coarse_terms = 1;
    check_layer_variance(largest, l);
    if (rows > 0) {
      const double coarse = sink ? sink->coarse_tolerance : 0.0;
      const dual::RowSeries high =
          dual::row_series(activation, largest, dual::kMaxRowTerms, tolerance, scratch.data(), nullptr, coarse);
      const dual::RowSeries low =
          dual::row_series(activation, smallest, dual::kMaxRowTerms, tolerance, scratch.data(), nullptr, coarse);
      terms = std::max(high.terms, low.terms);
      coarse_terms = std::min(terms, std::max(high.coarse_terms, low.coarse_terms));
    }
    t.layer_terms[l] = terms;
    const int64_t width = terms + 1;
    if (sink) {
      sink->begin_layer(l, terms, coarse_terms);
    } else {
      t.coefficients[l].assign(rows * width, 0.0);
    }
    if (for_backward) {
      t.coefficient_derivatives[l].assign(rows * width, 0.0);
    }
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      std::vector<double> row_buffer(sink ? width : 0);
      for (int64_t r = begin; r < end; ++r) {
        const double raw_q = t.q[r * stride + l];
        const double q = std::max(raw_q, kSmallestVariance);
        double* b = sink ? row_buffer.data() : t.coefficients[l].data() + r * width;
        double* db = for_backward ? t.coefficient_derivatives[l].data() + r * width : nullptr;
        dual::RowSeries s = dual::row_series(activation, q, terms, tolerance, b, db);
        if (raw_q > 0 && raw_q < kSmallestVariance) {
          // Below the clamp b_k(q) = (q / q_c)^(k / 2) b_k(q_c) to a relative O(q_c), the Taylor
          // order of phi(sqrt(q) z) that b_k first sees (b_0 ~ q when phi(0) = 0); unscaled,
          // inputs with |x|^2 / d = 1e-40 gave kernels 1e10 times too large.
          const double ratio = raw_q / kSmallestVariance;
          for (int64_t k = 0; k <= terms; ++k) {
            const double power = k > 0 ? 0.5 * static_cast<double>(k) : (zero_at_origin ? 1.0 : 0.0);
            b[k] *= std::pow(ratio, power);
            if (db) {
              db[k] = power * b[k] / raw_q;
            }
          }
          if (zero_at_origin) {
            s.energy *= ratio; // E[phi^2] ~ phi'(0)^2 q
          }
        }
        if (sink) {
          sink->row(l, r, row_buffer.data());
        }
        t.terms[r * depth + l] = static_cast<int32_t>(s.terms);
        t.q[r * stride + l + 1] = sigma_w2 * s.energy + sigma_b2;
        if (for_backward) {
          t.second[r * depth + l] = s.energy;
          t.slope[r * depth + l] = s.second_slope;
        }
      }
    });
  }
  return t;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> finish_backward(
    const RowTables& tables, const std::vector<double>& norms, const std::vector<double>& grad_rows,
    double entry_grad_w, double entry_grad_b, const at::Tensor& cross, const at::Tensor& a, const at::Tensor& other,
    bool diagonal, double w, std::array<bool, 4> output_mask, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2) {
  // The first pass in reverse: q^{l+1} = sigma_w2 m2(q^l) + sigma_b2, q^0 = sigma_w2 |x|^2 / d + sigma_b2.
  const int64_t rows = tables.rows;
  const int64_t depth = tables.depth;
  const int64_t stride = depth + 1;
  const int64_t n = a.size(0);
  double total_w = entry_grad_w, total_b = entry_grad_b;
  std::vector<double> grad_norm(rows, 0.0);
  std::vector<double> gq(stride);
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(grad_rows.begin() + r * stride, grad_rows.begin() + (r + 1) * stride, gq.begin());
    for (int64_t l = depth - 1; l >= 0; --l) {
      gq[l] += gq[l + 1] * w * tables.slope[r * depth + l];
      total_w += gq[l + 1] * tables.second[r * depth + l];
      total_b += gq[l + 1];
    }
    total_w += gq[0] * norms[r];
    total_b += gq[0];
    grad_norm[r] = gq[0] * w;
  }
  // d/d(x_i . x_j) and d/d(|x_r|^2 / d) back to the inputs: two GEMMs and a row scaling.
  const at::Tensor norm_grad = at::from_blob(grad_norm.data(), {rows}, at::TensorOptions().dtype(at::kDouble))
                                   .to(a.options())
                                   .mul_(2.0 / static_cast<double>(a.size(1)));
  at::Tensor grad_x1, grad_x2, grad_w2, grad_b2;
  if (output_mask[0]) {
    if (diagonal) {
      grad_x1 = other.defined() ? cross.unsqueeze(1) * other : cross.unsqueeze(1) * a * 2;
    } else {
      grad_x1 = other.defined() ? at::mm(cross, other) : at::mm(cross, a).add_(at::mm(cross.t(), a));
    }
    grad_x1.addcmul_(norm_grad.slice(0, 0, n).unsqueeze(1), a);
  }
  if (output_mask[1] && other.defined()) {
    grad_x2 = diagonal ? cross.unsqueeze(1) * a : at::mm(cross.t(), a);
    grad_x2.addcmul_(norm_grad.slice(0, n, rows).unsqueeze(1), other);
  }
  if (output_mask[2]) {
    grad_w2 = at::scalar_tensor(total_w, sigma_w2.options());
  }
  if (output_mask[3]) {
    grad_b2 = at::scalar_tensor(total_b, sigma_b2.options());
  }
  return {grad_x1, grad_x2, grad_w2, grad_b2};
}

} // namespace statmech::gp
