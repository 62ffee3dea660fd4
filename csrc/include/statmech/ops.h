#pragma once

// The tensor operators of torch-statmech, as C++ functions. Each one calls through the PyTorch
// dispatcher (torch.ops.statmech.<name>), so C++ callers get the same kernels, autograd and
// checks as Python callers.

#include <statmech/macros.h>
#include <statmech/modern_hopfield.h>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace statmech {

// Free energy of a Bernoulli-Bernoulli restricted Boltzmann machine,
//
//   F(v) = -a^T v - sum_j softplus(c_j + (v W)_j),
//
// the energy E(v, h) = -a^T v - c^T h - v^T W h with the hidden units summed out:
// p(v) = exp(-F(v)) / Z.
//
//   visible       [batch, visible]   visible states (any real values; usually in {0, 1} or [0, 1])
//   weight        [visible, hidden]  W, in the [visible, hidden] layout used by every RBM op
//   visible_bias  [visible]          a
//   hidden_bias   [hidden]           c
//   returns       [batch]            F(v) for each row
//
// All tensors must share one floating dtype (float32 or float64) and one device.
// Differentiable with respect to every argument.
STATMECH_API at::Tensor rbm_free_energy(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias);

// ---- RBM sampling, partition functions and evaluation (schemas and maths in ops/library.cpp) ----
// Every RBM op uses the [visible, hidden] weight layout. visible_log_variance = log s [visible]
// turns the visible layer Gaussian (Gaussian-Bernoulli RBM, Cho, Ilin & Raiko 2011):
//   E(v, h) = sum_i (v_i - a_i)^2 / (2 s_i) - c.h - (v / s)^T W h.
// Random ops draw every number from `generator` (the default generator when absent).

// k block Gibbs steps from visible [chains, visible] at inverse temperature beta. Returns
// (v_k [chains, visible], h_k [chains, hidden], p(v = 1 | h_{k-1}) or the Gaussian mean,
// p(h = 1 | v_k)). Not differentiable.
STATMECH_API std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_gibbs(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    int64_t steps = 1,
    double beta = 1.0,
    const std::optional<at::Tensor>& visible_log_variance = std::nullopt,
    std::optional<at::Generator> generator = std::nullopt);

// Parallel tempering from visible [replicas, chains, visible] at betas [replicas] (strictly
// decreasing in [0, 1]). Returns (visible, hidden [replicas, chains, hidden], swap acceptance
// rate of each neighbouring pair [replicas - 1], float64).
STATMECH_API std::tuple<at::Tensor, at::Tensor, at::Tensor> rbm_parallel_tempering(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& betas,
    int64_t steps = 1,
    const std::optional<at::Tensor>& visible_log_variance = std::nullopt,
    std::optional<at::Generator> generator = std::nullopt);

// Annealed importance sampling of log Z (Salakhutdinov & Murray 2008) from the base-rate model
// (visible biases base_visible_bias, see rbm_base_rate_bias). betas: 0 = b_0 < ... < b_K = 1
// (default rbm_ais_default_betas()). Returns float64 (log Z_hat, log(mean w - 3 sigma),
// log(mean w + 3 sigma), log weights [runs]). With visible_log_variance: a Gaussian-Bernoulli
// RBM, annealed from the Gaussian base model N(base_visible_bias, exp(visible_log_variance)).
STATMECH_API std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_ais(
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias,
    const std::optional<at::Tensor>& betas = std::nullopt,
    int64_t runs = 100,
    std::optional<at::Generator> generator = std::nullopt,
    const std::optional<at::Tensor>& visible_log_variance = std::nullopt);

// CD-k (chain_start absent: the chain starts at `visible`) or PCD-k loss of a Bernoulli RBM,
// mean F(visible) - mean F(v_model) with v_model the detached end of a k-step Gibbs chain, fused
// (each GEMM once). Returns (loss, v_model); differentiable in weight and the biases.
STATMECH_API std::tuple<at::Tensor, at::Tensor> rbm_contrastive_divergence(
    const at::Tensor& visible,
    const std::optional<at::Tensor>& chain_start,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    int64_t steps = 1,
    std::optional<at::Generator> generator = std::nullopt);

// Whole epochs of CD-k / PCD-k training of a Bernoulli RBM with plain SGD (torch.optim.SGD's
// update: lr, momentum, weight_decay), in one call: the parameters and their velocities (momentum
// buffers, zeros to start) are updated in place. Returns (metrics [epochs, 2] float64: mean loss
// and training reconstruction error per epoch; chain_end [chains, visible], PCD's chains, to pass
// back as chain_start). With visible_log_variance z [visible] and its velocity (zeros to start)
// the visible layer is Gaussian (Cho, Ilin & Raiko 2011, s = exp(z); real-valued data) and z is
// trained too. See the schema in ops/library.cpp.
STATMECH_API std::tuple<at::Tensor, at::Tensor> rbm_train_sgd(
    const at::Tensor& data,
    at::Tensor& weight,
    at::Tensor& visible_bias,
    at::Tensor& hidden_bias,
    at::Tensor& weight_velocity,
    at::Tensor& visible_bias_velocity,
    at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start = std::nullopt,
    int64_t steps = 1,
    int64_t batch_size = 100,
    double lr = 0.01,
    double momentum = 0.0,
    double weight_decay = 0.0,
    bool persistent = true,
    int64_t epochs = 1,
    bool shuffle = true,
    bool mean_field = false,
    bool track_reconstruction = true,
    std::optional<at::Generator> generator = std::nullopt,
    const std::optional<at::Tensor>& visible_log_variance = std::nullopt,
    const std::optional<at::Tensor>& visible_log_variance_velocity = std::nullopt);

// The 14,501 betas (14,500 intermediate distributions) of Salakhutdinov & Murray (2008), float64.
STATMECH_API at::Tensor rbm_ais_default_betas();

// Exact log Z, enumerating the smaller layer (at most 25 units). Differentiable.
STATMECH_API at::Tensor rbm_log_partition(
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const std::optional<at::Tensor>& visible_log_variance = std::nullopt,
    int64_t chunk_size = 65536);

// Log pseudo-likelihood [batch] of binary rows (all single-bit flips, or one random bit per row
// scaled by the number of visible units when stochastic). Differentiable.
STATMECH_API at::Tensor rbm_pseudo_likelihood(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    bool stochastic = false,
    std::optional<at::Generator> generator = std::nullopt);

// Joint energy E(v, h) [batch]. Differentiable.
STATMECH_API at::Tensor rbm_energy(
    const at::Tensor& visible,
    const at::Tensor& hidden,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const std::optional<at::Tensor>& visible_log_variance = std::nullopt);

// Gaussian-Bernoulli free energy [batch]:
//   F(v) = sum_i (v_i - a_i)^2 / (2 s_i) - sum_j softplus(c_j + ((v / s) W)_j). Differentiable.
STATMECH_API at::Tensor gaussian_rbm_free_energy(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& visible_log_variance);

// log(p / (1 - p)) [visible], p = (column sums of data + pseudocount) / (rows + 2 pseudocount).
STATMECH_API at::Tensor rbm_base_rate_bias(const at::Tensor& data, double pseudocount = 1.0);

} // namespace statmech
