// CUDA kernel of the asynchronous / heat-bath dynamics of binary Hopfield networks (and the CUDA
// registrations of binary_hopfield_run and binary_hopfield_glauber; the synchronous path is the
// batched-GEMM code in binary_dynamics.cpp).
//
// One block per batch row runs that row's sequential chain. The neuron order of each sweep is a
// Fisher-Yates shuffle by thread 0 (its own Philox stream); the spin decisions and heat-bath draws
// are computed redundantly by every thread from identical Philox streams, so the block agrees on
// every decision without communicating. Only a flip needs the block: every thread adds its slice
// of 2 s_i W_{., i} to the fields between two barriers (all reads of the visit done; all writes
// done before the next visit reads a field).
// Visits without a flip cost O(1) and no barrier.

#include "ops/hopfield/binary_dynamics.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
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

__device__ inline double uniform_open(at::Philox4_32& rng) {
  return (static_cast<double>(rng()) + 0.5) * (1.0 / 4294967296.0);
}

template <typename scalar_t>
__global__ void async_kernel(
    scalar_t* spins, double* fields, const scalar_t* weight_t, const scalar_t* diag, int32_t* order_buffer,
    const double* temperatures, int64_t n, int64_t total_sweeps, bool deterministic, bool shared_weight,
    bool shared_diag, int64_t* sweeps_out, bool* converged_out, at::PhiloxCudaState philox) {
  const int64_t b = blockIdx.x;
  const auto seeds = at::cuda::philox::unpack(philox);
  const uint64_t seed = std::get<0>(seeds), offset = std::get<1>(seeds);
  at::Philox4_32 shuffle_rng(seed, 2 * static_cast<uint64_t>(b), offset);
  at::Philox4_32 accept_rng(seed, 2 * static_cast<uint64_t>(b) + 1, offset);
  scalar_t* s = spins + b * n;
  double* f = fields + b * n;
  const scalar_t* w = weight_t + (shared_weight ? 0 : b * n * n);
  const scalar_t* d = diag + (shared_diag ? 0 : b * n);
  int32_t* order = order_buffer + b * n;
  __shared__ int64_t flips_in_sweep;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    order[i] = static_cast<int32_t>(i);
  }
  __syncthreads();
  int64_t used = 0;
  bool fixed = false;
  for (int64_t sweep = 0; sweep < total_sweeps; ++sweep) {
    __syncthreads(); // the previous sweep's last reads of `order` are done
    if (threadIdx.x == 0) {
      for (int64_t k = n - 1; k > 0; --k) {
        const auto j = static_cast<int64_t>((static_cast<uint64_t>(shuffle_rng()) * static_cast<uint64_t>(k + 1)) >> 32);
        const int32_t tmp = order[k];
        order[k] = order[j];
        order[j] = tmp;
      }
    }
    __syncthreads();
    const double t = deterministic ? 0.0 : temperatures[sweep];
    int64_t flips = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = order[k];
      const double spin = static_cast<double>(s[i]);
      const double field = f[i];
      double spin_new;
      if (t == 0) {
        spin_new = field > 0 ? 1.0 : (field < 0 ? -1.0 : spin);
      } else {
        spin_new = uniform_open(accept_rng) < 1.0 / (1.0 + ::exp(-2.0 * field / t)) ? 1.0 : -1.0;
      }
      if (spin_new != spin) { // the same decision in every thread
        __syncthreads(); // every thread has read s[i] and f[i] before they change
        const double delta = 2.0 * spin_new;
        const scalar_t* column = w + i * n;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
          // The diagonal term never enters f_i.
          f[j] += delta * (static_cast<double>(column[j]) - (j == i ? static_cast<double>(d[i]) : 0.0));
        }
        if (threadIdx.x == 0) {
          s[i] = static_cast<scalar_t>(spin_new);
        }
        __syncthreads();
        ++flips;
      }
    }
    if (deterministic) {
      if (flips == 0) {
        fixed = true;
        break;
      }
      ++used;
    }
  }
  if (deterministic && !fixed) {
    if (threadIdx.x == 0) {
      flips_in_sweep = 0;
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      if (static_cast<double>(s[i]) * f[i] < 0) {
        flips_in_sweep = 1; // benign race: any writer stores 1
      }
    }
    __syncthreads();
    fixed = flips_in_sweep == 0;
  }
  if (threadIdx.x == 0 && deterministic) {
    sweeps_out[b] = used;
    converged_out[b] = fixed;
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> binary_hopfield_run_cuda(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold,
    c10::string_view update, int64_t max_sweeps, std::optional<at::Generator> generator) {
  return run_forward(state, weight, threshold, update, max_sweeps, std::move(generator), async_kernel_cuda);
}

std::tuple<at::Tensor, at::Tensor> binary_hopfield_glauber_cuda(
    const at::Tensor& state, const at::Tensor& weight, at::ArrayRef<double> temperatures,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator> generator) {
  return glauber_forward(state, weight, temperatures, threshold, std::move(generator), async_kernel_cuda);
}

} // namespace

void async_kernel_cuda(AsyncArgs& args, std::optional<at::Generator> generator) {
  const c10::cuda::CUDAGuard guard(args.spins.device());
  const int64_t batch = args.spins.size(0), n = args.spins.size(1);
  TORCH_CHECK(
      n < (int64_t{1} << 31), "binary_hopfield_run: at most 2^31 - 1 neurons on CUDA, got ", n);
  const bool deterministic = args.temperatures.empty();
  const int64_t total = deterministic ? args.max_sweeps : static_cast<int64_t>(args.temperatures.size());
  at::Tensor temperatures = deterministic
      ? at::zeros({1}, args.fields.options())
      : at::tensor(args.temperatures, at::TensorOptions().dtype(at::kDouble)).to(args.fields.device());
  at::Tensor order = at::empty({batch, n}, args.spins.options().dtype(at::kInt));
  const at::Tensor weight_t = args.weight.transpose(-2, -1).contiguous(); // row i = column i of W
  auto* gen = at::get_generator_or_default<at::CUDAGeneratorImpl>(generator, at::cuda::detail::getDefaultCUDAGenerator());
  at::PhiloxCudaState philox;
  {
    std::lock_guard<std::mutex> lock(gen->mutex_);
    // Each thread draws at most one 32-bit number per visit (and thread 0 one per shuffle step).
    const uint64_t draws = static_cast<uint64_t>(total) * static_cast<uint64_t>(n) + 4;
    philox = gen->philox_cuda_state(((draws + 3) / 4 + 3) / 4 * 4);
  }
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(args.spins.scalar_type(), "binary_hopfield_async_cuda", [&] {
    async_kernel<scalar_t><<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(
        args.spins.data_ptr<scalar_t>(), args.fields.data_ptr<double>(), weight_t.data_ptr<scalar_t>(),
        args.diag.data_ptr<scalar_t>(), order.data_ptr<int32_t>(), temperatures.data_ptr<double>(), n, total,
        deterministic, weight_t.dim() == 2, args.diag.dim() == 1, args.sweeps.data_ptr<int64_t>(),
        args.converged.data_ptr<bool>(), philox);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

TORCH_LIBRARY_IMPL(statmech, CUDA, m) {
  m.impl("binary_hopfield_run", &binary_hopfield_run_cuda);
  m.impl("binary_hopfield_glauber", &binary_hopfield_glauber_cuda);
}

} // namespace statmech::hopfield
