#pragma once

// Internals of rbm_free_energy shared by its CPU, CUDA and meta kernels.
//
// The forward is  pre = v W   (one GEMM, ATen/BLAS)
//                 F_b = -sum_j softplus(pre_bj + c_j) - v_b . a
// and the row pass (bias add, softplus, sum) is the only device-specific piece. The same pass
// overwrites `pre` with sigmoid(pre + c) = p(h = 1 | v), the one [batch, hidden] tensor the
// backward needs, so forward + backward hold a single [batch, hidden] buffer.

#include <ATen/core/Tensor.h>

#include <tuple>

namespace statmech::rbm {

inline constexpr const char* kFreeEnergyOp = "rbm_free_energy";

// Validates (visible, weight, visible_bias, hidden_bias); SymInt-safe, used by the meta kernels too.
void check_free_energy_inputs(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias);

// free_energy[b] = -sum_j softplus(pre[b, j] + c[j]); if keep_probability,
// pre[b, j] <- sigmoid(pre[b, j] + c[j]). `pre` is contiguous [batch, hidden] with batch > 0,
// `free_energy` contiguous [batch], c = hidden_bias [hidden] (any strides).
using SoftplusRowsFn =
    void (*)(at::Tensor& pre, const at::Tensor& hidden_bias, at::Tensor& free_energy, bool keep_probability);

void softplus_rows_cpu(at::Tensor& pre, const at::Tensor& hidden_bias, at::Tensor& free_energy, bool keep_probability);
#if defined(STATMECH_WITH_CUDA)
void softplus_rows_cuda(at::Tensor& pre, const at::Tensor& hidden_bias, at::Tensor& free_energy, bool keep_probability);
#endif

// Returns (free energy [batch], hidden probability [batch, hidden] or undefined).
std::tuple<at::Tensor, at::Tensor> free_energy_forward(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    bool keep_probability,
    SoftplusRowsFn softplus_rows);

} // namespace statmech::rbm
