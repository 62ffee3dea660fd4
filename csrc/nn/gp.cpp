// C++ kernel modules and exact GP regression (csrc/include/statmech/nn/gp.h); the computation is
// the fc_kernel operator, called through the dispatcher.

#include <statmech/nn/gp.h>

#include <torch/torch.h>

#include <cmath>

namespace statmech::nn {
namespace {

double inverse_softplus(double value) {
  return value + std::log(-std::expm1(-value));
}

// Cholesky with jitter 1e-8, 1e-7, ... 1e-3 times the mean diagonal; throws what failed.
torch::Tensor cholesky_with_jitter(const torch::Tensor& matrix) {
  auto [factor, info] = torch::linalg_cholesky_ex(matrix);
  if (info.item<int64_t>() == 0) {
    return factor;
  }
  double scale = matrix.diagonal().mean().abs().item<double>();
  scale = scale > 0 ? scale : 1.0;
  const auto eye = torch::eye(matrix.size(0), matrix.options());
  double jitter = 0.0;
  for (int attempt = 0; attempt < 6; ++attempt) {
    jitter = scale * std::pow(10.0, -8 + attempt);
    std::tie(factor, info) = torch::linalg_cholesky_ex(matrix + jitter * eye);
    if (info.item<int64_t>() == 0) {
      return factor;
    }
  }
  TORCH_CHECK(false, "ExactGP: Cholesky of the [", matrix.size(0), ", ", matrix.size(0),
              "] kernel matrix failed even with jitter ", jitter, " (1e-3 of its mean diagonal ", scale,
              "); the kernel is not positive definite on these inputs");
}

} // namespace

FCKernelImpl::FCKernelImpl(std::string kernel_, FCKernelOptions options_)
    : kernel(std::move(kernel_)), options(std::move(options_)) {
  TORCH_CHECK(kernel == "nngp" || kernel == "ntk", "FCKernel: kernel must be 'nngp' or 'ntk', got '", kernel, "'");
  TORCH_CHECK(options.sigma_w2() > 0 && options.sigma_b2() > 0,
              "FCKernel: sigma_w2 and sigma_b2 must be positive (kept positive by a softplus), got ",
              options.sigma_w2(), ", ", options.sigma_b2());
  reset();
}

void FCKernelImpl::reset() {
  raw_sigma_w2 = register_parameter("raw_sigma_w2", torch::empty({}, torch::kFloat));
  raw_sigma_b2 = register_parameter("raw_sigma_b2", torch::empty({}, torch::kFloat));
  reset_parameters();
}

void FCKernelImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  raw_sigma_w2.fill_(inverse_softplus(options.sigma_w2()));
  raw_sigma_b2.fill_(inverse_softplus(options.sigma_b2()));
}

torch::Tensor FCKernelImpl::sigma_w2() const {
  return torch::softplus(raw_sigma_w2);
}

torch::Tensor FCKernelImpl::sigma_b2() const {
  return torch::softplus(raw_sigma_b2);
}

torch::Tensor FCKernelImpl::forward(const torch::Tensor& x1, const std::optional<torch::Tensor>& x2, bool diag) {
  return statmech::gp::fc_kernel(
      x1, x2, sigma_w2().to(x1.dtype()), sigma_b2().to(x1.dtype()), options.depth(), options.activation(),
      options.activation_parameter(), options.parameterization(), 1.0, kernel == "nngp", kernel == "ntk", diag)[0];
}

void FCKernelImpl::pretty_print(std::ostream& stream) const {
  stream << (kernel == "nngp" ? "statmech::nn::NNGPKernel" : "statmech::nn::NTKKernel") << "(depth="
         << options.depth() << ", activation=" << options.activation() << ", parameterization="
         << options.parameterization() << ")";
}

ExactGPImpl::ExactGPImpl(FCKernel kernel_, double noise) : kernel(std::move(kernel_)) {
  TORCH_CHECK(noise > 0, "ExactGP: noise must be positive, got ", noise);
  register_module("kernel", kernel);
  raw_noise = register_parameter("raw_noise", torch::full({}, inverse_softplus(noise), torch::kFloat));
}

torch::Tensor ExactGPImpl::noise() const {
  return torch::softplus(raw_noise);
}

void ExactGPImpl::fit(torch::Tensor x, torch::Tensor y) {
  TORCH_CHECK(x.dim() == 2 && y.dim() == 1 && x.size(0) == y.size(0),
              "ExactGP::fit: x must be [N, d] and y [N], got ", x.sizes(), " and ", y.sizes());
  train_x_ = std::move(x);
  train_y_ = std::move(y);
}

torch::Tensor ExactGPImpl::factor() {
  TORCH_CHECK(train_x_.defined(), "ExactGP: call fit(x, y) first");
  auto k = kernel->forward(train_x_);
  k = k + noise().to(k.dtype()) * torch::eye(k.size(0), k.options());
  return cholesky_with_jitter(k);
}

torch::Tensor ExactGPImpl::loss() {
  const auto l = factor();
  const auto y = train_y_.unsqueeze(1);
  const auto alpha = torch::cholesky_solve(y, l);
  const double n = static_cast<double>(y.size(0));
  return (0.5 * (y * alpha).sum() + l.diagonal().log().sum() + 0.5 * n * std::log(2 * M_PI)) / n;
}

std::pair<torch::Tensor, torch::Tensor> ExactGPImpl::posterior(const torch::Tensor& x) {
  const auto l = factor();
  const auto cross = kernel->forward(x, train_x_);
  const auto mean = cross.matmul(torch::cholesky_solve(train_y_.unsqueeze(1), l)).squeeze(1);
  const auto v = torch::linalg_solve_triangular(l, cross.t(), /*upper=*/false);
  const auto var = kernel->forward(x, std::nullopt, true) - v.square().sum(0);
  return {mean, var.clamp_min(0)};
}

} // namespace statmech::nn
