#pragma once

// Internals of fc_kernel shared by its CPU, CUDA and meta kernels.
//
// The network is [Dense, phi] x depth + Dense, weights N(0, sigma_w2 / fan_in), biases
// N(0, sigma_b2). For a pair of inputs (x, x') with d features, the kernels follow
//   S^0 = sigma_w2 x.x' / d + sigma_b2                          (NNGP of the first Dense)
//   S^{l+1} = sigma_w2 k(q^l, q'^l, c^l) + sigma_b2,  c^l = S^l / sqrt(q^l q'^l)
//   ntk:      Theta^0 = S^0,      Theta^{l+1} = S^{l+1} + sigma_w2 kd^l Theta^l
//   standard: Theta^0 = x.x' + 1, Theta^{l+1} = width k^l + 1 + sigma_w2 kd^l Theta^l
// where q^l is the row's own S^l (the "row variance"), k and kd the dual activation.
//
// Fused evaluation: a first pass computes q^l for every row (O(rows * depth), plus Hermite
// coefficients per row and layer for the series activations); then every entry runs all layers
// from its dot product x.x' (one GEMM, written into the output buffer and overwritten in place).
// Memory: the returned kernels plus O(rows * depth) (and O(rows * depth * terms) coefficients).

#include <statmech/activation.h>

#include <ATen/core/Tensor.h>

#include <array>
#include <functional>
#include <optional>
#include <tuple>
#include <string>
#include <vector>

namespace statmech::gp {

inline constexpr const char* kFcKernelOp = "fc_kernel";

struct FcKernelConfig {
  int64_t depth = 0;
  Activation activation = Activation::named("relu");
  bool standard = false; // parameterization == "standard"
  double width = 1.0;
  bool nngp = true;
  bool ntk = true;
  bool diagonal = false;
  int64_t outputs() const {
    return static_cast<int64_t>(nngp) + static_cast<int64_t>(ntk);
  }
};

// Shapes, dtypes, devices and the non-tensor arguments; SymInt-safe (the meta kernels use it).
FcKernelConfig check_fc_kernel_inputs(
    const char* op, const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const std::string& activation,
    std::optional<double> activation_parameter, const std::string& parameterization, double width, bool nngp,
    bool ntk, bool diagonal);

// The same for an Activation object (a custom one included; no activation_parameter).
FcKernelConfig check_fc_kernel_inputs(
    const char* op, const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2, int64_t depth, const Activation& activation, const std::string& parameterization,
    double width, bool nngp, bool ntk, bool diagonal);

// The checks that need values (real kernels only): finite inputs, non-negative variances.
// Returns (sigma_w2, sigma_b2).
std::pair<double, double> check_fc_kernel_values(
    const char* op, const at::Tensor& x1, const std::optional<at::Tensor>& x2, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2);

// Output shape: [outputs, N, M], or [outputs, N] with diagonal.
std::vector<c10::SymInt> fc_kernel_output_shape(
    const FcKernelConfig& config, const at::Tensor& x1, const std::optional<at::Tensor>& x2);

// The backward's grad: x1's dtype and device, fc_kernel's output shape (every kernel reads it
// through raw pointers, so a smaller grad would be read out of bounds).
void check_fc_kernel_grad(
    const char* op, const at::Tensor& grad, const FcKernelConfig& config, const at::Tensor& x1,
    const std::optional<at::Tensor>& x2);

// Per-row quantities of the first pass, on the host, for rows = x1 rows then x2 rows (x2 rows
// absent when x2 is None). Computed in float64.
struct RowTables {
  int64_t rows = 0;
  int64_t depth = 0;
  std::vector<double> q; // [rows, depth + 1] row variances q^l
  // Backward: m2(q^l) = E[phi(sqrt(q^l) z)^2] and its slope d m2 / dq, [rows, depth].
  std::vector<double> second, slope;
  // Series activations: per layer l, [rows, layer_terms[l] + 1] coefficients b_k(q^l) (and
  // db_k/dq for the backward), and each row's own truncation [rows, depth].
  std::vector<int64_t> layer_terms;
  std::vector<std::vector<double>> coefficients, coefficient_derivatives;
  std::vector<int32_t> terms;
  bool series = false;
};

// Where row_tables puts the series coefficients of the forward when a kernel keeps its own layout
// (the CPU forward: a compact, column-tiled one). begin_layer(l, terms, coarse_terms) runs once per
// layer before its rows, with coarse_terms the layer's truncation at coarse_tolerance (when > 0;
// from the same extreme rows as terms); row(l, r, b) with b[0..terms] for every row r, from
// several threads (distinct r). With a sink, RowTables::coefficients stays empty.
struct CoefficientSink {
  double coarse_tolerance = 0.0;
  std::function<void(int64_t layer, int64_t terms, int64_t coarse_terms)> begin_layer;
  std::function<void(int64_t layer, int64_t row, const double* b)> row;
};

// squared_norms[r] = |x_r|^2 / d (float64, host).
RowTables row_tables(
    const FcKernelConfig& config, const std::vector<double>& squared_norms, double sigma_w2, double sigma_b2,
    bool for_backward, bool single_precision, const CoefficientSink* sink = nullptr);

// A layer's pre-activation variance must be finite: one that overflows float64 (huge sigma_w2,
// sigma_b2 or squared norms |x|^2 / d, compounded over the layers) has no series or quadrature.
void check_layer_variance(double q, int64_t layer);

// |x_r|^2 / d of x1 rows then x2 rows (x2 may be undefined), as float64 on the host.
std::vector<double> squared_row_norms(const at::Tensor& x1, const at::Tensor& x2);

// Whether every row's Hermite series (series activations; true for the others) meets 100 times
// the kernels' tolerance within dual::kMaxRowTerms terms at every layer, checked on the rows of
// largest and smallest variance that set each layer's truncation in row_tables. When it does not
// (in float64 tanh from q ~ 10, gelu from q ~ 100), the truncated sums are off by up to the
// Parseval tail wherever |c| is near 1 (the diagonal: 2% for tanh at q = 1e4, NTK entries by
// factors), and the kernels take the quadrature path instead, which evaluates such entries by
// quadrature.
bool series_reaches_tolerance(
    const FcKernelConfig& config, const std::vector<double>& squared_norms, double sigma_w2, double sigma_b2,
    bool single_precision);

// Whether a call takes the quadrature path (fc_kernel_quadrature.h): activations without a closed
// form or a series, and series activations whose series would miss its tolerance for these rows.
// The rows' norms are computed only in the latter case (the closed forms skip that pass).
bool takes_quadrature_path(
    const FcKernelConfig& config, const at::Tensor& x1, const std::optional<at::Tensor>& x2, double sigma_w2,
    double sigma_b2);

// The device-independent end of the backward: runs the first pass in reverse from the summed
// per-row gradients grad_rows [rows, depth + 1] (d/dq^l), and turns cross = d/d(x_i . x_j)
// ([N, M], or [N] with diagonal; upper-triangular-only allowed when x2 is None) into input
// gradients with GEMMs. entry_grad_* are the entries' direct sigma gradients.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> finish_backward(
    const RowTables& tables, const std::vector<double>& norms, const std::vector<double>& grad_rows,
    double entry_grad_w, double entry_grad_b, const at::Tensor& cross, const at::Tensor& a, const at::Tensor& other,
    bool diagonal, double w, std::array<bool, 4> output_mask, const at::Tensor& sigma_w2,
    const at::Tensor& sigma_b2);

} // namespace statmech::gp
