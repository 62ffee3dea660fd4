#pragma once

// Gaussian-process kernels of infinitely wide networks (NNGP and NTK) as C++ functions. Each one
// calls through the PyTorch dispatcher (torch.ops.statmech.<name>), so C++ callers get the same
// kernels, autograd and checks as Python callers.
//
// Conventions: every sigma_*2 is a variance; depth is the number of nonlinearities; the network
// is [Dense, phi] x depth + Dense with weights N(0, sigma_w2 / fan_in), biases N(0, sigma_b2).
// NNGP: S^0 = sigma_w2 x.x'/d + sigma_b2, S^{l+1} = sigma_w2 E[phi(u) phi(v)] + sigma_b2.
// NTK ("ntk" parameterisation, as neural-tangents' stax with parameterization='ntk'):
//   Theta^0 = S^0, Theta^{l+1} = S^{l+1} + sigma_w2 E[phi'(u) phi'(v)] Theta^l.
// "standard" parameterisation (Sohl-Dickstein et al. 2020), hidden width n = `width`:
//   Theta^0 = x.x' + 1, Theta^{l+1} = n E[phi(u) phi(v)] + 1 + sigma_w2 E[phi'(u) phi'(v)] Theta^l.

#include <statmech/activation.h>
#include <statmech/macros.h>

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

namespace statmech::gp {

// x1 [N, d], x2 [M, d] (nullopt: x2 = x1); sigma_w2, sigma_b2 0-d tensors of x1's dtype.
// Returns [outputs, N, M] ([outputs, N] with diagonal): NNGP if nngp, then NTK if ntk.
// Differentiable with respect to x1, x2, sigma_w2 and sigma_b2.
STATMECH_API at::Tensor fc_kernel(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const std::string& activation,
    std::optional<double> activation_parameter = std::nullopt, const std::string& parameterization = "ntk",
    double width = 1.0, bool nngp = true, bool ntk = true, bool diagonal = false);

// The same with plain-number variances.
STATMECH_API at::Tensor fc_kernel(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, double sigma_w2, double sigma_b2, int64_t depth,
    const std::string& activation, std::optional<double> activation_parameter = std::nullopt,
    const std::string& parameterization = "ntk", double width = 1.0, bool nngp = true, bool ntk = true,
    bool diagonal = false);

// The same for an Activation object, e.g. Activation::elu(0.5) or a user-defined
// Activation::custom(fn, name, kinks). Built-in activations go through the dispatcher (as
// fc_kernel above, by name); a custom one is evaluated eagerly by conditional quadrature, serially
// on the calling thread (its function may be a Python callable that takes the interpreter lock),
// with a C++ autograd backward in x1, x2, sigma_w2 and sigma_b2. It is not an operator: no
// TorchScript, torch.compile or meta kernel, and CUDA inputs are computed on the CPU and copied
// back. Custom activations with jumps are refused. Slow (a Python call per row and layer, and up
// to a few ms per entry and layer near correlation +-1): meant for small N.
STATMECH_API at::Tensor fc_kernel_activation(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const Activation& activation,
    const std::string& parameterization = "ntk", double width = 1.0, bool nngp = true, bool ntk = true,
    bool diagonal = false);

// K(x1, x2) @ v for kernel = "nngp" or "ntk", v [M] or [M, k], in blocks of block_size rows of x1
// (0: automatic), without materialising K. Differentiable like fc_kernel (and in v).
STATMECH_API at::Tensor fc_kernel_matmul(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& v, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const std::string& activation,
    std::optional<double> activation_parameter = std::nullopt, const std::string& parameterization = "ntk",
    double width = 1.0, const std::string& kernel = "ntk", int64_t block_size = 0);

} // namespace statmech::gp
