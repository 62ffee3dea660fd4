#pragma once

// Internals of the dense associative memory operators (dense_memory_energy, dense_memory_run):
// Krotov & Hopfield 2016 (polynomial and rectified-polynomial interaction functions) and
// Demircigil, Heusel, Loewe, Upgang & Vermet 2017 (exponential). With patterns xi_mu in {-1, +1}^N
// and the overlaps m_mu = xi_mu . sigma,
//
//   E(sigma) = -sum_mu F(m_mu),   F(x) = x^n | max(x, 0)^n | exp(beta x),
//
// (the sum over patterns is outside F). States are read as in binary_dynamics.h (+1 where > 0).
// E is computed in float64 and rounded to the patterns' dtype: where |E| is beyond that dtype's
// range it is -inf (or +inf for an odd degree), e.g. F = exp(beta x) once beta N passes ~88 in
// float32 or ~709 in float64. The dynamics never use E: their decisions come from energy
// differences in a scaled form, which stays finite for every N, degree and beta.

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <optional>
#include <string_view>
#include <tuple>

namespace statmech::hopfield {

inline constexpr char kDenseEnergyOp[] = "dense_memory_energy";
inline constexpr char kDenseRunOp[] = "dense_memory_run";

enum class Interaction { kPolynomial, kRectifiedPolynomial, kExponential };

// state [batch, N] (real or bool), patterns [P, N] float32/float64 on the same device, interaction
// one of polynomial, rectified_polynomial, exponential; degree >= 1; beta finite and > 0.
Interaction check_dense_memory(
    const char* op, const at::Tensor& state, const at::Tensor& patterns, std::string_view interaction, int64_t degree,
    double beta);

// E for spins already in {-1, +1} (patterns' dtype).
at::Tensor dense_memory_energy_of_spins(
    const at::Tensor& spins, const at::Tensor& patterns, Interaction interaction, int64_t degree, double beta);

} // namespace statmech::hopfield
