// CUDA kernel of dense_memory_run: one block per batch row. The overlaps m_mu of the row are
// split across the threads (each thread owns the same slice of patterns throughout), so a flip
// updates them without a barrier; each visit's energy difference D_i is a block reduction over
// the slices (two for the exponential F, whose terms are shifted by their maximum). Maths and
// conventions as in cpu/dense_memory_cpu.cpp.

#include "ops/hopfield/binary_dynamics.h"
#include "ops/hopfield/dense_memory.h"

#include <ATen/ATen.h>
#include <ATen/core/PhiloxRNGEngine.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/PhiloxUtils.cuh>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>
#include <torch/library.h>

#include <mutex>

namespace statmech::hopfield {
namespace {

constexpr int kThreads = 256;

// Block-wide sum (max when kMax) of `value`; every thread gets the result.
template <bool kMax>
__device__ double block_reduce(double value, double* scratch) {
  scratch[threadIdx.x] = value;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      const double other = scratch[threadIdx.x + stride];
      scratch[threadIdx.x] = kMax ? ::fmax(scratch[threadIdx.x], other) : scratch[threadIdx.x] + other;
    }
    __syncthreads();
  }
  const double result = scratch[0];
  __syncthreads(); // scratch is reused by the next reduction
  return result;
}

// x^n by repeated squaring: O(log n) multiplications, so a huge degree costs microseconds (a
// loop of n multiplications would run for minutes at n = 2^31).
__device__ inline double integer_power(double x, int64_t n) {
  double result = 1;
  while (n > 0) {
    if (n & 1) {
      result *= x;
    }
    x *= x;
    n >>= 1;
  }
  return result;
}

__global__ void dense_memory_kernel(
    double* spins, double* overlaps, const double* columns, int32_t* order_buffer, int64_t n, int64_t count,
    int kind, int64_t degree, double beta, bool scaled, int64_t max_sweeps, int64_t* sweeps_out, bool* converged_out,
    at::PhiloxCudaState philox) {
  __shared__ double scratch[kThreads];
  const int64_t b = blockIdx.x;
  const auto seeds = at::cuda::philox::unpack(philox);
  at::Philox4_32 rng(std::get<0>(seeds), static_cast<uint64_t>(b), std::get<1>(seeds));
  double* s = spins + b * n;
  double* m = overlaps + b * count;
  int32_t* order = order_buffer + b * n;
  const bool exponential = kind == static_cast<int>(Interaction::kExponential);
  const bool rectified = kind == static_cast<int>(Interaction::kRectifiedPolynomial);
  auto gap_of = [&](int64_t i) {
    const double* column = columns + i * count;
    const double spin = s[i];
    double partial = 0;
    if (exponential) {
      double top = -INFINITY;
      for (int64_t mu = threadIdx.x; mu < count; mu += blockDim.x) {
        top = ::fmax(top, m[mu] - spin * column[mu]);
      }
      top = block_reduce<true>(top, scratch);
      for (int64_t mu = threadIdx.x; mu < count; mu += blockDim.x) {
        partial += column[mu] * ::exp(beta * (m[mu] - spin * column[mu] - top));
      }
    } else {
      // Scaled as on the CPU: relative to the largest |b_mu| + 1 where top^n may overflow.
      double inverse_top = 1;
      if (scaled) {
        double top = 1;
        for (int64_t mu = threadIdx.x; mu < count; mu += blockDim.x) {
          top = ::fmax(top, ::fabs(m[mu] - spin * column[mu]) + 1);
        }
        inverse_top = 1 / block_reduce<true>(top, scratch);
      }
      for (int64_t mu = threadIdx.x; mu < count; mu += blockDim.x) {
        const double base = m[mu] - spin * column[mu];
        const double up = (base + 1) * inverse_top, down = (base - 1) * inverse_top;
        const double f_up = rectified && up <= 0 ? 0.0 : integer_power(up, degree);
        const double f_down = rectified && down <= 0 ? 0.0 : integer_power(down, degree);
        partial += column[mu] * (f_up - f_down);
      }
    }
    return block_reduce<false>(partial, scratch);
  };
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    order[i] = static_cast<int32_t>(i);
  }
  int64_t used = 0;
  bool fixed = false;
  for (int64_t sweep = 0; sweep < max_sweeps && !fixed; ++sweep) {
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int64_t k = n - 1; k > 0; --k) {
        const auto j = static_cast<int64_t>((static_cast<uint64_t>(rng()) * static_cast<uint64_t>(k + 1)) >> 32);
        const int32_t tmp = order[k];
        order[k] = order[j];
        order[j] = tmp;
      }
    }
    __syncthreads();
    int64_t flips = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = order[k];
      const double spin = s[i];
      const double gap = gap_of(i); // ends with a barrier: every thread has read s[i]
      const double spin_new = gap > 0 ? 1.0 : (gap < 0 ? -1.0 : spin);
      if (spin_new != spin) {
        const double* column = columns + i * count;
        for (int64_t mu = threadIdx.x; mu < count; mu += blockDim.x) {
          m[mu] += 2.0 * spin_new * column[mu]; // own slice: no barrier needed
        }
        if (threadIdx.x == 0) {
          s[i] = spin_new;
        }
        ++flips;
      }
      __syncthreads(); // s[i] is written before any later read
    }
    if (flips == 0) {
      fixed = true;
    } else {
      ++used;
    }
  }
  if (!fixed) {
    fixed = true;
    for (int64_t i = 0; i < n; ++i) {
      const double spin = s[i];
      const double gap = gap_of(i);
      fixed = fixed && !(gap * spin < 0);
    }
  }
  if (threadIdx.x == 0) {
    sweeps_out[b] = used;
    converged_out[b] = fixed;
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> dense_memory_run_cuda(
    const at::Tensor& state, const at::Tensor& patterns, c10::string_view interaction, int64_t degree, double beta,
    int64_t max_sweeps, std::optional<at::Generator> generator) {
  const Interaction kind = check_dense_memory(kDenseRunOp, state, patterns, interaction, degree, beta);
  check_max_sweeps(kDenseRunOp, max_sweeps);
  const c10::cuda::CUDAGuard guard(state.device());
  at::Tensor spins = to_spins(state, patterns.scalar_type()).contiguous();
  const int64_t batch = spins.size(0), n = spins.size(1), count = patterns.size(0);
  at::Tensor sweeps = at::zeros({batch}, state.options().dtype(at::kLong));
  at::Tensor converged = at::ones({batch}, state.options().dtype(at::kBool));
  if (batch > 0 && n > 0 && count > 0) {
    TORCH_CHECK(n < (int64_t{1} << 31), "dense_memory_run: at most 2^31 - 1 neurons on CUDA, got ", n);
    const at::Tensor xi = to_spins(patterns, at::kDouble);
    const at::Tensor columns = xi.t().contiguous();
    at::Tensor s = spins.to(at::kDouble).contiguous();
    at::Tensor overlaps = at::mm(s, xi.t()).contiguous();
    at::Tensor order = at::empty({batch, n}, state.options().dtype(at::kInt));
    const bool scaled = kind != Interaction::kExponential && static_cast<double>(degree) * std::log2(n + 1.0) > 1000;
    auto* gen =
        at::get_generator_or_default<at::CUDAGeneratorImpl>(generator, at::cuda::detail::getDefaultCUDAGenerator());
    at::PhiloxCudaState philox;
    {
      std::lock_guard<std::mutex> lock(gen->mutex_);
      const uint64_t draws = static_cast<uint64_t>(max_sweeps) * static_cast<uint64_t>(n) + 4;
      philox = gen->philox_cuda_state(((draws + 3) / 4 + 3) / 4 * 4);
    }
    dense_memory_kernel<<<static_cast<unsigned>(batch), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        s.data_ptr<double>(), overlaps.data_ptr<double>(), columns.data_ptr<double>(), order.data_ptr<int32_t>(), n,
        count, static_cast<int>(kind), degree, beta, scaled, max_sweeps, sweeps.data_ptr<int64_t>(),
        converged.data_ptr<bool>(), philox);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    spins.copy_(s);
  }
  at::Tensor energy = dense_memory_energy_of_spins(spins, patterns, kind, degree, beta);
  return {spins, energy, sweeps, converged};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CUDA, m) {
  m.impl("dense_memory_run", &dense_memory_run_cuda);
}

} // namespace statmech::hopfield
