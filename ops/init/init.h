#pragma once

// Internals of the initialisers (critical_normal_, critical_orthogonal_, delta_orthogonal_),
// shared by their composite kernels and meta kernels.
//
// Every initialiser writes a weight in PyTorch's [out, in, kernel...] layout and reads sigma_w2 as
// the variance of the mean-field q-map q' = sigma_w2 E[phi(h)^2] + sigma_b2, so one critical
// sigma_w2 means the same thing for all three. The checks are SymInt-safe so the meta kernels run
// them on fake tensors with symbolic shapes.

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <optional>

namespace statmech::init {

inline constexpr char kCriticalNormalOp[] = "critical_normal_";
inline constexpr char kCriticalUniformOp[] = "critical_uniform_";
inline constexpr char kCriticalOrthogonalOp[] = "critical_orthogonal_";
inline constexpr char kDeltaOrthogonalOp[] = "delta_orthogonal_";

// `tensor` is a defined floating-point tensor with at least 2 dimensions [out, in, kernel...].
void check_weight(const char* op, const at::Tensor& tensor);
// sigma_w2 is a finite, positive variance.
void check_sigma_w2(const char* op, double sigma_w2);
// The weights the initialiser writes, of typical magnitude `typical` and at most `largest`, fit
// the tensor's dtype: `largest` finite there and `typical` no smaller than its smallest normal
// number times sqrt(epsilon) (else they would be +-inf, or subnormal with few bits and then 0:
// float32 from sigma_w2 ~ 1e77 and below ~1e-82 at fan_in ~ 100).
void check_weight_scale(const char* op, const at::Tensor& tensor, double sigma_w2, double typical, double largest);
// check_weight, plus: 3-5-D [out, in, k...], every k odd, in <= out.
void check_conv_weight_for_delta(const at::Tensor& tensor);

// A [rows, cols] matrix drawn from the Haar measure on matrices with orthonormal rows
// (rows <= cols) or orthonormal columns (rows > cols), scaled so that ||W||_F^2 = sigma_w2 * rows:
// the variance-per-entry sigma_w2 / cols of critical_normal_, with W W^T = sigma_w2 I for
// rows <= cols and W^T W = sigma_w2 (rows / cols) I otherwise (then |W x|^2 / rows equals
// sigma_w2 |x|^2 / cols for every x, the q-map exactly). Computed in `options`' dtype promoted
// to at least float32 (QR has no half-precision kernels) on `options`' device.
at::Tensor scaled_haar_orthogonal(
    int64_t rows, int64_t cols, double sigma_w2, std::optional<at::Generator> generator,
    const at::TensorOptions& options);

} // namespace statmech::init
