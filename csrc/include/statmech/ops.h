#pragma once

// The tensor operators of torch-statmech, as C++ functions. Each one calls through the PyTorch
// dispatcher (torch.ops.statmech.<name>), so C++ callers get the same kernels, autograd and
// checks as Python callers.

#include <statmech/macros.h>
#include <statmech/modern_hopfield.h>

#include <ATen/core/Tensor.h>

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

} // namespace statmech
