// Kernel shaping from C++: dks / tat against the numbers the dks package's own test pins (its
// ResNet-101-style network, written out here), the local maps against the core's moments at zero
// shift, the TransformedActivation module (values and C++ autograd) and the argument errors.

#include "test_helpers.h"

#include <statmech/statmech.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace {

namespace mf = statmech::meanfield;

// The subnetwork maximizing function of a ResNet-101-style network without normalisation:
// bottleneck blocks of three nonlinear layers, (3, 4, 23, 3) per stage, shortcut weight 0.6, one
// nonlinear layer on the shortcut of each stage's first block, one closing layer; the largest
// subnetwork besides the whole network is a lone residual branch.
double resnet101_subnet_max(double x, const mf::ScalarFunction& r) {
  const double w2 = 0.36;
  const double branch_only = r(r(r(x)));
  for (int blocks : {3, 4, 23, 3}) {
    for (int j = 0; j < blocks; ++j) {
      const double residual = r(r(r(x)));
      const double shortcut = j == 0 ? r(x) : x;
      x = w2 * shortcut + (1.0 - w2) * residual;
    }
  }
  return std::max(r(x), branch_only);
}

void expect_parameters(const mf::ActivationTransform& t, double a, double b, double d, double g) {
  // dks's solver leaves ~1e-8 relative error; ours meets the equations to ~1e-12.
  EXPECT_NEAR(t.input_scale, a, 5e-8 * std::fabs(a) + 1e-9);
  EXPECT_NEAR(t.input_shift, b, 5e-8 * std::fabs(b) + 1e-9);
  EXPECT_NEAR(t.output_shift, d, 5e-8 * std::fabs(d) + 1e-9);
  EXPECT_NEAR(t.output_scale, g, 5e-8 * std::fabs(g) + 1e-9);
}

TEST(KernelShaping, MatchesDksTestValues) {
  const auto resnet = mf::NetworkDescription::subnetwork(resnet101_subnet_max);
  expect_parameters(mf::dks("tanh", resnet, mf::DksOptions().zeta(1.2)), 0.07461073057540868, 0.5566915199964182,
                    -0.5034378768692127, 18.002635964442558);
  expect_parameters(mf::tat("softplus", resnet, mf::TatOptions().tau(0.2)), 0.15011489794748328, 0.5374599901127068,
                    -0.996481014465811, 10.54880187880574);
  const auto leaky = mf::tat("leaky_relu", resnet, mf::TatOptions().eta(0.75));
  EXPECT_NEAR(leaky.activation.parameter(), 0.6291800290346146, 5e-9);
  EXPECT_NEAR(leaky.output_scale, 1.196996549778802, 5e-9);
}

TEST(KernelShaping, DepthSolutionsMeetTheirTargets) {
  for (const char* name : {"tanh", "softplus", "gelu", "silu", "elu"}) {
    const auto d = mf::dks(name, 100);
    const auto m = d.local_maps();
    EXPECT_NEAR(m.q_value, 1.0, 1e-12) << name;
    EXPECT_NEAR(m.q_slope, 1.0, 1e-10) << name;
    EXPECT_NEAR(m.c_value_0, 0.0, 1e-12) << name;
    EXPECT_NEAR(m.c_slope_1, std::pow(1.5, 0.01), 1e-10) << name;
    const auto t = mf::tat(name, 100);
    const auto n = t.local_maps();
    EXPECT_NEAR(n.q_slope, 1.0, 1e-10) << name;
    EXPECT_NEAR(n.c_slope_1, 1.0, 1e-10) << name;
    EXPECT_NEAR(n.c_curvature_1, 0.003, 1e-10) << name;
  }
}

TEST(KernelShaping, LocalMapsAtZeroShiftAreTheCoreMoments) {
  for (const char* name : {"tanh", "gelu", "softplus", "elu"}) {
    const auto moments = statmech::dual::moments(name, 1.0);
    const auto m = mf::local_maps(name, 1.0, 0.0, 0.0, 1.0);
    EXPECT_NEAR(m.q_value, moments.second, 1e-13 * moments.second) << name;
    EXPECT_NEAR(m.c_slope_1 * m.q_value, moments.derivative_second, 1e-13) << name;
    EXPECT_NEAR(m.q_slope, moments.second_slope, 1e-11) << name;
  }
}

TEST(KernelShaping, ModuleAppliesTheTransformAndTrains) {
  const auto t = mf::dks("gelu", 40);
  statmech::nn::TransformedActivation act{statmech::nn::TransformedActivationOptions(t)};
  auto x = torch::randn({6, 5}, torch::kDouble).requires_grad_();
  const auto y = act->forward(x);
  const auto expected = t.output_scale * (torch::gelu(t.input_scale * x + t.input_shift) + t.output_shift);
  EXPECT_TRUE(torch::allclose(y, expected, 1e-14, 1e-14));
  EXPECT_NEAR(y[0][0].item<double>(), t(x[0][0].item<double>()), 1e-13);
  y.sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(torch::allclose(x.grad(), torch::autograd::grad({expected.sum()}, {x})[0], 1e-14, 1e-14));
  std::ostringstream repr;
  act->pretty_print(repr);
  EXPECT_NE(repr.str().find("activation=gelu"), std::string::npos);
}

TEST(KernelShaping, Errors) {
  STATMECH_EXPECT_ERROR(mf::dks("tanh", 10, mf::DksOptions().zeta(0.5)), "dks: zeta", "must be > 1", "0.5");
  STATMECH_EXPECT_ERROR(mf::tat("relu", 10), "tat: the derivative of relu jumps");
  STATMECH_EXPECT_ERROR(mf::dks("sign", 10), "dks: activation sign has a jump");
  STATMECH_EXPECT_ERROR(mf::dks("tanh", mf::NetworkDescription()), "dks: the network description is empty");
  STATMECH_EXPECT_ERROR(mf::tat("leaky_relu", 2, mf::TatOptions().eta(0.95)), "too shallow");
  STATMECH_EXPECT_ERROR(statmech::nn::TransformedActivation(statmech::nn::TransformedActivationOptions("swish")),
                        "unknown activation 'swish'");
}

} // namespace
