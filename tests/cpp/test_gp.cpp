// statmech::gp::fc_kernel from C++: the relu arc-cosine recursion written here, autograd from a
// LibTorch-only program (finite at duplicate rows), errors, and CUDA against CPU when available.

#include "test_helpers.h"

#include <statmech/statmech.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace {

constexpr double kPi = 3.14159265358979323846;

// NNGP and NTK of [Dense, relu] x depth + Dense (NTK parameterisation) on whole matrices.
std::pair<torch::Tensor, torch::Tensor> relu_reference(const torch::Tensor& x1, const torch::Tensor& x2, int depth,
                                                       double w, double b) {
  const double d = static_cast<double>(x1.size(1));
  auto s = w * x1.matmul(x2.t()) / d + b;
  auto qa = w * x1.square().sum(1) / d + b;
  auto qb = w * x2.square().sum(1) / d + b;
  auto theta = s.clone();
  for (int l = 0; l < depth; ++l) {
    const auto r = (qa.unsqueeze(1) * qb.unsqueeze(0)).sqrt();
    const auto c = (s / r).clamp(-1, 1);
    const auto angle = c.acos();
    const auto k = r / (2 * kPi) * (angle.sin() + (kPi - angle) * c);
    const auto kd = (kPi - angle) / (2 * kPi);
    s = w * k + b;
    theta = s + w * kd * theta;
    qa = w * qa / 2 + b;
    qb = w * qb / 2 + b;
  }
  return {s, theta};
}

TEST(GpFcKernel, ReluMatchesArcCosineRecursion) {
  torch::manual_seed(0);
  const auto x1 = torch::randn({5, 3}, torch::kDouble);
  const auto x2 = torch::randn({4, 3}, torch::kDouble);
  const auto out = statmech::gp::fc_kernel(x1, x2, 2.0, 0.1, 3, "relu");
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 5, 4}));
  const auto [nngp, ntk] = relu_reference(x1, x2, 3, 2.0, 0.1);
  EXPECT_TRUE(torch::allclose(out[0], nngp, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(out[1], ntk, 1e-12, 1e-12));
}

TEST(GpFcKernel, AutogradFromCppFiniteAtDuplicates) {
  torch::manual_seed(1);
  auto base = torch::randn({3, 4}, torch::kDouble);
  auto x = torch::cat({base, base.slice(0, 0, 1)}).requires_grad_(true);
  auto w = torch::tensor(1.5, torch::kDouble).requires_grad_(true);
  auto b = torch::tensor(0.2, torch::kDouble).requires_grad_(true);
  const auto out = statmech::gp::fc_kernel(x, std::nullopt, w, b, 4, "relu");
  out.sum().backward();
  EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
  EXPECT_TRUE(std::isfinite(w.grad().item<double>()));
  EXPECT_TRUE(std::isfinite(b.grad().item<double>()));
  // sigma_w2's gradient against a central difference (the kernel is smooth in it).
  const double eps = 1e-6;
  const auto plus = statmech::gp::fc_kernel(x.detach(), std::nullopt, 1.5 + eps, 0.2, 4, "relu").sum().item<double>();
  const auto minus = statmech::gp::fc_kernel(x.detach(), std::nullopt, 1.5 - eps, 0.2, 4, "relu").sum().item<double>();
  EXPECT_NEAR(w.grad().item<double>(), (plus - minus) / (2 * eps), 1e-6 * std::abs(plus));
}

TEST(GpFcKernel, MatmulMatchesDense) {
  torch::manual_seed(2);
  const auto x1 = torch::randn({7, 3}, torch::kDouble);
  const auto x2 = torch::randn({5, 3}, torch::kDouble);
  const auto v = torch::randn({5, 2}, torch::kDouble);
  const auto w = torch::tensor(2.0, torch::kDouble);
  const auto b = torch::tensor(0.1, torch::kDouble);
  const auto dense = statmech::gp::fc_kernel(x1, x2, w, b, 2, "erf")[1];
  const auto blocked = statmech::gp::fc_kernel_matmul(x1, x2, v, w, b, 2, "erf", std::nullopt, "ntk", 1.0, "ntk", 3);
  EXPECT_TRUE(torch::allclose(blocked, dense.matmul(v), 1e-12, 1e-12));
}

TEST(GpFcKernel, Errors) {
  const auto x = torch::randn({3, 2}, torch::kDouble);
  STATMECH_EXPECT_ERROR(statmech::gp::fc_kernel(x, torch::randn({3, 5}, torch::kDouble), 1.0, 0.0, 1, "relu"),
                        "fc_kernel", "x2.size(1)");
  STATMECH_EXPECT_ERROR(statmech::gp::fc_kernel(x, std::nullopt, 1.0, 0.0, -2, "relu"), "depth");
  STATMECH_EXPECT_ERROR(statmech::gp::fc_kernel(x, std::nullopt, -1.0, 0.0, 1, "relu"), "sigma_w2");
  STATMECH_EXPECT_ERROR(statmech::gp::fc_kernel(x, std::nullopt, 1.0, 0.0, 1, "nope"), "unknown activation");
}

TEST(GpFcKernel, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA device";
  }
  torch::manual_seed(3);
  for (const char* activation : {"relu", "erf", "tanh"}) {
    for (auto dtype : {torch::kFloat, torch::kDouble}) {
      auto x1 = torch::randn({37, 5}, dtype);
      auto x2 = torch::randn({21, 5}, dtype);
      const auto cpu = statmech::gp::fc_kernel(x1, x2, 1.7, 0.1, 5, activation);
      const auto gpu = statmech::gp::fc_kernel(x1.cuda(), x2.cuda(), 1.7, 0.1, 5, activation).cpu();
      const double tol = dtype == torch::kFloat ? 1e-4 : 1e-11;
      EXPECT_TRUE(torch::allclose(cpu, gpu, tol, tol)) << activation;
      // Gradients.
      auto a = x1.clone().requires_grad_(true);
      auto g = x1.cuda().requires_grad_(true);
      statmech::gp::fc_kernel(a, std::nullopt, 1.7, 0.1, 3, activation).sum().backward();
      statmech::gp::fc_kernel(g, std::nullopt, 1.7, 0.1, 3, activation).sum().backward();
      EXPECT_TRUE(torch::allclose(a.grad(), g.grad().cpu(), 10 * tol, 10 * tol)) << activation;
    }
  }
}

} // namespace

namespace {

TEST(GpModules, KernelModulesMatchOperatorAndTrain) {
  torch::manual_seed(4);
  const auto x = torch::randn({6, 3}, torch::kDouble);
  statmech::nn::NTKKernel ntk(statmech::nn::FCKernelOptions().depth(3).activation("erf").sigma_w2(1.5).sigma_b2(0.2));
  statmech::nn::NNGPKernel nngp(statmech::nn::FCKernelOptions().depth(3).activation("erf").sigma_w2(1.5).sigma_b2(0.2));
  const auto ref = statmech::gp::fc_kernel(x, std::nullopt, 1.5, 0.2, 3, "erf");
  EXPECT_TRUE(torch::allclose(ntk->forward(x), ref[1], 1e-6, 1e-6)); // sigmas are float32 parameters
  EXPECT_TRUE(torch::allclose(nngp->forward(x), ref[0], 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(nngp->forward(x, std::nullopt, true), nngp->forward(x).diagonal()));

  statmech::nn::ExactGP gp(statmech::nn::FCKernel("nngp", statmech::nn::FCKernelOptions().depth(2)), 0.05);
  gp->fit(x, torch::sin(x.sum(1)));
  torch::optim::Adam opt(gp->parameters(), torch::optim::AdamOptions(0.05));
  const double start = gp->loss().item<double>();
  for (int step = 0; step < 15; ++step) {
    opt.zero_grad();
    auto loss = gp->loss();
    loss.backward();
    opt.step();
  }
  EXPECT_LT(gp->loss().item<double>(), start);
  const auto [mean, var] = gp->posterior(torch::randn({4, 3}, torch::kDouble));
  EXPECT_EQ(mean.sizes(), (std::vector<int64_t>{4}));
  EXPECT_TRUE((var >= 0).all().item<bool>());
}

} // namespace

namespace {

// elu, selu, hard_tanh (conditional quadrature) and a custom C++ activation from C++: the module
// option activation_parameter, a custom Activation equal to the built-in it spells out, and
// autograd through both from a LibTorch-only program.
TEST(GpQuadratureActivations, BuiltinsCustomAndModulesFromCpp) {
  torch::manual_seed(5);
  auto x = torch::randn({5, 3}, torch::kDouble);
  x[3].copy_(x[1]); // a duplicate row: correlation exactly 1
  const auto elu = statmech::gp::fc_kernel(x, std::nullopt, 1.5, 0.2, 2, "elu", 0.5);
  const auto custom = statmech::Activation::custom(
      [](const at::Tensor& t) { return at::where(t > 0, t, 0.5 * at::expm1(t)); }, "elu_half", {0.0});
  const auto options = x.options();
  const auto w = torch::tensor(1.5, options), b = torch::tensor(0.2, options);
  const auto by_object = statmech::gp::fc_kernel_activation(x.slice(0, 0, 4), std::nullopt, w, b, 1, custom);
  const auto elu_depth_one = statmech::gp::fc_kernel(x.slice(0, 0, 4), std::nullopt, 1.5, 0.2, 1, "elu", 0.5);
  EXPECT_TRUE(torch::allclose(by_object, elu_depth_one, 1e-10, 1e-12));
  const auto builtin_object =
      statmech::gp::fc_kernel_activation(x, std::nullopt, w, b, 2, statmech::Activation::elu(0.5));
  EXPECT_TRUE(torch::equal(builtin_object, elu));

  for (const auto& activation : {std::string("elu"), std::string("selu"), std::string("hard_tanh")}) {
    auto a = x.clone().requires_grad_(true);
    auto sw = torch::tensor(1.5, options.requires_grad(true));
    statmech::gp::fc_kernel(a, std::nullopt, sw, b, 3, activation).sum().backward();
    EXPECT_TRUE(torch::isfinite(a.grad()).all().item<bool>()) << activation;
    EXPECT_TRUE(std::isfinite(sw.grad().item<double>())) << activation;
  }
  auto a = x.slice(0, 0, 4).clone().requires_grad_(true);
  statmech::gp::fc_kernel_activation(a, std::nullopt, w, b, 1, custom).sum().backward();
  auto reference = x.slice(0, 0, 4).clone().requires_grad_(true);
  statmech::gp::fc_kernel(reference, std::nullopt, 1.5, 0.2, 1, "elu", 0.5).sum().backward();
  EXPECT_TRUE(torch::allclose(a.grad(), reference.grad(), 1e-8, 1e-10));

  statmech::nn::NTKKernel module(
      statmech::nn::FCKernelOptions().depth(2).activation("elu").activation_parameter(0.5).sigma_w2(1.5).sigma_b2(0.2));
  EXPECT_TRUE(torch::allclose(module->forward(x), elu[1], 1e-6, 1e-6)); // float32 sigmas
  STATMECH_EXPECT_ERROR(
      statmech::gp::fc_kernel_activation(
          x, std::nullopt, w, b, 1,
          statmech::Activation::custom([](const at::Tensor& t) { return (t > 0).to(t.dtype()) + 0 * t; }, "step",
                                       {}, {0.0})),
      "declares jumps");
}

TEST(GpQuadratureActivations, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA device";
  }
  torch::manual_seed(6);
  auto x1 = torch::randn({6, 3}, torch::kDouble);
  auto x2 = torch::randn({4, 3}, torch::kDouble);
  const auto cpu = statmech::gp::fc_kernel(x1, x2, 1.7, 0.1, 2, "selu");
  const auto gpu = statmech::gp::fc_kernel(x1.cuda(), x2.cuda(), 1.7, 0.1, 2, "selu");
  EXPECT_TRUE(gpu.is_cuda());
  EXPECT_TRUE(torch::allclose(cpu, gpu.cpu(), 1e-12, 1e-12));
  auto a = x1.clone().requires_grad_(true);
  auto g = x1.cuda().requires_grad_(true);
  statmech::gp::fc_kernel(a, std::nullopt, 1.7, 0.1, 2, "hard_tanh").sum().backward();
  statmech::gp::fc_kernel(g, std::nullopt, 1.7, 0.1, 2, "hard_tanh").sum().backward();
  EXPECT_TRUE(torch::allclose(a.grad(), g.grad().cpu(), 1e-12, 1e-12));
}

} // namespace
