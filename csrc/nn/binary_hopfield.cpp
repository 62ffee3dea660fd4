// statmech::nn::BinaryHopfield and DenseAssociativeMemory: thin shells over the operators.

#include <statmech/nn/binary_hopfield.h>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <ostream>

namespace statmech::nn {

BinaryHopfieldImpl::BinaryHopfieldImpl(BinaryHopfieldOptions options_) : options(std::move(options_)) {
  TORCH_CHECK(options.num_neurons() >= 1, "BinaryHopfield: num_neurons must be >= 1, got ", options.num_neurons());
  TORCH_CHECK(
      options.rule() == "hebbian" || options.rule() == "storkey" || options.rule() == "pseudo_inverse",
      "BinaryHopfield: rule must be 'hebbian', 'storkey' or 'pseudo_inverse', got '", options.rule(), "'");
  TORCH_CHECK(
      options.update() == "async" || options.update() == "sync", "BinaryHopfield: update must be 'async' or 'sync', got '",
      options.update(), "'");
  reset();
}

void BinaryHopfieldImpl::reset() {
  const int64_t n = options.num_neurons();
  weight = register_buffer("weight", at::zeros({n, n}));
  threshold = register_buffer("threshold", at::zeros({n}));
}

void BinaryHopfieldImpl::reset_parameters() {
  c10::NoGradGuard no_grad;
  weight.zero_();
  threshold.zero_();
}

void BinaryHopfieldImpl::store(const at::Tensor& patterns) {
  c10::NoGradGuard no_grad;
  weight.copy_(binary_hopfield_store(patterns.to(weight.device()), options.rule()));
}

BinaryHopfieldRun BinaryHopfieldImpl::retrieve(const at::Tensor& state, std::optional<at::Generator> generator) {
  return binary_hopfield_run(state, weight, threshold, options.update(), options.max_sweeps(), std::move(generator));
}

at::Tensor BinaryHopfieldImpl::forward(const at::Tensor& state, std::optional<at::Generator> generator) {
  return retrieve(state, std::move(generator)).state;
}

at::Tensor BinaryHopfieldImpl::energy(const at::Tensor& state) {
  return binary_hopfield_energy(state, weight, threshold);
}

std::tuple<at::Tensor, at::Tensor> BinaryHopfieldImpl::sample(
    const at::Tensor& state, const std::vector<double>& temperatures, std::optional<at::Generator> generator) {
  return binary_hopfield_glauber(state, weight, temperatures, threshold, std::move(generator));
}

void BinaryHopfieldImpl::pretty_print(std::ostream& stream) const {
  stream << "statmech::nn::BinaryHopfield(num_neurons=" << options.num_neurons() << ", rule=" << options.rule()
         << ", update=" << options.update() << ", max_sweeps=" << options.max_sweeps() << ")";
}

DenseAssociativeMemoryImpl::DenseAssociativeMemoryImpl(DenseAssociativeMemoryOptions options_)
    : options(std::move(options_)) {
  TORCH_CHECK(
      options.num_neurons() >= 1, "DenseAssociativeMemory: num_neurons must be >= 1, got ", options.num_neurons());
  reset();
}

void DenseAssociativeMemoryImpl::reset() {
  patterns = register_buffer("patterns", at::zeros({0, options.num_neurons()}));
}

void DenseAssociativeMemoryImpl::reset_parameters() {
  c10::NoGradGuard no_grad;
  patterns.set_(at::zeros({0, options.num_neurons()}, patterns.options()));
}

void DenseAssociativeMemoryImpl::store(const at::Tensor& new_patterns) {
  TORCH_CHECK(
      new_patterns.dim() == 2 && new_patterns.size(1) == options.num_neurons(),
      "DenseAssociativeMemory::store: patterns must be [P, ", options.num_neurons(), "], got ", new_patterns.sizes());
  c10::NoGradGuard no_grad;
  // set_ keeps the registered buffer (the number of patterns is data, not a fixed shape).
  patterns.set_(at::where(new_patterns > 0, 1.0, -1.0).to(patterns.options()));
}

BinaryHopfieldRun DenseAssociativeMemoryImpl::retrieve(const at::Tensor& state, std::optional<at::Generator> generator) {
  return dense_memory_run(
      state, patterns, options.interaction(), options.degree(), options.beta(), options.max_sweeps(),
      std::move(generator));
}

at::Tensor DenseAssociativeMemoryImpl::forward(const at::Tensor& state, std::optional<at::Generator> generator) {
  return retrieve(state, std::move(generator)).state;
}

at::Tensor DenseAssociativeMemoryImpl::energy(const at::Tensor& state) {
  return dense_memory_energy(state, patterns, options.interaction(), options.degree(), options.beta());
}

void DenseAssociativeMemoryImpl::pretty_print(std::ostream& stream) const {
  stream << "statmech::nn::DenseAssociativeMemory(num_neurons=" << options.num_neurons()
         << ", interaction=" << options.interaction() << ", degree=" << options.degree() << ", beta=" << options.beta()
         << ", stored=" << patterns.size(0) << ")";
}

} // namespace statmech::nn
