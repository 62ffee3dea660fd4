// CUDA kernels of fc_kernel and _fc_kernel_backward: one thread per kernel entry, 16 x 16 tiles
// whose rows' and columns' variances q^l sit in shared memory. The first pass (row variances,
// Hermite coefficients) runs on the host in float64 and is copied over; the dot products are
// one cuBLAS GEMM written into the output.

#include "ops/gp/fc_kernel.h"
#include "ops/gp/fc_kernel_entry.h"
#include "ops/gp/fc_kernel_quadrature.h"

#include "ops/common/checks.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <vector>

namespace statmech::gp {
namespace {

using dual::entry::Form;

constexpr int kTile = 16;
// The backward keeps three values per layer per thread in local memory.
constexpr int64_t kMaxBackwardDepth = 128;
// The 2-D launches put the tiles of x1's rows on gridDim.y, at most 65535 per launch: more rows
// are covered by several launches, each told the index of its first row tile.
constexpr int64_t kMaxGridY = 65535;

// Calls launch(first_row_tile, row_tiles_in_this_launch) over the row tiles of n rows.
template <typename Launch>
void over_row_tiles(int64_t n, Launch&& launch) {
  const int64_t row_tiles = (n + kTile - 1) / kTile;
  for (int64_t first = 0; first < row_tiles; first += kMaxGridY) {
    launch(first, std::min(kMaxGridY, row_tiles - first));
  }
}

// Row tables on the device, in the kernel's type.
template <typename T>
struct DeviceTables {
  at::Tensor q; // [rows, depth + 1]
  at::Tensor coefficients, derivatives; // flat, all layers
  at::Tensor coefficient_pointers, derivative_pointers; // [depth] addresses (int64)
  at::Tensor widths; // [depth] int64
  at::Tensor terms; // [rows, depth] int32

  DeviceTables(const RowTables& t, const at::Device& device, bool backward) {
    const auto on = [&](at::Tensor host) { return host.to(device); };
    const auto host_double = at::TensorOptions().dtype(at::kDouble);
    q = on(at::from_blob(const_cast<double*>(t.q.data()), {t.rows, t.depth + 1}, host_double)
               .to(c10::CppTypeToScalarType<T>::value));
    if (!t.series) {
      return;
    }
    std::vector<int64_t> offsets, width_values;
    std::vector<double> flat, flat_derivatives;
    for (int64_t l = 0; l < t.depth; ++l) {
      offsets.push_back(static_cast<int64_t>(flat.size()));
      width_values.push_back(t.layer_terms[l] + 1);
      flat.insert(flat.end(), t.coefficients[l].begin(), t.coefficients[l].end());
      if (backward) {
        flat_derivatives.insert(
            flat_derivatives.end(), t.coefficient_derivatives[l].begin(), t.coefficient_derivatives[l].end());
      }
    }
    const auto scalar = c10::CppTypeToScalarType<T>::value;
    coefficients = on(at::from_blob(flat.data(), {static_cast<int64_t>(flat.size())}, host_double).to(scalar));
    std::vector<int64_t> pointers, derivative_addresses;
    for (int64_t l = 0; l < t.depth; ++l) {
      pointers.push_back(reinterpret_cast<int64_t>(coefficients.data_ptr<T>() + offsets[l]));
    }
    if (backward) {
      derivatives = on(
          at::from_blob(flat_derivatives.data(), {static_cast<int64_t>(flat_derivatives.size())}, host_double)
              .to(scalar));
      for (int64_t l = 0; l < t.depth; ++l) {
        derivative_addresses.push_back(reinterpret_cast<int64_t>(derivatives.data_ptr<T>() + offsets[l]));
      }
    } else {
      derivative_addresses = pointers;
    }
    const auto host_long = at::TensorOptions().dtype(at::kLong);
    coefficient_pointers = on(at::from_blob(pointers.data(), {t.depth}, host_long));
    derivative_pointers = on(at::from_blob(derivative_addresses.data(), {t.depth}, host_long));
    widths = on(at::from_blob(width_values.data(), {t.depth}, host_long));
    terms = on(at::from_blob(const_cast<int32_t*>(t.terms.data()), {t.rows, t.depth}, at::TensorOptions().dtype(at::kInt)));
  }
};

template <typename T, typename Fn>
void with_dual(const FcKernelConfig& config, const DeviceTables<T>& tables, Fn&& fn) {
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
      return fn(SeriesDual<T>{
          reinterpret_cast<const T* const*>(tables.coefficient_pointers.template data_ptr<int64_t>()),
          reinterpret_cast<const T* const*>(tables.derivative_pointers.template data_ptr<int64_t>()),
          tables.widths.template data_ptr<int64_t>(), tables.terms.template data_ptr<int32_t>(), config.depth});
  }
}

// Loads the tile's row and column variances into shared memory.
template <typename T>
__device__ void load_tile(
    const T* q, int64_t stride, int64_t n, int64_t m, int64_t column_offset, int64_t i0, int64_t j0, T* rows_tile,
    T* columns_tile) {
  for (int64_t index = threadIdx.y * kTile + threadIdx.x; index < kTile * stride; index += kTile * kTile) {
    const int64_t r = index / stride, l = index % stride;
    rows_tile[index] = i0 + r < n ? q[(i0 + r) * stride + l] : T(1);
    columns_tile[index] = j0 + r < m ? q[(column_offset + j0 + r) * stride + l] : T(1);
  }
  __syncthreads();
}

// `symmetric` (x2 is None, so n = m): only tiles on or above the diagonal run, entries with
// j >= i; tile (I, J) also writes the mirror tile (J, I), through shared memory so that those
// stores stay coalesced. (The dots below the diagonal, which the mirror overwrites, are never read.)
template <typename T, typename Dual>
__global__ void forward_kernel(
    Dual dual, EntryParams<T> p, const T* q, int64_t n, int64_t m, int64_t column_offset, T* dots, T* nngp,
    T* ntk, bool symmetric, int64_t first_row_tile) {
  const int64_t row_tile = first_row_tile + blockIdx.y;
  if (symmetric && blockIdx.x < row_tile) {
    return; // the whole tile is below the diagonal
  }
  extern __shared__ unsigned char shared[];
  T* rows_tile = reinterpret_cast<T*>(shared);
  const int64_t stride = p.depth + 1;
  T* columns_tile = rows_tile + kTile * stride;
  T* mirror = columns_tile + kTile * stride; // [2][kTile][kTile + 1]: nngp, ntk of this tile
  const int64_t i0 = row_tile * kTile, j0 = static_cast<int64_t>(blockIdx.x) * kTile;
  load_tile(q, stride, n, m, column_offset, i0, j0, rows_tile, columns_tile);
  const int64_t i = i0 + threadIdx.y, j = j0 + threadIdx.x;
  if (i < n && j < m && !(symmetric && j < i)) {
    T value, tangent;
    entry_forward(dual, p, i, column_offset + j, rows_tile + threadIdx.y * stride,
                  columns_tile + threadIdx.x * stride, dots[i * m + j], value, tangent);
    if (nngp) nngp[i * m + j] = value;
    if (ntk) ntk[i * m + j] = tangent;
    if (symmetric) {
      mirror[threadIdx.y * (kTile + 1) + threadIdx.x] = value;
      mirror[(kTile + threadIdx.y) * (kTile + 1) + threadIdx.x] = tangent;
    }
  }
  if (!symmetric) {
    return;
  }
  __syncthreads();
  // Thread (y, x) writes entry (j0 + y, i0 + x) = entry (i0 + x, j0 + y) of this tile, where
  // that one is strictly above the diagonal.
  const int64_t mi = i0 + threadIdx.x, mj = j0 + threadIdx.y;
  if (mi < n && mj < m && mj > mi) {
    if (nngp) nngp[mj * m + mi] = mirror[threadIdx.x * (kTile + 1) + threadIdx.y];
    if (ntk) ntk[mj * m + mi] = mirror[(kTile + threadIdx.x) * (kTile + 1) + threadIdx.y];
  }
}

template <typename T, typename Dual>
__global__ void diagonal_forward_kernel(
    Dual dual, EntryParams<T> p, const T* q, int64_t n, int64_t column_offset, T* dots, T* nngp, T* ntk) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) {
    return;
  }
  const int64_t stride = p.depth + 1;
  T value, tangent;
  entry_forward(dual, p, i, column_offset + i, q + i * stride, q + (column_offset + i) * stride, dots[i], value,
                tangent);
  if (nngp) nngp[i] = value;
  if (ntk) ntk[i] = tangent;
}

// One entry's backward; row gradients and the sigma gradients are accumulated with atomics
// (the sigma ones after a block reduction).
template <typename T, typename Dual>
__global__ void backward_kernel(
    Dual dual, EntryParams<T> p, const T* q, int64_t n, int64_t m, int64_t column_offset, bool diagonal,
    const T* g_nngp, const T* g_ntk, T* dots, double* grad_q, double* grad_sigmas, int64_t first_row_tile) {
  __shared__ double partial_w[kTile * kTile], partial_b[kTile * kTile];
  const int thread = threadIdx.y * kTile + threadIdx.x;
  partial_w[thread] = 0.0, partial_b[thread] = 0.0;
  int64_t i, j, index;
  if (diagonal) {
    i = (static_cast<int64_t>(blockIdx.x) * kTile * kTile) + thread, j = i, index = i;
  } else {
    i = (first_row_tile + blockIdx.y) * kTile + threadIdx.y, j = static_cast<int64_t>(blockIdx.x) * kTile + threadIdx.x;
    index = i * m + j;
  }
  const bool active = i < n && j < m;
  if (active) {
    const int64_t stride = p.depth + 1;
    const int64_t jr = column_offset + j;
    T work[3 * kMaxBackwardDepth];
    T row_a[kMaxBackwardDepth], row_b[kMaxBackwardDepth];
    for (int64_t l = 0; l < p.depth; ++l) {
      row_a[l] = 0, row_b[l] = 0;
    }
    const EntryGradients<T> e = entry_backward(
        dual, p, i, jr, q + i * stride, q + jr * stride, dots[index], g_nngp ? g_nngp[index] : T(0),
        g_ntk ? g_ntk[index] : T(0), work, row_a, row_b);
    for (int64_t l = 0; l < p.depth; ++l) {
      atomicAdd(grad_q + i * stride + l, static_cast<double>(row_a[l]));
      atomicAdd(grad_q + jr * stride + l, static_cast<double>(row_b[l]));
    }
    dots[index] = e.dot;
    partial_w[thread] = e.sigma_w2, partial_b[thread] = e.sigma_b2;
  }
  __syncthreads();
  for (int half = kTile * kTile / 2; half > 0; half /= 2) {
    if (thread < half) {
      partial_w[thread] += partial_w[thread + half];
      partial_b[thread] += partial_b[thread + half];
    }
    __syncthreads();
  }
  if (thread == 0) {
    atomicAdd(grad_sigmas, partial_w[0]);
    atomicAdd(grad_sigmas + 1, partial_b[0]);
  }
}

at::Tensor fc_kernel_cuda(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2, const at::Tensor& sigma_b2,
    int64_t depth, c10::string_view activation, std::optional<double> activation_parameter,
    c10::string_view parameterization, double width, bool nngp, bool ntk, bool diagonal) {
  const FcKernelConfig config = check_fc_kernel_inputs(
      kFcKernelOp, x1, x2, sigma_w2, sigma_b2, depth, std::string(activation), activation_parameter,
      std::string(parameterization), width, nngp, ntk, diagonal);
  const auto sigmas = check_fc_kernel_values(kFcKernelOp, x1, x2, sigma_w2, sigma_b2);
  const double w = sigmas.first, b = sigmas.second;
  if (takes_quadrature_path(config, x1, x2, w, b)) {
    // elu, selu, hard_tanh, and series activations whose series falls short (fc_kernel.h):
    // computed on the CPU and copied back (fc_kernel_quadrature.h).
    return fc_kernel_quadrature(config, x1, x2.has_value() ? *x2 : at::Tensor(), w, b);
  }
  const c10::cuda::CUDAGuard guard(x1.device());
  at::Tensor out = at::empty_symint(fc_kernel_output_shape(config, x1, x2), x1.options());
  if (out.numel() == 0) {
    return out;
  }
  const at::Tensor a = x1.contiguous();
  const at::Tensor other = x2.has_value() ? x2->contiguous() : at::Tensor();
  const int64_t n = a.size(0);
  const int64_t m = diagonal ? n : (other.defined() ? other.size(0) : n);
  const int64_t column_offset = other.defined() ? n : 0;
  const RowTables tables = row_tables(config, squared_row_norms(a, other), w, b, false, a.scalar_type() == at::kFloat);
  at::Tensor dots = out[0];
  if (diagonal) {
    at::sum_out(dots, other.defined() ? a * other : a * a, {1});
  } else {
    at::mm_out(dots, a, other.defined() ? other.t() : a.t());
  }
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "fc_kernel_cuda", [&] {
    const DeviceTables<scalar_t> device_tables(tables, a.device(), false);
    const EntryParams<scalar_t> params{depth, static_cast<scalar_t>(w), static_cast<scalar_t>(b),
                                       static_cast<scalar_t>(1.0 / a.size(1)), config.standard,
                                       static_cast<scalar_t>(config.width)};
    scalar_t* nngp_out = config.nngp ? out[0].data_ptr<scalar_t>() : nullptr;
    scalar_t* ntk_out = config.ntk ? out[config.nngp ? 1 : 0].data_ptr<scalar_t>() : nullptr;
    const scalar_t* q = device_tables.q.template data_ptr<scalar_t>();
    with_dual<scalar_t>(config, device_tables, [&](const auto& dual) {
      using DualType = std::decay_t<decltype(dual)>;
      if (diagonal) {
        const int threads = 256;
        diagonal_forward_kernel<scalar_t, DualType><<<(n + threads - 1) / threads, threads, 0, stream>>>(
            dual, params, q, n, column_offset, dots.data_ptr<scalar_t>(), nngp_out, ntk_out);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      } else {
        const bool symmetric = !other.defined();
        const size_t shared = (2 * kTile * (depth + 1) + 2 * kTile * (kTile + 1)) * sizeof(scalar_t);
        TORCH_CHECK(shared <= 48 * 1024, "fc_kernel (CUDA): depth ", depth, " is too large for the shared-memory tile");
        over_row_tiles(n, [&](int64_t first, int64_t count) {
          const dim3 grid((m + kTile - 1) / kTile, count);
          forward_kernel<scalar_t, DualType><<<grid, dim3(kTile, kTile), shared, stream>>>(
              dual, params, q, n, m, column_offset, dots.data_ptr<scalar_t>(), nngp_out, ntk_out, symmetric, first);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        });
      }
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> fc_kernel_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, c10::string_view activation,
    std::optional<double> activation_parameter, c10::string_view parameterization, double width, bool nngp,
    bool ntk, bool diagonal, std::array<bool, 4> output_mask) {
  constexpr const char* op = "_fc_kernel_backward";
  const FcKernelConfig config = check_fc_kernel_inputs(
      op, x1, x2, sigma_w2, sigma_b2, depth, std::string(activation), activation_parameter,
      std::string(parameterization), width, nngp, ntk, diagonal);
  check_fc_kernel_grad(op, grad, config, x1, x2);
  const auto sigmas = check_fc_kernel_values(op, x1, x2, sigma_w2, sigma_b2);
  const double w = sigmas.first, b = sigmas.second;
  if (takes_quadrature_path(config, x1, x2, w, b)) {
    return fc_kernel_quadrature_backward(
        config, grad, x1, x2.has_value() ? *x2 : at::Tensor(), sigma_w2, sigma_b2, output_mask);
  }
  TORCH_CHECK(depth <= kMaxBackwardDepth, op, " (CUDA): depth must be <= ", kMaxBackwardDepth, ", got ", depth);
  const c10::cuda::CUDAGuard guard(x1.device());
  const at::Tensor a = x1.contiguous();
  const at::Tensor other = x2.has_value() ? x2->contiguous() : at::Tensor();
  const int64_t n = a.size(0);
  const int64_t m = diagonal ? n : (other.defined() ? other.size(0) : n);
  const int64_t column_offset = other.defined() ? n : 0;
  const std::vector<double> norms = squared_row_norms(a, other);
  const RowTables tables = row_tables(config, norms, w, b, true, a.scalar_type() == at::kFloat);
  const int64_t stride = depth + 1;
  const at::Tensor g = grad.contiguous();
  at::Tensor dots = diagonal ? (other.defined() ? (a * other).sum(1) : a.square().sum(1))
                             : at::mm(a, other.defined() ? other.t() : a.t());
  at::Tensor grad_q = at::zeros({tables.rows * stride}, a.options().dtype(at::kDouble));
  at::Tensor grad_sigmas = at::zeros({2}, a.options().dtype(at::kDouble));
  const auto stream = at::cuda::getCurrentCUDAStream();
  if (dots.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "fc_kernel_backward_cuda", [&] {
      const DeviceTables<scalar_t> device_tables(tables, a.device(), true);
      const EntryParams<scalar_t> params{depth, static_cast<scalar_t>(w), static_cast<scalar_t>(b),
                                         static_cast<scalar_t>(1.0 / a.size(1)), config.standard,
                                         static_cast<scalar_t>(config.width)};
      const scalar_t* g_nngp = config.nngp ? g[0].data_ptr<scalar_t>() : nullptr;
      const scalar_t* g_ntk = config.ntk ? g[config.nngp ? 1 : 0].data_ptr<scalar_t>() : nullptr;
      with_dual<scalar_t>(config, device_tables, [&](const auto& dual) {
        using DualType = std::decay_t<decltype(dual)>;
        const auto launch = [&](dim3 grid, int64_t first_row_tile) {
          backward_kernel<scalar_t, DualType><<<grid, dim3(kTile, kTile), 0, stream>>>(
              dual, params, device_tables.q.template data_ptr<scalar_t>(), n, m, column_offset, diagonal, g_nngp,
              g_ntk, dots.data_ptr<scalar_t>(), grad_q.data_ptr<double>(), grad_sigmas.data_ptr<double>(),
              first_row_tile);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        };
        if (diagonal) {
          launch(dim3((n + kTile * kTile - 1) / (kTile * kTile)), 0);
        } else {
          over_row_tiles(n, [&](int64_t first, int64_t count) {
            launch(dim3((m + kTile - 1) / kTile, count), first);
          });
        }
      });
    });
  }
  const at::Tensor grad_q_host = grad_q.cpu();
  const at::Tensor sigmas_host = grad_sigmas.cpu();
  const std::vector<double> grad_rows(grad_q_host.data_ptr<double>(), grad_q_host.data_ptr<double>() + grad_q_host.numel());
  return finish_backward(
      tables, norms, grad_rows, sigmas_host.data_ptr<double>()[0], sigmas_host.data_ptr<double>()[1], dots, a, other,
      diagonal, w, output_mask, sigma_w2, sigma_b2);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CUDA, m) {
  m.impl("fc_kernel", &fc_kernel_cuda);
  m.impl("_fc_kernel_backward", &fc_kernel_backward_cuda);
}

} // namespace statmech::gp
