#pragma once

// One kernel entry of fc_kernel: all layers of the recursion (ops/gp/fc_kernel.h) for one pair of
// rows, forward and reverse, written once for the CPU and CUDA kernels. `Dual` evaluates the dual
// activation at layer l for the pair (i, j): ClosedFormDual or SeriesDual below.

#include "ops/common/kernel_entry.h"

#include <cmath>
#include <cstdint>

namespace statmech::gp {

using std::sqrt;

template <typename T>
struct EntryParams {
  int64_t depth;
  T sigma_w2, sigma_b2;
  T inverse_features; // 1 / d
  bool standard;
  T width;
};

// Correlation S / r, clamped to [-1, 1]; within a few rounding errors of +-1 it is set to +-1
// exactly (duplicate rows, the diagonal), where the backward knows dc = 0.
template <typename T>
STATMECH_HD T correlation(T covariance, T r) {
  if (!(r > 0)) {
    return T(0);
  }
  T c = covariance / r;
  constexpr T kSnap = sizeof(T) == 4 ? T(4e-7) : T(1e-15);
  if (c >= T(1) - kSnap) {
    c = T(1);
  } else if (c <= T(-1) + kSnap) {
    c = T(-1);
  }
  return c;
}

template <dual::entry::Form F, typename T>
struct ClosedFormDual {
  T alpha; // leaky_relu's negative slope
  STATMECH_HD dual::entry::Value<T> value(int64_t, int64_t, int64_t, T a, T b, T c, T r) const {
    return dual::entry::value<F, T>(a, b, c, r, alpha);
  }
  STATMECH_HD dual::entry::Partials<T> partials(int64_t, int64_t, int64_t, T a, T b, T c, T r) const {
    return dual::entry::partials<F, T>(a, b, c, r, alpha);
  }
};

// Hermite series with per-row coefficients (ops/common/kernel_series.h). Rows index the
// coefficient tables: layer l of row i starts at coefficients[l] + i * widths[l].
template <typename T>
struct SeriesDual {
  const T* const* coefficients; // [depth] pointers to [rows, widths[l]]
  const T* const* derivatives; // [depth] pointers to [rows, widths[l]] (db_k/dq), backward only
  const int64_t* widths; // [depth] terms + 1
  const int32_t* terms; // [rows, depth]
  int64_t depth;

  STATMECH_HD int64_t entry_terms(int64_t l, int64_t i, int64_t j) const {
    const int32_t ti = terms[i * depth + l];
    const int32_t tj = terms[j * depth + l];
    return ti > tj ? ti : tj;
  }

  STATMECH_HD dual::entry::Value<T> value(int64_t l, int64_t i, int64_t j, T, T, T c, T r) const {
    const T* b1 = coefficients[l] + i * widths[l];
    const T* b2 = coefficients[l] + j * widths[l];
    T k = 0, scaled = 0;
    for (int64_t n = entry_terms(l, i, j); n >= 1; --n) {
      const T product = b1[n] * b2[n];
      k = k * c + product;
      scaled = scaled * c + T(n) * product;
    }
    k = k * c + b1[0] * b2[0];
    return {k, r > 0 ? scaled / r : T(0)};
  }

  STATMECH_HD dual::entry::Partials<T> partials(int64_t l, int64_t i, int64_t j, T a, T b, T c, T r) const {
    const T* b1 = coefficients[l] + i * widths[l];
    const T* b2 = coefficients[l] + j * widths[l];
    const T* d1 = derivatives[l] + i * widths[l];
    const T* d2 = derivatives[l] + j * widths[l];
    T k = 0, scaled = 0, curvature = 0; // sum p c^n, sum n p c^(n-1), sum n (n-1) p c^(n-2)
    T k_a = 0, k_b = 0, scaled_a = 0, scaled_b = 0;
    for (int64_t n = entry_terms(l, i, j); n >= 0; --n) {
      const T product = b1[n] * b2[n];
      const T product_a = d1[n] * b2[n];
      const T product_b = b1[n] * d2[n];
      k = k * c + product;
      k_a = k_a * c + product_a;
      k_b = k_b * c + product_b;
      if (n >= 1) {
        scaled = scaled * c + T(n) * product;
        scaled_a = scaled_a * c + T(n) * product_a;
        scaled_b = scaled_b * c + T(n) * product_b;
      }
      if (n >= 2) {
        curvature = curvature * c + T(n) * T(n - 1) * product;
      }
    }
    dual::entry::Partials<T> p{};
    p.k = k;
    p.k_a = k_a;
    p.k_b = k_b;
    p.k_c = scaled;
    if (r > 0) {
      p.kd = scaled / r;
      p.kd_c = curvature / r;
      p.kd_a = scaled_a / r - (a > 0 ? p.kd / (T(2) * a) : T(0));
      p.kd_b = scaled_b / r - (b > 0 ? p.kd / (T(2) * b) : T(0));
    }
    return p;
  }
};

// Forward of one entry: nngp = S^depth, ntk = Theta^depth, from the dot product x.x' and the two
// rows' variances qa[0..depth], qb[0..depth].
template <typename T, typename Dual>
STATMECH_HD void entry_forward(
    const Dual& dual, const EntryParams<T>& p, int64_t i, int64_t j, const T* qa, const T* qb, T dot, T& nngp,
    T& ntk) {
  T covariance = p.sigma_w2 * dot * p.inverse_features + p.sigma_b2;
  T tangent = p.standard ? dot + T(1) : covariance;
  for (int64_t l = 0; l < p.depth; ++l) {
    const T a = qa[l], b = qb[l];
    const T r = dual::entry::root_product(a, b);
    const T c = correlation(covariance, r);
    const dual::entry::Value<T> v = dual.value(l, i, j, a, b, c, r);
    covariance = p.sigma_w2 * v.k + p.sigma_b2;
    tangent = (p.standard ? p.width * v.k + T(1) : covariance) + p.sigma_w2 * v.kd * tangent;
  }
  nngp = covariance;
  ntk = tangent;
}

// Gradients accumulated by one entry.
template <typename T>
struct EntryGradients {
  T dot; // d/d(x.x')
  T sigma_w2, sigma_b2;
};

// Reverse of one entry for the upstream gradients (g_nngp, g_ntk). Adds d/dq^l of the two rows
// to grad_qa[l], grad_qb[l] (they may alias, for the diagonal). `work` holds 3 * depth values.
template <typename T, typename Dual, typename Acc>
STATMECH_HD EntryGradients<T> entry_backward(
    const Dual& dual, const EntryParams<T>& p, int64_t i, int64_t j, const T* qa, const T* qb, T dot, T g_nngp,
    T g_ntk, T* work, Acc* grad_qa, Acc* grad_qb) {
  T* correlations = work;
  T* roots = work + p.depth;
  T* tangents = work + 2 * p.depth; // Theta^l, the input of layer l
  T covariance = p.sigma_w2 * dot * p.inverse_features + p.sigma_b2;
  T tangent = p.standard ? dot + T(1) : covariance;
  for (int64_t l = 0; l < p.depth; ++l) {
    const T a = qa[l], b = qb[l];
    const T r = dual::entry::root_product(a, b);
    const T c = correlation(covariance, r);
    correlations[l] = c, roots[l] = r, tangents[l] = tangent;
    const dual::entry::Value<T> v = dual.value(l, i, j, a, b, c, r);
    covariance = p.sigma_w2 * v.k + p.sigma_b2;
    tangent = (p.standard ? p.width * v.k + T(1) : covariance) + p.sigma_w2 * v.kd * tangent;
  }
  EntryGradients<T> g{T(0), T(0), T(0)};
  T g_covariance = g_nngp, g_tangent = g_ntk;
  for (int64_t l = p.depth - 1; l >= 0; --l) {
    const T a = qa[l], b = qb[l], c = correlations[l], r = roots[l], previous = tangents[l];
    const dual::entry::Partials<T> d = dual.partials(l, i, j, a, b, c, r);
    T g_k = 0;
    if (p.standard) {
      g_k += p.width * g_tangent;
    } else {
      g_covariance += g_tangent;
    }
    const T g_kd = g_tangent * p.sigma_w2 * previous;
    g.sigma_w2 += g_tangent * d.kd * previous;
    const T g_previous = g_tangent * p.sigma_w2 * d.kd;
    g_k += g_covariance * p.sigma_w2;
    g.sigma_w2 += g_covariance * d.k;
    g.sigma_b2 += g_covariance;
    T g_a = g_k * d.k_a + g_kd * d.kd_a;
    T g_b = g_k * d.k_b + g_kd * d.kd_b;
    T g_input = 0;
    // c = S / sqrt(a b). At |c| = 1 the correlation is extremal, so dc = 0 (see kernel_entry.h).
    if (r > 0 && c > T(-1) && c < T(1)) {
      const T g_c = g_k * d.k_c + g_kd * d.kd_c;
      g_input = g_c / r;
      g_a -= g_c * c / (T(2) * a);
      g_b -= g_c * c / (T(2) * b);
    }
    grad_qa[l] += g_a;
    grad_qb[l] += g_b;
    g_covariance = g_input;
    g_tangent = g_previous;
  }
  if (p.standard) {
    g.dot += g_tangent;
  } else {
    g_covariance += g_tangent;
  }
  g.dot += g_covariance * p.sigma_w2 * p.inverse_features;
  g.sigma_w2 += g_covariance * dot * p.inverse_features;
  g.sigma_b2 += g_covariance;
  return g;
}

} // namespace statmech::gp
