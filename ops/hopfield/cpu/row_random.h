#pragma once

// The random stream of one batch row in the CPU kernels of ops/hopfield: xoshiro256**
// (Blackman & Vigna 2018), seeded by splitmix64 from (call seed, row). One 64-bit seed is drawn
// from the torch.Generator per call, so results depend on the generator's state and not on the
// number of threads. (Philox, used on CUDA, costs ten rounds per four outputs; a sweep of a
// network at its fixed point is mostly shuffling, so the cheaper generator matters here.)

#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace statmech::hopfield {

class RowRandom {
 public:
  RowRandom(uint64_t seed, uint64_t row) {
    uint64_t x = seed ^ (0x9E3779B97F4A7C15ULL * (row + 1));
    for (uint64_t& word : state_) {
      word = splitmix64(x);
    }
  }

  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in (0, 1), 53 bits.
  double uniform() {
    return (static_cast<double>(next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  }

  // Uniform integer in [0, bound) (Lemire's multiply-shift on the high 32 bits; bound < 2^32).
  int64_t below(int64_t bound) {
    return static_cast<int64_t>(((next() >> 32) * static_cast<uint64_t>(bound)) >> 32);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
  }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
};

// The asynchronous CPU kernel runs the rows of the batch in order groups of kOrderGroup
// consecutive rows (b / kOrderGroup): the rows of a group visit the neurons in the same random
// order in each sweep, in lock-step, so a column of W read for one visit serves every row of the
// group that flips there (W is read once per group, not once per row; see binary_dynamics_cpu.cpp).
// Each row on its own still follows a uniformly random order each sweep, independent across
// sweeps and across groups.
inline constexpr int64_t kOrderGroup = 16;

// The sweep orders of one order group: a Fisher-Yates shuffle per sweep, each one shuffling the
// previous sweep's permutation, from the group's own stream (not any row's).
class SweepOrder {
 public:
  SweepOrder(uint64_t seed, int64_t group, int64_t n)
      : rng_(seed ^ 0xD6E8FEB86659FD93ULL, ~static_cast<uint64_t>(group)), order_(n) {
    std::iota(order_.begin(), order_.end(), int64_t{0});
  }

  // The next sweep's order, order[0, n).
  const int64_t* next() {
    for (int64_t k = static_cast<int64_t>(order_.size()) - 1; k > 0; --k) {
      std::swap(order_[k], order_[rng_.below(k + 1)]);
    }
    return order_.data();
  }

 private:
  RowRandom rng_;
  std::vector<int64_t> order_;
};

} // namespace statmech::hopfield
