// fc_kernel by conditional quadrature for elu, selu, hard_tanh and custom activations (see
// fc_kernel_quadrature.h for the formulas).

#include "ops/gp/fc_kernel_quadrature.h"
#include "ops/gp/fc_kernel_entry.h"

#include "ops/common/activation_traits.h"
#include "ops/common/constants.h"
#include "ops/common/hermite_series.h"
#include "ops/common/kernel_series.h"
#include "ops/common/quadrature.h"

#include <statmech/dual_activation.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace statmech::gp {
namespace {

using constants::kInvSqrtTwoPi;
using constants::kSqrtTwo;

// Both integration variables are standard normal; beyond |z| = 9.5 the mass is 2e-21.
constexpr double kReach = 9.5;
constexpr double kWidestHalfPanel = 0.75;
// Rows at zero variance (a zero input without bias) are evaluated at this variance.
constexpr double kSmallestVariance = 1e-30;
// The forward takes the Hermite series of the core (dual_activation.h) where its rigorous
// Parseval bound is below this fraction of the Cauchy-Schwarz scale, as DualKernel does.
constexpr double kSeriesTolerance = 1e-14;

inline double density(double z) {
  return kInvSqrtTwoPi * std::exp(-0.5 * z * z);
}
inline double cdf(double z) {
  return 0.5 * std::erfc(-z / kSqrtTwo);
}

// Phi(-t) / phi(t) for t >= 8, by its continued fraction 1 / (t + 1 / (t + 2 / (t + ...))).
inline double mills_ratio(double t) {
  double r = t;
  for (int k = 40; k >= 1; --k) {
    r = t + k / r;
  }
  return 1.0 / r;
}

// E[e^Y 1(Y < 0)], Y ~ N(m, sigma^2), sigma > 0: e^(m + sigma^2 / 2) Phi(-t), t = sigma + m / sigma,
// written as phi(m / sigma) R(t) where the first form would overflow times underflow.
inline double exp_below_zero(double m, double sigma) {
  const double t = sigma + m / sigma;
  if (t < 8.0) {
    return std::exp(m + 0.5 * sigma * sigma) * cdf(-t);
  }
  return density(m / sigma) * mills_ratio(t);
}

// A point where phi' jumps: its location, the jump [phi'] = phi'(t+) - phi'(t-), and the mean of
// the one-sided values.
struct Kink {
  double t, jump, mean;
};

struct Info {
  const Activation* activation;
  ActivationKind kind;
  double alpha = 0, scale = 1; // elu / selu
  double half_width; // analytic half-width of phi (panel size)
  std::vector<Kink> kinks;
  bool zero_at_origin = false; // phi(0) = 0
};

Info make_info(const Activation& activation) {
  Info info;
  info.activation = &activation;
  info.kind = activation.kind();
  info.half_width = dual::analytic_half_width(activation);
  {
    double x = 0, f, df, d2f;
    activation.evaluate(1, &x, &f, &df, &d2f);
    info.zero_at_origin = f == 0;
  }
  switch (info.kind) {
    case ActivationKind::Elu:
    case ActivationKind::Selu: {
      const bool selu = info.kind == ActivationKind::Selu;
      info.alpha = selu ? constants::kSeluAlpha : activation.parameter();
      info.scale = selu ? constants::kSeluScale : 1.0;
      info.kinks.push_back({0.0, info.scale * (1.0 - info.alpha), 0.5 * info.scale * (1.0 + info.alpha)});
      break;
    }
    case ActivationKind::HardTanh:
      info.kinks.push_back({-1.0, 1.0, 0.5});
      info.kinks.push_back({1.0, -1.0, 0.5});
      break;
    case ActivationKind::Custom: {
      const auto& points = activation.kinks();
      if (points.empty()) {
        break;
      }
      // One-sided derivatives just beside each kink (exact for linear pieces, O(1e-10) otherwise),
      // as the core's quadrature_moments takes them.
      std::vector<double> at(2 * points.size()), f(at.size()), df(at.size()), d2f(at.size());
      for (size_t k = 0; k < points.size(); ++k) {
        const double h = 1e-10 * std::max(1.0, std::fabs(points[k]));
        at[2 * k] = points[k] - h, at[2 * k + 1] = points[k] + h;
      }
      activation.evaluate(static_cast<int64_t>(at.size()), at.data(), f.data(), df.data(), d2f.data());
      for (size_t k = 0; k < points.size(); ++k) {
        info.kinks.push_back({points[k], df[2 * k + 1] - df[2 * k], 0.5 * (df[2 * k + 1] + df[2 * k])});
      }
      break;
    }
    default:
      // Smooth activations (the Hermite-series ones, where their series falls short): no kinks.
      TORCH_INTERNAL_ASSERT(
          dual::uses_row_series(info.kind), "fc_kernel quadrature path: unexpected activation ", activation.repr());
      break;
  }
  return info;
}

// elu, selu and hard_tanh: the inner expectations in closed form (closed_form_inner).
bool has_closed_form_inner(ActivationKind kind) {
  return kind == ActivationKind::Elu || kind == ActivationKind::Selu || kind == ActivationKind::HardTanh;
}

// phi' at x, the mean of the one-sided values where x is a kink.
double derivative_at(const Info& info, double x) {
  for (const Kink& kink : info.kinks) {
    if (std::fabs(x - kink.t) <= 1e-12 * std::max(1.0, std::fabs(kink.t))) {
      return kink.mean;
    }
  }
  double f, df, d2f;
  info.activation->evaluate(1, &x, &f, &df, &d2f);
  return df;
}

// The inner expectations over Y ~ N(m, sigma^2), sigma > 0.
struct Inner {
  double g, h, gv, hv, hc; // E[phi], E[phi'], E[Y phi'], E[Y phi''], E[phi''] (with Dirac terms)
};

Inner closed_form_inner(const Info& info, double m, double sigma) {
  Inner r;
  if (info.kind == ActivationKind::HardTanh) {
    const double lower = (-1.0 - m) / sigma, upper = (1.0 - m) / sigma;
    const double below = cdf(lower), above = cdf(-upper);
    // P(-1 < Y < 1) without cancellation when it is small.
    const double inside = lower > 0 ? cdf(-lower) - cdf(-upper)
                                    : (upper < 0 ? cdf(upper) - cdf(lower) : 1.0 - below - above);
    const double d_lower = density(lower), d_upper = density(upper);
    const double mean_inside = m * inside - sigma * (d_upper - d_lower); // E[Y 1(-1 < Y < 1)]
    r.g = above - below + mean_inside;
    r.h = inside;
    r.gv = mean_inside;
    r.hv = -(d_lower + d_upper) / sigma;
    r.hc = (d_lower - d_upper) / sigma;
    return r;
  }
  // elu / selu: scale (Y for Y > 0, alpha (e^Y - 1) for Y <= 0).
  const double z = -m / sigma;
  const double negative = cdf(z), positive = cdf(-z), d0 = density(z);
  const double mean_positive = m * positive + sigma * d0; // E[Y 1(Y > 0)]
  const double e0 = exp_below_zero(m, sigma); // E[e^Y 1(Y < 0)]
  const double e1 = (m + sigma * sigma) * e0 - sigma * d0; // E[Y e^Y 1(Y < 0)]
  const double s = info.scale, a = info.alpha;
  r.g = s * (mean_positive + a * (e0 - negative));
  r.h = s * (positive + a * e0);
  r.gv = s * (mean_positive + a * e1);
  r.hv = s * a * e1;
  r.hc = s * a * e0 + s * (1.0 - a) * d0 / sigma;
  return r;
}

// Inner expectations at many means (one call into a custom function), by composite rules split at
// the kinks, with the Dirac terms of phi'' added at the kinks.
void quadrature_inner(const Info& info, const std::vector<double>& means, double sigma, std::vector<Inner>& out) {
  const size_t n = means.size();
  std::vector<int64_t> offsets(n + 1, 0);
  std::vector<double> points, weights;
  const double half = std::min(kWidestHalfPanel, info.half_width / sigma);
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> breaks;
    for (const Kink& kink : info.kinks) {
      breaks.push_back((kink.t - means[i]) / sigma);
    }
    quadrature::Rule local;
    quadrature::append_gaussian_rule(-kReach, kReach, std::move(breaks), half, kWidestHalfPanel, -means[i] / sigma, local);
    for (size_t j = 0; j < local.nodes.size(); ++j) {
      points.push_back(means[i] + sigma * local.nodes[j]);
      weights.push_back(local.weights[j]);
    }
    offsets[i + 1] = static_cast<int64_t>(points.size());
  }
  const auto total = static_cast<int64_t>(points.size());
  std::vector<double> f(total), df(total), d2f(total);
  info.activation->evaluate(total, points.data(), f.data(), df.data(), d2f.data());
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Inner r{0, 0, 0, 0, 0};
    for (int64_t j = offsets[i]; j < offsets[i + 1]; ++j) {
      const double w = weights[j], y = points[j];
      r.g += w * f[j];
      r.h += w * df[j];
      r.gv += w * y * df[j];
      r.hv += w * y * d2f[j];
      r.hc += w * d2f[j];
    }
    for (const Kink& kink : info.kinks) {
      const double p = density((kink.t - means[i]) / sigma) / sigma;
      r.hv += kink.jump * kink.t * p;
      r.hc += kink.jump * p;
    }
    out[i] = r;
  }
}

QuadraturePartials evaluate_entry(const Info& info, double a, double b, double c, bool partials) {
  a = std::max(a, kSmallestVariance);
  b = std::max(b, kSmallestVariance);
  c = std::min(1.0, std::max(-1.0, c));
  const double ra = std::sqrt(a), rb = std::sqrt(b);
  const double s = std::sqrt((1.0 - c) * (1.0 + c));
  const double sigma = rb * s;

  // Outer rule in x: split at the kinks of phi(sqrt(a) x) and graded towards those of G, which
  // follows phi(sqrt(b) c x) smoothed over a width s / |c|.
  std::vector<double> breaks;
  for (const Kink& kink : info.kinks) {
    breaks.push_back(kink.t / ra);
    if (c != 0.0) {
      const double centre = kink.t / (rb * c);
      breaks.push_back(centre);
      for (double h = s / std::fabs(c); h > 0 && h < 1.0; h *= 2.0) {
        breaks.push_back(centre - h);
        breaks.push_back(centre + h);
      }
    }
  }
  const double spread = std::max(ra, rb * std::fabs(c));
  quadrature::Rule outer;
  quadrature::append_gaussian_rule(
      -kReach, kReach, std::move(breaks), std::min(kWidestHalfPanel, info.half_width / spread), kWidestHalfPanel,
      0.0, outer);
  const auto n = static_cast<int64_t>(outer.nodes.size());
  std::vector<double> u(n), f(n), df(n), d2f(n);
  for (int64_t i = 0; i < n; ++i) {
    u[i] = ra * outer.nodes[i];
  }
  info.activation->evaluate(n, u.data(), f.data(), df.data(), d2f.data());

  QuadraturePartials p{0, 0, 0, 0, 0, 0, 0, 0};
  if (sigma > 0) {
    // Means of Y at the outer nodes, then (backward) at the kinks of phi(u), for the Dirac terms.
    std::vector<double> means(n);
    for (int64_t i = 0; i < n; ++i) {
      means[i] = rb * c * outer.nodes[i];
    }
    if (partials) {
      for (const Kink& kink : info.kinks) {
        means.push_back(rb * c * kink.t / ra);
      }
    }
    std::vector<Inner> inner(means.size());
    if (!has_closed_form_inner(info.kind)) {
      quadrature_inner(info, means, sigma, inner);
    } else {
      for (size_t i = 0; i < means.size(); ++i) {
        inner[i] = closed_form_inner(info, means[i], sigma);
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const double w = outer.weights[i];
      const Inner& r = inner[i];
      p.k += w * f[i] * r.g;
      p.kd += w * df[i] * r.h;
      if (partials) {
        p.k_q1 += w * df[i] * u[i] * r.g;
        p.k_q2 += w * f[i] * r.gv;
        p.kd_q1 += w * d2f[i] * u[i] * r.h;
        p.kd_q2 += w * df[i] * r.hv;
        p.kd_c += w * d2f[i] * r.hc;
      }
    }
    if (partials) {
      for (size_t k = 0; k < info.kinks.size(); ++k) {
        const Kink& kink = info.kinks[k];
        const Inner& r = inner[n + k];
        const double pa = density(kink.t / ra) / ra; // N(0, a) density at the kink
        p.kd_q1 += kink.jump * kink.t * pa * r.h;
        p.kd_c += kink.jump * pa * r.hc;
      }
    }
  } else {
    // |c| = 1: Y = m = sqrt(b) c x exactly.
    std::vector<double> m(n), g(n), dg(n), d2g(n);
    for (int64_t i = 0; i < n; ++i) {
      m[i] = rb * c * outer.nodes[i];
    }
    info.activation->evaluate(n, m.data(), g.data(), dg.data(), d2g.data());
    for (int64_t i = 0; i < n; ++i) {
      const double w = outer.weights[i];
      p.k += w * f[i] * g[i];
      p.kd += w * df[i] * dg[i];
      if (partials) {
        p.k_q1 += w * df[i] * u[i] * g[i];
        p.k_q2 += w * f[i] * dg[i] * m[i];
        p.kd_q1 += w * d2f[i] * u[i] * dg[i];
        p.kd_q2 += w * df[i] * d2g[i] * m[i];
      }
    }
    if (partials) {
      for (const Kink& kink : info.kinks) {
        // Dirac of phi''(u) at u = t: x = t / sqrt(a), where v = sqrt(b) c t / sqrt(a).
        p.kd_q1 += kink.jump * kink.t * density(kink.t / ra) / ra * derivative_at(info, rb * c * kink.t / ra);
        // Dirac of phi''(v) at v = t: x = t / (sqrt(b) c), Jacobian 1 / sqrt(b).
        const double x = kink.t / (rb * c);
        p.kd_q2 += kink.jump * kink.t * density(x) / rb * derivative_at(info, ra * x);
      }
    }
    // dkd/dc is not needed at |c| = 1 (the correlation is extremal there); left 0.
  }
  const double r = std::sqrt(a * b);
  p.k_c = r * p.kd;
  p.k_q1 /= 2 * a;
  p.k_q2 /= 2 * b;
  p.kd_q1 /= 2 * a;
  p.kd_q2 /= 2 * b;
  p.kd_c *= r;
  return p;
}

using Series = dual::HermiteCoefficients;

// k and kd from two rows' Hermite coefficients (Mehler / Price) when the remainder bound allows.
bool series_value(const Series& s1, const Series& s2, double c, double r, double& k, double& kd) {
  const double a = std::fabs(c);
  constexpr int64_t terms = dual::kSeriesTerms;
  if (std::pow(a, terms + 1) * std::sqrt(s1.tail * s2.tail) > kSeriesTolerance * std::sqrt(s1.energy * s2.energy) ||
      std::pow(a, terms) * std::sqrt(s1.derivative_tail * s2.derivative_tail) >
          kSeriesTolerance * std::sqrt(s1.derivative_energy * s2.derivative_energy)) {
    return false;
  }
  double value = 0.0, scaled = 0.0;
  for (int64_t n = terms; n >= 1; --n) {
    const double product = s1.b[n] * s2.b[n];
    value = value * c + product;
    scaled = scaled * c + static_cast<double>(n) * product;
  }
  k = value * c + s1.b[0] * s2.b[0];
  kd = scaled / r;
  return true;
}

// k, kd and their partials from the series, when a rigorous bound on the remainder allows. With
// b_n(q) = E[phi(sqrt(q) z) h_n(z)] (h_n the normalised Hermite polynomials), Gaussian integration
// by parts gives db_n/dq = (sqrt((n+1)(n+2)) b_{n+2} + n b_n) / (2 q), so the sums run to n = K - 2.
// Every neglected term is bounded with |b_n| <= t = sqrt(b_{K-1}^2 + b_K^2 + tail) for n >= K - 1
// (Parseval) and |db_n/dq| <= (n + 1) t / q.
bool series_partials(const Series& s1, const Series& s2, double a, double b, double c, dual::entry::Partials<double>& p) {
  constexpr int64_t terms = dual::kSeriesTerms;
  const double x = std::fabs(c);
  if (!(x < 0.95)) {
    return false;
  }
  const auto bound = [](const Series& s) {
    return std::sqrt(s.b[terms - 1] * s.b[terms - 1] + s.b[terms] * s.b[terms] + s.tail);
  };
  const double r = std::sqrt(a * b);
  const double scale = std::max(1.0, 1.0 / r) * std::max(1.0, 1.0 / std::min(a, b));
  const double n0 = static_cast<double>(terms + 1);
  const double remainder =
      bound(s1) * bound(s2) * scale * 2.0 * n0 * n0 * std::pow(x, terms - 3) / std::pow(1.0 - x, 3);
  if (remainder > kSeriesTolerance * std::sqrt(s1.energy * s2.energy) * scale) {
    return false;
  }
  const auto slope = [](const Series& s, int64_t n, double q) {
    return (std::sqrt(static_cast<double>((n + 1) * (n + 2))) * s.b[n + 2] + static_cast<double>(n) * s.b[n]) /
        (2.0 * q);
  };
  double k = 0, scaled = 0, curvature = 0, k_a = 0, k_b = 0, scaled_a = 0, scaled_b = 0;
  for (int64_t n = terms - 2; n >= 0; --n) {
    const double product = s1.b[n] * s2.b[n];
    const double product_a = slope(s1, n, a) * s2.b[n];
    const double product_b = s1.b[n] * slope(s2, n, b);
    k = k * c + product;
    k_a = k_a * c + product_a;
    k_b = k_b * c + product_b;
    if (n >= 1) {
      scaled = scaled * c + static_cast<double>(n) * product;
      scaled_a = scaled_a * c + static_cast<double>(n) * product_a;
      scaled_b = scaled_b * c + static_cast<double>(n) * product_b;
    }
    if (n >= 2) {
      curvature = curvature * c + static_cast<double>(n * (n - 1)) * product;
    }
  }
  p.k = k, p.k_a = k_a, p.k_b = k_b, p.k_c = scaled;
  p.kd = scaled / r;
  p.kd_c = curvature / r;
  p.kd_a = scaled_a / r - p.kd / (2.0 * a);
  p.kd_b = scaled_b / r - p.kd / (2.0 * b);
  return true;
}

// The per-entry evaluator for entry_forward / entry_backward (fc_kernel_entry.h). On the diagonal
// (c = 1, equal variances) k and kd are the rows' own moments, so that the next layer's
// correlation is exactly 1 again. Values come from the Hermite series where its bound allows
// (most entries away from |c| = 1), else from the quadrature; so do the partials (series_partials).
struct QuadratureDual {
  const Info* info;
  const double* second; // [rows, depth] E[phi(u)^2]
  const double* derivative_second; // [rows, depth] E[phi'(u)^2]
  const Series* series; // [rows, depth]
  int64_t depth;

  // Entries are evaluated at variances of at least kSmallestVariance. Below it, with phi(0) = 0,
  // phi is its tangent (or, kinked at 0, its cone) to a relative O(q): k is linear in sqrt(q) on
  // each side and kd does not depend on q, so k is scaled by sqrt(q / kSmallestVariance) per side.
  // (Unscaled, inputs with |x|^2 / d = 1e-40 gave kernels 1e10 times too large.) With
  // phi(0) != 0 the clamp changes k and kd by a relative O(sqrt(kSmallestVariance)) only.
  double clamp_factor(double q) const {
    return info->zero_at_origin && q > 0 && q < kSmallestVariance ? std::sqrt(q / kSmallestVariance) : 1.0;
  }

  dual::entry::Value<double> value(int64_t l, int64_t i, int64_t j, double a, double b, double c, double) const {
    if (c == 1.0 && a == b) {
      return {second[i * depth + l], derivative_second[i * depth + l]};
    }
    // The rows' series are those at max(q, kSmallestVariance) (row_pass).
    const double scale = clamp_factor(a) * clamp_factor(b);
    const double ac = std::max(a, kSmallestVariance), bc = std::max(b, kSmallestVariance);
    double k, kd;
    if (series_value(series[i * depth + l], series[j * depth + l], c, std::sqrt(ac) * std::sqrt(bc), k, kd)) {
      return {k * scale, kd};
    }
    const QuadraturePartials e = evaluate_entry(*info, a, b, c, false);
    return {e.k * scale, e.kd};
  }

  dual::entry::Partials<double> partials(int64_t l, int64_t i, int64_t j, double a, double b, double c, double) const {
    dual::entry::Partials<double> p{};
    const double fa = clamp_factor(a), fb = clamp_factor(b);
    const double ac = std::max(a, kSmallestVariance), bc = std::max(b, kSmallestVariance);
    if (!series_partials(series[i * depth + l], series[j * depth + l], ac, bc, c, p)) {
      const QuadraturePartials e = evaluate_entry(*info, a, b, c, true);
      p.k = e.k, p.kd = e.kd;
      p.k_a = e.k_q1, p.k_b = e.k_q2, p.k_c = e.k_c;
      p.kd_a = e.kd_q1, p.kd_b = e.kd_q2, p.kd_c = e.kd_c;
      if (c == 1.0 && a == b) {
        // The row's own moments, at its variance: k needs no scaling below.
        p.k = second[i * depth + l] / (fa * fb);
        p.kd = derivative_second[i * depth + l];
      }
    }
    if (fa != 1.0 || fb != 1.0) {
      // Below the clamp k is proportional to sqrt(a) (sqrt(b)); kd and its partials are kept.
      p.k *= fa * fb;
      p.k_c *= fa * fb;
      p.k_a = fa != 1.0 ? p.k / (2 * a) : p.k_a * fb;
      p.k_b = fb != 1.0 ? p.k / (2 * b) : p.k_b * fa;
    }
    return p;
  }
};

// The first pass: row variances q^l and the moments of each layer.
struct Rows {
  RowTables tables; // q, second, slope (for finish_backward)
  std::vector<double> derivative_second;
  std::vector<Series> series; // Hermite coefficients of each row and layer
};

Rows row_pass(const FcKernelConfig& config, const std::vector<double>& norms, double w, double b, bool parallel) {
  Rows out;
  RowTables& t = out.tables;
  t.rows = static_cast<int64_t>(norms.size());
  t.depth = config.depth;
  const int64_t depth = config.depth, stride = depth + 1;
  t.q.assign(t.rows * stride, 0.0);
  t.second.assign(t.rows * depth, 0.0);
  t.slope.assign(t.rows * depth, 0.0);
  out.derivative_second.assign(t.rows * depth, 0.0);
  out.series.resize(t.rows * depth);
  const auto body = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      t.q[r * stride] = w * norms[r] + b;
      for (int64_t l = 0; l < depth; ++l) {
        check_layer_variance(t.q[r * stride + l], l);
        // The rows' own moments at their variance, however small (dual::moments takes any q > 0).
        const double q = t.q[r * stride + l];
        const dual::Moments m = dual::moments(config.activation, q > 0 ? q : kSmallestVariance);
        t.q[r * stride + l + 1] = w * m.second + b;
        t.second[r * depth + l] = m.second;
        t.slope[r * depth + l] = m.second_slope;
        out.derivative_second[r * depth + l] = m.derivative_second;
        out.series[r * depth + l] = dual::hermite_coefficients(
            config.activation, std::max(t.q[r * stride + l], kSmallestVariance));
      }
    }
  };
  if (parallel) {
    at::parallel_for(0, t.rows, 16, body);
  } else {
    body(0, t.rows);
  }
  return out;
}

// Rows of the output, in parallel for built-in activations. Symmetric problems evaluate the upper
// triangle, rows handed out in pairs (i, N - 1 - i) of equal work.
template <typename Fn>
void for_each_row(bool parallel, int64_t rows, bool triangular, Fn&& fn) {
  const int64_t tasks = triangular ? (rows + 1) / 2 : rows;
  const auto body = [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      fn(p);
      if (triangular && rows - 1 - p != p) {
        fn(rows - 1 - p);
      }
    }
  };
  if (parallel) {
    at::parallel_for(0, tasks, 1, body);
  } else {
    body(0, tasks);
  }
}

EntryParams<double> params(const FcKernelConfig& config, double w, double b, int64_t features) {
  return {config.depth, w, b, 1.0 / static_cast<double>(features), config.standard, config.width};
}

void check_supported(const FcKernelConfig& config) {
  TORCH_CHECK(config.activation.jumps().empty(), kFcKernelOp, ": custom activation '", config.activation.name(),
              "' declares jumps; fc_kernel does not support activations that jump (phi' holds a Dirac delta, so "
              "the NTK is infinite at correlation 1 and the NNGP backward needs E[delta delta]); use the built-in "
              "'step' or 'sign', or a continuous activation");
}

} // namespace

bool uses_quadrature_path(const Activation& activation) {
  switch (activation.kind()) {
    case ActivationKind::Elu:
    case ActivationKind::Selu:
    case ActivationKind::HardTanh:
    case ActivationKind::Custom:
      return true;
    default:
      return false;
  }
}

QuadraturePartials quadrature_partials(const Activation& activation, double q1, double q2, double c) {
  TORCH_CHECK(uses_quadrature_path(activation), "quadrature_partials: elu, selu, hard_tanh or custom, got ",
              activation.repr());
  const Info info = make_info(activation);
  return evaluate_entry(info, q1, q2, c, true);
}

at::Tensor fc_kernel_quadrature(
    const FcKernelConfig& config, const at::Tensor& x1, const at::Tensor& x2, double w, double b) {
  check_supported(config);
  const at::Tensor a = x1.to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor other = x2.defined() ? x2.to(at::kCPU, at::kDouble).contiguous() : at::Tensor();
  const bool diagonal = config.diagonal;
  const int64_t n = a.size(0);
  const int64_t m = diagonal ? n : (other.defined() ? other.size(0) : n);
  const int64_t column_offset = other.defined() ? n : 0;
  std::vector<int64_t> shape = {config.outputs(), n};
  if (!diagonal) {
    shape.push_back(m);
  }
  at::Tensor out = at::empty(shape, a.options());
  if (out.numel() == 0) {
    return out.to(x1.options());
  }
  const bool parallel = config.activation.kind() != ActivationKind::Custom;
  const Info info = make_info(config.activation);
  const Rows rows = row_pass(config, squared_row_norms(a, other), w, b, parallel);
  const QuadratureDual dual{
      &info, rows.tables.second.data(), rows.derivative_second.data(), rows.series.data(), config.depth};
  const EntryParams<double> p = params(config, w, b, a.size(1));
  at::Tensor dots = diagonal ? (other.defined() ? (a * other).sum(1) : a.square().sum(1))
                             : at::mm(a, other.defined() ? other.t() : a.t());
  const double* dot = dots.data_ptr<double>();
  double* nngp_out = config.nngp ? out[0].data_ptr<double>() : nullptr;
  double* ntk_out = config.ntk ? out[config.nngp ? 1 : 0].data_ptr<double>() : nullptr;
  const double* q = rows.tables.q.data();
  const int64_t stride = config.depth + 1;
  const bool triangular = !diagonal && !other.defined();
  const int64_t columns = diagonal ? 1 : m;
  for_each_row(parallel, n, triangular, [&](int64_t i) {
    const int64_t first = diagonal ? i : (triangular ? i : 0);
    const int64_t last = diagonal ? i + 1 : m;
    for (int64_t j = first; j < last; ++j) {
      const int64_t index = diagonal ? i : i * columns + j;
      const int64_t jr = column_offset + j;
      double value, tangent;
      entry_forward(dual, p, i, jr, q + i * stride, q + jr * stride, dot[index], value, tangent);
      if (nngp_out) nngp_out[index] = value;
      if (ntk_out) ntk_out[index] = tangent;
      if (triangular && j != i) {
        if (nngp_out) nngp_out[j * m + i] = value;
        if (ntk_out) ntk_out[j * m + i] = tangent;
      }
    }
  });
  return out.to(x1.options());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> fc_kernel_quadrature_backward(
    const FcKernelConfig& config, const at::Tensor& grad, const at::Tensor& x1, const at::Tensor& x2,
    const at::Tensor& sigma_w2, const at::Tensor& sigma_b2, std::array<bool, 4> output_mask) {
  check_supported(config);
  const double w = sigma_w2.item<double>(), b = sigma_b2.item<double>();
  const at::Tensor a = x1.to(at::kCPU, at::kDouble).contiguous();
  const at::Tensor other = x2.defined() ? x2.to(at::kCPU, at::kDouble).contiguous() : at::Tensor();
  const at::Tensor g = grad.to(at::kCPU, at::kDouble).contiguous();
  const bool diagonal = config.diagonal;
  const int64_t n = a.size(0);
  const int64_t m = diagonal ? n : (other.defined() ? other.size(0) : n);
  const int64_t column_offset = other.defined() ? n : 0;
  const int64_t depth = config.depth, stride = depth + 1;
  const bool triangular = !diagonal && !other.defined();
  const bool parallel = config.activation.kind() != ActivationKind::Custom;
  const std::vector<double> norms = squared_row_norms(a, other);
  const Info info = make_info(config.activation);
  const Rows rows = row_pass(config, norms, w, b, parallel);
  const QuadratureDual dual{&info, rows.tables.second.data(), rows.derivative_second.data(), rows.series.data(), depth};
  const EntryParams<double> p = params(config, w, b, a.size(1));
  at::Tensor dots = diagonal ? (other.defined() ? (a * other).sum(1) : a.square().sum(1))
                             : at::mm(a, other.defined() ? other.t() : a.t());
  const int64_t row_count = rows.tables.rows;
  const int threads = parallel ? at::get_num_threads() : 1;
  std::vector<std::vector<double>> grad_q(threads, std::vector<double>(row_count * stride, 0.0));
  std::vector<double> grad_w(threads, 0.0), grad_b(threads, 0.0);
  if (dots.numel() > 0) {
    const double* g_nngp = config.nngp ? g[0].data_ptr<double>() : nullptr;
    const double* g_ntk = config.ntk ? g[config.nngp ? 1 : 0].data_ptr<double>() : nullptr;
    double* dot = dots.data_ptr<double>();
    const double* q = rows.tables.q.data();
    const int64_t columns = diagonal ? 1 : m;
    for_each_row(parallel, n, triangular, [&](int64_t i) {
      std::vector<double> work(3 * depth + 1), row_a(depth + 1), row_b(depth + 1);
      const int thread = parallel ? at::get_thread_num() : 0;
      const int64_t first = diagonal ? i : (triangular ? i : 0);
      const int64_t last = diagonal ? i + 1 : m;
      for (int64_t j = first; j < last; ++j) {
        const int64_t index = diagonal ? i : i * columns + j;
        const int64_t jr = column_offset + j;
        double up_nngp = g_nngp ? g_nngp[index] : 0.0;
        double up_ntk = g_ntk ? g_ntk[index] : 0.0;
        if (triangular && j != i) {
          up_nngp += g_nngp ? g_nngp[j * m + i] : 0.0;
          up_ntk += g_ntk ? g_ntk[j * m + i] : 0.0;
        }
        std::fill(row_a.begin(), row_a.end(), 0.0);
        std::fill(row_b.begin(), row_b.end(), 0.0);
        const EntryGradients<double> e = entry_backward(
            dual, p, i, jr, q + i * stride, q + jr * stride, dot[index], up_nngp, up_ntk, work.data(), row_a.data(),
            row_b.data());
        auto& sink = grad_q[thread];
        for (int64_t l = 0; l < depth; ++l) {
          sink[i * stride + l] += row_a[l];
          sink[jr * stride + l] += row_b[l];
        }
        grad_w[thread] += e.sigma_w2;
        grad_b[thread] += e.sigma_b2;
        dot[index] = e.dot;
        if (triangular && j != i) {
          dot[j * m + i] = 0;
        }
      }
    });
  }
  double total_w = 0.0, total_b = 0.0;
  std::vector<double> grad_rows(row_count * stride, 0.0);
  for (int t = 0; t < threads; ++t) {
    total_w += grad_w[t];
    total_b += grad_b[t];
    for (int64_t k = 0; k < row_count * stride; ++k) {
      grad_rows[k] += grad_q[t][k];
    }
  }
  auto [g1, g2, gw, gb] = finish_backward(
      rows.tables, norms, grad_rows, total_w, total_b, dots, a, other, diagonal, w, output_mask,
      sigma_w2.to(at::kCPU, at::kDouble), sigma_b2.to(at::kCPU, at::kDouble));
  return {g1.defined() ? g1.to(x1.options()) : g1, g2.defined() ? g2.to(x2.options()) : g2,
          gw.defined() ? gw.to(sigma_w2.options()) : gw, gb.defined() ? gb.to(sigma_b2.options()) : gb};
}

} // namespace statmech::gp
