// Every schema of torch-statmech, in one place: the contract at a glance.
//
// Schema types: `float` is a C++ double, `int` an int64_t, `Tensor?` an optional tensor.
// Private operators (leading underscore) are the pieces autograd is built from; they are not part
// of the public API but are registered (with meta kernels) so torch.compile and torch.export
// can trace through the public ones.

#include <torch/library.h>

TORCH_LIBRARY(statmech, m) {
  // ---- restricted Boltzmann machines (ops/rbm) --------------------------------------------------
  // F(v) = -a^T v - sum_j softplus(c_j + (v W)_j); weight is [visible, hidden].
  m.def(
      "rbm_free_energy(Tensor visible, Tensor weight, Tensor visible_bias, Tensor hidden_bias) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // The free energy and p(h = 1 | v) = sigmoid(c + v W), which the backward needs.
  m.def(
      "_rbm_free_energy_forward(Tensor visible, Tensor weight, Tensor visible_bias, Tensor hidden_bias)"
      " -> (Tensor free_energy, Tensor hidden_probability)",
      {at::Tag::pt2_compliant_tag});
  // Gradients for (visible, weight, visible_bias, hidden_bias); those not in output_mask are
  // returned undefined (None). hidden_probability is overwritten with -grad * hidden_probability
  // (row-scaled), the operand every GEMM of the backward needs, so no [batch, hidden] temporary
  // is allocated.
  m.def(
      "_rbm_free_energy_backward(Tensor grad, Tensor visible, Tensor weight, Tensor visible_bias,"
      " Tensor(a!) hidden_probability, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)",
      {at::Tag::pt2_compliant_tag});

  // ---- restricted Boltzmann machines: sampling, partition functions (ops/rbm) -----------------

  // ---- Hopfield networks and dense associative memories (ops/hopfield) -------------------------

  // ---- Gaussian-process kernels: NNGP / NTK (ops/gp) ---------------------------------------------
  // Infinite-width kernels of the fully connected network [Dense, phi] x depth + Dense, weights
  // N(0, sigma_w2 / fan_in), biases N(0, sigma_b2) (variances, 0-d tensors). x1 [N, d], x2 [M, d]
  // (None: x2 = x1). Returns [outputs, N, M] (or [outputs, N] with diagonal): the NNGP kernel if
  // nngp, then the NTK if ntk. parameterization "ntk" or "standard" (width: the hidden width n of
  // the standard parameterisation's NTK); activation_parameter: leaky_relu's slope.
  m.def(
      "fc_kernel(Tensor x1, Tensor? x2, Tensor sigma_w2, Tensor sigma_b2, int depth, str activation,"
      " float? activation_parameter=None, str parameterization=\"ntk\", float width=1., bool nngp=True,"
      " bool ntk=True, bool diagonal=False) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // Gradients for (x1, x2, sigma_w2, sigma_b2) given grad of fc_kernel's output; those not in
  // output_mask (and x2's when x2 is None) are returned undefined. Recomputes the forward per entry.
  m.def(
      "_fc_kernel_backward(Tensor grad, Tensor x1, Tensor? x2, Tensor sigma_w2, Tensor sigma_b2, int depth,"
      " str activation, float? activation_parameter, str parameterization, float width, bool nngp, bool ntk,"
      " bool diagonal, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)",
      {at::Tag::pt2_compliant_tag});
  // K(x1, x2) @ v for one kernel ("nngp" or "ntk"), v [M] or [M, k], evaluated in blocks of
  // block_size rows of x1 (0: automatic, ~64 MiB of kernel per block), never materialising K.
  m.def(
      "fc_kernel_matmul(Tensor x1, Tensor? x2, Tensor v, Tensor sigma_w2, Tensor sigma_b2, int depth,"
      " str activation, float? activation_parameter=None, str parameterization=\"ntk\", float width=1.,"
      " str kernel=\"ntk\", int block_size=0) -> Tensor",
      {at::Tag::pt2_compliant_tag});

  // ---- mean-field kernel shaping (ops/meanfield) --------------------------------------------------

  // ---- initialisers at the edge of chaos (ops/init) ---------------------------------------------
  // In-place, like torch.nn.init, on weights in PyTorch's [out, in, kernel...] layout, where
  // fan_in = in * prod(kernel). sigma_w2 is a variance (sigma_w^2), never a standard deviation.
  // They return nothing: a custom op may not return an alias of a mutated input (torch.compile's
  // auto_functionalize rejects it); the C++ and Python wrappers return the tensor.
  //
  // W_ij ~ N(0, sigma_w2 / fan_in).
  m.def(
      "critical_normal_(Tensor(a!) tensor, float sigma_w2, Generator? generator=None) -> ()",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Haar-orthogonal [out, fan_in] matrix with ||W||_F^2 = sigma_w2 * out: W W^T = sigma_w2 I when
  // out <= fan_in, W^T W = sigma_w2 (out / fan_in) I otherwise.
  m.def(
      "critical_orthogonal_(Tensor(a!) tensor, float sigma_w2, Generator? generator=None) -> ()",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Conv weight [out, in, k...] (1-3 spatial dims, odd k, in <= out): zero except the centre tap,
  // which is the [out, in] critical_orthogonal_ matrix (Xiao et al. 2018).
  m.def(
      "delta_orthogonal_(Tensor(a!) tensor, float sigma_w2, Generator? generator=None) -> ()",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
}
