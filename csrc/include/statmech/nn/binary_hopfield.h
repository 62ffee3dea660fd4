#pragma once

// C++ modules of the classical binary Hopfield network and the dense associative memory, the
// counterparts of statmech.nn.BinaryHopfield and statmech.nn.DenseAssociativeMemory (same
// buffers, same defaults, same outputs for the same generator state).

#include <statmech/binary_hopfield.h>
#include <statmech/macros.h>

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <string>
#include <vector>

namespace statmech::nn {

struct STATMECH_API BinaryHopfieldOptions {
  explicit BinaryHopfieldOptions(int64_t num_neurons) : num_neurons_(num_neurons) {}
  // N.
  TORCH_ARG(int64_t, num_neurons);
  // Storage rule of store(): "hebbian", "storkey" or "pseudo_inverse".
  TORCH_ARG(std::string, rule) = "hebbian";
  // Dynamics of retrieve(): "async" or "sync".
  TORCH_ARG(std::string, update) = "async";
  // Sweep limit of retrieve().
  TORCH_ARG(int64_t, max_sweeps) = 100;
};

// A Hopfield network of N binary (+-1) neurons, E(s) = -1/2 s^T W s + theta^T s.
// Buffers: weight [N, N], threshold [N]. States are [batch, N].
class STATMECH_API BinaryHopfieldImpl : public torch::nn::Cloneable<BinaryHopfieldImpl> {
 public:
  explicit BinaryHopfieldImpl(int64_t num_neurons) : BinaryHopfieldImpl(BinaryHopfieldOptions(num_neurons)) {}
  explicit BinaryHopfieldImpl(BinaryHopfieldOptions options);

  void reset() override;
  // Zero weights and thresholds.
  void reset_parameters();
  // Replaces the memory by patterns [P, N] with the storage rule.
  void store(const at::Tensor& patterns);
  // Runs the dynamics from state [batch, N].
  BinaryHopfieldRun retrieve(const at::Tensor& state, std::optional<at::Generator> generator = std::nullopt);
  // The recalled states [batch, N].
  at::Tensor forward(const at::Tensor& state, std::optional<at::Generator> generator = std::nullopt);
  // [batch] energies.
  at::Tensor energy(const at::Tensor& state);
  // Glauber dynamics, one sweep per temperature: (state, energy).
  std::tuple<at::Tensor, at::Tensor> sample(
      const at::Tensor& state, const std::vector<double>& temperatures,
      std::optional<at::Generator> generator = std::nullopt);
  void pretty_print(std::ostream& stream) const override;

  BinaryHopfieldOptions options;
  at::Tensor weight;
  at::Tensor threshold;
};
TORCH_MODULE(BinaryHopfield);

struct STATMECH_API DenseAssociativeMemoryOptions {
  explicit DenseAssociativeMemoryOptions(int64_t num_neurons) : num_neurons_(num_neurons) {}
  TORCH_ARG(int64_t, num_neurons);
  // F: "polynomial", "rectified_polynomial" or "exponential".
  TORCH_ARG(std::string, interaction) = "polynomial";
  TORCH_ARG(int64_t, degree) = 3;
  TORCH_ARG(double, beta) = 1.0;
  TORCH_ARG(int64_t, max_sweeps) = 100;
};

// Dense associative memory, E(s) = -sum_mu F(xi_mu . s). Buffer: patterns [P, N].
class STATMECH_API DenseAssociativeMemoryImpl : public torch::nn::Cloneable<DenseAssociativeMemoryImpl> {
 public:
  explicit DenseAssociativeMemoryImpl(int64_t num_neurons)
      : DenseAssociativeMemoryImpl(DenseAssociativeMemoryOptions(num_neurons)) {}
  explicit DenseAssociativeMemoryImpl(DenseAssociativeMemoryOptions options);

  void reset() override;
  void reset_parameters();
  void store(const at::Tensor& patterns);
  BinaryHopfieldRun retrieve(const at::Tensor& state, std::optional<at::Generator> generator = std::nullopt);
  at::Tensor forward(const at::Tensor& state, std::optional<at::Generator> generator = std::nullopt);
  at::Tensor energy(const at::Tensor& state);
  void pretty_print(std::ostream& stream) const override;

  DenseAssociativeMemoryOptions options;
  at::Tensor patterns;
};
TORCH_MODULE(DenseAssociativeMemory);

} // namespace statmech::nn
