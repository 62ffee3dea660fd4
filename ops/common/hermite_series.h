#pragma once

// Hermite coefficients of z -> phi(sqrt(q) z): b_k = E[phi(sqrt(q) z) He_k(z)] / sqrt(k!), so that
// (Mehler)  E[phi(u) phi(v)]                = sum_k b_k(q1) b_k(q2) c^k
// (Price)   sqrt(q1 q2) E[phi'(u) phi'(v)]  = sum_k k b_k(q1) b_k(q2) c^(k-1).
// The remainders after K terms are bounded by Cauchy-Schwarz with the Parseval tails
//   T(q)  = E[phi^2] - sum_{k<=K} b_k^2,   D(q) = q E[phi'^2] - sum_{k<=K} k b_k^2:
//   |k remainder| <= |c|^(K+1) sqrt(T1 T2),  |sqrt(q1 q2) kdot remainder| <= |c|^K sqrt(D1 D2).

#include <statmech/activation.h>

#include <cstdint>
#include <vector>

namespace statmech::dual {

// Terms kept. The series is used only where its bound meets the tolerance, so K trades the share
// of (q, c) answered by the cheap polynomial against the cost of the coefficients (O(K) per node).
// With 128 the k-dot bound failed for tanh already at q ~ 2, c ~ 0.99, sending the c* search of
// points near the critical line to 2-D quadrature (35 ms a point); 256 keeps them on the series.
constexpr int64_t kSeriesTerms = 256;

struct HermiteCoefficients {
  double q;
  std::vector<double> b; // b_0 .. b_K
  double energy; // E[phi^2]
  double derivative_energy; // q E[phi'^2]
  double tail; // T(q) >= 0
  double derivative_tail; // D(q) >= 0
};

HermiteCoefficients hermite_coefficients(const Activation& activation, double q);

} // namespace statmech::dual
