#pragma once

// NNGP / NTK kernel modules and exact GP regression for LibTorch programs: the C++ counterparts
// of statmech.gp.NNGPKernel, NTKKernel and ExactGP, with the same defaults and outputs.

#include <statmech/gp.h>
#include <statmech/macros.h>

#include <torch/nn/module.h>
#include <torch/types.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <optional>
#include <string>
#include <utility>

namespace statmech::nn {

struct STATMECH_API FCKernelOptions {
  TORCH_ARG(int64_t, depth) = 1;
  // Any name of the dual-activation core: closed forms, Hermite series or (elu, selu, hard_tanh)
  // conditional quadrature; see statmech::gp::fc_kernel.
  TORCH_ARG(std::string, activation) = "relu";
  // leaky_relu's negative slope or elu's alpha (nullopt: 0.01, 1.0).
  TORCH_ARG(std::optional<double>, activation_parameter) = std::nullopt;
  // Initial variances (sigma^2); kept positive as softplus(raw_sigma_*2).
  TORCH_ARG(double, sigma_w2) = 2.0;
  TORCH_ARG(double, sigma_b2) = 0.1;
  TORCH_ARG(std::string, parameterization) = "ntk";
};

// kernel = "nngp" or "ntk".
class STATMECH_API FCKernelImpl : public torch::nn::Module {
 public:
  explicit FCKernelImpl(std::string kernel = "nngp", FCKernelOptions options = {});
  void reset();
  void reset_parameters();
  // x1 [N, d], x2 [M, d] (nullopt: x1) -> [N, M], or [N] with diag.
  torch::Tensor forward(const torch::Tensor& x1, const std::optional<torch::Tensor>& x2 = std::nullopt,
                        bool diag = false);
  torch::Tensor sigma_w2() const;
  torch::Tensor sigma_b2() const;
  void pretty_print(std::ostream& stream) const override;

  std::string kernel;
  FCKernelOptions options;
  torch::Tensor raw_sigma_w2, raw_sigma_b2;
};
TORCH_MODULE(FCKernel);

// The NNGP and NTK kernels as modules of their own (FCKernel with the kernel fixed).
class STATMECH_API NNGPKernelImpl : public FCKernelImpl {
 public:
  explicit NNGPKernelImpl(FCKernelOptions options = {}) : FCKernelImpl("nngp", std::move(options)) {}
};
TORCH_MODULE(NNGPKernel);

class STATMECH_API NTKKernelImpl : public FCKernelImpl {
 public:
  explicit NTKKernelImpl(FCKernelOptions options = {}) : FCKernelImpl("ntk", std::move(options)) {}
};
TORCH_MODULE(NTKKernel);

// Exact GP regression with an FCKernel: fit, posterior mean / variance of f, and the negative log
// marginal likelihood per point as a loss for the kernel's sigmas and the noise (softplus).
class STATMECH_API ExactGPImpl : public torch::nn::Module {
 public:
  ExactGPImpl(FCKernel kernel, double noise = 1e-2);
  void fit(torch::Tensor x, torch::Tensor y);
  torch::Tensor loss();
  std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& x);
  torch::Tensor noise() const;

  FCKernel kernel{nullptr};
  torch::Tensor raw_noise;

 private:
  torch::Tensor factor();
  torch::Tensor train_x_, train_y_;
};
TORCH_MODULE(ExactGP);

} // namespace statmech::nn
