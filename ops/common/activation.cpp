// The Activation type: construction by name, and point evaluation of phi, phi', phi'' for the
// quadrature rules (built-ins in closed form, user functions through autograd).

#include <statmech/activation.h>

#include "ops/common/constants.h"

#include <ATen/Functions.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace statmech {
namespace {

using constants::kInvSqrtTwoPi;
using constants::kSeluAlpha;
using constants::kSeluScale;
using constants::kTwoOverSqrtPi;

struct Entry {
  const char* name;
  ActivationKind kind;
};
constexpr Entry kEntries[] = {
    {"linear", ActivationKind::Linear},     {"relu", ActivationKind::Relu},
    {"leaky_relu", ActivationKind::LeakyRelu}, {"abs", ActivationKind::Abs},
    {"step", ActivationKind::Step},         {"sign", ActivationKind::Sign},
    {"erf", ActivationKind::Erf},           {"tanh", ActivationKind::Tanh},
    {"sigmoid", ActivationKind::Sigmoid},   {"gelu", ActivationKind::Gelu},
    {"silu", ActivationKind::Silu},         {"softplus", ActivationKind::Softplus},
    {"elu", ActivationKind::Elu},           {"selu", ActivationKind::Selu},
    {"sin", ActivationKind::Sin},           {"cos", ActivationKind::Cos},
    {"hard_tanh", ActivationKind::HardTanh},
};

// sigmoid(x) and sigmoid(-x) = 1 - sigmoid(x), each computed directly so that neither loses
// digits to cancellation in the tails (the derivatives are products of the two).
inline void logistic_pair(double x, double& plus, double& minus) {
  const double e = std::exp(-std::fabs(x));
  const double big = 1.0 / (1.0 + e);
  const double small = e / (1.0 + e);
  plus = x >= 0 ? big : small;
  minus = x >= 0 ? small : big;
}

inline void evaluate_builtin(ActivationKind kind, double a, double x, double& f, double& df, double& d2f) {
  switch (kind) {
    case ActivationKind::Linear:
      f = x, df = 1, d2f = 0;
      return;
    case ActivationKind::Relu:
      f = x > 0 ? x : 0, df = x > 0 ? 1 : 0, d2f = 0;
      return;
    case ActivationKind::LeakyRelu:
      f = x > 0 ? x : a * x, df = x > 0 ? 1 : a, d2f = 0;
      return;
    case ActivationKind::Abs:
      f = std::fabs(x), df = x > 0 ? 1 : (x < 0 ? -1 : 0), d2f = 0;
      return;
    case ActivationKind::Step:
      f = x > 0 ? 1 : 0, df = 0, d2f = 0;
      return;
    case ActivationKind::Sign:
      f = x > 0 ? 1 : (x < 0 ? -1 : 0), df = 0, d2f = 0;
      return;
    case ActivationKind::Erf: {
      f = std::erf(x);
      df = kTwoOverSqrtPi * std::exp(-x * x);
      d2f = -2 * x * df;
      return;
    }
    case ActivationKind::Tanh: {
      f = std::tanh(x);
      const double s = 1 - f * f;
      df = s, d2f = -2 * f * s;
      return;
    }
    case ActivationKind::Sigmoid: {
      double p, m;
      logistic_pair(x, p, m);
      f = p, df = p * m, d2f = p * m * (m - p);
      return;
    }
    case ActivationKind::Gelu: {
      const double density = kInvSqrtTwoPi * std::exp(-0.5 * x * x);
      f = x * 0.5 * std::erfc(-x / constants::kSqrtTwo);
      df = 0.5 * std::erfc(-x / constants::kSqrtTwo) + x * density;
      d2f = density * (2 - x * x);
      return;
    }
    case ActivationKind::Silu: {
      double p, m;
      logistic_pair(x, p, m);
      f = x * p, df = p + x * p * m, d2f = p * m * (2 + x * (m - p));
      return;
    }
    case ActivationKind::Softplus: {
      double p, m;
      logistic_pair(x, p, m);
      f = (x > 0 ? x : 0) + std::log1p(std::exp(-std::fabs(x)));
      df = p, d2f = p * m;
      return;
    }
    case ActivationKind::Elu:
    case ActivationKind::Selu: {
      const double alpha = kind == ActivationKind::Elu ? a : kSeluAlpha;
      const double scale = kind == ActivationKind::Elu ? 1.0 : kSeluScale;
      if (x > 0) {
        f = scale * x, df = scale, d2f = 0;
      } else {
        const double e = std::exp(x);
        f = scale * alpha * std::expm1(x), df = scale * alpha * e, d2f = scale * alpha * e;
      }
      return;
    }
    case ActivationKind::Sin:
      f = std::sin(x), df = std::cos(x), d2f = -f;
      return;
    case ActivationKind::Cos:
      f = std::cos(x), df = -std::sin(x), d2f = -f;
      return;
    case ActivationKind::HardTanh:
      f = x > 1 ? 1 : (x < -1 ? -1 : x), df = std::fabs(x) < 1 ? 1 : 0, d2f = 0;
      return;
    case ActivationKind::Custom:
      break;
  }
  TORCH_INTERNAL_ASSERT(false, "evaluate_builtin: custom activation");
}

// phi, phi', phi'' of a user function by autograd (double backward). A derivative that does not
// depend on x (a linear piece) comes back undefined from autograd and is zero.
void evaluate_custom(
    const Activation& activation, int64_t n, const double* x, double* phi, double* dphi, double* d2phi) {
  // Derivatives need autograd: leave inference mode (its tensors cannot record a graph) and turn
  // grad mode on, whatever the caller's context.
  c10::InferenceMode no_inference(false);
  at::AutoGradMode grad_mode(true);
  const auto points = at::from_blob(const_cast<double*>(x), {n}, at::kDouble).clone().requires_grad_(true);
  const at::Tensor values = activation.function()(points);
  TORCH_CHECK(
      values.defined() && values.sizes() == points.sizes(),
      "custom activation '", activation.name(), "' must map a 1-D float64 tensor of shape [", n,
      "] to a tensor of the same shape, got ", values.defined() ? values.sizes() : at::IntArrayRef{});
  const auto values64 = values.to(at::kDouble);
  at::Tensor first;
  if (values64.requires_grad()) {
    first = torch::autograd::grad({values64.sum()}, {points}, {}, true, true, true)[0];
  }
  at::Tensor second;
  if (first.defined() && first.requires_grad()) {
    second = torch::autograd::grad({first.sum()}, {points}, {}, false, false, true)[0];
  }
  TORCH_CHECK(
      first.defined(), "custom activation '", activation.name(),
      "' must be differentiable by autograd (its derivative is needed for chi_1 and the kernel's k-dot)");
  const auto copy_out = [n](const at::Tensor& t, double* out) {
    if (!t.defined()) {
      std::fill(out, out + n, 0.0);
      return;
    }
    const auto c = t.detach().to(at::kDouble).contiguous();
    std::copy(c.data_ptr<double>(), c.data_ptr<double>() + n, out);
  };
  copy_out(values64, phi);
  copy_out(first, dphi);
  copy_out(second, d2phi);
}

} // namespace

Activation Activation::named(const std::string& name) {
  for (const auto& entry : kEntries) {
    if (name == entry.name) {
      if (entry.kind == ActivationKind::LeakyRelu) {
        return leaky_relu();
      }
      if (entry.kind == ActivationKind::Elu) {
        return elu();
      }
      return Activation(entry.kind, 0.0, entry.name);
    }
  }
  std::ostringstream valid;
  for (const auto& n : names()) {
    valid << (&n == &names().front() ? "" : ", ") << n;
  }
  TORCH_CHECK(false, "activation: unknown activation '", name, "'; valid names are ", valid.str(),
              ", or pass a callable");
}

Activation Activation::leaky_relu(double negative_slope) {
  TORCH_CHECK(std::isfinite(negative_slope), "activation: leaky_relu negative_slope must be finite, got ",
              negative_slope);
  return Activation(ActivationKind::LeakyRelu, negative_slope, "leaky_relu");
}

Activation Activation::elu(double alpha) {
  TORCH_CHECK(std::isfinite(alpha), "activation: elu alpha must be finite, got ", alpha);
  return Activation(ActivationKind::Elu, alpha, "elu");
}

Activation Activation::custom(Function fn, std::string name, std::vector<double> kinks, std::vector<double> jumps) {
  TORCH_CHECK(static_cast<bool>(fn), "activation: a custom activation needs a function, got an empty one");
  for (const auto* points : {&kinks, &jumps}) {
    for (double x : *points) {
      TORCH_CHECK(std::isfinite(x), "activation: custom activation '", name, "': ",
                  points == &kinks ? "kinks" : "jumps", " must be finite points, got ", x);
    }
  }
  std::sort(kinks.begin(), kinks.end());
  kinks.erase(std::unique(kinks.begin(), kinks.end()), kinks.end());
  std::sort(jumps.begin(), jumps.end());
  jumps.erase(std::unique(jumps.begin(), jumps.end()), jumps.end());
  Activation out(ActivationKind::Custom, 0.0, std::move(name), std::move(fn));
  out.kinks_ = std::move(kinks);
  out.jumps_ = std::move(jumps);
  return out;
}

const std::vector<std::string>& Activation::names() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> v;
    for (const auto& entry : kEntries) {
      v.emplace_back(entry.name);
    }
    return v;
  }();
  return all;
}

std::string Activation::repr() const {
  std::ostringstream out;
  out << name_;
  if (kind_ == ActivationKind::LeakyRelu) {
    out << "(negative_slope=" << parameter_ << ")";
  } else if (kind_ == ActivationKind::Elu) {
    out << "(alpha=" << parameter_ << ")";
  } else if (kind_ == ActivationKind::Custom) {
    out << " (custom";
    const auto list = [&out](const char* label, const std::vector<double>& points) {
      if (points.empty()) {
        return;
      }
      out << ", " << label << "=[";
      for (size_t i = 0; i < points.size(); ++i) {
        out << (i ? ", " : "") << points[i];
      }
      out << "]";
    };
    list("kinks", kinks_);
    list("jumps", jumps_);
    out << ")";
  }
  return out.str();
}

void Activation::evaluate(int64_t n, const double* x, double* phi, double* dphi, double* d2phi) const {
  if (n == 0) {
    return;
  }
  if (kind_ == ActivationKind::Custom) {
    evaluate_custom(*this, n, x, phi, dphi, d2phi);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    evaluate_builtin(kind_, parameter_, x[i], phi[i], dphi[i], d2phi[i]);
  }
}

} // namespace statmech
