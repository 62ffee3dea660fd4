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
  // Models (weight [visible, hidden]): Bernoulli-Bernoulli E(v, h) = -a.v - c.h - v^T W h; with
  // visible_log_variance = log s, Gaussian-Bernoulli E(v, h) = sum_i (v_i - a_i)^2 / (2 s_i) - c.h
  // - (v / s)^T W h (Cho, Ilin & Raiko 2011). Random ops take a Generator and are reproducible
  // from it.
  //
  // k block Gibbs steps at inverse temperature beta from `visible` [chains, visible]: h ~ p(h | v),
  // v ~ p(v | h), k times, then h ~ p(h | v_k). Returns v_k, h_k, p(v = 1 | h_{k-1}) (the Gaussian
  // mean; for steps = 0 the input) and p(h = 1 | v_k).
  m.def(
      "rbm_gibbs(Tensor visible, Tensor weight, Tensor visible_bias, Tensor hidden_bias, int steps=1, *,"
      " float beta=1.0, Tensor? visible_log_variance=None, Generator? generator=None)"
      " -> (Tensor visible, Tensor hidden, Tensor visible_probability, Tensor hidden_probability)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Parallel tempering: visible [replicas, chains, visible] at betas [replicas] (strictly
  // decreasing, in [0, 1]; replica 0 the coldest). Each step is a Gibbs sweep of every replica and
  // replica-exchange proposals between neighbours. Returns the final visible and hidden states and
  // the swap acceptance rate of each neighbouring pair [replicas - 1] (float64).
  m.def(
      "rbm_parallel_tempering(Tensor visible, Tensor weight, Tensor visible_bias, Tensor hidden_bias,"
      " Tensor betas, int steps=1, *, Tensor? visible_log_variance=None, Generator? generator=None)"
      " -> (Tensor visible, Tensor hidden, Tensor swap_acceptance)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Annealed importance sampling of log Z (Salakhutdinov & Murray 2008) from the base-rate model
  // with visible biases base_visible_bias, along betas (0 = b_0 < ... < b_K = 1; default their
  // 14,500 intermediate distributions), with `runs` independent runs. Returns (float64) log Z_hat,
  // log(mean w - 3 sigma), log(mean w + 3 sigma) and the log importance weights [runs]. With
  // visible_log_variance, a Gaussian-Bernoulli RBM from the Gaussian base model N(base_visible_bias, s).
  m.def(
      "rbm_ais(Tensor weight, Tensor visible_bias, Tensor hidden_bias, Tensor base_visible_bias,"
      " Tensor? betas=None, int runs=100, *, Generator? generator=None, Tensor? visible_log_variance=None)"
      " -> (Tensor log_z, Tensor log_z_lower, Tensor log_z_upper, Tensor log_weights)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // The CD-k / PCD-k loss mean F(visible) - mean F(v_model) of a Bernoulli RBM, v_model the end of
  // a k-step Gibbs chain from chain_start (None: from visible, i.e. CD-k), detached. Returns
  // (loss, v_model); the gradient (parameters only) is <dF>_data - <dF>_model.
  m.def(
      "rbm_contrastive_divergence(Tensor visible, Tensor? chain_start, Tensor weight, Tensor visible_bias,"
      " Tensor hidden_bias, int steps=1, *, Generator? generator=None) -> (Tensor loss, Tensor chain_end)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Its pieces: the forward also returns p(h = 1 | v) of the data and of the chain end.
  m.def(
      "_rbm_contrastive_divergence_forward(Tensor visible, Tensor? chain_start, Tensor weight, Tensor visible_bias,"
      " Tensor hidden_bias, int steps=1, *, Generator? generator=None)"
      " -> (Tensor loss, Tensor chain_end, Tensor data_hidden_probability, Tensor model_hidden_probability)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  m.def(
      "_rbm_contrastive_divergence_backward(Tensor grad, Tensor visible, Tensor chain_end,"
      " Tensor data_hidden_probability, Tensor model_hidden_probability, bool[3] output_mask)"
      " -> (Tensor, Tensor, Tensor)",
      {at::Tag::pt2_compliant_tag});
  // Whole epochs of CD-k (persistent=False) / PCD-k training of a Bernoulli RBM on binary data
  // [N, visible] with plain SGD as torch.optim.SGD (lr, momentum, weight_decay; the velocities
  // are its momentum buffers), updating the parameters and velocities in place; minibatches of
  // batch_size rows in an order shuffled from the generator each epoch. PCD's chains start at
  // chain_start (else the first minibatch) and persist their hidden samples between steps.
  // mean_field uses probabilities in place of samples in the chain (deterministic). Returns
  // metrics [epochs, 2] (float64: the epoch's mean loss mean F(v_data) - mean F(v_model), and its
  // training reconstruction error, 0 when track_reconstruction is False) and chain_end [chains, visible]
  // (PCD; [0, visible] for CD). With visible_log_variance z [visible] (and its velocity, both
  // updated in place) the visible layer is Gaussian, s = exp(z) as gaussian_rbm_free_energy: real
  // data, v ~ N(a + W h, s) in the chain (mean field: the mean), and z trained with the rest.
  // See ops/rbm/train_sgd.h.
  m.def(
      "rbm_train_sgd(Tensor data, Tensor(a!) weight, Tensor(b!) visible_bias, Tensor(c!) hidden_bias,"
      " Tensor(d!) weight_velocity, Tensor(e!) visible_bias_velocity, Tensor(f!) hidden_bias_velocity,"
      " Tensor? chain_start=None, *, int steps=1, int batch_size=100, float lr=0.01, float momentum=0.0,"
      " float weight_decay=0.0, bool persistent=True, int epochs=1, bool shuffle=True, bool mean_field=False,"
      " bool track_reconstruction=True, Generator? generator=None, Tensor(g!)? visible_log_variance=None,"
      " Tensor(h!)? visible_log_variance_velocity=None) -> (Tensor metrics, Tensor chain_end)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Exact log Z by enumerating the smaller layer (the hidden one for a Gaussian visible layer),
  // chunk_size states at a time; at most 25 enumerated units. Differentiable.
  m.def(
      "rbm_log_partition(Tensor weight, Tensor visible_bias, Tensor hidden_bias, *,"
      " Tensor? visible_log_variance=None, int chunk_size=65536) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // Log pseudo-likelihood [batch] of binary rows: the sum over all single-bit flips, or
  // (stochastic) visible * the term of one random bit per row, as scikit-learn's score_samples.
  m.def(
      "rbm_pseudo_likelihood(Tensor visible, Tensor weight, Tensor visible_bias, Tensor hidden_bias,"
      " bool stochastic=False, *, Generator? generator=None) -> Tensor",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Joint energy E(v, h) [batch].
  m.def(
      "rbm_energy(Tensor visible, Tensor hidden, Tensor weight, Tensor visible_bias, Tensor hidden_bias,"
      " *, Tensor? visible_log_variance=None) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // Gaussian-Bernoulli free energy sum_i (v_i - a_i)^2 / (2 s_i) - sum_j softplus(c_j + ((v / s) W)_j).
  m.def(
      "gaussian_rbm_free_energy(Tensor visible, Tensor weight, Tensor visible_bias, Tensor hidden_bias,"
      " Tensor visible_log_variance) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // log(p / (1 - p)), p = (sum of data rows + pseudocount) / (N + 2 pseudocount): base-rate biases.
  m.def("rbm_base_rate_bias(Tensor data, float pseudocount=1.0) -> Tensor", {at::Tag::pt2_compliant_tag});

  // ---- Hopfield networks and dense associative memories (ops/hopfield) -------------------------
  // Modern (continuous) Hopfield retrieval, Ramsauer et al. 2020 (ops/hopfield/retrieval.cpp).
  // query [..., L, E] (state patterns xi), key [..., S, E] (stored patterns), value [..., S, Ev];
  // beta is 0-D or [heads] with heads = query.size(-3). update_steps times
  //   xi <- sep(beta xi K^T + mask) K,
  // each query frozen once its state moves by less than eps (eps = 0: never), then
  //   output = dropout(sep(beta xi K^T + mask)) V          [..., L, Ev].
  // mask: scaled_dot_product_attention's convention (bool True = takes part, or a float added to
  // the scores), broadcastable to [..., L, S]. separation: "softmax" (runs on
  // at::scaled_dot_product_attention), "sparsemax" or "entmax15" (Hu et al. 2023). Dropout draws
  // from `generator` when one is given (the softmax output step then materialises the association
  // instead of calling scaled_dot_product_attention, whose dropout takes no generator), else from
  // the default generator.
  m.def(
      "hopfield_retrieval(Tensor query, Tensor key, Tensor value, Tensor beta, int update_steps=0,"
      " float eps=0.0, Tensor? mask=None, str separation=\"softmax\", float dropout_p=0.0,"
      " Generator? generator=None) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // The same retrieval with the association matrix materialised: returns (output [..., L, Ev],
  // association sep(beta xi K^T + mask) [..., L, S] before dropout, final state xi [..., L, E]).
  m.def(
      "hopfield_retrieval_explicit(Tensor query, Tensor key, Tensor value, Tensor beta, int update_steps=0,"
      " float eps=0.0, Tensor? mask=None, str separation=\"softmax\", float dropout_p=0.0,"
      " Generator? generator=None) -> (Tensor output, Tensor association, Tensor state)",
      {at::Tag::pt2_compliant_tag});
  // Energy of Ramsauer et al. 2020 eq. 2, per state pattern (ops/hopfield/energy.cpp):
  //   E(xi) = -beta^-1 log sum_i exp(beta k_i.xi + m_i) + 1/2 xi.xi + beta^-1 log N + 1/2 M^2,
  // N the number of stored patterns taking part (sum_i exp(m_i) for a float mask), M the largest
  // norm among them. state [..., L, E], key [..., S, E] -> [..., L].
  m.def(
      "hopfield_energy(Tensor state, Tensor key, Tensor beta, Tensor? mask=None) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // Separation functions along `dim` (ops/hopfield/separation.cpp): sparsemax (Martins & Astudillo
  // 2016) and 1.5-entmax (Peters et al. 2019), the sparse modern Hopfield maps of Hu et al. 2023.
  m.def("sparsemax(Tensor input, int dim=-1) -> Tensor", {at::Tag::pt2_compliant_tag});
  m.def("entmax15(Tensor input, int dim=-1) -> Tensor", {at::Tag::pt2_compliant_tag});
  // Their vector-Jacobian products, from the output alone.
  m.def("_sparsemax_backward(Tensor grad, Tensor output, int dim) -> Tensor", {at::Tag::pt2_compliant_tag});
  m.def("_entmax15_backward(Tensor grad, Tensor output, int dim) -> Tensor", {at::Tag::pt2_compliant_tag});

  // -- classical binary networks, dense associative memories, spin glasses (ops/hopfield/binary_*,
  //    dense_memory*, spin_glass*). Spins are +-1; a state is read as +1 where > 0 and -1 elsewhere
  //    (so {-1, 1}, {0, 1} and bool all work). weight is [N, N] or [batch, N, N] (one network per
  //    row), threshold [N] or [batch, N]; E(s) = -1/2 s^T W s + theta^T s. The local field
  //    f_i = sum_{j != i} W_ij s_j - theta_i drives every update (s_i <- sign(f_i), kept on a tie).
  //
  // Weights from patterns [P, N]: rule = hebbian | storkey | pseudo_inverse; zero diagonal.
  m.def("binary_hopfield_store(Tensor patterns, str rule=\"hebbian\") -> Tensor", {at::Tag::pt2_compliant_tag});
  m.def(
      "binary_hopfield_energy(Tensor state, Tensor weight, Tensor? threshold=None) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // Deterministic dynamics to a fixed point or max_sweeps sweeps: update = async (random order
  // per sweep from the generator, incremental fields: O(N) per flip; on CPU the rows of each group
  // of 16 consecutive rows share the order of a sweep, on CUDA every row has its own) | sync (all
  // at once).
  // sweeps [batch] counts the sweeps that changed the state; converged [batch] says the final
  // state is a fixed point.
  m.def(
      "binary_hopfield_run(Tensor state, Tensor weight, Tensor? threshold=None, str update=\"async\","
      " int max_sweeps=100, Generator? generator=None)"
      " -> (Tensor state, Tensor energy, Tensor sweeps, Tensor converged)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Heat-bath (Glauber) dynamics: one asynchronous sweep per temperature in the schedule,
  // P(s_i = +1) = sigmoid(2 f_i / T); T = 0 is a deterministic sweep. A constant schedule samples
  // exp(-E/T); a decreasing one is simulated annealing.
  m.def(
      "binary_hopfield_glauber(Tensor state, Tensor weight, float[] temperatures, Tensor? threshold=None,"
      " Generator? generator=None) -> (Tensor state, Tensor energy)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Test seam: the neuron order of every sweep of binary_hopfield_run / binary_hopfield_glauber
  // (update = async) on CPU, drawn exactly as they draw it from the same generator state:
  // [batch, sweeps, N] int64. Rows b with equal b / 16 share their orders (one order group).
  m.def(
      "_binary_hopfield_async_orders(Tensor state, int sweeps, Generator? generator=None) -> Tensor",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Parallel tempering: state [batch, replicas, N], replica r at temperatures[r]; `sweeps` rounds
  // of one heat-bath sweep per replica then neighbour exchanges. Returns the replicas (in
  // temperature order) and their energies, the lowest-energy state seen and its energy, and the
  // swap acceptance rate per neighbour pair [batch, replicas - 1]. CPU: a fused kernel; CUDA: the
  // device-generic composition of binary_hopfield_glauber sweeps and ATen exchanges (same
  // dynamics and outputs, other random streams).
  m.def(
      "binary_hopfield_parallel_tempering(Tensor state, Tensor weight, float[] temperatures, int sweeps,"
      " Tensor? threshold=None, Generator? generator=None)"
      " -> (Tensor state, Tensor energy, Tensor best_state, Tensor best_energy, Tensor swap_rate)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Test seam: the device-generic parallel tempering (the CUDA path) on any device, CPU included.
  m.def(
      "_binary_hopfield_parallel_tempering_generic(Tensor state, Tensor weight, float[] temperatures,"
      " int sweeps, Tensor? threshold=None, Generator? generator=None)"
      " -> (Tensor state, Tensor energy, Tensor best_state, Tensor best_energy, Tensor swap_rate)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Sherrington-Kirkpatrick couplings in place, [..., N, N]: symmetric, zero diagonal,
  // J_ij ~ N(0, 1/N) (distribution = gaussian) or +-1/sqrt(N) with equal odds (pm).
  m.def(
      "spin_glass_couplings_(Tensor(a!) weight, str distribution=\"gaussian\", Generator? generator=None) -> ()",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});
  // Dense associative memory, E = -sum_mu F(xi_mu . s) with F(x) = x^degree (polynomial),
  // max(x, 0)^degree (rectified_polynomial) or exp(beta x) (exponential); patterns [P, N].
  m.def(
      "dense_memory_energy(Tensor state, Tensor patterns, str interaction=\"polynomial\", int degree=3,"
      " float beta=1.0) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // Asynchronous updates from energy differences, overlaps kept incrementally (O(P) per visit).
  m.def(
      "dense_memory_run(Tensor state, Tensor patterns, str interaction=\"polynomial\", int degree=3,"
      " float beta=1.0, int max_sweeps=100, Generator? generator=None)"
      " -> (Tensor state, Tensor energy, Tensor sweeps, Tensor converged)",
      {at::Tag::pt2_compliant_tag, at::Tag::nondeterministic_seeded});

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
  // phi_hat(x) = output_scale * (phi(input_scale * x + input_shift) + output_shift), element-wise,
  // phi the named activation (statmech::Activation::names()); parameter is leaky_relu's
  // negative_slope or elu's alpha (ignored otherwise). DKS / TAT compute the four numbers.
  m.def(
      "transformed_activation(Tensor input, str activation, float parameter=0., float input_scale=1.,"
      " float input_shift=0., float output_shift=0., float output_scale=1.) -> Tensor",
      {at::Tag::pt2_compliant_tag});

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
  // W_ij ~ U(-a, a), a = sqrt(3 sigma_w2 / fan_in) (entry variance sigma_w2 / fan_in).
  m.def(
      "critical_uniform_(Tensor(a!) tensor, float sigma_w2, Generator? generator=None) -> ()",
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
