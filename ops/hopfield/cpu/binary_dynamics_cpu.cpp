// CPU kernels of the asynchronous, heat-bath (Glauber) and parallel-tempering dynamics of binary
// Hopfield networks and spin glasses, the CPU registrations of binary_hopfield_run and
// binary_hopfield_glauber, and _binary_hopfield_async_orders (the orders the asynchronous kernel
// uses, a test seam).
//
// Asynchronous / Glauber sweeps: the rows of the batch run in order groups of kOrderGroup
// consecutive rows that share the random neuron order of each sweep and go in lock-step
// (row_random.h): W [N, N] of a large network does not fit in cache, and a flip streams a column
// of W (N values) from memory; in lock-step, one read of column i serves every row of the group
// that flips at the visit of neuron i. Parallel tempering runs one chain per row (and replica),
// each with its own order.
//
// Randomness: one 64-bit seed is drawn from the torch.Generator per call; order group g and row b
// then draw from their own streams (row_random.h: the group its orders, the row its heat-bath
// draws). The result depends on the generator's state only, not on the number of threads.

#include "ops/hopfield/binary_dynamics.h"
#include "ops/hopfield/cpu/row_random.h"
#include "ops/common/vectorizable_math.h" // STATMECH_CPU_CLONES, as the build probed it

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <numeric>
#include <type_traits>
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

// f_j += delta * column_i(W) for every j (the caller then removes the diagonal term from f_i).
template <typename T>
STATMECH_CPU_CLONES void add_column(double* __restrict fields, const T* __restrict column, double delta, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    fields[j] += delta * static_cast<double>(column[j]);
  }
}

// The same for several rows that flipped at one visit and share the column: fields[q] += delta[q] *
// column for q < count, a block of the column at a time so that it is read from memory once and
// then from L1 for every row.
template <typename T>
STATMECH_CPU_CLONES void add_column_to_rows(
    double* const* fields, const double* delta, int64_t count, const T* __restrict column, int64_t n) {
  constexpr int64_t kBlock = 512;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t end = std::min(begin + kBlock, n);
    for (int64_t q = 0; q < count; ++q) {
      double* __restrict f = fields[q];
      const double d = delta[q];
      for (int64_t j = begin; j < end; ++j) {
        f[j] += d * static_cast<double>(column[j]);
      }
    }
  }
}

// True when every matrix of w [..., N, N] (contiguous) is symmetric: compares 64 x 64 tiles with
// their mirror (W is read once) and stops at the first tile with a difference. Threads take
// pairs of tile rows (t, last - t), which hold equal numbers of tiles of the upper triangle.
constexpr int64_t kSymmetryTile = 64;

// Tile row bi against its mirror column. The mirror tile is first copied, transposed, into a
// buffer in L1, reading each of its rows contiguously (read column by column, every element is in
// another cache line and page). Values are compared as bit patterns, which vectorises (a
// floating-point != reduction does not): equal bits are equal values, and the only equal values
// with other bits, +0 and -0, at worst cost the transposed copy that a non-symmetric W takes.
template <typename T>
STATMECH_CPU_CLONES bool tile_row_symmetric(const T* a, int64_t n, int64_t bi) {
  using Bits = std::conditional_t<sizeof(T) == 8, uint64_t, uint32_t>;
  static_assert(sizeof(Bits) == sizeof(T));
  constexpr int64_t tile = kSymmetryTile;
  Bits mirror[tile * tile]; // mirror[r * tile + c] = the bits of a[(bj + c) * n + bi + r]
  const int64_t rows = std::min(tile, n - bi);
  for (int64_t bj = bi; bj < n; bj += tile) {
    const int64_t columns = std::min(tile, n - bj);
    for (int64_t c = 0; c < columns; ++c) {
      const T* source = a + (bj + c) * n + bi;
      for (int64_t r = 0; r < rows; ++r) {
        std::memcpy(&mirror[r * tile + c], source + r, sizeof(T));
      }
    }
    Bits differ = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = a + (bi + r) * n + bj;
      const Bits* transposed = mirror + r * tile;
      for (int64_t c = 0; c < columns; ++c) {
        Bits value;
        std::memcpy(&value, row + c, sizeof(T));
        differ |= value ^ transposed[c];
      }
    }
    if (differ != 0) {
      return false;
    }
  }
  return true;
}

template <typename T>
bool symmetric(const T* w, int64_t matrices, int64_t n) {
  const int64_t tiles = (n + kSymmetryTile - 1) / kSymmetryTile;
  std::atomic<bool> same{true};
  for (int64_t m = 0; m < matrices && same.load(); ++m) {
    const T* a = w + m * n * n;
    at::parallel_for(0, (tiles + 1) / 2, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end && same.load(std::memory_order_relaxed); ++t) {
        bool ok = tile_row_symmetric(a, n, t * kSymmetryTile);
        if (ok && tiles - 1 - t != t) {
          ok = tile_row_symmetric(a, n, (tiles - 1 - t) * kSymmetryTile);
        }
        if (!ok) {
          same.store(false, std::memory_order_relaxed);
        }
      }
    });
  }
  return same.load();
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

// One lock-step segment: rows [first, first + count) of one order group (they share the group's
// order of every sweep). Each visit decides the spin of neuron i in every running row, then reads
// column i of W once (with a shared W) and adds it to the fields of each row that flipped; the
// segment's fields stay in cache while W streams from memory once per sweep at most, instead of
// once per row. A row stops (leaves the running set) after a deterministic sweep without a flip.
inline constexpr int64_t kPrefetchVisits = 4;

template <typename T>
void async_segment(AsyncArgs& args, const T* weight_t, int64_t first, int64_t count, uint64_t seed) {
  const int64_t n = args.spins.size(1);
  T* spins = args.spins.data_ptr<T>();
  double* fields = args.fields.data_ptr<double>();
  const T* diag = args.diag.data_ptr<T>();
  const bool shared_weight = args.weight.dim() == 2;
  const bool shared_diag = args.diag.dim() == 1;
  const std::vector<double>& temperatures = args.temperatures;
  const bool deterministic = temperatures.empty();
  const int64_t total = deterministic ? args.max_sweeps : static_cast<int64_t>(temperatures.size());

  SweepOrder order(seed, first / kOrderGroup, n);
  std::vector<RowRandom> rng; // heat-bath draws: row b's own stream
  rng.reserve(count);
  for (int64_t m = 0; m < count; ++m) {
    rng.emplace_back(seed, static_cast<uint64_t>(first + m));
  }
  std::vector<int64_t> running(count), flips(count, 0), used(count, 0), flipped(count);
  std::iota(running.begin(), running.end(), int64_t{0});
  std::vector<double> delta(count);
  std::vector<double*> flipped_fields(count);
  std::vector<char> fixed(count, 0);
  for (int64_t sweep = 0; sweep < total && !running.empty(); ++sweep) {
    const int64_t* visit = order.next();
    const double t = deterministic ? 0.0 : temperatures[sweep];
    for (const int64_t m : running) {
      flips[m] = 0;
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = visit[k];
      int64_t flipping = 0;
#if defined(__GNUC__)
      // The rows' spins and fields at a visit lie in as many cache lines as there are rows (not
      // in L1 for a large group); the order is known, so fetch those of a later visit now.
      if (k + kPrefetchVisits < n) {
        const int64_t ahead = visit[k + kPrefetchVisits];
        for (const int64_t m : running) {
          __builtin_prefetch(spins + (first + m) * n + ahead);
          __builtin_prefetch(fields + (first + m) * n + ahead);
        }
      }
#endif
      for (const int64_t m : running) {
        const int64_t at = (first + m) * n + i;
        const double s = static_cast<double>(spins[at]);
        const double s_new = new_spin(s, fields[at], t, rng[m]);
        if (s_new != s) {
          spins[at] = static_cast<T>(s_new);
          flipped[flipping] = m;
          delta[flipping] = 2.0 * s_new;
          ++flipping;
          ++flips[m];
        }
      }
      if (flipping == 0) {
        continue;
      }
      for (int64_t q = 0; q < flipping; ++q) {
        const int64_t b = first + flipped[q];
        flipped_fields[q] = fields + b * n;
        if (!shared_weight) {
          add_column(flipped_fields[q], weight_t + b * n * n + i * n, delta[q], n);
        }
      }
      if (shared_weight) {
        add_column_to_rows(flipped_fields.data(), delta.data(), flipping, weight_t + i * n, n);
      }
      for (int64_t q = 0; q < flipping; ++q) {
        const int64_t b = first + flipped[q];
        flipped_fields[q][i] -= delta[q] * static_cast<double>(diag[(shared_diag ? 0 : b * n) + i]);
      }
    }
    if (deterministic) {
      int64_t kept = 0;
      for (const int64_t m : running) {
        if (flips[m] == 0) {
          fixed[m] = 1;
        } else {
          ++used[m];
          running[kept++] = m;
        }
      }
      running.resize(kept);
    }
  }
  int64_t* sweeps = args.sweeps.data_ptr<int64_t>();
  bool* converged = args.converged.data_ptr<bool>();
  for (int64_t m = 0; m < count; ++m) {
    const int64_t b = first + m;
    if (deterministic && !fixed[m]) {
      // The sweep limit was reached: the state is fixed iff no field disagrees with its spin.
      const T* s = spins + b * n;
      const double* f = fields + b * n;
      bool agree = true;
      for (int64_t i = 0; i < n; ++i) {
        agree = agree && !(static_cast<double>(s[i]) * f[i] < 0);
      }
      fixed[m] = agree;
    }
    sweeps[b] = used[m];
    converged[b] = fixed[m] != 0;
  }
}

template <typename T>
void async_rows(AsyncArgs& args, uint64_t seed) {
  const int64_t batch = args.spins.size(0), n = args.spins.size(1);
  const at::Tensor columns = columns_of<T>(args.weight);
  const T* weight_t = columns.data_ptr<T>();
  // Threads split the batch wherever at::parallel_for likes; a chunk is cut at order-group
  // boundaries, and every segment of a group replays the group's order stream, so the result
  // does not depend on the number of threads. With one network per row ([batch, N, N]) the rows
  // share no columns: each row runs on its own (one W in cache at a time, not a group's), still
  // in its group's orders.
  const bool one_network_per_row = args.weight.dim() == 3;
  at::parallel_for(0, batch, rows_per_task(n), [&](int64_t begin, int64_t end) {
    for (int64_t first = begin; first < end;) {
      const int64_t last =
          one_network_per_row ? first + 1 : std::min(end, (first / kOrderGroup + 1) * kOrderGroup);
      async_segment<T>(args, weight_t, first, last - first, seed);
      first = last;
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

// The order of every sweep for every row, as the asynchronous kernel draws them from the same
// generator state: [batch, sweeps, N] int64 (rows of one order group are equal).
at::Tensor binary_hopfield_async_orders_cpu(
    const at::Tensor& state, int64_t sweeps, std::optional<at::Generator> generator) {
  check_async_orders(state, sweeps);
  const int64_t batch = state.size(0), n = state.size(1);
  at::Tensor orders = at::empty({batch, sweeps, n}, state.options().dtype(at::kLong));
  const uint64_t seed = draw_seed(std::move(generator));
  int64_t* out = orders.data_ptr<int64_t>();
  for (int64_t group = 0; group * kOrderGroup < batch; ++group) {
    SweepOrder order(seed, group, n);
    for (int64_t sweep = 0; sweep < sweeps; ++sweep) {
      const int64_t* visit = order.next();
      for (int64_t b = group * kOrderGroup; b < std::min(batch, (group + 1) * kOrderGroup); ++b) {
        std::copy(visit, visit + n, out + (b * sweeps + sweep) * n);
      }
    }
  }
  return orders;
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
  m.impl("_binary_hopfield_async_orders", &binary_hopfield_async_orders_cpu);
}

} // namespace statmech::hopfield
