// Initialise a deep tanh MLP at the edge of chaos from C++: the calculator picks the critical
// sigma_w^2 for a given sigma_b^2, statmech::init writes the weights, and a forward pass of two
// correlated inputs shows their correlation surviving 64 layers (it collapses in the ordered phase
// and decays to c* < 1 in the chaotic one). Exits non-zero if the measurement disagrees with theory.

#include <statmech/statmech.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

namespace mf = statmech::meanfield;

// The correlation of the last layer's pre-activations for two inputs of correlation 0.5.
double output_correlation(double sigma_w2, double sigma_b2, int64_t depth, int64_t width) {
  torch::NoGradGuard no_grad;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(/*seed=*/0);
  torch::nn::Sequential net;
  for (int64_t l = 0; l < depth; ++l) {
    torch::nn::Linear linear(width, width);
    statmech::init::critical_orthogonal_(linear->weight, sigma_w2, generator);
    linear->bias.normal_(0.0, std::sqrt(sigma_b2), generator);
    net->push_back(linear);
    if (l + 1 < depth) {
      net->push_back(torch::nn::Tanh());
    }
  }
  const auto a = torch::randn({width}, generator, torch::kDouble);
  const auto b = 0.5 * a + std::sqrt(0.75) * torch::randn({width}, generator, torch::kDouble);
  net->to(torch::kDouble);
  const auto h = net->forward(torch::stack({a, b}));
  return torch::cosine_similarity(h[0], h[1], 0).item<double>();
}

int main() {
  const double sigma_b2 = 0.05;
  const auto tanh = statmech::Activation::named("tanh");
  const double critical = mf::critical_sigma_w2(sigma_b2, tanh);
  std::printf("tanh at sigma_b^2 = %.2f: critical sigma_w^2 = %.4f\n", sigma_b2, critical);

  int failures = 0;
  for (const double sigma_w2 : {0.5 * critical, critical, 2.5 * critical}) {
    const auto point = mf::fixed_point(sigma_w2, sigma_b2, tanh);
    const double measured = output_correlation(sigma_w2, sigma_b2, /*depth=*/64, /*width=*/512);
    std::printf("sigma_w^2 = %.3f  %-8s chi_1 = %.3f  xi_c = %7.2f  c* = %.3f  measured c_64 = %.3f\n", sigma_w2,
                mf::phase_name(point.phase).c_str(), point.chi_1, point.xi_c, point.c_star, measured);
    // After 64 layers the correlation has reached c* unless xi_c is long (criticality).
    if (std::isfinite(point.xi_c) && point.xi_c < 8 && std::abs(measured - point.c_star) > 0.1) {
      ++failures;
    }
  }
  std::printf(failures == 0 ? "measured correlations agree with the mean-field fixed points\n"
                            : "measured correlations DISAGREE with the mean-field fixed points\n");
  return failures == 0 ? 0 : 1;
}
