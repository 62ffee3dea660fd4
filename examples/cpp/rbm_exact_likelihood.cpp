// A LibTorch application using torch-statmech: trains a small RBM by exact maximum likelihood on
// 3x3 bars-and-stripes, entirely in C++ (the operator's autograd is registered in C++).
//
//   NLL = mean_data F(v) + log Z,   log Z = logsumexp over all 2^9 visible states of -F(v).
//
// The best possible NLL is log(number of patterns) = log 14.

#include <statmech/statmech.h>

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

namespace {

torch::Tensor all_binary_states(int64_t n) {
  const auto codes = torch::arange(int64_t{1} << n, torch::kLong).unsqueeze(1);
  return codes.bitwise_right_shift(torch::arange(n, torch::kLong)).bitwise_and(1).to(torch::kDouble);
}

torch::Tensor bars_and_stripes(int64_t side) {
  std::set<std::vector<double>> patterns;
  for (int64_t code = 0; code < (int64_t{1} << side); ++code) {
    std::vector<double> rows(side * side), columns(side * side);
    for (int64_t i = 0; i < side; ++i) {
      for (int64_t j = 0; j < side; ++j) {
        rows[i * side + j] = static_cast<double>((code >> i) & 1);
        columns[i * side + j] = static_cast<double>((code >> j) & 1);
      }
    }
    patterns.insert(rows);
    patterns.insert(columns);
  }
  std::vector<torch::Tensor> tensors;
  for (const auto& p : patterns) {
    tensors.push_back(torch::tensor(p, torch::kDouble));
  }
  return torch::stack(tensors);
}

} // namespace

int main() {
  torch::manual_seed(0);
  const int64_t side = 3, visible = side * side, hidden = 8;
  const auto data = bars_and_stripes(side);
  const auto states = all_binary_states(visible);

  // [visible, hidden] weight layout, as in every statmech RBM operator.
  auto weight = (0.01 * torch::randn({visible, hidden}, torch::kDouble)).requires_grad_();
  auto visible_bias = torch::zeros({visible}, torch::kDouble).requires_grad_();
  auto hidden_bias = torch::zeros({hidden}, torch::kDouble).requires_grad_();
  torch::optim::Adam optimizer({weight, visible_bias, hidden_bias}, torch::optim::AdamOptions(0.05));

  const double best = std::log(static_cast<double>(data.size(0)));
  std::printf("statmech %s: %lld patterns, best possible NLL = %.4f\n", statmech::version().c_str(),
              static_cast<long long>(data.size(0)), best);
  double nll_value = 0;
  for (int step = 1; step <= 300; ++step) {
    const auto log_partition =
        torch::logsumexp(-statmech::rbm_free_energy(states, weight, visible_bias, hidden_bias), 0);
    const auto nll = statmech::rbm_free_energy(data, weight, visible_bias, hidden_bias).mean() + log_partition;
    optimizer.zero_grad();
    nll.backward();
    optimizer.step();
    nll_value = nll.item<double>();
    if (step % 50 == 0) {
      std::printf("step %3d  NLL %.4f\n", step, nll_value);
    }
  }
  const bool learned = nll_value < best + 0.1;
  std::printf("final NLL %.4f (optimum %.4f): %s\n", nll_value, best, learned ? "learned" : "NOT learned");
  return learned ? 0 : 1;
}
