// CPU kernel of rbm_train_sgd: the step loop of ops/rbm/train_sgd.h with fused passes. Each
// elementwise pass is one sweep over a [rows, units] block that adds the bias-free sigmoid, the
// Bernoulli draw and the metric term together (the ATen composition makes three to five sweeps
// and as many dispatcher calls); the GEMMs go to at::cpu::addmm (no dispatcher round trip);
// all buffers are allocated once per call.
//
// Random numbers: one 64-bit seed is drawn from the torch.Generator per call; every pass then
// gives each row its own xoshiro256** stream seeded from (seed, pass counter, row), so a run is
// reproducible from the generator and does not depend on the number of threads. Gaussian visible
// units draw their noise from the same streams (Marsaglia's polar method), in the pass that also
// writes v / s for the hidden GEMM.

#include "ops/rbm/train_sgd.h"

#include "ops/common/vectorizable_math.h"
#include "ops/hopfield/cpu/row_random.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/addmm_cpu_dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>
#include <vector>

namespace statmech::rbm {

namespace {

using hopfield::RowRandom;

// Elements in blocks of kLanes independent lanes (one partial sum each), which the compiler maps
// onto SIMD registers (as the rbm_free_energy row pass).
constexpr int64_t kLanes = 16;

// sigmoid(x) and softplus(x) from one exp(-|x|), without overflow or cancellation.
template <typename T>
STATMECH_ALWAYS_INLINE T sigmoid_softplus(T x, T& softplus) {
  const T e = math::exp_nonpositive(x < 0 ? x : -x);
  softplus = (x > 0 ? x : T(0)) + math::log1p_unit_interval(e);
  return (x >= 0 ? T(1) : e) / (T(1) + e);
}

template <typename T>
STATMECH_ALWAYS_INLINE T sigmoid(T x) {
  const T e = math::exp_nonpositive(x < 0 ? x : -x);
  return (x >= 0 ? T(1) : e) / (T(1) + e);
}

// row <- sigmoid(row); returns sum_j softplus(row_in[j]) (kSoftplus) or, with a target,
// sum_j (sigmoid(row_in[j]) - target[j])^2 (kSquaredError), else 0.
enum class RowTerm { kNone, kSoftplus, kSquaredError };

template <typename T, RowTerm kTerm>
STATMECH_ALWAYS_INLINE T sigmoid_row(T* __restrict row, const T* __restrict target, int64_t units) {
  T partial[kLanes] = {};
  const auto one = [&](int64_t j, T& sum) {
    if constexpr (kTerm == RowTerm::kSoftplus) {
      T softplus;
      row[j] = sigmoid_softplus(row[j], softplus);
      sum += softplus;
    } else if constexpr (kTerm == RowTerm::kSquaredError) {
      const T p = sigmoid(row[j]);
      const T d = p - target[j];
      row[j] = p;
      sum += d * d;
    } else {
      row[j] = sigmoid(row[j]);
    }
  };
  int64_t j = 0;
  for (; j + kLanes <= units; j += kLanes) {
    for (int64_t lane = 0; lane < kLanes; ++lane) {
      one(j + lane, partial[lane]);
    }
  }
  for (; j < units; ++j) {
    one(j, partial[0]);
  }
  T sum = 0;
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    sum += partial[lane];
  }
  return sum;
}

template <typename T, RowTerm kTerm>
STATMECH_CPU_CLONES void sigmoid_rows(
    T* x, const T* target, double* sums, int64_t begin, int64_t end, int64_t units) {
  for (int64_t r = begin; r < end; ++r) {
    sums[r] = static_cast<double>(
        sigmoid_row<T, kTerm>(x + r * units, target != nullptr ? target + r * units : nullptr, units));
  }
}

// out[j] = 1 with probability p[j]: u < p for u uniform on [0, 1) (24 bits for float, two per
// 64-bit draw; 53 bits for double).
template <typename T>
void bernoulli_row(const T* __restrict p, T* __restrict out, int64_t units, RowRandom& rng) {
  if constexpr (std::is_same_v<T, float>) {
    constexpr float kScale = 1.0f / 16777216.0f;
    int64_t j = 0;
    for (; j + 2 <= units; j += 2) {
      const uint64_t bits = rng.next();
      out[j] = static_cast<float>(bits >> 40) * kScale < p[j] ? 1.0f : 0.0f;
      out[j + 1] = static_cast<float>((bits >> 8) & 0xFFFFFFu) * kScale < p[j + 1] ? 1.0f : 0.0f;
    }
    if (j < units) {
      out[j] = static_cast<float>(rng.next() >> 40) * kScale < p[j] ? 1.0f : 0.0f;
    }
  } else {
    for (int64_t j = 0; j < units; ++j) {
      out[j] = static_cast<double>(rng.next() >> 11) * (1.0 / 9007199254740992.0) < p[j] ? 1.0 : 0.0;
    }
  }
}

// out[j] ~ N(0, 1), from the row's stream: Marsaglia's polar method, two values per accepted pair
// (uniform() is never 0 or 1, so q > 0).
template <typename T>
void normal_row(T* __restrict out, int64_t units, RowRandom& rng) {
  int64_t j = 0;
  while (j < units) {
    double u, v, q;
    do {
      u = 2.0 * rng.uniform() - 1.0;
      v = 2.0 * rng.uniform() - 1.0;
      q = u * u + v * v;
    } while (q >= 1.0);
    const double f = std::sqrt(-2.0 * std::log(q) / q);
    out[j++] = static_cast<T>(u * f);
    if (j < units) {
      out[j++] = static_cast<T>(v * f);
    }
  }
}

// sum_j x[j] y[j] in kLanes partial sums (vectorised).
template <typename T>
STATMECH_ALWAYS_INLINE T dot_row(const T* __restrict x, const T* __restrict y, int64_t units) {
  T partial[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= units; j += kLanes) {
    for (int64_t lane = 0; lane < kLanes; ++lane) {
      partial[lane] += x[j + lane] * y[j + lane];
    }
  }
  for (; j < units; ++j) {
    partial[0] += x[j] * y[j];
  }
  T sum = 0;
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    sum += partial[lane];
  }
  return sum;
}

// out <- out + sum_k w[index[k], :] over `count` rows of w (row gathers of the sparse products).
template <typename T>
STATMECH_CPU_CLONES void add_rows(
    T* __restrict out, const T* __restrict w, const int32_t* index, int64_t count, int64_t width) {
  for (int64_t k = 0; k < count; ++k) {
    const T* __restrict wi = w + static_cast<int64_t>(index[k]) * width;
    for (int64_t j = 0; j < width; ++j) {
      out[j] += wi[j];
    }
  }
}

// t[index[k], begin:end] += a * p[begin:end] for each k.
template <typename T>
STATMECH_CPU_CLONES void scatter_rows(
    T* t, const T* __restrict p, T a, const int32_t* index, int64_t count, int64_t width, int64_t begin,
    int64_t end) {
  for (int64_t k = 0; k < count; ++k) {
    T* __restrict ti = t + static_cast<int64_t>(index[k]) * width;
    for (int64_t j = begin; j < end; ++j) {
      ti[j] += a * p[j];
    }
  }
}

// Data sparser than this (fraction of ones) take the sparse products below.
constexpr double kSparseDensity = 0.25;

template <typename T>
struct CpuPasses {
  uint64_t seed = 0;
  bool mean_field = false;
  bool sparse_data = false;
  uint64_t pass = 0;
  double accumulator[2] = {0, 0};
  std::vector<double> row_sums;

  // One double per row for a pass's row terms, grown as needed and kept between passes.
  double* row_sum_buffer(int64_t rows) {
    if (static_cast<int64_t>(row_sums.size()) < rows) {
      row_sums.resize(rows);
    }
    return row_sums.data();
  }
  std::vector<T> visible_delta, hidden_delta, log_variance_delta;
  // The active (= 1) visible units of the current minibatch's data rows, row by row.
  std::vector<int32_t> active;
  std::vector<int64_t> row_begin;

  // c + v+ W. Binary sparse data: the sum of the rows of W of the active units (density x the
  // GEMM's multiply-adds); otherwise the GEMM.
  void data_input(at::Tensor& out, const at::Tensor& bias, const at::Tensor& visible, const at::Tensor& weight) {
    if (!sparse_data) {
      addmm(out, bias, visible, weight, 1.0, 1.0);
      return;
    }
    const int64_t rows = visible.size(0), units = visible.size(1), hidden = weight.size(1);
    const T* v = visible.const_data_ptr<T>();
    active.clear();
    row_begin.assign(1, 0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < units; ++i) {
        if (v[r * units + i] != T(0)) {
          active.push_back(static_cast<int32_t>(i));
        }
      }
      row_begin.push_back(static_cast<int64_t>(active.size()));
    }
    const T* w = weight.const_data_ptr<T>();
    const T* c = bias.const_data_ptr<T>();
    T* o = out.data_ptr<T>();
    at::parallel_for(0, rows, grain(hidden * 8), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        T* row = o + r * hidden;
        std::memcpy(row, c, sizeof(T) * hidden);
        add_rows<T>(row, w, active.data() + row_begin[r], row_begin[r + 1] - row_begin[r], hidden);
      }
    });
  }

  // target <- beta target + alpha [v-; v+]^T [-p- / M; p+ / b]. Sparse data: the GEMM over the
  // chains' rows, then the data rows' p+ / b added to the rows of the active units.
  void weight_gradient(
      at::Tensor& target, const at::Tensor& visible_block, const at::Tensor& hidden_block, int64_t chains,
      double beta, double alpha) {
    if (!sparse_data) {
      addmm(target, target, visible_block.t(), hidden_block, beta, alpha);
      return;
    }
    addmm(target, target, visible_block.narrow(0, 0, chains).t(), hidden_block.narrow(0, 0, chains), beta, alpha);
    const int64_t rows = hidden_block.size(0) - chains, hidden = hidden_block.size(1);
    const T* p = hidden_block.const_data_ptr<T>() + chains * hidden;
    T* t = target.data_ptr<T>();
    const T a = static_cast<T>(alpha);
    // Threads split the hidden columns, so no two write the same element.
    at::parallel_for(0, hidden, 64, [&](int64_t begin, int64_t end) {
      for (int64_t r = 0; r < rows; ++r) {
        scatter_rows<T>(
            t, p + r * hidden, a, active.data() + row_begin[r], row_begin[r + 1] - row_begin[r], hidden, begin, end);
      }
    });
  }

  uint64_t next_stream() {
    // splitmix64 of (seed, pass): a fresh, decorrelated seed for every pass.
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (++pass);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  static int64_t grain(int64_t units) {
    return std::max<int64_t>(1, 16384 / std::max<int64_t>(units, 1));
  }

  at::Tensor order(int64_t n, bool shuffle) {
    at::Tensor order = at::empty({n}, at::TensorOptions().dtype(at::kLong));
    int64_t* o = order.data_ptr<int64_t>();
    std::iota(o, o + n, int64_t{0});
    if (shuffle) {
      RowRandom rng(next_stream(), 0);
      for (int64_t k = n - 1; k > 0; --k) {
        std::swap(o[k], o[rng.below(k + 1)]);
      }
    }
    return order;
  }

  void gather(at::Tensor& out, const at::Tensor& data, const at::Tensor& order, int64_t start) {
    const int64_t rows = out.size(0), width = out.size(1);
    const T* src = data.const_data_ptr<T>();
    T* dst = out.data_ptr<T>();
    const int64_t* o = order.const_data_ptr<int64_t>() + start;
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(dst + r * width, src + o[r] * width, sizeof(T) * width);
    }
  }

  void addmm(at::Tensor& out, const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta, double alpha) {
    if (out.is_same(self)) {
      at::cpu::addmm_(out, a, b, beta, alpha);
    } else {
      at::cpu::addmm_out(out, self, a, b, beta, alpha);
    }
  }

  // One pass over the rows of x (contiguous): x <- sigmoid(x), the row terms of kTerm, and
  // sample <- Bernoulli(x) (or x itself, mean field). Returns the sum of the row terms.
  template <RowTerm kTerm>
  double sweep(at::Tensor& x, const at::Tensor& sample_out, const at::Tensor& target) {
    const int64_t rows = x.size(0), units = x.size(1);
    T* xp = x.data_ptr<T>();
    T* sp = sample_out.defined() ? sample_out.data_ptr<T>() : nullptr;
    const T* tp = target.defined() ? target.const_data_ptr<T>() : nullptr;
    const uint64_t stream = sp != nullptr && !mean_field ? next_stream() : 0;
    const bool mf = mean_field;
    double* sums = row_sum_buffer(rows);
    at::parallel_for(0, rows, grain(units), [&](int64_t begin, int64_t end) {
      sigmoid_rows<T, kTerm>(xp, tp, sums, begin, end, units);
      if (sp != nullptr) {
        for (int64_t r = begin; r < end; ++r) {
          if (mf) {
            std::memcpy(sp + r * units, xp + r * units, sizeof(T) * units);
          } else {
            RowRandom rng(stream, static_cast<uint64_t>(r));
            bernoulli_row<T>(xp + r * units, sp + r * units, units, rng);
          }
        }
      }
    });
    double total = 0;
    if constexpr (kTerm != RowTerm::kNone) {
      for (int64_t r = 0; r < rows; ++r) {
        total += sums[r];
      }
    }
    return total;
  }

  void hidden(at::Tensor& x, const at::Tensor& sample_out, int slot, double weight) {
    if (slot >= 0) {
      accumulator[slot] += weight * sweep<RowTerm::kSoftplus>(x, sample_out, at::Tensor());
    } else {
      sweep<RowTerm::kNone>(x, sample_out, at::Tensor());
    }
  }

  void visible(at::Tensor& x, const at::Tensor& sample_out, const at::Tensor& target, int slot, double weight) {
    if (slot >= 0) {
      accumulator[slot] += weight * sweep<RowTerm::kSquaredError>(x, sample_out, target);
    } else {
      sweep<RowTerm::kNone>(x, sample_out, at::Tensor());
    }
  }

  // accumulator[slot] += weight * T(v): a.v (Bernoulli) or -sum_i (v_i - a_i)^2 / (2 s_i)
  // (Gaussian, inverse_variance 1 / s given).
  void visible_energy(
      const at::Tensor& v, const at::Tensor& bias, const at::Tensor& inverse_variance, int slot, double weight) {
    const int64_t rows = v.size(0), units = v.size(1);
    const T* vp = v.const_data_ptr<T>();
    const T* a = bias.const_data_ptr<T>();
    const T* inv = inverse_variance.defined() ? inverse_variance.const_data_ptr<T>() : nullptr;
    double total = 0;
    for (int64_t r = 0; r < rows; ++r) {
      T partial = 0;
      if (inv != nullptr) {
        for (int64_t i = 0; i < units; ++i) {
          const T d = vp[r * units + i] - a[i];
          partial += d * d * inv[i];
        }
      } else {
        for (int64_t i = 0; i < units; ++i) {
          partial += vp[r * units + i] * a[i];
        }
      }
      total += partial;
    }
    accumulator[slot] += (inv != nullptr ? -0.5 * weight : weight) * total;
  }

  // The Gaussian visible half-step from the mean x = a + h W^T (not changed), in one pass:
  // accumulator[slot] += weight * sum (x - target)^2; sample ~ N(x, s) (x, mean field) and
  // scaled = sample / s.
  void gaussian_visible(
      at::Tensor& x, const at::Tensor& sample_out, const at::Tensor& scaled_out, const at::Tensor& target, int slot,
      double weight, const at::Tensor& standard_deviation, const at::Tensor& inverse_variance) {
    const int64_t rows = x.size(0), units = x.size(1);
    const T* xp = x.const_data_ptr<T>();
    T* sp = sample_out.defined() ? sample_out.data_ptr<T>() : nullptr;
    T* qp = scaled_out.defined() ? scaled_out.data_ptr<T>() : nullptr;
    const T* tp = slot >= 0 ? target.const_data_ptr<T>() : nullptr;
    const T* sd = standard_deviation.const_data_ptr<T>();
    const T* inv = inverse_variance.const_data_ptr<T>();
    const uint64_t stream = sp != nullptr && !mean_field ? next_stream() : 0;
    const bool mf = mean_field;
    double* sums = row_sum_buffer(rows);
    at::parallel_for(0, rows, grain(units), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* __restrict xr = xp + r * units;
        if (tp != nullptr) {
          const T* __restrict tr = tp + r * units;
          T sum = 0;
          for (int64_t j = 0; j < units; ++j) {
            const T d = xr[j] - tr[j];
            sum += d * d;
          }
          sums[r] = static_cast<double>(sum);
        }
        if (sp != nullptr) {
          T* __restrict vr = sp + r * units;
          T* __restrict qr = qp + r * units;
          if (mf) {
            std::memcpy(vr, xr, sizeof(T) * units);
          } else {
            RowRandom rng(stream, static_cast<uint64_t>(r));
            normal_row<T>(vr, units, rng);
            for (int64_t j = 0; j < units; ++j) {
              vr[j] = xr[j] + sd[j] * vr[j];
            }
          }
          for (int64_t j = 0; j < units; ++j) {
            qr[j] = vr[j] * inv[j];
          }
        }
      }
    });
    if (tp != nullptr) {
      double total = 0;
      for (int64_t r = 0; r < rows; ++r) {
        total += sums[r];
      }
      accumulator[slot] += weight * total;
    }
  }

  // out <- rows * scale (scale [units] broadcast over the rows).
  void scale_columns(at::Tensor& out, const at::Tensor& rows, const at::Tensor& scale) {
    const int64_t count = rows.size(0), units = rows.size(1);
    const T* src = rows.const_data_ptr<T>();
    const T* f = scale.const_data_ptr<T>();
    T* dst = out.data_ptr<T>();
    for (int64_t r = 0; r < count; ++r) {
      for (int64_t j = 0; j < units; ++j) {
        dst[r * units + j] = src[r * units + j] * f[j];
      }
    }
  }

  // 1 / s = exp(-z) and sqrt(s) = exp(z / 2).
  void variance_scales(const at::Tensor& log_variance, at::Tensor& inverse_variance, at::Tensor& standard_deviation) {
    const int64_t units = log_variance.numel();
    const T* z = log_variance.const_data_ptr<T>();
    T* inv = inverse_variance.data_ptr<T>();
    T* sd = standard_deviation.data_ptr<T>();
    for (int64_t i = 0; i < units; ++i) {
      inv[i] = std::exp(-z[i]);
      sd[i] = std::exp(T(0.5) * z[i]);
    }
  }

  void scale_rows(at::Tensor& t, double factor) {
    T* p = t.data_ptr<T>();
    const T f = static_cast<T>(factor);
    const int64_t count = t.numel();
    for (int64_t k = 0; k < count; ++k) {
      p[k] *= f;
    }
  }

  static void step(T* param, T* velocity, const T* d, int64_t count, double lr, double momentum, double decay) {
    if (momentum == 0.0) {
      const T keep = static_cast<T>(1.0 - lr * decay), rate = static_cast<T>(lr);
      for (int64_t k = 0; k < count; ++k) {
        param[k] = keep * param[k] + rate * d[k];
      }
    } else {
      const T m = static_cast<T>(momentum), wd = static_cast<T>(decay), rate = static_cast<T>(lr);
      for (int64_t k = 0; k < count; ++k) {
        velocity[k] = m * velocity[k] - d[k] + wd * param[k];
        param[k] -= rate * velocity[k];
      }
    }
  }

  void update_biases(
      at::Tensor& visible_bias, at::Tensor& visible_velocity, at::Tensor& hidden_bias, at::Tensor& hidden_velocity,
      const at::Tensor& positive_visible, const at::Tensor& negative_visible, const at::Tensor& hidden_block, double lr,
      double momentum, double decay) {
    const int64_t visible = positive_visible.size(1), hidden = hidden_block.size(1);
    visible_delta.assign(visible, T(0));
    hidden_delta.assign(hidden, T(0));
    // Column sums: mean v+ - mean v-, and the rows of [-p- / M; p+ / b] summed.
    const auto add_rows = [](std::vector<T>& delta, const at::Tensor& rows, T scale) {
      const int64_t n = rows.size(0), width = rows.size(1);
      const T* p = rows.const_data_ptr<T>();
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t i = 0; i < width; ++i) {
          delta[i] += scale * p[r * width + i];
        }
      }
    };
    add_rows(visible_delta, positive_visible, T(1) / static_cast<T>(positive_visible.size(0)));
    add_rows(visible_delta, negative_visible, T(-1) / static_cast<T>(negative_visible.size(0)));
    add_rows(hidden_delta, hidden_block, T(1));
    step(visible_bias.data_ptr<T>(), visible_velocity.data_ptr<T>(), visible_delta.data(), visible, lr, momentum, decay);
    step(hidden_bias.data_ptr<T>(), hidden_velocity.data_ptr<T>(), hidden_delta.data(), hidden, lr, momentum, decay);
  }

  // The Gaussian update (train_sgd.h): da, dz's quadratic term and dc from the rows, then one pass
  // over the rows of W that finishes dz_i -= sum_j W_ij dW_ij with the old row and steps it.
  void update_gaussian(
      at::Tensor& weight, at::Tensor& weight_velocity, const at::Tensor& weight_delta, at::Tensor& visible_bias,
      at::Tensor& visible_velocity, at::Tensor& hidden_bias, at::Tensor& hidden_velocity, at::Tensor& log_variance,
      at::Tensor& log_variance_velocity, const at::Tensor& positive_visible, const at::Tensor& negative_visible,
      const at::Tensor& hidden_block, const at::Tensor& inverse_variance, double lr, double momentum, double decay) {
    const int64_t visible = weight.size(0), hidden = weight.size(1);
    visible_delta.assign(visible, T(0));
    log_variance_delta.assign(visible, T(0));
    hidden_delta.assign(hidden, T(0));
    const T* a = visible_bias.const_data_ptr<T>();
    const T* inv = inverse_variance.const_data_ptr<T>();
    // sum over rows of scale (v - a) and scale (v - a)^2.
    const auto add_centred = [&](const at::Tensor& rows, T scale) {
      const int64_t n = rows.size(0);
      const T* p = rows.const_data_ptr<T>();
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t i = 0; i < visible; ++i) {
          const T d = p[r * visible + i] - a[i];
          visible_delta[i] += scale * d;
          log_variance_delta[i] += scale * d * d;
        }
      }
    };
    add_centred(positive_visible, T(1) / static_cast<T>(positive_visible.size(0)));
    add_centred(negative_visible, T(-1) / static_cast<T>(negative_visible.size(0)));
    for (int64_t i = 0; i < visible; ++i) {
      visible_delta[i] *= inv[i];
      log_variance_delta[i] *= T(0.5) * inv[i];
    }
    const T* p = hidden_block.const_data_ptr<T>();
    for (int64_t r = 0; r < hidden_block.size(0); ++r) {
      for (int64_t j = 0; j < hidden; ++j) {
        hidden_delta[j] += p[r * hidden + j];
      }
    }
    T* w = weight.data_ptr<T>();
    T* u = weight_velocity.data_ptr<T>();
    const T* d = weight_delta.const_data_ptr<T>();
    T* dz = log_variance_delta.data();
    at::parallel_for(0, visible, grain(hidden), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        dz[i] -= dot_row<T>(w + i * hidden, d + i * hidden, hidden);
        step(w + i * hidden, u + i * hidden, d + i * hidden, hidden, lr, momentum, decay);
      }
    });
    step(visible_bias.data_ptr<T>(), visible_velocity.data_ptr<T>(), visible_delta.data(), visible, lr, momentum, decay);
    step(hidden_bias.data_ptr<T>(), hidden_velocity.data_ptr<T>(), hidden_delta.data(), hidden, lr, momentum, decay);
    step(log_variance.data_ptr<T>(), log_variance_velocity.data_ptr<T>(), dz, visible, lr, momentum, decay);
  }

  void axpy(at::Tensor& y, const at::Tensor& x, double alpha) {
    T* yp = y.data_ptr<T>();
    const T* xp = x.const_data_ptr<T>();
    const T a = static_cast<T>(alpha);
    const int64_t count = y.numel();
    for (int64_t k = 0; k < count; ++k) {
      yp[k] += a * xp[k];
    }
  }

  void flush(at::Tensor& metrics, int64_t epoch) {
    double* m = metrics.data_ptr<double>() + 2 * epoch;
    m[0] = accumulator[0];
    m[1] = accumulator[1];
    accumulator[0] = accumulator[1] = 0;
  }
};

uint64_t draw_seed(const std::optional<at::Generator>& generator) {
  auto* gen = at::get_generator_or_default<at::CPUGeneratorImpl>(generator, at::detail::getDefaultCPUGenerator());
  std::lock_guard<std::mutex> lock(gen->mutex_);
  return gen->random64();
}

bool binary(const at::Tensor& data) {
  bool ok = true;
  AT_DISPATCH_FLOATING_TYPES(data.scalar_type(), "rbm_train_sgd_cpu", [&] {
    const scalar_t* p = data.const_data_ptr<scalar_t>();
    const int64_t count = data.numel();
    for (int64_t k = 0; k < count && ok; ++k) {
      ok = p[k] == scalar_t(0) || p[k] == scalar_t(1);
    }
  });
  return ok;
}

std::tuple<at::Tensor, at::Tensor> train_sgd_cpu(
    const at::Tensor& data, at::Tensor& weight, at::Tensor& visible_bias, at::Tensor& hidden_bias,
    at::Tensor& weight_velocity, at::Tensor& visible_bias_velocity, at::Tensor& hidden_bias_velocity,
    const std::optional<at::Tensor>& chain_start, int64_t steps, int64_t batch_size, double lr, double momentum,
    double weight_decay, bool persistent, int64_t epochs, bool shuffle, bool mean_field, bool track_reconstruction,
    std::optional<at::Generator> generator, const std::optional<at::Tensor>& visible_log_variance,
    const std::optional<at::Tensor>& visible_log_variance_velocity) {
  const SgdSettings s{steps, batch_size, lr, momentum, weight_decay, persistent, epochs, shuffle, mean_field, track_reconstruction};
  const VisibleVariance variance = visible_variance(visible_log_variance, visible_log_variance_velocity);
  // The fused passes write the parameters through raw pointers: contiguous ones only (any
  // other layout takes the ATen passes, same algorithm).
  const auto contiguous_or_none = [](const at::Tensor& t) { return !t.defined() || t.is_contiguous(); };
  const bool contiguous = weight.is_contiguous() && visible_bias.is_contiguous() && hidden_bias.is_contiguous() &&
      weight_velocity.is_contiguous() && visible_bias_velocity.is_contiguous() && hidden_bias_velocity.is_contiguous() &&
      contiguous_or_none(variance.log_variance) && contiguous_or_none(variance.velocity);
  if (!contiguous) {
    return train_sgd_aten(
        data, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity,
        chain_start, s, variance, std::move(generator));
  }
  check_train_sgd_inputs(
      data, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity, chain_start, s,
      variance);
  check_train_sgd_no_overlap(
      weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity, variance);
  const at::Tensor rows = data.contiguous();
  TORCH_CHECK(
      variance.gaussian() || binary(rows), "rbm_train_sgd: data must be binary (every entry 0 or 1) for a Bernoulli visible layer; got other "
      "values (binarise it, e.g. data > 0.5, or use GaussianBernoulliRBM)");
  TORCH_CHECK(
      rows.size(0) < (int64_t{1} << 32), "rbm_train_sgd: at most 2^32 - 1 data rows, got ", rows.size(0));
  std::tuple<at::Tensor, at::Tensor> result;
  AT_DISPATCH_FLOATING_TYPES(weight.scalar_type(), "rbm_train_sgd_cpu", [&] {
    CpuPasses<scalar_t> passes;
    passes.seed = draw_seed(generator);
    passes.mean_field = mean_field;
    // Sparse products need binary rows: Bernoulli visible units only.
    passes.sparse_data = !variance.gaussian() &&
        rows.count_nonzero().item<int64_t>() < kSparseDensity * static_cast<double>(rows.numel());
    result = train_sgd_loop(
        passes, rows, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity,
        chain_start, s, variance);
  });
  return result;
}

} // namespace

TORCH_LIBRARY_IMPL(statmech, CPU, m) {
  m.impl("rbm_train_sgd", &train_sgd_cpu);
}

} // namespace statmech::rbm
