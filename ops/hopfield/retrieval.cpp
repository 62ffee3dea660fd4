// hopfield_retrieval and hopfield_retrieval_explicit: modern Hopfield retrieval (Ramsauer et al.
// 2020, eq. 3 iterated), xi <- sep(beta xi K^T + mask) K, then output = sep(beta xi K^T + mask) V.
//
// Both are CompositeImplicitAutograd: they are compositions of ATen operators (and of our
// sparsemax / entmax15, which have their own C++ autograd), so
//   - the softmax path is one at::scaled_dot_product_attention call per step (the state update
//     is attention with values = keys), and the GPU gets the fused flash / memory-efficient
//     kernels, forward and backward;
//   - autograd, meta / fake tensors, torch.compile and torch.export see the ATen operators, so
//     no separate backward or meta kernel is needed and none could be faster;
//   - a per-head, learnable or on-device beta is folded into the state (xi * beta, then
//     scale = 1), so it needs no host sync and gets its gradient; a constant 0-D CPU beta is
//     passed to the kernel as its scale (see attention_step).
// With eps > 0 a query whose state moved by less than eps is frozen (torch.where), so the fixed
// number of steps is always run without reading values on the host; on CPU tensors (where
// reading a flag costs nothing) the loop also exits once every query is frozen.

#include "ops/hopfield/retrieval.h"

#include <statmech/modern_hopfield.h>

#include <ATen/ATen.h>
#include <c10/core/DispatchKeySet.h>
#include <torch/library.h>

#include <limits>
#include <tuple>

namespace statmech::hopfield {

Separation parse_separation(const char* op, c10::string_view name) {
  if (name == "softmax") {
    return Separation::softmax;
  }
  if (name == "sparsemax") {
    return Separation::sparsemax;
  }
  if (name == "entmax15") {
    return Separation::entmax15;
  }
  TORCH_CHECK(false, op, ": separation must be \"softmax\", \"sparsemax\" or \"entmax15\", got \"", name, "\"");
}

namespace {

// True when the tensor holds real values that can be read on the host (not a meta / fake /
// functional / vmapped tensor, as under torch.compile, torch.export or torch.func).
bool has_readable_values(const at::Tensor& t) {
  constexpr c10::DispatchKeySet traced({
      c10::DispatchKey::Python,
      c10::DispatchKey::PythonTLSSnapshot,
      c10::DispatchKey::Functionalize,
      c10::DispatchKey::FuncTorchBatched,
      c10::DispatchKey::FuncTorchGradWrapper,
  });
  return !t.is_meta() && !t.key_set().has_any(traced) &&
      !t.unsafeGetTensorImpl()->has_symbolic_sizes_strides();
}

void check_scalar_arguments(const char* op, int64_t update_steps, double eps, double dropout_p) {
  TORCH_CHECK(update_steps >= 0, op, ": update_steps must be >= 0, got ", update_steps);
  TORCH_CHECK(eps >= 0, op, ": eps must be >= 0 (0 runs every step), got ", eps);
  TORCH_CHECK(dropout_p >= 0 && dropout_p < 1, op, ": dropout_p must be in [0, 1), got ", dropout_p);
}

} // namespace

void check_patterns(
    const char* op,
    const char* query_name,
    const at::Tensor& query,
    const at::Tensor& key,
    const at::Tensor* value,
    const at::Tensor& beta,
    const std::optional<at::Tensor>& mask) {
  TORCH_CHECK(query.defined() && key.defined() && beta.defined(), op, ": ", query_name, ", key and beta must be tensors");
  TORCH_CHECK(
      at::isFloatingType(query.scalar_type()), op, ": ", query_name, " must have a floating dtype, got ",
      query.scalar_type());
  const int64_t dim = query.dim();
  TORCH_CHECK(
      dim >= 2, op, ": ", query_name, " must be at least 2-D [..., L, E], got ", dim, "-D with shape ",
      query.sym_sizes());
  TORCH_CHECK(
      key.dim() == dim, op, ": key must be ", dim, "-D [..., S, E] like ", query_name, ", got ", key.dim(),
      "-D with shape ", key.sym_sizes());
  TORCH_CHECK(
      key.scalar_type() == query.scalar_type(), op, ": key has dtype ", key.scalar_type(), " but ", query_name,
      " has dtype ", query.scalar_type());
  TORCH_CHECK(
      key.device() == query.device(), op, ": key is on ", key.device(), " but ", query_name, " is on ",
      query.device());
  TORCH_SYM_CHECK(
      key.sym_size(-1).sym_eq(query.sym_size(-1)), op, ": key.size(-1) must equal the pattern (head) dimension ",
      query_name, ".size(-1) = ", query.sym_size(-1), ", got key shape ", key.sym_sizes());
  for (int64_t d = 0; d < dim - 2; ++d) {
    TORCH_SYM_CHECK(
        key.sym_size(d).sym_eq(query.sym_size(d)), op, ": key.size(", d, ") must equal ", query_name, ".size(", d,
        ") = ", query.sym_size(d), " (batch and head dimensions must match), got key shape ", key.sym_sizes());
  }
  if (value != nullptr) {
    const at::Tensor& v = *value;
    TORCH_CHECK(v.defined(), op, ": value must be a tensor");
    TORCH_CHECK(
        v.dim() == dim, op, ": value must be ", dim, "-D [..., S, Ev] like ", query_name, ", got ", v.dim(),
        "-D with shape ", v.sym_sizes());
    TORCH_CHECK(
        v.scalar_type() == query.scalar_type(), op, ": value has dtype ", v.scalar_type(), " but ", query_name,
        " has dtype ", query.scalar_type());
    TORCH_CHECK(
        v.device() == query.device(), op, ": value is on ", v.device(), " but ", query_name, " is on ",
        query.device());
    TORCH_SYM_CHECK(
        v.sym_size(-2).sym_eq(key.sym_size(-2)), op, ": value.size(-2) must equal the number of stored patterns key.size(-2) = ",
        key.sym_size(-2), ", got value shape ", v.sym_sizes());
    for (int64_t d = 0; d < dim - 2; ++d) {
      TORCH_SYM_CHECK(
          v.sym_size(d).sym_eq(query.sym_size(d)), op, ": value.size(", d, ") must equal ", query_name, ".size(",
          d, ") = ", query.sym_size(d), ", got value shape ", v.sym_sizes());
    }
  }

  TORCH_CHECK(
      at::isFloatingType(beta.scalar_type()), op, ": beta must have a floating dtype, got ", beta.scalar_type());
  TORCH_CHECK(
      beta.dim() <= 1, op, ": beta must be 0-D (one inverse temperature) or 1-D [heads], got shape ",
      beta.sym_sizes());
  if (beta.dim() == 1) {
    TORCH_CHECK(
        dim >= 3, op, ": a per-head beta [heads] needs ", query_name, " of shape [..., heads, L, E], got ",
        query_name, " shape ", query.sym_sizes());
    TORCH_SYM_CHECK(
        beta.sym_size(0).sym_eq(query.sym_size(-3)), op, ": beta.size(0) must equal the number of heads ",
        query_name, ".size(-3) = ", query.sym_size(-3), ", got beta shape ", beta.sym_sizes());
  }
  TORCH_CHECK(
      beta.device() == query.device() || (beta.dim() == 0 && beta.is_cpu()), op, ": beta is on ", beta.device(),
      " but ", query_name, " is on ", query.device(), " (only a 0-D beta may stay on the CPU)");
  if (beta.is_cpu() && has_readable_values(beta)) {
    // Read on the host only where that costs no device sync; a CUDA beta is not checked.
    TORCH_CHECK(
        (beta > 0).all().item<bool>(), op, ": beta must be > 0 (an inverse temperature), got ",
        beta.dim() == 0 ? beta.item<double>() : beta.min().item<double>(), beta.dim() == 0 ? "" : " (smallest entry)");
  }

  if (mask.has_value() && mask->defined()) {
    const at::Tensor& m = *mask;
    TORCH_CHECK(
        m.scalar_type() == at::kBool || m.scalar_type() == query.scalar_type(), op,
        ": mask must be bool (True = takes part) or have ", query_name, "'s dtype ", query.scalar_type(),
        " (added to the scores), got ", m.scalar_type());
    TORCH_CHECK(
        m.device() == query.device(), op, ": mask is on ", m.device(), " but ", query_name, " is on ",
        query.device());
    TORCH_CHECK(
        m.dim() <= dim, op, ": mask must be broadcastable to [..., L, S] with at most ", dim, " dimensions, got ",
        m.dim(), "-D with shape ", m.sym_sizes());
    for (int64_t i = 1; i <= m.dim(); ++i) {
      const c10::SymInt target = i == 1 ? key.sym_size(-2) : query.sym_size(-i);
      const c10::SymInt& got = m.sym_size(-i);
      TORCH_SYM_CHECK(
          got.sym_eq(1).sym_or(got.sym_eq(target)), op, ": mask of shape ", m.sym_sizes(),
          " is not broadcastable to the scores [..., L, S]: mask.size(", -i, ") must be 1 or ", target,
          " (", i == 1 ? "S, the number of stored patterns" : (i == 2 ? "L, the number of queries" : "a batch or head dimension"),
          ")");
    }
  }
}

at::Tensor scale_by_beta(const at::Tensor& xi, const at::Tensor& beta) {
  const at::Tensor b = beta.to(xi.scalar_type());
  return b.dim() == 0 ? xi * b : xi * b.unsqueeze(-1).unsqueeze(-1);
}

at::Tensor apply_mask(at::Tensor scores, const std::optional<at::Tensor>& mask) {
  if (!mask.has_value() || !mask->defined()) {
    return scores;
  }
  if (mask->scalar_type() == at::kBool) {
    return scores.masked_fill(mask->logical_not(), -std::numeric_limits<double>::infinity());
  }
  return scores + *mask;
}

at::Tensor association_scores(
    const at::Tensor& xi, const at::Tensor& key, const at::Tensor& beta, const std::optional<at::Tensor>& mask) {
  return apply_mask(at::matmul(scale_by_beta(xi, beta), key.transpose(-2, -1)), mask);
}

at::Tensor separate(const at::Tensor& scores, Separation separation) {
  switch (separation) {
    case Separation::softmax:
      // all-zero weights for a query whose every stored pattern is masked out, as the fused
      // scaled_dot_product_attention kernels give, instead of NaN
      return at::_safe_softmax(scores, -1);
    case Separation::sparsemax:
      return statmech::sparsemax(scores, -1);
    case Separation::entmax15:
      return statmech::entmax15(scores, -1);
  }
  TORCH_INTERNAL_ASSERT(false, "unknown separation");
}

namespace {

// scaled_dot_product_attention wants a mask with the two score dimensions; a 1-D [S] mask (one
// flag per stored pattern) gets a leading 1.
std::optional<at::Tensor> as_score_mask(const std::optional<at::Tensor>& mask) {
  if (!mask.has_value() || !mask->defined()) {
    return std::nullopt;
  }
  return mask->dim() >= 2 ? *mask : mask->dim() == 1 ? mask->unsqueeze(0) : mask->view({1, 1});
}

// One softmax step sep(beta xi K^T + mask) V on at::scaled_dot_product_attention. A 0-D CPU beta
// that needs no gradient is read on the host (no device sync: it lives on the CPU) and passed as
// the kernel's scale; otherwise beta is folded into the state, which keeps it differentiable and
// traceable (per head, learned, on the device, or a fake tensor under torch.compile).
at::Tensor attention_step(
    const at::Tensor& xi, const at::Tensor& key, const at::Tensor& value, const at::Tensor& beta,
    const std::optional<at::Tensor>& mask, double dropout_p) {
  if (beta.dim() == 0 && beta.is_cpu() && !beta.requires_grad() && has_readable_values(beta)) {
    return at::scaled_dot_product_attention(xi, key, value, mask, dropout_p, false, beta.item<double>());
  }
  return at::scaled_dot_product_attention(scale_by_beta(xi, beta), key, value, mask, dropout_p, false, 1.0);
}

// update_steps applications of xi <- sep(beta xi K^T + mask) K, queries frozen once they move by
// less than eps (eps > 0). Never returns `query` itself (a custom op must not alias its inputs).
at::Tensor update_states(
    const at::Tensor& query, const at::Tensor& key, const at::Tensor& beta, const std::optional<at::Tensor>& mask,
    int64_t update_steps, double eps, Separation separation) {
  at::Tensor xi = query;
  at::Tensor active; // [..., L, 1], defined once eps > 0 and a step has run
  const bool freeze = eps > 0;
  const bool may_exit = freeze && query.is_cpu() && has_readable_values(query);
  for (int64_t step = 0; step < update_steps; ++step) {
    at::Tensor next = separation == Separation::softmax
        ? attention_step(xi, key, key, beta, mask, 0.0)
        : at::matmul(separate(association_scores(xi, key, beta, mask), separation), key);
    if (freeze) {
      if (active.defined()) {
        next = at::where(active, next, xi);
      }
      const at::Tensor moved = at::linalg_vector_norm((next - xi).detach(), 2, {-1}, /*keepdim=*/true);
      const at::Tensor still_moving = moved >= eps;
      active = active.defined() ? active.logical_and(still_moving) : still_moving;
      xi = next;
      if (may_exit && !active.any().item<bool>()) {
        break;
      }
    } else {
      xi = next;
    }
  }
  return xi.is_same(query) ? query.clone() : xi;
}

// Inverted dropout, as at::dropout in training, with the keep mask drawn from `generator` when
// one is given (at::dropout always draws from the default generator).
at::Tensor association_dropout(const at::Tensor& association, double p, const std::optional<at::Generator>& generator) {
  if (p == 0) {
    return association;
  }
  if (!generator.has_value()) {
    return at::dropout(association, p, /*train=*/true);
  }
  const at::Tensor keep = at::empty_like(association).bernoulli_(1 - p, generator);
  return association * keep * (1 / (1 - p));
}

at::Tensor hopfield_retrieval(
    const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, const at::Tensor& beta,
    int64_t update_steps, double eps, const std::optional<at::Tensor>& mask_argument,
    c10::string_view separation_name, double dropout_p, std::optional<at::Generator> generator) {
  constexpr const char* op = "hopfield_retrieval";
  check_patterns(op, "query", query, key, &value, beta, mask_argument);
  check_scalar_arguments(op, update_steps, eps, dropout_p);
  const Separation separation = parse_separation(op, separation_name);
  const std::optional<at::Tensor> mask = as_score_mask(mask_argument);
  const at::Tensor xi = update_steps == 0 ? query : update_states(query, key, beta, mask, update_steps, eps, separation);
  if (separation == Separation::softmax && !(dropout_p > 0 && generator.has_value())) {
    return attention_step(xi, key, value, beta, mask, dropout_p);
  }
  const at::Tensor association = separate(association_scores(xi, key, beta, mask), separation);
  return at::matmul(association_dropout(association, dropout_p, generator), value);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> hopfield_retrieval_explicit(
    const at::Tensor& query, const at::Tensor& key, const at::Tensor& value, const at::Tensor& beta,
    int64_t update_steps, double eps, const std::optional<at::Tensor>& mask_argument,
    c10::string_view separation_name, double dropout_p, std::optional<at::Generator> generator) {
  constexpr const char* op = "hopfield_retrieval_explicit";
  check_patterns(op, "query", query, key, &value, beta, mask_argument);
  check_scalar_arguments(op, update_steps, eps, dropout_p);
  const Separation separation = parse_separation(op, separation_name);
  const std::optional<at::Tensor> mask = as_score_mask(mask_argument);
  const at::Tensor xi = update_states(query, key, beta, mask, update_steps, eps, separation);
  const at::Tensor association = separate(association_scores(xi, key, beta, mask), separation);
  return {at::matmul(association_dropout(association, dropout_p, generator), value), association, xi};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CompositeImplicitAutograd, m) {
  m.impl("hopfield_retrieval", &hopfield_retrieval);
  m.impl("hopfield_retrieval_explicit", &hopfield_retrieval_explicit);
}

} // namespace statmech::hopfield
