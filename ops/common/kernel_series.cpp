#include "ops/common/kernel_series.h"

#include "ops/common/activation_traits.h"
#include "ops/common/quadrature.h"
#include "ops/common/vectorizable_math.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace statmech::dual {
namespace {

// Sums of one parity: out[m] = sum_i f[i] h_{p + 2m}(z_i) (and out_g[m] with g when g is not
// null) for m < count, p = first_order (0 or 1), over n nodes (a multiple of kNodeBlock, the
// padding with zero weights). u = z^2, start = h_p(z) (1 or z). Two orders per step by the
// three-term recurrence of the normalised Hermite polynomials in z^2 (He_{n+2} =
// (z^2 - 2n - 1) He_n - n (n - 1) He_{n-2}):
//   h_{n+2} = ((z^2 - (2n + 1)) h_n - sqrt(n (n - 1)) h_{n-2}) / sqrt((n + 1)(n + 2)).
// Vector accumulators (8 nodes per step): the sums are not one serial chain of additions.
constexpr int64_t kNodeBlock = 8;

template <typename T>
STATMECH_CPU_CLONES void parity_sums(
    int64_t n, const T* u, const T* start, const T* f, const T* g, int64_t first_order, int64_t count, T* out,
    T* out_g, T* previous, T* current) {
  typedef T V __attribute__((vector_size(32)));
  constexpr int W = 32 / sizeof(T);
  static_assert(kNodeBlock == 2 * W, "two vectors per block");
  for (int64_t i = 0; i < n; ++i) {
    previous[i] = T(0);
    current[i] = start[i];
  }
  for (int64_t m = 0; m < count; ++m) {
    const int64_t order = first_order + 2 * m;
    const T scale = T(1) / std::sqrt(static_cast<T>((order + 1) * (order + 2)));
    const T shift = static_cast<T>(2 * order + 1) * scale;
    const T back = std::sqrt(static_cast<T>(order * (order > 0 ? order - 1 : 0))) * scale;
    const bool last = m + 1 == count;
    V sum0 = V{} + T(0), sum1 = sum0, gsum0 = sum0, gsum1 = sum0;
    for (int64_t i = 0; i < n; i += kNodeBlock) {
      V h0, h1, p0, p1, u0, u1, f0, f1;
      std::memcpy(&h0, current + i, sizeof(V));
      std::memcpy(&h1, current + i + W, sizeof(V));
      std::memcpy(&f0, f + i, sizeof(V));
      std::memcpy(&f1, f + i + W, sizeof(V));
      sum0 += f0 * h0;
      sum1 += f1 * h1;
      if (g) {
        V g0, g1;
        std::memcpy(&g0, g + i, sizeof(V));
        std::memcpy(&g1, g + i + W, sizeof(V));
        gsum0 += g0 * h0;
        gsum1 += g1 * h1;
      }
      if (!last) {
        std::memcpy(&p0, previous + i, sizeof(V));
        std::memcpy(&p1, previous + i + W, sizeof(V));
        std::memcpy(&u0, u + i, sizeof(V));
        std::memcpy(&u1, u + i + W, sizeof(V));
        const V n0 = (u0 * scale - shift) * h0 - back * p0;
        const V n1 = (u1 * scale - shift) * h1 - back * p1;
        std::memcpy(previous + i, &h0, sizeof(V));
        std::memcpy(previous + i + W, &h1, sizeof(V));
        std::memcpy(current + i, &n0, sizeof(V));
        std::memcpy(current + i + W, &n1, sizeof(V));
      }
    }
    const V total = sum0 + sum1, gtotal = gsum0 + gsum1;
    T s = 0, gs = 0;
    for (int lane = 0; lane < W; ++lane) {
      s += total[lane];
      gs += gtotal[lane];
    }
    out[m] = s;
    if (g) {
      out_g[m] = gs;
    }
  }
}

// tanh, tanh' and tanh'' at n points (Activation::evaluate's values, in vector arithmetic): with
// t = e^{-2|x|} (math::exp_nonpositive, within 2 ulp), tanh x = sign(x) (1 - t) / (1 + t), within a
// few ulp where |x| >= 1/2 (t <= 1/e: no cancellation in 1 - t); the points below take std::tanh.
template <typename T>
STATMECH_CPU_CLONES void tanh_points(int64_t n, const T* x, T* phi, T* dphi, T* d2phi) {
  for (int64_t i = 0; i < n; ++i) {
    const T magnitude = x[i] < T(0) ? -x[i] : x[i];
    const T t = math::exp_nonpositive<T>(T(-2) * magnitude);
    const T f = (T(1) - t) / (T(1) + t);
    phi[i] = x[i] < T(0) ? -f : f;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (x[i] > T(-0.5) && x[i] < T(0.5)) {
      phi[i] = std::tanh(x[i]);
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    const T slope = T(1) - phi[i] * phi[i];
    dphi[i] = slope;
    d2phi[i] = T(-2) * phi[i] * slope;
  }
}

} // namespace

bool uses_row_series(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::Tanh:
    case ActivationKind::Sigmoid:
    case ActivationKind::Gelu:
    case ActivationKind::Silu:
    case ActivationKind::Softplus:
      return true;
    default:
      return false;
  }
}

SeriesParity series_parity(const Activation& activation) {
  switch (activation.kind()) {
    case ActivationKind::Tanh:
    case ActivationKind::Sigmoid:
      return SeriesParity::Odd;
    case ActivationKind::Gelu:
    case ActivationKind::Silu:
    case ActivationKind::Softplus:
      return SeriesParity::Even;
    default:
      return SeriesParity::None;
  }
}

RowSeries row_series(
    const Activation& activation, double q, int64_t max_terms, double tolerance, double* b, double* derivative,
    double coarse_tolerance) {
  // As in hermite_coefficients: the integrand decays like e^{-z^2/4}, so the rule reaches
  // |z| = 13, panels no wider than the analytic strip of phi(sqrt(q) z) and narrow enough to
  // resolve He_K (wavelength ~ 2 pi / sqrt(K)): half-width 0.25 at K = 256, wider for fewer terms.
  // The rule covers [0, 13]: E[f(z) h_k(z)] = 2 E[f_k(z) h_k(z); z > 0] with f_k the part of f of
  // the parity of k (f_even(z) = (f(z) + f(-z)) / 2, f_odd(z) = (f(z) - f(-z)) / 2).
  constexpr double kReach = 13.0;
  const double root_q = std::sqrt(q);
  const double widest = std::min(1.0, 0.25 * std::sqrt(256.0 / static_cast<double>(std::max<int64_t>(max_terms, 16))));
  quadrature::Rule rule;
  quadrature::append_gaussian_rule(
      0.0, kReach, {}, analytic_half_width(activation) / root_q, widest, roughness_centre(activation), rule);
  const auto n = static_cast<int64_t>(rule.nodes.size());
  // phi, phi', phi'' at sqrt(q) z (first n) and at -sqrt(q) z (last n). Where the symmetry is
  // known the mirrored values follow from the others and phi(0), phi'(0): odd up to a constant,
  // phi(-x) = 2 phi(0) - phi(x); even up to a linear term, phi(-x) = phi(x) - 2 phi'(0) x.
  const SeriesParity parity = series_parity(activation);
  std::vector<double> x(2 * n), phi(2 * n), dphi(2 * n), d2phi(2 * n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = root_q * rule.nodes[i];
    x[n + i] = -x[i];
  }
  if (parity == SeriesParity::None) {
    activation.evaluate(2 * n, x.data(), phi.data(), dphi.data(), d2phi.data());
  } else {
    x[n] = 0.0; // phi(0), phi'(0) in slot n, then the mirror images
    if (activation.kind() == ActivationKind::Tanh) {
      tanh_points<double>(n + 1, x.data(), phi.data(), dphi.data(), d2phi.data());
    } else {
      activation.evaluate(n + 1, x.data(), phi.data(), dphi.data(), d2phi.data());
    }
    const double phi0 = phi[n], slope0 = dphi[n];
    for (int64_t i = 0; i < n; ++i) {
      x[n + i] = -x[i];
      if (parity == SeriesParity::Odd) {
        phi[n + i] = 2.0 * phi0 - phi[i];
        dphi[n + i] = dphi[i];
        d2phi[n + i] = -d2phi[i];
      } else {
        phi[n + i] = phi[i] - 2.0 * slope0 * x[i];
        dphi[n + i] = 2.0 * slope0 - dphi[i];
        d2phi[n + i] = d2phi[i];
      }
    }
  }

  // db_k/dq = E[phi'(sqrt(q) z) z h_k(z)] / (2 sqrt(q)).
  const double* z = rule.nodes.data();
  // weighted[p][i]: 2 w_i times the part of parity p (0 even, 1 odd) of phi, and of phi' z / (2 sqrt q).
  std::vector<double> weighted[2] = {std::vector<double>(n), std::vector<double>(n)};
  std::vector<double> weighted_derivative[2] = {
      std::vector<double>(derivative ? n : 0), std::vector<double>(derivative ? n : 0)};
  double energy = 0.0, derivative_mean_square = 0.0, curvature = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double w = rule.weights[i];
    weighted[0][i] = w * (phi[i] + phi[n + i]);
    weighted[1][i] = w * (phi[i] - phi[n + i]);
    energy += w * (phi[i] * phi[i] + phi[n + i] * phi[n + i]);
    derivative_mean_square += w * (dphi[i] * dphi[i] + dphi[n + i] * dphi[n + i]);
    curvature += w * (d2phi[i] * phi[i] + d2phi[n + i] * phi[n + i]);
    if (derivative) {
      const double scale = w * z[i] / (2.0 * root_q);
      weighted_derivative[0][i] = scale * (dphi[i] - dphi[n + i]);
      weighted_derivative[1][i] = scale * (dphi[i] + dphi[n + i]);
    }
  }
  // Both parities by the two-step recurrence (the vanishing one only to its first order), then
  // the Parseval tails order by order.
  const int64_t padded = (n + kNodeBlock - 1) / kNodeBlock * kNodeBlock;
  std::vector<double> u(padded, 0.0), odd_start(padded, 0.0), even_start(padded, 0.0), previous(padded),
      current(padded);
  for (int64_t p = 0; p < 2; ++p) {
    weighted[p].resize(padded, 0.0);
    if (derivative) {
      weighted_derivative[p].resize(padded, 0.0);
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    u[i] = z[i] * z[i];
    odd_start[i] = z[i];
    even_start[i] = 1.0;
  }
  const int64_t even_count = parity == SeriesParity::Odd ? 1 : max_terms / 2 + 1;
  const int64_t odd_count = max_terms < 1 ? 0 : (parity == SeriesParity::Even ? 1 : (max_terms + 1) / 2);
  std::vector<double> sums[2] = {std::vector<double>(max_terms + 2, 0.0), std::vector<double>(max_terms + 2, 0.0)};
  std::vector<double> derivative_sums[2] = {
      std::vector<double>(derivative ? max_terms + 2 : 0, 0.0), std::vector<double>(derivative ? max_terms + 2 : 0, 0.0)};
  parity_sums<double>(padded, u.data(), even_start.data(), weighted[0].data(),
                      derivative ? weighted_derivative[0].data() : nullptr, 0, even_count, sums[0].data(),
                      derivative ? derivative_sums[0].data() : nullptr, previous.data(), current.data());
  if (odd_count > 0) {
    parity_sums<double>(padded, u.data(), odd_start.data(), weighted[1].data(),
                        derivative ? weighted_derivative[1].data() : nullptr, 1, odd_count, sums[1].data(),
                        derivative ? derivative_sums[1].data() : nullptr, previous.data(), current.data());
  }
  RowSeries out;
  out.energy = energy;
  out.derivative_energy = q * derivative_mean_square;
  out.second_slope = derivative_mean_square + curvature;
  out.terms = max_terms;
  out.coarse_terms = max_terms;
  bool coarse_converged = !(coarse_tolerance > 0.0);
  double kept = 0.0;
  double derivative_kept = 0.0;
  bool converged = false;
  for (int64_t order = 0; order <= max_terms; ++order) {
    // Structurally zero coefficients are exactly 0.
    const bool vanishes = order >= 2 && ((parity == SeriesParity::Odd && order % 2 == 0) ||
                                         (parity == SeriesParity::Even && order % 2 == 1 && order >= 3));
    const double value = vanishes ? 0.0 : sums[order % 2][order / 2];
    b[order] = value;
    if (derivative) {
      derivative[order] = vanishes ? 0.0 : derivative_sums[order % 2][order / 2];
    }
    kept += value * value;
    derivative_kept += static_cast<double>(order) * value * value;
    if (order >= 1 && !converged && energy - kept <= tolerance * energy &&
        out.derivative_energy - derivative_kept <= tolerance * out.derivative_energy) {
      out.terms = order;
      converged = true;
    }
    if (order >= 1 && !coarse_converged && energy - kept <= coarse_tolerance * energy &&
        out.derivative_energy - derivative_kept <= coarse_tolerance * out.derivative_energy) {
      out.coarse_terms = order;
      coarse_converged = true;
    }
  }
  out.converged = converged;
  out.coarse_converged = coarse_converged;
  return out;
}

} // namespace statmech::dual
