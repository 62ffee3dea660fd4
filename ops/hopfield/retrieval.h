#pragma once

// Internals of the modern (continuous) Hopfield operators shared by retrieval.cpp and energy.cpp.
//
// Layout is scaled_dot_product_attention's: state / query patterns [..., L, E], stored patterns
// (keys) [..., S, E], values [..., S, Ev]; leading dimensions (batch, heads) equal between them.
// beta is 0-D (one inverse temperature) or [heads], broadcast over query.size(-3).

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <optional>

namespace statmech::hopfield {

enum class Separation { softmax, sparsemax, entmax15 };

// "softmax", "sparsemax" or "entmax15"; anything else raises an error naming `op`.
Separation parse_separation(const char* op, c10::string_view name);

// Checks (query, key, value, beta, mask) and the scalar arguments of the retrieval ops. value may be
// undefined (the energy op has none). SymInt-safe: these ops are CompositeImplicitAutograd, so the
// same code runs on fake tensors under torch.compile.
void check_patterns(
    const char* op,
    const char* query_name,
    const at::Tensor& query,
    const at::Tensor& key,
    const at::Tensor* value,
    const at::Tensor& beta,
    const std::optional<at::Tensor>& mask);

// xi * beta with beta broadcast per head (0-D: everywhere; [heads]: over dimension -3), in the
// dtype of xi. Differentiable in both.
at::Tensor scale_by_beta(const at::Tensor& xi, const at::Tensor& beta);

// scores [..., L, S] with a mask applied: a bool mask sets the excluded entries to -inf, a float
// mask is added.
at::Tensor apply_mask(at::Tensor scores, const std::optional<at::Tensor>& mask);

// The scores beta xi K^T + mask [..., L, S] (apply_mask).
at::Tensor association_scores(
    const at::Tensor& xi, const at::Tensor& key, const at::Tensor& beta, const std::optional<at::Tensor>& mask);

// sep(scores) along the last dimension (sparsemax and entmax15 through the dispatcher, so their
// C++ autograd applies).
at::Tensor separate(const at::Tensor& scores, Separation separation);

} // namespace statmech::hopfield
