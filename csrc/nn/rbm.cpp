// statmech::nn::RBM and GaussianBernoulliRBM: parameters and defaults around the RBM operators.
// Every computation mirrors python/statmech/nn/rbm.py op for op (the same ATen / statmech ops in
// the same order), so the same generator seed gives the same samples on both sides.

#include <statmech/nn/rbm.h>

#include <statmech/ops.h>

#include <torch/torch.h>

#include <ostream>

namespace statmech::nn {

// ---- shared -----------------------------------------------------------------------------------
torch::Tensor RBMBase::sample(int64_t n, int64_t steps, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  const torch::Tensor start = initial_visible(n, generator);
  return std::get<0>(gibbs(start, steps, 1.0, generator));
}

torch::Tensor RBMBase::contrastive_divergence(
    const torch::Tensor& visible, int64_t steps, bool persistent, std::optional<at::Generator> generator) {
  torch::Tensor start;
  if (persistent) {
    if (persistent_visible.size(0) == 0) {
      torch::NoGradGuard no_grad;
      persistent_visible.set_(visible.detach().to(weight.options()).clone());
    }
    start = persistent_visible;
  } else {
    start = visible.detach();
  }
  torch::Tensor loss, model_visible;
  if (dynamic_cast<RBMImpl*>(this) != nullptr) {
    // Bernoulli visible layer: the fused operator (chain, both free energies, gradient).
    std::tie(loss, model_visible) = statmech::rbm_contrastive_divergence(
        visible, persistent ? std::optional<torch::Tensor>(start) : std::nullopt, weight, visible_bias, hidden_bias,
        steps, std::move(generator));
  } else {
    {
      torch::NoGradGuard no_grad;
      model_visible = std::get<0>(gibbs(start, steps, 1.0, std::move(generator))).detach();
    }
    loss = free_energy(visible).mean() - free_energy(model_visible).mean();
  }
  if (persistent) {
    torch::NoGradGuard no_grad;
    persistent_visible.set_(model_visible.detach());
  }
  return loss;
}

torch::Tensor RBMBase::reconstruction_error(const torch::Tensor& visible, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  const torch::Tensor h = std::get<0>(sample_h(visible, std::move(generator)));
  return (visible_probability(h) - visible).square().sum(1).mean();
}

namespace {
void hinton_init(torch::Tensor& weight, torch::Tensor& visible_bias, torch::Tensor& hidden_bias,
                 torch::Tensor& persistent_visible, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  weight.normal_(0.0, 0.01, std::move(generator));
  visible_bias.zero_();
  hidden_bias.zero_();
  persistent_visible.set_(persistent_visible.new_empty({0, weight.size(0)}));
}
} // namespace

// ---- Bernoulli-Bernoulli -------------------------------------------------------------------------
RBMImpl::RBMImpl(RBMOptions options_) : options(std::move(options_)) {
  reset();
}

void RBMImpl::reset() {
  TORCH_CHECK(
      options.visible() >= 1 && options.hidden() >= 1, "RBM: visible and hidden must be >= 1, got visible=",
      options.visible(), ", hidden=", options.hidden());
  weight = register_parameter("weight", torch::empty({options.visible(), options.hidden()}));
  visible_bias = register_parameter("visible_bias", torch::empty({options.visible()}));
  hidden_bias = register_parameter("hidden_bias", torch::empty({options.hidden()}));
  persistent_visible = register_buffer("persistent_visible", torch::empty({0, options.visible()}));
  reset_parameters();
}

void RBMImpl::reset_parameters(std::optional<at::Generator> generator) {
  hinton_init(weight, visible_bias, hidden_bias, persistent_visible, std::move(generator));
}

RBMImpl& RBMImpl::init_from_data(const torch::Tensor& data, double pseudocount) {
  torch::NoGradGuard no_grad;
  visible_bias.copy_(statmech::rbm_base_rate_bias(data.to(weight.options()), pseudocount));
  return *this;
}

void RBMImpl::pretty_print(std::ostream& stream) const {
  stream << "statmech::nn::RBM(visible=" << options.visible() << ", hidden=" << options.hidden() << ")";
}

torch::Tensor RBMImpl::forward(const torch::Tensor& visible) {
  return free_energy(visible);
}

torch::Tensor RBMImpl::free_energy(const torch::Tensor& visible) {
  return statmech::rbm_free_energy(visible, weight, visible_bias, hidden_bias);
}

torch::Tensor RBMImpl::energy(const torch::Tensor& visible, const torch::Tensor& hidden) {
  return statmech::rbm_energy(visible, hidden, weight, visible_bias, hidden_bias);
}

torch::Tensor RBMImpl::hidden_probability(const torch::Tensor& visible) {
  return torch::sigmoid(torch::addmm(hidden_bias, visible, weight));
}

torch::Tensor RBMImpl::visible_probability(const torch::Tensor& hidden) {
  return torch::sigmoid(torch::addmm(visible_bias, hidden, weight.t()));
}

std::tuple<torch::Tensor, torch::Tensor> RBMImpl::sample_h(
    const torch::Tensor& visible, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  auto [v, h, vp, hp] = statmech::rbm_gibbs(visible, weight, visible_bias, hidden_bias, 0, 1.0, std::nullopt, std::move(generator));
  return {h, hp};
}

std::tuple<torch::Tensor, torch::Tensor> RBMImpl::sample_v(
    const torch::Tensor& hidden, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  // The hidden half-step of the transposed model is the visible half-step of this one.
  auto [h, v, hp, vp] =
      statmech::rbm_gibbs(hidden, weight.t(), hidden_bias, visible_bias, 0, 1.0, std::nullopt, std::move(generator));
  return {v, vp};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> RBMImpl::gibbs(
    const torch::Tensor& visible, int64_t steps, double beta, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  return statmech::rbm_gibbs(visible, weight, visible_bias, hidden_bias, steps, beta, std::nullopt, std::move(generator));
}

torch::Tensor RBMImpl::initial_visible(int64_t n, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  return torch::bernoulli(torch::sigmoid(visible_bias).expand({n, options.visible()}).contiguous(), std::move(generator));
}

torch::Tensor RBMImpl::log_partition(int64_t chunk_size) {
  return statmech::rbm_log_partition(weight, visible_bias, hidden_bias, std::nullopt, chunk_size);
}

torch::Tensor RBMImpl::pseudo_likelihood(
    const torch::Tensor& visible, bool stochastic, std::optional<at::Generator> generator) {
  return statmech::rbm_pseudo_likelihood(visible, weight, visible_bias, hidden_bias, stochastic, std::move(generator));
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> RBMImpl::ais(
    const torch::Tensor& data, const std::optional<torch::Tensor>& betas, int64_t runs,
    std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  const torch::Tensor base = statmech::rbm_base_rate_bias(data.to(weight.options()), 1.0);
  auto [log_z, lower, upper, log_weights] =
      statmech::rbm_ais(weight, visible_bias, hidden_bias, base, betas, runs, std::move(generator));
  return {log_z, lower, upper};
}

torch::Tensor RBMBase::fit_sgd(
    const torch::Tensor& data, int64_t epochs, int64_t batch_size, double lr, double momentum, double weight_decay,
    int64_t steps, bool persistent, std::optional<at::Generator> generator,
    const std::optional<torch::Tensor>& visible_log_variance) {
  torch::NoGradGuard no_grad;
  torch::Tensor weight_velocity = torch::zeros_like(weight);
  torch::Tensor visible_velocity = torch::zeros_like(visible_bias);
  torch::Tensor hidden_velocity = torch::zeros_like(hidden_bias);
  std::optional<torch::Tensor> log_variance_velocity;
  if (visible_log_variance.has_value()) {
    log_variance_velocity = torch::zeros_like(*visible_log_variance);
  }
  const std::optional<torch::Tensor> chain_start =
      persistent && persistent_visible.size(0) > 0 ? std::optional<torch::Tensor>(persistent_visible) : std::nullopt;
  auto [metrics, chain_end] = statmech::rbm_train_sgd(
      data.to(weight.options()), weight, visible_bias, hidden_bias, weight_velocity, visible_velocity, hidden_velocity,
      chain_start, steps, batch_size, lr, momentum, weight_decay, persistent, epochs, /*shuffle=*/true,
      /*mean_field=*/false, /*track_reconstruction=*/true, std::move(generator), visible_log_variance,
      log_variance_velocity);
  if (persistent) {
    persistent_visible.set_(chain_end);
  }
  return metrics;
}

torch::Tensor RBMImpl::fit(
    const torch::Tensor& data, int64_t epochs, int64_t batch_size, double lr, double momentum, double weight_decay,
    int64_t steps, bool persistent, std::optional<at::Generator> generator) {
  return fit_sgd(
      data, epochs, batch_size, lr, momentum, weight_decay, steps, persistent, std::move(generator), std::nullopt);
}

// ---- Gaussian-Bernoulli -------------------------------------------------------------------------
GaussianBernoulliRBMImpl::GaussianBernoulliRBMImpl(GaussianBernoulliRBMOptions options_) : options(std::move(options_)) {
  reset();
}

void GaussianBernoulliRBMImpl::reset() {
  TORCH_CHECK(
      options.visible() >= 1 && options.hidden() >= 1, "GaussianBernoulliRBM: visible and hidden must be >= 1, got visible=",
      options.visible(), ", hidden=", options.hidden());
  weight = register_parameter("weight", torch::empty({options.visible(), options.hidden()}));
  visible_bias = register_parameter("visible_bias", torch::empty({options.visible()}));
  hidden_bias = register_parameter("hidden_bias", torch::empty({options.hidden()}));
  persistent_visible = register_buffer("persistent_visible", torch::empty({0, options.visible()}));
  visible_log_variance = register_parameter("visible_log_variance", torch::zeros({options.visible()}));
  reset_parameters();
}

void GaussianBernoulliRBMImpl::reset_parameters(std::optional<at::Generator> generator) {
  hinton_init(weight, visible_bias, hidden_bias, persistent_visible, std::move(generator));
  torch::NoGradGuard no_grad;
  visible_log_variance.zero_();
}

GaussianBernoulliRBMImpl& GaussianBernoulliRBMImpl::init_from_data(const torch::Tensor& data) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = data.to(weight.options());
  visible_bias.copy_(x.mean(0));
  visible_log_variance.copy_(x.var(0).clamp_min(1e-4).log());
  return *this;
}

void GaussianBernoulliRBMImpl::pretty_print(std::ostream& stream) const {
  stream << "statmech::nn::GaussianBernoulliRBM(visible=" << options.visible() << ", hidden=" << options.hidden()
         << ")";
}

torch::Tensor GaussianBernoulliRBMImpl::forward(const torch::Tensor& visible) {
  return free_energy(visible);
}

torch::Tensor GaussianBernoulliRBMImpl::free_energy(const torch::Tensor& visible) {
  return statmech::gaussian_rbm_free_energy(visible, weight, visible_bias, hidden_bias, visible_log_variance);
}

torch::Tensor GaussianBernoulliRBMImpl::energy(const torch::Tensor& visible, const torch::Tensor& hidden) {
  return statmech::rbm_energy(visible, hidden, weight, visible_bias, hidden_bias, visible_log_variance);
}

torch::Tensor GaussianBernoulliRBMImpl::hidden_probability(const torch::Tensor& visible) {
  return torch::sigmoid(torch::addmm(hidden_bias, visible / visible_log_variance.exp(), weight));
}

torch::Tensor GaussianBernoulliRBMImpl::visible_probability(const torch::Tensor& hidden) {
  return torch::addmm(visible_bias, hidden, weight.t());
}

std::tuple<torch::Tensor, torch::Tensor> GaussianBernoulliRBMImpl::sample_h(
    const torch::Tensor& visible, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  auto [v, h, vp, hp] =
      statmech::rbm_gibbs(visible, weight, visible_bias, hidden_bias, 0, 1.0, visible_log_variance, std::move(generator));
  return {h, hp};
}

std::tuple<torch::Tensor, torch::Tensor> GaussianBernoulliRBMImpl::sample_v(
    const torch::Tensor& hidden, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  const torch::Tensor mean = visible_probability(hidden);
  const torch::Tensor noise = torch::randn(mean.sizes(), std::move(generator), mean.options());
  return {mean + noise * (0.5 * visible_log_variance).exp(), mean};
}

torch::Tensor GaussianBernoulliRBMImpl::fit(
    const torch::Tensor& data, int64_t epochs, int64_t batch_size, double lr, double momentum, double weight_decay,
    int64_t steps, bool persistent, std::optional<at::Generator> generator) {
  return fit_sgd(
      data, epochs, batch_size, lr, momentum, weight_decay, steps, persistent, std::move(generator),
      visible_log_variance);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor, torch::Tensor> GaussianBernoulliRBMImpl::gibbs(
    const torch::Tensor& visible, int64_t steps, double beta, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  return statmech::rbm_gibbs(
      visible, weight, visible_bias, hidden_bias, steps, beta, visible_log_variance, std::move(generator));
}

torch::Tensor GaussianBernoulliRBMImpl::initial_visible(int64_t n, std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  const torch::Tensor noise = torch::randn({n, options.visible()}, std::move(generator), weight.options());
  return visible_bias + noise * (0.5 * visible_log_variance).exp();
}

torch::Tensor GaussianBernoulliRBMImpl::log_partition(int64_t chunk_size) {
  return statmech::rbm_log_partition(weight, visible_bias, hidden_bias, visible_log_variance, chunk_size);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> GaussianBernoulliRBMImpl::ais(
    const torch::Tensor& data, const std::optional<torch::Tensor>& betas, int64_t runs,
    std::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  const torch::Tensor base = data.defined() ? data.to(weight.options()).mean(0) : visible_bias.detach();
  auto [log_z, lower, upper, log_weights] = statmech::rbm_ais(
      weight, visible_bias, hidden_bias, base, betas, runs, std::move(generator), visible_log_variance);
  return {log_z, lower, upper};
}

} // namespace statmech::nn
