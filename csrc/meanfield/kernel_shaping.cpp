// Deep Kernel Shaping and Tailored Activation Transformations (csrc/include/statmech/kernel_shaping.h).
//
// Every quantity is a one-dimensional Gaussian expectation of phi(alpha z + beta) and its
// derivatives: the local maps at q = 1 need E[phi_hat], E[phi_hat^2], E[z phi_hat phi_hat'],
// E[phi_hat'], E[phi_hat'^2] and E[phi_hat''^2] (C''(1) by Price's theorem twice at c = 1). The core's
// moments() and DualKernel take zero-mean pre-activations, so the shifted expectations are sums
// over the core's Gaussian rule for phi(mean + spread z) (the same composite Gauss-Legendre rule,
// split at the activation's kinks, with panels as narrow as its analytic strip requires and graded
// away from the point where it is rough) with phi, phi', phi'' from Activation::evaluate. At
// beta = 0 they agree with dual::moments (tests/cpp/test_kernel_shaping.cpp). The leaky-relu C
// map of TAT is dual::kernel's closed form.
//
// The equations are solved by Levenberg-Marquardt with a finite-difference Jacobian (each residual
// costs one pass over a few hundred nodes) from a fixed list of starting points, then random ones
// from a seeded generator, so the answer is reproducible.

#include <statmech/kernel_shaping.h>

#include <statmech/dual_activation.h>

#include "csrc/meanfield/root_finding.h"
#include "ops/common/activation_traits.h"
#include "ops/common/quadrature.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iomanip>
#include <limits>
#include <random>
#include <sstream>
#include <vector>

namespace statmech::meanfield {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;
// The standard normal mass beyond |z| = 9.5 is 2e-21; the widest panel integrates the Gaussian
// weight times a smooth factor to rounding (the values of ops/common/direct_quadrature.cpp).
constexpr double kReach = 9.5;
constexpr double kWidestHalfPanel = 0.75;
// The equations are met to this (absolute, on targets of order 1).
constexpr double kTolerance = 1e-11;
// The smallest local target excess C'(1) - 1 (dks) or C''(1) (smooth tat) solved for: 100 times
// kTolerance, so that it is met to 1%. Below it (dks at depth ~1e9 with zeta = 1.5, tat at depth
// ~3e8 with tau = 0.3) the transformation would be fitted to rounding noise.
constexpr double kSmallestLocalTarget = 100 * kTolerance;

// ---- Gaussian sums ------------------------------------------------------------------------------

// Whether phi' jumps somewhere, so that phi'' holds a Dirac delta and E[phi''^2] is infinite.
bool derivative_jumps(const Activation& activation) {
  switch (activation.kind()) {
    case ActivationKind::Relu:
    case ActivationKind::Abs:
    case ActivationKind::Selu:
    case ActivationKind::HardTanh:
      return true;
    case ActivationKind::LeakyRelu:
      return activation.parameter() != 1.0;
    case ActivationKind::Elu:
      return activation.parameter() != 1.0;
    default:
      return false;
  }
}

void check_differentiable(const char* fn, const Activation& activation) {
  TORCH_CHECK(
      activation.kind() != ActivationKind::Step && activation.kind() != ActivationKind::Sign, fn,
      ": activation ", activation.repr(),
      " has a jump (its derivative is a Dirac delta), so its local C map has no finite slope; "
      "use a continuous activation");
}

// phi, phi', phi'' of phi(alpha z + beta) at the nodes of the core's Gaussian rule in z.
struct Samples {
  std::vector<double> z, w, f, df, d2f;
};

Samples sample(const Activation& activation, double alpha, double beta) {
  // The law of alpha z + beta does not depend on the sign of alpha.
  const double spread = std::fabs(alpha);
  std::vector<double> breaks;
  for (double kink : dual::kinks(activation)) {
    breaks.push_back((kink - beta) / spread);
  }
  const double half = std::min(kWidestHalfPanel, dual::analytic_half_width(activation) / spread);
  const double centre = (dual::roughness_centre(activation) - beta) / spread;
  quadrature::Rule rule;
  quadrature::append_gaussian_rule(-kReach, kReach, std::move(breaks), half, kWidestHalfPanel, centre, rule);
  Samples s;
  const auto n = static_cast<int64_t>(rule.nodes.size());
  s.z = std::move(rule.nodes);
  s.w = std::move(rule.weights);
  std::vector<double> x(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = spread * s.z[i] + beta;
  }
  s.f.resize(n), s.df.resize(n), s.d2f.resize(n);
  activation.evaluate(n, x.data(), s.f.data(), s.df.data(), s.d2f.data());
  return s;
}

double mean_of(const Samples& s) {
  double m = 0.0;
  for (size_t i = 0; i < s.z.size(); ++i) {
    m += s.w[i] * s.f[i];
  }
  return m;
}

// The local maps of gamma (phi(alpha x + beta) + delta) at q = 1; gamma <= 0 means "normalise":
// gamma = 1 / sqrt(E[(phi + delta)^2]), so that Q(1) = 1.
LocalMaps maps_from_samples(
    const Activation& activation, const Samples& s, double alpha, double delta, double gamma) {
  double mean = 0, second = 0, z_g_df = 0, df_mean = 0, df_second = 0, d2f_second = 0;
  for (size_t i = 0; i < s.z.size(); ++i) {
    const double w = s.w[i];
    const double g = s.f[i] + delta; // centred about -delta: no cancellation in E[(phi + delta)^2]
    mean += w * g;
    second += w * g * g;
    z_g_df += w * s.z[i] * g * s.df[i];
    df_mean += w * s.df[i];
    df_second += w * s.df[i] * s.df[i];
    d2f_second += w * s.d2f[i] * s.d2f[i];
  }
  const double a = std::fabs(alpha);
  const double gamma2 = gamma > 0 ? gamma * gamma : 1.0 / second;
  LocalMaps m{};
  m.q_value = gamma2 * second;
  // d/dq E[phi_hat(sqrt(q) z)^2] at q = 1 = E[z phi_hat phi_hat'] (needs phi' only, so kinks are
  // exact): gamma^2 alpha E[z g phi'(alpha z + beta)].
  m.q_slope = gamma2 * a * z_g_df;
  m.c_value_0 = gamma2 * mean * mean / m.q_value;
  m.c_slope_0 = gamma2 * a * a * df_mean * df_mean / m.q_value;
  m.c_slope_1 = gamma2 * a * a * df_second / m.q_value;
  m.c_curvature_1 = derivative_jumps(activation) ? kInf : gamma2 * a * a * a * a * d2f_second / m.q_value;
  return m;
}

// ---- the nonlinear solver -----------------------------------------------------------------------

using Vector = std::vector<double>;
using Residual = std::function<Vector(const Vector&)>;

double max_abs(const Vector& v) {
  double m = 0;
  for (double x : v) {
    m = std::isfinite(x) ? std::max(m, std::fabs(x)) : kInf;
  }
  return m;
}

double sum_of_squares(const Vector& v) {
  double s = 0;
  for (double x : v) {
    s += x * x;
  }
  return std::isfinite(s) ? s : kInf;
}

// Solves the n x n system F(x) = 0 by Levenberg-Marquardt on |F|^2 (central-difference Jacobian,
// the damping lowered after a successful step and raised after a failed one). Returns true when
// max |F| <= kTolerance.
bool levenberg_marquardt(const Residual& residual, Vector& x) {
  const size_t n = x.size();
  Vector r = residual(x);
  double cost = sum_of_squares(r);
  if (!std::isfinite(cost)) {
    return false;
  }
  double lambda = 1e-3;
  double cost_before = cost; // checkpoint for stagnation: a start that creeps is abandoned early
  for (int iteration = 0; iteration < 200 && max_abs(r) > kTolerance; ++iteration) {
    if (iteration > 0 && iteration % 20 == 0) {
      if (cost > 0.5 * cost_before) {
        break;
      }
      cost_before = cost;
    }
    // J[i][j] = dF_i / dx_j
    std::vector<Vector> jac(n, Vector(n));
    for (size_t j = 0; j < n; ++j) {
      const double h = 1e-6 * std::max(1.0, std::fabs(x[j]));
      Vector plus = x, minus = x;
      plus[j] += h, minus[j] -= h;
      const Vector rp = residual(plus), rm = residual(minus);
      for (size_t i = 0; i < n; ++i) {
        jac[i][j] = (rp[i] - rm[i]) / (2 * h);
      }
    }
    // Normal equations (J^T J + lambda diag(J^T J)) dx = -J^T r, n <= 3: Gaussian elimination.
    bool improved = false;
    for (int attempt = 0; attempt < 12 && !improved; ++attempt) {
      std::vector<Vector> a(n, Vector(n + 1, 0.0));
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = 0; j < n; ++j) {
          for (size_t k = 0; k < n; ++k) {
            a[i][j] += jac[k][i] * jac[k][j];
          }
        }
        for (size_t k = 0; k < n; ++k) {
          a[i][n] -= jac[k][i] * r[k];
        }
      }
      for (size_t i = 0; i < n; ++i) {
        a[i][i] += lambda * std::max(a[i][i], 1e-12);
      }
      bool singular = false;
      for (size_t col = 0; col < n && !singular; ++col) {
        size_t pivot = col;
        for (size_t row = col + 1; row < n; ++row) {
          if (std::fabs(a[row][col]) > std::fabs(a[pivot][col])) {
            pivot = row;
          }
        }
        std::swap(a[col], a[pivot]);
        if (!(std::fabs(a[col][col]) > 0)) {
          singular = true;
          break;
        }
        for (size_t row = 0; row < n; ++row) {
          if (row != col) {
            const double factor = a[row][col] / a[col][col];
            for (size_t k = col; k <= n; ++k) {
              a[row][k] -= factor * a[col][k];
            }
          }
        }
      }
      if (singular) {
        lambda *= 10;
        continue;
      }
      Vector candidate = x;
      for (size_t i = 0; i < n; ++i) {
        candidate[i] += a[i][n] / a[i][i];
      }
      const Vector rc = residual(candidate);
      const double candidate_cost = sum_of_squares(rc);
      if (std::isfinite(candidate_cost) && candidate_cost < cost) {
        x = candidate, r = rc, cost = candidate_cost;
        lambda = std::max(lambda / 10, 1e-12);
        improved = true;
      } else {
        lambda *= 10;
      }
    }
    if (!improved) {
      break;
    }
  }
  return max_abs(r) <= kTolerance;
}

// Starting points: a few values for which common activations behave sensibly, then uniform draws
// over ranges of the same kind (fixed seed: the same answer on every run).
std::vector<Vector> starting_points(const std::vector<std::array<double, 2>>& ranges,
                                    const std::vector<std::vector<double>>& always_try, int total) {
  std::vector<Vector> points{{}};
  for (const auto& values : always_try) {
    std::vector<Vector> next;
    for (const auto& p : points) {
      for (double v : values) {
        Vector q = p;
        q.push_back(v);
        next.push_back(q);
      }
    }
    points = std::move(next);
  }
  std::mt19937_64 generator(123);
  while (static_cast<int>(points.size()) < total) {
    Vector p;
    for (const auto& range : ranges) {
      p.push_back(std::uniform_real_distribution<double>(range[0], range[1])(generator));
    }
    points.push_back(p);
  }
  return points;
}

// phi(-x) = 2 c - phi(x) for these (c = 1/2 for the logistic function, 0 otherwise): the
// transformations with beta and -beta are mirror images, and the one with beta >= 0 is reported.
bool point_symmetric(const Activation& activation, double& centre) {
  switch (activation.kind()) {
    case ActivationKind::Tanh:
    case ActivationKind::Erf:
    case ActivationKind::Sin:
    case ActivationKind::HardTanh:
    case ActivationKind::Linear:
      centre = 0.0;
      return true;
    case ActivationKind::Sigmoid:
      centre = 0.5;
      return true;
    default:
      return false;
  }
}

// ---- the network description --------------------------------------------------------------------

void check_network(const char* fn, const NetworkDescription& network) {
  TORCH_CHECK(network.depth >= 0, fn, ": depth must be a positive number of nonlinear layers, got ", network.depth);
  TORCH_CHECK(
      network.depth > 0 || network.subnet_max_func || network.max_slope_func || network.max_curv_func, fn,
      ": the network description is empty; give a depth (a plain network of that many nonlinear layers), "
      "subnet_max_func, max_slope_func (DKS) or max_curv_func (TAT)");
}

// x in (lo, inf) with f(x) = target for an increasing f with f(lo) < target.
double solve_increasing(const char* fn, const char* what, const ScalarFunction& f, double target, double lo) {
  const double f_lo = f(lo) - target;
  TORCH_CHECK(f_lo < 0, fn, ": the network's ", what, " at the smallest local value is already ", f_lo + target,
              " >= the target ", target, "; the network description is inconsistent");
  double step = 1.0;
  double hi = lo + step;
  double f_hi = f(hi) - target;
  for (int i = 0; i < 2000 && !(f_hi >= 0); ++i) {
    TORCH_CHECK(!std::isnan(f_hi), fn, ": the network's ", what, " is NaN at ", hi);
    step *= 2;
    hi = lo + step;
    f_hi = f(hi) - target;
  }
  TORCH_CHECK(f_hi >= 0, fn, ": the network's ", what, " never reaches the target ", target);
  return detail::bracketed_secant([&](double x) { return f(x) - target; }, lo, hi, f_lo, f_hi);
}

ScalarFunction max_slope_function(const NetworkDescription& network) {
  if (network.max_slope_func) {
    return network.max_slope_func;
  }
  if (network.subnet_max_func) {
    const auto m = network.subnet_max_func;
    return [m](double x) { return m(1.0, [x](double y) { return x * y; }); };
  }
  const double depth = static_cast<double>(network.depth);
  return [depth](double x) { return std::pow(x, depth); };
}

ScalarFunction max_curvature_function(const NetworkDescription& network) {
  if (network.max_curv_func) {
    return network.max_curv_func;
  }
  if (network.subnet_max_func) {
    const auto m = network.subnet_max_func;
    return [m](double x) { return m(0.0, [x](double y) { return x + y; }); };
  }
  const double depth = static_cast<double>(network.depth);
  return [depth](double x) { return depth * x; };
}

SubnetMaxFunction subnet_max_function(const NetworkDescription& network) {
  if (network.subnet_max_func) {
    return network.subnet_max_func;
  }
  const int64_t depth = network.depth;
  return [depth](double x, const ScalarFunction& r) {
    for (int64_t l = 0; l < depth; ++l) {
      x = r(x);
    }
    return x;
  };
}

std::string format(double x) {
  std::ostringstream out;
  out << std::setprecision(10) << x;
  return out.str();
}

} // namespace

// ---- public API -----------------------------------------------------------------------------------

NetworkDescription NetworkDescription::plain(int64_t depth) {
  return NetworkDescription(depth);
}

NetworkDescription NetworkDescription::subnetwork(SubnetMaxFunction subnet_max_func) {
  NetworkDescription d;
  d.subnet_max_func = std::move(subnet_max_func);
  return d;
}

NetworkDescription NetworkDescription::maximal_slope(ScalarFunction max_slope_func) {
  NetworkDescription d;
  d.max_slope_func = std::move(max_slope_func);
  return d;
}

NetworkDescription NetworkDescription::maximal_curvature(ScalarFunction max_curv_func) {
  NetworkDescription d;
  d.max_curv_func = std::move(max_curv_func);
  return d;
}

std::string NetworkDescription::repr() const {
  if (subnet_max_func) {
    return "NetworkDescription(subnet_max_func)";
  }
  if (max_slope_func || max_curv_func) {
    return std::string("NetworkDescription(") + (max_slope_func ? "max_slope_func" : "") +
        (max_slope_func && max_curv_func ? ", " : "") + (max_curv_func ? "max_curv_func" : "") + ")";
  }
  return "NetworkDescription(depth=" + std::to_string(depth) + ")";
}

LocalMaps local_maps(
    const Activation& activation, double input_scale, double input_shift, double output_shift, double output_scale) {
  TORCH_CHECK(std::isfinite(input_scale) && input_scale != 0, "local_maps: input_scale must be finite and nonzero, got ",
              input_scale);
  TORCH_CHECK(std::isfinite(input_shift), "local_maps: input_shift must be finite, got ", input_shift);
  TORCH_CHECK(std::isfinite(output_shift), "local_maps: output_shift must be finite, got ", output_shift);
  TORCH_CHECK(std::isfinite(output_scale) && output_scale > 0,
              "local_maps: output_scale must be positive and finite, got ", output_scale);
  check_differentiable("local_maps", activation);
  const Samples s = sample(activation, input_scale, input_shift);
  return maps_from_samples(activation, s, input_scale, output_shift, output_scale);
}

LocalMaps ActivationTransform::local_maps() const {
  return meanfield::local_maps(activation, input_scale, input_shift, output_shift, output_scale);
}

double ActivationTransform::operator()(double x) const {
  double f, df, d2f;
  const double y = input_scale * x + input_shift;
  activation.evaluate(1, &y, &f, &df, &d2f);
  return output_scale * (f + output_shift);
}

at::Tensor ActivationTransform::operator()(const at::Tensor& input) const {
  TORCH_CHECK(activation.kind() != ActivationKind::Custom,
              "ActivationTransform: a custom activation cannot be applied by the transformed_activation operator; "
              "apply output_scale * (phi(input_scale * x + input_shift) + output_shift) yourself");
  return transformed_activation(
      input, activation.name(), activation.parameter(), input_scale, input_shift, output_shift, output_scale);
}

std::string ActivationTransform::repr() const {
  std::ostringstream out;
  out << "ActivationTransform(method=" << method << ", activation=" << activation.repr()
      << ", input_scale=" << format(input_scale) << ", input_shift=" << format(input_shift)
      << ", output_shift=" << format(output_shift) << ", output_scale=" << format(output_scale) << ")";
  return out.str();
}

ActivationTransform dks(const Activation& activation, const NetworkDescription& network, const DksOptions& options) {
  const char* fn = "dks";
  check_network(fn, network);
  TORCH_CHECK(std::isfinite(options.zeta()) && options.zeta() > 1.0, fn,
              ": zeta (the maximal slope C_f'(1) of the network, dks's c_slope_1_target) must be > 1, got ",
              options.zeta());
  TORCH_CHECK(std::isfinite(options.local_q_slope()) && options.local_q_slope() > 0, fn,
              ": local_q_slope must be positive, got ", options.local_q_slope());
  TORCH_CHECK(network.max_slope_func || network.subnet_max_func || network.depth > 0, fn,
              ": DKS needs the maximal slope function: give a depth, subnet_max_func or max_slope_func");
  check_differentiable(fn, activation);

  const double slope_target = solve_increasing(fn, "maximal C'(1)", max_slope_function(network), options.zeta(), 1.0);
  TORCH_CHECK(
      slope_target - 1.0 >= kSmallestLocalTarget, fn, ": the local target C'(1) = 1 + ", slope_target - 1.0,
      " (zeta = ", options.zeta(), " spread over the network) is closer to 1 than the ", kSmallestLocalTarget,
      " the equations resolve (they are met to ", kTolerance,
      "), so the transformation would fit rounding noise; use a larger zeta or a shallower network");
  const double q_slope_target = options.local_q_slope();

  ActivationTransform t;
  t.method = "dks";
  t.activation = activation;
  t.local_target = slope_target;

  const auto kind = activation.kind();
  if (kind == ActivationKind::Relu) {
    // relu(alpha x + beta) = alpha relu(x + beta / alpha): only the ratio matters, and Q'(1) = 1
    // cannot be imposed with C(0) = 0 besides (dks turns it off too). At ratio 0, C'(1) =
    // E[phi'^2] / Var[phi] = (1/2) / (1/2 - 1/(2 pi)) = 1 / (1 - 1/pi); smaller slopes need a
    // positive shift (more linear), larger ones a negative one. beta = +-1, alpha solves C'(1).
    const double beta = slope_target < 1.0 / (1.0 - 1.0 / kPi) ? 1.0 : -1.0;
    auto slope_of = [&](double log_alpha) {
      const double alpha = std::exp(log_alpha);
      const Samples s = sample(activation, alpha, beta);
      return maps_from_samples(activation, s, alpha, -mean_of(s), 0.0).c_slope_1 - slope_target;
    };
    // C'(1) grows with alpha for beta = 1 (towards the ratio-0 value) and falls for beta = -1.
    double lo = -30.0, hi = 30.0;
    double g_lo = slope_of(lo), g_hi = slope_of(hi);
    TORCH_CHECK((g_lo < 0) != (g_hi < 0), fn, ": no relu transformation reaches the local slope C'(1) = ", slope_target);
    const double log_alpha = detail::bracketed_secant(slope_of, lo, hi, g_lo, g_hi);
    t.input_scale = std::exp(log_alpha);
    t.input_shift = beta;
  } else {
    // Unknowns: (alpha, beta), or (negative_slope, beta) for leaky relu (alpha = 1 there: it is
    // positively homogeneous). delta = -E[phi] (C(0) = 0), gamma = 1 / sqrt(E[(phi + delta)^2]).
    const bool leaky = kind == ActivationKind::LeakyRelu;
    auto activation_at = [&](const Vector& p) { return leaky ? Activation::leaky_relu(p[0]) : activation; };
    auto scale_at = [&](const Vector& p) { return leaky ? 1.0 : p[0]; };
    const Residual residual = [&](const Vector& p) -> Vector {
      if (!leaky && !(std::fabs(p[0]) > 1e-12)) {
        return {kNaN, kNaN};
      }
      const Activation a = activation_at(p);
      const Samples s = sample(a, scale_at(p), p[1]);
      const LocalMaps m = maps_from_samples(a, s, scale_at(p), -mean_of(s), 0.0);
      return {m.q_slope - q_slope_target, m.c_slope_1 - slope_target};
    };
    const auto starts = leaky ? starting_points({{0.0, 1.0}, {-3.0, 3.0}}, {{0.0, 0.5}, {0.0, 1.0, -1.0}}, 50)
                              : starting_points({{0.0, 2.0}, {-3.0, 3.0}}, {{1.0, 0.1}, {0.0, 1.0, -1.0}}, 50);
    bool solved = false;
    Vector p;
    for (const auto& start : starts) {
      p = start;
      if (levenberg_marquardt(residual, p)) {
        solved = true;
        break;
      }
    }
    TORCH_CHECK(solved, fn, ": found no transformation of ", activation.repr(), " with Q'(1) = ", q_slope_target,
                " and C'(1) = ", slope_target, " from 50 starting points");
    double centre = 0.0;
    if (point_symmetric(activation, centre) && p[1] < 0) {
      p[1] = -p[1]; // the mirror image: delta and gamma are recomputed below
    }
    if (leaky) {
      t.activation = Activation::leaky_relu(p[0]);
      t.input_scale = 1.0;
    } else {
      t.input_scale = std::fabs(p[0]);
    }
    t.input_shift = p[1];
  }
  const Samples s = sample(t.activation, t.input_scale, t.input_shift);
  t.output_shift = -mean_of(s);
  const LocalMaps unnormalised = maps_from_samples(t.activation, s, t.input_scale, t.output_shift, 1.0);
  t.output_scale = 1.0 / std::sqrt(unnormalised.q_value);
  const LocalMaps m = maps_from_samples(t.activation, s, t.input_scale, t.output_shift, t.output_scale);
  t.residual = std::max({std::fabs(m.q_value - 1), std::fabs(m.c_value_0), std::fabs(m.c_slope_1 - slope_target),
                         kind == ActivationKind::Relu ? 0.0 : std::fabs(m.q_slope - q_slope_target)});
  return t;
}

ActivationTransform tat(const Activation& activation, const NetworkDescription& network, const TatOptions& options) {
  const char* fn = "tat";
  check_network(fn, network);
  check_differentiable(fn, activation);
  ActivationTransform t;
  t.method = "tat";

  if (activation.kind() == ActivationKind::LeakyRelu) {
    const double eta = options.eta();
    TORCH_CHECK(std::isfinite(eta) && eta > 0 && eta < 1, fn,
                ": eta (the maximal C_f(0) of the network, dks's c_val_0_target) must be in (0, 1), got ", eta);
    TORCH_CHECK(network.subnet_max_func || network.depth > 0, fn,
                ": leaky-relu TAT needs subnet_max_func or a depth (max_slope_func / max_curv_func do not determine "
                "C_f(0))");
    const SubnetMaxFunction m = subnet_max_function(network);
    // The normalised local C map of leaky_relu_s: k(1, 1, c) / k(1, 1, 1) from the core's closed form.
    auto max_c0 = [&](double s) {
      const Activation a = Activation::leaky_relu(s);
      const double q = dual::kernel(a, 1.0, 1.0, 1.0).value;
      return m(0.0, [&](double c) { return dual::kernel(a, 1.0, 1.0, std::clamp(c, -1.0, 1.0)).value / q; });
    };
    // max_c0 falls from its relu value at s = 0 to 0 at s = 1 (a linear network).
    const double at_relu = max_c0(0.0) - eta;
    TORCH_CHECK(at_relu > 0, fn, ": even relu (negative_slope 0) reaches only C_f(0) = ", at_relu + eta,
                " < eta = ", eta, " in this network: it is too shallow to be that nonlinear; choose a smaller eta");
    const double slope = detail::bracketed_secant([&](double s) { return max_c0(s) - eta; }, 0.0, 1.0, at_relu, -eta);
    t.activation = Activation::leaky_relu(slope);
    t.output_scale = std::sqrt(2.0 / (1.0 + slope * slope)); // Q(1) = 1
    t.local_target = dual::kernel(t.activation, 1.0, 1.0, 0.0).value / dual::kernel(t.activation, 1.0, 1.0, 1.0).value;
    t.residual = std::fabs(max_c0(slope) - eta);
    return t;
  }

  const double tau = options.tau();
  TORCH_CHECK(std::isfinite(tau) && tau > 0, fn,
              ": tau (the maximal curvature C_f''(1) of the network, dks's c_curve_target) must be > 0, got ", tau);
  TORCH_CHECK(!derivative_jumps(activation), fn, ": the derivative of ", activation.repr(),
              " jumps, so C''(1) = E[phi''^2] is infinite and smooth TAT does not apply; "
              "use leaky_relu (TAT's form for kinked activations)");
  TORCH_CHECK(network.max_curv_func || network.subnet_max_func || network.depth > 0, fn,
              ": smooth TAT needs the maximal curvature function: give a depth, subnet_max_func or max_curv_func");
  const double curvature_target = solve_increasing(fn, "maximal C''(1)", max_curvature_function(network), tau, 0.0);
  TORCH_CHECK(
      curvature_target >= kSmallestLocalTarget, fn, ": the local target C''(1) = ", curvature_target, " (tau = ", tau,
      " spread over the network) is below the ", kSmallestLocalTarget, " the equations resolve (they are met to ",
      kTolerance, "), so the transformation would fit rounding noise; use a larger tau or a shallower network");
  t.activation = activation;
  t.local_target = curvature_target;

  // Unknowns (alpha, beta, delta); gamma from Q(1) = 1. Equations Q'(1) = 1, C'(1) = 1,
  // C''(1) = target. Solutions with alpha gamma >= 2 are passed over, as dks does: they are the
  // ones with unstable Q maps.
  const Residual residual = [&](const Vector& p) -> Vector {
    if (!(std::fabs(p[0]) > 1e-12)) {
      return {kNaN, kNaN, kNaN};
    }
    const Samples s = sample(activation, p[0], p[1]);
    const LocalMaps m = maps_from_samples(activation, s, p[0], p[2], 0.0);
    return {m.q_slope - 1.0, m.c_slope_1 - 1.0, m.c_curvature_1 - curvature_target};
  };
  const auto starts = starting_points(
      {{0.0, 2.0}, {-3.0, 3.0}, {-3.0, 3.0}}, {{1.0, 0.1}, {0.0, 1.0, -1.0}, {0.0, 1.0, -1.0}}, 50);
  bool solved = false;
  Vector p;
  double gamma = kNaN;
  for (const auto& start : starts) {
    p = start;
    if (!levenberg_marquardt(residual, p)) {
      continue;
    }
    double centre = 0.0;
    if (point_symmetric(activation, centre) && p[1] < 0) {
      // The mirror image phi(alpha x - beta) = 2 centre - phi(-alpha x + beta).
      p[1] = -p[1];
      p[2] = -p[2] - 2 * centre;
    }
    const Samples s = sample(activation, p[0], p[1]);
    gamma = 1.0 / std::sqrt(maps_from_samples(activation, s, p[0], p[2], 1.0).q_value);
    if (std::fabs(p[0]) * gamma < 2.0) {
      solved = true;
      break;
    }
  }
  TORCH_CHECK(solved, fn, ": found no transformation of ", activation.repr(), " with Q'(1) = 1, C'(1) = 1 and C''(1) = ",
              curvature_target, " from 50 starting points");
  t.input_scale = std::fabs(p[0]);
  t.input_shift = p[1];
  t.output_shift = p[2];
  t.output_scale = gamma;
  const LocalMaps m = t.local_maps();
  t.residual = std::max({std::fabs(m.q_value - 1), std::fabs(m.q_slope - 1), std::fabs(m.c_slope_1 - 1),
                         std::fabs(m.c_curvature_1 - curvature_target)});
  return t;
}

} // namespace statmech::meanfield
