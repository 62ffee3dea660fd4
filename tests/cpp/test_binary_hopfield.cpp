// Classical binary Hopfield networks, dense associative memories and spin glasses from C++:
// the modules, the operators through the dispatcher, and their error messages.

#include "test_helpers.h"

#include <statmech/nn/binary_hopfield.h>
#include <statmech/statmech.h>

#include <torch/torch.h>

namespace {

at::Tensor random_spins(int64_t rows, int64_t n, uint64_t seed, at::ScalarType dtype = at::kFloat) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return (at::randint(0, 2, {rows, n}, gen, at::TensorOptions().dtype(at::kLong)) * 2 - 1).to(dtype);
}

at::Generator generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

TEST(BinaryHopfield, StoredPatternsAreFixedPointsAndNoisyCopiesAreRecalled) {
  for (const std::string rule : {"hebbian", "storkey", "pseudo_inverse"}) {
    statmech::nn::BinaryHopfield net(statmech::nn::BinaryHopfieldOptions(200).rule(rule));
    const at::Tensor patterns = random_spins(10, 200, 1);
    net->store(patterns);
    const auto run = net->retrieve(patterns, generator(2));
    EXPECT_TRUE(at::equal(run.state, patterns)) << rule;
    EXPECT_TRUE(run.converged.all().item<bool>()) << rule;
    EXPECT_EQ(run.sweeps.sum().item<int64_t>(), 0) << rule;
    // 10% of the bits flipped: every pattern comes back.
    auto gen = generator(3);
    const at::Tensor noisy = at::where(at::rand({10, 200}, gen) < 0.1, -patterns, patterns);
    EXPECT_TRUE(at::equal(net->forward(noisy, generator(4)), patterns)) << rule;
    EXPECT_TRUE(at::allclose(net->energy(patterns), statmech::binary_hopfield_energy(patterns, net->weight)));
  }
}

TEST(BinaryHopfield, SynchronousTwoCycle) {
  const at::Tensor w = torch::tensor({0.0f, -1.0f, -1.0f, 0.0f}).reshape({2, 2});
  const at::Tensor s = torch::tensor({1.0f, 1.0f}).reshape({1, 2});
  const auto run = statmech::binary_hopfield_run(s, w, std::nullopt, "sync", 7);
  EXPECT_TRUE(at::equal(run.state, -s));
  EXPECT_FALSE(run.converged.item<bool>());
  EXPECT_EQ(run.sweeps.item<int64_t>(), 7);
}

TEST(BinaryHopfield, AnnealingFindsSkGroundStateOfSmallSystem) {
  const int64_t n = 10;
  at::Tensor j = statmech::spin_glass_couplings_(at::empty({n, n}, at::kDouble), "gaussian", generator(5));
  EXPECT_TRUE(at::equal(j, j.t()));
  // Exact ground state by enumeration of the 1024 states.
  at::Tensor all = at::empty({1 << n, n}, at::kDouble);
  for (int64_t k = 0; k < (1 << n); ++k) {
    for (int64_t i = 0; i < n; ++i) {
      all[k][i] = ((k >> i) & 1) ? 1.0 : -1.0;
    }
  }
  const double exact = statmech::binary_hopfield_energy(all, j).min().item<double>();
  std::vector<double> schedule;
  for (int k = 0; k < 200; ++k) {
    schedule.push_back(2.0 * std::pow(0.01, k / 199.0));
  }
  auto [state, energy] = statmech::binary_hopfield_glauber(random_spins(8, n, 6, at::kDouble), j, schedule, std::nullopt, generator(7));
  EXPECT_NEAR(energy.min().item<double>(), exact, 1e-12);
  const auto pt = statmech::binary_hopfield_parallel_tempering(
      random_spins(4, n, 8, at::kDouble).reshape({1, 4, n}), j, {0.2, 0.4, 0.8, 1.6}, 50, std::nullopt, generator(9));
  EXPECT_NEAR(pt.best_energy.item<double>(), exact, 1e-12);
}

TEST(DenseAssociativeMemory, CubicMemoryStoresBeyondHebbianCapacity) {
  statmech::nn::DenseAssociativeMemory memory(statmech::nn::DenseAssociativeMemoryOptions(100).degree(3));
  const at::Tensor patterns = random_spins(40, 100, 10);
  memory->store(patterns);
  auto gen = generator(11);
  const at::Tensor noisy = at::where(at::rand({40, 100}, gen) < 0.1, -patterns, patterns);
  EXPECT_TRUE(at::equal(memory->forward(noisy, generator(12)), patterns));
  std::ostringstream text;
  memory->pretty_print(text);
  EXPECT_NE(text.str().find("stored=40"), std::string::npos);
}

TEST(BinaryHopfield, ErrorsNameTheArgument) {
  const at::Tensor s = at::ones({2, 4});
  STATMECH_EXPECT_ERROR(statmech::binary_hopfield_run(s, at::zeros({4, 5})), "binary_hopfield_run", "weight.size(1)");
  STATMECH_EXPECT_ERROR(statmech::binary_hopfield_store(s, "oja"), "binary_hopfield_store", "rule");
  STATMECH_EXPECT_ERROR(
      statmech::binary_hopfield_glauber(s, at::zeros({4, 4}), {-1.0}), "binary_hopfield_glauber", "temperatures");
  STATMECH_EXPECT_ERROR(
      statmech::dense_memory_run(s, at::ones({3, 4}), "quartic"), "dense_memory_run", "interaction");
  STATMECH_EXPECT_ERROR(statmech::nn::BinaryHopfield(statmech::nn::BinaryHopfieldOptions(4).rule("oja")), "rule");
}

} // namespace
