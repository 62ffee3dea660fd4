#include "ops/common/quadrature.h"
#include "ops/common/constants.h"

#include <ATen/Functions.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

namespace statmech::quadrature {

namespace {

Rule golub_welsch_legendre(int64_t n) {
  // Legendre three-term recurrence in orthonormal form: diagonal 0, off-diagonal k / sqrt(4k^2 - 1).
  auto jacobi = at::zeros({n, n}, at::kDouble);
  auto* j = jacobi.data_ptr<double>();
  for (int64_t k = 1; k < n; ++k) {
    const double beta = k / std::sqrt(4.0 * k * k - 1.0);
    j[k * n + (k - 1)] = beta;
    j[(k - 1) * n + k] = beta;
  }
  auto [values, vectors] = at::linalg_eigh(jacobi);
  values = values.contiguous();
  vectors = vectors.contiguous();
  Rule rule;
  rule.nodes.resize(n);
  rule.weights.resize(n);
  const auto* v = vectors.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) {
    rule.nodes[i] = values.data_ptr<double>()[i];
    rule.weights[i] = 2.0 * v[i] * v[i]; // first component of the i-th eigenvector (row 0, column i)
  }
  // The rule is symmetric; averaging the mirrored pairs removes the eigensolver's last-bit asymmetry.
  for (int64_t i = 0; i < n / 2; ++i) {
    const double node = 0.5 * (rule.nodes[n - 1 - i] - rule.nodes[i]);
    const double weight = 0.5 * (rule.weights[i] + rule.weights[n - 1 - i]);
    rule.nodes[i] = -node, rule.nodes[n - 1 - i] = node;
    rule.weights[i] = rule.weights[n - 1 - i] = weight;
  }
  if (n % 2 == 1) {
    rule.nodes[n / 2] = 0.0;
  }
  return rule;
}

} // namespace

const Rule& gauss_legendre(int64_t n) {
  TORCH_CHECK(n >= 1, "gauss_legendre: n must be >= 1, got ", n);
  static std::mutex mutex;
  static std::map<int64_t, std::unique_ptr<Rule>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[n];
  if (!slot) {
    slot = std::make_unique<Rule>(golub_welsch_legendre(n));
  }
  return *slot;
}

void append_gaussian_rule(
    double lo, double hi, std::vector<double> breakpoints, double half_width, double widest, double centre,
    Rule& rule) {
  using constants::kInvSqrtTwoPi;
  const Rule& legendre = gauss_legendre(kPanelNodes);
  half_width = std::min(half_width, widest);
  const bool graded = std::isfinite(centre) && half_width < widest;
  if (graded) {
    for (double r = 2.0 * half_width; r < 2.0 * (hi - lo); r *= 2.0) {
      breakpoints.push_back(centre - r);
      breakpoints.push_back(centre + r);
    }
  }
  breakpoints.erase(
      std::remove_if(breakpoints.begin(), breakpoints.end(),
                     [&](double b) { return !(b > lo && b < hi); }),
      breakpoints.end());
  breakpoints.push_back(lo);
  breakpoints.push_back(hi);
  std::sort(breakpoints.begin(), breakpoints.end());
  for (size_t piece = 0; piece + 1 < breakpoints.size(); ++piece) {
    const double a = breakpoints[piece];
    const double b = breakpoints[piece + 1];
    if (!(b > a)) {
      continue;
    }
    double allowed = half_width;
    if (graded) {
      const double distance = a > centre ? a - centre : (b < centre ? centre - b : 0.0);
      allowed = std::min(widest, std::max(half_width, 0.5 * distance));
    }
    const auto panels = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((b - a) / (2.0 * allowed) - 1e-12)));
    const double width = (b - a) / static_cast<double>(panels);
    for (int64_t p = 0; p < panels; ++p) {
      const double middle = a + (p + 0.5) * width;
      for (int64_t i = 0; i < kPanelNodes; ++i) {
        const double z = middle + 0.5 * width * legendre.nodes[i];
        rule.nodes.push_back(z);
        rule.weights.push_back(0.5 * width * legendre.weights[i] * kInvSqrtTwoPi * std::exp(-0.5 * z * z));
      }
    }
  }
}

} // namespace statmech::quadrature
