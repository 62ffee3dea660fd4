// CPU kernels of fc_kernel and _fc_kernel_backward: the fused per-entry passes, parallel over rows.

#include "ops/gp/fc_kernel.h"
#include "ops/gp/fc_kernel_entry.h"
#include "ops/gp/cpu/fc_kernel_series.h"
#include "ops/gp/fc_kernel_quadrature.h"
#include "ops/gp/cpu/fc_kernel_simd.h"

#include "ops/common/checks.h"
#include "ops/common/kernel_series.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <vector>

namespace statmech::gp {
namespace {

using dual::entry::Form;

// The tables of the first pass in the kernel's floating type.
template <typename T>
struct TypedTables {
  std::vector<T> q;
  std::vector<std::vector<T>> coefficients, derivatives;
  std::vector<const T*> coefficient_pointers, derivative_pointers;
  std::vector<int64_t> widths;

  TypedTables(const RowTables& t) : q(t.q.begin(), t.q.end()) {
    for (size_t l = 0; l < t.coefficients.size(); ++l) {
      coefficients.emplace_back(t.coefficients[l].begin(), t.coefficients[l].end());
      widths.push_back(t.layer_terms[l] + 1);
    }
    for (const auto& d : t.coefficient_derivatives) {
      derivatives.emplace_back(d.begin(), d.end());
    }
    for (const auto& c : coefficients) {
      coefficient_pointers.push_back(c.data());
    }
    for (const auto& d : derivatives) {
      derivative_pointers.push_back(d.data());
    }
  }
};

// Calls fn(dual) with the evaluator of the configured activation.
template <typename T, typename Fn>
void with_dual(const FcKernelConfig& config, const RowTables& tables, const TypedTables<T>& typed, Fn&& fn) {
  const T alpha = static_cast<T>(config.activation.parameter());
  switch (config.activation.kind()) {
    case ActivationKind::Linear: return fn(ClosedFormDual<Form::Linear, T>{alpha});
    case ActivationKind::Relu: return fn(ClosedFormDual<Form::Relu, T>{alpha});
    case ActivationKind::LeakyRelu: return fn(ClosedFormDual<Form::LeakyRelu, T>{alpha});
    case ActivationKind::Abs: return fn(ClosedFormDual<Form::Abs, T>{alpha});
    case ActivationKind::Step: return fn(ClosedFormDual<Form::Step, T>{alpha});
    case ActivationKind::Sign: return fn(ClosedFormDual<Form::Sign, T>{alpha});
    case ActivationKind::Erf: return fn(ClosedFormDual<Form::Erf, T>{alpha});
    case ActivationKind::Sin: return fn(ClosedFormDual<Form::Sin, T>{alpha});
    case ActivationKind::Cos: return fn(ClosedFormDual<Form::Cos, T>{alpha});
    default:
      TORCH_INTERNAL_ASSERT(tables.series);
      return fn(SeriesDual<T>{
          typed.coefficient_pointers.data(), typed.derivative_pointers.data(), typed.widths.data(),
          tables.terms.data(), config.depth});
  }
}

// Which closed form a dual evaluator is, for the vectorised path.
template <typename Dual>
struct VectorForm {
  static constexpr bool kVectorised = false;
  static constexpr Form kForm = Form::Linear;
};
template <Form F, typename T>
struct VectorForm<ClosedFormDual<F, T>> {
  static constexpr bool kVectorised = F != Form::Sin && F != Form::Cos;
  static constexpr Form kForm = F;
};

template <typename T>
EntryParams<T> entry_params(const FcKernelConfig& config, double sigma_w2, double sigma_b2, int64_t features) {
  return {config.depth, static_cast<T>(sigma_w2), static_cast<T>(sigma_b2), static_cast<T>(1.0 / features),
          config.standard, static_cast<T>(config.width)};
}

// Symmetric problems (x2 is None) evaluate the upper triangle only. Row i has N - i entries there,
// so rows are handed out in pairs (i, N - 1 - i) of equal total work.
// Small problems run on the calling thread (a parallel region costs more than they do).
template <typename Fn>
void for_rows(int64_t rows, int64_t columns, bool triangular, Fn&& fn) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(columns * 4, 1));
  if (!triangular) {
    at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        fn(i);
      }
    });
    return;
  }
  at::parallel_for(0, (rows + 1) / 2, grain, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      fn(p);
      if (rows - 1 - p != p) {
        fn(rows - 1 - p);
      }
    }
  });
}

// The Hermite-series activations off the diagonal (those with a known symmetry: all built-in
// ones): compact column-tiled coefficient tables (fc_kernel_series.h) filled by row_tables, then
// groups of rows against tiles of columns.
void fc_kernel_series_cpu(
    const FcKernelConfig& config, const at::Tensor& a, const at::Tensor& other, double w, double b, at::Tensor& out) {
  const int64_t n = a.size(0);
  const int64_t m = other.defined() ? other.size(0) : n;
  const int64_t column_offset = other.defined() ? n : 0;
  const int64_t depth = config.depth;
  const bool triangular = !other.defined();
  // The dot products go into the first output and are overwritten in place.
  at::Tensor dots = out[0];
  at::mm_out(dots, a, other.defined() ? other.t() : a.t());
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "fc_kernel_series_cpu", [&] {
    using series_cpu::SeriesTables;
    SeriesTables<scalar_t> tables(dual::series_parity(config.activation), depth, n, other.defined() ? m : 0);
    CoefficientSink sink;
    sink.coarse_tolerance = series_cpu::kTailTolerance;
    sink.begin_layer = [&](int64_t l, int64_t terms, int64_t coarse) { tables.begin_layer(l, terms, coarse); };
    sink.row = [&](int64_t l, int64_t r, const double* coefficients) { tables.set_row(l, r, coefficients); };
    const std::vector<double> norms = squared_row_norms(a, other);
    const RowTables rows = row_tables(
        config, norms, w, b, /*for_backward=*/false, a.scalar_type() == at::kFloat, &sink);
    tables.finish(rows.q, rows.terms, rows.rows);
    const EntryParams<scalar_t> params = entry_params<scalar_t>(config, w, b, a.size(1));
    scalar_t* nngp_out = config.nngp ? out[0].data_ptr<scalar_t>() : nullptr;
    scalar_t* ntk_out = config.ntk ? out[config.nngp ? 1 : 0].data_ptr<scalar_t>() : nullptr;
    scalar_t* dot_ptr = dots.data_ptr<scalar_t>();
    // Groups of rows share the column tiles in cache; symmetric problems pair group g with the
    // last but g (equal triangle work).
    constexpr int64_t kGroup = 16;
    const int64_t groups = (n + kGroup - 1) / kGroup;
    const auto run_group = [&](int64_t g, series_cpu::RowScratch<scalar_t>& scratch) {
      const int64_t begin = g * kGroup, end = std::min(n, begin + kGroup);
      series_cpu::series_rows<scalar_t>(
          params, tables, begin, end, column_offset, triangular, m, dot_ptr, nngp_out, ntk_out, scratch);
      if (triangular) {
        for (int64_t i = begin; i < end; ++i) {
          for (int64_t k = i + 1; k < m; ++k) {
            if (nngp_out) nngp_out[k * m + i] = nngp_out[i * m + k];
            if (ntk_out) ntk_out[k * m + i] = ntk_out[i * m + k];
          }
        }
      }
    };
    const int64_t tasks = triangular ? (groups + 1) / 2 : groups;
    at::parallel_for(0, tasks, 1, [&](int64_t task_begin, int64_t task_end) {
      series_cpu::RowScratch<scalar_t> scratch;
      for (int64_t task = task_begin; task < task_end; ++task) {
        run_group(task, scratch);
        if (triangular && groups - 1 - task != task) {
          run_group(groups - 1 - task, scratch);
        }
      }
    });
  });
}

at::Tensor fc_kernel_cpu(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2, const at::Tensor& sigma_b2,
    int64_t depth, c10::string_view activation, std::optional<double> activation_parameter,
    c10::string_view parameterization, double width, bool nngp, bool ntk, bool diagonal) {
  const FcKernelConfig config = check_fc_kernel_inputs(
      kFcKernelOp, x1, x2, sigma_w2, sigma_b2, depth, std::string(activation), activation_parameter,
      std::string(parameterization), width, nngp, ntk, diagonal);
  // Plain variables, not a structured binding: the lambdas below capture them, which clang
  // accepts for bindings only from C++20.
  const std::pair<double, double> variances = check_fc_kernel_values(kFcKernelOp, x1, x2, sigma_w2, sigma_b2);
  const double w = variances.first, b = variances.second;
  if (takes_quadrature_path(config, x1, x2, w, b)) {
    return fc_kernel_quadrature(config, x1, x2.has_value() ? *x2 : at::Tensor(), w, b);
  }
  const auto shape = fc_kernel_output_shape(config, x1, x2);
  at::Tensor out = at::empty_symint(shape, x1.options());
  if (out.numel() == 0) {
    return out;
  }
  const at::Tensor a = x1.contiguous();
  const at::Tensor other = x2.has_value() ? x2->contiguous() : at::Tensor();
  const int64_t n = a.size(0);
  const int64_t m = diagonal ? n : (other.defined() ? other.size(0) : n);
  const int64_t column_offset = other.defined() ? n : 0; // row of column j in the tables
  if (!diagonal && dual::uses_row_series(config.activation.kind()) &&
      dual::series_parity(config.activation) != dual::SeriesParity::None) {
    fc_kernel_series_cpu(config, a, other, w, b, out);
    return out;
  }
  const RowTables tables = row_tables(
      config, squared_row_norms(a, other), w, b, /*for_backward=*/false, a.scalar_type() == at::kFloat);
  // The dot products go into the first output and are overwritten in place.
  at::Tensor dots = out[0];
  if (diagonal) {
    at::sum_out(dots, other.defined() ? a * other : a * a, {1});
  } else {
    at::mm_out(dots, a, other.defined() ? other.t() : a.t());
  }
  const bool triangular = !diagonal && !other.defined();
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "fc_kernel_cpu", [&] {
    const TypedTables<scalar_t> typed(tables);
    const EntryParams<scalar_t> params = entry_params<scalar_t>(config, w, b, a.size(1));
    scalar_t* nngp_out = config.nngp ? out[0].data_ptr<scalar_t>() : nullptr;
    scalar_t* ntk_out = config.ntk ? out[config.nngp ? 1 : 0].data_ptr<scalar_t>() : nullptr;
    scalar_t* dot_ptr = dots.data_ptr<scalar_t>();
    const scalar_t* q = typed.q.data();
    const int64_t stride = depth + 1;
    with_dual<scalar_t>(config, tables, typed, [&](const auto& dual) {
      if (diagonal) {
        at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            scalar_t value, tangent;
            entry_forward(dual, params, i, column_offset + i, q + i * stride, q + (column_offset + i) * stride,
                          dot_ptr[i], value, tangent);
            if (nngp_out) nngp_out[i] = value;
            if (ntk_out) ntk_out[i] = tangent;
          }
        });
        return;
      }
      using Dual = std::decay_t<decltype(dual)>;
      bool vectorised = false;
      std::vector<scalar_t> columns_q;
#if defined(STATMECH_GP_SIMD)
      if constexpr (VectorForm<Dual>::kVectorised) {
        vectorised = simd::available();
        if (vectorised) {
          // The columns' variances, transposed so a chunk of columns is one contiguous load.
          columns_q.resize(std::max<int64_t>(depth, 1) * m);
          for (int64_t j = 0; j < m; ++j) {
            for (int64_t l = 0; l < depth; ++l) {
              columns_q[l * m + j] = q[(column_offset + j) * stride + l];
            }
          }
        }
      }
#endif
      for_rows(n, m, triangular, [&](int64_t i) {
        const int64_t first = triangular ? i : 0;
        int64_t j = first;
#if defined(STATMECH_GP_SIMD)
        if constexpr (VectorForm<Dual>::kVectorised) {
          if (vectorised) {
            constexpr int64_t width = simd::Lanes<scalar_t>::kWidth;
            const int64_t chunks = (m - first) / width;
            simd::row_chunks<VectorForm<Dual>::kForm, scalar_t>(
                params, static_cast<scalar_t>(config.activation.parameter()), q + i * stride,
                columns_q.data() + first, m, dot_ptr + i * m + first, chunks,
                nngp_out ? nngp_out + i * m + first : nullptr, ntk_out ? ntk_out + i * m + first : nullptr);
            j = first + chunks * width;
          }
        }
#endif
        for (; j < m; ++j) {
          const int64_t jr = column_offset + j;
          scalar_t value, tangent;
          entry_forward(dual, params, i, jr, q + i * stride, q + jr * stride, dot_ptr[i * m + j], value, tangent);
          if (nngp_out) nngp_out[i * m + j] = value;
          if (ntk_out) ntk_out[i * m + j] = tangent;
        }
        if (triangular) {
          for (int64_t k = i + 1; k < m; ++k) {
            if (nngp_out) nngp_out[k * m + i] = nngp_out[i * m + k];
            if (ntk_out) ntk_out[k * m + i] = ntk_out[i * m + k];
          }
        }
      });
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> fc_kernel_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, c10::string_view activation,
    std::optional<double> activation_parameter, c10::string_view parameterization, double width, bool nngp,
    bool ntk, bool diagonal, std::array<bool, 4> output_mask) {
  constexpr const char* op = "_fc_kernel_backward";
  const FcKernelConfig config = check_fc_kernel_inputs(
      op, x1, x2, sigma_w2, sigma_b2, depth, std::string(activation), activation_parameter,
      std::string(parameterization), width, nngp, ntk, diagonal);
  check_fc_kernel_grad(op, grad, config, x1, x2);
  const std::pair<double, double> variances = check_fc_kernel_values(op, x1, x2, sigma_w2, sigma_b2);
  const double w = variances.first, b = variances.second;
  if (takes_quadrature_path(config, x1, x2, w, b)) {
    return fc_kernel_quadrature_backward(
        config, grad, x1, x2.has_value() ? *x2 : at::Tensor(), sigma_w2, sigma_b2, output_mask);
  }
  const at::Tensor a = x1.contiguous();
  const at::Tensor other = x2.has_value() ? x2->contiguous() : at::Tensor();
  const int64_t n = a.size(0);
  const int64_t features = a.size(1);
  const int64_t m = diagonal ? n : (other.defined() ? other.size(0) : n);
  const int64_t column_offset = other.defined() ? n : 0;
  const bool triangular = !diagonal && !other.defined();
  const std::vector<double> norms = squared_row_norms(a, other);
  const RowTables tables = row_tables(config, norms, w, b, /*for_backward=*/true, a.scalar_type() == at::kFloat);
  const int64_t rows = tables.rows;
  const int64_t stride = depth + 1;
  const at::Tensor g = grad.contiguous();
  at::Tensor dots = diagonal ? (other.defined() ? (a * other).sum(1) : a.square().sum(1))
                             : at::mm(a, other.defined() ? other.t() : a.t());
  // dots is overwritten with d loss / d(x_i . x_j).
  const int threads = at::get_num_threads();
  std::vector<std::vector<double>> grad_q(threads, std::vector<double>(rows * stride, 0.0));
  std::vector<double> grad_w(threads, 0.0), grad_b(threads, 0.0);
  if (dots.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "fc_kernel_backward_cpu", [&] {
      const TypedTables<scalar_t> typed(tables);
      const EntryParams<scalar_t> params = entry_params<scalar_t>(config, w, b, features);
      const scalar_t* g_nngp = config.nngp ? g[0].data_ptr<scalar_t>() : nullptr;
      const scalar_t* g_ntk = config.ntk ? g[config.nngp ? 1 : 0].data_ptr<scalar_t>() : nullptr;
      scalar_t* dot_ptr = dots.data_ptr<scalar_t>();
      const scalar_t* q = typed.q.data();
      with_dual<scalar_t>(config, tables, typed, [&](const auto& dual) {
        const auto entry = [&](int64_t i, int64_t j, int64_t index, scalar_t upstream_nngp, scalar_t upstream_ntk,
                               std::vector<scalar_t>& work, std::vector<scalar_t>& row_a, std::vector<scalar_t>& row_b) {
          const int64_t jr = column_offset + j;
          std::fill(row_a.begin(), row_a.end(), scalar_t(0));
          std::fill(row_b.begin(), row_b.end(), scalar_t(0));
          const EntryGradients<scalar_t> e = entry_backward(
              dual, params, i, jr, q + i * stride, q + jr * stride, dot_ptr[index], upstream_nngp, upstream_ntk,
              work.data(), row_a.data(), row_b.data());
          auto& sink = grad_q[at::get_thread_num()];
          for (int64_t l = 0; l < depth; ++l) {
            sink[i * stride + l] += row_a[l];
            sink[jr * stride + l] += row_b[l];
          }
          grad_w[at::get_thread_num()] += e.sigma_w2;
          grad_b[at::get_thread_num()] += e.sigma_b2;
          dot_ptr[index] = e.dot;
        };
        const auto run = [&](auto&& body) {
          std::vector<scalar_t> work(3 * depth + 1), row_a(depth + 1), row_b(depth + 1);
          body(work, row_a, row_b);
        };
        if (diagonal) {
          at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
            run([&](auto& work, auto& row_a, auto& row_b) {
              for (int64_t i = begin; i < end; ++i) {
                entry(i, i, i, g_nngp ? g_nngp[i] : scalar_t(0), g_ntk ? g_ntk[i] : scalar_t(0), work, row_a, row_b);
              }
            });
          });
          return;
        }
        for_rows(n, m, triangular, [&](int64_t i) {
          run([&](auto& work, auto& row_a, auto& row_b) {
            for (int64_t j = triangular ? i : 0; j < m; ++j) {
              const int64_t index = i * m + j;
              scalar_t up_nngp = g_nngp ? g_nngp[index] : scalar_t(0);
              scalar_t up_ntk = g_ntk ? g_ntk[index] : scalar_t(0);
              if (triangular && j != i) {
                up_nngp += g_nngp ? g_nngp[j * m + i] : scalar_t(0);
                up_ntk += g_ntk ? g_ntk[j * m + i] : scalar_t(0);
              }
              entry(i, j, index, up_nngp, up_ntk, work, row_a, row_b);
              if (triangular && j != i) {
                dot_ptr[j * m + i] = 0;
              }
            }
          });
        });
      });
    });
  }
  double total_w = 0.0, total_b = 0.0;
  for (int t = 0; t < threads; ++t) {
    total_w += grad_w[t];
    total_b += grad_b[t];
  }
  std::vector<double> grad_rows(rows * stride, 0.0);
  for (int t = 0; t < threads; ++t) {
    for (int64_t i = 0; i < rows * stride; ++i) {
      grad_rows[i] += grad_q[t][i];
    }
  }
  return finish_backward(
      tables, norms, grad_rows, total_w, total_b, dots, a, other, diagonal, w, output_mask, sigma_w2, sigma_b2);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CPU, m) {
  m.impl("fc_kernel", &fc_kernel_cpu);
  m.impl("_fc_kernel_backward", &fc_kernel_backward_cpu);
}

} // namespace statmech::gp
