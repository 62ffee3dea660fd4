"""Tensor operators of torch-statmech.

Each function here is a thin, documented wrapper over ``torch.ops.statmech.<name>``: the
operator itself (kernels, autograd, meta kernel, input checks) lives in C++. Call the
``torch.ops`` form directly from TorchScript; both forms work under ``torch.compile``.
"""

from typing import Optional, Tuple

from torch import Tensor
import torch

__all__ = [
    "gaussian_rbm_free_energy",
    "rbm_ais",
    "rbm_ais_default_betas",
    "rbm_base_rate_bias",
    "rbm_contrastive_divergence",
    "rbm_energy",
    "rbm_free_energy",
    "rbm_gibbs",
    "rbm_log_partition",
    "rbm_parallel_tempering",
    "rbm_pseudo_likelihood",
    "rbm_train_sgd",
]


def rbm_free_energy(visible: Tensor, weight: Tensor, visible_bias: Tensor, hidden_bias: Tensor) -> Tensor:
    r"""Free energy of a Bernoulli-Bernoulli restricted Boltzmann machine.

    .. math::
        F(v) = -a^\top v - \sum_j \operatorname{softplus}\big(c_j + (vW)_j\big),

    the energy :math:`E(v, h) = -a^\top v - c^\top h - v^\top W h` with the binary hidden units
    summed out, so that :math:`p(v) = e^{-F(v)} / Z`. Computed with a stable softplus; the
    backward is hand-written (one saved ``[batch, hidden]`` tensor, :math:`p(h=1 \mid v)`).

    Args:
        visible: ``[batch, visible]`` visible states (usually in {0, 1} or [0, 1]).
        weight: ``[visible, hidden]`` coupling matrix :math:`W`. Every RBM operator in this
            package uses this layout (the one of the RBM literature, where :math:`F` reads
            :math:`vW`), not ``torch.nn.Linear``'s ``[out, in]``.
        visible_bias: ``[visible]`` visible bias :math:`a`.
        hidden_bias: ``[hidden]`` hidden bias :math:`c`.

    Returns:
        ``[batch]`` free energy of each row.

    All tensors must share one dtype (float32 or float64) and one device. Differentiable with
    respect to every argument (first order).

    Example::

        >>> v = torch.bernoulli(torch.full((4, 6), 0.5))
        >>> W, a, c = torch.randn(6, 3), torch.zeros(6), torch.zeros(3)
        >>> statmech.ops.rbm_free_energy(v, W, a, c).shape
        torch.Size([4])
    """
    return torch.ops.statmech.rbm_free_energy(visible, weight, visible_bias, hidden_bias)


# ---- sampling, partition functions, evaluation ------------------------------------------------
# Shared notation: weight W [visible, hidden], visible_bias a [visible], hidden_bias c [hidden];
# visible_log_variance = log s [visible] makes the visible layer Gaussian (Cho, Ilin & Raiko 2011):
#   Bernoulli-Bernoulli  E(v, h) = -a.v - c.h - v^T W h
#   Gaussian-Bernoulli   E(v, h) = sum_i (v_i - a_i)^2 / (2 s_i) - c.h - (v / s)^T W h


def rbm_gibbs(
    visible: Tensor,
    weight: Tensor,
    visible_bias: Tensor,
    hidden_bias: Tensor,
    steps: int = 1,
    *,
    beta: float = 1.0,
    visible_log_variance: Optional[Tensor] = None,
    generator: Optional[torch.Generator] = None,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""``steps`` block Gibbs steps, fused in one C++ operator, at inverse temperature ``beta``.

    From :math:`v_0` = ``visible``: :math:`h_t \sim p(h \mid v_t)`, :math:`v_{t+1} \sim p(v \mid h_t)`
    for :math:`t < k`, then :math:`h_k \sim p(h \mid v_k)`; at inverse temperature :math:`\beta` the
    chain samples :math:`p_\beta(v, h) \propto e^{-\beta E(v, h)}`.

    Args:
        visible: ``[chains, visible]`` start states.
        weight, visible_bias, hidden_bias: the model (``[visible, hidden]``, ``[visible]``, ``[hidden]``).
        steps: ``k >= 0``.
        beta: inverse temperature (``> 0`` for a Gaussian visible layer).
        visible_log_variance: ``[visible]`` log variances of a Gaussian visible layer, or ``None``.
        generator: source of every random number; a seeded generator reproduces the chain exactly.

    Returns:
        ``(v_k [chains, visible], h_k [chains, hidden], p(v=1 | h_{k-1}) [chains, visible],
        p(h=1 | v_k) [chains, hidden])``; for a Gaussian layer the third is the conditional mean,
        for ``steps = 0`` it is the input. Not differentiable (use the free energy for gradients).
    """
    return torch.ops.statmech.rbm_gibbs(
        visible, weight, visible_bias, hidden_bias, steps,
        beta=beta, visible_log_variance=visible_log_variance, generator=generator,
    )


def rbm_parallel_tempering(
    visible: Tensor,
    weight: Tensor,
    visible_bias: Tensor,
    hidden_bias: Tensor,
    betas: Tensor,
    steps: int = 1,
    *,
    visible_log_variance: Optional[Tensor] = None,
    generator: Optional[torch.Generator] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    r"""Parallel tempering (replica exchange) Gibbs sampling.

    Each step runs one Gibbs sweep of every replica at its own inverse temperature, then proposes
    swaps between neighbouring replicas (pairs (0,1), (2,3), ... then (1,2), (3,4), ...), each chain
    on its own, accepted with probability :math:`\min(1, e^{(\beta_r - \beta_{r+1})(E_r - E_{r+1})})`.

    Args:
        visible: ``[replicas, chains, visible]`` start states.
        betas: ``[replicas]`` strictly decreasing inverse temperatures in ``[0, 1]``; replica 0 (usually
            ``beta = 1``) holds the samples of the model.
        steps: number of sweep-and-swap rounds (``>= 0``).

    Returns:
        ``(visible [replicas, chains, visible], hidden [replicas, chains, hidden],
        swap_acceptance [replicas - 1] float64)``: the fraction of accepted swaps per neighbouring pair.
    """
    return torch.ops.statmech.rbm_parallel_tempering(
        visible, weight, visible_bias, hidden_bias, betas, steps,
        visible_log_variance=visible_log_variance, generator=generator,
    )


def rbm_contrastive_divergence(
    visible: Tensor,
    chain_start: Optional[Tensor],
    weight: Tensor,
    visible_bias: Tensor,
    hidden_bias: Tensor,
    steps: int = 1,
    *,
    generator: Optional[torch.Generator] = None,
) -> Tuple[Tensor, Tensor]:
    r"""CD-k / PCD-k loss of a Bernoulli RBM in one operator,
    :math:`L = \overline{F(v_\text{data})} - \overline{F(v_\text{model})}`, with :math:`v_\text{model}`
    the detached end of a ``steps``-step Gibbs chain from ``chain_start`` (``None``: from ``visible``,
    i.e. CD-k; the persistent chains: PCD-k).

    The same value and gradient as composing :func:`rbm_gibbs` and :func:`rbm_free_energy`, but each
    ``[batch, visible] x [visible, hidden]`` product is computed once (5 GEMMs for CD-1 instead of 7)
    and the chain, loss and gradient stay in C++. With the same generator the chain end equals
    ``rbm_gibbs(...)[0]``.

    Returns:
        ``(loss, v_model)``: a scalar differentiable in ``weight``, ``visible_bias``, ``hidden_bias``
        (:math:`\nabla L = \langle\nabla F\rangle_\text{data} - \langle\nabla F\rangle_\text{model}`),
        and the chain end ``[chains, visible]``.
    """
    return torch.ops.statmech.rbm_contrastive_divergence(
        visible, chain_start, weight, visible_bias, hidden_bias, steps, generator=generator
    )


def rbm_train_sgd(
    data: Tensor,
    weight: Tensor,
    visible_bias: Tensor,
    hidden_bias: Tensor,
    weight_velocity: Tensor,
    visible_bias_velocity: Tensor,
    hidden_bias_velocity: Tensor,
    chain_start: Optional[Tensor] = None,
    *,
    steps: int = 1,
    batch_size: int = 100,
    lr: float = 0.01,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    persistent: bool = True,
    epochs: int = 1,
    shuffle: bool = True,
    mean_field: bool = False,
    track_reconstruction: bool = True,
    generator: Optional[torch.Generator] = None,
    visible_log_variance: Optional[Tensor] = None,
    visible_log_variance_velocity: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    r"""``epochs`` epochs of CD-k (``persistent=False``) or PCD-k training of an RBM on ``data [N,
    visible]`` with plain SGD, in one operator; ``weight [visible, hidden]``, the biases and their
    velocities (``torch.optim.SGD``'s momentum buffers, zeros to start) are updated **in place**
    (call it under ``torch.no_grad()`` for ``nn.Parameter`` s).

    Each minibatch (``batch_size`` rows, order shuffled from ``generator`` every epoch) takes one
    step of :math:`\theta \leftarrow \theta - \text{lr}\, u`, :math:`u \leftarrow \text{momentum}\, u
    + g + \text{weight\_decay}\, \theta`, with :math:`g` the CD/PCD gradient of
    :math:`\overline{F(v_\text{data})} - \overline{F(v_\text{model})}` (data minus model
    expectations) -- the update of ``torch.optim.SGD`` over all the parameters, weight decay on the
    biases too. Four GEMM calls per CD-1 / PCD-1 step (the weight gradient is one stacked GEMM); PCD
    keeps the chains' hidden samples between minibatches (as scikit-learn's ``BernoulliRBM``),
    starting from ``chain_start`` (else the first minibatch). ``mean_field=True`` uses
    probabilities (Gaussian units: the mean) in place of samples in the chains (deterministic).

    Visible units are Bernoulli (binary ``data``) unless ``visible_log_variance`` :math:`z`
    ``[visible]`` is given, with its velocity ``visible_log_variance_velocity`` (zeros to start):
    then they are Gaussian with variances :math:`s = e^z` (:class:`statmech.nn.GaussianBernoulliRBM`,
    Cho, Ilin & Raiko 2011), ``data`` is real-valued, the chain draws :math:`v \sim \mathcal N(a + W
    h, s)`, and :math:`z` takes the same SGD step with the exact gradient
    :math:`\partial F/\partial z_i = -(v_i - a_i)^2 / (2 s_i) + (v_i / s_i) \sum_j W_{ij}
    \sigma_j(v)`.

    Returns:
        ``(metrics, chain_end)``: ``metrics [epochs, 2]`` float64, per epoch the mean loss
        :math:`\overline{F(v_\text{data})} - \overline{F(v_\text{model})}` and the training
        reconstruction error (mean over rows of :math:`\lVert v - E[v \mid h]\rVert^2`,
        :math:`h \sim p(h \mid v)`, before each update; 0 unless ``track_reconstruction``), and
        ``chain_end [chains, visible]`` (PCD; ``[0, visible]`` for CD), to pass back as ``chain_start``.
    """
    return torch.ops.statmech.rbm_train_sgd(
        data, weight, visible_bias, hidden_bias, weight_velocity, visible_bias_velocity, hidden_bias_velocity,
        chain_start, steps=steps, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
        persistent=persistent, epochs=epochs, shuffle=shuffle, mean_field=mean_field,
        track_reconstruction=track_reconstruction, generator=generator, visible_log_variance=visible_log_variance,
        visible_log_variance_velocity=visible_log_variance_velocity,
    )


def rbm_ais_default_betas(dtype: torch.dtype = torch.float64) -> Tensor:
    """The schedule of Salakhutdinov & Murray (2008): steps of 1/1000 on [0, 0.5), 1/10000 on
    [0.5, 0.9) and 1/100000 on [0.9, 1]: 14,501 values, 14,500 intermediate distributions."""
    if not dtype.is_floating_point:
        raise ValueError(f"rbm_ais_default_betas: dtype must be a floating dtype (betas lie in [0, 1]), got {dtype}")
    return torch.cat([
        torch.arange(0, 500, dtype=torch.float64) / 1000,
        torch.arange(5000, 9000, dtype=torch.float64) / 10000,
        torch.arange(90000, 100001, dtype=torch.float64) / 100000,
    ]).to(dtype)


def rbm_ais(
    weight: Tensor,
    visible_bias: Tensor,
    hidden_bias: Tensor,
    base_visible_bias: Tensor,
    betas: Optional[Tensor] = None,
    runs: int = 100,
    *,
    generator: Optional[torch.Generator] = None,
    visible_log_variance: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    r"""Annealed importance sampling estimate of :math:`\log Z` of a Bernoulli RBM
    (Salakhutdinov & Murray 2008), or of a Gaussian-Bernoulli one with ``visible_log_variance``.

    Anneals from the base-rate model (no weights, visible biases ``base_visible_bias``, e.g.
    :func:`rbm_base_rate_bias` of the training data) to the model along ``betas``, with ``runs``
    independent runs in one batch; the log weights are accumulated in float64. With
    ``visible_log_variance`` ``[visible]`` the base model is the Gaussian layer alone,
    :math:`v \sim N(\text{base\_visible\_bias}, e^{\text{visible\_log\_variance}})` with free
    hidden units (closed-form :math:`\log Z_0`), and the intermediate models scale ``weight`` and
    ``hidden_bias`` by beta and mix the visible means (derivation in ``ops/rbm/sampling.cpp``).

    Args:
        betas: increasing schedule, ``betas[0] = 0``, ``betas[-1] = 1`` (checked); ``None`` uses
            :func:`rbm_ais_default_betas`.
        runs: number of AIS runs.

    Returns:
        float64 ``(log_z, log_z_lower, log_z_upper, log_weights [runs])``, where the bounds are
        :math:`\log(\bar w \pm 3\sigma_{\bar w})` of the mean importance weight, the spread the
        paper reports (the lower bound is ``-inf`` when :math:`\bar w - 3\sigma \le 0`).
    """
    return torch.ops.statmech.rbm_ais(
        weight, visible_bias, hidden_bias, base_visible_bias, betas, runs, generator=generator,
        visible_log_variance=visible_log_variance,
    )


def rbm_log_partition(
    weight: Tensor,
    visible_bias: Tensor,
    hidden_bias: Tensor,
    *,
    visible_log_variance: Optional[Tensor] = None,
    chunk_size: int = 65536,
) -> Tensor:
    r"""Exact :math:`\log Z`, enumerating the :math:`2^n` states of the smaller layer (for a
    Gaussian visible layer, the hidden one) ``chunk_size`` at a time and summing the other layer out
    in closed form. ``n <= 25``; beyond that it raises (use :func:`rbm_ais`). Differentiable:
    its gradient is minus the model expectations of the energy's derivatives.

    Returns:
        0-dim tensor in the model's dtype.
    """
    return torch.ops.statmech.rbm_log_partition(
        weight, visible_bias, hidden_bias, visible_log_variance=visible_log_variance, chunk_size=chunk_size
    )


def rbm_pseudo_likelihood(
    visible: Tensor,
    weight: Tensor,
    visible_bias: Tensor,
    hidden_bias: Tensor,
    stochastic: bool = False,
    *,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    r"""Log pseudo-likelihood of binary rows,
    :math:`\sum_i \log p(v_i \mid v_{-i}) = \sum_i \log\sigma(F(\tilde v^{(i)}) - F(v))` over all
    single-bit flips :math:`\tilde v^{(i)}`; with ``stochastic=True``, ``visible`` times the term of one
    uniformly drawn bit per row (the unbiased estimate scikit-learn's ``BernoulliRBM.score_samples``
    reports). ``visible`` must be binary. Returns ``[batch]``; differentiable in the parameters."""
    return torch.ops.statmech.rbm_pseudo_likelihood(visible, weight, visible_bias, hidden_bias, stochastic, generator=generator)


def rbm_energy(
    visible: Tensor,
    hidden: Tensor,
    weight: Tensor,
    visible_bias: Tensor,
    hidden_bias: Tensor,
    *,
    visible_log_variance: Optional[Tensor] = None,
) -> Tensor:
    """Joint energy :math:`E(v, h)` ``[batch]`` of ``visible [batch, visible]`` and ``hidden [batch, hidden]``."""
    return torch.ops.statmech.rbm_energy(
        visible, hidden, weight, visible_bias, hidden_bias, visible_log_variance=visible_log_variance
    )


def gaussian_rbm_free_energy(
    visible: Tensor, weight: Tensor, visible_bias: Tensor, hidden_bias: Tensor, visible_log_variance: Tensor
) -> Tensor:
    r"""Free energy of a Gaussian-Bernoulli RBM ``[batch]``,
    :math:`F(v) = \sum_i \frac{(v_i - a_i)^2}{2 s_i} - \sum_j \operatorname{softplus}(c_j + ((v/s)W)_j)`
    with :math:`s = e^{\text{visible\_log\_variance}}` (derivation in :class:`statmech.nn.GaussianBernoulliRBM`)."""
    return torch.ops.statmech.gaussian_rbm_free_energy(visible, weight, visible_bias, hidden_bias, visible_log_variance)


def rbm_base_rate_bias(data: Tensor, pseudocount: float = 1.0) -> Tensor:
    r"""Visible biases :math:`\log(p/(1-p))` of the base-rate model, with
    :math:`p = (\sum_n v_n + \alpha) / (N + 2\alpha)` per unit, ``data`` ``[N, visible]`` in [0, 1]."""
    return torch.ops.statmech.rbm_base_rate_bias(data, pseudocount)


# ---- vmap batching rule of rbm_free_energy ------------------------------------------------------
def _rbm_free_energy_vmap(info, in_dims, visible, weight, visible_bias, hidden_bias):
    """Batching rule: a batch of visible sets only (the common case, e.g. per-sample gradients or
    vmap over data) folds into the batch dimension of one operator call; batched parameters use
    the same formula in batched ATen ops (both differentiable)."""
    v_dim, w_dim, a_dim, c_dim = in_dims
    n = info.batch_size
    if w_dim is None and a_dim is None and c_dim is None:
        v = visible.movedim(v_dim, 0)
        out = torch.ops.statmech.rbm_free_energy(v.reshape(-1, v.shape[-1]), weight, visible_bias, hidden_bias)
        return out.view(v.shape[0], v.shape[1]), 0

    def batched(t, dim):
        return t.unsqueeze(0).expand(n, *t.shape) if dim is None else t.movedim(dim, 0)

    v, W, a, c = (batched(t, d) for t, d in zip((visible, weight, visible_bias, hidden_bias), in_dims))
    pre = torch.matmul(v, W) + c.unsqueeze(1)
    return -(v * a.unsqueeze(1)).sum(-1) - torch.nn.functional.softplus(pre).sum(-1), 0


torch.library.register_vmap("statmech::rbm_free_energy", _rbm_free_energy_vmap)
