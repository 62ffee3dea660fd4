// CPU kernel of dense_memory_run: asynchronous updates in a random order per sweep, each decided
// by the energy difference of the two values of the visited neuron, from overlaps m_mu = xi_mu . s
// that are kept up to date incrementally: O(P) per visit (and per flip), never O(P N).
//
// For neuron i let b_mu = m_mu - s_i xi_mu,i, the overlap without neuron i. Then
//   E(s_i = -1) - E(s_i = +1) = sum_mu [F(b_mu + xi_mu,i) - F(b_mu - xi_mu,i)]
//                             = sum_mu xi_mu,i [F(b_mu + 1) - F(b_mu - 1)]  =: D_i,
// and s_i <- sign(D_i) (kept on a tie; Krotov & Hopfield 2016, eq. 3). Overlaps are integers, held
// in float64, so the polynomial differences are exact while below 2^53. For F = exp(beta x),
// F(b + 1) - F(b - 1) = 2 sinh(beta) exp(beta b): the sign of D_i is that of
// sum_mu xi_mu,i exp(beta (b_mu - max b)), which never overflows.
//
// Randomness as in binary_dynamics_cpu.cpp: one seed per call from the generator, a stream per row
// (row_random.h).

#include "ops/hopfield/binary_dynamics.h"
#include "ops/hopfield/dense_memory.h"
#include "ops/hopfield/cpu/row_random.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <vector>

namespace statmech::hopfield {
namespace {

// x^n by repeated squaring: O(log n) multiplications, so a huge degree costs microseconds (a
// loop of n multiplications would run for minutes at n = 2^31).
inline double integer_power(double x, int64_t n) {
  double result = 1;
  while (n > 0) {
    if (n & 1) {
      result *= x;
    }
    x *= x;
    n >>= 1;
  }
  return result;
}

// D_i (up to a positive factor) from the overlaps m, the column xi_{., i} and the spin s_i.
// With scaled (when top^n may pass the double range: |b +- 1| <= top = N), the polynomial
// terms are taken relative to the largest |b_mu| + 1, ((b +- 1) / top)^n in [-1, 1]: unscaled,
// (b +- 1)^n overflowed (degree 100 at N = 1000 in float64) and inf - inf = NaN read as a tie, so
// no neuron ever flipped and the run reported a fixed point it was not at.
double energy_gap(
    const double* overlaps, const double* column, double s, int64_t patterns, Interaction kind, int64_t degree,
    double beta, bool scaled) {
  double gap = 0;
  if (kind == Interaction::kExponential) {
    double top = -INFINITY;
    for (int64_t mu = 0; mu < patterns; ++mu) {
      top = std::max(top, overlaps[mu] - s * column[mu]);
    }
    for (int64_t mu = 0; mu < patterns; ++mu) {
      gap += column[mu] * std::exp(beta * (overlaps[mu] - s * column[mu] - top));
    }
    return gap;
  }
  const bool rectified = kind == Interaction::kRectifiedPolynomial;
  double inverse_top = 1;
  if (scaled) {
    double top = 1;
    for (int64_t mu = 0; mu < patterns; ++mu) {
      top = std::max(top, std::abs(overlaps[mu] - s * column[mu]) + 1);
    }
    inverse_top = 1 / top;
  }
  for (int64_t mu = 0; mu < patterns; ++mu) {
    const double b = overlaps[mu] - s * column[mu];
    const double up = (b + 1) * inverse_top, down = (b - 1) * inverse_top;
    const double f_up = rectified && up <= 0 ? 0.0 : integer_power(up, degree);
    const double f_down = rectified && down <= 0 ? 0.0 : integer_power(down, degree);
    gap += column[mu] * (f_up - f_down);
  }
  return gap;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> dense_memory_run_cpu(
    const at::Tensor& state, const at::Tensor& patterns, c10::string_view interaction, int64_t degree, double beta,
    int64_t max_sweeps, std::optional<at::Generator> generator) {
  const Interaction kind = check_dense_memory(kDenseRunOp, state, patterns, interaction, degree, beta);
  check_max_sweeps(kDenseRunOp, max_sweeps);
  at::Tensor spins = to_spins(state, patterns.scalar_type()).contiguous();
  const int64_t batch = spins.size(0), n = spins.size(1), count = patterns.size(0);
  at::Tensor sweeps = at::zeros({batch}, state.options().dtype(at::kLong));
  at::Tensor converged = at::ones({batch}, state.options().dtype(at::kBool));
  if (batch > 0 && n > 0 && count > 0) {
    const at::Tensor xi = to_spins(patterns, at::kDouble);
    const at::Tensor columns = xi.t().contiguous(); // [N, P]: row i is xi_{., i}
    at::Tensor s = spins.to(at::kDouble).contiguous();
    at::Tensor overlaps = at::mm(s, xi.t()).contiguous(); // [batch, P]
    uint64_t seed;
    {
      auto* gen = at::get_generator_or_default<at::CPUGeneratorImpl>(generator, at::detail::getDefaultCPUGenerator());
      std::lock_guard<std::mutex> lock(gen->mutex_);
      seed = gen->random64();
    }
    // |b_mu +- 1| <= n: the unscaled powers stay below 2^1000 (exact while below 2^53).
    const bool scaled = kind != Interaction::kExponential && static_cast<double>(degree) * std::log2(n + 1.0) > 1000;
    double* s_data = s.data_ptr<double>();
    double* m_data = overlaps.data_ptr<double>();
    const double* col_data = columns.data_ptr<double>();
    int64_t* sweeps_data = sweeps.data_ptr<int64_t>();
    bool* converged_data = converged.data_ptr<bool>();
    at::parallel_for(0, batch, std::max<int64_t>(1, 4096 / std::max<int64_t>(n * count / 16, 1)), [&](int64_t begin, int64_t end) {
      std::vector<int64_t> order(n);
      for (int64_t b = begin; b < end; ++b) {
        RowRandom rng(seed, static_cast<uint64_t>(b));
        std::iota(order.begin(), order.end(), int64_t{0});
        double* row = s_data + b * n;
        double* m = m_data + b * count;
        int64_t used = 0;
        bool fixed = false;
        for (int64_t sweep = 0; sweep < max_sweeps && !fixed; ++sweep) {
          for (int64_t k = n - 1; k > 0; --k) {
            std::swap(order[k], order[rng.below(k + 1)]);
          }
          int64_t flips = 0;
          for (int64_t k = 0; k < n; ++k) {
            const int64_t i = order[k];
            const double* column = col_data + i * count;
            const double gap = energy_gap(m, column, row[i], count, kind, degree, beta, scaled);
            const double s_new = gap > 0 ? 1.0 : (gap < 0 ? -1.0 : row[i]);
            if (s_new != row[i]) {
              row[i] = s_new;
              for (int64_t mu = 0; mu < count; ++mu) {
                m[mu] += 2.0 * s_new * column[mu];
              }
              ++flips;
            }
          }
          if (flips == 0) {
            fixed = true;
          } else {
            ++used;
          }
        }
        if (!fixed) {
          // Sweep limit reached: fixed iff no visit would flip a neuron.
          fixed = true;
          for (int64_t i = 0; i < n && fixed; ++i) {
            const double gap = energy_gap(m, col_data + i * count, row[i], count, kind, degree, beta, scaled);
            fixed = !(gap * row[i] < 0);
          }
        }
        sweeps_data[b] = used;
        converged_data[b] = fixed;
      }
    });
    spins.copy_(s);
  }
  at::Tensor energy = dense_memory_energy_of_spins(spins, patterns, kind, degree, beta);
  return {spins, energy, sweeps, converged};
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CPU, m) {
  m.impl("dense_memory_run", &dense_memory_run_cpu);
}

} // namespace statmech::hopfield
