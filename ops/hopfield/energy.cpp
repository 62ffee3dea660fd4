// hopfield_energy: the energy of the modern Hopfield network, Ramsauer et al. 2020, eq. 2,
//
//   E(xi) = -lse(beta, K xi) + 1/2 xi^T xi + beta^-1 log N + 1/2 M^2,
//   lse(beta, x) = beta^-1 log sum_i exp(beta x_i),   M = max_i ||k_i||,
//
// per state pattern xi. The retrieval update xi <- softmax(beta K xi)^T K is the concave-convex
// procedure on it, so it never increases E (their theorem 1); the last two terms make E >= 0 and
// do not depend on xi. With a mask only the patterns that take part enter the sum, N and M: a bool
// mask selects them, a float mask m adds m_i to beta k_i.xi and N becomes sum_i exp(m_i) (their
// count for a 0 / -inf mask).
//
// CompositeImplicitAutograd (ATen's logsumexp, matmul and reductions), so its gradient with
// respect to the state, the stored patterns and beta, and its meta / fake behaviour, come from
// ATen.

#include "ops/hopfield/retrieval.h"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <limits>

namespace statmech::hopfield {
namespace {

at::Tensor hopfield_energy(
    const at::Tensor& state, const at::Tensor& key, const at::Tensor& beta, const std::optional<at::Tensor>& mask) {
  check_patterns("hopfield_energy", "state", state, key, nullptr, beta, mask);
  // log sum_i exp(.) and log N over no stored pattern: -inf - (-inf), undefined.
  TORCH_SYM_CHECK(
      key.sym_size(-2).sym_gt(0), "hopfield_energy: key must hold at least one stored pattern (S >= 1; the energy's ",
      "log-sum-exp over no pattern is undefined), got key shape ", key.sym_sizes());
  at::Tensor b = beta.to(state.scalar_type());
  if (b.dim() == 1) {
    b = b.unsqueeze(-1); // [heads, 1], broadcast over [..., heads, L]
  }
  // lse(beta, x) = M + beta^-1 log sum_i exp(beta (x_i - M)), x = K xi (+ mask / beta), M = max_i x_i
  // (held constant for autograd: the M terms cancel): beta x itself overflowed where the energy
  // does not (float32: NaN from beta |k| |xi| ~ 1e38, e.g. beta = 1e4 with norms ~1e17).
  const at::Tensor b_scores = b.dim() == 0 ? b : b.unsqueeze(-1); // [heads, 1, 1] against [..., heads, L, S]
  // A float mask m enters as m / beta, so that beta x still adds m.
  const bool additive = mask.has_value() && mask->defined() && mask->scalar_type() != at::kBool;
  const at::Tensor x = apply_mask(
      at::matmul(state, key.transpose(-2, -1)), additive ? std::optional<at::Tensor>(*mask / b_scores) : mask);
  const at::Tensor top = x.detach().amax(-1, /*keepdim=*/true);
  const at::Tensor shift = at::where(top.isfinite(), top, at::zeros_like(top)); // all masked: lse = -inf
  const at::Tensor lse = shift.squeeze(-1) + at::logsumexp((x - shift) * b_scores, {-1}) / b;
  const at::Tensor half_norm = 0.5 * (state * state).sum(-1);
  const at::Tensor key_norm = (key * key).sum(-1).unsqueeze(-2); // [..., 1, S]
  at::Tensor log_count, max_norm;
  const bool masked = mask.has_value() && mask->defined();
  if (!masked) {
    log_count = at::logsumexp(at::zeros_like(key_norm), {-1}); // log S, shape-generic
    max_norm = key_norm.amax(-1);
  } else {
    const at::Tensor zeros = at::zeros_like(x);
    at::Tensor takes_part;
    if (mask->scalar_type() == at::kBool) {
      takes_part = mask->logical_and(zeros == 0); // broadcast to [..., L, S]
      log_count = at::log(takes_part.sum(-1).to(state.scalar_type()));
    } else {
      takes_part = (*mask + zeros) > -std::numeric_limits<double>::infinity();
      log_count = at::logsumexp(*mask + zeros, {-1});
    }
    max_norm = at::where(takes_part, key_norm, 0.0).amax(-1);
  }
  return -lse + half_norm + log_count / b + 0.5 * max_norm;
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeImplicitAutograd, m) {
  m.impl("hopfield_energy", &hopfield_energy);
}

} // namespace statmech::hopfield
