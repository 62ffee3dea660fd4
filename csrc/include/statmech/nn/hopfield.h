#pragma once

// Modern Hopfield layers as LibTorch modules (Ramsauer et al. 2020, "Hopfield Networks is All You
// Need"): the C++ counterparts of statmech.nn.Hopfield, HopfieldPooling and HopfieldLayer, with the
// same options, defaults, parameter names and outputs, built on the operators of
// <statmech/modern_hopfield.h>.
//
// Shapes (batch_first = true; with batch_first = false the first two dimensions are swapped):
//   state  [B, L, input_size]   the state (query) patterns
//   stored [B, S, stored_size]  the stored patterns (keys); defaults to state
//   value  [B, S, value_size]   the pattern projections (values); defaults to stored
//   mask   broadcastable to [B, heads, L, S]: bool True = takes part, or a float added to the scores
//   stored_mask [B, S] bool, True = the stored pattern takes part (padding mask)
//   output [B, L, output_size]

#include <statmech/macros.h>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/arg.h>

#include <optional>
#include <string>
#include <vector>

namespace statmech::nn {

struct STATMECH_API HopfieldOptions {
  explicit HopfieldOptions(int64_t input_size) : input_size_(input_size) {}
  // Size of the state patterns (the input).
  TORCH_ARG(int64_t, input_size);
  // Size of each head's association space; default input_size / num_heads (or the raw size when
  // the state or stored projection is off).
  TORCH_ARG(std::optional<int64_t>, hidden_size) = std::nullopt;
  // Size of the output; default input_size (ignored without the output projection, where the
  // output is num_heads * pattern_size).
  TORCH_ARG(std::optional<int64_t>, output_size) = std::nullopt;
  // Size of each head's projected values; default hidden_size (value_size without projection).
  TORCH_ARG(std::optional<int64_t>, pattern_size) = std::nullopt;
  TORCH_ARG(int64_t, num_heads) = 1;
  // Sizes of the stored patterns and of the values; default input_size and stored_size.
  TORCH_ARG(std::optional<int64_t>, stored_size) = std::nullopt;
  TORCH_ARG(std::optional<int64_t>, value_size) = std::nullopt;
  // Inverse temperature; default 1 / sqrt(hidden_size). head_betas (one per head) overrides it.
  TORCH_ARG(std::optional<double>, beta) = std::nullopt;
  TORCH_ARG(std::vector<double>, head_betas) = {};
  // Learn beta (one per head, kept positive as softplus(raw_beta)).
  TORCH_ARG(bool, learn_beta) = false;
  // Number of state updates before the output, and the per-query early-stop threshold.
  TORCH_ARG(int64_t, update_steps) = 0;
  TORCH_ARG(double, eps) = 0.0;
  // "softmax", "sparsemax" or "entmax15".
  TORCH_ARG(std::string, separation) = "softmax";
  // Dropout on the association matrix, in training mode.
  TORCH_ARG(double, dropout) = 0.0;
  // Linear projections of the state, stored patterns and values into the heads, and of the
  // concatenated heads to the output. Without a projection the raw patterns serve every head.
  TORCH_ARG(bool, state_projection) = true;
  TORCH_ARG(bool, stored_projection) = true;
  TORCH_ARG(bool, value_projection) = true;
  TORCH_ARG(bool, out_projection) = true;
  TORCH_ARG(bool, bias) = true;
  // LayerNorms on the raw inputs (off by default; hflayers has them on).
  TORCH_ARG(bool, normalize_state) = false;
  TORCH_ARG(bool, normalize_stored) = false;
  TORCH_ARG(bool, normalize_value) = false;
  TORCH_ARG(bool, batch_first) = true;
};

class STATMECH_API HopfieldImpl : public torch::nn::Cloneable<HopfieldImpl> {
 public:
  explicit HopfieldImpl(int64_t input_size) : HopfieldImpl(HopfieldOptions(input_size)) {}
  explicit HopfieldImpl(HopfieldOptions options);

  void reset() override;
  void reset_parameters();
  void pretty_print(std::ostream& stream) const override;

  // [B, L, output_size]. The association dropout (training mode) draws from `generator` when given,
  // else from the default generator.
  torch::Tensor forward(
      const torch::Tensor& state,
      const torch::Tensor& stored = {},
      const torch::Tensor& value = {},
      const torch::Tensor& mask = {},
      const torch::Tensor& stored_mask = {},
      std::optional<at::Generator> generator = std::nullopt);
  // The association matrix sep(beta xi K^T + mask) after the update steps: [B, heads, L, S].
  torch::Tensor association(
      const torch::Tensor& state,
      const torch::Tensor& stored = {},
      const torch::Tensor& mask = {},
      const torch::Tensor& stored_mask = {});
  // Ramsauer et al. eq. 2 of each projected state pattern before the updates: [B, heads, L].
  torch::Tensor energy(
      const torch::Tensor& state,
      const torch::Tensor& stored = {},
      const torch::Tensor& mask = {},
      const torch::Tensor& stored_mask = {});
  // The inverse temperature per head [heads].
  torch::Tensor effective_beta() const;

  HopfieldOptions options;
  int64_t head_dim = 0;
  int64_t pattern_dim = 0;
  torch::nn::Linear state_proj{nullptr}, stored_proj{nullptr}, value_proj{nullptr}, out_proj{nullptr};
  torch::nn::LayerNorm state_norm{nullptr}, stored_norm{nullptr}, value_norm{nullptr};
  torch::Tensor fixed_beta;  // buffer "beta" [heads] when not learned
  torch::Tensor raw_beta;    // parameter [heads] when learned

 private:
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> project(
      const torch::Tensor& state, const torch::Tensor& stored, const torch::Tensor& value, bool need_value,
      const torch::Tensor& mask, const torch::Tensor& stored_mask);
  torch::Tensor heads(const torch::Tensor& x, torch::nn::Linear proj, int64_t dim) const;
};
TORCH_MODULE(Hopfield);

struct STATMECH_API HopfieldPoolingOptions {
  explicit HopfieldPoolingOptions(int64_t input_size, int64_t num_queries = 1)
      : hopfield_(input_size), num_queries_(num_queries) {}
  // The Hopfield layer the learned queries attend with (its input_size is the query size).
  TORCH_ARG(HopfieldOptions, hopfield);
  TORCH_ARG(int64_t, num_queries);
};

// Pools a set of stored patterns [B, S, stored_size] into num_queries vectors with learned state
// patterns: output [B, num_queries, output_size] (hflayers flattens it to [B, num_queries * output_size]).
class STATMECH_API HopfieldPoolingImpl : public torch::nn::Cloneable<HopfieldPoolingImpl> {
 public:
  explicit HopfieldPoolingImpl(int64_t input_size, int64_t num_queries = 1)
      : HopfieldPoolingImpl(HopfieldPoolingOptions(input_size, num_queries)) {}
  explicit HopfieldPoolingImpl(HopfieldPoolingOptions options);
  void reset() override;
  void reset_parameters();
  torch::Tensor forward(
      const torch::Tensor& stored, const torch::Tensor& value = {}, const torch::Tensor& mask = {},
      const torch::Tensor& stored_mask = {}, std::optional<at::Generator> generator = std::nullopt);
  torch::Tensor association(
      const torch::Tensor& stored, const torch::Tensor& mask = {}, const torch::Tensor& stored_mask = {});
  torch::Tensor energy(
      const torch::Tensor& stored, const torch::Tensor& mask = {}, const torch::Tensor& stored_mask = {});

  HopfieldPoolingOptions options;
  Hopfield hopfield{nullptr};
  torch::Tensor queries; // [num_queries, input_size]

 private:
  torch::Tensor batched_queries(const torch::Tensor& stored) const;
};
TORCH_MODULE(HopfieldPooling);

struct STATMECH_API HopfieldLayerOptions {
  explicit HopfieldLayerOptions(int64_t input_size, int64_t num_patterns)
      : hopfield_(input_size), num_patterns_(num_patterns) {}
  TORCH_ARG(HopfieldOptions, hopfield);
  TORCH_ARG(int64_t, num_patterns);
  // Learn values separate from the stored patterns (otherwise the patterns are their own values).
  TORCH_ARG(bool, separate_values) = false;
};

// A memory / lookup layer: learned stored patterns [num_patterns, stored_size] (and optionally
// values) that every state pattern [B, L, input_size] retrieves from: output [B, L, output_size].
class STATMECH_API HopfieldLayerImpl : public torch::nn::Cloneable<HopfieldLayerImpl> {
 public:
  explicit HopfieldLayerImpl(int64_t input_size, int64_t num_patterns)
      : HopfieldLayerImpl(HopfieldLayerOptions(input_size, num_patterns)) {}
  explicit HopfieldLayerImpl(HopfieldLayerOptions options);
  void reset() override;
  void reset_parameters();
  torch::Tensor forward(
      const torch::Tensor& state, const torch::Tensor& mask = {}, std::optional<at::Generator> generator = std::nullopt);
  torch::Tensor association(const torch::Tensor& state, const torch::Tensor& mask = {});
  torch::Tensor energy(const torch::Tensor& state, const torch::Tensor& mask = {});

  HopfieldLayerOptions options;
  Hopfield hopfield{nullptr};
  torch::Tensor patterns; // [num_patterns, stored_size]
  torch::Tensor values;   // [num_patterns, value_size] when separate_values

 private:
  std::pair<torch::Tensor, torch::Tensor> memory(const torch::Tensor& state) const;
};
TORCH_MODULE(HopfieldLayer);

} // namespace statmech::nn
