#pragma once

// Classical binary Hopfield networks, dense associative memories and spin glasses: the C++ entry
// points of the operators torch.ops.statmech.binary_hopfield_*, dense_memory_* and
// spin_glass_couplings_. Each calls through the dispatcher.
//
// Spins are +-1; every state argument is read as +1 where > 0 and -1 elsewhere, so {-1, +1},
// {0, 1} and bool states all work. weight is [N, N] (one network for the whole batch) or
// [batch, N, N] (one per row), threshold [N] or [batch, N] (std::nullopt: zero). The energy is
//
//   E(s) = -1/2 s^T W s + theta^T s,
//
// and every update sets s_i <- sign(f_i) with the local field f_i = sum_{j != i} W_ij s_j - theta_i
// (the diagonal is a constant of E and never enters the dynamics); s_i is kept when f_i = 0.

#include <statmech/macros.h>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace statmech {

// Weight matrix [N, N] from patterns [P, N], zero diagonal:
//   "hebbian"         W = (1/N) sum_mu xi_mu xi_mu^T                        (Hopfield 1982)
//   "storkey"         the incremental rule of Storkey (1997)
//   "pseudo_inverse"  the projector onto span{xi_mu}, W = X^+ X             (Personnaz et al. 1985)
// The dtype is the patterns' if floating, else the default dtype.
STATMECH_API at::Tensor binary_hopfield_store(const at::Tensor& patterns, const std::string& rule = "hebbian");

// E(s) for each row, [batch]. Differentiable in weight and threshold.
STATMECH_API at::Tensor binary_hopfield_energy(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold = std::nullopt);

// (final spins [batch, N], energies [batch], sweeps that changed the state [batch] int64,
//  converged [batch] bool: the final state is a fixed point).
struct BinaryHopfieldRun {
  at::Tensor state;
  at::Tensor energy;
  at::Tensor sweeps;
  at::Tensor converged;
};

// Deterministic dynamics until a fixed point or `max_sweeps` sweeps, for every row at once.
// update = "async": neurons one at a time in a fresh random order per sweep (from `generator`;
// on CPU the rows of each group of 16 consecutive rows share it and run in lock-step, on CUDA
// every row has its own), local fields updated incrementally (O(N) per flip); never raises the
// energy of a symmetric W.
// update = "sync": all neurons at once (can end in a 2-cycle).
STATMECH_API BinaryHopfieldRun binary_hopfield_run(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold = std::nullopt,
    const std::string& update = "async", int64_t max_sweeps = 100,
    std::optional<at::Generator> generator = std::nullopt);

// Heat-bath (Glauber) dynamics: one asynchronous sweep per entry of `temperatures`, with
// P(s_i = +1) = 1 / (1 + exp(-2 f_i / T)) (T = 0: a deterministic sweep). A constant schedule
// samples exp(-E / T); a decreasing one is simulated annealing. Returns (spins, energies).
STATMECH_API std::tuple<at::Tensor, at::Tensor> binary_hopfield_glauber(
    const at::Tensor& state, const at::Tensor& weight, const std::vector<double>& temperatures,
    const std::optional<at::Tensor>& threshold = std::nullopt, std::optional<at::Generator> generator = std::nullopt);

struct ParallelTempering {
  at::Tensor state;       // [batch, replicas, N], replica r at temperatures[r]
  at::Tensor energy;      // [batch, replicas]
  at::Tensor best_state;  // [batch, N], the lowest energy seen at a sweep boundary
  at::Tensor best_energy; // [batch]
  at::Tensor swap_rate;   // [batch, replicas - 1], accepted fraction of exchanges per pair
};

// Replica-exchange Monte Carlo on state [batch, replicas, N] (symmetric W).
STATMECH_API ParallelTempering binary_hopfield_parallel_tempering(
    const at::Tensor& state, const at::Tensor& weight, const std::vector<double>& temperatures, int64_t sweeps,
    const std::optional<at::Tensor>& threshold = std::nullopt, std::optional<at::Generator> generator = std::nullopt);

// Fills weight [..., N, N] with Sherrington-Kirkpatrick couplings in place and returns it:
// symmetric, zero diagonal, J_ij ~ N(0, 1/N) ("gaussian") or +-1/sqrt(N) ("pm").
STATMECH_API at::Tensor spin_glass_couplings_(
    at::Tensor weight, const std::string& distribution = "gaussian",
    std::optional<at::Generator> generator = std::nullopt);

// Dense associative memory (Krotov & Hopfield 2016; Demircigil et al. 2017):
//   E(s) = -sum_mu F(xi_mu . s),  F(x) = x^degree ("polynomial"), max(x, 0)^degree
//   ("rectified_polynomial") or exp(beta x) ("exponential"); patterns [P, N].
STATMECH_API at::Tensor dense_memory_energy(
    const at::Tensor& state, const at::Tensor& patterns, const std::string& interaction = "polynomial",
    int64_t degree = 3, double beta = 1.0);

// Asynchronous updates from energy differences (overlaps kept incrementally: O(P) per visit).
STATMECH_API BinaryHopfieldRun dense_memory_run(
    const at::Tensor& state, const at::Tensor& patterns, const std::string& interaction = "polynomial",
    int64_t degree = 3, double beta = 1.0, int64_t max_sweeps = 100,
    std::optional<at::Generator> generator = std::nullopt);

} // namespace statmech
