// CPU kernels of rbm_free_energy: the fused row-wise softplus sum (+ sigmoid) and registration.

#include "ops/rbm/free_energy.h"

#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

namespace statmech::rbm {
namespace {

template <typename scalar_t>
void softplus_rows_kernel(scalar_t* pre, scalar_t* free_energy, int64_t batch, int64_t hidden, bool keep_probability) {
  using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;
  // Enough rows per task that a task touches ~16k elements.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(hidden, 1));
  at::parallel_for(0, batch, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      scalar_t* row = pre + b * hidden;
      acc_t sum = 0;
      for (int64_t j = 0; j < hidden; ++j) {
        const scalar_t x = row[j];
        // softplus(x) = max(x, 0) + log1p(exp(-|x|)) never overflows; the same exp gives the
        // sigmoid without cancellation on either side.
        const scalar_t e = std::exp(-std::abs(x));
        sum += std::max(x, scalar_t(0)) + std::log1p(e);
        if (keep_probability) {
          row[j] = (x >= 0 ? scalar_t(1) : e) / (scalar_t(1) + e);
        }
      }
      free_energy[b] = static_cast<scalar_t>(-sum);
    }
  });
}

at::Tensor rbm_free_energy_cpu(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  return std::get<0>(free_energy_forward(visible, weight, visible_bias, hidden_bias, false, softplus_rows_cpu));
}

std::tuple<at::Tensor, at::Tensor> rbm_free_energy_forward_cpu(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  return free_energy_forward(visible, weight, visible_bias, hidden_bias, true, softplus_rows_cpu);
}

} // namespace

void softplus_rows_cpu(at::Tensor& pre, at::Tensor& free_energy, bool keep_probability) {
  AT_DISPATCH_FLOATING_TYPES(pre.scalar_type(), "rbm_free_energy_cpu", [&] {
    softplus_rows_kernel<scalar_t>(
        pre.data_ptr<scalar_t>(), free_energy.data_ptr<scalar_t>(), pre.size(0), pre.size(1), keep_probability);
  });
}

TORCH_LIBRARY_IMPL(statmech, CPU, m) {
  m.impl("rbm_free_energy", &rbm_free_energy_cpu);
  m.impl("_rbm_free_energy_forward", &rbm_free_energy_forward_cpu);
}

} // namespace statmech::rbm
