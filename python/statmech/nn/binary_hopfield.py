r"""Classical binary Hopfield networks and dense associative memories as ``torch.nn.Module``\ s.

Thin shells over :mod:`statmech.hopfield` (the operators ``torch.ops.statmech.binary_hopfield_*``
and ``dense_memory_*``): the module holds the memory (weights or patterns) as buffers, so it moves
with ``.to()`` and round-trips through ``state_dict``; the dynamics run in C++.
"""

import math
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from statmech import hopfield as _hopfield

__all__ = ["BinaryHopfield", "DenseAssociativeMemory"]


class BinaryHopfield(nn.Module):
    r"""A classical Hopfield network of ``num_neurons`` binary (:math:`\pm 1`) neurons.

    Energy :math:`E(s) = -\tfrac12 s^\top W s + \theta^\top s`; patterns are stored with
    :meth:`store` (``rule``: ``"hebbian"``, ``"storkey"`` or ``"pseudo_inverse"``, see
    :func:`statmech.hopfield.store`) and recalled with :meth:`retrieve` / :meth:`forward`.

    Args:
        num_neurons: N.
        rule: storage rule used by :meth:`store`.
        update: ``"async"`` (random order from the generator; never raises the energy) or
            ``"sync"``.
        max_sweeps: sweep limit of :meth:`retrieve`.

    Buffers:
        weight: ``[N, N]`` couplings (zero diagonal after :meth:`store`).
        threshold: ``[N]`` thresholds :math:`\theta` (zero unless set).

    Shapes: states are ``[batch, N]``; {-1, 1}, {0, 1} and bool states are accepted, outputs are
    :math:`\pm 1` in the buffers' dtype.

    Example::

        >>> net = statmech.nn.BinaryHopfield(100)
        >>> patterns = statmech.hopfield.random_patterns(5, 100)
        >>> net.store(patterns)                     # returns the module
        BinaryHopfield(num_neurons=100, rule='hebbian', update='async', max_sweeps=100)
        >>> torch.equal(net(patterns), patterns)   # stored patterns are fixed points
        True
    """

    def __init__(self, num_neurons: int, rule: str = "hebbian", update: str = "async", max_sweeps: int = 100,
                 device=None, dtype=None) -> None:
        super().__init__()
        if num_neurons < 1:
            raise ValueError(f"BinaryHopfield: num_neurons must be >= 1, got {num_neurons}")
        if rule not in ("hebbian", "storkey", "pseudo_inverse"):
            raise ValueError(f"BinaryHopfield: rule must be 'hebbian', 'storkey' or 'pseudo_inverse', got {rule!r}")
        if update not in ("async", "sync"):
            raise ValueError(f"BinaryHopfield: update must be 'async' or 'sync', got {update!r}")
        if max_sweeps < 0:
            raise ValueError(f"BinaryHopfield: max_sweeps must be >= 0, got {max_sweeps}")
        self.num_neurons = num_neurons
        self.rule = rule
        self.update = update
        self.max_sweeps = max_sweeps
        factory = {"device": device, "dtype": dtype}
        self.register_buffer("weight", torch.empty(num_neurons, num_neurons, **factory))
        self.register_buffer("threshold", torch.empty(num_neurons, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Forget everything: zero weights and thresholds."""
        with torch.no_grad():
            self.weight.zero_()
            self.threshold.zero_()

    @torch.no_grad()
    def store(self, patterns: Tensor) -> "BinaryHopfield":
        """Replace the memory by ``patterns`` ``[P, N]`` with the storage rule; returns ``self``."""
        if patterns.dim() != 2 or patterns.shape[1] != self.num_neurons:
            raise ValueError(f"BinaryHopfield.store: patterns must be [P, {self.num_neurons}], got {list(patterns.shape)}")
        self.weight.copy_(_hopfield.store(patterns.to(self.weight.device), self.rule))
        return self

    def retrieve(self, state: Tensor, update: Optional[str] = None, max_sweeps: Optional[int] = None,
                 generator: Optional[torch.Generator] = None) -> _hopfield.HopfieldRun:
        """Run the dynamics from ``state`` ``[batch, N]``: ``(state, energy, sweeps, converged)``."""
        return _hopfield.run(state, self.weight, self.threshold, update or self.update,
                             self.max_sweeps if max_sweeps is None else max_sweeps, generator)

    def forward(self, state: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """The recalled states ``[batch, N]``."""
        return self.retrieve(state, generator=generator).state

    def energy(self, state: Tensor) -> Tensor:
        """``[batch]`` energies of ``state``."""
        return _hopfield.energy(state, self.weight, self.threshold)

    def sample(self, state: Tensor, temperatures: Sequence[float],
               generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Glauber dynamics, one sweep per temperature: ``(state, energy)``."""
        return _hopfield.glauber(state, self.weight, temperatures, self.threshold, generator)

    def extra_repr(self) -> str:
        return f"num_neurons={self.num_neurons}, rule={self.rule!r}, update={self.update!r}, max_sweeps={self.max_sweeps}"


class DenseAssociativeMemory(nn.Module):
    r"""Dense associative memory of ``num_neurons`` binary neurons (Krotov & Hopfield 2016;
    Demircigil et al. 2017).

    :math:`E(s) = -\sum_\mu F(\xi_\mu \cdot s)` with :math:`F(x) = x^n` (``"polynomial"``),
    :math:`\max(x, 0)^n` (``"rectified_polynomial"``) or :math:`e^{\beta x}` (``"exponential"``).
    For :math:`n \ge 3` it stores far more than the :math:`0.14 N` patterns of the Hebbian network
    (:math:`\propto N^{n-1}`; exponentially many for the exponential F).

    Args:
        num_neurons: N.
        interaction: F, as above.
        degree: n of the polynomial F.
        beta: :math:`\beta` of the exponential F.
        max_sweeps: sweep limit of :meth:`retrieve`.

    Buffers:
        patterns: ``[P, N]`` the stored patterns (``P = 0`` until :meth:`store`).
    """

    def __init__(self, num_neurons: int, interaction: str = "polynomial", degree: int = 3, beta: float = 1.0,
                 max_sweeps: int = 100, device=None, dtype=None) -> None:
        super().__init__()
        if interaction not in ("polynomial", "rectified_polynomial", "exponential"):
            raise ValueError("DenseAssociativeMemory: interaction must be 'polynomial', 'rectified_polynomial' "
                             f"or 'exponential', got {interaction!r}")
        if num_neurons < 0:
            raise ValueError(f"DenseAssociativeMemory: num_neurons must be >= 0, got {num_neurons}")
        if degree < 1:
            raise ValueError(f"DenseAssociativeMemory: degree must be >= 1, got {degree}")
        if not (math.isfinite(beta) and beta > 0):
            raise ValueError(f"DenseAssociativeMemory: beta must be finite and > 0, got {beta}")
        if max_sweeps < 0:
            raise ValueError(f"DenseAssociativeMemory: max_sweeps must be >= 0, got {max_sweeps}")
        self.num_neurons = num_neurons
        self.interaction = interaction
        self.degree = degree
        self.beta = beta
        self.max_sweeps = max_sweeps
        self.register_buffer("patterns", torch.empty(0, num_neurons, device=device, dtype=dtype))

    def reset_parameters(self) -> None:
        """Forget every stored pattern."""
        self.patterns = self.patterns.new_empty(0, self.num_neurons)

    @torch.no_grad()
    def store(self, patterns: Tensor) -> "DenseAssociativeMemory":
        """Replace the memory by ``patterns`` ``[P, N]`` (read as :math:`\\pm 1`); returns ``self``."""
        if patterns.dim() != 2 or patterns.shape[1] != self.num_neurons:
            raise ValueError(f"DenseAssociativeMemory.store: patterns must be [P, {self.num_neurons}], "
                             f"got {list(patterns.shape)}")
        self.patterns = torch.where(patterns > 0, 1.0, -1.0).to(self.patterns)
        return self

    def retrieve(self, state: Tensor, max_sweeps: Optional[int] = None,
                 generator: Optional[torch.Generator] = None) -> _hopfield.HopfieldRun:
        """Asynchronous dynamics from ``state`` ``[batch, N]``: ``(state, energy, sweeps, converged)``."""
        return _hopfield.dense_memory_run(state, self.patterns, self.interaction, self.degree, self.beta,
                                          self.max_sweeps if max_sweeps is None else max_sweeps, generator)

    def forward(self, state: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """The recalled states ``[batch, N]``."""
        return self.retrieve(state, generator=generator).state

    def energy(self, state: Tensor) -> Tensor:
        """``[batch]`` energies of ``state``."""
        return _hopfield.dense_memory_energy(state, self.patterns, self.interaction, self.degree, self.beta)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The number of stored patterns is data: take the buffer's shape from the checkpoint.
        key = prefix + "patterns"
        if key in state_dict:
            self.patterns = self.patterns.new_empty(state_dict[key].shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (f"num_neurons={self.num_neurons}, interaction={self.interaction!r}, degree={self.degree}, "
                f"beta={self.beta}, stored={self.patterns.shape[0]}")
