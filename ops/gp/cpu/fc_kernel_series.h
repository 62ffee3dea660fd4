#pragma once

// The forward of fc_kernel for the Hermite-series activations (tanh, sigmoid, gelu, silu,
// softplus) on the CPU: k(a, b, c) = sum_n b_n(a) b_n(b) c^n per layer and entry, evaluated for
// 16 (float64) or 32 (float32) columns at once.
//
// Layout (SeriesTables): per layer, the coefficients that do not vanish by symmetry
// (kernel_series.h's SeriesParity: only b_0 and the odd ones for tanh / sigmoid, only b_1 and the
// even ones for gelu / silu / softplus) in the kernel's floating type, column-tiled: tile t of
// kTile rows holds [stored][kTile] contiguously, so a tile of entries streams one contiguous
// block. The odd (even) part is a polynomial in u = c^2, so these activations cost half the terms:
//   odd:  k = b_0 b_0' + c P(u),   dk/dc = P(u) + 2 u P'(u),  P(u) = sum_m b_{2m+1} b'_{2m+1} u^m
//   even: k = b_1 b_1' c + E(u),   dk/dc = b_1 b_1' + 2 c E'(u)
// with P and P' (E and E') by one Horner pass; sqrt(a b) kd = dk/dc. Each entry keeps
// max(K_row, K_column-tile) terms (kernel_series.h's per-row truncation, the tile's largest).
//
// The row functions are compiled for x86-64-v3 and the baseline ISA (STATMECH_CPU_CLONES); the
// generic vector types lower to AVX2 registers or SSE2 pairs.

#include "ops/common/kernel_series.h"
#include "ops/common/vectorizable_math.h"
#include "ops/gp/fc_kernel_entry.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace statmech::gp::series_cpu {

using dual::SeriesParity;

constexpr int64_t kTile = 32; // columns per tile of the layout
constexpr double kTailTolerance = 8e-9; // see SeriesTables::split

// Stored coefficients of a layer (or a row) truncated at `terms`: b_1, b_3, ..., (odd) or b_0,
// b_2, ... (even), up to b_terms. Activations without a known symmetry (SeriesParity::None) are
// not handled here: they keep the per-entry path of fc_kernel_cpu.cpp.
inline int64_t stored_count(SeriesParity parity, int64_t terms) {
  return parity == SeriesParity::Odd ? (terms + 1) / 2 : terms / 2 + 1;
}

// Index n of stored coefficient s.
inline int64_t stored_order(SeriesParity parity, int64_t s) {
  return parity == SeriesParity::Odd ? 2 * s + 1 : 2 * s;
}

template <typename T>
struct SeriesTables {
  SeriesParity parity = SeriesParity::Odd; // Odd or Even
  int64_t depth = 0;
  int64_t first_rows = 0; // x1 rows; x2 rows start at slot padded_first
  int64_t padded_first = 0;
  int64_t slots = 0; // padded_first + padded x2 rows, a multiple of kTile
  std::vector<int64_t> stored; // [depth]
  // Float64 kernels keep the first split[l] stored coefficients in float64 and the rest, past the
  // rows' float32 truncation (Parseval tails <= kTailTolerance), in float32: rounding them
  // changes an entry by <= 2^-23 sqrt(T_1 T_2) <= 1e-15 sqrt(E_1 E_2) (and the same for
  // sqrt(a b) kd with the D tails), a quarter less memory for tanh. Float32 kernels: split = stored.
  std::vector<int64_t> split; // [depth]
  std::vector<std::vector<T>> coefficients; // [depth][slots / kTile][split[l]][kTile]
  std::vector<std::vector<float>> tails; // [depth][slots / kTile][stored[l] - split[l]][kTile]
  std::vector<std::vector<T>> heads; // [depth][slots]: b_0 (odd) or b_1 (even)
  std::vector<std::vector<int32_t>> counts; // [depth][slots]: each row's stored terms
  std::vector<std::vector<int32_t>> tile_counts; // [depth][slots / kTile]
  std::vector<T> q; // [depth][slots], padded with 1

  SeriesTables(SeriesParity p, int64_t depth_, int64_t n, int64_t m_rows)
      : parity(p), depth(depth_), first_rows(n) {
    TORCH_INTERNAL_ASSERT(p != SeriesParity::None, "SeriesTables: an activation without a known symmetry");
    padded_first = (n + kTile - 1) / kTile * kTile;
    slots = padded_first + (m_rows + kTile - 1) / kTile * kTile;
    stored.assign(depth, 0);
    split.assign(depth, 0);
    coefficients.resize(depth);
    tails.resize(depth);
    heads.resize(depth);
    counts.resize(depth);
    tile_counts.resize(depth);
  }

  int64_t slot(int64_t row) const {
    return row < first_rows ? row : padded_first + (row - first_rows);
  }

  void begin_layer(int64_t l, int64_t terms, int64_t coarse_terms) {
    stored[l] = stored_count(parity, terms);
    split[l] = sizeof(T) == sizeof(float) ? stored[l] : std::min(stored[l], stored_count(parity, coarse_terms));
    coefficients[l].assign(slots * split[l], T(0));
    tails[l].assign(slots * (stored[l] - split[l]), 0.0f);
    heads[l].assign(slots, T(0));
  }

  void set_row(int64_t l, int64_t row, const double* b) {
    const int64_t s = slot(row);
    const int64_t width = split[l], tail_width = stored[l] - split[l];
    T* tile = coefficients[l].data() + (s / kTile) * width * kTile + s % kTile;
    for (int64_t k = 0; k < width; ++k) {
      tile[k * kTile] = static_cast<T>(b[stored_order(parity, k)]);
    }
    float* tail = tails[l].data() + (s / kTile) * tail_width * kTile + s % kTile;
    for (int64_t k = 0; k < tail_width; ++k) {
      tail[k * kTile] = static_cast<float>(b[stored_order(parity, width + k)]);
    }
    heads[l][s] = static_cast<T>(b[parity == SeriesParity::Odd ? 0 : 1]);
  }

  // After row_tables: the variances and truncations from its tables.
  void finish(const std::vector<double>& table_q, const std::vector<int32_t>& terms, int64_t rows) {
    const int64_t stride = depth + 1;
    q.assign(std::max<int64_t>(depth, 1) * slots, T(1));
    for (int64_t l = 0; l < depth; ++l) {
      counts[l].assign(slots, 0);
      tile_counts[l].assign(slots / kTile, 0);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t s = slot(r);
        q[l * slots + s] = static_cast<T>(table_q[r * stride + l]);
        const auto count = static_cast<int32_t>(stored_count(parity, terms[r * depth + l]));
        counts[l][s] = count;
        tile_counts[l][s / kTile] = std::max(tile_counts[l][s / kTile], count);
      }
    }
  }
};

template <typename T>
struct Vec {
  typedef T V __attribute__((vector_size(32)));
  static constexpr int kWidth = 32 / sizeof(T);
};

// Columns of one pass: 16 in float64, 32 in float32 (four registers of each kind in flight, to
// hide the latency of the Horner recurrences).
template <typename T>
constexpr int kPassVectors = 4;

// One row against one tile of columns: all layers for the tile's kTile entries. `dots` are the
// tile's x.x', `out_*` receive kTile values. The row's coefficients are gathered into
// row_coefficients[l] (stored[l] values) and row_heads[l] by the caller.
template <typename T>
STATMECH_ALWAYS_INLINE void tile_entries(
    const EntryParams<T>& p, const SeriesTables<T>& t, const T* const* row_coefficients, const T* row_heads,
    const int32_t* row_counts, const T* row_q, int64_t tile, const T* dots, T* out_nngp, T* out_ntk) {
  using V = typename Vec<T>::V;
  constexpr int W = Vec<T>::kWidth;
  constexpr int NV = kPassVectors<T>;
  constexpr int kPass = W * NV;
  constexpr T kSnap = sizeof(T) == 4 ? T(4e-7) : T(1e-15);
  const V zero = V{} + T(0);
  const V one = zero + T(1);
  const SeriesParity parity = t.parity;
  const int64_t base = tile * kTile;
  for (int64_t pass = 0; pass < kTile / kPass; ++pass) {
    const int64_t lane0 = pass * kPass;
    V covariance[NV], tangent[NV];
    for (int v = 0; v < NV; ++v) {
      V dot;
      std::memcpy(&dot, dots + lane0 + v * W, sizeof(V));
      covariance[v] = p.sigma_w2 * p.inverse_features * dot + p.sigma_b2;
      tangent[v] = p.standard ? dot + one : covariance[v];
    }
    for (int64_t l = 0; l < p.depth; ++l) {
      const T a = row_q[l];
      V c[NV], r[NV], x[NV];
      for (int v = 0; v < NV; ++v) {
        V b;
        std::memcpy(&b, t.q.data() + l * t.slots + base + lane0 + v * W, sizeof(V));
        // sqrt(a b) without the product, which falls out of the normal range for variances below
        // ~1e-154 (1e-19 in float): c was 0 or off by 1e-6 there (tanh at |x|^2 / d = 1e-160).
        for (int lane = 0; lane < W; ++lane) {
          r[v][lane] = dual::entry::root_product(a, b[lane]);
        }
        V cv = covariance[v] / r[v];
        // Snap within rounding of +-1 to +-1 (correlation() of fc_kernel_entry.h), 0 where r = 0.
        for (int lane = 0; lane < W; ++lane) {
          T value = cv[lane];
          if (!(r[v][lane] > T(0))) {
            value = T(0);
          } else if (value >= T(1) - kSnap) {
            value = T(1);
          } else if (value <= T(-1) + kSnap) {
            value = T(-1);
          }
          cv[lane] = value;
        }
        c[v] = cv;
        x[v] = cv * cv;
      }
      const int64_t width = t.split[l], tail_width = t.stored[l] - width;
      const int64_t count = std::max<int64_t>(row_counts[l], t.tile_counts[l][tile]);
      const T* column = t.coefficients[l].data() + tile * width * kTile + lane0;
      const T* mine = row_coefficients[l];
      V value[NV], slope[NV];
      for (int v = 0; v < NV; ++v) {
        value[v] = zero;
        slope[v] = zero;
      }
      if constexpr (sizeof(T) == sizeof(double)) {
        // The float32 tail (split[l] <= s < count), widened lane by lane.
        typedef float F __attribute__((vector_size(16)));
        const float* column_tail = t.tails[l].data() + tile * tail_width * kTile + lane0 - width * kTile;
        for (int64_t s = count - 1; s >= width; --s) {
          const T own = mine[s];
          const float* line = column_tail + s * kTile;
#pragma GCC unroll 4
          for (int v = 0; v < NV; ++v) {
            F narrow;
            std::memcpy(&narrow, line + v * W, sizeof(F));
            const V theirs = __builtin_convertvector(narrow, V);
            slope[v] = slope[v] * x[v] + value[v];
            value[v] = value[v] * x[v] + own * theirs;
          }
        }
      }
      for (int64_t s = std::min(count, width) - 1; s >= 0; --s) {
        const T own = mine[s];
        const T* line = column + s * kTile;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          V theirs;
          std::memcpy(&theirs, line + v * W, sizeof(V));
          slope[v] = slope[v] * x[v] + value[v];
          value[v] = value[v] * x[v] + own * theirs;
        }
      }
      for (int v = 0; v < NV; ++v) {
        V heads; // b_0 b_0' (odd) or b_1 b_1' (even)
        std::memcpy(&heads, t.heads[l].data() + base + lane0 + v * W, sizeof(V));
        heads = row_heads[l] * heads;
        V k, derivative; // k and dk/dc = sqrt(a b) kd
        if (parity == SeriesParity::Odd) {
          k = heads + c[v] * value[v];
          derivative = value[v] + T(2) * x[v] * slope[v];
        } else {
          k = heads * c[v] + value[v];
          derivative = heads + T(2) * c[v] * slope[v];
        }
        V kd = derivative / r[v];
        for (int lane = 0; lane < W; ++lane) {
          if (!(r[v][lane] > T(0))) {
            kd[lane] = T(0);
          }
        }
        covariance[v] = p.sigma_w2 * k + p.sigma_b2;
        tangent[v] = (p.standard ? p.width * k + one : covariance[v]) + p.sigma_w2 * kd * tangent[v];
      }
    }
    for (int v = 0; v < NV; ++v) {
      std::memcpy(out_nngp + lane0 + v * W, &covariance[v], sizeof(V));
      std::memcpy(out_ntk + lane0 + v * W, &tangent[v], sizeof(V));
    }
  }
}

// Per-thread buffers of series_rows.
template <typename T>
struct RowScratch {
  std::vector<T> values;
  std::vector<const T*> coefficients;
  std::vector<int32_t> counts;
};

// Rows [row_begin, row_end) (x1 rows) against columns [first(i), m) with first(i) = i when
// `triangular` (x2 is None: the upper triangle) and 0 otherwise; column j is table row
// column_offset + j. Reads the dot products of row i from dots + i * m and writes rows of nngp /
// ntk (either may be null; nngp may alias dots: each tile is read before it is written). The rows
// go through the columns tile by tile together, so a tile's coefficients are loaded into the
// cache once for the group.
template <typename T>
STATMECH_CPU_CLONES void series_rows(
    const EntryParams<T>& p, const SeriesTables<T>& t, int64_t row_begin, int64_t row_end, int64_t column_offset,
    bool triangular, int64_t m, T* dots, T* nngp, T* ntk, RowScratch<T>& scratch) {
  const int64_t depth = p.depth;
  const int64_t group = row_end - row_begin;
  int64_t total = 0;
  for (int64_t l = 0; l < depth; ++l) {
    total += t.stored[l];
  }
  const int64_t per_row = total + 2 * depth;
  scratch.values.resize(group * per_row + 3 * kTile);
  scratch.coefficients.resize(group * depth);
  scratch.counts.resize(group * depth);
  T* dots_tile = scratch.values.data() + group * per_row;
  T* out_nngp = dots_tile + kTile;
  T* out_ntk = out_nngp + kTile;
  // Each row's own coefficients, heads, counts and variances, gathered from the tiles.
  for (int64_t g = 0; g < group; ++g) {
    const int64_t s = t.slot(row_begin + g);
    T* cursor = scratch.values.data() + g * per_row;
    T* heads = cursor + total;
    T* row_q = heads + depth;
    for (int64_t l = 0; l < depth; ++l) {
      const int64_t width = t.split[l], tail_width = t.stored[l] - width;
      const T* tile = t.coefficients[l].data() + (s / kTile) * width * kTile + s % kTile;
      for (int64_t k = 0; k < width; ++k) {
        cursor[k] = tile[k * kTile];
      }
      const float* tail = t.tails[l].data() + (s / kTile) * tail_width * kTile + s % kTile;
      for (int64_t k = 0; k < tail_width; ++k) {
        cursor[width + k] = static_cast<T>(tail[k * kTile]);
      }
      scratch.coefficients[g * depth + l] = cursor;
      cursor += width + tail_width;
      heads[l] = t.heads[l][s];
      row_q[l] = t.q[l * t.slots + s];
      scratch.counts[g * depth + l] = t.counts[l][s];
    }
  }
  // Column j sits at slot column_slot0 + j.
  const int64_t column_slot0 = t.slot(column_offset);
  const int64_t first_tile = (column_slot0 + (triangular ? row_begin : 0)) / kTile;
  const int64_t last_tile = (column_slot0 + m - 1) / kTile;
  for (int64_t tile = first_tile; tile <= last_tile; ++tile) {
    const int64_t j0 = tile * kTile - column_slot0; // column of the tile's lane 0
    for (int64_t g = 0; g < group; ++g) {
      const int64_t i = row_begin + g;
      const int64_t lo = std::max<int64_t>(triangular ? i : 0, j0), hi = std::min<int64_t>(m, j0 + kTile);
      if (lo >= hi) {
        continue;
      }
      const T* row_dots = dots + i * m;
      for (int64_t lane = 0; lane < kTile; ++lane) {
        const int64_t j = j0 + lane;
        dots_tile[lane] = j >= lo && j < hi ? row_dots[j] : T(0);
      }
      const T* heads = scratch.values.data() + g * per_row + total;
      tile_entries<T>(
          p, t, scratch.coefficients.data() + g * depth, heads, scratch.counts.data() + g * depth, heads + depth,
          tile, dots_tile, out_nngp, out_ntk);
      for (int64_t j = lo; j < hi; ++j) {
        if (nngp) {
          nngp[i * m + j] = out_nngp[j - j0];
        }
        if (ntk) {
          ntk[i * m + j] = out_ntk[j - j0];
        }
      }
    }
  }
}

} // namespace statmech::gp::series_cpu
