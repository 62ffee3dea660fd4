"""Modern (continuous) Hopfield operators: retrieval, energy and the sparse separation maps.

Thin wrappers over ``torch.ops.statmech.*`` (kernels, autograd and checks are in C++; see
``ops/hopfield/``). Shapes follow :func:`torch.nn.functional.scaled_dot_product_attention`:
state / query patterns ``[..., L, E]``, stored patterns (keys) ``[..., S, E]``, values
``[..., S, Ev]`` with equal leading (batch, head) dimensions. Masks follow it too: a bool mask is
``True`` where a stored pattern *takes part*, a float mask is added to the scores; either is
broadcastable to ``[..., L, S]``. A query whose every stored pattern is masked out gets all-zero
weights (output 0), on every path and for every separation.

``beta`` is the inverse temperature: a float, a 0-D tensor or one entry per head ``[heads]``
(``heads = query.size(-3)``). It must be positive (checked when it is on the CPU; a CUDA ``beta``
is not read, so no host sync is made).

The layers built on these are :class:`statmech.nn.Hopfield`, :class:`statmech.nn.HopfieldPooling`
and :class:`statmech.nn.HopfieldLayer`.
"""

from typing import Optional, Tuple, Union

import torch
from torch import Tensor

__all__ = ["entmax15", "hopfield_energy", "hopfield_retrieval", "hopfield_retrieval_explicit", "sparsemax"]


def _beta(beta: Union[float, Tensor], like: Tensor) -> Tensor:
    if isinstance(beta, Tensor):
        return beta
    # a 0-D CPU tensor mixes with tensors on any device without a copy
    return torch.tensor(float(beta), dtype=like.dtype)


def hopfield_retrieval(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    beta: Union[float, Tensor],
    update_steps: int = 0,
    eps: float = 0.0,
    mask: Optional[Tensor] = None,
    separation: str = "softmax",
    dropout_p: float = 0.0,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    r"""Modern Hopfield retrieval (Ramsauer et al. 2020, eq. 3, iterated).

    ``update_steps`` times the state patterns are updated,

    .. math:: \xi \leftarrow \operatorname{sep}(\beta\, \xi K^\top + m)\, K,

    a query stopping once its state moves by less than ``eps`` (``eps = 0``: every step runs),
    and the output is :math:`\operatorname{dropout}(\operatorname{sep}(\beta\, \xi K^\top + m))\, V`.
    With ``separation="softmax"`` every step is one
    :func:`~torch.nn.functional.scaled_dot_product_attention` call (fused flash / memory-efficient
    kernels on GPU); ``"sparsemax"`` and ``"entmax15"`` give the sparse modern Hopfield model
    (Hu et al. 2023). With ``update_steps=0`` this is ``scaled_dot_product_attention(query, key,
    value, mask, scale=beta)``.

    The fixed-step path makes no host sync and compiles with ``torch.compile(fullgraph=True)``.
    With ``eps > 0`` stopped queries are frozen; on CPU the loop also ends once all have stopped.

    Args:
        query: ``[..., L, E]`` initial state patterns :math:`\xi`.
        key: ``[..., S, E]`` stored patterns :math:`K`.
        value: ``[..., S, Ev]`` values :math:`V` (``key`` itself for pure retrieval).
        beta: inverse temperature, float, 0-D or ``[heads]``.
        update_steps: number of state updates before the output.
        eps: per-query stopping threshold on :math:`\|\xi_{t+1} - \xi_t\|_2`.
        mask: bool (True = takes part) or float (added), broadcastable to ``[..., L, S]``.
        separation: ``"softmax"``, ``"sparsemax"`` or ``"entmax15"``.
        dropout_p: dropout on the association matrix (pass 0 in evaluation).
        generator: the dropout draws come from it (reproducible); the softmax output step then
            materialises the association matrix instead of calling
            ``scaled_dot_product_attention``, whose dropout draws from the default generator.

    Returns:
        ``[..., L, Ev]``.
    """
    return torch.ops.statmech.hopfield_retrieval(
        query, key, value, _beta(beta, query), update_steps, eps, mask, separation, dropout_p, generator=generator
    )


def hopfield_retrieval_explicit(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    beta: Union[float, Tensor],
    update_steps: int = 0,
    eps: float = 0.0,
    mask: Optional[Tensor] = None,
    separation: str = "softmax",
    dropout_p: float = 0.0,
    generator: Optional[torch.Generator] = None,
) -> Tuple[Tensor, Tensor, Tensor]:
    r""":func:`hopfield_retrieval` with the association matrix materialised.

    Returns:
        ``(output [..., L, Ev], association [..., L, S], state [..., L, E])``: the association
        :math:`\operatorname{sep}(\beta\,\xi K^\top + m)` (before dropout) and the final state
        :math:`\xi` after the update steps. Every output is differentiable. Dropout draws from
        ``generator`` when one is given (reproducible), else from the default generator.
    """
    return torch.ops.statmech.hopfield_retrieval_explicit(
        query, key, value, _beta(beta, query), update_steps, eps, mask, separation, dropout_p, generator=generator
    )


def hopfield_energy(state: Tensor, key: Tensor, beta: Union[float, Tensor], mask: Optional[Tensor] = None) -> Tensor:
    r"""Energy of the modern Hopfield network (Ramsauer et al. 2020, eq. 2) of each state pattern,

    .. math::
        E(\xi) = -\beta^{-1}\log\sum_{i=1}^N e^{\beta k_i^\top\xi + m_i} + \tfrac12\xi^\top\xi
                 + \beta^{-1}\log N + \tfrac12 M^2, \qquad M = \max_i \|k_i\|.

    The softmax update of :func:`hopfield_retrieval` never increases it (their theorem 1). With a
    mask only the patterns taking part enter the sum, :math:`N` and :math:`M` (a float mask
    :math:`m` gives :math:`N = \sum_i e^{m_i}`).

    Args:
        state: ``[..., L, E]`` state patterns.
        key: ``[..., S, E]`` stored patterns.
        beta: inverse temperature, float, 0-D or ``[heads]``.
        mask: bool (True = takes part) or float, broadcastable to ``[..., L, S]``.

    Returns:
        ``[..., L]``; differentiable with respect to ``state``, ``key`` and ``beta``. Undefined
        (NaN) for a state pattern with no stored pattern taking part.
    """
    return torch.ops.statmech.hopfield_energy(state, key, _beta(beta, state), mask)


def sparsemax(input: Tensor, dim: int = -1) -> Tensor:
    r"""Sparsemax (Martins & Astudillo 2016): the Euclidean projection of ``input`` onto the
    probability simplex along ``dim``, :math:`[z - \tau]_+`. Exactly zero outside its support;
    ``-inf`` entries get zero weight. Hand-written backward (C++)."""
    return torch.ops.statmech.sparsemax(input, dim)


def entmax15(input: Tensor, dim: int = -1) -> Tensor:
    r"""1.5-entmax (Peters, Niculae & Martins 2019) along ``dim``: :math:`[z/2 - \tau]_+^2` with
    :math:`\tau` such that the result sums to one. Sparse like sparsemax, smooth like softmax on its
    support. Hand-written backward (C++)."""
    return torch.ops.statmech.entmax15(input, dim)
