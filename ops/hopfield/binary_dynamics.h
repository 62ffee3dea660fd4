#pragma once

// Internals of the classical binary Hopfield operators (binary_hopfield_*), shared by the
// composite parts, the CPU and CUDA kernels and the meta kernels.
//
// Conventions (every binary op):
//   spins      s in {-1, +1}^N; an input state is read as +1 where it is > 0 and -1 elsewhere, so
//              {-1, +1}, {0, 1} and bool states all work;
//   weight     W, [N, N] shared by the batch, or [batch, N, N], one network per batch row;
//   threshold  theta, [N] or [batch, N] (absent: zero);
//   energy     E(s) = -1/2 s^T W s + theta^T s;
//   field      f_i = sum_{j != i} W_ij s_j - theta_i. The diagonal never enters the dynamics:
//              s_i^2 = 1 makes W_ii a constant of E, so a flip of s_i changes E by 2 s_i f_i for
//              symmetric W, whatever the diagonal.
//   update     s_i <- sign(f_i), and s_i is kept when f_i = 0 (no flip on a tie).

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

namespace statmech::hopfield {

inline constexpr char kStoreOp[] = "binary_hopfield_store";
inline constexpr char kEnergyOp[] = "binary_hopfield_energy";
inline constexpr char kRunOp[] = "binary_hopfield_run";
inline constexpr char kGlauberOp[] = "binary_hopfield_glauber";
inline constexpr char kTemperingOp[] = "binary_hopfield_parallel_tempering";
inline constexpr char kCouplingsOp[] = "spin_glass_couplings_";
inline constexpr char kAsyncOrdersOp[] = "_binary_hopfield_async_orders";

// ---- checks (SymInt-safe: the meta kernels run them too) -----------------------------------------

// state [batch, N] (any real or bool dtype); weight [N, N] or [batch, N, N] float32/float64 on the
// state's device; threshold [N] or [batch, N] in the weight's dtype.
void check_network(
    const char* op, const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold);
// patterns [P, N], P >= 1, any real or bool dtype; rule one of hebbian, storkey, pseudo_inverse.
void check_store(const at::Tensor& patterns, std::string_view rule);
void check_update(const char* op, std::string_view update);
void check_max_sweeps(const char* op, int64_t max_sweeps);
// Every temperature finite and >= 0; at least `min_count` of them.
void check_temperatures(const char* op, at::ArrayRef<double> temperatures, size_t min_count);
// weight [..., N, N] floating; distribution gaussian or pm.
void check_couplings(const at::Tensor& weight, std::string_view distribution);
// state [batch, N]; sweeps >= 0.
void check_async_orders(const at::Tensor& state, int64_t sweeps);

// ---- shared pieces ----------------------------------------------------------------------------

// +1 where x > 0, -1 elsewhere, in `dtype`.
at::Tensor to_spins(const at::Tensor& x, at::ScalarType dtype);

// h = W s for every row: [batch, N], in the dtype of `weight` (or `spins` if given as double).
at::Tensor local_fields(const at::Tensor& spins, const at::Tensor& weight);

// E(s) for spins already in {-1, +1} and the weight's dtype; threshold may be undefined.
at::Tensor energy_of_spins(const at::Tensor& spins, const at::Tensor& weight, const at::Tensor& threshold);

// Fields without the diagonal, f = W s - diag(W) s - theta, in float64: the initial state of the
// incremental (asynchronous) kernels, [batch, N] contiguous.
at::Tensor initial_fields_double(const at::Tensor& spins, const at::Tensor& weight, const at::Tensor& threshold);

// The asynchronous kernel: sweeps over the neurons in a random order, each visit setting s_i from
// the field f_i kept up to date incrementally (a flip of s_i adds 2 s_i W_ji to every f_j: O(N)
// per flip, O(1) per visit without a flip). Every row follows a uniformly random order each sweep;
// which rows share it differs by device:
//   CPU: the rows of an order group (kOrderGroup consecutive rows, cpu/row_random.h) share the
//     order of each sweep and run in lock-step, so that one read of a column of W serves the
//     whole group (_binary_hopfield_async_orders returns these orders); with one network per
//     row the rows of a group run one after the other, in the same orders;
//   CUDA: each row draws its own order (Fisher-Yates from a Philox stream keyed by the row).
//   temperatures empty: deterministic sign updates, at most max_sweeps sweeps, a row stopping at
//     its first sweep without a flip; sweeps[b] counts the sweeps that flipped something and
//     converged[b] says a sweep without a flip was seen (or the final state is fixed).
//   temperatures given: one heat-bath (Glauber) sweep per entry, P(s_i = +1) = sigmoid(2 f_i / T),
//     a deterministic sweep where T = 0; no early stop (max_sweeps, sweeps, converged unused).
// spins [batch, N] contiguous in {-1, +1} (updated in place), weight W ([N, N] or
// [batch, N, N], any strides; the kernel reads its columns), diag [N] or [batch, N] contiguous in
// W's dtype, fields as from initial_fields_double (updated in place).
struct AsyncArgs {
  at::Tensor spins;
  at::Tensor weight;
  at::Tensor diag;
  at::Tensor fields;
  std::vector<double> temperatures;
  int64_t max_sweeps = 0;
  at::Tensor sweeps;    // int64 [batch]
  at::Tensor converged; // bool [batch]
};
using AsyncKernelFn = void (*)(AsyncArgs& args, std::optional<at::Generator> generator);
void async_kernel_cpu(AsyncArgs& args, std::optional<at::Generator> generator);
#if defined(STATMECH_WITH_CUDA)
void async_kernel_cuda(AsyncArgs& args, std::optional<at::Generator> generator);
#endif

// Parallel tempering: spins [batch, R, N] with replica r at temperatures[r], one heat-bath sweep
// per replica and then replica-exchange attempts between neighbours (even pairs after even sweeps,
// odd pairs after odd sweeps), `sweeps` times. Outputs the final spins (in temperature order),
// their energies [batch, R], the lowest-energy configuration seen at a sweep boundary
// [batch, N] with its energy [batch], and the accepted fraction of swap attempts [batch, R - 1].
struct TemperingArgs {
  at::Tensor spins;     // [batch, R, N] contiguous
  at::Tensor weight;    // [N, N] or [batch, N, N]
  at::Tensor diag;      // [N] or [batch, N]
  at::Tensor threshold; // [N] or [batch, N] or undefined
  at::Tensor fields;    // [batch, R, N] float64
  std::vector<double> temperatures;
  int64_t sweeps = 0;
  at::Tensor energy;      // [batch, R] float64, in: initial energies, out: final
  at::Tensor best_spins;  // [batch, N]
  at::Tensor best_energy; // [batch] float64
  at::Tensor swap_rate;   // [batch, R - 1] float64
};
void tempering_kernel_cpu(TemperingArgs& args, std::optional<at::Generator> generator);

// The public ops' bodies, parameterised by the device kernel.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> run_forward(
    const at::Tensor& state, const at::Tensor& weight, const std::optional<at::Tensor>& threshold,
    std::string_view update, int64_t max_sweeps, std::optional<at::Generator> generator, AsyncKernelFn kernel);
std::tuple<at::Tensor, at::Tensor> glauber_forward(
    const at::Tensor& state, const at::Tensor& weight, at::ArrayRef<double> temperatures,
    const std::optional<at::Tensor>& threshold, std::optional<at::Generator> generator, AsyncKernelFn kernel);

} // namespace statmech::hopfield
