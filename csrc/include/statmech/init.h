#pragma once

// Initialisers at the edge of chaos, in the style of torch::nn::init: they write the tensor in
// place under NoGradGuard and return it. Each calls through the PyTorch dispatcher
// (torch.ops.statmech.<name>), so C++ and Python callers share the kernels and checks, on any device.
//
// Weights use PyTorch's [out, in, kernel...] layout; fan_in = in * prod(kernel). sigma_w2 is the
// weight variance sigma_w^2 of mean-field theory (Poole et al. 2016, Schoenholz et al. 2017),
// i.e. the q-map reads q' = sigma_w2 E[phi(h)^2] + sigma_b2 for all three initialisers. Relation to
// torch::nn::init::calculate_gain: kaiming_normal_ with gain g is critical_normal_ with
// sigma_w2 = g^2; ReLU's critical point (sigma_w2, sigma_b2) = (2, 0) is gain^2 = 2.
//
// Randomness comes from `generator` (or the default generator of the tensor's device), so a
// seeded generator reproduces the draw.

#include <statmech/macros.h>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <optional>

namespace statmech::init {

// W_ij ~ N(0, sigma_w2 / fan_in). `tensor` is floating point (float16, bfloat16, float32,
// float64), at least 2-D.
STATMECH_API at::Tensor critical_normal_(
    at::Tensor tensor, double sigma_w2, std::optional<at::Generator> generator = std::nullopt);

// W_ij ~ U(-a, a), a = sqrt(3 sigma_w2 / fan_in): the entry variance sigma_w2 / fan_in of
// critical_normal_ (kaiming_uniform_ with gain^2 = sigma_w2).
STATMECH_API at::Tensor critical_uniform_(
    at::Tensor tensor, double sigma_w2, std::optional<at::Generator> generator = std::nullopt);

// Scaled Haar-orthogonal: the weight flattened to W = [out, fan_in] is Q * sqrt(sigma_w2 *
// max(1, out / fan_in)) with Q Haar-distributed with orthonormal rows or columns. Hence
//   out <= fan_in:  W W^T = sigma_w2 I_out        (square: W = sqrt(sigma_w2) O)
//   out >  fan_in:  W^T W = sigma_w2 (out/fan_in) I_fan_in,
// and always ||W||_F^2 = sigma_w2 * out, the mean entry variance sigma_w2 / fan_in of
// critical_normal_. For out > fan_in the q-map holds exactly: |W x|^2 / out = sigma_w2 |x|^2 / fan_in.
STATMECH_API at::Tensor critical_orthogonal_(
    at::Tensor tensor, double sigma_w2, std::optional<at::Generator> generator = std::nullopt);

// Delta-orthogonal Conv1d/2d/3d weight (Xiao et al. 2018): `tensor` is [out, in, k...] with
// 1 to 3 odd kernel sizes and in <= out; every tap is zero except the centre one, which is the
// critical_orthogonal_ matrix of shape [out, in] (orthonormal columns times
// sqrt(sigma_w2 * out / in); sqrt(sigma_w2) O when in == out).
STATMECH_API at::Tensor delta_orthogonal_(
    at::Tensor tensor, double sigma_w2, std::optional<at::Generator> generator = std::nullopt);

} // namespace statmech::init
