// CPU kernels of rbm_free_energy: the fused row pass (bias add, softplus sum, sigmoid) and
// registration.

#include "ops/rbm/free_energy.h"

#include "ops/common/vectorizable_math.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

// The row pass is compiled for x86-64-v3 and the baseline ISA where the compiler can
// (STATMECH_CPU_CLONES, ops/common/vectorizable_math.h).

namespace statmech::rbm {
namespace {

// Elements are handled in blocks of kLanes independent lanes (one partial sum each), which the
// compiler maps onto SIMD registers without reassociating floating-point sums.
constexpr int64_t kLanes = 16;

template <typename T>
STATMECH_ALWAYS_INLINE void softplus_and_sigmoid(T x, T& softplus, T& sigmoid) {
  // softplus(x) = max(x, 0) + log1p(exp(-|x|)) never overflows; the same exp gives the sigmoid
  // without cancellation on either side.
  // (Sharing one division between the two ratios, r = 1 / ((1 + e)(2 + e)), was measured 10%
  // slower: the extra multiplies cost more than the division they save.)
  const T e = math::exp_nonpositive(x < 0 ? x : -x);
  softplus = (x > 0 ? x : T(0)) + math::log1p_unit_interval(e);
  sigmoid = (x >= 0 ? T(1) : e) / (T(1) + e);
}

// Returns -sum_j softplus(row[j] + bias[j]); with kKeepProbability, row[j] <- sigmoid(row[j] + bias[j]).
template <typename T, bool kKeepProbability>
STATMECH_ALWAYS_INLINE T row_pass(T* __restrict row, const T* __restrict bias, int64_t hidden) {
  T partial[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= hidden; j += kLanes) {
    for (int64_t lane = 0; lane < kLanes; ++lane) {
      T softplus, sigmoid;
      softplus_and_sigmoid(row[j + lane] + bias[j + lane], softplus, sigmoid);
      partial[lane] += softplus;
      if constexpr (kKeepProbability) {
        row[j + lane] = sigmoid;
      }
    }
  }
  for (; j < hidden; ++j) {
    T softplus, sigmoid;
    softplus_and_sigmoid(row[j] + bias[j], softplus, sigmoid);
    partial[0] += softplus;
    if constexpr (kKeepProbability) {
      row[j] = sigmoid;
    }
  }
  T sum = 0;
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    sum += partial[lane];
  }
  return -sum;
}

template <typename T>
STATMECH_CPU_CLONES void rows_range(
    T* pre, const T* bias, T* free_energy, int64_t begin, int64_t end, int64_t hidden, bool keep_probability) {
  for (int64_t b = begin; b < end; ++b) {
    free_energy[b] = keep_probability ? row_pass<T, true>(pre + b * hidden, bias, hidden)
                                      : row_pass<T, false>(pre + b * hidden, bias, hidden);
  }
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

void softplus_rows_cpu(at::Tensor& pre, const at::Tensor& hidden_bias, at::Tensor& free_energy, bool keep_probability) {
  const at::Tensor bias = hidden_bias.contiguous();
  const int64_t batch = pre.size(0), hidden = pre.size(1);
  // Enough rows per task that a task touches ~16k elements.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(hidden, 1));
  AT_DISPATCH_FLOATING_TYPES(pre.scalar_type(), "rbm_free_energy_cpu", [&] {
    scalar_t* pre_data = pre.data_ptr<scalar_t>();
    const scalar_t* bias_data = bias.data_ptr<scalar_t>();
    scalar_t* free_energy_data = free_energy.data_ptr<scalar_t>();
    at::parallel_for(0, batch, grain, [&](int64_t begin, int64_t end) {
      rows_range<scalar_t>(pre_data, bias_data, free_energy_data, begin, end, hidden, keep_probability);
    });
  });
}

TORCH_LIBRARY_IMPL(statmech, CPU, m) {
  m.impl("rbm_free_energy", &rbm_free_energy_cpu);
  m.impl("_rbm_free_energy_forward", &rbm_free_energy_forward_cpu);
}

} // namespace statmech::rbm
