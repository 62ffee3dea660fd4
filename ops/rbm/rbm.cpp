// Public C++ entry points of the RBM operators. They call through the dispatcher, so C++ callers
// get autograd, the device kernels and the checks exactly as torch.ops.statmech does.

#include <statmech/ops.h>

#include "ops/rbm/sampling.h"

#include <ATen/core/dispatch/Dispatcher.h>

namespace statmech {

at::Tensor rbm_free_energy(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::rbm_free_energy", "")
                       .typed<decltype(rbm_free_energy)>();
  return op.call(visible, weight, visible_bias, hidden_bias);
}

namespace {
template <typename Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}
} // namespace

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_gibbs(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    int64_t steps, double beta, const std::optional<at::Tensor>& visible_log_variance,
    std::optional<at::Generator> generator) {
  static auto op = find_op<decltype(rbm_gibbs)>("statmech::rbm_gibbs");
  return op.call(visible, weight, visible_bias, hidden_bias, steps, beta, visible_log_variance, std::move(generator));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> rbm_parallel_tempering(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& betas, int64_t steps, const std::optional<at::Tensor>& visible_log_variance,
    std::optional<at::Generator> generator) {
  static auto op = find_op<decltype(rbm_parallel_tempering)>("statmech::rbm_parallel_tempering");
  return op.call(visible, weight, visible_bias, hidden_bias, betas, steps, visible_log_variance, std::move(generator));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rbm_ais(
    const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& base_visible_bias, const std::optional<at::Tensor>& betas, int64_t runs,
    std::optional<at::Generator> generator, const std::optional<at::Tensor>& visible_log_variance) {
  static auto op = find_op<decltype(rbm_ais)>("statmech::rbm_ais");
  return op.call(weight, visible_bias, hidden_bias, base_visible_bias, betas, runs, std::move(generator), visible_log_variance);
}

std::tuple<at::Tensor, at::Tensor> rbm_contrastive_divergence(
    const at::Tensor& visible, const std::optional<at::Tensor>& chain_start, const at::Tensor& weight,
    const at::Tensor& visible_bias, const at::Tensor& hidden_bias, int64_t steps, std::optional<at::Generator> generator) {
  static auto op = find_op<decltype(rbm_contrastive_divergence)>("statmech::rbm_contrastive_divergence");
  return op.call(visible, chain_start, weight, visible_bias, hidden_bias, steps, std::move(generator));
}

std::tuple<at::Tensor, at::Tensor> rbm_train_sgd(
    const at::Tensor& data, at::Tensor& weight, at::Tensor& visible_bias, at::Tensor& hidden_bias,
    at::Tensor& weight_velocity, at::Tensor& visible_bias_velocity, at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, int64_t steps, int64_t batch_size, double lr, double momentum,
    double weight_decay, bool persistent, int64_t epochs, bool shuffle, bool mean_field, bool track_reconstruction,
    std::optional<at::Generator> generator, const std::optional<at::Tensor>& visible_log_variance,
    const std::optional<at::Tensor>& visible_log_variance_velocity) {
  static auto op = find_op<decltype(rbm_train_sgd)>("statmech::rbm_train_sgd");
  return op.call(
      data, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity,
      chain_start, steps, batch_size, lr, momentum, weight_decay, persistent, epochs, shuffle, mean_field,
      track_reconstruction, std::move(generator), visible_log_variance, visible_log_variance_velocity);
}

at::Tensor rbm_ais_default_betas() {
  return rbm::default_ais_betas();
}

at::Tensor rbm_log_partition(
    const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const std::optional<at::Tensor>& visible_log_variance, int64_t chunk_size) {
  static auto op = find_op<decltype(rbm_log_partition)>("statmech::rbm_log_partition");
  return op.call(weight, visible_bias, hidden_bias, visible_log_variance, chunk_size);
}

at::Tensor rbm_pseudo_likelihood(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    bool stochastic, std::optional<at::Generator> generator) {
  static auto op = find_op<decltype(rbm_pseudo_likelihood)>("statmech::rbm_pseudo_likelihood");
  return op.call(visible, weight, visible_bias, hidden_bias, stochastic, std::move(generator));
}

at::Tensor rbm_energy(
    const at::Tensor& visible, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& visible_bias,
    const at::Tensor& hidden_bias, const std::optional<at::Tensor>& visible_log_variance) {
  static auto op = find_op<decltype(rbm_energy)>("statmech::rbm_energy");
  return op.call(visible, hidden, weight, visible_bias, hidden_bias, visible_log_variance);
}

at::Tensor gaussian_rbm_free_energy(
    const at::Tensor& visible, const at::Tensor& weight, const at::Tensor& visible_bias, const at::Tensor& hidden_bias,
    const at::Tensor& visible_log_variance) {
  static auto op = find_op<decltype(gaussian_rbm_free_energy)>("statmech::gaussian_rbm_free_energy");
  return op.call(visible, weight, visible_bias, hidden_bias, visible_log_variance);
}

at::Tensor rbm_base_rate_bias(const at::Tensor& data, double pseudocount) {
  static auto op = find_op<decltype(rbm_base_rate_bias)>("statmech::rbm_base_rate_bias");
  return op.call(data, pseudocount);
}

} // namespace statmech
