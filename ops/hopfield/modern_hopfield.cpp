// Public C++ entry points of the modern Hopfield operators. They call through the dispatcher, so
// C++ callers get autograd, the device kernels and the checks exactly as torch.ops.statmech does.

#include <statmech/modern_hopfield.h>

#include <ATen/core/dispatch/Dispatcher.h>

namespace statmech {

at::Tensor hopfield_retrieval(
    const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, const at::Tensor& beta,
    int64_t update_steps, double eps, const std::optional<at::Tensor>& mask, const std::string& separation,
    double dropout_p, std::optional<at::Generator> generator) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::hopfield_retrieval", "")
                       .typed<at::Tensor(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, double,
                           const std::optional<at::Tensor>&, c10::string_view, double, std::optional<at::Generator>)>();
  return op.call(query, key, value, beta, update_steps, eps, mask, separation, dropout_p, std::move(generator));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> hopfield_retrieval_explicit(
    const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, const at::Tensor& beta,
    int64_t update_steps, double eps, const std::optional<at::Tensor>& mask, const std::string& separation,
    double dropout_p, std::optional<at::Generator> generator) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::hopfield_retrieval_explicit", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t, double,
                           const std::optional<at::Tensor>&, c10::string_view, double, std::optional<at::Generator>)>();
  return op.call(query, key, value, beta, update_steps, eps, mask, separation, dropout_p, std::move(generator));
}

at::Tensor hopfield_energy(
    const at::Tensor& state, const at::Tensor& key, const at::Tensor& beta, const std::optional<at::Tensor>& mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::hopfield_energy", "")
                       .typed<at::Tensor(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&)>();
  return op.call(state, key, beta, mask);
}

at::Tensor sparsemax(const at::Tensor& input, int64_t dim) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::sparsemax", "")
                       .typed<at::Tensor(const at::Tensor&, int64_t)>();
  return op.call(input, dim);
}

at::Tensor entmax15(const at::Tensor& input, int64_t dim) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::entmax15", "")
                       .typed<at::Tensor(const at::Tensor&, int64_t)>();
  return op.call(input, dim);
}

} // namespace statmech
