// Modern Hopfield operators and modules from C++: retrieval against scaled_dot_product_attention,
// energy descent, the separation maps and their C++ autograd, the modules' maths, options and
// training through the C++ autograd.

#include "test_helpers.h"

#include <statmech/modern_hopfield.h>
#include <statmech/nn/hopfield.h>
#include <statmech/statmech.h>

#include <torch/torch.h>

#include <algorithm>
#include <sstream>

namespace {

torch::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, g, torch::kFloat64);
}

torch::Tensor scalar(double value) {
  return torch::tensor(value, torch::kFloat64);
}

TEST(ModernHopfield, ZeroStepsIsScaledDotProductAttention) {
  const auto q = randn({2, 3, 4, 5}, 1), k = randn({2, 3, 6, 5}, 2), v = randn({2, 3, 6, 2}, 3);
  const auto expected = at::scaled_dot_product_attention(q, k, v, {}, 0.0, false, 0.8);
  EXPECT_TRUE(torch::allclose(statmech::hopfield_retrieval(q, k, v, scalar(0.8)), expected, 1e-12, 1e-12));
  auto [out, association, state] = statmech::hopfield_retrieval_explicit(q, k, v, scalar(0.8));
  EXPECT_TRUE(torch::allclose(out, expected, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(association.sum(-1), torch::ones({2, 3, 4}, torch::kFloat64)));
  EXPECT_TRUE(torch::equal(state, q));
}

TEST(ModernHopfield, UpdateStepsAreTheSoftmaxRecursion) {
  const auto q = randn({3, 4}, 4), k = randn({7, 4}, 5);
  const double beta = 1.7;
  auto xi = q;
  for (int step = 0; step < 3; ++step) {
    xi = torch::softmax(beta * xi.matmul(k.t()), -1).matmul(k);
  }
  const auto state = std::get<2>(statmech::hopfield_retrieval_explicit(q, k, k, scalar(beta), 3));
  EXPECT_TRUE(torch::allclose(state, xi, 1e-12, 1e-12));
  const auto out = statmech::hopfield_retrieval(q, k, k, scalar(beta), 3);
  EXPECT_TRUE(torch::allclose(out, torch::softmax(beta * xi.matmul(k.t()), -1).matmul(k), 1e-12, 1e-12));
}

TEST(ModernHopfield, EnergyNeverIncreasesAlongUpdates) {
  for (double beta : {0.1, 1.0, 10.0}) {
    for (uint64_t seed = 0; seed < 5; ++seed) {
      const auto k = randn({12, 6}, 10 + seed) * 1.5;
      auto xi = randn({4, 6}, 20 + seed) * 2;
      auto energy = statmech::hopfield_energy(xi, k, scalar(beta));
      for (int step = 0; step < 6; ++step) {
        xi = std::get<2>(statmech::hopfield_retrieval_explicit(xi, k, k, scalar(beta), 1));
        const auto next = statmech::hopfield_energy(xi, k, scalar(beta));
        EXPECT_TRUE((next <= energy + 1e-10).all().item<bool>()) << "beta " << beta << " seed " << seed;
        energy = next;
      }
    }
  }
}

TEST(ModernHopfield, SeparationsSumToOneAndBackpropagateFromCpp) {
  const auto z = (randn({5, 9}, 6) * 2).requires_grad_();
  for (auto fn : {&statmech::sparsemax, &statmech::entmax15}) {
    const auto y = fn(z, -1);
    EXPECT_TRUE(torch::allclose(y.sum(-1), torch::ones({5}, torch::kFloat64)));
    EXPECT_TRUE((y == 0).any().item<bool>());
    const auto weights = randn({5, 9}, 7);
    const auto grad = torch::autograd::grad({(y * weights).sum()}, {z})[0];
    // Both Jacobians are symmetric with rows summing to zero: the gradient sums to zero per row.
    EXPECT_TRUE(torch::allclose(grad.sum(-1), torch::zeros({5}, torch::kFloat64), 0, 1e-12));
    // Finite differences of one entry.
    const double h = 1e-6;
    auto zp = z.detach().clone(), zm = z.detach().clone();
    zp[1][2] += h;
    zm[1][2] -= h;
    const double numeric = ((fn(zp, -1) - fn(zm, -1)) * weights).sum().item<double>() / (2 * h);
    EXPECT_NEAR(grad[1][2].item<double>(), numeric, 1e-6);
  }
}

TEST(ModernHopfield, BadInputsNameTheArgument) {
  const auto q = randn({2, 3, 4}, 1), k = randn({2, 5, 4}, 2), v = randn({2, 5, 3}, 3);
  STATMECH_EXPECT_ERROR(statmech::hopfield_retrieval(q, k, v, scalar(0.0)), "hopfield_retrieval", "beta must be > 0");
  STATMECH_EXPECT_ERROR(
      statmech::hopfield_retrieval(q, randn({2, 5, 3}, 4), v, scalar(1.0)), "key.size(-1) must equal",
      "query.size(-1) = 4");
  STATMECH_EXPECT_ERROR(
      statmech::hopfield_retrieval(q, k, v, scalar(1.0), 0, 0.0, torch::ones({3, 4}, torch::kBool)), "mask",
      "not broadcastable");
  STATMECH_EXPECT_ERROR(statmech::hopfield_energy(q, k, scalar(-2.0)), "hopfield_energy", "beta must be > 0");
}

// ---- modules ------------------------------------------------------------------------------------

TEST(HopfieldModule, NoProjectionsIsScaledDotProductAttention) {
  statmech::nn::Hopfield layer(statmech::nn::HopfieldOptions(6)
                                   .value_size(4)
                                   .beta(0.5)
                                   .state_projection(false)
                                   .stored_projection(false)
                                   .value_projection(false)
                                   .out_projection(false));
  layer->to(torch::kFloat64);
  const auto state = randn({2, 3, 6}, 1), stored = randn({2, 5, 6}, 2), value = randn({2, 5, 4}, 3);
  const auto expected = at::scaled_dot_product_attention(state, stored, value, {}, 0.0, false, 0.5);  // 0.5: exact in the float32 buffer
  EXPECT_TRUE(torch::allclose(layer(state, stored, value), expected, 1e-12, 1e-12));
}

TEST(HopfieldModule, MultiHeadMatchesWrittenOutMaths) {
  torch::manual_seed(0);
  statmech::nn::Hopfield layer(
      statmech::nn::HopfieldOptions(8).num_heads(2).head_betas({0.5, 2.0}).update_steps(1).output_size(5));
  layer->to(torch::kFloat64);
  const auto state = randn({3, 4, 8}, 1), stored = randn({3, 6, 8}, 2);
  auto split = [](const torch::Tensor& x) { return x.view({3, x.size(1), 2, 4}).transpose(1, 2); };
  auto q = split(layer->state_proj(state));
  const auto k = split(layer->stored_proj(stored)), v = split(layer->value_proj(stored));
  const auto beta = torch::tensor({0.5, 2.0}, torch::kFloat64).view({1, 2, 1, 1});
  q = torch::softmax(beta * q.matmul(k.transpose(-2, -1)), -1).matmul(k);
  auto out = torch::softmax(beta * q.matmul(k.transpose(-2, -1)), -1).matmul(v).transpose(1, 2).reshape({3, 4, 8});
  out = layer->out_proj(out);
  const auto got = layer(state, stored);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{3, 4, 5}));
  EXPECT_TRUE(torch::allclose(got, out, 1e-10, 1e-10));
  EXPECT_EQ(layer->energy(state, stored).sizes(), (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(layer->association(state, stored).sizes(), (std::vector<int64_t>{3, 2, 4, 6}));
}

TEST(HopfieldModule, StoredMaskEqualsDroppingPatterns) {
  statmech::nn::Hopfield layer(statmech::nn::HopfieldOptions(4).num_heads(2));
  const auto state = torch::randn({1, 3, 4}), stored = torch::randn({1, 5, 4});
  const auto keep = torch::tensor({true, false, true, true, false}).view({1, 5});
  const auto kept = stored.index({torch::indexing::Slice(), keep[0]});
  EXPECT_TRUE(torch::allclose(layer->forward(state, stored, {}, {}, keep), layer(state, kept), 1e-5, 1e-6));
}

TEST(HopfieldModule, OptionsAreValidatedByName) {
  STATMECH_EXPECT_ERROR(
      statmech::nn::Hopfield(statmech::nn::HopfieldOptions(5).num_heads(2)), "input_size (5) must be divisible by num_heads (2)");
  STATMECH_EXPECT_ERROR(statmech::nn::Hopfield(statmech::nn::HopfieldOptions(4).beta(-1.0)), "beta must be > 0");
  STATMECH_EXPECT_ERROR(
      statmech::nn::Hopfield(statmech::nn::HopfieldOptions(4).num_heads(2).head_betas({1.0})),
      "head_betas must have one entry per head (2)");
  STATMECH_EXPECT_ERROR(
      statmech::nn::Hopfield(statmech::nn::HopfieldOptions(4).separation("relu")), "separation must be");
}

TEST(HopfieldModule, PoolingTrainsWithCppAutogradAndLearnsBeta) {
  torch::manual_seed(0);
  statmech::nn::HopfieldPooling pool(
      statmech::nn::HopfieldPoolingOptions(4, 1).hopfield(
          statmech::nn::HopfieldOptions(4).output_size(1).learn_beta(true).separation("entmax15")));
  // Bags of 6 instances; a bag is positive when one of its instances has x0 > 1.5.
  const auto bags = torch::randn({64, 6, 4});
  const auto labels = (bags.select(2, 0) > 1.5).any(1).to(torch::kFloat);
  torch::optim::Adam optimiser(pool->parameters(), 0.05);
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    optimiser.zero_grad();
    const auto logits = pool(bags).view({64});
    const auto loss = torch::binary_cross_entropy_with_logits(logits, labels);
    loss.backward();
    optimiser.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.8 * first);
  EXPECT_TRUE(pool->hopfield->raw_beta.grad().defined());
  EXPECT_EQ(pool(bags).sizes(), (std::vector<int64_t>{64, 1, 1}));
}

TEST(HopfieldModule, LayerAndCloneAndParameterNames) {
  statmech::nn::HopfieldLayer lookup(statmech::nn::HopfieldLayerOptions(8, 10).separate_values(true));
  const auto x = torch::randn({2, 3, 8});
  EXPECT_EQ(lookup(x).sizes(), (std::vector<int64_t>{2, 3, 8}));
  EXPECT_EQ(lookup->association(x).sizes(), (std::vector<int64_t>{2, 1, 3, 10}));
  const auto copy = std::dynamic_pointer_cast<statmech::nn::HopfieldLayerImpl>(lookup->clone());
  ASSERT_TRUE(copy);
  EXPECT_TRUE(torch::allclose(copy->forward(x), lookup(x)));
  // The names the Python module uses too, so state dicts carry over.
  std::vector<std::string> names;
  for (const auto& item : lookup->named_parameters()) {
    names.push_back(item.key());
  }
  const std::vector<std::string> expected = {
      "hopfield.state_proj.weight", "hopfield.state_proj.bias", "hopfield.stored_proj.weight",
      "hopfield.stored_proj.bias",  "hopfield.value_proj.weight", "hopfield.value_proj.bias",
      "hopfield.out_proj.weight",   "hopfield.out_proj.bias",     "patterns", "values"};
  std::vector<std::string> sorted_names = names, sorted_expected = expected;
  std::sort(sorted_names.begin(), sorted_names.end());
  std::sort(sorted_expected.begin(), sorted_expected.end());
  EXPECT_EQ(sorted_names, sorted_expected);
}

TEST(HopfieldModule, DropoutDrawsFromTheGenerator) {
  torch::manual_seed(0);
  statmech::nn::HopfieldLayer lookup(
      statmech::nn::HopfieldLayerOptions(8, 10).hopfield(statmech::nn::HopfieldOptions(8).dropout(0.5)));
  lookup->to(torch::kFloat64);
  const auto x = randn({2, 3, 8}, 1);
  const auto first = lookup->forward(x, {}, at::make_generator<at::CPUGeneratorImpl>(7));
  torch::manual_seed(123); // the default generator does not enter
  EXPECT_TRUE(torch::equal(first, lookup->forward(x, {}, at::make_generator<at::CPUGeneratorImpl>(7))));
  EXPECT_FALSE(torch::allclose(first, lookup->forward(x, {}, at::make_generator<at::CPUGeneratorImpl>(8))));
  lookup->eval(); // no dropout: the generator is not used
  EXPECT_TRUE(torch::equal(lookup->forward(x, {}, at::make_generator<at::CPUGeneratorImpl>(7)), lookup(x)));
  statmech::nn::HopfieldPooling pool(
      statmech::nn::HopfieldPoolingOptions(8, 2).hopfield(statmech::nn::HopfieldOptions(8).dropout(0.5)));
  pool->to(torch::kFloat64);
  EXPECT_TRUE(torch::equal(
      pool->forward(x, {}, {}, {}, at::make_generator<at::CPUGeneratorImpl>(3)),
      pool->forward(x, {}, {}, {}, at::make_generator<at::CPUGeneratorImpl>(3))));
}

TEST(HopfieldModule, SerializationRoundTrip) {
  torch::manual_seed(0);
  statmech::nn::Hopfield saved(statmech::nn::HopfieldOptions(8).num_heads(2).learn_beta(true).normalize_state(true));
  torch::manual_seed(1);
  statmech::nn::Hopfield loaded(statmech::nn::HopfieldOptions(8).num_heads(2).learn_beta(true).normalize_state(true));
  const auto x = torch::randn({2, 3, 8});
  EXPECT_FALSE(torch::allclose(saved(x), loaded(x)));
  std::stringstream stream;
  torch::save(saved, stream);
  torch::load(loaded, stream);
  EXPECT_TRUE(torch::allclose(saved(x), loaded(x)));
}

} // namespace
