// Autograd of sparsemax and entmax15, in C++ so LibTorch-only programs (and the C++ Hopfield
// modules) train through them. Both backward passes need only the output, which is saved; the
// backward is the private operator _sparsemax_backward / _entmax15_backward (separation.cpp), so
// torch.compile and torch.export see it. Second derivatives are not implemented and say so.

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/library.h>

namespace statmech::hopfield {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using UnaryFn = at::Tensor(const at::Tensor&, int64_t);
using BackwardFn = at::Tensor(const at::Tensor&, const at::Tensor&, int64_t);

c10::TypedOperatorHandle<UnaryFn> forward_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<UnaryFn>();
}

c10::TypedOperatorHandle<BackwardFn> backward_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<BackwardFn>();
}

template <const char* kForward, const char* kBackward>
class SeparationFunction : public torch::autograd::Function<SeparationFunction<kForward, kBackward>> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, int64_t dim) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static const auto op = forward_op(kForward);
    at::Tensor output = op.call(input, dim);
    ctx->save_for_backward({output});
    ctx->saved_data["dim"] = dim;
    return output;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    static const auto op = backward_op(kBackward);
    const auto saved = ctx->get_saved_variables();
    return {op.call(grad_outputs[0], saved[0], ctx->saved_data["dim"].toInt()), at::Tensor()};
  }
};

constexpr char kSparsemax[] = "statmech::sparsemax";
constexpr char kSparsemaxBackward[] = "statmech::_sparsemax_backward";
constexpr char kEntmax15[] = "statmech::entmax15";
constexpr char kEntmax15Backward[] = "statmech::_entmax15_backward";

at::Tensor sparsemax_autograd(const at::Tensor& input, int64_t dim) {
  return SeparationFunction<kSparsemax, kSparsemaxBackward>::apply(input, dim);
}

at::Tensor entmax15_autograd(const at::Tensor& input, int64_t dim) {
  return SeparationFunction<kEntmax15, kEntmax15Backward>::apply(input, dim);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("sparsemax", &sparsemax_autograd);
  m.impl("entmax15", &entmax15_autograd);
  m.impl("_sparsemax_backward", torch::autograd::autogradNotImplementedFallback());
  m.impl("_entmax15_backward", torch::autograd::autogradNotImplementedFallback());
}

} // namespace statmech::hopfield
