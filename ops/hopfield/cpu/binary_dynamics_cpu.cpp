// CPU kernels of the asynchronous, heat-bath (Glauber) and parallel-tempering dynamics of binary
// Hopfield networks and spin glasses, and the CPU registrations of binary_hopfield_run and
// binary_hopfield_glauber. One row of the batch is a sequential chain; rows run in parallel.
//
// Randomness: one 64-bit seed is drawn from the torch.Generator per call; row b then draws from
// its own stream (row_random.h). The result depends on the generator's state only, not on the
// number of threads.

#include "ops/hopfield/binary_dynamics.h"
#include "ops/hopfield/cpu/row_random.h"
#include "ops/common/vectorizable_math.h" // STATMECH_CPU_CLONES, as the build probed it

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <vector>


namespace statmech::hopfield {
namespace {

uint64_t draw_seed(std::optional<at::Generator> generator) {
  auto* gen = at::get_generator_or_default<at::CPUGeneratorImpl>(generator, at::detail::getDefaultCPUGenerator());
  std::lock_guard<std::mutex> lock(gen->mutex_);
  return gen->random64();
}

// Enough rows per task that a task makes a few thousand visits per sweep: small networks are not
// worth a thread each.
inline int64_t rows_per_task(int64_t neurons) {
  return std::max<int64_t>(1, 4096 / std::max<int64_t>(neurons, 1));
}

// Fisher-Yates shuffle of order[0, n).
inline void shuffle(std::vector<int64_t>& order, RowRandom& rng) {
  for (int64_t k = static_cast<int64_t>(order.size()) - 1; k > 0; --k) {
    std::swap(order[k], order[rng.below(k + 1)]);
  }
}

// f_j += delta * column_i(W) for every j, then removes the diagonal term from f_i.
template <typename T>
STATMECH_CPU_CLONES void add_column(double* __restrict fields, const T* __restrict column, double delta, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    fields[j] += delta * static_cast<double>(column[j]);
  }
}

// The new spin of a visit at temperature t (t = 0: the sign of the field, kept on a tie).
inline double new_spin(double spin, double field, double t, RowRandom& rng) {
  if (t == 0) {
    return field > 0 ? 1.0 : (field < 0 ? -1.0 : spin);
  }
  // Heat bath: P(s = +1) = 1 / (1 + exp(-2 f / T)).
  const double p_up = 1.0 / (1.0 + std::exp(-2.0 * field / t));
  return rng.uniform() < p_up ? 1.0 : -1.0;
}

// One sweep of row `spins` in a fresh random order; returns the number of flips and adds their
// energy change (2 s_i f_i each, symmetric W) to *energy_change.
template <typename T>
int64_t sweep_row(
    T* spins, double* fields, const T* weight_t, const T* diag, int64_t n, double t, std::vector<int64_t>& order,
    RowRandom& rng, double* energy_change) {
  shuffle(order, rng);
  int64_t flips = 0;
  double de = 0;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = order[k];
    const double s = static_cast<double>(spins[i]);
    const double f = fields[i];
    const double s_new = new_spin(s, f, t, rng);
    if (s_new != s) {
      de += 2.0 * s * f;
      spins[i] = static_cast<T>(s_new);
      const double delta = 2.0 * s_new;
      add_column(fields, weight_t + i * n, delta, n);
      fields[i] -= delta * static_cast<double>(diag[i]);
      ++flips;
    }
  }
  if (energy_change != nullptr) {
    *energy_change += de;
  }
  return flips;
}

// True when every matrix of w [..., N, N] (contiguous) is symmetric; compares 32 x 32 tiles with
// their mirror, so W is read about once, and stops at the first difference.
template <typename T>
bool symmetric(const T* w, int64_t matrices, int64_t n) {
  constexpr int64_t kTile = 32;
  for (int64_t m = 0; m < matrices; ++m) {
    const T* a = w + m * n * n;
    for (int64_t bi = 0; bi < n; bi += kTile) {
      for (int64_t bj = bi; bj < n; bj += kTile) {
        for (int64_t i = bi; i < std::min(bi + kTile, n); ++i) {
          for (int64_t j = std::max(bj, i + 1); j < std::min(bj + kTile, n); ++j) {
            if (a[i * n + j] != a[j * n + i]) {
              return false;
            }
          }
        }
      }
    }
  }
  return true;
}

// W^T, contiguous (row i is column i of W, what a flip of s_i adds to the fields). Hopfield and
// spin-glass couplings are symmetric, and then W itself is W^T: the check costs one read of W,
// the transposed copy a strided read and a write.
template <typename T>
at::Tensor columns_of(const at::Tensor& weight) {
  const at::Tensor w = weight.contiguous();
  const int64_t n = w.size(-1);
  if (symmetric<T>(w.data_ptr<T>(), w.numel() / std::max<int64_t>(n * n, 1), n)) {
    return w;
  }
  return w.transpose(-2, -1).contiguous();
}

template <typename T>
void async_rows(AsyncArgs& args, uint64_t seed) {
  const int64_t batch = args.spins.size(0), n = args.spins.size(1);
  T* spins = args.spins.data_ptr<T>();
  double* fields = args.fields.data_ptr<double>();
  const at::Tensor columns = columns_of<T>(args.weight);
  const T* weight_t = columns.data_ptr<T>();
  const T* diag = args.diag.data_ptr<T>();
  const bool shared_weight = columns.dim() == 2;
  const bool shared_diag = args.diag.dim() == 1;
  int64_t* sweeps = args.sweeps.data_ptr<int64_t>();
  bool* converged = args.converged.data_ptr<bool>();
  const std::vector<double>& temperatures = args.temperatures;
  const bool deterministic = temperatures.empty();
  const int64_t total = deterministic ? args.max_sweeps : static_cast<int64_t>(temperatures.size());
  at::parallel_for(0, batch, rows_per_task(n), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> order(n);
    for (int64_t b = begin; b < end; ++b) {
      RowRandom rng(seed, static_cast<uint64_t>(b));
      std::iota(order.begin(), order.end(), int64_t{0});
      T* s = spins + b * n;
      double* f = fields + b * n;
      const T* w = weight_t + (shared_weight ? 0 : b * n * n);
      const T* d = diag + (shared_diag ? 0 : b * n);
      int64_t used = 0;
      bool fixed = false;
      for (int64_t sweep = 0; sweep < total; ++sweep) {
        const double t = deterministic ? 0.0 : temperatures[sweep];
        const int64_t flips = sweep_row(s, f, w, d, n, t, order, rng, nullptr);
        if (deterministic) {
          if (flips == 0) {
            fixed = true;
            break;
          }
          ++used;
        }
      }
      if (deterministic && !fixed) {
        // The sweep limit was reached: the state is fixed iff no field disagrees with its spin.
        fixed = true;
        for (int64_t i = 0; i < n; ++i) {
          fixed = fixed && !(static_cast<double>(s[i]) * f[i] < 0);
        }
      }
      sweeps[b] = used;
      converged[b] = fixed;
    }
  });
}

template <typename T>
void tempering_rows(TemperingArgs& args, uint64_t seed) {
  const int64_t batch = args.spins.size(0), replicas = args.spins.size(1), n = args.spins.size(2);
  T* spins = args.spins.data_ptr<T>();
  double* fields = args.fields.data_ptr<double>();
  const at::Tensor columns = columns_of<T>(args.weight);
  const T* weight_t = columns.data_ptr<T>();
  const T* diag = args.diag.data_ptr<T>();
  const bool shared_weight = columns.dim() == 2;
  const bool shared_diag = args.diag.dim() == 1;
  double* energy = args.energy.data_ptr<double>();
  T* best_spins = args.best_spins.data_ptr<T>();
  double* best_energy = args.best_energy.data_ptr<double>();
  double* swap_rate = args.swap_rate.data_ptr<double>();
  const std::vector<double>& temperatures = args.temperatures;
  const int64_t total = args.sweeps;
  at::parallel_for(0, batch, rows_per_task(n * replicas), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> order(n);
    std::vector<int64_t> slot(replicas); // slot[r]: the buffer holding the replica at temperatures[r]
    std::vector<int64_t> accepted(std::max<int64_t>(replicas - 1, 0)), attempted(accepted.size());
    for (int64_t b = begin; b < end; ++b) {
      RowRandom rng(seed, static_cast<uint64_t>(b));
      std::iota(order.begin(), order.end(), int64_t{0});
      std::iota(slot.begin(), slot.end(), int64_t{0});
      std::fill(accepted.begin(), accepted.end(), 0);
      std::fill(attempted.begin(), attempted.end(), 0);
      T* s = spins + b * replicas * n;
      double* f = fields + b * replicas * n;
      double* e = energy + b * replicas;
      const T* w = weight_t + (shared_weight ? 0 : b * n * n);
      const T* d = diag + (shared_diag ? 0 : b * n);
      T* best = best_spins + b * n;
      double best_e = INFINITY;
      auto record_best = [&]() {
        for (int64_t r = 0; r < replicas; ++r) {
          if (e[slot[r]] < best_e) {
            best_e = e[slot[r]];
            std::copy(s + slot[r] * n, s + (slot[r] + 1) * n, best);
          }
        }
      };
      record_best();
      for (int64_t sweep = 0; sweep < total; ++sweep) {
        for (int64_t r = 0; r < replicas; ++r) {
          const int64_t k = slot[r];
          double change = 0;
          sweep_row(s + k * n, f + k * n, w, d, n, temperatures[r], order, rng, &change);
          e[k] += change;
        }
        // Replica exchange: accept with probability min(1, exp((1/T_r - 1/T_r+1)(E_r - E_r+1))).
        for (int64_t r = sweep % 2; r + 1 < replicas; r += 2) {
          const double t0 = temperatures[r], t1 = temperatures[r + 1];
          const double e0 = e[slot[r]], e1 = e[slot[r + 1]];
          const double beta0 = t0 > 0 ? 1.0 / t0 : INFINITY, beta1 = t1 > 0 ? 1.0 / t1 : INFINITY;
          const double log_ratio = (beta0 == beta1) ? 0.0 : (beta0 - beta1) * (e0 - e1);
          ++attempted[r];
          if (log_ratio >= 0 || rng.uniform() < std::exp(log_ratio)) {
            std::swap(slot[r], slot[r + 1]);
            ++accepted[r];
          }
        }
        record_best();
      }
      // Write the replicas back in temperature order.
      std::vector<T> spins_copy(s, s + replicas * n);
      std::vector<double> fields_copy(f, f + replicas * n), energy_copy(e, e + replicas);
      for (int64_t r = 0; r < replicas; ++r) {
        std::copy(spins_copy.begin() + slot[r] * n, spins_copy.begin() + (slot[r] + 1) * n, s + r * n);
        std::copy(fields_copy.begin() + slot[r] * n, fields_copy.begin() + (slot[r] + 1) * n, f + r * n);
        e[r] = energy_copy[slot[r]];
      }
      best_energy[b] = best_e;
      for (size_t r = 0; r < accepted.size(); ++r) {
        swap_rate[b * (replicas - 1) + r] =
            attempted[r] > 0 ? static_cast<double>(accepted[r]) / static_cast<double>(attempted[r]) : 0.0;
      }
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> binary_hopfield_run_cpu(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold,
    c10::string_view update, int64_t max_sweeps, std::optional<at::Generator> generator) {
  return run_forward(state, weight, threshold, update, max_sweeps, std::move(generator), async_kernel_cpu);
}

std::tuple<at::Tensor, at::Tensor> binary_hopfield_glauber_cpu(
    const at::Tensor& state, const at::Tensor& weight, at::ArrayRef<double> temperatures,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator> generator) {
  return glauber_forward(state, weight, temperatures, threshold, std::move(generator), async_kernel_cpu);
}

} // namespace

void async_kernel_cpu(AsyncArgs& args, std::optional<at::Generator> generator) {
  const uint64_t seed = draw_seed(std::move(generator));
  AT_DISPATCH_FLOATING_TYPES(args.spins.scalar_type(), "binary_hopfield_async_cpu", [&] {
    async_rows<scalar_t>(args, seed);
  });
}

void tempering_kernel_cpu(TemperingArgs& args, std::optional<at::Generator> generator) {
  const uint64_t seed = draw_seed(std::move(generator));
  AT_DISPATCH_FLOATING_TYPES(args.spins.scalar_type(), "binary_hopfield_parallel_tempering_cpu", [&] {
    tempering_rows<scalar_t>(args, seed);
  });
}

TORCH_LIBRARY_IMPL(statmech, CPU, m) {
  m.impl("binary_hopfield_run", &binary_hopfield_run_cpu);
  m.impl("binary_hopfield_glauber", &binary_hopfield_glauber_cpu);
}

} // namespace statmech::hopfield
