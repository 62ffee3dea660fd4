// sparsemax and entmax15 along one dimension, and their vector-Jacobian products.
//
// Both are Euclidean / Tsallis projections onto the probability simplex solved exactly by
// sorting (Martins & Astudillo 2016; Peters, Niculae & Martins 2019), the separation maps of the
// sparse modern Hopfield model (Hu et al. 2023). Written with ATen operators (sort, cumsum,
// gather), so one CompositeExplicitAutograd implementation serves every device; autograd is in
// separation_autograd.cpp, meta kernels in modern_meta.cpp.
//
// sparsemax(z) = [z - tau]_+ with tau from the support size k* = max{k : 1 + k z_(k) > sum_{j<=k} z_(j)}.
// entmax15(z)  = [z/2 - tau]_+^2 with tau the root of sum_i [z_i/2 - tau]_+^2 = 1; for the sorted
//   u = z/2 and support size k, tau_k = mean_k - sqrt((1 - k (meansq_k - mean_k^2)) / k), and the
//   support is the largest k with tau_k <= u_(k).
// Both are translation invariant, so the maximum is subtracted first. Entries at -inf (masked
// scores) get exactly zero weight: they sort last and never enter the support, and the NaNs they
// cause in the cumulative sums beyond the support are never selected. A row with no finite entry
// gets all zeros (scaled_dot_product_attention's convention), and so does its gradient.
//
// Backward, from the output y alone:
//   sparsemax: dz = s * (g - <s, g> / |s|),   s = 1[y > 0]
//   entmax15:  dz = r * g - r <r, g> / sum(r), r = sqrt(y)

#include "ops/hopfield/separation.h"

#include <ATen/ATen.h>
#include <ATen/WrapDimUtils.h>
#include <torch/library.h>

#include <limits>

namespace statmech::hopfield {

int64_t check_separation_input(const char* op, const at::Tensor& input, int64_t dim) {
  TORCH_CHECK(input.defined(), op, ": input must be a tensor");
  TORCH_CHECK(
      at::isFloatingType(input.scalar_type()), op, ": input must have a floating dtype, got ", input.scalar_type());
  TORCH_CHECK(input.dim() >= 1, op, ": input must be at least 1-D, got a 0-D tensor");
  return at::maybe_wrap_dim(dim, input.dim());
}

int64_t check_separation_backward(const char* op, const at::Tensor& grad, const at::Tensor& output, int64_t dim) {
  const int64_t wrapped = check_separation_input(op, output, dim);
  TORCH_CHECK(
      grad.sym_sizes() == output.sym_sizes(), op, ": grad must have the shape of output ", output.sym_sizes(),
      ", got ", grad.sym_sizes());
  TORCH_CHECK(
      grad.scalar_type() == output.scalar_type(), op, ": grad has dtype ", grad.scalar_type(), " but output has ",
      output.scalar_type());
  TORCH_CHECK(grad.device() == output.device(), op, ": grad is on ", grad.device(), " but output is on ", output.device());
  return wrapped;
}

namespace {

// Rows whose every entry is -inf (a query with every stored pattern masked out): they get all-zero
// weights, as in scaled_dot_product_attention, instead of NaN.
at::Tensor fully_masked(const at::Tensor& row_max) {
  return row_max == -std::numeric_limits<double>::infinity();
}

// 1, 2, ..., n laid out along `dim` of a tensor with `dims` dimensions.
at::Tensor ranks_along(int64_t n, int64_t dim, int64_t dims, const at::TensorOptions& options) {
  std::vector<int64_t> shape(dims, 1);
  shape[dim] = n;
  return at::arange(1, n + 1, options).view(shape);
}

at::Tensor sparsemax_kernel(const at::Tensor& input, int64_t dim) {
  dim = check_separation_input("sparsemax", input, dim);
  if (input.numel() == 0) {
    return at::empty_like(input);
  }
  const at::Tensor top = std::get<0>(input.max(dim, /*keepdim=*/true));
  const at::Tensor z = input - top;
  const at::Tensor sorted = std::get<0>(z.sort(dim, /*descending=*/true));
  const at::Tensor cumulative = sorted.cumsum(dim);
  const at::Tensor k = ranks_along(input.size(dim), dim, input.dim(), z.options());
  // >= 1 on every row with a finite entry; clamped for the rows without (NaN here, zeroed below)
  const at::Tensor support = (1 + k * sorted > cumulative).sum(dim, /*keepdim=*/true).clamp_min(1);
  const at::Tensor tau = (cumulative.gather(dim, support - 1) - 1) / support.to(z.scalar_type());
  return (z - tau).clamp_min(0).masked_fill(fully_masked(top), 0);
}

at::Tensor entmax15_kernel(const at::Tensor& input, int64_t dim) {
  dim = check_separation_input("entmax15", input, dim);
  if (input.numel() == 0) {
    return at::empty_like(input);
  }
  const at::Tensor top = std::get<0>(input.max(dim, /*keepdim=*/true));
  const at::Tensor u = (input - top) / 2;
  const at::Tensor sorted = std::get<0>(u.sort(dim, /*descending=*/true));
  const at::Tensor k = ranks_along(input.size(dim), dim, input.dim(), u.options());
  const at::Tensor mean = sorted.cumsum(dim) / k;
  const at::Tensor mean_square = (sorted * sorted).cumsum(dim) / k;
  const at::Tensor spread = (1 - k * (mean_square - mean * mean)) / k;
  const at::Tensor tau = mean - spread.clamp_min(0).sqrt();
  // >= 1 on rows with a finite entry (tau_1 = u_(1) - 1); clamped for the rows without
  const at::Tensor support = (tau <= sorted).sum(dim, /*keepdim=*/true).clamp_min(1);
  const at::Tensor tau_star = tau.gather(dim, support - 1);
  const at::Tensor y = (u - tau_star).clamp_min(0);
  return (y * y).masked_fill(fully_masked(top), 0);
}

at::Tensor sparsemax_backward_kernel(const at::Tensor& grad, const at::Tensor& output, int64_t dim) {
  dim = check_separation_backward("_sparsemax_backward", grad, output, dim);
  if (output.numel() == 0) {
    return at::empty_like(output);
  }
  const at::Tensor support = (output > 0).to(grad.scalar_type());
  const at::Tensor count = support.sum(dim, /*keepdim=*/true);
  const at::Tensor mean = (grad * support).sum(dim, /*keepdim=*/true) / count.masked_fill(count == 0, 1);
  return support * (grad - mean);
}

at::Tensor entmax15_backward_kernel(const at::Tensor& grad, const at::Tensor& output, int64_t dim) {
  dim = check_separation_backward("_entmax15_backward", grad, output, dim);
  if (output.numel() == 0) {
    return at::empty_like(output);
  }
  const at::Tensor root = output.sqrt();
  const at::Tensor weighted = grad * root;
  const at::Tensor total = root.sum(dim, /*keepdim=*/true);
  const at::Tensor shift = weighted.sum(dim, /*keepdim=*/true) / total.masked_fill(total == 0, 1);
  return weighted - shift * root;
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeExplicitAutograd, m) {
  m.impl("sparsemax", &sparsemax_kernel);
  m.impl("entmax15", &entmax15_kernel);
  m.impl("_sparsemax_backward", &sparsemax_backward_kernel);
  m.impl("_entmax15_backward", &entmax15_backward_kernel);
}

} // namespace statmech::hopfield
