// Haar-distributed matrices with orthonormal rows or columns, shared by critical_orthogonal_ and
// delta_orthogonal_. Pure ATen, so the draw and the QR run on the tensor's own device.

#include "ops/init/init.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace statmech::init {

at::Tensor scaled_haar_orthogonal(
    int64_t rows, int64_t cols, double sigma_w2, std::optional<at::Generator> generator,
    const at::TensorOptions& options) {
  const auto dtype = at::promote_types(options.dtype().toScalarType(), at::kFloat);
  const int64_t tall = std::max(rows, cols);
  const int64_t narrow = std::min(rows, cols);
  // Q of a Gaussian matrix is Haar-distributed only once the sign ambiguity of QR is fixed: LAPACK
  // does not promise a positive diagonal of R, so each column of Q takes the sign of R's diagonal
  // (Mezzadri 2007). A zero diagonal has probability zero; it keeps its column as is.
  const auto gaussian = at::randn({tall, narrow}, generator, options.dtype(dtype));
  auto [q, r] = at::linalg_qr(gaussian, "reduced");
  auto signs = r.diagonal().sign();
  signs.masked_fill_(signs.eq(0), 1);
  q.mul_(signs);
  // Orthonormal columns of a tall Q have mean squared row norm narrow / tall; the factor rows / cols
  // for rows > cols restores the per-entry variance sigma_w2 / cols of critical_normal_.
  const double scale = std::sqrt(sigma_w2 * std::max(1.0, static_cast<double>(rows) / static_cast<double>(cols)));
  q.mul_(scale);
  return rows < cols ? q.t() : q;
}

} // namespace statmech::init
