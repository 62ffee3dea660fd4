#pragma once

// Restricted Boltzmann machines as LibTorch modules: statmech::nn::RBM (Bernoulli-Bernoulli) and
// statmech::nn::GaussianBernoulliRBM (learned per-visible variances, Cho, Ilin & Raiko 2011).
// Thin shells over the operators of <statmech/ops.h>; for the same parameters and generator they
// give the same outputs as statmech.nn.RBM / statmech.nn.GaussianBernoulliRBM in Python.
//
//   Bernoulli-Bernoulli  E(v, h) = -a.v - c.h - v^T W h,   F(v) = -a.v - sum_j softplus(c_j + (vW)_j)
//   Gaussian-Bernoulli   E(v, h) = sum_i (v_i - a_i)^2 / (2 s_i) - c.h - (v / s)^T W h, s = exp(z)
//                        F(v) = + sum_i (v_i - a_i)^2 / (2 s_i) - sum_j softplus(c_j + ((v / s) W)_j)
//
// weight W is [visible, hidden], visible_bias a [visible], hidden_bias c [hidden],
// visible_log_variance z [visible]; persistent_visible [chains, visible] holds the PCD chains.

#include <statmech/macros.h>

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <optional>
#include <tuple>

namespace statmech::nn {

struct STATMECH_API RBMOptions {
  RBMOptions(int64_t visible, int64_t hidden) : visible_(visible), hidden_(hidden) {}
  // Number of visible units.
  TORCH_ARG(int64_t, visible);
  // Number of hidden units.
  TORCH_ARG(int64_t, hidden);
};

using GaussianBernoulliRBMOptions = RBMOptions;

// Shared by both models: parameters, Hinton's initialisation (W ~ 0.01 N(0, 1), biases 0), the
// sampling and training entry points. The visible layer's type is decided by `gaussian`.
class STATMECH_API RBMBase {
 public:
  virtual ~RBMBase() = default;

  // F(v) [batch] of visible [batch, visible]; differentiable.
  virtual torch::Tensor free_energy(const torch::Tensor& visible) = 0;
  // E(v, h) [batch].
  virtual torch::Tensor energy(const torch::Tensor& visible, const torch::Tensor& hidden) = 0;
  // p(h = 1 | v) [batch, hidden].
  virtual torch::Tensor hidden_probability(const torch::Tensor& visible) = 0;
  // p(v = 1 | h) (Bernoulli) or the mean a + W h (Gaussian) [batch, visible].
  virtual torch::Tensor visible_probability(const torch::Tensor& hidden) = 0;
  // (h ~ p(h | v), p(h = 1 | v)).
  virtual std::tuple<torch::Tensor, torch::Tensor> sample_h(
      const torch::Tensor& visible, std::optional<at::Generator> generator = std::nullopt) = 0;
  // (v ~ p(v | h), p(v = 1 | h) or the mean).
  virtual std::tuple<torch::Tensor, torch::Tensor> sample_v(
      const torch::Tensor& hidden, std::optional<at::Generator> generator = std::nullopt) = 0;
  // `steps` fused block Gibbs steps: (v_k, h_k, p(v | h_{k-1}), p(h = 1 | v_k)); see statmech::rbm_gibbs.
  virtual std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> gibbs(
      const torch::Tensor& visible, int64_t steps = 1, double beta = 1.0,
      std::optional<at::Generator> generator = std::nullopt) = 0;
  // n chain starts from the visible biases alone.
  virtual torch::Tensor initial_visible(int64_t n, std::optional<at::Generator> generator = std::nullopt) = 0;
  // Exact log Z (enumerated layer at most 25 units); differentiable.
  virtual torch::Tensor log_partition(int64_t chunk_size = 65536) = 0;

  // n samples [n, visible] after `steps` Gibbs steps from initial_visible(n).
  torch::Tensor sample(int64_t n, int64_t steps = 1000, std::optional<at::Generator> generator = std::nullopt);
  // CD-k (persistent = false) or PCD-k loss mean F(v_data) - mean F(v_model), v_model detached.
  torch::Tensor contrastive_divergence(
      const torch::Tensor& visible, int64_t steps = 1, bool persistent = false,
      std::optional<at::Generator> generator = std::nullopt);
  // Mean over rows of the squared error between v and the visible mean given h ~ p(h | v).
  torch::Tensor reconstruction_error(const torch::Tensor& visible, std::optional<at::Generator> generator = std::nullopt);

  torch::Tensor weight, visible_bias, hidden_bias, persistent_visible;

 protected:
  // Both models' fit: epochs of statmech::rbm_train_sgd with fresh zero velocities, the PCD chains
  // kept in persistent_visible; visible_log_variance (and its velocity) for a Gaussian layer.
  torch::Tensor fit_sgd(
      const torch::Tensor& data, int64_t epochs, int64_t batch_size, double lr, double momentum, double weight_decay,
      int64_t steps, bool persistent, std::optional<at::Generator> generator,
      const std::optional<torch::Tensor>& visible_log_variance);
};

class STATMECH_API RBMImpl : public torch::nn::Cloneable<RBMImpl>, public RBMBase {
 public:
  RBMImpl(int64_t visible, int64_t hidden) : RBMImpl(RBMOptions(visible, hidden)) {}
  explicit RBMImpl(RBMOptions options);

  void reset() override;
  void reset_parameters(std::optional<at::Generator> generator = std::nullopt);
  // a_i = log(p_i / (1 - p_i)) from the data (Hinton 2010, section 8.1); returns *this.
  RBMImpl& init_from_data(const torch::Tensor& data, double pseudocount = 1.0);
  void pretty_print(std::ostream& stream) const override;

  // Free energy, as free_energy().
  torch::Tensor forward(const torch::Tensor& visible);

  torch::Tensor free_energy(const torch::Tensor& visible) override;
  torch::Tensor energy(const torch::Tensor& visible, const torch::Tensor& hidden) override;
  torch::Tensor hidden_probability(const torch::Tensor& visible) override;
  torch::Tensor visible_probability(const torch::Tensor& hidden) override;
  std::tuple<torch::Tensor, torch::Tensor> sample_h(
      const torch::Tensor& visible, std::optional<at::Generator> generator = std::nullopt) override;
  std::tuple<torch::Tensor, torch::Tensor> sample_v(
      const torch::Tensor& hidden, std::optional<at::Generator> generator = std::nullopt) override;
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> gibbs(
      const torch::Tensor& visible, int64_t steps = 1, double beta = 1.0,
      std::optional<at::Generator> generator = std::nullopt) override;
  torch::Tensor initial_visible(int64_t n, std::optional<at::Generator> generator = std::nullopt) override;
  torch::Tensor log_partition(int64_t chunk_size = 65536) override;
  // Log pseudo-likelihood [batch] (exact, or scikit-learn's one-bit form when stochastic).
  torch::Tensor pseudo_likelihood(
      const torch::Tensor& visible, bool stochastic = false, std::optional<at::Generator> generator = std::nullopt);
  // AIS (log Z, lower, upper) from the base-rate model of `data`.
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> ais(
      const torch::Tensor& data, const std::optional<torch::Tensor>& betas = std::nullopt, int64_t runs = 100,
      std::optional<at::Generator> generator = std::nullopt);
  // Trains on binary data [N, visible] with CD-k / PCD-k and plain SGD (torch.optim.SGD's update;
  // momentum buffers start at zero) in one call of the fused operator statmech::rbm_train_sgd;
  // PCD's chains continue from persistent_visible and are stored back there. Returns the
  // per-epoch metrics [epochs, 2] (float64: mean loss, training reconstruction error).
  torch::Tensor fit(
      const torch::Tensor& data, int64_t epochs = 10, int64_t batch_size = 100, double lr = 0.01,
      double momentum = 0.0, double weight_decay = 0.0, int64_t steps = 1, bool persistent = true,
      std::optional<at::Generator> generator = std::nullopt);

  RBMOptions options;
};

TORCH_MODULE(RBM);

class STATMECH_API GaussianBernoulliRBMImpl : public torch::nn::Cloneable<GaussianBernoulliRBMImpl>, public RBMBase {
 public:
  GaussianBernoulliRBMImpl(int64_t visible, int64_t hidden)
      : GaussianBernoulliRBMImpl(GaussianBernoulliRBMOptions(visible, hidden)) {}
  explicit GaussianBernoulliRBMImpl(GaussianBernoulliRBMOptions options);

  void reset() override;
  void reset_parameters(std::optional<at::Generator> generator = std::nullopt);
  // a = the data's mean, z = log of its variance (floored at 1e-4); returns *this.
  GaussianBernoulliRBMImpl& init_from_data(const torch::Tensor& data);
  void pretty_print(std::ostream& stream) const override;

  torch::Tensor forward(const torch::Tensor& visible);

  torch::Tensor free_energy(const torch::Tensor& visible) override;
  torch::Tensor energy(const torch::Tensor& visible, const torch::Tensor& hidden) override;
  torch::Tensor hidden_probability(const torch::Tensor& visible) override;
  torch::Tensor visible_probability(const torch::Tensor& hidden) override;
  std::tuple<torch::Tensor, torch::Tensor> sample_h(
      const torch::Tensor& visible, std::optional<at::Generator> generator = std::nullopt) override;
  std::tuple<torch::Tensor, torch::Tensor> sample_v(
      const torch::Tensor& hidden, std::optional<at::Generator> generator = std::nullopt) override;
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> gibbs(
      const torch::Tensor& visible, int64_t steps = 1, double beta = 1.0,
      std::optional<at::Generator> generator = std::nullopt) override;
  torch::Tensor initial_visible(int64_t n, std::optional<at::Generator> generator = std::nullopt) override;
  torch::Tensor log_partition(int64_t chunk_size = 65536) override;
  // AIS (log Z, lower, upper; float64, bounds at +-3 sigma) from the Gaussian base model N(m, s)
  // with free hidden units, s the model's variances, m the mean of `data` (an undefined tensor:
  // the model's visible biases), as GaussianBernoulliRBM.ais in Python.
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> ais(
      const torch::Tensor& data, const std::optional<torch::Tensor>& betas = std::nullopt, int64_t runs = 100,
      std::optional<at::Generator> generator = std::nullopt);
  // Trains on real-valued data [N, visible] as RBMImpl::fit (CD-k / PCD-k, plain SGD with
  // torch.optim.SGD's update over every parameter, visible_log_variance included; one call of
  // statmech::rbm_train_sgd with its Gaussian arguments). Returns the per-epoch metrics
  // [epochs, 2] (float64: mean loss, training reconstruction error).
  torch::Tensor fit(
      const torch::Tensor& data, int64_t epochs = 10, int64_t batch_size = 100, double lr = 0.01,
      double momentum = 0.0, double weight_decay = 0.0, int64_t steps = 1, bool persistent = true,
      std::optional<at::Generator> generator = std::nullopt);

  GaussianBernoulliRBMOptions options;
  torch::Tensor visible_log_variance;
};

TORCH_MODULE(GaussianBernoulliRBM);

} // namespace statmech::nn
