// Public C++ entry points of the classical binary Hopfield, dense associative memory and spin-glass
// operators (csrc/include/statmech/binary_hopfield.h). They call through the dispatcher.

#include <statmech/binary_hopfield.h>

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/GradMode.h>

namespace statmech {
namespace {

template <typename Signature>
c10::TypedOperatorHandle<Signature> find(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

using RunResult = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

} // namespace

at::Tensor binary_hopfield_store(const at::Tensor& patterns, const std::string& rule) {
  static auto op = find<at::Tensor(const at::Tensor&, c10::string_view)>("statmech::binary_hopfield_store");
  return op.call(patterns, rule);
}

at::Tensor binary_hopfield_energy(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold) {
  static auto op = find<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&)>(
      "statmech::binary_hopfield_energy");
  return op.call(state, weight, threshold);
}

BinaryHopfieldRun binary_hopfield_run(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold,
    const std::string& update, int64_t max_sweeps, std::optional<at::Generator> generator) {
  static auto op = find<RunResult(
      const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, c10::string_view, int64_t,
      std::optional<at::Generator>)>("statmech::binary_hopfield_run");
  auto [s, e, sweeps, converged] = op.call(state, weight, threshold, update, max_sweeps, std::move(generator));
  return {s, e, sweeps, converged};
}

std::tuple<at::Tensor, at::Tensor> binary_hopfield_glauber(
    const at::Tensor& state, const at::Tensor& weight, const std::vector<double>& temperatures,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator> generator) {
  static auto op = find<std::tuple<at::Tensor, at::Tensor>(
      const at::Tensor&, const at::Tensor&, at::ArrayRef<double>, const std::optional<at::Tensor>&,
      std::optional<at::Generator>)>("statmech::binary_hopfield_glauber");
  return op.call(state, weight, temperatures, threshold, std::move(generator));
}

ParallelTempering binary_hopfield_parallel_tempering(
    const at::Tensor& state, const at::Tensor& weight, const std::vector<double>& temperatures, int64_t sweeps,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator> generator) {
  static auto op = find<std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
      const at::Tensor&, const at::Tensor&, at::ArrayRef<double>, int64_t, const std::optional<at::Tensor>&,
      std::optional<at::Generator>)>("statmech::binary_hopfield_parallel_tempering");
  auto [s, e, best, best_e, rate] = op.call(state, weight, temperatures, sweeps, threshold, std::move(generator));
  return {s, e, best, best_e, rate};
}

at::Tensor spin_glass_couplings_(at::Tensor weight, const std::string& distribution, std::optional<at::Generator> generator) {
  static auto op =
      find<void(at::Tensor&, c10::string_view, std::optional<at::Generator>)>("statmech::spin_glass_couplings_");
  c10::NoGradGuard no_grad;
  op.call(weight, distribution, std::move(generator));
  return weight;
}

at::Tensor dense_memory_energy(
    const at::Tensor& state, const at::Tensor& patterns, const std::string& interaction, int64_t degree, double beta) {
  static auto op = find<at::Tensor(const at::Tensor&, const at::Tensor&, c10::string_view, int64_t, double)>(
      "statmech::dense_memory_energy");
  return op.call(state, patterns, interaction, degree, beta);
}

BinaryHopfieldRun dense_memory_run(
    const at::Tensor& state, const at::Tensor& patterns, const std::string& interaction, int64_t degree, double beta,
    int64_t max_sweeps, std::optional<at::Generator> generator) {
  static auto op = find<RunResult(
      const at::Tensor&, const at::Tensor&, c10::string_view, int64_t, double, int64_t,
      std::optional<at::Generator>)>("statmech::dense_memory_run");
  auto [s, e, sweeps, converged] =
      op.call(state, patterns, interaction, degree, beta, max_sweeps, std::move(generator));
  return {s, e, sweeps, converged};
}

} // namespace statmech
