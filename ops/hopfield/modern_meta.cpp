// Meta kernels of the separation operators: shapes only, with the real kernels' checks, so fake
// tensors (torch.compile, torch.export) see the same errors and shapes. The retrieval and energy
// operators are CompositeImplicitAutograd and need none: under fake tensors they decompose into
// ATen operators, which have their own.

#include "ops/hopfield/separation.h"

#include <ATen/ATen.h>
#include <torch/library.h>

namespace statmech::hopfield {
namespace {

at::Tensor sparsemax_meta(const at::Tensor& input, int64_t dim) {
  check_separation_input("sparsemax", input, dim);
  return at::empty_like(input);
}

at::Tensor entmax15_meta(const at::Tensor& input, int64_t dim) {
  check_separation_input("entmax15", input, dim);
  return at::empty_like(input);
}

at::Tensor sparsemax_backward_meta(const at::Tensor& grad, const at::Tensor& output, int64_t dim) {
  check_separation_backward("_sparsemax_backward", grad, output, dim);
  return at::empty_like(output);
}

at::Tensor entmax15_backward_meta(const at::Tensor& grad, const at::Tensor& output, int64_t dim) {
  check_separation_backward("_entmax15_backward", grad, output, dim);
  return at::empty_like(output);
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, Meta, m) {
  m.impl("sparsemax", &sparsemax_meta);
  m.impl("entmax15", &entmax15_meta);
  m.impl("_sparsemax_backward", &sparsemax_backward_meta);
  m.impl("_entmax15_backward", &entmax15_backward_meta);
}

} // namespace statmech::hopfield
