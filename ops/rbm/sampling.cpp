// Block Gibbs chains, parallel tempering and annealed importance sampling for RBMs.
//
// Each operator runs its whole chain in C++ with ATen ops (GEMM + sigmoid + a uniform draw per
// unit), registered as CompositeExplicitAutograd, so the same code runs on CPU and CUDA tensors;
// every random number comes from the optional torch.Generator, so a seeded generator reproduces
// a run exactly. None of them is differentiable (their outputs are samples); the Autograd key
// raises if a backward is attempted through them.

#include "ops/rbm/sampling.h"

#include "ops/common/checks.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

namespace statmech::rbm {

void check_model(
    const char* op,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const std::optional<at::Tensor>& visible_log_variance) {
  checks::floating(op, "weight", weight);
  checks::floating(op, "visible_bias", visible_bias);
  checks::floating(op, "hidden_bias", hidden_bias);
  checks::rank(op, "weight", weight, 2, "[visible, hidden]");
  checks::rank(op, "visible_bias", visible_bias, 1, "[visible]");
  checks::rank(op, "hidden_bias", hidden_bias, 1, "[hidden]");
  checks::size(op, "visible_bias", visible_bias, 0, weight.sym_size(0), "the number of visible units weight.size(0)");
  checks::size(op, "hidden_bias", hidden_bias, 0, weight.sym_size(1), "the number of hidden units weight.size(1)");
  checks::same_dtype(op, "visible_bias", visible_bias, "weight", weight);
  checks::same_dtype(op, "hidden_bias", hidden_bias, "weight", weight);
  checks::same_device(op, "visible_bias", visible_bias, "weight", weight);
  checks::same_device(op, "hidden_bias", hidden_bias, "weight", weight);
  if (visible_log_variance.has_value()) {
    const at::Tensor& s = *visible_log_variance;
    checks::floating(op, "visible_log_variance", s);
    checks::rank(op, "visible_log_variance", s, 1, "[visible]");
    checks::size(op, "visible_log_variance", s, 0, weight.sym_size(0), "the number of visible units weight.size(0)");
    checks::same_dtype(op, "visible_log_variance", s, "weight", weight);
    checks::same_device(op, "visible_log_variance", s, "weight", weight);
  }
}

void check_visible_state(
    const char* op, const char* name, const at::Tensor& state, const at::Tensor& weight, int64_t dim, const char* layout) {
  checks::floating(op, name, state);
  checks::rank(op, name, state, dim, layout);
  checks::size(op, name, state, dim - 1, weight.sym_size(0), "the number of visible units weight.size(0)");
  checks::same_dtype(op, name, state, "weight", weight);
  checks::same_device(op, name, state, "weight", weight);
}

void check_steps(const char* op, int64_t steps) {
  TORCH_CHECK(steps >= 0, op, ": steps must be >= 0, got ", steps);
}

// betas are read on the host: they may sit on the CPU or on weight's device, never on a device
// without data (meta) while the model has data, which would read uninitialised memory.
static void check_host_readable(const char* op, const char* name, const at::Tensor& t, const at::Tensor& weight) {
  TORCH_CHECK(
      t.device() == weight.device() || t.is_cpu(), op, ": ", name, " is on ", t.device(), " but weight is on ",
      weight.device(), "; ", name, " must be on the CPU or on weight's device");
}

void check_parallel_tempering_shapes(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& betas,
    int64_t steps,
    const std::optional<at::Tensor>& visible_log_variance) {
  constexpr const char* op = "rbm_parallel_tempering";
  check_model(op, weight, visible_bias, hidden_bias, visible_log_variance);
  check_visible_state(op, "visible", visible, weight, 3, "[replicas, chains, visible]");
  check_steps(op, steps);
  checks::floating(op, "betas", betas);
  checks::rank(op, "betas", betas, 1, "[replicas]");
  checks::size(op, "betas", betas, 0, visible.sym_size(0), "the number of replicas visible.size(0)");
  check_host_readable(op, "betas", betas, weight);
  TORCH_SYM_CHECK(
      visible.sym_size(0).sym_ge(1), op, ": visible needs at least one replica, got shape ", visible.sym_sizes());
}

void check_ais_inputs(
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias,
    const std::optional<at::Tensor>& betas,
    int64_t runs,
    const std::optional<at::Tensor>& visible_log_variance) {
  constexpr const char* op = "rbm_ais";
  check_model(op, weight, visible_bias, hidden_bias, visible_log_variance);
  checks::floating(op, "base_visible_bias", base_visible_bias);
  checks::rank(op, "base_visible_bias", base_visible_bias, 1, "[visible]");
  checks::size(op, "base_visible_bias", base_visible_bias, 0, weight.sym_size(0), "the number of visible units weight.size(0)");
  checks::same_dtype(op, "base_visible_bias", base_visible_bias, "weight", weight);
  checks::same_device(op, "base_visible_bias", base_visible_bias, "weight", weight);
  TORCH_CHECK(runs >= 1, op, ": runs must be >= 1, got ", runs);
  if (betas.has_value()) {
    checks::floating(op, "betas", *betas);
    checks::rank(op, "betas", *betas, 1, "[steps + 1]");
    check_host_readable(op, "betas", *betas, weight);
    TORCH_SYM_CHECK(
        betas->sym_size(0).sym_ge(2), op, ": betas must hold at least 2 values (0 and 1), got shape ",
        betas->sym_sizes());
  }
}

at::Tensor default_ais_betas() {
  auto opts = at::TensorOptions().dtype(at::kDouble);
  // Integer steps, divided once, so the three pieces meet exactly at 0.5 and 0.9.
  return at::cat({
      at::arange(0, 500, opts).div_(1000),
      at::arange(5000, 9000, opts).div_(10000),
      at::arange(90000, 100001, opts).div_(100000),
  });
}

// Values of betas (on the host, float64) after checking 0 = b_0 < b_1 < ... < b_K = 1.
std::vector<double> checked_ais_betas(const at::Tensor& betas) {
  constexpr const char* op = "rbm_ais";
  const at::Tensor host = betas.detach().to(at::kCPU, at::kDouble).contiguous();
  const double* b = host.const_data_ptr<double>();
  const int64_t n = host.numel();
  TORCH_CHECK(b[0] == 0.0, op, ": betas must start at 0 (the base-rate model), got betas[0] = ", b[0]);
  TORCH_CHECK(b[n - 1] == 1.0, op, ": betas must end at 1 (the model), got betas[-1] = ", b[n - 1]);
  for (int64_t k = 1; k < n; ++k) {
    TORCH_CHECK(
        b[k] > b[k - 1], op, ": betas must be strictly increasing in [0, 1], got betas[", k - 1, "] = ", b[k - 1],
        " and betas[", k, "] = ", b[k]);
  }
  return std::vector<double>(b, b + n);
}

namespace {

// A uniform draw u per element, compared with p in place: 1 where u < p, else 0 (the dtype of p).
at::Tensor bernoulli_from(const at::Tensor& probability, const std::optional<at::Generator>& generator) {
  return at::empty_like(probability).uniform_(0, 1, generator).lt_(probability);
}

struct Model {
  at::Tensor weight, visible_bias, hidden_bias;
  at::Tensor variance, std_dev; // defined for a Gaussian visible layer

  Model(const at::Tensor& w, const at::Tensor& a, const at::Tensor& c, const std::optional<at::Tensor>& log_variance)
      : weight(w), visible_bias(a), hidden_bias(c) {
    if (log_variance.has_value()) {
      variance = log_variance->exp();
      std_dev = variance.sqrt();
    }
  }

  bool gaussian() const {
    return variance.defined();
  }

  // c + (v / s) W, [..., hidden]
  at::Tensor hidden_input(const at::Tensor& v) const {
    return at::matmul(gaussian() ? v / variance : v, weight).add_(hidden_bias);
  }

  // a + h W^T, [..., visible]: the mean of p(v | h) for a Gaussian layer, the logit otherwise.
  at::Tensor visible_input(const at::Tensor& h) const {
    return at::matmul(h, weight.t()).add_(visible_bias);
  }

  // (sample, p(h = 1 | v)) at inverse temperature beta (undefined beta: 1).
  std::pair<at::Tensor, at::Tensor> sample_hidden(
      const at::Tensor& v, const at::Tensor& beta, const std::optional<at::Generator>& generator) const {
    at::Tensor p = hidden_input(v);
    if (beta.defined()) {
      p.mul_(beta);
    }
    p.sigmoid_();
    return {bernoulli_from(p, generator), p};
  }

  // (sample, p(v = 1 | h) or the Gaussian mean) at inverse temperature beta.
  std::pair<at::Tensor, at::Tensor> sample_visible(
      const at::Tensor& h, const at::Tensor& beta, const std::optional<at::Generator>& generator) const {
    at::Tensor x = visible_input(h);
    if (gaussian()) {
      // exp(-beta (v - m)^2 / (2 s)): N(m, s / beta).
      at::Tensor noise = at::empty_like(x).normal_(0, 1, generator).mul_(std_dev);
      if (beta.defined()) {
        noise.div_(beta.sqrt());
      }
      return {noise.add_(x), x};
    }
    if (beta.defined()) {
      x.mul_(beta);
    }
    x.sigmoid_();
    return {bernoulli_from(x, generator), x};
  }

  // E(v, h), [...]
  at::Tensor energy(const at::Tensor& v, const at::Tensor& h) const {
    at::Tensor coupling = (hidden_input(v) * h).sum(-1); // c.h + (v / s)^T W h
    at::Tensor visible_term =
        gaussian() ? ((v - visible_bias).square() / (2 * variance)).sum(-1) : -(v * visible_bias).sum(-1);
    return visible_term - coupling;
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_gibbs(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    int64_t steps,
    double beta,
    const std::optional<at::Tensor>& visible_log_variance,
    std::optional<at::Generator> generator) {
  constexpr const char* op = "rbm_gibbs";
  check_model(op, weight, visible_bias, hidden_bias, visible_log_variance);
  check_visible_state(op, "visible", visible, weight, 2, "[chains, visible]");
  check_steps(op, steps);
  TORCH_CHECK(
      std::isfinite(beta) && beta >= 0 && (beta > 0 || !visible_log_variance.has_value()), op,
      ": beta must be a finite inverse temperature >= 0 (> 0 for a Gaussian visible layer), got ", beta);
  // beta multiplies tensors of the weight's dtype (float32: up to 3.4e38); past that the conversion
  // failed with ATen's unnamed 'value cannot be converted to type float without overflow'.
  double largest = 0;
  AT_DISPATCH_FLOATING_TYPES(weight.scalar_type(), op, [&] {
    largest = static_cast<double>(std::numeric_limits<scalar_t>::max());
  });
  TORCH_CHECK(
      beta <= largest, op, ": beta = ", beta, " does not fit the weight's dtype ", weight.scalar_type(), " (largest ",
      largest, "); use float64 weights or a smaller beta");
  const Model model(weight, visible_bias, hidden_bias, visible_log_variance);
  const at::Tensor beta_tensor = beta == 1.0 ? at::Tensor() : at::scalar_tensor(beta, weight.options());

  at::Tensor v = visible.clone(at::MemoryFormat::Contiguous);
  at::Tensor visible_probability = steps == 0 ? v.clone() : at::Tensor();
  auto [h, hidden_probability] = model.sample_hidden(v, beta_tensor, generator);
  for (int64_t step = 0; step < steps; ++step) {
    std::tie(v, visible_probability) = model.sample_visible(h, beta_tensor, generator);
    std::tie(h, hidden_probability) = model.sample_hidden(v, beta_tensor, generator);
  }
  return {v, h, visible_probability, hidden_probability};
}

// Replica-exchange Gibbs sampling (Swendsen & Wang 1986; for RBMs Desjardins et al. 2010).
// Each step: one Gibbs sweep of every replica at its own beta (h ~ p_b(h | v), v ~ p_b(v | h):
// the pair (v, h) is then a joint sample), then swap proposals between neighbouring replicas,
// first the pairs (0, 1), (2, 3), ..., then (1, 2), (3, 4), ..., each chain independently,
// accepted with probability min(1, exp((b_r - b_r+1) (E_r - E_r+1))).
std::tuple<at::Tensor, at::Tensor, at::Tensor> rbm_parallel_tempering(
    const at::Tensor& visible,
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& betas,
    int64_t steps,
    const std::optional<at::Tensor>& visible_log_variance,
    std::optional<at::Generator> generator) {
  constexpr const char* op = "rbm_parallel_tempering";
  check_parallel_tempering_shapes(visible, weight, visible_bias, hidden_bias, betas, steps, visible_log_variance);
  const int64_t replicas = visible.size(0);
  {
    const at::Tensor host = betas.detach().to(at::kCPU, at::kDouble).contiguous();
    const double* b = host.const_data_ptr<double>();
    for (int64_t r = 0; r < replicas; ++r) {
      const bool positive_enough = visible_log_variance.has_value() ? b[r] > 0 : b[r] >= 0;
      TORCH_CHECK(
          positive_enough && b[r] <= 1, op, ": betas must lie in ", visible_log_variance.has_value() ? "(0, 1]" : "[0, 1]",
          ", got betas[", r, "] = ", b[r]);
      TORCH_CHECK(
          r == 0 || b[r] < b[r - 1], op, ": betas must be strictly decreasing (replica 0 is the coldest), got betas[",
          r - 1, "] = ", b[r - 1], " and betas[", r, "] = ", b[r]);
    }
  }
  const Model model(weight, visible_bias, hidden_bias, visible_log_variance);
  const at::Tensor beta = betas.to(weight.options()).view({replicas, 1, 1});
  const at::Tensor beta_flat = betas.to(weight.options());
  const int64_t chains = visible.size(1);

  at::Tensor v = visible.clone(at::MemoryFormat::Contiguous);
  at::Tensor h;
  at::Tensor accepted = at::zeros({std::max<int64_t>(replicas - 1, 0)}, weight.options().dtype(at::kDouble));
  for (int64_t step = 0; step < steps; ++step) {
    h = model.sample_hidden(v, beta, generator).first;
    v = model.sample_visible(h, beta, generator).first;
    if (replicas < 2 || chains == 0) {
      continue;
    }
    for (int64_t parity = 0; parity < 2; ++parity) {
      if (parity + 1 >= replicas) {
        break;
      }
      const at::Tensor lower = at::arange(parity, replicas - 1, 2, weight.options().dtype(at::kLong));
      const at::Tensor upper = lower + 1;
      const at::Tensor energy = model.energy(v, h); // [replicas, chains]
      const at::Tensor log_ratio = (beta_flat.index_select(0, lower) - beta_flat.index_select(0, upper)).unsqueeze(1) *
          (energy.index_select(0, lower) - energy.index_select(0, upper));
      const at::Tensor u = at::empty_like(log_ratio).uniform_(0, 1, generator);
      const at::Tensor accept = u.log_().lt_(log_ratio).to(at::kBool); // [pairs, chains]
      accepted.index_add_(0, lower, accept.sum(1).to(at::kDouble));
      for (at::Tensor* state : {&v, &h}) {
        const at::Tensor low_state = state->index_select(0, lower);
        const at::Tensor high_state = state->index_select(0, upper);
        const at::Tensor keep = accept.unsqueeze(-1);
        state->index_copy_(0, lower, at::where(keep, high_state, low_state));
        state->index_copy_(0, upper, at::where(keep, low_state, high_state));
      }
    }
  }
  if (!h.defined()) {
    h = model.sample_hidden(v, beta, generator).first;
  }
  const double attempts = static_cast<double>(steps) * static_cast<double>(chains);
  at::Tensor acceptance = attempts > 0 ? accepted.div_(attempts) : accepted;
  return {v, h, acceptance};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> gaussian_ais(
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias,
    const at::Tensor& visible_log_variance,
    const std::vector<double>& betas,
    int64_t runs,
    const std::optional<at::Generator>& generator);

} // namespace

// Annealed importance sampling (Neal 2001; for RBMs Salakhutdinov & Murray 2008, section 4.2).
// Intermediate distributions between the base-rate model A (weights 0, visible bias b_A) and
// the model B, over the visible units with the hidden ones summed out:
//   p*_k(v) = exp(((1 - b_k) b_A + b_k a) . v) prod_j (1 + exp(b_k (c_j + (v W)_j))),
// so Z_0 = 2^hidden prod_i (1 + exp(b_A,i)). A run draws v_1 ~ p_A, then for k = 1..K adds
// log p*_k(v_k) - log p*_{k-1}(v_k) to its log weight and, for k < K, moves v_k to v_{k+1} by one
// Gibbs sweep that leaves p_k invariant (h ~ sigmoid(b_k (c + vW)), v ~ sigmoid((1 - b_k) b_A +
// b_k (a + h W^T))). log Z_B ~ log Z_0 + log mean exp(w). Log weights accumulate in float64.
//
// Gaussian visible layer (visible_log_variance given, s = exp(visible_log_variance); energy
// E(v, h) = sum_i (v_i - a_i)^2 / (2 s_i) - c.h - (v / s) W h, as rbm_energy). The base model A is
// the Gaussian layer alone: W = 0, hidden biases 0, visible means b_A, variances s. With
// m = b_A the intermediate energies mix the quadratic terms geometrically and scale W, c by b_k:
//   E_k(v, h) = sum_i [(1 - b_k)(v_i - m_i)^2 + b_k (v_i - a_i)^2] / (2 s_i) - b_k (c.h + (v / s) W h),
//   log p*_k(v) = -sum_i [(1 - b_k)(v_i - m_i)^2 + b_k (v_i - a_i)^2] / (2 s_i) + sum_j softplus(b_k x_j),
// x = c + (v / s) W. At b_0 = 0, Z_0 = prod_i sqrt(2 pi s_i) * 2^hidden (the Gaussian integral
// times the 2^hidden free hidden states), i.e. log Z_0 = sum_i (1/2) log(2 pi s_i) + hidden log 2.
// The weight update log p*_k(v) - log p*_{k-1}(v) = -(b_k - b_{k-1}) sum_i [(v_i - a_i)^2 -
// (v_i - m_i)^2] / (2 s_i) + sum_j [softplus(b_k x_j) - softplus(b_{k-1} x_j)] (the first sum
// vanishes for m = a). Gibbs at b_k: h | v ~ Bernoulli(sigmoid(b_k x)); completing the square in
// v_i of E_k, [(1 - b_k)(v_i - m_i)^2 + b_k (v_i - a_i)^2 - 2 b_k v_i (W h)_i] / (2 s_i)
//   = (v_i - mu_i)^2 / (2 s_i) + const,  mu = (1 - b_k) m + b_k (a + W h),
// so v | h ~ N(mu, s) (the variances are not annealed). A run starts from v ~ N(m, s) = p_A.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_ais_any_device(
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias,
    const std::optional<at::Tensor>& betas_arg,
    int64_t runs,
    std::optional<at::Generator> generator,
    const std::optional<at::Tensor>& visible_log_variance) {
  check_ais_inputs(weight, visible_bias, hidden_bias, base_visible_bias, betas_arg, runs, visible_log_variance);
  if (weight.device().is_cpu()) {
    // The chains and the products of one step: a few [runs, visible + hidden] buffers, some in float64.
    checks::fits_in_host_memory(
        "rbm_ais", 4.0 * 8.0 * static_cast<double>(runs) * static_cast<double>(weight.size(0) + weight.size(1)),
        "runs = " + std::to_string(runs) + " chains of " + std::to_string(weight.size(0)) + " visible and " +
            std::to_string(weight.size(1)) + " hidden units need");
  }
  const std::vector<double> betas = checked_ais_betas(betas_arg.has_value() ? *betas_arg : default_ais_betas());
  const int64_t hidden = weight.size(1);
  const auto double_options = weight.options().dtype(at::kDouble);
  if (visible_log_variance.has_value()) {
    return gaussian_ais(
        weight, visible_bias, hidden_bias, base_visible_bias, *visible_log_variance, betas, runs, generator);
  }

  const at::Tensor bias_difference = (visible_bias - base_visible_bias).to(at::kDouble); // a - b_A
  at::Tensor v = bernoulli_from(base_visible_bias.sigmoid().expand({runs, weight.size(0)}).contiguous(), generator);
  at::Tensor log_weights = at::zeros({runs}, double_options);
  const auto softplus_sum = [](const at::Tensor& x, double beta) {
    return at::softplus(x * beta).sum(1);
  };
  const int64_t last = static_cast<int64_t>(betas.size()) - 1;
  for (int64_t k = 1; k <= last; ++k) {
    const double beta = betas[k];
    const double previous = betas[k - 1];
    const at::Tensor x = at::addmm(hidden_bias, v, weight); // c + vW, model dtype
    const at::Tensor x64 = x.to(at::kDouble);
    log_weights.add_(at::mv(v.to(at::kDouble), bias_difference), beta - previous)
        .add_(softplus_sum(x64, beta))
        .sub_(softplus_sum(x64, previous));
    if (k < last) {
      const at::Tensor h = bernoulli_from(x.mul(beta).sigmoid_(), generator);
      at::Tensor logits = at::addmm(visible_bias, h, weight.t(), /*beta=*/beta, /*alpha=*/beta);
      logits.add_(base_visible_bias, 1 - beta);
      v = bernoulli_from(logits.sigmoid_(), generator);
    }
  }
  const at::Tensor log_z_base = at::softplus(base_visible_bias.to(at::kDouble)).sum() + hidden * std::log(2.0);
  return ais_estimate(log_z_base, log_weights, runs);
}

namespace {

// rbm_ais for a Gaussian visible layer (the derivation is above rbm_ais).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> gaussian_ais(
    const at::Tensor& weight,
    const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias,
    const at::Tensor& visible_log_variance,
    const std::vector<double>& betas,
    int64_t runs,
    const std::optional<at::Generator>& generator) {
  const int64_t hidden = weight.size(1);
  const at::Tensor variance = visible_log_variance.exp();
  const at::Tensor std_dev = (0.5 * visible_log_variance).exp();
  const at::Tensor scaled_weight = weight / variance.unsqueeze(1); // W / s, so x = c + v (W / s)
  const at::Tensor inverse_variance64 = variance.reciprocal().to(at::kDouble);
  const at::Tensor model_mean64 = visible_bias.to(at::kDouble);
  const at::Tensor base_mean64 = base_visible_bias.to(at::kDouble);
  const bool same_mean = at::equal(visible_bias, base_visible_bias);
  const auto draw = [&](const at::Tensor& mean) {
    return at::empty_like(mean).normal_(0, 1, generator).mul_(std_dev).add_(mean);
  };
  at::Tensor v = draw(base_visible_bias.expand({runs, weight.size(0)}).contiguous());
  at::Tensor log_weights = at::zeros({runs}, weight.options().dtype(at::kDouble));
  const int64_t last = static_cast<int64_t>(betas.size()) - 1;
  for (int64_t k = 1; k <= last; ++k) {
    const double beta = betas[k];
    const double previous = betas[k - 1];
    const at::Tensor x = at::addmm(hidden_bias, v, scaled_weight); // c + (v / s) W, model dtype
    const at::Tensor x64 = x.to(at::kDouble);
    log_weights.add_(at::softplus(x64 * beta).sum(1)).sub_(at::softplus(x64 * previous).sum(1));
    if (!same_mean) {
      const at::Tensor v64 = v.to(at::kDouble);
      const at::Tensor quadratic_difference =
          at::mv((v64 - model_mean64).square_().sub_((v64 - base_mean64).square_()), inverse_variance64);
      log_weights.sub_(quadratic_difference, 0.5 * (beta - previous));
    }
    if (k < last) {
      const at::Tensor h = bernoulli_from(x.mul(beta).sigmoid_(), generator);
      at::Tensor mean = at::addmm(visible_bias, h, weight.t(), /*beta=*/beta, /*alpha=*/beta);
      mean.add_(base_visible_bias, 1 - beta);
      v = draw(mean);
    }
  }
  const at::Tensor log_z_base =
      0.5 * (visible_log_variance.to(at::kDouble) + std::log(2 * M_PI)).sum() + hidden * std::log(2.0);
  return ais_estimate(log_z_base, log_weights, runs);
}

} // namespace

// log Z_base + log mean exp(log_weights) and its +-3 sigma ends, from the log weights [runs].
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> ais_estimate(
    const at::Tensor& log_z_base, const at::Tensor& log_weights, int64_t runs) {
  // Mean and standard deviation of the weights, scaled by their maximum so that nothing overflows:
  // the paper's log Z_hat +- 3 sigma is log(mean +- 3 std / sqrt(runs)).
  const at::Tensor max_log_weight = log_weights.max();
  const at::Tensor ratios = (log_weights - max_log_weight).exp();
  const at::Tensor mean = ratios.mean();
  const at::Tensor spread = runs > 1 ? 3 * ratios.std() / std::sqrt(static_cast<double>(runs)) : at::zeros_like(mean);
  const at::Tensor offset = log_z_base + max_log_weight;
  const at::Tensor log_z = offset + mean.log();
  // When mean - 3 sigma <= 0 the lower end is -inf, as the paper's interval would be.
  const at::Tensor log_z_lower = offset + (mean - spread).clamp_min(0).log();
  const at::Tensor log_z_upper = offset + (mean + spread).log();
  return {log_z, log_z_lower, log_z_upper, log_weights};
}

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("rbm_gibbs", &rbm_gibbs);
  m.impl("rbm_parallel_tempering", &rbm_parallel_tempering);
  m.impl("rbm_ais", &rbm_ais_any_device);
}

// Samples carry no gradient: a backward through them raises instead of returning zeros.
TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("rbm_gibbs", torch::autograd::autogradNotImplementedFallback());
  m.impl("rbm_parallel_tempering", torch::autograd::autogradNotImplementedFallback());
  m.impl("rbm_ais", torch::autograd::autogradNotImplementedFallback());
}

} // namespace statmech::rbm
