// fc_kernel_matmul: K(x1, x2) @ v, block by block over the rows of x1, so only a [block, M] slice
// of K exists at a time. Composite (CompositeImplicitAutograd): each block is an fc_kernel call
// and a GEMM, so autograd, every device and fake tensors come from those.

#include "ops/gp/fc_kernel.h"

#include "ops/common/checks.h"

#include <statmech/gp.h>

#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>

namespace statmech::gp {
namespace {

at::Tensor fc_kernel_matmul_composite(
    const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& v, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, c10::string_view activation,
    std::optional<double> activation_parameter, c10::string_view parameterization, double width,
    c10::string_view kernel, int64_t block_size) {
  constexpr const char* op = "fc_kernel_matmul";
  check_fc_kernel_inputs(
      op, x1, x2, sigma_w2, sigma_b2, depth, std::string(activation), activation_parameter,
      std::string(parameterization), width, true, true, false);
  TORCH_CHECK(kernel == "nngp" || kernel == "ntk", op, ": kernel must be 'nngp' or 'ntk', got '", kernel, "'");
  TORCH_CHECK(block_size >= 0, op, ": block_size must be >= 0 (0: automatic), got ", block_size);
  checks::floating(op, "v", v);
  TORCH_CHECK(v.dim() == 1 || v.dim() == 2, op, ": v must be 1-D [M] or 2-D [M, k], got ", v.dim(), "-D");
  const at::Tensor& columns = x2.has_value() ? *x2 : x1;
  checks::size(op, "v", v, 0, columns.sym_size(0), x2.has_value() ? "the number of rows x2.size(0)" : "the number of rows x1.size(0)");
  checks::same_dtype(op, "v", v, "x1", x1);
  checks::same_device(op, "v", v, "x1", x1);
  const int64_t n = x1.size(0);
  const int64_t m = columns.size(0);
  const bool nngp = kernel == "nngp";
  if (block_size == 0) {
    constexpr int64_t kBlockElements = int64_t{1} << 23; // 64 MiB of float64 kernel
    // At most 2^19 rows: a block is one fc_kernel call, and the CUDA kernel covers about 2^20 rows
    // of x1 per launch.
    constexpr int64_t kMaxBlockRows = int64_t{1} << 19;
    block_size = std::clamp<int64_t>(kBlockElements / std::max<int64_t>(m, 1), 1, kMaxBlockRows);
  }
  const at::Tensor rhs = v.dim() == 1 ? v.unsqueeze(1) : v;
  std::vector<at::Tensor> blocks;
  // At least one (possibly empty) block, so that an empty x1 still gives an output in the
  // autograd graph, as ATen's ops do.
  for (int64_t start = 0; start < n || blocks.empty(); start += block_size) {
    const at::Tensor rows = x1.slice(0, start, std::min(n, start + block_size));
    const at::Tensor k = fc_kernel(
        rows, columns, sigma_w2, sigma_b2, depth, std::string(activation), activation_parameter,
        std::string(parameterization), width, nngp, !nngp, false)[0];
    blocks.push_back(at::mm(k, rhs));
  }
  at::Tensor out = at::cat(blocks, 0);
  return v.dim() == 1 ? out.squeeze(1) : out;
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeImplicitAutograd, m) {
  m.impl("fc_kernel_matmul", &fc_kernel_matmul_composite);
}

} // namespace statmech::gp
