#pragma once

// The random stream of one batch row in the CPU kernels of ops/hopfield: xoshiro256**
// (Blackman & Vigna 2018), seeded by splitmix64 from (call seed, row). One 64-bit seed is drawn
// from the torch.Generator per call, so results depend on the generator's state and not on the
// number of threads. (Philox, used on CUDA, costs ten rounds per four outputs; a sweep of a
// network at its fixed point is mostly shuffling, so the cheaper generator matters here.)

#include <cstdint>

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

} // namespace statmech::hopfield
