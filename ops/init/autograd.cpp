// Autograd of the initialisers. A random draw has no derivative, so instead of recording a graph
// the Autograd kernel refuses a tensor that requires grad while grad mode is on (the C++ and
// Python wrappers run under no_grad, like torch.nn.init), then runs the kernel below autograd and
// bumps the version counter of the written tensor, so autograd detects a stale saved copy of it.
// (torch's autogradNotImplementedFallback skips ADInplaceOrView and would leave the version as is.)

#include "ops/init/init.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/GradMode.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <torch/library.h>

#include <string>

namespace statmech::init {
namespace {

using InitialiserSignature = void(at::Tensor&, double, std::optional<at::Generator>);

template <const char* kOp>
void initialiser_autograd(at::Tensor& tensor, double sigma_w2, std::optional<at::Generator> generator) {
  TORCH_CHECK(
      !(c10::GradMode::is_enabled() && tensor.defined() && tensor.requires_grad()), kOp,
      ": tensor requires grad and grad mode is enabled; an initialiser is not differentiable, so call it"
      " under torch.no_grad() (statmech.init.", kOp, " and statmech::init::", kOp, " do)");
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow((std::string("statmech::") + kOp).c_str(), "")
                       .typed<InitialiserSignature>();
  {
    at::AutoDispatchBelowADInplaceOrView guard;
    op.call(tensor, sigma_w2, std::move(generator));
  }
  if (tensor.defined() && !tensor.is_inference()) {
    tensor.unsafeGetTensorImpl()->bump_version();
  }
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Autograd, m) {
  m.impl("critical_normal_", &initialiser_autograd<kCriticalNormalOp>);
  m.impl("critical_uniform_", &initialiser_autograd<kCriticalUniformOp>);
  m.impl("critical_orthogonal_", &initialiser_autograd<kCriticalOrthogonalOp>);
  m.impl("delta_orthogonal_", &initialiser_autograd<kDeltaOrthogonalOp>);
}

} // namespace statmech::init
