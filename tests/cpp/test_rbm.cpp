// RBM operators and statmech::nn modules from C++: exact log Z against brute force, reproducible
// chains, input errors, C++ autograd through the CD loss, serialisation, and the same outputs as
// the Python modules (the expected numbers were produced by statmech.nn.RBM /
// GaussianBernoulliRBM in Python for the parameters built by `fixed_parameters`).

#include "test_helpers.h"

#include <statmech/statmech.h>

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

constexpr int64_t kVisible = 6;
constexpr int64_t kHidden = 4;
const auto kDouble = torch::TensorOptions().dtype(torch::kDouble);

torch::Tensor all_states(int64_t n) {
  const auto codes = torch::arange(int64_t{1} << n, torch::kLong).unsqueeze(1);
  return codes.bitwise_right_shift(torch::arange(n, torch::kLong)).bitwise_and(1).to(torch::kDouble);
}

// W_ij = 0.3 sin(1 + i H + j), a_i = 0.1 cos(i), c_j = 0.2 sin(j), log s_i = 0.1 i - 0.2,
// visible rows v_bk = [(7b + 3k) mod 5 < 2].
template <typename Module>
void fixed_parameters(Module& m) {
  torch::NoGradGuard no_grad;
  const auto i = torch::arange(kVisible, kDouble);
  const auto j = torch::arange(kHidden, kDouble);
  m->weight.copy_(0.3 * torch::sin(1.0 + i.unsqueeze(1) * kHidden + j.unsqueeze(0)));
  m->visible_bias.copy_(0.1 * torch::cos(i));
  m->hidden_bias.copy_(0.2 * torch::sin(j));
}

// A float64 GaussianBernoulliRBM with fixed_parameters and log s_i = 0.1 i - 0.2.
statmech::nn::GaussianBernoulliRBM fixed_gaussian_model() {
  statmech::nn::GaussianBernoulliRBM model(kVisible, kHidden);
  model->to(torch::kDouble);
  fixed_parameters(model);
  torch::NoGradGuard no_grad;
  model->visible_log_variance.copy_(0.1 * torch::arange(kVisible, kDouble) - 0.2);
  return model;
}

torch::Tensor fixed_visible() {
  const auto b = torch::arange(4, torch::kLong).unsqueeze(1);
  const auto k = torch::arange(kVisible, torch::kLong).unsqueeze(0);
  return ((b * 7 + k * 3).remainder(5) < 2).to(torch::kDouble);
}

void expect_values(const torch::Tensor& got, const std::vector<double>& expected, double tol = 1e-12) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(expected.size()));
  const auto flat = got.contiguous().to(torch::kDouble).flatten();
  for (size_t n = 0; n < expected.size(); ++n) {
    EXPECT_NEAR(flat[n].item<double>(), expected[n], tol) << "entry " << n;
  }
}

TEST(RbmModule, SameOutputsAsThePythonModule) {
  statmech::nn::RBM model(kVisible, kHidden);
  model->to(torch::kDouble);
  fixed_parameters(model);
  const auto v = fixed_visible();
  expect_values(model->free_energy(v), {-2.950289757977512, -3.31308292031735, -2.519690953850393, -3.4453727568539323});
  EXPECT_NEAR(model->hidden_probability(v).sum().item<double>(), 8.39368055532422, 1e-12);
  EXPECT_NEAR(model->log_partition().item<double>(), 7.194240084085449, 1e-12);
  expect_values(
      model->pseudo_likelihood(v), {-4.175368768540013, -3.8736044515811936, -4.663117095562408, -3.6920864209338706});
  const auto sample = model->sample(5, 7, at::make_generator<at::CPUGeneratorImpl>(7));
  expect_values(
      sample, {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0, 1, 1, 1, 1, 0, 0}, 0.0);

  statmech::nn::GaussianBernoulliRBM gaussian = fixed_gaussian_model();
  expect_values(
      gaussian->free_energy(v), {-1.5372885381622656, -2.290670761762151, -1.6196420784147618, -2.0709892030940207});
  EXPECT_NEAR(gaussian->log_partition().item<double>(), 8.9086307710254, 1e-12);
  const auto gsample = gaussian->sample(5, 7, at::make_generator<at::CPUGeneratorImpl>(7));
  EXPECT_NEAR(gsample.sum().item<double>(), -5.825308449315697, 1e-10);
  expect_values(
      gsample[0],
      {1.1541813279725348, -0.19720661693629113, 0.10972118644512638, -0.9256012822149171, -1.6244626171776992,
       -1.1797853146613517},
      1e-12);
}

TEST(RbmOps, ExactLogPartitionMatchesBruteForceOverBothLayers) {
  torch::manual_seed(0);
  for (auto [visible, hidden] : std::vector<std::pair<int64_t, int64_t>>{{5, 3}, {3, 5}}) {
    const auto w = torch::randn({visible, hidden}, kDouble);
    const auto a = torch::randn({visible}, kDouble);
    const auto c = torch::randn({hidden}, kDouble);
    const auto v = all_states(visible);
    const auto h = all_states(hidden);
    const auto negative_energy = v.matmul(a).unsqueeze(1) + h.matmul(c).unsqueeze(0) + v.matmul(w).matmul(h.t());
    const double expected = torch::logsumexp(negative_energy.flatten(), 0).item<double>();
    EXPECT_NEAR(statmech::rbm_log_partition(w, a, c, std::nullopt, 3).item<double>(), expected, 1e-12);
  }
  STATMECH_EXPECT_ERROR(
      statmech::rbm_log_partition(torch::zeros({30, 26}), torch::zeros({30}), torch::zeros({26})),
      "rbm_log_partition", "limited to 25");
}

TEST(RbmOps, ChainsAreReproducibleAndInputsChecked) {
  torch::manual_seed(1);
  const auto w = torch::randn({kVisible, kHidden}, kDouble);
  const auto a = torch::randn({kVisible}, kDouble);
  const auto c = torch::randn({kHidden}, kDouble);
  const auto v = fixed_visible();
  const auto first = statmech::rbm_gibbs(v, w, a, c, 5, 1.0, std::nullopt, at::make_generator<at::CPUGeneratorImpl>(3));
  const auto second = statmech::rbm_gibbs(v, w, a, c, 5, 1.0, std::nullopt, at::make_generator<at::CPUGeneratorImpl>(3));
  EXPECT_TRUE(torch::equal(std::get<0>(first), std::get<0>(second)));
  EXPECT_TRUE(torch::equal(std::get<1>(first), std::get<1>(second)));
  STATMECH_EXPECT_ERROR(statmech::rbm_gibbs(v, w, a, c, -1), "rbm_gibbs", "steps must be >= 0");
  STATMECH_EXPECT_ERROR(statmech::rbm_gibbs(v, w, a.slice(0, 0, 2), c), "rbm_gibbs", "visible_bias");

  const auto betas = torch::tensor({1.0, 0.5, 0.25}, kDouble);
  auto [pv, ph, acceptance] = statmech::rbm_parallel_tempering(torch::stack({v, v, v}), w, a, c, betas, 4);
  EXPECT_EQ(pv.sizes(), (std::vector<int64_t>{3, 4, kVisible}));
  EXPECT_EQ(acceptance.size(0), 2);
  EXPECT_TRUE((acceptance >= 0).all().item<bool>() && (acceptance <= 1).all().item<bool>());

  auto [log_z, lower, upper, log_weights] =
      statmech::rbm_ais(w, a, c, a, torch::linspace(0, 1, 2001, kDouble), 200, at::make_generator<at::CPUGeneratorImpl>(0));
  const double exact = statmech::rbm_log_partition(w, a, c).item<double>();
  EXPECT_NEAR(log_z.item<double>(), exact, 0.1);
  EXPECT_EQ(statmech::rbm_ais_default_betas().size(0), 14501);
  STATMECH_EXPECT_ERROR(
      statmech::rbm_ais(w, a, c, a, torch::tensor({0.0, 0.7, 0.6, 1.0}, kDouble)), "rbm_ais", "strictly increasing");

  // Gaussian visible layer: AIS from N(a, s) against the exact log Z over the hidden states.
  const auto log_variance = 0.3 * torch::randn({kVisible}, at::make_generator<at::CPUGeneratorImpl>(7), kDouble);
  auto [g_log_z, g_lower, g_upper, g_weights] = statmech::rbm_ais(
      w, a, c, a, torch::linspace(0, 1, 2001, kDouble), 200, at::make_generator<at::CPUGeneratorImpl>(1), log_variance);
  EXPECT_NEAR(g_log_z.item<double>(), statmech::rbm_log_partition(w, a, c, log_variance).item<double>(), 0.1);
  STATMECH_EXPECT_ERROR(
      statmech::rbm_ais(w, a, c, a, std::nullopt, 4, std::nullopt, log_variance.slice(0, 0, 2)), "rbm_ais",
      "visible_log_variance");
}

TEST(RbmModule, ContrastiveDivergenceTrainsThroughCppAutograd) {
  statmech::nn::RBM model(kVisible, kHidden);
  model->to(torch::kDouble);
  fixed_parameters(model);
  const auto data = fixed_visible();
  const auto chains = 1.0 - fixed_visible();
  model->persistent_visible.set_(chains.clone());
  auto loss = model->contrastive_divergence(data, 0, /*persistent=*/true);
  loss.backward();
  const auto w = model->weight.detach();
  const auto pd = torch::sigmoid(model->hidden_bias.detach() + data.matmul(w));
  const auto pm = torch::sigmoid(model->hidden_bias.detach() + chains.matmul(w));
  const auto expected = -data.t().matmul(pd) / 4 + chains.t().matmul(pm) / 4;
  EXPECT_TRUE(torch::allclose(model->weight.grad(), expected, 1e-12, 1e-12));

  // The fused operator gives the same loss and gradient through C++ autograd.
  auto fused_weight = model->weight.detach().clone().requires_grad_();
  auto [fused_loss, chain_end] = statmech::rbm_contrastive_divergence(
      data, chains, fused_weight, model->visible_bias.detach(), model->hidden_bias.detach(), 0);
  EXPECT_NEAR(fused_loss.item<double>(), loss.item<double>(), 1e-12);
  fused_loss.backward();
  EXPECT_TRUE(torch::allclose(fused_weight.grad(), expected, 1e-12, 1e-12));
  EXPECT_TRUE(torch::equal(chain_end, chains));

  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1).weight_decay(1e-4));
  optimizer.zero_grad();
  model->contrastive_divergence(data, 1, true, at::make_generator<at::CPUGeneratorImpl>(0)).backward();
  optimizer.step();
  EXPECT_EQ(model->persistent_visible.size(0), 4);
  EXPECT_GT(model->reconstruction_error(data).item<double>(), 0.0);
}

// The fused SGD training: one mean-field CD-1 step against the update written out here
// (W += lr (v^T p_d - v_m^T p_m) / B, the data minus the model expectation), the module's fit
// against the operator with the same generator, and input errors.
TEST(RbmModule, FusedSgdTraining) {
  statmech::nn::RBM model(kVisible, kHidden);
  model->to(torch::kDouble);
  fixed_parameters(model);
  const auto data = fixed_visible();
  const auto w = model->weight.detach().clone(), a = model->visible_bias.detach().clone(),
             c = model->hidden_bias.detach().clone();
  const double lr = 0.5;
  // Dense data (density 0.4: GEMMs) and sparse data (2 ones in 24: the CPU kernel's row gathers).
  auto sparse = torch::zeros({4, kVisible}, kDouble);
  sparse[0][1] = 1.0;
  sparse[2][4] = 1.0;
  for (const auto& rows : {data, sparse}) {
    const auto pd = torch::sigmoid(c + rows.matmul(w));
    const auto vm = torch::sigmoid(a + pd.matmul(w.t()));
    const auto pm = torch::sigmoid(c + vm.matmul(w));
    const auto expected_w = w + lr * (rows.t().matmul(pd) - vm.t().matmul(pm)) / 4;
    const auto expected_a = a + lr * (rows.mean(0) - vm.mean(0));
    const auto expected_c = c + lr * (pd.mean(0) - pm.mean(0));
    auto w1 = w.clone(), a1 = a.clone(), c1 = c.clone();
    auto uw = torch::zeros_like(w), ua = torch::zeros_like(a), uc = torch::zeros_like(c);
    auto [metrics, end] = statmech::rbm_train_sgd(
        rows, w1, a1, c1, uw, ua, uc, std::nullopt, 1, 4, lr, 0.0, 0.0, /*persistent=*/false, 1, /*shuffle=*/false,
        /*mean_field=*/true);
    EXPECT_TRUE(torch::allclose(w1, expected_w, 1e-12, 1e-12));
    EXPECT_TRUE(torch::allclose(a1, expected_a, 1e-12, 1e-12));
    EXPECT_TRUE(torch::allclose(c1, expected_c, 1e-12, 1e-12));
    EXPECT_NEAR(metrics[0][1].item<double>(), (vm - rows).square().sum(1).mean().item<double>(), 1e-12);
    EXPECT_EQ(end.size(0), 0);
  }

  // RBM::fit is the operator with zero momentum buffers, the persistent chains stored back.
  auto w2 = w.clone(), a2 = a.clone(), c2 = c.clone();
  auto uw = torch::zeros_like(w), ua = torch::zeros_like(a), uc = torch::zeros_like(c);
  auto [metrics2, end2] = statmech::rbm_train_sgd(
      data, w2, a2, c2, uw, ua, uc, std::nullopt, 2, 3, 0.1, 0.9, 0.01, true, 3, true, false, true,
      at::make_generator<at::CPUGeneratorImpl>(7));
  const auto metrics = model->fit(data, 3, 3, 0.1, 0.9, 0.01, 2, true, at::make_generator<at::CPUGeneratorImpl>(7));
  EXPECT_TRUE(torch::equal(model->weight.detach(), w2));
  EXPECT_TRUE(torch::equal(model->hidden_bias.detach(), c2));
  EXPECT_TRUE(torch::equal(metrics, metrics2));
  EXPECT_TRUE(torch::equal(model->persistent_visible, end2));
  EXPECT_EQ(metrics.sizes(), torch::IntArrayRef({3, 2}));

  STATMECH_EXPECT_ERROR(model->fit(data, 1, 0), "rbm_train_sgd", "batch_size must be >= 1");
  STATMECH_EXPECT_ERROR(model->fit(data, 1, 2, -0.1), "rbm_train_sgd", "lr must be a positive");
  STATMECH_EXPECT_ERROR(model->fit(data, 1, 2, 0.1, 0.0, 0.0, -1), "rbm_train_sgd", "steps must be >= 0");
  STATMECH_EXPECT_ERROR(model->fit(data * 0.5, 1, 2), "rbm_train_sgd", "data must be binary");
  STATMECH_EXPECT_ERROR(model->fit(data.narrow(1, 0, 5), 1, 2), "rbm_train_sgd", "data.size(1)");
}

// The fused SGD training of the Gaussian-Bernoulli model: one mean-field CD-1 step against
// p - lr * grad, the gradient by C++ autograd of mean F(v) - mean F(v_m) (gaussian_rbm_free_energy,
// v_m the mean-field chain written out here), the module's fit against the operator with the same
// generator, and the variance's checks.
TEST(RbmModule, GaussianFusedSgdTraining) {
  statmech::nn::GaussianBernoulliRBM model = fixed_gaussian_model();
  const auto data = 1.7 * fixed_visible() - 0.4;
  std::vector<torch::Tensor> params;
  for (const auto& p : {model->weight, model->visible_bias, model->hidden_bias, model->visible_log_variance}) {
    params.push_back(p.detach().clone().requires_grad_());
  }
  const double lr = 0.3;
  torch::Tensor v_model;
  {
    torch::NoGradGuard no_grad;
    const auto s = params[3].exp();
    const auto pd = torch::sigmoid(params[2] + (data / s).matmul(params[0]));
    v_model = params[1] + pd.matmul(params[0].t());
  }
  const auto loss = statmech::gaussian_rbm_free_energy(data, params[0], params[1], params[2], params[3]).mean() -
      statmech::gaussian_rbm_free_energy(v_model, params[0], params[1], params[2], params[3]).mean();
  const auto grads = torch::autograd::grad({loss}, params);
  std::vector<torch::Tensor> got, velocity;
  for (const auto& p : params) {
    got.push_back(p.detach().clone());
    velocity.push_back(torch::zeros_like(p));
  }
  statmech::rbm_train_sgd(
      data, got[0], got[1], got[2], velocity[0], velocity[1], velocity[2], std::nullopt, 1, 4, lr, 0.0, 0.0,
      /*persistent=*/false, 1, /*shuffle=*/false, /*mean_field=*/true, true, std::nullopt, got[3], velocity[3]);
  for (size_t k = 0; k < params.size(); ++k) {
    EXPECT_TRUE(torch::allclose(got[k], params[k].detach() - lr * grads[k], 1e-12, 1e-12)) << "parameter " << k;
  }

  // GaussianBernoulliRBM::fit is the operator with zero velocities, the persistent chains stored back.
  std::vector<torch::Tensor> p2, u2;
  for (const auto& p : params) {
    p2.push_back(p.detach().clone());
    u2.push_back(torch::zeros_like(p));
  }
  auto [metrics2, end2] = statmech::rbm_train_sgd(
      data, p2[0], p2[1], p2[2], u2[0], u2[1], u2[2], std::nullopt, 2, 3, 0.05, 0.9, 0.01, true, 3, true, false, true,
      at::make_generator<at::CPUGeneratorImpl>(7), p2[3], u2[3]);
  const auto metrics = model->fit(data, 3, 3, 0.05, 0.9, 0.01, 2, true, at::make_generator<at::CPUGeneratorImpl>(7));
  EXPECT_TRUE(torch::equal(model->weight.detach(), p2[0]));
  EXPECT_TRUE(torch::equal(model->visible_log_variance.detach(), p2[3]));
  EXPECT_TRUE(torch::equal(metrics, metrics2));
  EXPECT_TRUE(torch::equal(model->persistent_visible, end2));

  auto w = p2[0].clone(), a = p2[1].clone(), c = p2[2].clone();
  auto uw = torch::zeros_like(w), ua = torch::zeros_like(a), uc = torch::zeros_like(c);
  const auto z = torch::zeros({kVisible - 1}, kDouble);
  STATMECH_EXPECT_ERROR(
      statmech::rbm_train_sgd(
          data, w, a, c, uw, ua, uc, std::nullopt, 1, 4, 0.1, 0.0, 0.0, true, 1, true, false, true, std::nullopt, z,
          torch::zeros_like(z)),
      "rbm_train_sgd", "visible_log_variance.size(0)");
  STATMECH_EXPECT_ERROR(
      statmech::rbm_train_sgd(
          data, w, a, c, uw, ua, uc, std::nullopt, 1, 4, 0.1, 0.0, 0.0, true, 1, true, false, true, std::nullopt,
          p2[3].clone()),
      "rbm_train_sgd", "visible_log_variance_velocity");
}

// GaussianBernoulliRBM::ais: the operator with the data's mean as the base model (what the
// Python module passes), and within its own +-3 sigma bounds of the exact log Z (hidden layer
// enumerated, visible integrated out) on a 6-4 model.
TEST(RbmModule, GaussianAisMatchesTheOperatorAndTheExactLogPartition) {
  statmech::nn::GaussianBernoulliRBM model = fixed_gaussian_model();
  const auto data = fixed_visible();
  const auto betas = torch::linspace(0, 1, 501, kDouble);
  auto [log_z, lower, upper] = model->ais(data, betas, 100, at::make_generator<at::CPUGeneratorImpl>(3));
  auto [op_log_z, op_lower, op_upper, op_weights] = statmech::rbm_ais(
      model->weight, model->visible_bias, model->hidden_bias, data.mean(0), betas, 100,
      at::make_generator<at::CPUGeneratorImpl>(3), model->visible_log_variance);
  EXPECT_TRUE(torch::equal(log_z, op_log_z));
  EXPECT_TRUE(torch::equal(upper, op_upper));
  const double exact = model->log_partition().item<double>();
  EXPECT_LE(lower.item<double>(), exact);
  EXPECT_GE(upper.item<double>(), exact);
  EXPECT_NEAR(log_z.item<double>(), exact, 0.1);
  // Without data: the model's visible biases are the base model's mean.
  auto [log_z_bias, lower_bias, upper_bias] = model->ais(torch::Tensor(), betas, 100, at::make_generator<at::CPUGeneratorImpl>(4));
  EXPECT_NEAR(log_z_bias.item<double>(), exact, 0.1);
}

TEST(RbmModule, SerialisesAndPrints) {
  statmech::nn::RBM model(kVisible, kHidden);
  model->reset_parameters(at::make_generator<at::CPUGeneratorImpl>(0));
  model->contrastive_divergence(fixed_visible().to(torch::kFloat), 1, true);
  const std::string path = std::string(STATMECH_TEST_TMPDIR) + "/rbm_module.pt";
  torch::save(model, path);
  statmech::nn::RBM loaded(kVisible, kHidden);
  torch::load(loaded, path);
  std::remove(path.c_str());
  EXPECT_TRUE(torch::equal(model->weight, loaded->weight));
  EXPECT_TRUE(torch::equal(model->persistent_visible, loaded->persistent_visible));
  std::ostringstream out;
  out << *model;
  EXPECT_NE(out.str().find("RBM(visible=6, hidden=4)"), std::string::npos);
  EXPECT_NEAR(model->weight.std().item<double>(), 0.01, 0.006);
  STATMECH_EXPECT_ERROR(statmech::nn::RBM(0, 3), "RBM", "visible and hidden must be >= 1");
}

} // namespace
