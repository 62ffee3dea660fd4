// The mean-field calculator against numbers from the literature (each test cites its source).

#include "test_helpers.h"

#include <statmech/statmech.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace {

using statmech::Activation;
namespace mf = statmech::meanfield;
constexpr double kPi = 3.14159265358979323846;

// He et al. 2015 and Schoenholz et al. 2017 (Sec. 3): for relu, chi_1 = sigma_w2 E[1(u > 0)] =
// sigma_w2 / 2 whatever q*, so the critical point is (sigma_w2, sigma_b2) = (2, 0).
TEST(MeanField, ReluCriticalAtTwoZero) {
  const auto relu = Activation::named("relu");
  const auto point = mf::fixed_point(2.0, 0.0, relu);
  EXPECT_EQ(point.phase, mf::Phase::Critical);
  EXPECT_TRUE(point.stable);
  EXPECT_NEAR(point.chi_1, 1.0, 1e-14);
  EXPECT_TRUE(std::isinf(point.xi_c));
  EXPECT_NEAR(mf::critical_sigma_w2(0.0, relu), 2.0, 1e-14);
  EXPECT_EQ(mf::fixed_point(2.0, 0.0, "relu").phase, mf::Phase::Critical); // a plain name works too
  for (double sigma_w2 : {0.5, 1.0, 1.5, 1.9}) {
    const auto p = mf::fixed_point(sigma_w2, 0.3, relu);
    EXPECT_EQ(p.phase, mf::Phase::Ordered);
    EXPECT_NEAR(p.chi_1, sigma_w2 / 2, 1e-14);
    EXPECT_NEAR(p.q_star, 0.3 / (1 - sigma_w2 / 2), 1e-12 * p.q_star); // q = sigma_w2 q / 2 + sigma_b2
    EXPECT_NEAR(mf::gradient_growth(sigma_w2, 0.3, relu), sigma_w2 / 2, 1e-14);
  }
}

// Leaky relu: E[phi'^2] = (1 + alpha^2) / 2, so the critical sigma_w2 is 2 / (1 + alpha^2), the
// square of torch.nn.init.calculate_gain('leaky_relu', alpha).
TEST(MeanField, LeakyReluCriticalWeightVariance) {
  for (double alpha : {0.01, 0.1, 0.3, 0.5}) {
    EXPECT_NEAR(mf::critical_sigma_w2(0.0, Activation::leaky_relu(alpha)), 2 / (1 + alpha * alpha), 1e-13);
  }
}

// erf: Williams 1997 gives E[erf(u)^2] = (2/pi) arcsin(2q / (1 + 2q)), so the q-map is
// sigma_w2 (2/pi) arcsin(2q/(1+2q)) + sigma_b2, and E[erf'(u)^2] = (4/pi) / sqrt(1 + 4q) puts the
// critical sigma_w2 at (pi/4) sqrt(1 + 4 q*) (Pennington et al. 2017, Sec. 4).
TEST(MeanField, ErfQMapAndCriticalLine) {
  const auto erf = Activation::named("erf");
  for (double q : {0.01, 0.5, 2.0, 9.0}) {
    const double expected = 1.3 * (2 / kPi) * std::asin(2 * q / (1 + 2 * q)) + 0.2;
    EXPECT_NEAR(mf::q_map(q, 1.3, 0.2, erf), expected, 1e-14);
  }
  for (double q_star : {0.1, 1.0, 3.0}) {
    const auto [sigma_w2, sigma_b2] = mf::critical_point(q_star, erf);
    EXPECT_NEAR(sigma_w2, kPi / 4 * std::sqrt(1 + 4 * q_star), 1e-13);
    const auto point = mf::fixed_point(sigma_w2, sigma_b2, erf);
    EXPECT_NEAR(point.q_star, q_star, 1e-10 * q_star);
    EXPECT_EQ(point.phase, mf::Phase::Critical);
    EXPECT_NEAR(mf::critical_sigma_w2(sigma_b2, erf), sigma_w2, 1e-10);
  }
}

// tanh: the critical line approaches sigma_w2 = 1 as sigma_b2 -> 0 (Poole et al. 2016, Fig. 1;
// Schoenholz et al. 2017, Fig. 1): tanh'(0) = 1.
TEST(MeanField, TanhCriticalLineTendsToOne) {
  const auto tanh = Activation::named("tanh");
  EXPECT_NEAR(mf::critical_sigma_w2(0.0, tanh), 1.0, 1e-12);
  double previous = 1.0;
  for (double sigma_b2 : {1e-8, 1e-6, 1e-4, 1e-2, 0.05}) {
    const double sigma_w2 = mf::critical_sigma_w2(sigma_b2, tanh);
    EXPECT_GT(sigma_w2, previous);
    EXPECT_NEAR(mf::fixed_point(sigma_w2, sigma_b2, tanh).chi_1, 1.0, 1e-9);
    previous = sigma_w2;
  }
  // Small q: E[tanh^2] = q - 2q^2 + O(q^3) and E[tanh'^2] = 1 - 2q + O(q^2), so along the critical
  // line sigma_b2 = q - E[tanh^2]/E[tanh'^2] = O(q^3) while sigma_w2 - 1 = 2q + O(q^2): the
  // approach to 1 goes like sigma_b2^(1/3). Two decades of sigma_b2 shrink it by 100^(1/3) ~ 4.6.
  const double near = mf::critical_sigma_w2(1e-8, tanh) - 1.0;
  const double far = mf::critical_sigma_w2(1e-6, tanh) - 1.0;
  EXPECT_LT(near, 1e-2);
  EXPECT_NEAR(near / far, std::cbrt(1e-2), 0.02);
  // The critical line of Schoenholz et al. 2017, Fig. 1(a), passes (sigma_w2, sigma_b2) ~ (1.76, 0.05).
  EXPECT_NEAR(mf::critical_sigma_w2(0.05, tanh), 1.76, 0.01);
}

// torch.nn.init.calculate_gain('tanh') = 5/3; sigma_w2 = 25/9 with zero bias is chaotic
// (chi_1 > 1): tanh'(0)^2 sigma_w2 > 1 makes q* > 0 with chi_1 > 1, c* = 0.
TEST(MeanField, PyTorchTanhGainIsChaotic) {
  const auto point = mf::fixed_point(25.0 / 9.0, 0.0, Activation::named("tanh"));
  EXPECT_EQ(point.phase, mf::Phase::Chaotic);
  EXPECT_GT(point.chi_1, 1.0);
  EXPECT_GT(point.q_star, 0.0);
  EXPECT_NEAR(point.c_star, 0.0, 1e-12);
  EXPECT_LT(point.chi_c, 1.0); // c* is stable
}

// Yang et al. 2019, "A mean field theory of batch normalization", Thm. 3.10 / Sec. 3: batch norm
// + relu explodes squared gradients by pi / (pi - 1) per layer; a linear activation not at all.
// (Monte Carlo of deep BN networks for other activations: tests/python/test_meanfield_stability.py.)
TEST(MeanField, BatchNormGradientGrowth) {
  EXPECT_NEAR(mf::batchnorm_gradient_growth(Activation::named("relu")), kPi / (kPi - 1), 1e-15);
  EXPECT_NEAR(mf::batchnorm_gradient_growth(Activation::named("linear")), 1.0, 1e-15);
  EXPECT_GT(mf::batchnorm_gradient_growth(Activation::named("tanh")), 1.0);
}

// issue 8: silu's chi_1 = 1 at sigma_b2 = 0.04 is an unstable fixed point (the old answer 2.8208);
// the calculator refuses it, says why and where an edge of chaos exists, and the fixed point
// reached from the default q0 diverges, with an ordered stable fixed point below the unstable one.
TEST(MeanField, EdgeOfChaosMustBeStable) {
  const auto silu = Activation::named("silu");
  STATMECH_EXPECT_ERROR(mf::critical_sigma_w2(0.04, silu), "critical_sigma_w2", "silu", "sigma_b2 = 0.04",
                        "unstable", "A stable edge of chaos exists for sigma_b2 in");
  const auto p = mf::fixed_point(2.820826397721833, 0.04, silu);
  ASSERT_EQ(p.fixed_points.size(), 2u);
  EXPECT_TRUE(p.fixed_points[0].stable);
  EXPECT_FALSE(p.fixed_points[1].stable);
  EXPECT_EQ(p.phase, mf::Phase::Diverging);
  EXPECT_EQ(mf::fixed_point(2.820826397721833, 0.04, silu, 0.1).phase, mf::Phase::Ordered);
  const double w = mf::critical_sigma_w2(1.0, silu);
  const auto edge = mf::fixed_point(w, 1.0, silu);
  EXPECT_EQ(edge.phase, mf::Phase::Critical);
  EXPECT_LE(edge.fixed_points[edge.reached].slope, 1.0);
  const auto line = mf::critical_line_with_reasons(torch::tensor({0.04, 1.0}, torch::kDouble), silu);
  EXPECT_TRUE(std::isnan(line.sigma_w2[0].item<double>()));
  EXPECT_EQ(line.reason[0].item<int64_t>(), static_cast<int64_t>(mf::CriticalReason::Unstable));
  EXPECT_EQ(line.sigma_w2[1].item<double>(), w);
}

// The tensor calculator agrees element by element with the scalar one.
TEST(MeanField, TensorCalculatorMatchesScalar) {
  const auto gelu = Activation::named("gelu");
  const auto q = torch::tensor({0.5, 2.0}, torch::kDouble);
  const auto w = torch::tensor({1.5}, torch::kDouble);
  const auto out = mf::q_map(q, w, torch::tensor(0.1, torch::kDouble), gelu);
  EXPECT_EQ(out[1].item<double>(), mf::q_map(2.0, 1.5, 0.1, gelu));
  const auto fp = mf::fixed_points(torch::tensor({0.8, 2.5}, torch::kDouble), torch::tensor(0.3, torch::kDouble), gelu);
  EXPECT_EQ(fp.q_star[1].item<double>(), mf::fixed_point(2.5, 0.3, gelu).q_star);
  EXPECT_LE(mf::c_map(1.0, 2.7, 1.7, 0.05, Activation::named("tanh")), 1.0);
}

// Yang & Schoenholz 2017, Sec. 3: with a linear activation E[phi'^2] = 1, so every residual layer
// multiplies squared gradients by 1 + sigma_v2 sigma_w2.
TEST(MeanField, ResidualGradientGrowthLinear) {
  const auto growth = mf::residual_gradient_growth(0.5, 0.1, Activation::named("linear"), 4, 2.0);
  ASSERT_EQ(growth.numel(), 4);
  for (int64_t l = 0; l < 4; ++l) {
    EXPECT_NEAR(growth[l].item<double>(), 2.0, 1e-15);
  }
  // tanh: q^l grows with depth, so E[tanh'^2] and the factors decrease towards 1.
  const auto tanh_growth = mf::residual_gradient_growth(1.0, 0.0, Activation::named("tanh"), 50);
  EXPECT_TRUE((tanh_growth.slice(0, 1) < tanh_growth.slice(0, 0, -1)).all().item<bool>());
  EXPECT_TRUE((tanh_growth > 1).all().item<bool>());
}

// A diverging variance is reported, never returned as usable: relu with sigma_w2 > 2.
TEST(MeanField, DivergingVarianceIsReported) {
  const auto relu = Activation::named("relu");
  const auto point = mf::fixed_point(3.0, 0.5, relu);
  EXPECT_EQ(point.phase, mf::Phase::Diverging);
  EXPECT_FALSE(point.stable);
  EXPECT_TRUE(std::isinf(point.q_star));
  EXPECT_TRUE(std::isnan(point.chi_1));
  EXPECT_NE(point.repr().find("diverging"), std::string::npos);
  STATMECH_EXPECT_ERROR(mf::gradient_growth(3.0, 0.5, relu), "gradient_growth", "diverging");
  STATMECH_EXPECT_ERROR(mf::critical_sigma_w2(0.1, relu), "critical_sigma_w2", "relu", "sigma_b2 = 0 only", "diverging");
}

// The c-map's fixed point in the chaotic phase is a fixed point, and chi_c is its slope there
// (finite difference of the c-map).
TEST(MeanField, CorrelationFixedPointAndSlope) {
  const auto tanh = Activation::named("tanh");
  const auto p = mf::fixed_point(2.5, 0.2, tanh);
  ASSERT_EQ(p.phase, mf::Phase::Chaotic);
  EXPECT_NEAR(mf::c_map(p.c_star, p.q_star, 2.5, 0.2, tanh), p.c_star, 1e-12);
  const double h = 1e-5;
  const double slope = (mf::c_map(p.c_star + h, p.q_star, 2.5, 0.2, tanh) -
                        mf::c_map(p.c_star - h, p.q_star, 2.5, 0.2, tanh)) / (2 * h);
  EXPECT_NEAR(slope, p.chi_c, 1e-8);
  EXPECT_NEAR(p.xi_c, -1 / std::log(p.chi_c), 1e-12);
  // q* is a fixed point of the q-map, and xi_q matches the finite-difference slope of the q-map.
  EXPECT_NEAR(mf::q_map(p.q_star, 2.5, 0.2, tanh), p.q_star, 1e-12);
  const double q_slope = (mf::q_map(p.q_star + h, 2.5, 0.2, tanh) - mf::q_map(p.q_star - h, 2.5, 0.2, tanh)) / (2 * h);
  EXPECT_NEAR(p.xi_q, -1 / std::log(q_slope), 1e-6 * p.xi_q);
}

TEST(MeanField, PhaseDiagramMatchesFixedPoint) {
  const auto tanh = Activation::named("tanh");
  const auto w = torch::tensor({0.8, 1.5, 3.0}, torch::kDouble);
  const auto b = torch::tensor({0.0, 0.05, 0.3}, torch::kDouble);
  const auto d = mf::phase_diagram(w, b, tanh);
  ASSERT_EQ(d.chi_1.sizes(), torch::IntArrayRef({3, 3}));
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      const auto p = mf::fixed_point(w[i].item<double>(), b[j].item<double>(), tanh);
      EXPECT_EQ(d.chi_1[i][j].item<double>(), p.chi_1);
      EXPECT_EQ(d.phase[i][j].item<int64_t>(), static_cast<int64_t>(p.phase));
      EXPECT_EQ(d.fixed_points[i][j].item<int64_t>(), static_cast<int64_t>(p.fixed_points.size()));
    }
  }
  const auto line = mf::critical_line(b, tanh);
  EXPECT_NEAR(line[1].item<double>(), mf::critical_sigma_w2(0.05, tanh), 1e-15);
  // With a bias, one fixed point; without one, q = 0 as well (unstable when sigma_w2 > 1).
  EXPECT_TRUE(d.fixed_points.slice(1, 1).eq(1).all().item<bool>());
  EXPECT_EQ(d.fixed_points[1][0].item<int64_t>(), 2);
}

TEST(MeanField, ArgumentErrorsNameTheArgument) {
  const auto tanh = Activation::named("tanh");
  STATMECH_EXPECT_ERROR(mf::fixed_point(-1.0, 0.0, tanh), "fixed_point", "sigma_w2", "sigma^2", "-1");
  STATMECH_EXPECT_ERROR(mf::fixed_point(1.0, -0.1, tanh), "fixed_point", "sigma_b2", "non-negative");
  STATMECH_EXPECT_ERROR(mf::q_map(0.0, 1.0, 0.0, tanh), "q_map", "q must be a positive");
  STATMECH_EXPECT_ERROR(mf::c_map(1.5, 1.0, 1.0, 0.0, tanh), "c_map", "c must be a correlation in [-1, 1]");
  STATMECH_EXPECT_ERROR(mf::critical_point(0.01, Activation::named("softplus")), "critical_point", "sigma_b2",
                        "< 0");
  STATMECH_EXPECT_ERROR(mf::critical_sigma_w2(0.1, Activation::named("step")), "critical_sigma_w2", "Dirac");
}

} // namespace
