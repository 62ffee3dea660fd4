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
// sqrt(a b) kd: a relative accuracy tol per layer. The tails are differences of O(1) quadrature
// sums whose rounding is a few 1e-16 to 1e-15 (a few hundred nodes), so a tolerance of 1e-15 sits
// at that noise: some rows never met it and ran to kMaxRowTerms. The kernels ask for 1e-14 in
// float64.

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
  int64_t coarse_terms; // the same for `coarse_tolerance` (max_terms when none was asked)
  bool converged; // whether both Parseval tails met `tolerance` within max_terms
  bool coarse_converged; // the same for `coarse_tolerance` (true when none was asked)
};

// Coefficients that vanish for every q, from the symmetry of phi: tanh and sigmoid are odd up to a
// constant (b_k = 0 for even k >= 2); gelu, silu and softplus are even up to a linear term
// (phi(x) - x / 2 is even: b_k = 0 for odd k >= 3). Kernels store and sum only the others.
enum class SeriesParity { None, Odd, Even };
SeriesParity series_parity(const Activation& activation);

// Fills b[0..max_terms] with b_k(q) and, when `derivative` is not null, derivative[0..max_terms]
// with db_k/dq. q > 0. The coefficients that series_parity says vanish are set to exactly 0.
// The expectations are over z >= 0 only, on the even and odd parts of the integrands (h_k has the
// parity of k), which halves the nodes against a rule on the whole line.
RowSeries row_series(
    const Activation& activation, double q, int64_t max_terms, double tolerance, double* b, double* derivative,
    double coarse_tolerance = 0.0);

// Activations the kernel operators evaluate by the series (smooth ones without a closed form).
bool uses_row_series(ActivationKind kind);

} // namespace statmech::dual
