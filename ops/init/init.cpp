// Public C++ entry points of the initialisers (csrc/include/statmech/init.h). They call through
// the dispatcher under NoGradGuard, as torch::nn::init does, and return the written tensor.

#include <statmech/init.h>

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/GradMode.h>

namespace statmech::init {
namespace {

using InitialiserSignature = void(at::Tensor&, double, std::optional<at::Generator>);

c10::TypedOperatorHandle<InitialiserSignature> find_initialiser(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<InitialiserSignature>();
}

} // namespace

at::Tensor critical_normal_(at::Tensor tensor, double sigma_w2, std::optional<at::Generator> generator) {
  static auto op = find_initialiser("statmech::critical_normal_");
  c10::NoGradGuard no_grad;
  op.call(tensor, sigma_w2, std::move(generator));
  return tensor;
}

at::Tensor critical_uniform_(at::Tensor tensor, double sigma_w2, std::optional<at::Generator> generator) {
  static auto op = find_initialiser("statmech::critical_uniform_");
  c10::NoGradGuard no_grad;
  op.call(tensor, sigma_w2, std::move(generator));
  return tensor;
}

at::Tensor critical_orthogonal_(at::Tensor tensor, double sigma_w2, std::optional<at::Generator> generator) {
  static auto op = find_initialiser("statmech::critical_orthogonal_");
  c10::NoGradGuard no_grad;
  op.call(tensor, sigma_w2, std::move(generator));
  return tensor;
}

at::Tensor delta_orthogonal_(at::Tensor tensor, double sigma_w2, std::optional<at::Generator> generator) {
  static auto op = find_initialiser("statmech::delta_orthogonal_");
  c10::NoGradGuard no_grad;
  op.call(tensor, sigma_w2, std::move(generator));
  return tensor;
}

} // namespace statmech::init
