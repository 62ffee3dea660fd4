// Initialisers from C++: statistics of critical_normal_, orthogonality of critical_orthogonal_ and
// delta_orthogonal_ to float tolerance, generator reproducibility, the no-grad wrapper and errors.

#include "test_helpers.h"

#include <statmech/statmech.h>

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>

namespace {

at::Generator seeded(uint64_t seed) {
  return at::detail::createCPUGenerator(seed);
}

double max_abs(const torch::Tensor& t) {
  return t.abs().max().item<double>();
}

// Orthogonality error of Householder QR is a few sqrt(n) unit roundoffs in practice (the worst-case
// bound is O(n u)); 10 sqrt(n) u sigma_w2 leaves a margin of about 10 over what we measure.
double orthogonality_tolerance(int64_t n, torch::Dtype dtype, double sigma_w2) {
  const double unit_roundoff = dtype == torch::kDouble ? std::numeric_limits<double>::epsilon()
                                                       : std::numeric_limits<float>::epsilon();
  return 10.0 * std::sqrt(static_cast<double>(n)) * unit_roundoff * sigma_w2;
}

class InitDtype : public ::testing::TestWithParam<torch::Dtype> {};

TEST_P(InitDtype, CriticalNormalHasVarianceSigmaW2OverFanIn) {
  const auto dtype = GetParam();
  const double sigma_w2 = 1.7;
  // Linear [out, in] and Conv2d [out, in, kh, kw]: fan_in = in * kh * kw.
  for (const auto& shape : {std::vector<int64_t>{2000, 500}, std::vector<int64_t>{128, 64, 3, 3}}) {
    auto w = torch::empty(shape, dtype);
    statmech::init::critical_normal_(w, sigma_w2, seeded(1));
    const double n = static_cast<double>(w.numel());
    const double fan_in = n / static_cast<double>(shape[0]);
    const double variance = sigma_w2 / fan_in;
    // Sample mean ~ N(0, variance / n); sample variance has relative sd sqrt(2 / n) for a Gaussian.
    // Five standard deviations: a false alarm has probability below 1e-6.
    const auto w64 = w.to(torch::kDouble);
    EXPECT_NEAR(w64.mean().item<double>(), 0.0, 5.0 * std::sqrt(variance / n));
    EXPECT_NEAR(w64.var().item<double>() / variance, 1.0, 5.0 * std::sqrt(2.0 / n)) << "shape " << w.sizes();
    // Gaussian, not uniform: the fourth moment is 3 variance^2 (relative sd sqrt(96 / n) of the
    // estimate, from Var[x^4] = 96 sigma^8).
    EXPECT_NEAR(w64.pow(4).mean().item<double>() / (variance * variance), 3.0, 5.0 * std::sqrt(96.0 / n));
  }
}

TEST_P(InitDtype, CriticalUniformHasVarianceSigmaW2OverFanIn) {
  const auto dtype = GetParam();
  const double sigma_w2 = 2.0;
  auto w = torch::empty({1000, 64, 3}, dtype);
  statmech::init::critical_uniform_(w, sigma_w2, seeded(2));
  const double n = static_cast<double>(w.numel());
  const double variance = sigma_w2 / (64.0 * 3.0);
  const auto w64 = w.to(torch::kDouble);
  // U(-a, a) with a^2 = 3 variance: bounded by a, variance a^2 / 3 (relative sd of the estimate
  // sqrt(0.8 / n): Var[x^2] = a^4 (1/5 - 1/9) = 0.8 variance^2), fourth moment 9/5 variance^2.
  EXPECT_LE(w64.abs().max().item<double>(), std::sqrt(3.0 * variance) * (1 + 1e-6));
  EXPECT_NEAR(w64.var().item<double>() / variance, 1.0, 5.0 * std::sqrt(0.8 / n));
  EXPECT_NEAR(w64.pow(4).mean().item<double>() / (variance * variance), 1.8, 0.05);
}

TEST_P(InitDtype, CriticalOrthogonalSquareGivesWWtEqualSigmaW2Identity) {
  const auto dtype = GetParam();
  const double sigma_w2 = 1.5;
  for (const int64_t n : {7, 256, 1000}) {
    auto w = torch::empty({n, n}, dtype);
    statmech::init::critical_orthogonal_(w, sigma_w2, seeded(2));
    const auto identity = torch::eye(n, dtype);
    const double tol = orthogonality_tolerance(n, dtype, sigma_w2);
    EXPECT_LT(max_abs(w.mm(w.t()) - sigma_w2 * identity), tol) << "n = " << n;
    EXPECT_LT(max_abs(w.t().mm(w) - sigma_w2 * identity), tol) << "n = " << n;
  }
}

TEST_P(InitDtype, CriticalOrthogonalWideAndTallFollowTheVarianceConvention) {
  const auto dtype = GetParam();
  const double sigma_w2 = 2.0;
  // Wide (out < fan_in): orthonormal rows scaled by sqrt(sigma_w2).
  auto wide = torch::empty({300, 1000}, dtype);
  statmech::init::critical_orthogonal_(wide, sigma_w2, seeded(3));
  EXPECT_LT(max_abs(wide.mm(wide.t()) - sigma_w2 * torch::eye(300, dtype)), orthogonality_tolerance(1000, dtype, sigma_w2));
  // Tall (out > fan_in): orthonormal columns scaled by sqrt(sigma_w2 out / fan_in), so that
  // |W x|^2 / out = sigma_w2 |x|^2 / fan_in exactly.
  auto tall = torch::empty({1000, 300}, dtype);
  statmech::init::critical_orthogonal_(tall, sigma_w2, seeded(4));
  const double column_scale = sigma_w2 * 1000.0 / 300.0;
  EXPECT_LT(
      max_abs(tall.t().mm(tall) - column_scale * torch::eye(300, dtype)),
      orthogonality_tolerance(1000, dtype, column_scale));
  const auto x = torch::randn({300, 5}, dtype);
  const auto ratio = tall.mm(x).pow(2).sum(0) / 1000.0 / (sigma_w2 * x.pow(2).sum(0) / 300.0);
  EXPECT_TRUE(torch::allclose(ratio, torch::ones_like(ratio), 1e-4, 0)) << ratio;
  // Both have the entry variance sigma_w2 / fan_in of critical_normal_: ||W||_F^2 = sigma_w2 * out.
  EXPECT_NEAR(wide.pow(2).sum().item<double>() / (sigma_w2 * 300), 1.0, 1e-4);
  EXPECT_NEAR(tall.pow(2).sum().item<double>() / (sigma_w2 * 1000), 1.0, 1e-4);
}

TEST_P(InitDtype, CriticalOrthogonalFlattensConvWeights) {
  const auto dtype = GetParam();
  auto w = torch::empty({64, 16, 3, 3}, dtype); // [64, 144] flattened: wide
  statmech::init::critical_orthogonal_(w, 1.3, seeded(5));
  const auto flat = w.reshape({64, -1});
  EXPECT_LT(max_abs(flat.mm(flat.t()) - 1.3 * torch::eye(64, dtype)), orthogonality_tolerance(144, dtype, 1.3));
}

TEST_P(InitDtype, DeltaOrthogonalIsOrthogonalAtTheCentreTapAndZeroElsewhere) {
  const auto dtype = GetParam();
  const double sigma_w2 = 1.2;
  for (const auto& shape : {std::vector<int64_t>{16, 16, 5}, std::vector<int64_t>{64, 32, 3, 3},
                            std::vector<int64_t>{8, 8, 3, 1, 5}}) {
    auto w = torch::full(shape, 7.0, dtype); // stale values must all be overwritten
    statmech::init::delta_orthogonal_(w, sigma_w2, seeded(6));
    const int64_t out = shape[0], in = shape[1];
    torch::Tensor centre = w;
    auto mask = torch::ones(shape, torch::kBool);
    torch::Tensor centre_mask = mask;
    while (centre.dim() > 2) {
      centre = centre.select(2, centre.size(2) / 2);
      centre_mask = centre_mask.select(2, centre_mask.size(2) / 2);
    }
    centre_mask.fill_(false);
    EXPECT_EQ(max_abs(w.masked_select(mask)), 0.0) << "shape " << w.sizes();
    // Orthonormal columns scaled so that |C x|^2 / out = sigma_w2 |x|^2 / in.
    const double column_scale = sigma_w2 * static_cast<double>(out) / static_cast<double>(in);
    EXPECT_LT(
        max_abs(centre.t().mm(centre) - column_scale * torch::eye(in, dtype)),
        orthogonality_tolerance(out, dtype, column_scale))
        << "shape " << w.sizes();
  }
}

TEST_P(InitDtype, SameGeneratorSeedGivesTheSameWeights) {
  const auto dtype = GetParam();
  using Init = torch::Tensor (*)(torch::Tensor, double, std::optional<at::Generator>);
  for (Init init : {&statmech::init::critical_normal_, &statmech::init::critical_orthogonal_,
                    &statmech::init::delta_orthogonal_}) {
    auto a = init(torch::empty({12, 6, 3}, dtype), 1.0, seeded(42));
    auto b = init(torch::empty({12, 6, 3}, dtype), 1.0, seeded(42));
    auto c = init(torch::empty({12, 6, 3}, dtype), 1.0, seeded(43));
    EXPECT_TRUE(torch::equal(a, b));
    EXPECT_FALSE(torch::equal(a, c));
    // Without a generator: the default CPU generator, reproducible through torch::manual_seed.
    torch::manual_seed(7);
    auto d = init(torch::empty({12, 6, 3}, dtype), 1.0, std::nullopt);
    torch::manual_seed(7);
    auto e = init(torch::empty({12, 6, 3}, dtype), 1.0, std::nullopt);
    EXPECT_TRUE(torch::equal(d, e));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Dtypes, InitDtype, ::testing::Values(torch::kFloat, torch::kDouble),
    [](const auto& info) { return std::string(c10::toString(info.param)); });

TEST(Init, HalfPrecisionWeights) {
  for (const auto dtype : {torch::kHalf, torch::kBFloat16}) {
    auto w = torch::empty({64, 64}, dtype);
    statmech::init::critical_orthogonal_(w, 2.0, seeded(8));
    const auto w32 = w.to(torch::kFloat);
    // Rounding each entry to 8 (bfloat16) or 11 (half) significant bits: relative error 2^-8.
    EXPECT_LT(max_abs(w32.mm(w32.t()) - 2.0 * torch::eye(64)), 2.0 * 0.05) << dtype;
    auto n = torch::empty({256, 256}, dtype);
    statmech::init::critical_normal_(n, 2.0, seeded(9));
    EXPECT_NEAR(n.to(torch::kDouble).var().item<double>() * 256 / 2.0, 1.0, 5.0 * std::sqrt(2.0 / 65536) + 0.01);
  }
}

TEST(Init, ReturnsTheSameTensorWithoutRecordingAutograd) {
  auto w = torch::empty({5, 4}).requires_grad_();
  const auto version = w._version();
  auto result = statmech::init::critical_orthogonal_(w, 1.0, seeded(10));
  EXPECT_TRUE(result.is_same(w));
  EXPECT_FALSE(result.grad_fn());
  EXPECT_GT(w._version(), version); // the write is visible to autograd's saved-tensor checks
}

TEST(Init, DirectOpCallOnATensorThatRequiresGradIsRefused) {
  auto w = torch::empty({5, 4}).requires_grad_();
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("statmech::critical_normal_", "")
                       .typed<void(at::Tensor&, double, std::optional<at::Generator>)>();
  STATMECH_EXPECT_ERROR(op.call(w, 1.0, std::nullopt), "critical_normal_", "tensor requires grad", "no_grad");
}

TEST(Init, EmptyTensorsAreANoOp) {
  auto w = torch::empty({0, 5});
  EXPECT_EQ(statmech::init::critical_normal_(w, 1.0).numel(), 0);
  EXPECT_EQ(statmech::init::critical_orthogonal_(w, 1.0).numel(), 0);
  EXPECT_EQ(statmech::init::delta_orthogonal_(torch::empty({4, 0, 3}), 1.0).numel(), 0);
}

TEST(Init, MetaTensorsRunTheChecksOnly) {
  auto w = torch::empty({8, 4, 3}, torch::TensorOptions().device(torch::kMeta));
  EXPECT_NO_THROW(statmech::init::delta_orthogonal_(w, 1.0));
  STATMECH_EXPECT_ERROR(
      statmech::init::delta_orthogonal_(torch::empty({4, 8, 3}, torch::TensorOptions().device(torch::kMeta)), 1.0),
      "delta_orthogonal_", "in_channels <= out_channels");
}

TEST(Init, BadInputsNameTheArgument) {
  using statmech::init::critical_normal_;
  using statmech::init::critical_orthogonal_;
  using statmech::init::delta_orthogonal_;
  STATMECH_EXPECT_ERROR(critical_normal_(torch::empty({5}), 1.0), "critical_normal_", "tensor", "at least 2-D", "1-D");
  STATMECH_EXPECT_ERROR(critical_orthogonal_(torch::empty({5}), 1.0), "critical_orthogonal_", "tensor", "at least 2-D");
  STATMECH_EXPECT_ERROR(
      critical_normal_(torch::empty({3, 3}, torch::kInt), 1.0), "critical_normal_", "tensor", "floating-point", "Int");
  STATMECH_EXPECT_ERROR(critical_normal_(torch::empty({3, 3}), -1.0), "critical_normal_", "sigma_w2", "positive", "-1");
  STATMECH_EXPECT_ERROR(critical_orthogonal_(torch::empty({3, 3}), 0.0), "critical_orthogonal_", "sigma_w2", "positive");
  STATMECH_EXPECT_ERROR(
      critical_normal_(torch::empty({3, 3}), std::numeric_limits<double>::quiet_NaN()), "sigma_w2", "finite");
  STATMECH_EXPECT_ERROR(delta_orthogonal_(torch::empty({4, 4}), 1.0), "delta_orthogonal_", "tensor", "3-D to 5-D", "2-D");
  STATMECH_EXPECT_ERROR(
      delta_orthogonal_(torch::empty({4, 4, 3, 3, 3, 3}), 1.0), "delta_orthogonal_", "3-D to 5-D", "6-D");
  STATMECH_EXPECT_ERROR(delta_orthogonal_(torch::empty({4, 4, 3, 2}), 1.0), "delta_orthogonal_", "odd", "kernel size 2");
  STATMECH_EXPECT_ERROR(
      delta_orthogonal_(torch::empty({4, 8, 3}), 1.0), "delta_orthogonal_", "in_channels <= out_channels",
      "in_channels = 8", "out_channels = 4");
  STATMECH_EXPECT_ERROR(delta_orthogonal_(torch::empty({4, 4, 3}), -2.0), "delta_orthogonal_", "sigma_w2");
}

TEST(Init, CudaMatchesTheConventionOnTheDevice) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA device";
  }
  const auto opts = torch::TensorOptions().device(torch::kCUDA).dtype(torch::kDouble);
  auto w = statmech::init::critical_orthogonal_(torch::empty({500, 500}, opts), 1.5);
  EXPECT_TRUE(w.is_cuda());
  EXPECT_LT(max_abs((w.mm(w.t()) - 1.5 * torch::eye(500, opts)).cpu()), orthogonality_tolerance(500, torch::kDouble, 1.5));
  auto d = statmech::init::delta_orthogonal_(torch::empty({32, 16, 3, 3}, opts), 2.0);
  const auto centre = d.select(2, 1).select(2, 1);
  EXPECT_LT(max_abs((centre.t().mm(centre) - 4.0 * torch::eye(16, opts)).cpu()), 1e-12);
  auto n = statmech::init::critical_normal_(torch::empty({1000, 1000}, opts), 2.0);
  EXPECT_NEAR(n.var().item<double>() * 1000 / 2.0, 1.0, 5.0 * std::sqrt(2.0 / 1e6));
}

} // namespace
