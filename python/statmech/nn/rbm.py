r"""Restricted Boltzmann machines: :class:`RBM` (Bernoulli-Bernoulli) and
:class:`GaussianBernoulliRBM`.

Both are thin shells over the operators of ``statmech.ops`` (C++ kernels, C++ autograd, fused
Gibbs chains, AIS and exact partition functions) and hold the parameters in the ``[visible,
hidden]`` weight layout of every RBM op. The C++ modules ``statmech::nn::RBM`` and
``statmech::nn::GaussianBernoulliRBM`` give the same outputs for the same parameters.

Training is a loss for an ordinary loop: :meth:`RBM.contrastive_divergence` returns
:math:`\overline{F(v_\text{data})} - \overline{F(v_\text{model})}` with the model samples detached,
whose gradient is the CD-k / PCD estimate of the negative log-likelihood gradient, so any
``torch.optim`` optimiser, weight decay and LR schedule apply; :meth:`RBM.fit` wraps that loop
with a progress bar and per-epoch metrics.
"""

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

__all__ = ["RBM", "GaussianBernoulliRBM"]


class RBM(nn.Module):
    r"""Bernoulli-Bernoulli restricted Boltzmann machine,

    .. math::
        E(v, h) = -a^\top v - c^\top h - v^\top W h, \qquad
        F(v) = -a^\top v - \sum_j \operatorname{softplus}(c_j + (vW)_j), \qquad
        p(v) = e^{-F(v)} / Z.

    Args:
        visible: number of visible units :math:`V`.
        hidden: number of hidden units :math:`H`.
        device, dtype: of the parameters.

    Attributes:
        weight: ``[visible, hidden]`` :math:`W`.
        visible_bias: ``[visible]`` :math:`a`.
        hidden_bias: ``[hidden]`` :math:`c`.
        persistent_visible: ``[chains, visible]`` buffer, the persistent chains of PCD (empty until
            the first persistent step; saved in the ``state_dict``).

    Initialisation follows Hinton's practical guide (2010): :math:`W \sim 0.01\,\mathcal N(0, 1)`,
    biases 0; :meth:`init_from_data` sets :math:`a_i = \log(p_i / (1 - p_i))` from the data.

    Example::

        >>> rbm = statmech.nn.RBM(64, 16)
        >>> optimizer = torch.optim.SGD(rbm.parameters(), lr=0.01)
        >>> v = torch.bernoulli(torch.full((32, 64), 0.3))   # a batch of binary data
        >>> loss = rbm.contrastive_divergence(v, steps=1, persistent=True)
        >>> loss.backward(); optimizer.step()
    """

    def __init__(self, visible: int, hidden: int, *, device=None, dtype=None) -> None:
        super().__init__()
        if visible < 1 or hidden < 1:
            raise ValueError(f"RBM: visible and hidden must be >= 1, got visible={visible}, hidden={hidden}")
        factory = {"device": device, "dtype": dtype}
        self.visible = visible
        self.hidden = hidden
        self.weight = nn.Parameter(torch.empty(visible, hidden, **factory))
        self.visible_bias = nn.Parameter(torch.empty(visible, **factory))
        self.hidden_bias = nn.Parameter(torch.empty(hidden, **factory))
        self.register_buffer("persistent_visible", torch.empty(0, visible, **factory))
        self.reset_parameters()

    # ---- initialisation ------------------------------------------------------------------------
    @torch.jit.unused
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """W ~ 0.01 N(0, 1), biases 0, persistent chains cleared."""
        with torch.no_grad():
            self.weight.normal_(0.0, 0.01, generator=generator)
            self.visible_bias.zero_()
            self.hidden_bias.zero_()
        self.persistent_visible = self.persistent_visible.new_empty(0, self.visible)

    @torch.jit.unused
    def init_from_data(self, data: Tensor, pseudocount: float = 1.0) -> "RBM":
        r"""Sets :math:`a_i = \log(p_i/(1-p_i))`, :math:`p_i` the (smoothed) fraction of ``data``
        ``[N, visible]`` rows with unit *i* on (Hinton 2010, section 8.1). Returns ``self``."""
        with torch.no_grad():
            self.visible_bias.copy_(torch.ops.statmech.rbm_base_rate_bias(data.to(self.weight), pseudocount))
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The number of persistent chains is data, not architecture: take it from the checkpoint.
        key = prefix + "persistent_visible"
        if key in state_dict:
            self.persistent_visible = self.persistent_visible.new_empty(state_dict[key].shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"visible={self.visible}, hidden={self.hidden}"

    # ---- energies ------------------------------------------------------------------------------
    def forward(self, visible: Tensor) -> Tensor:
        """Free energy ``[batch]`` of ``visible [batch, visible]``."""
        return self.free_energy(visible)

    @torch.jit.export
    def free_energy(self, visible: Tensor) -> Tensor:
        """F(v) ``[batch]`` of ``visible [batch, visible]`` (differentiable)."""
        return torch.ops.statmech.rbm_free_energy(visible, self.weight, self.visible_bias, self.hidden_bias)

    @torch.jit.export
    def energy(self, visible: Tensor, hidden: Tensor) -> Tensor:
        """E(v, h) ``[batch]`` of ``visible [batch, visible]``, ``hidden [batch, hidden]``."""
        return torch.ops.statmech.rbm_energy(visible, hidden, self.weight, self.visible_bias, self.hidden_bias)

    # ---- conditionals and sampling -------------------------------------------------------------
    @torch.jit.export
    def hidden_probability(self, visible: Tensor) -> Tensor:
        """p(h = 1 | v) = sigmoid(c + vW), ``[batch, hidden]``."""
        return torch.sigmoid(torch.addmm(self.hidden_bias, visible, self.weight))

    @torch.jit.export
    def visible_probability(self, hidden: Tensor) -> Tensor:
        """p(v = 1 | h) = sigmoid(a + h W^T), ``[batch, visible]``."""
        return torch.sigmoid(torch.addmm(self.visible_bias, hidden, self.weight.t()))

    @torch.jit.export
    def sample_h(self, visible: Tensor, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """(h ~ p(h | v), p(h = 1 | v)), each ``[batch, hidden]``."""
        with torch.no_grad():
            _, h, _, p = torch.ops.statmech.rbm_gibbs(
                visible, self.weight, self.visible_bias, self.hidden_bias, 0, generator=generator
            )
        return h, p

    @torch.jit.export
    def sample_v(self, hidden: Tensor, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """(v ~ p(v | h), p(v = 1 | h)), each ``[batch, visible]``."""
        with torch.no_grad():
            # The hidden half-step of the transposed model is the visible half-step of this one.
            _, v, _, p = torch.ops.statmech.rbm_gibbs(
                hidden, self.weight.t(), self.hidden_bias, self.visible_bias, 0, generator=generator
            )
        return v, p

    @torch.jit.export
    def gibbs(
        self, visible: Tensor, steps: int = 1, beta: float = 1.0, generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """``steps`` fused block Gibbs steps from ``visible``; see :func:`statmech.ops.rbm_gibbs`."""
        with torch.no_grad():
            return torch.ops.statmech.rbm_gibbs(
                visible, self.weight, self.visible_bias, self.hidden_bias, steps, beta=beta, generator=generator
            )

    @torch.jit.export
    def initial_visible(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``n`` chain starts drawn from the visible biases alone, v ~ Bernoulli(sigmoid(a))."""
        if n < 0:
            raise ValueError("initial_visible: n (the number of chains) must be >= 0, got " + str(n))
        with torch.no_grad():
            p = torch.sigmoid(self.visible_bias).expand(n, self.visible).contiguous()
            return torch.bernoulli(p, generator=generator)

    @torch.jit.export
    def sample(self, n: int, steps: int = 1000, generator: Optional[torch.Generator] = None) -> Tensor:
        """``n`` samples ``[n, visible]``: chains started by :meth:`initial_visible`, run ``steps``
        Gibbs steps."""
        start = self.initial_visible(n, generator)
        return self.gibbs(start, steps, 1.0, generator)[0]

    @torch.jit.unused
    def parallel_tempering(
        self, visible: Tensor, betas: Tensor, steps: int = 1, generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """See :func:`statmech.ops.rbm_parallel_tempering`; ``visible [replicas, chains, visible]``."""
        with torch.no_grad():
            return torch.ops.statmech.rbm_parallel_tempering(
                visible, self.weight, self.visible_bias, self.hidden_bias, betas.to(self.weight), steps,
                generator=generator,
            )

    # ---- training ------------------------------------------------------------------------------
    @torch.jit.unused
    def contrastive_divergence(
        self, visible: Tensor, steps: int = 1, persistent: bool = False, generator: Optional[torch.Generator] = None
    ) -> Tensor:
        r"""CD-k (``persistent=False``, chains start at the data) or PCD-k (chains kept in
        :attr:`persistent_visible`, started from the first batch) as a loss,

        .. math:: L = \overline{F(v_\text{data})} - \overline{F(v_\text{model})},

        with :math:`v_\text{model}` detached, so that :math:`\nabla_\theta L = \langle \nabla_\theta
        F\rangle_\text{data} - \langle\nabla_\theta F\rangle_\text{model}`, the CD/PCD estimate of the
        gradient of the average negative log-likelihood. ``visible [batch, visible]``; returns a scalar.
        """
        start: Optional[Tensor] = None
        if persistent:
            if self.persistent_visible.shape[0] == 0:
                self.persistent_visible = visible.detach().to(self.weight).clone()
            start = self.persistent_visible
        loss, model_visible = self._contrastive_divergence(visible, start, steps, generator)
        if persistent:
            self.persistent_visible = model_visible
        return loss

    def _contrastive_divergence(
        self, visible: Tensor, start: Optional[Tensor], steps: int, generator: Optional[torch.Generator]
    ) -> Tuple[Tensor, Tensor]:
        # One fused operator: the chain, both free energies and the gradient, each GEMM once.
        return torch.ops.statmech.rbm_contrastive_divergence(
            visible, start, self.weight, self.visible_bias, self.hidden_bias, steps, generator=generator
        )

    # ---- evaluation ----------------------------------------------------------------------------
    @torch.jit.unused
    def reconstruction_error(self, visible: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """Mean squared error between ``visible`` and p(v = 1 | h) (the Gaussian mean), h ~ p(h | v)."""
        with torch.no_grad():
            h, _ = self.sample_h(visible, generator)
            return (self._visible_mean(h) - visible).square().sum(1).mean()

    def _visible_mean(self, hidden: Tensor) -> Tensor:
        return self.visible_probability(hidden)

    @torch.jit.unused
    def pseudo_likelihood(
        self, visible: Tensor, stochastic: bool = False, generator: Optional[torch.Generator] = None
    ) -> Tensor:
        """Log pseudo-likelihood ``[batch]``; see :func:`statmech.ops.rbm_pseudo_likelihood`."""
        return torch.ops.statmech.rbm_pseudo_likelihood(
            visible, self.weight, self.visible_bias, self.hidden_bias, stochastic, generator=generator
        )

    @torch.jit.unused
    def log_partition(self, chunk_size: int = 65536) -> Tensor:
        """Exact log Z (smaller layer at most 25 units); differentiable."""
        return torch.ops.statmech.rbm_log_partition(
            self.weight, self.visible_bias, self.hidden_bias, chunk_size=chunk_size
        )

    @torch.jit.unused
    def ais(
        self,
        data: Optional[Tensor] = None,
        *,
        base_visible_bias: Optional[Tensor] = None,
        betas: Optional[Tensor] = None,
        runs: int = 100,
        generator: Optional[torch.Generator] = None,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """AIS estimate of log Z from the base-rate model of ``data`` (or ``base_visible_bias``;
        neither: the model's own visible biases). Returns float64 ``(log_z, lower, upper)``, the
        bounds at +-3 sigma of the mean importance weight (Salakhutdinov & Murray 2008)."""
        if base_visible_bias is None:
            if data is not None:
                base_visible_bias = torch.ops.statmech.rbm_base_rate_bias(data.to(self.weight), 1.0)
            else:
                base_visible_bias = self.visible_bias.detach()
        with torch.no_grad():
            log_z, lower, upper, _ = torch.ops.statmech.rbm_ais(
                self.weight, self.visible_bias, self.hidden_bias, base_visible_bias.to(self.weight),
                betas, runs, generator=generator,
            )
        return log_z, lower, upper

    @torch.jit.unused
    def log_likelihood(self, visible: Tensor, log_z: Optional[Tensor] = None) -> Tensor:
        """log p(v) = -F(v) - log Z ``[batch]``, with the exact log Z unless ``log_z`` is given
        (e.g. an AIS estimate)."""
        if log_z is None:
            log_z = self.log_partition()
        return -self.free_energy(visible).double() - log_z.double()

    @torch.jit.unused
    def fit(
        self,
        data: Tensor,
        epochs: int = 10,
        batch_size: int = 100,
        *,
        optimizer: Optional[torch.optim.Optimizer] = None,
        lr: float = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        steps: int = 1,
        persistent: bool = True,
        ais_every: int = 0,
        ais_runs: int = 100,
        ais_betas: Optional[Tensor] = None,
        metrics_rows: int = 1000,
        generator: Optional[torch.Generator] = None,
        progress: bool = True,
    ) -> List[Dict[str, float]]:
        """Trains on ``data [N, visible]`` with CD-k or PCD-k (:meth:`contrastive_divergence`).

        Without ``optimizer`` the training is plain SGD (``lr``, ``momentum``, ``weight_decay``, the
        update of ``torch.optim.SGD(self.parameters(), ...)``: weight decay on every parameter,
        biases and a Gaussian model's log variances included) and each epoch is one call of the
        fused operator :func:`statmech.ops.rbm_train_sgd` (chain, gradient and update in C++, about
        the GEMM count of scikit-learn's hand-written update; PCD persists the chains' hidden
        samples between minibatches, as scikit-learn does). With an ``optimizer`` (any
        ``torch.optim`` optimiser, LR schedulers alike) it is the ordinary loop over
        :meth:`contrastive_divergence`.

        Args:
            optimizer: any ``torch.optim`` optimiser over ``self.parameters()``; default: plain SGD.
            lr, momentum, weight_decay: of the default SGD (set them on ``optimizer`` otherwise).
            ais_every: every that many epochs also record the AIS average log-likelihood
                (``0``: never); ``ais_runs``, ``ais_betas`` as in :meth:`ais`.
            metrics_rows: the metrics use the first that many rows (0: loss only).
            generator: drives shuffling and sampling (reproducible runs); on the model's device.
            progress: show a tqdm progress bar.

        Returns:
            one dict per epoch: ``loss``, ``reconstruction_error``, ``pseudo_likelihood`` (mean
            exact log PL per row, Bernoulli models), on the fused path ``train_reconstruction_error``
            (the epoch's mean over its minibatches, before each update) and, on AIS epochs,
            ``ais_log_likelihood``.
        """
        from tqdm.auto import tqdm

        if data.dim() != 2 or data.shape[0] < 1:
            raise ValueError(f"{type(self).__name__}.fit: data must be 2-D [N, visible] with at least one row, "
                             f"got shape {tuple(data.shape)}")
        data = data.to(self.weight)
        fused = optimizer is None and self._fused_sgd
        if optimizer is None and not fused:
            optimizer = torch.optim.SGD(self.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
        elif optimizer is not None and (momentum != 0.0 or weight_decay != 0.0):
            raise ValueError(f"{type(self).__name__}.fit: momentum and weight_decay configure the default SGD; "
                             "set them on the optimizer you pass")
        if fused:
            velocities = [torch.zeros_like(p) for p in self._fused_parameters()]
        history: List[Dict[str, float]] = []
        bar = tqdm(range(epochs), desc=type(self).__name__, disable=not progress)
        held_out = data[:metrics_rows]
        for epoch in bar:
            if fused:
                metrics = {"epoch": float(epoch + 1), **self._fused_sgd_epoch(
                    data, velocities, steps, batch_size, lr, momentum, weight_decay, persistent, metrics_rows > 0,
                    generator)}
            else:
                metrics = {"epoch": float(epoch + 1), "loss": self._loop_epoch(
                    data, optimizer, steps, batch_size, persistent, generator)}
            if metrics_rows > 0:
                metrics.update(self._epoch_metrics(held_out, generator))
            if metrics_rows > 0 and ais_every > 0 and (epoch + 1) % ais_every == 0:
                log_z, _, _ = self.ais(data, betas=ais_betas, runs=ais_runs, generator=generator)
                with torch.no_grad():
                    metrics["ais_log_likelihood"] = float(self.log_likelihood(held_out, log_z).mean())
            history.append(metrics)
            bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items() if k != "epoch"})
        return history

    def _epoch_metrics(self, held_out: Tensor, generator: Optional[torch.Generator]) -> Dict[str, float]:
        with torch.no_grad():
            return {
                "reconstruction_error": float(self.reconstruction_error(held_out, generator)),
                "pseudo_likelihood": float(self.pseudo_likelihood(held_out).mean()),
            }

    # Whether fit's default (plain SGD) runs on rbm_train_sgd.
    _fused_sgd = True

    def _fused_parameters(self) -> List[Tensor]:
        # The parameters rbm_train_sgd updates, in the order of their velocities.
        return [self.weight, self.visible_bias, self.hidden_bias]

    def _fused_variance(self, velocities: List[Tensor]) -> Dict[str, Tensor]:
        # rbm_train_sgd's Gaussian arguments: none for Bernoulli visible units.
        return {}

    def _loop_epoch(self, data, optimizer, steps, batch_size, persistent, generator) -> float:
        n = data.shape[0]
        # randperm on the generator's own device (a CUDA generator cannot drive a CPU draw).
        order_device = generator.device if generator is not None else torch.device("cpu")
        order = torch.randperm(n, generator=generator, device=order_device).to(data.device)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = data[order[start:start + batch_size]]
            optimizer.zero_grad()
            loss = self.contrastive_divergence(batch, steps, persistent, generator)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * batch.shape[0]
        return total / n

    def _fused_sgd_epoch(
        self, data, velocities, steps, batch_size, lr, momentum, weight_decay, persistent, track, generator
    ) -> Dict[str, float]:
        chain_start = self.persistent_visible if persistent and self.persistent_visible.shape[0] > 0 else None
        with torch.no_grad():
            metrics, chain_end = torch.ops.statmech.rbm_train_sgd(
                data, self.weight, self.visible_bias, self.hidden_bias, *velocities[:3], chain_start,
                steps=steps, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                persistent=persistent, epochs=1, track_reconstruction=track, generator=generator,
                **self._fused_variance(velocities),
            )
        if persistent:
            self.persistent_visible = chain_end
        loss, reconstruction = metrics[0].tolist()
        return {"loss": loss, "train_reconstruction_error": reconstruction} if track else {"loss": loss}


class GaussianBernoulliRBM(RBM):
    r"""Gaussian-Bernoulli RBM with learned per-visible variances (Cho, Ilin & Raiko 2011),

    .. math::
        E(v, h) = \sum_i \frac{(v_i - a_i)^2}{2 s_i} - c^\top h - \sum_{ij} \frac{v_i}{s_i} W_{ij} h_j,
        \qquad s_i = e^{z_i},

    with :math:`z` = :attr:`visible_log_variance` the learned parameter (so :math:`s > 0`).
    Conditionals: :math:`p(h_j = 1 \mid v) = \sigma(c_j + \sum_i W_{ij} v_i / s_i)` and
    :math:`p(v_i \mid h) = \mathcal N(a_i + (Wh)_i,\ s_i)`.

    **Free energy and the sign of its quadratic term.** Summing the binary hidden units out,

    .. math::
        \sum_h e^{-E(v,h)} = e^{-\sum_i (v_i - a_i)^2 / (2 s_i)}
            \prod_j \bigl(1 + e^{c_j + \sum_i W_{ij} v_i / s_i}\bigr),

    so :math:`F(v) = -\log \sum_h e^{-E(v,h)}` is

    .. math::
        F(v) = +\sum_i \frac{(v_i - a_i)^2}{2 s_i}
               - \sum_j \operatorname{softplus}\Bigl(c_j + \sum_i \frac{W_{ij} v_i}{s_i}\Bigr).

    The quadratic term enters with a **plus** sign: it is minus the log of the Gaussian factor
    :math:`e^{-(v-a)^2/(2s)}`. With a minus sign :math:`e^{-F(v)}` would grow like
    :math:`e^{v^2/(2s)}` and :math:`p(v)` would not be normalisable. (The tests check F against a
    brute-force sum over h, and the normalisation against quadrature over v.)

    Args and attributes as :class:`RBM`, plus ``visible_log_variance [visible]`` (initialised to 0,
    unit variance; :meth:`init_from_data` sets :math:`a` and :math:`z` to the data's mean and log
    variance).

    :meth:`fit`'s default plain SGD runs each epoch in the fused operator
    :func:`statmech.ops.rbm_train_sgd` with its Gaussian arguments: real-valued data, the visible
    half-step :math:`v \sim \mathcal N(a + Wh, s)`, and :math:`z` updated with the exact CD/PCD
    gradient of :math:`\overline{F(v_\text{data})} - \overline{F(v_\text{model})}`, momentum and weight
    decay as for the other parameters.
    """

    def __init__(self, visible: int, hidden: int, *, device=None, dtype=None) -> None:
        super().__init__(visible, hidden, device=device, dtype=dtype)
        self.visible_log_variance = nn.Parameter(torch.zeros(visible, device=device, dtype=dtype))

    def _fused_parameters(self) -> List[Tensor]:
        return [self.weight, self.visible_bias, self.hidden_bias, self.visible_log_variance]

    def _fused_variance(self, velocities: List[Tensor]) -> Dict[str, Tensor]:
        return {"visible_log_variance": self.visible_log_variance, "visible_log_variance_velocity": velocities[3]}

    @torch.jit.unused
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        super().reset_parameters(generator)
        if hasattr(self, "visible_log_variance"):
            with torch.no_grad():
                self.visible_log_variance.zero_()

    @torch.jit.unused
    def init_from_data(self, data: Tensor, pseudocount: float = 1.0) -> "GaussianBernoulliRBM":
        """Visible biases = the data's mean, log variances = log of its variance (floored at 1e-4)."""
        if data.dim() != 2 or data.shape[0] < 2:
            # The unbiased variance of fewer than two rows is NaN (and the floor keeps NaN).
            raise ValueError(f"GaussianBernoulliRBM.init_from_data: data must be 2-D [N, visible] with at least two "
                             f"rows (a variance), got shape {tuple(data.shape)}")
        with torch.no_grad():
            data = data.to(self.weight)
            self.visible_bias.copy_(data.mean(0))
            self.visible_log_variance.copy_(data.var(0).clamp_min(1e-4).log())
        return self

    @torch.jit.export
    def free_energy(self, visible: Tensor) -> Tensor:
        """F(v) ``[batch]`` (derivation above; differentiable)."""
        return torch.ops.statmech.gaussian_rbm_free_energy(
            visible, self.weight, self.visible_bias, self.hidden_bias, self.visible_log_variance
        )

    @torch.jit.export
    def energy(self, visible: Tensor, hidden: Tensor) -> Tensor:
        return torch.ops.statmech.rbm_energy(
            visible, hidden, self.weight, self.visible_bias, self.hidden_bias,
            visible_log_variance=self.visible_log_variance,
        )

    @torch.jit.export
    def hidden_probability(self, visible: Tensor) -> Tensor:
        """p(h = 1 | v) = sigmoid(c + (v / s) W)."""
        return torch.sigmoid(torch.addmm(self.hidden_bias, visible / self.visible_log_variance.exp(), self.weight))

    @torch.jit.export
    def visible_probability(self, hidden: Tensor) -> Tensor:
        """The mean a + W h of the Gaussian p(v | h) (the name is kept for a uniform interface)."""
        return torch.addmm(self.visible_bias, hidden, self.weight.t())

    @torch.jit.export
    def sample_h(self, visible: Tensor, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        with torch.no_grad():
            _, h, _, p = torch.ops.statmech.rbm_gibbs(
                visible, self.weight, self.visible_bias, self.hidden_bias, 0,
                visible_log_variance=self.visible_log_variance, generator=generator,
            )
        return h, p

    @torch.jit.export
    def sample_v(self, hidden: Tensor, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """(v ~ N(a + W h, s), the mean a + W h)."""
        with torch.no_grad():
            mean = self.visible_probability(hidden)
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
            return mean + noise * (0.5 * self.visible_log_variance).exp(), mean

    @torch.jit.export
    def gibbs(
        self, visible: Tensor, steps: int = 1, beta: float = 1.0, generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        with torch.no_grad():
            return torch.ops.statmech.rbm_gibbs(
                visible, self.weight, self.visible_bias, self.hidden_bias, steps, beta=beta,
                visible_log_variance=self.visible_log_variance, generator=generator,
            )

    @torch.jit.export
    def initial_visible(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``n`` chain starts v ~ N(a, s)."""
        if n < 0:
            raise ValueError("initial_visible: n (the number of chains) must be >= 0, got " + str(n))
        with torch.no_grad():
            noise = torch.randn(n, self.visible, generator=generator, dtype=self.weight.dtype, device=self.weight.device)
            return self.visible_bias + noise * (0.5 * self.visible_log_variance).exp()

    @torch.jit.unused
    def parallel_tempering(
        self, visible: Tensor, betas: Tensor, steps: int = 1, generator: Optional[torch.Generator] = None
    ) -> Tuple[Tensor, Tensor, Tensor]:
        with torch.no_grad():
            return torch.ops.statmech.rbm_parallel_tempering(
                visible, self.weight, self.visible_bias, self.hidden_bias, betas.to(self.weight), steps,
                visible_log_variance=self.visible_log_variance, generator=generator,
            )

    def _visible_mean(self, hidden: Tensor) -> Tensor:
        return self.visible_probability(hidden)

    def _contrastive_divergence(
        self, visible: Tensor, start: Optional[Tensor], steps: int, generator: Optional[torch.Generator]
    ) -> Tuple[Tensor, Tensor]:
        model_visible = self.gibbs(visible.detach() if start is None else start, steps, 1.0, generator)[0].detach()
        return self.free_energy(visible).mean() - self.free_energy(model_visible).mean(), model_visible

    @torch.jit.unused
    def pseudo_likelihood(self, visible, stochastic=False, generator=None):
        raise NotImplementedError("GaussianBernoulliRBM: the pseudo-likelihood is defined here for binary visible units only")

    @torch.jit.unused
    def log_partition(self, chunk_size: int = 65536) -> Tensor:
        """Exact log Z by enumerating the hidden layer (at most 25 units), the visible one integrated out."""
        return torch.ops.statmech.rbm_log_partition(
            self.weight, self.visible_bias, self.hidden_bias,
            visible_log_variance=self.visible_log_variance, chunk_size=chunk_size,
        )

    @torch.jit.unused
    def ais(
        self,
        data: Optional[Tensor] = None,
        *,
        base_visible_bias: Optional[Tensor] = None,
        betas: Optional[Tensor] = None,
        runs: int = 100,
        generator: Optional[torch.Generator] = None,
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """AIS estimate of log Z from the Gaussian base model N(m, s) with free hidden units (the
        model's variances s; m = ``base_visible_bias``, else the mean of ``data``, else the model's
        visible biases). Returns float64 ``(log_z, lower, upper)``, the bounds at +-3 sigma of the
        mean importance weight."""
        if base_visible_bias is None:
            base_visible_bias = data.to(self.weight).mean(0) if data is not None else self.visible_bias.detach()
        with torch.no_grad():
            log_z, lower, upper, _ = torch.ops.statmech.rbm_ais(
                self.weight, self.visible_bias, self.hidden_bias, base_visible_bias.to(self.weight),
                betas, runs, generator=generator, visible_log_variance=self.visible_log_variance,
            )
        return log_z, lower, upper

    def _epoch_metrics(self, held_out: Tensor, generator: Optional[torch.Generator]) -> Dict[str, float]:
        with torch.no_grad():
            return {"reconstruction_error": float(self.reconstruction_error(held_out, generator))}
