// rbm_free_energy from C++: values and gradients against brute-force enumeration of the hidden
// states, edge cases, input errors, and a TorchScript round trip.

#include "test_helpers.h"

#include <statmech/statmech.h>

#include <gtest/gtest.h>
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <cstdio>
#include <limits>
#include <string>

namespace {

// F(v) = -log sum_h exp(-E(v, h)) with E(v, h) = -a.v - c.h - v^T W h, summing over all 2^H
// binary hidden vectors: independent of the softplus form the operator uses.
torch::Tensor brute_force_free_energy(
    const torch::Tensor& v, const torch::Tensor& w, const torch::Tensor& a, const torch::Tensor& c) {
  const int64_t hidden = w.size(1);
  const auto codes = torch::arange(int64_t{1} << hidden, torch::kLong).unsqueeze(1);
  const auto states = codes.bitwise_right_shift(torch::arange(hidden, torch::kLong)).bitwise_and(1).to(v.dtype());
  const auto negative_energy =
      v.matmul(a).unsqueeze(1) + states.matmul(c).unsqueeze(0) + v.matmul(w).matmul(states.t());
  return -torch::logsumexp(negative_energy, 1);
}

struct Rbm {
  torch::Tensor v, w, a, c;
};

Rbm random_rbm(int64_t batch, int64_t visible, int64_t hidden, torch::Dtype dtype, uint64_t seed) {
  torch::manual_seed(seed);
  const auto opts = torch::TensorOptions().dtype(dtype);
  return {torch::bernoulli(torch::full({batch, visible}, 0.5, opts)), torch::randn({visible, hidden}, opts),
          torch::randn({visible}, opts), torch::randn({hidden}, opts)};
}

// Resolves `ops.<namespace>.<name>` in TorchScript source compiled from C++, as the loader of a
// saved module does (the default C++ resolver knows only `torch`, i.e. aten).
struct OperatorNamespaces : torch::jit::SugaredValue {
  std::string kind() const override {
    return "operator namespaces";
  }
  std::shared_ptr<torch::jit::SugaredValue> attr(
      const torch::jit::SourceRange&, torch::jit::GraphFunction&, const std::string& name) override {
    return std::make_shared<torch::jit::BuiltinModule>(name);
  }
};

struct OperatorResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(
      const std::string& name, torch::jit::GraphFunction&, const torch::jit::SourceRange&) override {
    return name == "ops" ? std::make_shared<OperatorNamespaces>() : nullptr;
  }
  torch::jit::TypePtr resolveType(const std::string&, const torch::jit::SourceRange&) override {
    return nullptr;
  }
};

class RbmFreeEnergyDtype : public ::testing::TestWithParam<torch::Dtype> {};

TEST_P(RbmFreeEnergyDtype, MatchesBruteForceEnumeration) {
  const auto dtype = GetParam();
  auto r = random_rbm(9, 7, 10, dtype, 0);
  r.v.index_put_({torch::indexing::Slice(0, 3)}, torch::rand({3, 7}, dtype)); // real-valued rows too
  const auto expected = brute_force_free_energy(r.v.to(torch::kDouble), r.w.to(torch::kDouble),
                                                r.a.to(torch::kDouble), r.c.to(torch::kDouble));
  const auto got = statmech::rbm_free_energy(r.v, r.w, r.a, r.c);
  ASSERT_EQ(got.sizes(), torch::IntArrayRef({9}));
  ASSERT_EQ(got.scalar_type(), dtype);
  const double rtol = dtype == torch::kDouble ? 1e-12 : 1e-5;
  EXPECT_TRUE(torch::allclose(got.to(torch::kDouble), expected, rtol, rtol))
      << got << "\nvs brute force\n" << expected;
}

TEST_P(RbmFreeEnergyDtype, NonContiguousInputsGiveTheSameValues) {
  const auto dtype = GetParam();
  const auto r = random_rbm(6, 5, 4, dtype, 1);
  const auto v_strided = r.v.t().contiguous().t();                             // column-major
  const auto w_strided = torch::randn({4, 10}, dtype).t().slice(0, 0, 10, 2);  // [5, 4], strided
  const auto a_strided = torch::randn({10}, dtype).slice(0, 0, 10, 2);
  const auto c_strided = torch::randn({8}, dtype).slice(0, 0, 8, 2);
  ASSERT_FALSE(w_strided.is_contiguous());
  const auto got = statmech::rbm_free_energy(v_strided, w_strided, a_strided, c_strided);
  const auto expected = statmech::rbm_free_energy(
      r.v, w_strided.contiguous(), a_strided.contiguous(), c_strided.contiguous());
  EXPECT_TRUE(torch::allclose(got, expected));
}

INSTANTIATE_TEST_SUITE_P(
    Dtypes, RbmFreeEnergyDtype, ::testing::Values(torch::kFloat, torch::kDouble),
    [](const auto& info) { return std::string(c10::toString(info.param)); });

TEST(RbmFreeEnergy, GradientsFromCppAutogradMatchBruteForce) {
  auto r = random_rbm(5, 6, 7, torch::kDouble, 2);
  r.v = torch::rand({5, 6}, torch::kDouble);
  std::vector<torch::Tensor> ours = {r.v.clone().requires_grad_(), r.w.clone().requires_grad_(),
                                     r.a.clone().requires_grad_(), r.c.clone().requires_grad_()};
  std::vector<torch::Tensor> reference = {r.v.clone().requires_grad_(), r.w.clone().requires_grad_(),
                                          r.a.clone().requires_grad_(), r.c.clone().requires_grad_()};
  const auto weights = torch::randn({5}, torch::kDouble); // a non-uniform upstream gradient
  (statmech::rbm_free_energy(ours[0], ours[1], ours[2], ours[3]) * weights).sum().backward();
  (brute_force_free_energy(reference[0], reference[1], reference[2], reference[3]) * weights).sum().backward();
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_TRUE(torch::allclose(ours[i].grad(), reference[i].grad(), 1e-12, 1e-12)) << "argument " << i;
  }
}

TEST(RbmFreeEnergy, OnlyRequestedGradientsAreComputed) {
  auto r = random_rbm(4, 3, 2, torch::kDouble, 3);
  auto w = r.w.clone().requires_grad_();
  statmech::rbm_free_energy(r.v, w, r.a, r.c).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_FALSE(r.v.grad().defined());
}

TEST(RbmFreeEnergy, ZeroBatch) {
  auto r = random_rbm(0, 5, 3, torch::kFloat, 4);
  auto w = r.w.clone().requires_grad_();
  const auto f = statmech::rbm_free_energy(r.v, w, r.a, r.c);
  EXPECT_EQ(f.sizes(), torch::IntArrayRef({0}));
  f.sum().backward();
  EXPECT_TRUE(torch::equal(w.grad(), torch::zeros_like(w)));
}

TEST(RbmFreeEnergy, ExtremeFieldsStayFinite) {
  // softplus(+-1e4) must neither overflow nor lose the linear part.
  const auto v = torch::ones({2, 1}, torch::kFloat);
  const auto w = torch::tensor({{1e4f, -1e4f}});
  const auto a = torch::zeros({1});
  const auto c = torch::zeros({2});
  const auto f = statmech::rbm_free_energy(v, w, a, c);
  EXPECT_TRUE(torch::isfinite(f).all().item<bool>());
  EXPECT_NEAR(f[0].item<float>(), -1e4f, 1e-2f);
}

// NaN, +-inf and |x| > 87 (beyond float32's exp range) pre-activations at hidden sizes that fill
// the 16-lane row pass exactly (16), leave a tail (17, 33) and span many blocks (500), in both
// dtypes, against the plain expression -a.v - sum softplus(c + vW). The row pass's branch-free exp
// assembles 2^n in the exponent bits; for a NaN input n is garbage, and the shift must still be
// defined behaviour. This test is the one scripts/ubsan-check.sh runs under
// -fsanitize=undefined -fno-sanitize-recover=undefined (clean on 2026-11-27, GCC, x86-64).
TEST(RbmFreeEnergy, SpecialPreActivationsFollowThePlainExpression) {
  const double specials[] = {
      std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity(), 100.0, -100.0, 1000.0, -1000.0};
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    for (const int64_t hidden : {16, 17, 33, 500}) {
      torch::manual_seed(hidden);
      const auto opts = torch::TensorOptions().dtype(dtype);
      const auto v = torch::bernoulli(torch::full({3, 5}, 0.5, opts));
      const auto w = torch::randn({5, hidden}, opts);
      const auto a = torch::randn({5}, opts);
      for (const double special : specials) {
        // One special lane in the first block and one in the tail (or the last lane).
        auto c = torch::randn({hidden}, opts);
        c[3] = special;
        c[hidden - 1] = -special;
        const auto got = statmech::rbm_free_energy(v, w, a, c);
        const auto expected = -v.matmul(a) - torch::softplus(v.matmul(w) + c).sum(1);
        EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-4, /*equal_nan=*/true))
            << "dtype " << dtype << " hidden " << hidden << " special " << special << "\n" << got << "\n" << expected;
      }
    }
  }
}

TEST(RbmFreeEnergy, BadInputsNameTheArgument) {
  const auto r = random_rbm(4, 3, 2, torch::kFloat, 5);
  STATMECH_EXPECT_ERROR(statmech::rbm_free_energy(r.v[0], r.w, r.a, r.c), "rbm_free_energy", "visible", "2-D");
  STATMECH_EXPECT_ERROR(statmech::rbm_free_energy(r.v, r.w.t(), r.a, r.c), "weight", "size(0)");
  STATMECH_EXPECT_ERROR(statmech::rbm_free_energy(r.v, r.w, r.a.narrow(0, 0, 2), r.c), "visible_bias", "size(0)");
  STATMECH_EXPECT_ERROR(statmech::rbm_free_energy(r.v, r.w, r.a, torch::zeros({5})), "hidden_bias", "size(0)");
  STATMECH_EXPECT_ERROR(statmech::rbm_free_energy(r.v.to(torch::kInt), r.w, r.a, r.c), "visible", "float32 or float64", "Int");
  STATMECH_EXPECT_ERROR(statmech::rbm_free_energy(r.v, r.w.to(torch::kDouble), r.a, r.c), "weight", "dtype");
  STATMECH_EXPECT_ERROR(statmech::rbm_free_energy(r.v, r.w.to(torch::kMeta), r.a, r.c), "weight", "device", "meta");
  STATMECH_EXPECT_ERROR(statmech::rbm_free_energy(r.v, r.w, r.a, r.c.to(torch::kMeta)), "hidden_bias", "device");
}

TEST(RbmFreeEnergy, MetaTensorsGiveShapes) {
  const auto opts = torch::TensorOptions().device(torch::kMeta);
  const auto f = statmech::rbm_free_energy(
      torch::empty({11, 3}, opts), torch::empty({3, 4}, opts), torch::empty({3}, opts), torch::empty({4}, opts));
  EXPECT_EQ(f.sizes(), torch::IntArrayRef({11}));
  EXPECT_TRUE(f.is_meta());
}

TEST(RbmFreeEnergy, TorchScriptScriptsRunsSavesAndLoads) {
  torch::jit::Module module("RbmFreeEnergyModule");
  // TorchScript source as the serializer writes it: custom operators are `ops.<namespace>.<name>`.
  module.define(R"JIT(
def forward(self, v: Tensor, w: Tensor, a: Tensor, c: Tensor) -> Tensor:
    return ops.statmech.rbm_free_energy(v, w, a, c)
)JIT",
                std::make_shared<OperatorResolver>());
  const auto r = random_rbm(3, 4, 5, torch::kDouble, 6);
  const auto expected = statmech::rbm_free_energy(r.v, r.w, r.a, r.c);
  EXPECT_TRUE(torch::allclose(module.forward({r.v, r.w, r.a, r.c}).toTensor(), expected));

  const std::string path = std::string(STATMECH_TEST_TMPDIR) + "/rbm_free_energy_scripted.pt";
  module.save(path);
  auto loaded = torch::jit::load(path);
  EXPECT_TRUE(torch::allclose(loaded.forward({r.v, r.w, r.a, r.c}).toTensor(), expected));
  std::remove(path.c_str());
}

TEST(RbmFreeEnergy, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA device";
  }
  auto r = random_rbm(33, 17, 300, torch::kDouble, 7);
  const auto expected = statmech::rbm_free_energy(r.v, r.w, r.a, r.c);
  const auto got = statmech::rbm_free_energy(r.v.cuda(), r.w.cuda(), r.a.cuda(), r.c.cuda());
  EXPECT_TRUE(got.is_cuda());
  EXPECT_TRUE(torch::allclose(got.cpu(), expected, 1e-12, 1e-12));
  STATMECH_EXPECT_ERROR(statmech::rbm_free_energy(r.v, r.w.cuda(), r.a, r.c), "weight", "device");
}

} // namespace
