r"""Classical binary Hopfield networks, dense associative memories and spin glasses.

Functional tools over the operators ``torch.ops.statmech.binary_hopfield_*``,
``dense_memory_*`` and ``spin_glass_couplings_`` (the modules are
:class:`statmech.nn.BinaryHopfield` and :class:`statmech.nn.DenseAssociativeMemory`).

Conventions shared by every function here:

* spins are :math:`\pm 1`; a state is read as :math:`+1` where it is :math:`> 0` and :math:`-1`
  elsewhere, so ``{-1, 1}``, ``{0, 1}`` and ``bool`` states all work;
* ``weight`` is ``[N, N]`` (one network for the whole batch) or ``[batch, N, N]`` (one per row),
  ``threshold`` ``[N]`` or ``[batch, N]``;
* the energy is :math:`E(s) = -\tfrac12 s^\top W s + \theta^\top s`;
* every update sets :math:`s_i \leftarrow \operatorname{sign}(f_i)` with the local field
  :math:`f_i = \sum_{j \ne i} W_{ij} s_j - \theta_i` (the diagonal is a constant of :math:`E`),
  keeping :math:`s_i` on a tie :math:`f_i = 0`.

All loops over neurons and sweeps run in C++ (one chain per batch row, rows in parallel);
randomness comes from ``generator`` and is reproducible from it.
"""

import math
from typing import List, NamedTuple, Optional, Sequence

import torch
from torch import Tensor

__all__ = [
    "HopfieldRun",
    "TemperingResult",
    "store",
    "energy",
    "run",
    "glauber",
    "anneal",
    "geometric_schedule",
    "parallel_tempering",
    "sk_couplings",
    "overlap",
    "replica_overlaps",
    "dense_memory_energy",
    "dense_memory_run",
    "random_patterns",
]


class HopfieldRun(NamedTuple):
    """Result of :func:`run` and :func:`dense_memory_run`."""

    state: Tensor  #: ``[batch, N]`` final spins (the weight's / patterns' dtype)
    energy: Tensor  #: ``[batch]`` their energies
    sweeps: Tensor  #: ``[batch]`` int64, sweeps that changed the state
    converged: Tensor  #: ``[batch]`` bool, the final state is a fixed point


class TemperingResult(NamedTuple):
    """Result of :func:`parallel_tempering`."""

    state: Tensor  #: ``[batch, replicas, N]`` replica ``r`` at ``temperatures[r]``
    energy: Tensor  #: ``[batch, replicas]``
    best_state: Tensor  #: ``[batch, N]`` lowest energy seen at a sweep boundary
    best_energy: Tensor  #: ``[batch]``
    swap_rate: Tensor  #: ``[batch, replicas - 1]`` accepted fraction of exchanges per pair


def random_patterns(count: int, neurons: int, generator: Optional[torch.Generator] = None,
                    dtype: Optional[torch.dtype] = None, device=None) -> Tensor:
    """``[count, neurons]`` independent unbiased :math:`\\pm 1` patterns."""
    bits = torch.randint(0, 2, (count, neurons), generator=generator, device=device)
    return (2 * bits - 1).to(dtype or torch.get_default_dtype())


def store(patterns: Tensor, rule: str = "hebbian") -> Tensor:
    r"""Weights ``[N, N]`` (zero diagonal) that store ``patterns`` ``[P, N]``.

    * ``"hebbian"``: :math:`W = \frac1N \sum_\mu \xi_\mu \xi_\mu^\top` (Hopfield 1982); capacity
      :math:`\alpha_c \approx 0.138` (Amit, Gutfreund & Sompolinsky 1985);
    * ``"storkey"``: the local, incremental rule of Storkey (1997), capacity about
      :math:`N / \sqrt{2 \ln N}`;
    * ``"pseudo_inverse"``: the projector onto the span of the patterns, :math:`W = X^+ X`
      (Personnaz, Guyon & Dreyfus 1985) with the diagonal removed (Kanter & Sompolinsky 1987):
      every pattern (linearly independent ones, :math:`P < N`) is a fixed point.
    """
    return torch.ops.statmech.binary_hopfield_store(patterns, rule)


def energy(state: Tensor, weight: Tensor, threshold: Optional[Tensor] = None) -> Tensor:
    r""":math:`E(s) = -\tfrac12 s^\top W s + \theta^\top s` for each row of ``state`` ``[batch, N]``."""
    return torch.ops.statmech.binary_hopfield_energy(state, weight, threshold)


def run(state: Tensor, weight: Tensor, threshold: Optional[Tensor] = None, update: str = "async",
        max_sweeps: int = 100, generator: Optional[torch.Generator] = None) -> HopfieldRun:
    """Deterministic dynamics from every row of ``state`` ``[batch, N]`` to a fixed point.

    ``update="async"`` visits the neurons one at a time in a fresh random order per sweep (from
    ``generator``), with the local fields kept up to date incrementally (O(N) per flip); for a
    symmetric ``weight`` the energy never increases and the run ends at a fixed point. Each row
    follows a uniformly random order each sweep; on CPU the rows of a group of 16 consecutive rows
    (``b // 16``) share it and run in lock-step, so that a column of ``weight`` read from memory
    serves the whole group (on CUDA every row draws its own order). Results are reproducible from
    ``generator`` and do not depend on the number of threads.
    ``update="sync"`` updates every neuron at once (it can end in a 2-cycle, reported as
    ``converged=False`` after ``max_sweeps``).
    """
    return HopfieldRun(*torch.ops.statmech.binary_hopfield_run(
        state, weight, threshold, update, max_sweeps, generator=generator))


def glauber(state: Tensor, weight: Tensor, temperatures: Sequence[float], threshold: Optional[Tensor] = None,
            generator: Optional[torch.Generator] = None):
    r"""Heat-bath (Glauber) dynamics: one asynchronous sweep per entry of ``temperatures``.

    Each visit sets :math:`s_i = +1` with probability :math:`1 / (1 + e^{-2 f_i / T})` (a
    deterministic update where :math:`T = 0`). A constant schedule samples :math:`e^{-E/T}`;
    a decreasing one is simulated annealing (see :func:`anneal`). Neuron orders as in
    :func:`run` (shared by groups of 16 rows on CPU); each row has its own heat-bath draws.
    Returns ``(state, energy)``.
    """
    return torch.ops.statmech.binary_hopfield_glauber(
        state, weight, [float(t) for t in temperatures], threshold, generator=generator)


def geometric_schedule(t_start: float, t_end: float, sweeps: int) -> List[float]:
    """``sweeps`` temperatures decreasing geometrically from ``t_start`` to ``t_end``."""
    if not (math.isfinite(t_start) and math.isfinite(t_end) and t_start > 0 and t_end > 0):
        raise ValueError(
            f"geometric_schedule: t_start and t_end must be positive, finite temperatures (a geometric schedule "
            f"never reaches 0), got t_start={t_start}, t_end={t_end}")
    if sweeps < 0:
        raise ValueError(f"geometric_schedule: sweeps must be >= 0, got {sweeps}")
    if sweeps == 1:
        return [float(t_end)]
    ratio = (t_end / t_start) ** (1.0 / (sweeps - 1))
    return [float(t_start * ratio**k) for k in range(sweeps)]


def anneal(state: Tensor, weight: Tensor, t_start: float = 3.0, t_end: float = 0.05, sweeps: int = 1000,
           threshold: Optional[Tensor] = None, quench: bool = True,
           generator: Optional[torch.Generator] = None) -> HopfieldRun:
    """Simulated annealing (Kirkpatrick, Gelatt & Vecchi 1983) over a geometric schedule, then
    (``quench=True``) deterministic asynchronous sweeps to the nearest fixed point."""
    spins, _ = glauber(state, weight, geometric_schedule(t_start, t_end, sweeps), threshold, generator)
    return run(spins, weight, threshold, "async", 1000 if quench else 0, generator)


def parallel_tempering(state: Tensor, weight: Tensor, temperatures: Sequence[float], sweeps: int,
                       threshold: Optional[Tensor] = None,
                       generator: Optional[torch.Generator] = None) -> TemperingResult:
    """Replica-exchange Monte Carlo (Hukushima & Nemoto 1996) on ``state`` ``[batch, replicas, N]``.

    Each round is one heat-bath sweep of every replica followed by exchange attempts between
    neighbouring temperatures. Replicas are returned in temperature order, so calling again with
    the returned ``state`` continues the same chains. Runs on CPU (a fused kernel) and CUDA (heat-bath
    sweeps of :func:`glauber` and exchanges composed of ATen ops), with the same dynamics.
    """
    return TemperingResult(*torch.ops.statmech.binary_hopfield_parallel_tempering(
        state, weight, [float(t) for t in temperatures], sweeps, threshold, generator=generator))


def sk_couplings(n: int, batch: Optional[int] = None, distribution: str = "gaussian",
                 generator: Optional[torch.Generator] = None, dtype: Optional[torch.dtype] = None,
                 device=None) -> Tensor:
    r"""Sherrington-Kirkpatrick couplings ``[n, n]`` (or ``[batch, n, n]``): symmetric, zero
    diagonal, :math:`J_{ij} \sim \mathcal N(0, 1/n)` (``"gaussian"``) or :math:`\pm 1/\sqrt n`
    (``"pm"``). With them :func:`energy` is the SK Hamiltonian
    :math:`H = -\sum_{i<j} J_{ij} s_i s_j`, whose ground-state energy per spin tends to Parisi's
    :math:`e_0 \approx -0.7633` as :math:`n \to \infty`."""
    shape = (n, n) if batch is None else (batch, n, n)
    weight = torch.empty(shape, dtype=dtype or torch.get_default_dtype(), device=device)
    torch.ops.statmech.spin_glass_couplings_(weight, distribution, generator=generator)
    return weight


def overlap(a: Tensor, b: Tensor) -> Tensor:
    r"""Overlap :math:`m = a \cdot b / N` of spin states (last dimension), in ``[-1, 1]``."""
    if a.shape[-1] == 0 or b.shape[-1] == 0:
        raise ValueError("overlap: the states have no neurons (last dimension 0); the overlap a.b / N is undefined")
    a = torch.where(a > 0, 1.0, -1.0)
    b = torch.where(b > 0, 1.0, -1.0)
    return (a * b).mean(-1)


def replica_overlaps(states: Tensor) -> Tensor:
    r"""Overlaps :math:`q_{ab} = s_a \cdot s_b / N` of every pair :math:`a < b` of replicas in
    ``states`` ``[..., replicas, N]``: ``[..., replicas (replicas - 1) / 2]``. Their histogram over
    samples and disorder is the overlap distribution :math:`P(q)` (Parisi 1983)."""
    if states.dim() < 2 or states.shape[-1] == 0:
        raise ValueError(
            f"replica_overlaps: states must be [..., replicas, N] with N >= 1, got shape {tuple(states.shape)}")
    s = torch.where(states > 0, 1.0, -1.0)
    q = s @ s.transpose(-2, -1) / s.shape[-1]
    r = s.shape[-2]
    i, j = torch.triu_indices(r, r, 1, device=s.device)
    return q[..., i, j]


def dense_memory_energy(state: Tensor, patterns: Tensor, interaction: str = "polynomial", degree: int = 3,
                        beta: float = 1.0) -> Tensor:
    r"""Dense associative memory energy :math:`E(s) = -\sum_\mu F(\xi_\mu \cdot s)` ``[batch]``.

    ``F(x) = x**degree`` (``"polynomial"``), ``max(x, 0)**degree`` (``"rectified_polynomial"``;
    Krotov & Hopfield 2016) or ``exp(beta * x)`` (``"exponential"``; Demircigil et al. 2017).
    ``patterns`` is ``[P, N]`` (float32/float64). The energy is computed in float64 and rounded
    to the patterns' dtype: where its magnitude is beyond that dtype's range it is ``-inf`` (``+inf``
    for an odd degree), e.g. the exponential ``F`` once ``beta * N`` passes ~88 (float32) or ~709
    (float64). :func:`dense_memory_run` decides from energy differences in a scaled form that stays
    finite, so its dynamics are not affected.
    """
    return torch.ops.statmech.dense_memory_energy(state, patterns, interaction, degree, beta)


def dense_memory_run(state: Tensor, patterns: Tensor, interaction: str = "polynomial", degree: int = 3,
                     beta: float = 1.0, max_sweeps: int = 100,
                     generator: Optional[torch.Generator] = None) -> HopfieldRun:
    """Asynchronous dynamics of a dense associative memory to a fixed point: each visit sets the
    neuron to the value of lower energy (from overlaps kept up to date incrementally, O(P) per
    visit)."""
    return HopfieldRun(*torch.ops.statmech.dense_memory_run(
        state, patterns, interaction, degree, beta, max_sweeps, generator=generator))
