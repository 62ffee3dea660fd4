#pragma once

// Input checks shared by every operator. They run once, at the operator boundary (the first
// kernel below autograd, and the meta kernel), and name the operator, the argument, what was
// expected and what was received. Shapes are compared as SymInts so the same checks run on fake
// tensors with symbolic shapes under torch.compile.

#include <ATen/core/Tensor.h>
#include <c10/core/SymBool.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace statmech::checks {

// ---- scalar arguments (the calculator, the dual activation, the initialisers) -----------------
// Variances are sigma^2; the messages say so, because sigma and sigma^2 are easy to mix up.

// `name` must be a positive, finite variance.
inline void positive_variance(const char* fn, const char* name, double value) {
  TORCH_CHECK(std::isfinite(value) && value > 0, fn, ": ", name,
              " must be a positive, finite variance (sigma^2, not sigma), got ", value);
}

// `name` must be a non-negative, finite variance.
inline void nonnegative_variance(const char* fn, const char* name, double value) {
  TORCH_CHECK(std::isfinite(value) && value >= 0, fn, ": ", name,
              " must be a non-negative, finite variance (sigma^2, not sigma), got ", value);
}

// `name` must be a correlation in [-1, 1].
inline void correlation(const char* fn, const char* name, double value) {
  TORCH_CHECK(value >= -1.0 && value <= 1.0, fn, ": ", name, " must be a correlation in [-1, 1], got ", value);
}

// `name` must be a probability in [0, 1) (a dropout rate: 1 would drop everything).
inline void dropout_rate(const char* fn, const char* name, double value) {
  TORCH_CHECK(value >= 0.0 && value < 1.0, fn, ": ", name,
              " must be a dropout probability p in [0, 1) (the fraction of units zeroed, as in nn.Dropout), got ",
              value);
}

// ---- tensor arguments of the operators ---------------------------------------------------------

// `name` must be a float32 or float64 tensor.
inline void floating(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": ", name, " must be a tensor, got an undefined tensor");
  TORCH_CHECK(
      t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
      op, ": ", name, " must be float32 or float64, got ", t.scalar_type(),
      " (convert it with .float() or .double())");
}

// `name` must have `dim` dimensions; `layout` describes them, e.g. "[batch, visible]".
inline void rank(const char* op, const char* name, const at::Tensor& t, int64_t dim, const char* layout) {
  TORCH_CHECK(
      t.dim() == dim, op, ": ", name, " must be ", dim, "-D ", layout, ", got ", t.dim(),
      "-D with shape ", t.sym_sizes());
}

// `name`.size(dim) must equal `expected`, which is the size of `what`.
inline void size(
    const char* op, const char* name, const at::Tensor& t, int64_t dim,
    const c10::SymInt& expected, const char* what) {
  TORCH_SYM_CHECK(
      t.sym_size(dim).sym_eq(expected), op, ": ", name, ".size(", dim, ") must equal ", what,
      " = ", expected, ", got shape ", t.sym_sizes());
}

// `name` must have the dtype of `ref_name`.
inline void same_dtype(
    const char* op, const char* name, const at::Tensor& t, const char* ref_name, const at::Tensor& ref) {
  TORCH_CHECK(
      t.scalar_type() == ref.scalar_type(), op, ": ", name, " has dtype ", t.scalar_type(),
      " but ", ref_name, " has dtype ", ref.scalar_type(), "; all tensors must share one dtype");
}

// `name` must be on the device of `ref_name`.
inline void same_device(
    const char* op, const char* name, const at::Tensor& t, const char* ref_name, const at::Tensor& ref) {
  TORCH_CHECK(
      t.device() == ref.device(), op, ": ", name, " is on ", t.device(), " but ", ref_name,
      " is on ", ref.device(), "; all tensors must be on one device");
}

// ---- host memory ------------------------------------------------------------------------------

// Refuses a host buffer larger than the machine's physical memory, naming the arguments that size
// it (`what`, e.g. "depth = 1000000000 keeps depth + 1 variances for each of 6 rows"). Past that
// size an allocation can still succeed (Linux overcommits) and the process is then killed while
// filling it, instead of raising an error that says why.
inline void fits_in_host_memory(const char* op, double bytes, const std::string& what) {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  const double physical = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE));
  TORCH_CHECK(!(physical > 0) || bytes <= physical, op, ": ", what, " ", bytes / 1e9,
              " GB, more than this machine's ", physical / 1e9, " GB of memory");
#else
  (void)op, (void)bytes, (void)what;
#endif
}

} // namespace statmech::checks
