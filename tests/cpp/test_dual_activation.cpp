// The dual-activation core against references that share no code with it: a 2-D trapezoid rule
// in the eigenbasis of the covariance (551^2 nodes; its error for an integrand analytic in a strip
// of half-width d is ~exp(-2 pi d / h), below 1e-30 here), a 1-D trapezoid rule for the moments,
// closed-form special values, and Monte Carlo for the piecewise closed forms.

#include "test_helpers.h"

#include <statmech/statmech.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

using statmech::Activation;
using Fn = std::function<double(double)>;
constexpr double kPi = 3.14159265358979323846;

double logistic(double x) {
  return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
}

// phi and phi' written here, independently of ops/common/activation.cpp.
struct Reference {
  std::string name;
  Fn phi, dphi, d2phi;
};

std::vector<Reference> smooth_references() {
  const double density = 1.0 / std::sqrt(2 * kPi);
  return {
      {"tanh", [](double x) { return std::tanh(x); }, [](double x) { return 1 / std::pow(std::cosh(x), 2); },
       [](double x) { return -2 * std::tanh(x) / std::pow(std::cosh(x), 2); }},
      {"sigmoid", logistic, [](double x) { return logistic(x) * logistic(-x); },
       [](double x) { return logistic(x) * logistic(-x) * (logistic(-x) - logistic(x)); }},
      {"gelu", [](double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); },
       [=](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * density * std::exp(-x * x / 2); },
       [=](double x) { return density * std::exp(-x * x / 2) * (2 - x * x); }},
      {"silu", [](double x) { return x * logistic(x); },
       [](double x) { return logistic(x) * (1 + x * logistic(-x)); },
       [](double x) { return logistic(x) * logistic(-x) * (2 + x * (logistic(-x) - logistic(x))); }},
      {"softplus", [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); }, logistic,
       [](double x) { return logistic(x) * logistic(-x); }},
      {"erf", [](double x) { return std::erf(x); }, [](double x) { return 2 / std::sqrt(kPi) * std::exp(-x * x); },
       [](double x) { return -4 * x / std::sqrt(kPi) * std::exp(-x * x); }},
      {"sin", [](double x) { return std::sin(x); }, [](double x) { return std::cos(x); },
       [](double x) { return -std::sin(x); }},
      {"cos", [](double x) { return std::cos(x); }, [](double x) { return -std::sin(x); },
       [](double x) { return -std::cos(x); }},
      {"linear", [](double x) { return x; }, [](double) { return 1.0; }, [](double) { return 0.0; }},
  };
}

// E[f(u) f(v)] by the trapezoid rule in the eigenbasis of the covariance, step 0.04 on [-11, 11]^2.
double trapezoid_2d(const Fn& f, double q1, double q2, double c) {
  const double r = c * std::sqrt(q1 * q2);
  // Eigen-decomposition of [[q1, r], [r, q2]].
  const double mean = 0.5 * (q1 + q2);
  const double radius = std::hypot(0.5 * (q1 - q2), r);
  const double l1 = mean + radius;
  const double l2 = std::max(mean - radius, 0.0);
  const double angle = 0.5 * std::atan2(2 * r, q1 - q2);
  const double e11 = std::cos(angle), e21 = std::sin(angle); // eigenvector of l1
  const double e12 = -std::sin(angle), e22 = std::cos(angle); // eigenvector of l2
  const double h = 0.04;
  const int n = 551;
  std::vector<double> nodes(n), weights(n);
  for (int i = 0; i < n; ++i) {
    nodes[i] = -11.0 + h * i;
    weights[i] = h * std::exp(-0.5 * nodes[i] * nodes[i]) / std::sqrt(2 * kPi);
  }
  double sum = 0.0;
  const double s1 = std::sqrt(l1), s2 = std::sqrt(l2);
  for (int i = 0; i < n; ++i) {
    double row = 0.0;
    for (int j = 0; j < n; ++j) {
      const double u = e11 * s1 * nodes[i] + e12 * s2 * nodes[j];
      const double v = e21 * s1 * nodes[i] + e22 * s2 * nodes[j];
      row += weights[j] * f(u) * f(v);
    }
    sum += weights[i] * row;
  }
  return sum;
}

// E[g(sqrt(q) z)] by the trapezoid rule, step 0.005 on [-11, 11].
double trapezoid_1d(const Fn& g, double q) {
  double sum = 0.0;
  for (double z = -11.0; z <= 11.0 + 1e-9; z += 0.005) {
    sum += 0.005 * std::exp(-0.5 * z * z) / std::sqrt(2 * kPi) * g(std::sqrt(q) * z);
  }
  return sum;
}

// Relative error, measured against max(|reference|, 1e-3 * scale) so that values near a zero
// of k (odd activations at c ~ 0) are judged against the size of the kernel, not of the zero.
double relative_error(double value, double reference, double scale) {
  return std::fabs(value - reference) / std::max(std::fabs(reference), 1e-3 * scale);
}

const std::vector<std::pair<double, double>> kVariancePairs = {
    {1e-3, 1e-3}, {1e-3, 10.0}, {0.1, 1.0}, {1.0, 3.0}, {10.0, 10.0}};
const std::vector<double> kCorrelations = {-1.0, -1.0 + 1e-6, -0.5, 0.0, 0.3, 0.9, 0.999, 1.0 - 1e-6, 1.0};

class SmoothDualActivation : public ::testing::TestWithParam<int> {};

// Issue 3, section 1: float64 relative error <= 1e-10 over q1, q2 in [1e-3, 10], c in [-1, 1]
// including c within 1e-6 of +-1, against 2-D quadrature with >= 200^2 nodes.
TEST_P(SmoothDualActivation, KernelMatchesTrapezoidReference) {
  const auto ref = smooth_references()[GetParam()];
  const auto activation = Activation::named(ref.name);
  double worst_k = 0.0, worst_kdot = 0.0;
  for (const auto& [q1, q2] : kVariancePairs) {
    const double scale_k = std::sqrt(trapezoid_1d([&](double x) { return ref.phi(x) * ref.phi(x); }, q1) *
                                     trapezoid_1d([&](double x) { return ref.phi(x) * ref.phi(x); }, q2));
    const double scale_d = std::sqrt(trapezoid_1d([&](double x) { return ref.dphi(x) * ref.dphi(x); }, q1) *
                                     trapezoid_1d([&](double x) { return ref.dphi(x) * ref.dphi(x); }, q2));
    for (double c : kCorrelations) {
      const auto got = statmech::dual::kernel(activation, q1, q2, c);
      const double k_err = relative_error(got.value, trapezoid_2d(ref.phi, q1, q2, c), scale_k);
      const double d_err = relative_error(got.derivative, trapezoid_2d(ref.dphi, q1, q2, c), scale_d);
      EXPECT_LE(k_err, 1e-10) << ref.name << " k at q1=" << q1 << " q2=" << q2 << " c=" << c;
      EXPECT_LE(d_err, 1e-10) << ref.name << " kdot at q1=" << q1 << " q2=" << q2 << " c=" << c;
      worst_k = std::max(worst_k, k_err);
      worst_kdot = std::max(worst_kdot, d_err);
    }
  }
  std::printf("[ accuracy ] %-8s max relative error: k %.1e, kdot %.1e\n", ref.name.c_str(), worst_k, worst_kdot);
}

TEST_P(SmoothDualActivation, MomentsMatchTrapezoidReference) {
  const auto ref = smooth_references()[GetParam()];
  const auto activation = Activation::named(ref.name);
  for (double q : {1e-3, 0.3, 1.0, 10.0}) {
    const auto m = statmech::dual::moments(activation, q);
    const double second = trapezoid_1d([&](double x) { return ref.phi(x) * ref.phi(x); }, q);
    const double derivative_second = trapezoid_1d([&](double x) { return ref.dphi(x) * ref.dphi(x); }, q);
    const double curvature = trapezoid_1d([&](double x) { return ref.d2phi(x) * ref.phi(x); }, q);
    const double mean = trapezoid_1d(ref.phi, q);
    EXPECT_LE(relative_error(m.second, second, second), 1e-10) << ref.name << " q=" << q;
    EXPECT_LE(relative_error(m.derivative_second, derivative_second, derivative_second), 1e-10) << ref.name;
    EXPECT_LE(std::fabs(m.curvature - curvature), 1e-10 * std::max(second, derivative_second)) << ref.name;
    EXPECT_LE(std::fabs(m.mean - mean), 1e-10 * std::sqrt(second)) << ref.name << " q=" << q;
    EXPECT_NEAR(m.second_slope, m.derivative_second + m.curvature, 1e-14);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Activations, SmoothDualActivation, ::testing::Range(0, static_cast<int>(smooth_references().size())),
    [](const ::testing::TestParamInfo<int>& info) { return smooth_references()[info.param].name; });

// Closed forms at special points (Cho & Saul 2009; elementary integrals).
TEST(DualActivationClosedForms, SpecialValues) {
  const double q1 = 0.7, q2 = 2.3, root = std::sqrt(q1 * q2);
  const auto relu = Activation::named("relu");
  EXPECT_NEAR(statmech::dual::kernel(relu, q1, q2, 0.0).value, root / (2 * kPi), 1e-15);
  EXPECT_NEAR(statmech::dual::kernel(relu, q1, q1, 1.0).value, q1 / 2, 1e-15);
  EXPECT_NEAR(statmech::dual::kernel(relu, q1, q2, -1.0).value, 0.0, 1e-15);
  EXPECT_NEAR(statmech::dual::kernel(relu, q1, q2, 0.0).derivative, 0.25, 1e-15);
  // Near c = -1 the arc-cosine kernel vanishes like e^3 / 3 (e = pi - theta); no cancellation.
  const double c = -1.0 + 1e-8;
  const double e = std::acos(-c);
  const double expected = root / (2 * kPi) * (std::pow(e, 3) / 3 - std::pow(e, 5) / 30);
  EXPECT_LE(std::fabs(statmech::dual::kernel(relu, q1, q2, c).value / expected - 1), 1e-9);
  EXPECT_NEAR(statmech::dual::kernel(Activation::named("abs"), q1, q2, 0.0).value, 2 / kPi * root, 1e-15);
  EXPECT_NEAR(statmech::dual::kernel(Activation::named("step"), q1, q2, 0.0).value, 0.25, 1e-15);
  EXPECT_NEAR(statmech::dual::kernel(Activation::named("sign"), q1, q2, 0.5).value, 1.0 / 3.0, 1e-15);
  EXPECT_NEAR(statmech::dual::kernel(Activation::named("linear"), q1, q2, 0.4).value, 0.4 * root, 1e-15);
}

// Monte Carlo check of the piecewise closed forms: 2e6 samples, tolerance 6 standard errors.
TEST(DualActivationClosedForms, PiecewiseAgreeWithMonteCarlo) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  const double q1 = 0.8, q2 = 1.7, c = 0.35;
  const double s = std::sqrt(1 - c * c);
  struct Case {
    const char* name;
    Activation activation;
    Fn phi, dphi;
  };
  const double alpha = 0.2;
  const std::vector<Case> cases = {
      {"relu", Activation::named("relu"), [](double x) { return std::max(x, 0.0); },
       [](double x) { return x > 0 ? 1.0 : 0.0; }},
      {"leaky_relu", Activation::leaky_relu(alpha), [=](double x) { return x > 0 ? x : alpha * x; },
       [=](double x) { return x > 0 ? 1.0 : alpha; }},
      {"abs", Activation::named("abs"), [](double x) { return std::fabs(x); },
       [](double x) { return x > 0 ? 1.0 : -1.0; }},
      {"step", Activation::named("step"), [](double x) { return x > 0 ? 1.0 : 0.0; }, nullptr},
      {"sign", Activation::named("sign"), [](double x) { return x > 0 ? 1.0 : -1.0; }, nullptr},
  };
  const int n = 2000000;
  std::vector<double> u(n), v(n);
  for (int i = 0; i < n; ++i) {
    const double x = normal(rng), y = normal(rng);
    u[i] = std::sqrt(q1) * x;
    v[i] = std::sqrt(q2) * (c * x + s * y);
  }
  for (const auto& test : cases) {
    for (int which = 0; which < 2; ++which) {
      const Fn& f = which == 0 ? test.phi : test.dphi;
      if (!f) {
        continue;
      }
      double sum = 0.0, sum2 = 0.0;
      for (int i = 0; i < n; ++i) {
        const double p = f(u[i]) * f(v[i]);
        sum += p;
        sum2 += p * p;
      }
      const double mean = sum / n;
      const double error = std::sqrt((sum2 / n - mean * mean) / n);
      const auto got = statmech::dual::kernel(test.activation, q1, q2, c);
      EXPECT_NEAR(which == 0 ? got.value : got.derivative, mean, 6 * error) << test.name << " " << which;
    }
  }
}

// A user-defined activation (a C++ std::function on tensors, derivatives by autograd) agrees with
// the built-in one.
TEST(DualActivationCustom, StdFunctionTanhAgreesWithBuiltin) {
  const auto custom = Activation::custom([](const at::Tensor& x) { return torch::tanh(x); }, "my_tanh");
  const auto builtin = Activation::named("tanh");
  for (double c : {-0.9, 0.0, 0.5, 0.999}) {
    const auto a = statmech::dual::kernel(custom, 0.5, 2.0, c);
    const auto b = statmech::dual::kernel(builtin, 0.5, 2.0, c);
    EXPECT_NEAR(a.value, b.value, 1e-10 * std::fabs(b.value) + 1e-14);
    EXPECT_NEAR(a.derivative, b.derivative, 1e-10 * std::fabs(b.derivative));
  }
  const auto m = statmech::dual::moments(custom, 1.5);
  const auto n = statmech::dual::moments(builtin, 1.5);
  EXPECT_NEAR(m.second, n.second, 1e-12);
  EXPECT_NEAR(m.curvature, n.curvature, 1e-12);
}

TEST(DualActivationErrors, UnknownNameListsValidNames) {
  STATMECH_EXPECT_ERROR(Activation::named("tanhh"), "unknown activation 'tanhh'", "valid names are", "tanh",
                        "hard_tanh", "callable");
}

TEST(DualActivationErrors, ArgumentsAreChecked) {
  const auto tanh = Activation::named("tanh");
  STATMECH_EXPECT_ERROR(statmech::dual::kernel(tanh, 0.0, 1.0, 0.5), "dual::kernel", "q1", "positive");
  STATMECH_EXPECT_ERROR(statmech::dual::kernel(Activation::named("relu"), 1.0, 1.0, 1.5), "c must be a correlation");
  STATMECH_EXPECT_ERROR(statmech::dual::moments(tanh, -1.0), "dual::moments", "q");
}

TEST(DualActivationErrors, CustomActivationMustKeepShape) {
  const auto bad = Activation::custom([](const at::Tensor& x) { return x.sum(); }, "summing");
  STATMECH_EXPECT_ERROR(statmech::dual::moments(bad, 1.0), "custom activation 'summing'", "same shape");
}

} // namespace
