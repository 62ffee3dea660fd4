// Exact log partition function, pseudo-likelihood, joint energy, the Gaussian-Bernoulli free
// energy and the base-rate biases.
//
// These are compositions of ATen ops and rbm_free_energy, registered as CompositeImplicitAutograd:
// autograd (forward and reverse), meta/fake tensors and every device come from the ops they are
// made of, and the maths lives here once for the Python and the C++ front ends.

#include "ops/rbm/sampling.h"

#include "ops/common/checks.h"

#include <statmech/ops.h>

#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>
#include <vector>

namespace statmech::rbm {
namespace {

constexpr int64_t kMaxEnumeratedUnits = 25;

// True for tensors whose values can be read (not meta, fake or functorch-wrapped).
bool has_readable_values(const at::Tensor& t) {
  return !t.is_meta() && !t.key_set().has(c10::DispatchKey::Python) &&
      !t.key_set().has_any(c10::DispatchKeySet({c10::DispatchKey::FuncTorchBatched, c10::DispatchKey::FuncTorchGradWrapper}));
}

void check_binary(const char* op, const char* name, const at::Tensor& t) {
  if (has_readable_values(t) && t.numel() > 0) {
    TORCH_CHECK(
        at::logical_or(t == 0, t == 1).all().item<bool>(), op, ": ", name,
        " must be binary (every entry 0 or 1) for a Bernoulli visible layer");
  }
}

// Rows [begin, end) of all binary vectors of length n, in the dtype/device of `like`.
at::Tensor binary_states(int64_t begin, int64_t end, int64_t n, const at::Tensor& like) {
  const auto long_options = like.options().dtype(at::kLong);
  return at::arange(begin, end, long_options)
      .unsqueeze(1)
      .bitwise_right_shift(at::arange(n, long_options))
      .bitwise_and(1)
      .to(like.scalar_type());
}

// log Z = log sum_{v, h} exp(-E(v, h)), by enumerating the smaller layer in chunks of chunk_size
// states and summing the other one out in closed form:
//   visible enumerated:  log Z = logsumexp_v -F(v)
//   hidden enumerated:   log Z = logsumexp_h [c.h + sum_i softplus(a_i + (W h)_i)]
//                        (Gaussian visible: c.h + sum_i [log sqrt(2 pi s_i) + (2 a_i m_i + m_i^2) / (2 s_i)],
//                         m = W h, from the Gaussian integral over each v_i)
at::Tensor rbm_log_partition(
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const std::optional<at::Tensor>& visible_log_variance,
    int64_t chunk_size) {
  constexpr const char* op = "rbm_log_partition";
  check_model(op, weight, visible_bias, hidden_bias, visible_log_variance);
  TORCH_CHECK(chunk_size >= 1, op, ": chunk_size must be >= 1, got ", chunk_size);
  const int64_t visible = weight.size(0);
  const int64_t hidden = weight.size(1);
  const bool gaussian = visible_log_variance.has_value();
  const bool enumerate_visible = !gaussian && visible <= hidden;
  const int64_t n = enumerate_visible ? visible : hidden;
  TORCH_CHECK(
      n <= kMaxEnumeratedUnits, op, ": exact enumeration of 2^", n, " states is limited to ", kMaxEnumeratedUnits,
      " units in the enumerated layer (", gaussian ? "the hidden layer of a Gaussian-Bernoulli RBM" : "the smaller layer",
      "); got visible = ", visible, ", hidden = ", hidden, ". Estimate log Z with rbm_ais instead");
  const int64_t total = int64_t{1} << n;
  std::vector<at::Tensor> parts;
  for (int64_t begin = 0; begin < total; begin += chunk_size) {
    const at::Tensor states = binary_states(begin, std::min(total, begin + chunk_size), n, weight);
    at::Tensor negative_free_energy;
    if (enumerate_visible) {
      negative_free_energy = -statmech::rbm_free_energy(states, weight, visible_bias, hidden_bias);
    } else if (!gaussian) {
      negative_free_energy = -statmech::rbm_free_energy(states, weight.t(), hidden_bias, visible_bias);
    } else {
      const at::Tensor variance = visible_log_variance->exp();
      const at::Tensor mean_shift = at::matmul(states, weight.t()); // m = W h, [states, visible]
      const at::Tensor gaussian_terms =
          ((2 * visible_bias * mean_shift + mean_shift.square()) / (2 * variance)).sum(1) +
          (0.5 * (*visible_log_variance + std::log(2 * M_PI))).sum();
      negative_free_energy = at::mv(states, hidden_bias) + gaussian_terms;
    }
    parts.push_back(at::logsumexp(negative_free_energy, {0}));
  }
  return at::logsumexp(at::stack(parts), {0});
}

// log PL(v) = sum_i log p(v_i | v_{-i}) = sum_i log sigmoid(F(v with bit i flipped) - F(v)).
// Flipping bit i moves the hidden input x = c + vW by d_i W_i (d = 1 - 2v), so
//   F(v~_i) - F(v) = -a_i d_i - sum_j [softplus(x_j + d_i W_ij) - softplus(x_j)].
// stochastic: one bit i per row drawn uniformly, returning visible * log sigmoid(...), the
// unbiased estimate that scikit-learn's BernoulliRBM.score_samples reports.
at::Tensor rbm_pseudo_likelihood(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    bool stochastic,
    std::optional<at::Generator> generator) {
  constexpr const char* op = "rbm_pseudo_likelihood";
  check_model(op, weight, visible_bias, hidden_bias, std::nullopt);
  check_visible_state(op, "visible", visible, weight, 2, "[batch, visible]");
  check_binary(op, "visible", visible);
  const int64_t batch = visible.size(0);
  const int64_t n_visible = weight.size(0);
  const at::Tensor x = at::addmm(hidden_bias, visible, weight);
  const at::Tensor flip = 1 - 2 * visible;
  const at::Tensor base_softplus = at::softplus(x);
  // Without visible units there is no bit to draw; the sum over none (below) is the exact 0.
  if (stochastic && n_visible > 0) {
    const at::Tensor index = at::randint(n_visible, {batch}, generator, visible.options().dtype(at::kLong));
    const at::Tensor d = flip.gather(1, index.unsqueeze(1)); // [batch, 1]
    const at::Tensor moved = x + d * weight.index_select(0, index);
    const at::Tensor delta =
        -visible_bias.index_select(0, index) * d.squeeze(1) - (at::softplus(moved) - base_softplus).sum(1);
    return at::log_sigmoid(delta) * static_cast<double>(n_visible);
  }
  // [rows, visible, hidden] per chunk, about 2^24 elements.
  const int64_t per_row = std::max<int64_t>(1, n_visible * weight.size(1));
  const int64_t rows = std::max<int64_t>(1, (int64_t{1} << 24) / per_row);
  std::vector<at::Tensor> parts;
  // At least one (possibly empty) chunk, so that an empty batch still gives an output in the
  // autograd graph, as ATen's ops do.
  for (int64_t begin = 0; begin < batch || parts.empty(); begin += rows) {
    const int64_t end = std::min(batch, begin + rows);
    const at::Tensor xs = x.slice(0, begin, end);
    const at::Tensor ds = flip.slice(0, begin, end);
    const at::Tensor moved = xs.unsqueeze(1) + ds.unsqueeze(2) * weight.unsqueeze(0);
    const at::Tensor delta = -visible_bias * ds - (at::softplus(moved) - base_softplus.slice(0, begin, end).unsqueeze(1)).sum(2);
    parts.push_back(at::log_sigmoid(delta).sum(1));
  }
  return at::cat(parts);
}

// E(v, h) for each row; with visible_log_variance the Gaussian-Bernoulli energy.
at::Tensor rbm_energy(
    const at::Tensor& visible,
    const at::Tensor& hidden,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const std::optional<at::Tensor>& visible_log_variance) {
  constexpr const char* op = "rbm_energy";
  check_model(op, weight, visible_bias, hidden_bias, visible_log_variance);
  check_visible_state(op, "visible", visible, weight, 2, "[batch, visible]");
  checks::floating(op, "hidden", hidden);
  checks::rank(op, "hidden", hidden, 2, "[batch, hidden]");
  checks::size(op, "hidden", hidden, 0, visible.sym_size(0), "the batch size visible.size(0)");
  checks::size(op, "hidden", hidden, 1, weight.sym_size(1), "the number of hidden units weight.size(1)");
  checks::same_dtype(op, "hidden", hidden, "weight", weight);
  checks::same_device(op, "hidden", hidden, "weight", weight);
  if (visible_log_variance.has_value()) {
    const at::Tensor variance = visible_log_variance->exp();
    return ((visible - visible_bias).square() / (2 * variance)).sum(1) - at::mv(hidden, hidden_bias) -
        (at::matmul(visible / variance, weight) * hidden).sum(1);
  }
  return -at::mv(visible, visible_bias) - at::mv(hidden, hidden_bias) - (at::matmul(visible, weight) * hidden).sum(1);
}

// F(v) = sum_i (v_i - a_i)^2 / (2 s_i) - sum_j softplus(c_j + ((v / s) W)_j): rbm_free_energy on
// v / s with no visible bias, plus the quadratic term (its sign is derived in statmech.nn.rbm).
at::Tensor gaussian_rbm_free_energy(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& visible_log_variance) {
  constexpr const char* op = "gaussian_rbm_free_energy";
  check_model(op, weight, visible_bias, hidden_bias, visible_log_variance);
  check_visible_state(op, "visible", visible, weight, 2, "[batch, visible]");
  const at::Tensor variance = visible_log_variance.exp();
  return ((visible - visible_bias).square() / (2 * variance)).sum(1) +
      statmech::rbm_free_energy(visible / variance, weight, at::zeros_like(visible_bias), hidden_bias);
}

// log(p / (1 - p)) with p = (sum_n v_n + pseudocount) / (N + 2 pseudocount): the visible biases
// of the base-rate model (Salakhutdinov & Murray 2008) and of Hinton's initialisation.
at::Tensor rbm_base_rate_bias(const at::Tensor& data, double pseudocount) {
  constexpr const char* op = "rbm_base_rate_bias";
  checks::floating(op, "data", data);
  checks::rank(op, "data", data, 2, "[batch, visible]");
  TORCH_CHECK(std::isfinite(pseudocount) && pseudocount >= 0, op, ": pseudocount must be >= 0, got ", pseudocount);
  TORCH_CHECK(
      pseudocount > 0 || data.size(0) > 0, op,
      ": data has no rows and pseudocount = 0, so the base rate p = 0 / 0 is undefined; pass pseudocount > 0");
  if (has_readable_values(data) && data.numel() > 0) {
    TORCH_CHECK(
        at::logical_and(data >= 0, data <= 1).all().item<bool>(), op,
        ": data must hold probabilities or binary values in [0, 1]");
  }
  // log(p / (1 - p)) = log(ones + pseudocount) - log(zeros + pseudocount), in float64: as
  // log p - log1p(-p) in the data's dtype a small pseudocount (1e-300) was lost to rounding
  // (1 - p = 0, or the pseudocount 0 in float32) and the biases of constant units were +-inf
  // instead of +-691.
  const at::Tensor ones = data.sum(0, /*keepdim=*/false, at::kDouble);
  const at::Tensor zeros = static_cast<double>(data.size(0)) - ones;
  if (pseudocount == 0 && has_readable_values(data) && data.numel() > 0) {
    const at::Tensor constant = at::logical_or(ones == 0, zeros == 0);
    TORCH_CHECK(
        !constant.any().item<bool>(), op, ": with pseudocount = 0, visible unit ",
        constant.nonzero().min().item<int64_t>(), " (and ", constant.sum().item<int64_t>() - 1,
        " more) is constant in data (p = 0 or 1), so its bias log(p / (1 - p)) is infinite; pass pseudocount > 0");
  }
  return ((ones + pseudocount).log() - (zeros + pseudocount).log()).to(data.scalar_type());
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeImplicitAutograd, m) {
  m.impl("rbm_log_partition", &rbm_log_partition);
  m.impl("rbm_pseudo_likelihood", &rbm_pseudo_likelihood);
  m.impl("rbm_energy", &rbm_energy);
  m.impl("gaussian_rbm_free_energy", &gaussian_rbm_free_energy);
  m.impl("rbm_base_rate_bias", &rbm_base_rate_bias);
}

} // namespace statmech::rbm
