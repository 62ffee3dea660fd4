#pragma once

// Modern (continuous) Hopfield operators as C++ functions (Ramsauer et al. 2020; sparse variants
// of Hu et al. 2023). Each calls through the PyTorch dispatcher (torch.ops.statmech.<name>), so C++
// callers get the same kernels, autograd and checks as Python callers. The layers built on them
// are in <statmech/nn/hopfield.h>.
//
// Shapes follow scaled_dot_product_attention: query / state patterns [..., L, E], stored patterns
// (keys) [..., S, E], values [..., S, Ev], with equal leading (batch, head) dimensions. beta is a
// 0-D tensor or one entry per head [heads] (heads = query.size(-3)); it must be > 0 (checked when
// it is on the CPU). Masks follow scaled_dot_product_attention: a bool mask is True where a stored
// pattern takes part, a float mask is added to the scores; broadcastable to [..., L, S].

#include <statmech/macros.h>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <tuple>

namespace statmech {

// update_steps times xi <- sep(beta xi K^T + mask) K (a query stops once its state moves by less
// than eps; eps = 0 runs every step), then returns dropout(sep(beta xi K^T + mask)) V [..., L, Ev].
// separation: "softmax" (at::scaled_dot_product_attention), "sparsemax" or "entmax15". Dropout
// draws from `generator` when given (the softmax output step is then computed explicitly), else
// from the default generator.
STATMECH_API at::Tensor hopfield_retrieval(
    const at::Tensor& query,
    const at::Tensor& key,
    const at::Tensor& value,
    const at::Tensor& beta,
    int64_t update_steps = 0,
    double eps = 0.0,
    const std::optional<at::Tensor>& mask = std::nullopt,
    const std::string& separation = "softmax",
    double dropout_p = 0.0,
    std::optional<at::Generator> generator = std::nullopt);

// The same with the association matrix materialised: (output [..., L, Ev], association
// sep(beta xi K^T + mask) [..., L, S] before dropout, final state xi [..., L, E]).
STATMECH_API std::tuple<at::Tensor, at::Tensor, at::Tensor> hopfield_retrieval_explicit(
    const at::Tensor& query,
    const at::Tensor& key,
    const at::Tensor& value,
    const at::Tensor& beta,
    int64_t update_steps = 0,
    double eps = 0.0,
    const std::optional<at::Tensor>& mask = std::nullopt,
    const std::string& separation = "softmax",
    double dropout_p = 0.0,
    std::optional<at::Generator> generator = std::nullopt);

// E(xi) = -beta^-1 log sum_i exp(beta k_i.xi + m_i) + 1/2 xi.xi + beta^-1 log N + 1/2 M^2
// (Ramsauer et al. 2020, eq. 2) for each state pattern: state [..., L, E] -> [..., L].
STATMECH_API at::Tensor hopfield_energy(
    const at::Tensor& state,
    const at::Tensor& key,
    const at::Tensor& beta,
    const std::optional<at::Tensor>& mask = std::nullopt);

// sparsemax(z) = argmin_{p in simplex} ||p - z||^2 along dim (Martins & Astudillo 2016).
STATMECH_API at::Tensor sparsemax(const at::Tensor& input, int64_t dim = -1);

// 1.5-entmax along dim (Peters et al. 2019): [z/2 - tau]_+^2 summing to one.
STATMECH_API at::Tensor entmax15(const at::Tensor& input, int64_t dim = -1);

} // namespace statmech
