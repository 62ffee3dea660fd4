// CUDA kernels of rbm_free_energy: the fused row-wise softplus sum (+ sigmoid) and registration.
// The GEMMs stay in ATen (cuBLAS); this kernel replaces the softplus, sum and sigmoid passes.

#include "ops/rbm/free_energy.h"

#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAException.h>
#include <torch/library.h>

namespace statmech::rbm {
namespace {

constexpr int kThreads = 256;

// One block per row: each thread accumulates a strided slice of softplus(pre + c), then a
// shared-memory tree reduction. libdevice exp/log1p are already vectorised per thread.
template <typename scalar_t>
__global__ void softplus_rows_kernel(
    scalar_t* pre, const scalar_t* bias, scalar_t* free_energy, int64_t hidden, bool keep_probability) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
  __shared__ acc_t partial[kThreads];
  scalar_t* row = pre + static_cast<int64_t>(blockIdx.x) * hidden;
  acc_t sum = 0;
  for (int64_t j = threadIdx.x; j < hidden; j += blockDim.x) {
    const acc_t x = static_cast<acc_t>(row[j]) + static_cast<acc_t>(bias[j]);
    const acc_t e = ::exp(-::fabs(x));
    sum += ::fmax(x, acc_t(0)) + ::log1p(e);
    if (keep_probability) {
      row[j] = static_cast<scalar_t>((x >= 0 ? acc_t(1) : e) / (acc_t(1) + e));
    }
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      partial[threadIdx.x] += partial[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    free_energy[blockIdx.x] = static_cast<scalar_t>(-partial[0]);
  }
}

at::Tensor rbm_free_energy_cuda(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  // Check first: with one argument on the CPU the guard itself would throw a message that names
  // no argument (seen on an H100).
  check_free_energy_inputs(visible, weight, visible_bias, hidden_bias);
  const c10::cuda::CUDAGuard guard(visible.device());
  return std::get<0>(free_energy_forward(visible, weight, visible_bias, hidden_bias, false, softplus_rows_cuda));
}

std::tuple<at::Tensor, at::Tensor> rbm_free_energy_forward_cuda(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  check_free_energy_inputs(visible, weight, visible_bias, hidden_bias);
  const c10::cuda::CUDAGuard guard(visible.device());
  return free_energy_forward(visible, weight, visible_bias, hidden_bias, true, softplus_rows_cuda);
}

} // namespace

void softplus_rows_cuda(at::Tensor& pre, const at::Tensor& hidden_bias, at::Tensor& free_energy, bool keep_probability) {
  const at::Tensor bias = hidden_bias.contiguous();
  const int64_t batch = pre.size(0);
  TORCH_CHECK(batch <= std::numeric_limits<int32_t>::max(), "rbm_free_energy: batch too large for the CUDA kernel");
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(pre.scalar_type(), "rbm_free_energy_cuda", [&] {
    softplus_rows_kernel<scalar_t><<<static_cast<unsigned>(batch), kThreads, 0, stream>>>(
        pre.data_ptr<scalar_t>(), bias.data_ptr<scalar_t>(), free_energy.data_ptr<scalar_t>(), pre.size(1),
        keep_probability);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

TORCH_LIBRARY_IMPL(statmech, CUDA, m) {
  m.impl("rbm_free_energy", &rbm_free_energy_cuda);
  m.impl("_rbm_free_energy_forward", &rbm_free_energy_forward_cuda);
}

} // namespace statmech::rbm
