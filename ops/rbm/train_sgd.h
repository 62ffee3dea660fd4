#pragma once

// rbm_train_sgd: whole epochs of CD-k / PCD-k training of a Bernoulli or Gaussian-Bernoulli RBM with plain SGD
// (learning rate, momentum, weight decay, as torch.optim.SGD), in one operator.
//
// One minibatch step, b data rows v+ and M chains (M = b for CD):
//   p+ = sigmoid(c + v+ W)                                      GEMM 1 (b V H)
//   k times: v- ~ p(v | h-) = sigmoid(a + h- W^T)                GEMM 2 (M V H)
//            p- = sigmoid(c + v- W), h- ~ p-                     GEMM 3 (M V H)
//   dW = [v-; v+]^T [-p- / M; p+ / b]                            GEMM 4 (one stacked GEMM, (M + b) V H)
// i.e. for k = 1 four GEMM launches and 5 B V H products, the count of scikit-learn's
// BernoulliRBM. PCD persists the hidden samples h- between steps (as scikit-learn does), so a step
// starts at the visible half-step; CD starts the chain at h- ~ p+. The update is torch.optim.SGD's:
//   g = -d + weight_decay * theta,  u <- momentum * u + g,  theta <- theta - lr * u
// with d = dW, da = mean v+ - mean v-, dc = mean p+ - mean p- (the data minus the model
// expectations, i.e. minus the gradient of mean F(v+) - mean F(v-)).
//
// Gaussian visible units (Cho, Ilin & Raiko 2011; visible_log_variance z given, s = exp(z)):
//   p(h = 1 | v) = sigmoid(c + (v / s) W),  v ~ p(v | h) = N(a + W h, s) (mean field: the mean),
//   F(v) = sum_i (v_i - a_i)^2 / (2 s_i) - sum_j softplus(c_j + ((v / s) W)_j).
// The hidden GEMMs take the rows v / s (kept beside v: the scaled stack), and the data minus model
// terms d = -grad(mean F(v+) - mean F(v-)) are
//   dW = (v / s)^T [-p- / M; p+ / b]               (the same stacked GEMM, on the scaled rows)
//   da = (mean v+ - mean v-) / s,   dc as above,
//   dz = Q - rowsum(W * dW),  Q_i = (mean+ (v_i - a_i)^2 - mean- (v_i - a_i)^2) / (2 s_i),
// since dF/dz_i = -(v_i - a_i)^2 / (2 s_i) + (v_i / s_i) sum_j W_ij sigmoid(.)_j, and
// sum over rows of (v_i / s_i) (W sigmoid)_i = sum_j W_ij ((v / s)^T sigmoid)_ij. Every term is
// taken at the step's parameters before any of them changes (dW goes to a buffer first), then a,
// c, z and W take the same SGD update, weight decay included, as torch.optim.SGD over all the
// module's parameters.
//
// The step loop is shared by two sets of passes: CPU (fused sigmoid / sampling / softplus passes,
// one random stream per row and half-step, no buffer allocated inside the loop (only views); ops/rbm/cpu/train_sgd_cpu.cpp)
// and ATen (any device, random numbers from torch.Generator through uniform_ / normal_; ops/rbm/train_sgd.cpp).

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

namespace statmech::rbm {

struct SgdSettings {
  int64_t steps = 1;
  int64_t batch_size = 100;
  double lr = 0.01;
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool persistent = true;
  int64_t epochs = 1;
  bool shuffle = true;
  bool mean_field = false;
  bool track_reconstruction = true;
};

// The Gaussian visible layer's parameter z = log s [visible] and its SGD velocity (both undefined:
// a Bernoulli visible layer).
struct VisibleVariance {
  at::Tensor log_variance;
  at::Tensor velocity;
  bool gaussian() const {
    return log_variance.defined();
  }
};

// The operator's checks (shapes, dtypes, devices, hyper-parameters; not the data's values).
void check_train_sgd_inputs(
    const at::Tensor& data, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& weight_velocity, const at::Tensor& visible_bias_velocity, const at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, const SgdSettings& settings, const VisibleVariance& variance);

// Reads the optional Gaussian arguments of the schema (their pairing is checked by check_train_sgd_inputs).
VisibleVariance visible_variance(
    const std::optional<at::Tensor>& visible_log_variance, const std::optional<at::Tensor>& visible_log_variance_velocity);

// The tensors updated in place (six, eight with a Gaussian visible layer) must not overlap
// themselves (expanded) or each other (a velocity aliasing its parameter): each update would read
// values another has already written. Real kernels only (meta tensors have no memory to compare).
void check_train_sgd_no_overlap(
    const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& weight_velocity, const at::Tensor& visible_bias_velocity, const at::Tensor& hidden_bias_velocity,
    const VisibleVariance& variance);

// The step loop on ATen passes (any device, any layout); checks its inputs, data binary included
// (Bernoulli visible units).
std::tuple<at::Tensor, at::Tensor> train_sgd_aten(
    const at::Tensor& data, at::Tensor& weight, at::Tensor& visible_bias, at::Tensor& hidden_bias,
    at::Tensor& weight_velocity, at::Tensor& visible_bias_velocity, at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, const SgdSettings& settings, const VisibleVariance& variance,
    std::optional<at::Generator> generator);

// Rows of chain_end: the chains of PCD (chain_start's rows, else min(batch_size, N)); 0 for CD.
int64_t train_sgd_chains(const at::Tensor& data, const std::optional<at::Tensor>& chain_start, const SgdSettings& s);

// The shared step loop. Passes provides addmm, the elementwise passes, the permutation and the
// metric accumulators (see train_sgd.cpp for the ATen version, the interface in one place).
// Returns (metrics [epochs, 2] float64: mean loss, reconstruction error; chain_end).
template <typename Passes>
std::tuple<at::Tensor, at::Tensor> train_sgd_loop(
    Passes& passes, const at::Tensor& data, at::Tensor& weight, at::Tensor& visible_bias, at::Tensor& hidden_bias,
    at::Tensor& weight_velocity, at::Tensor& visible_bias_velocity, at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, const SgdSettings& s, const VisibleVariance& variance) {
  const int64_t n = data.size(0), visible = weight.size(0), hidden = weight.size(1);
  const int64_t batch = std::min<int64_t>(s.batch_size, n);
  const int64_t max_chains = s.persistent ? train_sgd_chains(data, chain_start, s) : batch;
  const auto options = weight.options();
  const bool gaussian = variance.gaussian();
  // Negative rows first, then the data rows: [v-; v+] and [p-; p+] are contiguous blocks of
  // M + b rows for the stacked GEMM whatever the size of the last (short) minibatch.
  at::Tensor visible_stack = at::empty({max_chains + batch, visible}, options);
  at::Tensor hidden_stack = at::empty({max_chains + batch, hidden}, options);
  at::Tensor chain_hidden = at::empty({max_chains, hidden}, options);
  at::Tensor visible_scratch = at::empty({std::max(max_chains, batch), visible}, options);
  const bool separate_reconstruction = s.track_reconstruction && (s.persistent || s.steps == 0);
  at::Tensor data_hidden = separate_reconstruction ? at::empty({batch, hidden}, options) : at::Tensor();
  at::Tensor metrics = at::zeros({s.epochs, 2}, data.options().dtype(at::kDouble));
  const at::Tensor weight_t = weight.t();
  const double decay = 1.0 - s.lr * s.weight_decay;
  constexpr int kLoss = 0, kReconstruction = 1;

  // Gaussian: the rows the hidden layer sees are v / s (scaled_stack, beside visible_stack), dW
  // goes to a buffer before the update (dz needs it and the old W), and 1 / s, sqrt(s) are
  // refreshed after every update of z.
  at::Tensor log_variance = variance.log_variance, log_variance_velocity = variance.velocity;
  at::Tensor scaled_stack, weight_delta, inverse_variance, standard_deviation;
  if (gaussian) {
    scaled_stack = at::empty({max_chains + batch, visible}, options);
    weight_delta = at::zeros({visible, hidden}, options);
    inverse_variance = at::empty({visible}, options);
    standard_deviation = at::empty({visible}, options);
    passes.variance_scales(log_variance, inverse_variance, standard_deviation);
  }
  // The hidden layer's input rows [begin, begin + count) of the stack: v, or v / s (written first).
  const auto hidden_input = [&](int64_t begin, int64_t count, bool rescale) {
    at::Tensor rows = visible_stack.narrow(0, begin, count);
    if (!gaussian) {
      return rows;
    }
    at::Tensor scaled = scaled_stack.narrow(0, begin, count);
    if (rescale) {
      passes.scale_columns(scaled, rows, inverse_variance);
    }
    return scaled;
  };

  const int64_t chains = max_chains;
  at::Tensor order = passes.order(n, s.shuffle);
  if (s.persistent) {
    at::Tensor chain_visible = visible_stack.narrow(0, 0, chains);
    if (chain_start.has_value()) {
      chain_visible.copy_(*chain_start);
    } else {
      // The chains start at the first minibatch of the first epoch's order.
      passes.gather(chain_visible, data, order, 0);
    }
    at::Tensor chain_probability = hidden_stack.narrow(0, 0, chains);
    passes.addmm(chain_probability, hidden_bias, hidden_input(0, chains, true), weight, 1.0, 1.0);
    passes.hidden(chain_probability, chain_hidden.narrow(0, 0, chains), -1, 0.0);
  }

  for (int64_t epoch = 0; epoch < s.epochs; ++epoch) {
    if (epoch > 0) {
      order = passes.order(n, s.shuffle);
    }
    for (int64_t start = 0; start < n; start += batch) {
      const int64_t b = std::min(batch, n - start);
      const int64_t m = s.persistent ? chains : b;
      at::Tensor negative_visible = visible_stack.narrow(0, 0, m);
      at::Tensor negative_probability = hidden_stack.narrow(0, 0, m);
      at::Tensor positive_visible = visible_stack.narrow(0, m, b);
      at::Tensor positive_probability = hidden_stack.narrow(0, m, b);
      at::Tensor hidden_sample = chain_hidden.narrow(0, 0, m);
      at::Tensor scratch = visible_scratch.narrow(0, 0, m);
      const double positive_weight = -1.0 / static_cast<double>(n);
      const double negative_weight = static_cast<double>(b) / (static_cast<double>(n) * static_cast<double>(m));

      // Positive phase: p+ (and, for CD, the chains' first hidden sample).
      passes.gather(positive_visible, data, order, start);
      if (gaussian) {
        passes.addmm(positive_probability, hidden_bias, hidden_input(m, b, true), weight, 1.0, 1.0);
      } else {
        passes.data_input(positive_probability, hidden_bias, positive_visible, weight);
      }
      passes.visible_energy(positive_visible, visible_bias, inverse_variance, kLoss, positive_weight);
      at::Tensor positive_sample = s.persistent ? (separate_reconstruction ? data_hidden.narrow(0, 0, b) : at::Tensor())
                                                : hidden_sample;
      passes.hidden(positive_probability, positive_sample, kLoss, positive_weight);
      if (separate_reconstruction) {
        at::Tensor x = visible_scratch.narrow(0, 0, b);
        passes.addmm(x, visible_bias, s.persistent ? positive_sample : hidden_sample, weight_t, 1.0, 1.0);
        if (gaussian) {
          passes.gaussian_visible(
              x, at::Tensor(), at::Tensor(), positive_visible, kReconstruction, 1.0 / static_cast<double>(n),
              standard_deviation, inverse_variance);
        } else {
          passes.visible(x, at::Tensor(), positive_visible, kReconstruction, 1.0 / static_cast<double>(n));
        }
      }

      // Negative phase: k block Gibbs steps from the chains' hidden states.
      if (s.steps == 0) {
        if (!s.persistent) {
          negative_visible.copy_(positive_visible);
        }
        passes.addmm(negative_probability, hidden_bias, hidden_input(0, m, true), weight, 1.0, 1.0);
        passes.hidden(negative_probability, at::Tensor(), kLoss, negative_weight);
      }
      for (int64_t step = 0; step < s.steps; ++step) {
        const bool last = step + 1 == s.steps;
        passes.addmm(scratch, visible_bias, hidden_sample, weight_t, 1.0, 1.0);
        const bool reconstruct = s.track_reconstruction && !s.persistent && step == 0;
        if (gaussian) {
          // v- ~ N(scratch, s) and v- / s in one pass.
          passes.gaussian_visible(
              scratch, negative_visible, hidden_input(0, m, false), reconstruct ? positive_visible : at::Tensor(),
              reconstruct ? kReconstruction : -1, 1.0 / static_cast<double>(n), standard_deviation, inverse_variance);
        } else {
          passes.visible(
              scratch, negative_visible, reconstruct ? positive_visible : at::Tensor(), reconstruct ? kReconstruction : -1,
              1.0 / static_cast<double>(n));
        }
        passes.addmm(negative_probability, hidden_bias, hidden_input(0, m, false), weight, 1.0, 1.0);
        passes.hidden(
            negative_probability, (s.persistent || !last) ? hidden_sample : at::Tensor(), last ? kLoss : -1,
            negative_weight);
      }
      passes.visible_energy(negative_visible, visible_bias, inverse_variance, kLoss, negative_weight);

      // The update: rows scaled to [-p- / M; p+ / b], then one stacked GEMM for W (Gaussian: into
      // weight_delta, then every parameter's step).
      at::Tensor hidden_block = hidden_stack.narrow(0, 0, m + b);
      passes.scale_rows(negative_probability, -1.0 / static_cast<double>(m));
      passes.scale_rows(positive_probability, 1.0 / static_cast<double>(b));
      if (gaussian) {
        passes.weight_gradient(weight_delta, hidden_input(0, m + b, false), hidden_block, m, 0.0, 1.0);
        passes.update_gaussian(
            weight, weight_velocity, weight_delta, visible_bias, visible_bias_velocity, hidden_bias,
            hidden_bias_velocity, log_variance, log_variance_velocity, positive_visible, negative_visible,
            hidden_block, inverse_variance, s.lr, s.momentum, s.weight_decay);
        passes.variance_scales(log_variance, inverse_variance, standard_deviation);
      } else {
        at::Tensor visible_block = visible_stack.narrow(0, 0, m + b);
        passes.update_biases(
            visible_bias, visible_bias_velocity, hidden_bias, hidden_bias_velocity, positive_visible, negative_visible,
            hidden_block, s.lr, s.momentum, s.weight_decay);
        if (s.momentum == 0.0) {
          passes.weight_gradient(weight, visible_block, hidden_block, m, decay, s.lr);
        } else {
          // u <- momentum u - d + weight_decay W, W <- W - lr u
          passes.weight_gradient(weight_velocity, visible_block, hidden_block, m, s.momentum, -1.0);
          passes.axpy(weight_velocity, weight, s.weight_decay);
          passes.axpy(weight, weight_velocity, -s.lr);
        }
      }
    }
    passes.flush(metrics, epoch);
  }
  at::Tensor chain_end = s.persistent ? visible_stack.narrow(0, 0, chains).clone() : at::empty({0, visible}, options);
  return {metrics, chain_end};
}

} // namespace statmech::rbm
