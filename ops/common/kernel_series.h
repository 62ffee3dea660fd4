#pragma once

// Per-row Hermite coefficients for evaluating the dual activation at many kernel entries (the
// kernel operators of ops/gp): the Mehler / Price series of hermite_series.h, with
//  - a truncation per row from the Parseval tails, so rows at small variance keep few terms;
//  - the derivatives db_k/dq of the coefficients, which the backward of the kernels needs.
//
// With b_k(q) the normalised Hermite coefficients of z -> phi(sqrt(q) z):
//   k(a, b, c)          = sum_k b_k(a) b_k(b) c^k
//   sqrt(a b) kd(a,b,c) = sum_k k b_k(a) b_k(b) c^(k-1)
// A row keeps `terms` = the smallest K with T(K) <= tol E[phi^2] and D(K) <= tol q E[phi'^2]
// (T, D the Parseval tails of hermite_series.h). An entry summed to K = max(K_1, K_2) then has
// remainders |c|^(K+1) sqrt(T_1 T_2) <= tol sqrt(E_1 E_2) for k and tol sqrt(D_1 D_2) for
// sqrt(a b) kd: a relative accuracy tol per layer (the tails are computed by subtraction, so tol
// cannot go below ~1e-15 in float64).

#include <statmech/activation.h>

#include <cstdint>

namespace statmech::dual {

// Most terms a row may keep: tanh needs ~300 at q = 2 for a 1e-15 Parseval tail.
constexpr int64_t kMaxRowTerms = 512;

struct RowSeries {
  double energy; // E[phi(sqrt(q) z)^2]
  double derivative_energy; // q E[phi'(sqrt(q) z)^2]
  double second_slope; // d E[phi^2] / dq = E[phi'^2] + E[phi'' phi]
  int64_t terms; // the row's truncation K (<= max_terms)
};

// Fills b[0..max_terms] with b_k(q) and, when `derivative` is not null, derivative[0..max_terms]
// with db_k/dq. q > 0.
RowSeries row_series(
    const Activation& activation, double q, int64_t max_terms, double tolerance, double* b, double* derivative);

// Activations the kernel operators evaluate by the series (smooth ones without a closed form).
bool uses_row_series(ActivationKind kind);

} // namespace statmech::dual
