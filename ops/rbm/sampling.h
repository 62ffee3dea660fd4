#pragma once

// Internals shared by the RBM sampling and partition-function operators (ops/rbm/sampling.cpp,
// ops/rbm/partition.cpp) and their meta kernels (ops/rbm/meta.cpp).
//
// Every operator here is written with ATen ops only (GEMMs, elementwise maps, random draws from a
// torch.Generator), so one implementation runs on every device: the GPU path is cuBLAS and ATen's
// CUDA kernels, with the chain loop in C++ (no per-step Python).
//
// Models, in the [visible, hidden] weight layout of rbm_free_energy:
//   Bernoulli-Bernoulli  E(v, h) = -a.v - c.h - v^T W h
//   Gaussian-Bernoulli   E(v, h) = sum_i (v_i - a_i)^2 / (2 s_i) - c.h - (v / s)^T W h,
//                        s = exp(visible_log_variance) (Cho, Ilin & Raiko 2011)
// At inverse temperature beta a chain samples p_beta(v, h) ~ exp(-beta E(v, h)).

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>
#include <vector>

namespace statmech::rbm {

// Checks weight [visible, hidden], visible_bias [visible], hidden_bias [hidden] and the optional
// visible_log_variance [visible]: floating, one dtype, one device.
void check_model(
    const char* op,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const std::optional<at::Tensor>& visible_log_variance);

// Checks a state tensor whose last dimension is the visible layer and whose rank is `dim`.
void check_visible_state(
    const char* op, const char* name, const at::Tensor& state, const at::Tensor& weight, int64_t dim, const char* layout);

void check_steps(const char* op, int64_t steps);

// rbm_ais's shape checks (not the values of betas: those need data, see sampling.cpp).
void check_ais_inputs(
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias,
    const std::optional<at::Tensor>& betas,
    int64_t runs,
    const std::optional<at::Tensor>& visible_log_variance);

void check_parallel_tempering_shapes(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& betas,
    int64_t steps,
    const std::optional<at::Tensor>& visible_log_variance);

// The annealing schedule of Salakhutdinov & Murray (2008): beta spaced 1/1000 on [0, 0.5),
// 1/10000 on [0.5, 0.9) and 1/100000 on [0.9, 1], i.e. 500 + 4000 + 10000 intermediate
// distributions and 14,501 values from 0 to 1 inclusive. float64, on the CPU.
at::Tensor default_ais_betas();

// Values of betas (on the host, float64) after checking 0 = b_0 < b_1 < ... < b_K = 1.
std::vector<double> checked_ais_betas(const at::Tensor& betas);

// log Z_base + log mean exp(log_weights) and its +-3 sigma ends, from the log weights [runs]:
// rbm_ais's four outputs.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> ais_estimate(
    const at::Tensor& log_z_base, const at::Tensor& log_weights, int64_t runs);

// rbm_ais as ATen ops (any device; the CompositeExplicitAutograd kernel). On CUDA the fused
// kernel of cuda/ais_cuda.cu takes precedence, for both visible layers.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_ais_any_device(
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias,
    const std::optional<at::Tensor>& betas,
    int64_t runs,
    std::optional<at::Generator> generator,
    const std::optional<at::Tensor>& visible_log_variance);

} // namespace statmech::rbm
