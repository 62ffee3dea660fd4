// The edge of chaos: chi_1 = 1 at a stable fixed point of the variance map that the network
// reaches. Along chi_1 = 1 the fixed point q* parameterises everything in closed form
// (sigma_w2 = 1 / E[phi'^2], sigma_b2 = q* - sigma_w2 E[phi^2], both at q*), so the candidates for a
// given sigma_b2 are the roots in q* of
//   bias(q) = q - E[phi(sqrt(q) z)^2] / E[phi'(sqrt(q) z)^2] = sigma_b2,
// bracketed on the moment table's grid. At a candidate the variance map's slope is
// 1 + sigma_w2 E[phi'' phi]: above 1 the fixed point repels (silu, gelu at small q*), and a
// network initialised there drifts to another fixed point or diverges. Each stable candidate is then
// checked against the fixed point that q0 actually flows to (variance_map.h).

#include <statmech/meanfield.h>

#include "csrc/meanfield/root_finding.h"
#include "csrc/meanfield/variance_map.h"
#include "ops/common/checks.h"
#include <statmech/dual_activation.h>

#include <ATen/Functions.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>
#include <vector>

namespace statmech::meanfield {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// A critical fixed point whose slope is within this of 1 is neutral, and counts as stable.
constexpr double kNeutral = 1e-12;
// |bias - sigma_b2| below this fraction of q is rounding of an exact zero.
constexpr double kZeroResidual = 1e-12;
// Below this q* the slope 1 + sigma_w2 E[phi'' phi] is 1 to rounding; stability is read from the
// variance map's crossing instead.
constexpr double kSmallestJudged = 1e-6;

struct Candidate {
  double q_star, sigma_w2, slope;
  bool stable;
  CriticalReason verdict;
  detail::VarianceRoots roots; // at (sigma_w2, sigma_b2) from q0
  double q0;
};

struct Answer {
  CriticalReason reason = CriticalReason::Diverging;
  double sigma_w2 = kNaN, q_star = kNaN;
  std::vector<Candidate> candidates;
  bool homogeneous = false; // bias(q) = 0 for every q (relu, leaky_relu, linear)
};

std::string fmt(double x) {
  std::ostringstream out;
  out << std::setprecision(6) << x;
  return out.str();
}

class CriticalSolver {
 public:
  explicit CriticalSolver(const Activation& activation)
      : shared_table_(detail::moment_table(activation)), table_(*shared_table_) {
    const auto& origin = table_.origin();
    TORCH_CHECK(std::isfinite(origin.derivative_second) && origin.derivative_second > 0,
                "critical_sigma_w2: E[phi'^2] of ", activation.repr(), " is ", origin.derivative_second,
                " (phi' is a Dirac delta or zero), so chi_1 = sigma_w2 E[phi'^2] never equals 1");
    const auto& q = table_.q();
    const auto& m = table_.moments();
    homogeneous_ = true;
    for (size_t j = 0; j < q.size(); ++j) {
      bias_.push_back(q[j] - m[j].second / m[j].derivative_second);
      slope_.push_back(1.0 + m[j].curvature / m[j].derivative_second);
      homogeneous_ = homogeneous_ && std::fabs(bias_.back()) <= kZeroResidual * q[j];
    }
    origin_bias_ = detail::kVanishingVariance - origin.second / origin.derivative_second;
  }

  Answer solve(double sigma_b2, std::optional<double> q0) const {
    Answer answer;
    answer.homogeneous = homogeneous_;
    const auto& origin = table_.origin();
    if (homogeneous_) {
      if (sigma_b2 == 0) {
        // Every q is a (neutral) fixed point of the critical map: the network keeps its q0.
        const double w = 1.0 / origin.derivative_second;
        const double start = q0.value_or(detail::default_q0(w, 0.0));
        answer.reason = CriticalReason::Found;
        answer.sigma_w2 = w;
        answer.q_star = start;
      }
      return answer; // sigma_b2 > 0: chi_1 = 1 only as q* -> inf
    }
    std::vector<double> roots;
    if (sigma_b2 == 0 && table_.zero_maps_to_zero()) {
      roots.push_back(0.0);
    }
    const auto& q = table_.q();
    const auto g = [&](double x) { return critical_bias(x) - sigma_b2; };
    if (sigma_b2 > 0 && origin_bias_ < sigma_b2 && bias_[0] > sigma_b2) {
      roots.push_back(detail::bracketed_secant(g, detail::kVanishingVariance, q[0], origin_bias_ - sigma_b2,
                                               bias_[0] - sigma_b2));
    }
    for (size_t j = 0; j + 1 < q.size(); ++j) {
      const double a = bias_[j] - sigma_b2;
      const double b = bias_[j + 1] - sigma_b2;
      if (std::fabs(a) <= kZeroResidual * q[j] || std::fabs(b) <= kZeroResidual * q[j + 1]) {
        if (b == 0) {
          roots.push_back(q[j + 1]);
        }
        continue;
      }
      if ((a > 0) != (b > 0)) {
        roots.push_back(detail::bracketed_secant(g, q[j], q[j + 1], a, b));
      }
    }
    for (double q_star : roots) {
      answer.candidates.push_back(judge(q_star, sigma_b2, q0));
    }
    // The first (smallest q*) edge of chaos, else the most informative failure.
    for (const auto& c : answer.candidates) {
      if (c.verdict == CriticalReason::Found) {
        answer.reason = CriticalReason::Found;
        answer.sigma_w2 = c.sigma_w2;
        answer.q_star = c.q_star;
        return answer;
      }
    }
    for (auto reason : {CriticalReason::NotReached, CriticalReason::Unstable}) {
      for (const auto& c : answer.candidates) {
        if (c.verdict == reason) {
          answer.reason = reason;
          return answer;
        }
      }
    }
    return answer;
  }

  // Candidate q* (critical at the given sigma_b2): is it stable, and does q0 flow to it?
  Candidate judge(double q_star, double sigma_b2, std::optional<double> q0) const {
    Candidate c;
    c.q_star = q_star;
    const auto m = q_star > 0 ? dual::moments(table_.activation(), q_star) : table_.origin();
    c.sigma_w2 = 1.0 / m.derivative_second;
    c.slope = 1.0 + m.curvature / m.derivative_second;
    c.q0 = q0.value_or(detail::default_q0(c.sigma_w2, sigma_b2));
    c.roots = detail::variance_roots(table_, c.sigma_w2, sigma_b2, c.q0);
    if (q_star < kSmallestJudged) {
      // At q* ~ 0 the slope is 1 to first order (to rounding); the sign of q_map(q) - q next to
      // the fixed point decides, as variance_roots found it.
      c.stable = false;
      for (const auto& p : c.roots.points) {
        if (std::fabs(p.q - q_star) <= 1e-6 * q_star || (q_star == 0 && p.q == 0)) {
          c.stable = p.stable;
        }
      }
    } else {
      c.stable = c.slope <= 1.0 + kNeutral;
    }
    if (!c.stable) {
      c.verdict = CriticalReason::Unstable;
      return c;
    }
    bool reached = false;
    if (c.roots.every_q_fixed) {
      reached = true;
    } else if (c.roots.reached >= 0) {
      const double r = c.roots.points[c.roots.reached].q;
      reached = q_star == 0 ? r == 0 : std::fabs(r - q_star) <= 1e-6 * q_star;
    }
    c.verdict = reached ? CriticalReason::Found : CriticalReason::NotReached;
    return c;
  }

  // The sigma_b2 ranges where chi_1 = 1 holds at a stable fixed point, from the grid (so the
  // ends are approximate), e.g. "[0.71, 1e+12]".
  std::string stable_ranges() const {
    std::vector<std::pair<double, double>> ranges;
    bool open = false;
    const auto add = [&](double b) {
      if (!open) {
        ranges.emplace_back(b, b);
        open = true;
      } else {
        ranges.back().first = std::min(ranges.back().first, b);
        ranges.back().second = std::max(ranges.back().second, b);
      }
    };
    if (table_.zero_maps_to_zero()) {
      const double w = 1.0 / table_.origin().derivative_second;
      if (w * table_.moments()[0].second - table_.q()[0] < 0) {
        add(0.0);
      }
    }
    const auto& q = table_.q();
    const auto stable_at = [&](size_t j) { return std::isfinite(slope_[j]) && slope_[j] <= 1.0 + kNeutral; };
    // Where stability changes between grid points, the end of the range is where the slope
    // crosses 1 (E[phi'' phi] = 0), found by root finding, so the reported ends are accurate.
    const auto boundary = [&](size_t j) {
      const auto excess = [&](double x) {
        const auto m = dual::moments(table_.activation(), x);
        return m.curvature / m.derivative_second;
      };
      const double x = detail::bracketed_secant(excess, q[j], q[j + 1], slope_[j] - 1.0, slope_[j + 1] - 1.0);
      return critical_bias(x);
    };
    for (size_t j = 0; j < bias_.size(); ++j) {
      if (q[j] < kSmallestJudged) {
        continue; // the origin was judged above
      }
      if (stable_at(j) && bias_[j] >= 0) {
        if (!open && j > 0 && q[j - 1] >= kSmallestJudged && !stable_at(j - 1) && std::isfinite(slope_[j - 1])) {
          add(std::max(boundary(j - 1), 0.0));
        }
        add(bias_[j]);
        if (j + 1 < bias_.size() && !stable_at(j + 1) && std::isfinite(slope_[j + 1])) {
          add(boundary(j));
        }
      } else {
        open = false;
      }
    }
    if (ranges.empty()) {
      return "no sigma_b2 (chi_1 = 1 only at unstable fixed points, or at none with q* <= " + fmt(table_.q().back()) +
          ")";
    }
    std::string out = "sigma_b2 in ";
    for (size_t i = 0; i < ranges.size(); ++i) {
      out += (i ? " or " : "") + std::string("[") + fmt(ranges[i].first) + ", " + fmt(ranges[i].second) + "]";
    }
    return out + " (an upper end of " + fmt(bias_.back()) + " is where q* reaches " + fmt(table_.q().back()) +
        ", the largest variance examined)";
  }

  std::string explain(const char* fn, double sigma_b2, const Answer& answer) const {
    std::ostringstream out;
    const auto& act = table_.activation().repr();
    out << fn << ": " << act << " has no stable edge of chaos at sigma_b2 = " << sigma_b2 << ": ";
    const auto describe_fate = [&](const Candidate& c) {
      std::ostringstream fate;
      fate << "from q0 = " << fmt(c.q0);
      if (c.roots.reached < 0) {
        fate << " the variance diverges";
      } else {
        const auto& r = c.roots.points[c.roots.reached];
        const auto m = r.q > 0 ? dual::moments(table_.activation(), r.q) : table_.origin();
        fate << " the network goes to the fixed point q = " << fmt(r.q) << " with chi_1 = "
             << fmt(c.sigma_w2 * m.derivative_second);
      }
      return fate.str();
    };
    if (answer.homogeneous) {
      out << "q - E[phi^2]/E[phi'^2] is 0 for every q (a positively homogeneous activation), so chi_1 = 1 with "
             "sigma_b2 > 0 needs q* = inf (diverging); its edge of chaos is sigma_b2 = 0 only";
      return out.str();
    }
    if (answer.candidates.empty()) {
      out << "no fixed point with q* <= " << fmt(table_.q().back())
          << " has chi_1 = 1 (the critical variance diverges)";
    }
    for (size_t i = 0; i < answer.candidates.size(); ++i) {
      const auto& c = answer.candidates[i];
      out << (i ? "; " : "") << "chi_1 = 1 at q* = " << fmt(c.q_star) << " with sigma_w2 = " << fmt(c.sigma_w2);
      if (c.verdict == CriticalReason::Unstable && c.q_star < kSmallestJudged) {
        out << ", but that fixed point is unstable (q_map(q) > q just above it: E[phi'' phi] > 0 at small q), "
            << describe_fate(c);
      } else if (c.verdict == CriticalReason::Unstable) {
        out << ", but that fixed point is unstable (dq'/dq = " << fmt(c.slope) << " > 1: E[phi'' phi] > 0 there), "
            << describe_fate(c);
      } else {
        const auto* own = static_cast<const VarianceFixedPoint*>(nullptr);
        for (const auto& p : c.roots.points) {
          if (std::fabs(p.q - c.q_star) <= 1e-6 * std::max(c.q_star, 1e-300)) {
            own = &p;
          }
        }
        out << ", a stable fixed point, but " << describe_fate(c);
        if (own != nullptr) {
          out << " (its basin is q0 in (" << fmt(own->basin_lo) << ", " << fmt(own->basin_hi) << "))";
        }
      }
    }
    out << ". A stable edge of chaos exists for " << stable_ranges();
    return out.str();
  }

  const detail::MomentTable& table() const {
    return table_;
  }

 private:
  double critical_bias(double q) const {
    const auto m = dual::moments(table_.activation(), q);
    return q - m.second / m.derivative_second;
  }

  std::shared_ptr<const detail::MomentTable> shared_table_;
  const detail::MomentTable& table_;
  std::vector<double> bias_, slope_;
  double origin_bias_;
  bool homogeneous_;
};

void check_q0(const char* fn, std::optional<double> q0) {
  if (q0) {
    checks::positive_variance(fn, "q0", *q0);
  }
}

} // namespace

std::string critical_reason_name(CriticalReason reason) {
  switch (reason) {
    case CriticalReason::Found:
      return "found";
    case CriticalReason::Unstable:
      return "unstable";
    case CriticalReason::Diverging:
      return "diverging";
    case CriticalReason::NotReached:
      return "not_reached";
  }
  return "unknown";
}

std::pair<double, double> critical_point(double q_star, const Activation& activation, std::optional<double> q0) {
  checks::positive_variance("critical_point", "q_star", q_star);
  check_q0("critical_point", q0);
  const auto m = dual::moments(activation, q_star);
  TORCH_CHECK(std::isfinite(m.derivative_second) && m.derivative_second > 0, "critical_point: E[phi'^2] of ",
              activation.repr(), " at q_star = ", q_star, " is ", m.derivative_second,
              ", so no sigma_w2 makes chi_1 = sigma_w2 E[phi'^2] equal 1");
  const double sigma_w2 = 1.0 / m.derivative_second;
  double sigma_b2 = q_star - sigma_w2 * m.second;
  // Rounding of an exact zero (e.g. relu, where sigma_b2 = 0 for every q*) is not an error.
  if (sigma_b2 < 0 && sigma_b2 >= -1e-12 * q_star) {
    sigma_b2 = 0.0;
  }
  TORCH_CHECK(sigma_b2 >= 0, "critical_point: for ", activation.repr(), " the fixed point q_star = ", q_star,
              " is critical only with sigma_w2 = ", sigma_w2, " and sigma_b2 = ", sigma_b2,
              " < 0, which is not a variance; choose another q_star");
  const CriticalSolver solver(activation);
  const auto c = solver.judge(q_star, sigma_b2, q0);
  if (c.verdict != CriticalReason::Found) {
    Answer answer;
    answer.reason = c.verdict;
    answer.candidates.push_back(c);
    TORCH_CHECK(false, solver.explain("critical_point", sigma_b2, answer));
  }
  return {sigma_w2, sigma_b2};
}

double critical_sigma_w2(double sigma_b2, const Activation& activation, std::optional<double> q0) {
  checks::nonnegative_variance("critical_sigma_w2", "sigma_b2", sigma_b2);
  check_q0("critical_sigma_w2", q0);
  const CriticalSolver solver(activation);
  const auto answer = solver.solve(sigma_b2, q0);
  TORCH_CHECK(answer.reason == CriticalReason::Found, solver.explain("critical_sigma_w2", sigma_b2, answer));
  return answer.sigma_w2;
}

CriticalCurve critical_curve(const at::Tensor& q_star, const Activation& activation) {
  TORCH_CHECK(q_star.defined() && q_star.is_floating_point(),
              "critical_curve: q_star must be a floating tensor of variances (sigma^2)");
  const auto q = q_star.to(at::kCPU, at::kDouble).contiguous();
  const auto* v = q.data_ptr<double>();
  for (int64_t i = 0; i < q.numel(); ++i) {
    checks::positive_variance("critical_curve", "q_star", v[i]);
  }
  CriticalCurve out{at::empty_like(q), at::empty_like(q), at::empty_like(q)};
  auto* w = out.sigma_w2.data_ptr<double>();
  auto* b = out.sigma_b2.data_ptr<double>();
  auto* s = out.slope.data_ptr<double>();
  const auto solve = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto m = dual::moments(activation, v[i]);
      w[i] = 1.0 / m.derivative_second;
      b[i] = v[i] - w[i] * m.second;
      s[i] = 1.0 + w[i] * m.curvature;
    }
  };
  if (activation.kind() == ActivationKind::Custom) {
    solve(0, q.numel());
  } else {
    at::parallel_for(0, q.numel(), 1, solve);
  }
  return out;
}

CriticalLine critical_line_with_reasons(
    const at::Tensor& sigma_b2, const Activation& activation, std::optional<double> q0) {
  TORCH_CHECK(sigma_b2.defined() && sigma_b2.dim() == 1 && sigma_b2.is_floating_point(),
              "critical_line: sigma_b2 must be a 1-D floating tensor of bias variances (sigma^2), got ",
              sigma_b2.defined() ? sigma_b2.sizes() : at::IntArrayRef{}, " ",
              sigma_b2.defined() ? sigma_b2.scalar_type() : at::ScalarType::Undefined);
  check_q0("critical_line", q0);
  const auto input = sigma_b2.to(at::kCPU, at::kDouble).contiguous();
  const auto* b = input.data_ptr<double>();
  for (int64_t i = 0; i < input.numel(); ++i) {
    checks::nonnegative_variance("critical_line", "sigma_b2", b[i]);
  }
  const CriticalSolver solver(activation);
  CriticalLine out{at::empty_like(input), at::empty_like(input), at::empty(input.sizes(), at::kLong)};
  auto* w = out.sigma_w2.data_ptr<double>();
  auto* q = out.q_star.data_ptr<double>();
  auto* reason = out.reason.data_ptr<int64_t>();
  const auto solve = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto answer = solver.solve(b[i], q0);
      w[i] = answer.sigma_w2, q[i] = answer.q_star, reason[i] = static_cast<int64_t>(answer.reason);
    }
  };
  // A user activation calls into Python, which holds one interpreter lock: stay on this thread.
  if (activation.kind() == ActivationKind::Custom) {
    solve(0, input.numel());
  } else {
    at::parallel_for(0, input.numel(), 1, solve);
  }
  return out;
}

at::Tensor critical_line(const at::Tensor& sigma_b2, const Activation& activation, std::optional<double> q0) {
  return critical_line_with_reasons(sigma_b2, activation, q0).sigma_w2;
}

} // namespace statmech::meanfield
