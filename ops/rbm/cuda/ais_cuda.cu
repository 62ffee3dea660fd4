// CUDA kernel of rbm_ais (other devices take the ATen composition in ops/rbm/sampling.cpp, where
// the algorithm and the Gaussian layer's intermediate distributions are derived).
//
// Each of the K intermediate distributions costs two cuBLAS GEMMs and two fused kernels:
//   x = c + v W            (Gaussian: c + (v / s) W)               GEMM, the model's dtype
//   log_w += (b_k - b_k-1) v.(a - b_A)                               one block per run,
//            (Gaussian: -(b_k - b_k-1) sum_i [(v_i - a_i)^2 - (v_i - b_A,i)^2] / (2 s_i))  float64 sums
//            + sum_j softplus(b_k x_j) - softplus(b_k-1 x_j)
//   h ~ Bernoulli(sigmoid(b_k x))                                    same kernel
//   y = h W^T                                                        GEMM
//   v ~ Bernoulli(sigmoid((1 - b_k) b_A + b_k (a + y)))              elementwise kernel
//     (Gaussian: v ~ N((1 - b_k) b_A + b_k (a + y), s))
// instead of the dozen ATen launches and temporaries per step of the composition, whose launch
// overhead, not the arithmetic, set its time on a GPU. The random draws come from one Philox
// reservation of the torch.Generator for the whole anneal; step k reads its own block of counters.

#include "ops/rbm/sampling.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/core/PhiloxRNGEngine.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <ATen/cuda/PhiloxUtils.cuh>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

namespace statmech::rbm {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxVisibleBlocks = 2048;

// A uniform draw in (0, 1) from 32 random bits.
__device__ inline double uniform_open(at::Philox4_32& rng) {
  return (static_cast<double>(rng()) + 0.5) * (1.0 / 4294967296.0);
}

__device__ inline double softplus(double y) {
  return ::fmax(y, 0.0) + ::log1p(::exp(-::fabs(y)));
}

__device__ inline double sigmoid(double y) {
  return 1.0 / (1.0 + ::exp(-y));
}

// The visible layer's per-unit constants in float64: a, b_A, and for a Gaussian layer 1 / s and
// sqrt(s) (null for a Bernoulli layer).
struct VisibleLayer {
  const double* model_bias;
  const double* base_bias;
  const double* inverse_variance;
  const double* std_dev;
};

// The Philox streams of step k: subsequence `stream`, counter blocks from first_block + k * blocks.
struct Streams {
  at::PhiloxCudaState philox;
  uint64_t blocks_per_step;

  __device__ at::Philox4_32 at(uint64_t stream, int64_t step) const {
    const auto seeds = at::cuda::philox::unpack(philox);
    // The generator's offset counts 32-bit draws; the engine's counts blocks of four.
    const uint64_t first_block = (std::get<1>(seeds) + 3) / 4;
    return at::Philox4_32(std::get<0>(seeds), stream, first_block + static_cast<uint64_t>(step) * blocks_per_step);
  }
};

__device__ double block_sum(double value, double* scratch) {
  scratch[threadIdx.x] = value;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      scratch[threadIdx.x] += scratch[threadIdx.x + half];
    }
    __syncthreads();
  }
  const double total = scratch[0];
  __syncthreads();
  return total;
}

// One block per run: the log-weight increment of step k and, when `sample`, h ~ p_k(h | v).
template <typename T>
__global__ void weight_and_hidden_kernel(
    const T* x, const T* v, VisibleLayer layer, double* log_weights, T* h, int64_t visible, int64_t hidden,
    double beta, double previous, bool sample, Streams streams, int64_t step) {
  __shared__ double scratch[kThreads];
  const int64_t run = blockIdx.x;
  const T* x_run = x + run * hidden;
  const T* v_run = v + run * visible;
  double partial = 0;
  for (int64_t i = threadIdx.x; i < visible; i += blockDim.x) {
    const double value = static_cast<double>(v_run[i]);
    if (layer.inverse_variance != nullptr) {
      const double to_model = value - layer.model_bias[i], to_base = value - layer.base_bias[i];
      partial -= 0.5 * (to_model * to_model - to_base * to_base) * layer.inverse_variance[i];
    } else {
      partial += value * (layer.model_bias[i] - layer.base_bias[i]);
    }
  }
  partial *= beta - previous;
  at::Philox4_32 rng = streams.at(static_cast<uint64_t>(run) * kThreads + threadIdx.x, step);
  for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
    const double y = static_cast<double>(x_run[j]);
    partial += softplus(beta * y) - softplus(previous * y);
    if (sample) {
      h[run * hidden + j] = static_cast<T>(uniform_open(rng) < sigmoid(beta * y) ? 1 : 0);
    }
  }
  const double total = block_sum(partial, scratch);
  if (threadIdx.x == 0) {
    log_weights[run] += total;
  }
}

// v ~ Bernoulli(sigmoid(mu)) or N(mu, s), mu = (1 - beta) b_A + beta (a + y), over [runs, visible];
// y is unused (may be uninitialised) at beta = 0, the first draw from the base-rate model.
template <typename T>
__global__ void visible_kernel(
    const T* y, VisibleLayer layer, T* v, int64_t runs, int64_t visible, double beta, Streams streams, int64_t step,
    uint64_t first_stream) {
  const int64_t total = runs * visible;
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  at::Philox4_32 rng = streams.at(first_stream + static_cast<uint64_t>(thread), step);
  for (int64_t e = thread; e < total; e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e % visible;
    double mu = (1.0 - beta) * layer.base_bias[i];
    if (beta != 0.0) {
      mu += beta * (layer.model_bias[i] + static_cast<double>(y[e]));
    }
    if (layer.std_dev != nullptr) {
      // Box-Muller: two uniform draws, one standard normal.
      const double u1 = uniform_open(rng), u2 = uniform_open(rng);
      const double z = ::sqrt(-2.0 * ::log(u1)) * ::cospi(2.0 * u2);
      v[e] = static_cast<T>(mu + layer.std_dev[i] * z);
    } else {
      v[e] = static_cast<T>(uniform_open(rng) < sigmoid(mu) ? 1 : 0);
    }
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_ais_cuda(
    const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias, const std::optional<at::Tensor>& betas_arg, int64_t runs,
    std::optional<at::Generator> generator, const std::optional<at::Tensor>& visible_log_variance) {
  check_ais_inputs(weight, visible_bias, hidden_bias, base_visible_bias, betas_arg, runs, visible_log_variance);
  const std::vector<double> betas = checked_ais_betas(betas_arg.has_value() ? *betas_arg : default_ais_betas());
  const c10::cuda::CUDAGuard guard(weight.device());
  const int64_t visible = weight.size(0), hidden = weight.size(1);
  const int64_t last = static_cast<int64_t>(betas.size()) - 1;
  const bool gaussian = visible_log_variance.has_value();
  const at::Tensor w = weight.contiguous();
  const at::Tensor c = hidden_bias.contiguous();
  const at::Tensor model_bias = visible_bias.to(at::kDouble).contiguous();
  const at::Tensor base_bias = base_visible_bias.to(at::kDouble).contiguous();
  at::Tensor inverse_variance, std_dev, hidden_weight = w; // x = c + v hidden_weight
  if (gaussian) {
    const at::Tensor log_variance = visible_log_variance->to(at::kDouble);
    inverse_variance = (-log_variance).exp().contiguous();
    std_dev = (0.5 * log_variance).exp().contiguous();
    hidden_weight = (w / visible_log_variance->exp().unsqueeze(1)).contiguous(); // W / s
  }
  const VisibleLayer layer{
      model_bias.data_ptr<double>(), base_bias.data_ptr<double>(),
      gaussian ? inverse_variance.data_ptr<double>() : nullptr, gaussian ? std_dev.data_ptr<double>() : nullptr};
  at::Tensor v = at::empty({runs, visible}, w.options());
  at::Tensor h = at::empty({runs, hidden}, w.options());
  at::Tensor x = at::empty({runs, hidden}, w.options());
  at::Tensor y = at::empty({runs, visible}, w.options());
  at::Tensor log_weights = at::zeros({runs}, w.options().dtype(at::kDouble));

  // Counter blocks of four draws per thread and step: the hidden kernel's threads draw
  // ceil(hidden / kThreads) each, the visible kernel's ceil(runs visible / its threads).
  const int64_t visible_blocks =
      std::clamp<int64_t>((runs * visible + kThreads - 1) / kThreads, 1, kMaxVisibleBlocks); // >= 1 launchable
  const int64_t visible_draws = (gaussian ? 2 : 1) *
      ((runs * visible + visible_blocks * kThreads - 1) / (visible_blocks * kThreads)); // Box-Muller: 2
  const int64_t hidden_draws = (hidden + kThreads - 1) / kThreads;
  const uint64_t blocks_per_step = static_cast<uint64_t>((std::max(visible_draws, hidden_draws) + 3) / 4);
  auto* gen = at::get_generator_or_default<at::CUDAGeneratorImpl>(generator, at::cuda::detail::getDefaultCUDAGenerator());
  Streams streams{};
  streams.blocks_per_step = blocks_per_step;
  {
    std::lock_guard<std::mutex> lock(gen->mutex_);
    streams.philox = gen->philox_cuda_state(4 * blocks_per_step * static_cast<uint64_t>(last + 1) + 4);
  }
  const uint64_t visible_streams = static_cast<uint64_t>(runs) * kThreads; // after the hidden kernel's
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "rbm_ais_cuda", [&] {
    const auto draw_visible = [&](double beta, int64_t step) {
      visible_kernel<scalar_t><<<static_cast<unsigned>(visible_blocks), kThreads, 0, stream>>>(
          y.data_ptr<scalar_t>(), layer, v.data_ptr<scalar_t>(), runs, visible, beta, streams, step, visible_streams);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    draw_visible(0.0, 0); // v_1 ~ the base-rate model
    for (int64_t k = 1; k <= last; ++k) {
      at::addmm_out(x, c, v, hidden_weight);
      weight_and_hidden_kernel<scalar_t><<<static_cast<unsigned>(runs), kThreads, 0, stream>>>(
          x.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(), layer, log_weights.data_ptr<double>(), h.data_ptr<scalar_t>(), visible, hidden, betas[k], betas[k - 1], k < last,
          streams, k);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      if (k < last) {
        at::mm_out(y, h, w.t());
        draw_visible(betas[k], k);
      }
    }
  });
  // Z of the base model: prod_i (1 + e^b_A,i) (Bernoulli) or prod_i sqrt(2 pi s_i) (Gaussian), times 2^hidden.
  const at::Tensor log_z_base =
      (gaussian ? 0.5 * (visible_log_variance->to(at::kDouble) + std::log(2 * M_PI)).sum() : at::softplus(base_bias).sum()) +
      static_cast<double>(hidden) * std::log(2.0);
  return ais_estimate(log_z_base, log_weights, runs);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CUDA, m) {
  m.impl("rbm_ais", &rbm_ais_cuda);
}

} // namespace statmech::rbm
