"""Modern Hopfield layers (Ramsauer et al. 2020, "Hopfield Networks is All You Need").

:class:`Hopfield` (multi-head association of state patterns with stored patterns),
:class:`HopfieldPooling` (learned state patterns pool a set) and :class:`HopfieldLayer` (learned
stored patterns: a memory / lookup layer), built on ``torch.ops.statmech.hopfield_retrieval``
(see :mod:`statmech.modern_hopfield`). The C++ modules ``statmech::nn::Hopfield`` & co. have the
same options, defaults, parameter names and outputs. Every module is scriptable with
``torch.jit.script``.

:func:`hopfield_from_hflayers`, :func:`hopfield_pooling_from_hflayers` and
:func:`hopfield_layer_from_hflayers` build our modules from a ``hflayers`` / ``difflayers``
``Hopfield``, ``HopfieldPooling`` and ``HopfieldLayer``, copying their weights (see the migration
table in the README).
"""

import math
from typing import List, Optional, Sequence, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "Hopfield", "HopfieldLayer", "HopfieldPooling", "hopfield_from_hflayers", "hopfield_layer_from_hflayers",
    "hopfield_pooling_from_hflayers",
]

_SEPARATIONS = ("softmax", "sparsemax", "entmax15")


def _inverse_softplus(y: float) -> float:
    return y if y > 20 else math.log(math.expm1(y))


class Hopfield(nn.Module):
    r"""Multi-head modern Hopfield association.

    Each head projects the state patterns :math:`\xi = W_Q s`, the stored patterns
    :math:`K = W_K y` and the values :math:`V = W_V y'` (each projection can be switched off, in
    which case the raw patterns serve every head), runs ``update_steps`` updates
    :math:`\xi \leftarrow \operatorname{sep}(\beta\,\xi K^\top) K` and returns
    :math:`\operatorname{sep}(\beta\,\xi K^\top) V`; the heads are concatenated and projected to
    ``output_size``. With one head, no projections and ``update_steps=0`` this is
    ``F.scaled_dot_product_attention(state, stored, value, scale=beta)``.

    Args:
        input_size: size of the state patterns.
        hidden_size: size of each head's association space; default ``input_size // num_heads``
            (the raw size when the state or stored projection is off).
        output_size: output size; default ``input_size`` (without the output projection the
            output is ``num_heads * pattern_size``).
        pattern_size: size of each head's values; default ``hidden_size`` (``value_size`` without
            the value projection).
        num_heads: number of heads.
        stored_size: size of the stored patterns; default ``input_size``.
        value_size: size of the values; default ``stored_size``.
        beta: inverse temperature, one float or one per head; default ``1 / sqrt(hidden_size)``.
        learn_beta: learn beta (one per head, kept positive as ``softplus(raw_beta)``).
        update_steps: state updates before the output (0: one attention step).
        eps: a query stops updating once its state moves by less than ``eps`` (0: never).
        separation: ``"softmax"``, ``"sparsemax"`` or ``"entmax15"`` (Hu et al. 2023).
        dropout: dropout on the association matrix, in training mode; it draws from the
            ``generator`` given to :meth:`forward`, else from the default generator.
        state_projection, stored_projection, value_projection, out_projection: switch the
            projections on or off.
        bias: biases in the projections.
        normalize_state, normalize_stored, normalize_value: LayerNorm on the raw inputs (off by
            default; hflayers has them on).
        batch_first: inputs are ``[B, L, D]`` (else ``[L, B, D]``).

    Shapes (``batch_first=True``):
        - state: ``[B, L, input_size]``; stored: ``[B, S, stored_size]`` (default: ``state``);
          value: ``[B, S, value_size]`` (default: ``stored``).
        - mask: broadcastable to ``[B, num_heads, L, S]``; bool ``True`` = takes part (the
          convention of ``scaled_dot_product_attention``), or float, added to the scores.
        - stored_mask: ``[B, S]`` bool, ``True`` = the stored pattern takes part.
        - output: ``[B, L, output_size]``.
    """

    __constants__ = [
        "input_size", "head_dim", "pattern_dim", "num_heads", "update_steps", "eps", "separation", "dropout",
        "state_projection", "stored_projection", "value_projection", "out_projection", "learn_beta", "batch_first",
    ]

    def __init__(
        self,
        input_size: int,
        hidden_size: Optional[int] = None,
        output_size: Optional[int] = None,
        pattern_size: Optional[int] = None,
        num_heads: int = 1,
        stored_size: Optional[int] = None,
        value_size: Optional[int] = None,
        beta: Union[None, float, Sequence[float]] = None,
        learn_beta: bool = False,
        update_steps: int = 0,
        eps: float = 0.0,
        separation: str = "softmax",
        dropout: float = 0.0,
        state_projection: bool = True,
        stored_projection: bool = True,
        value_projection: bool = True,
        out_projection: bool = True,
        bias: bool = True,
        normalize_state: bool = False,
        normalize_stored: bool = False,
        normalize_value: bool = False,
        batch_first: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        name = "statmech.nn.Hopfield"
        if input_size <= 0:
            raise ValueError(f"{name}: input_size must be > 0, got {input_size}")
        if num_heads <= 0:
            raise ValueError(f"{name}: num_heads must be > 0, got {num_heads}")
        stored_size = input_size if stored_size is None else stored_size
        value_size = stored_size if value_size is None else value_size
        if hidden_size is not None:
            head_dim = hidden_size
        elif not state_projection:
            head_dim = input_size
        elif not stored_projection:
            head_dim = stored_size
        else:
            if input_size % num_heads != 0:
                raise ValueError(
                    f"{name}: input_size ({input_size}) must be divisible by num_heads ({num_heads}) "
                    "unless hidden_size is given"
                )
            head_dim = input_size // num_heads
        if head_dim <= 0:
            raise ValueError(f"{name}: hidden_size must be > 0, got {head_dim}")
        if not state_projection and input_size != head_dim:
            raise ValueError(
                f"{name}: without the state projection the head dimension hidden_size ({head_dim}) "
                f"must equal input_size ({input_size})"
            )
        if not stored_projection and stored_size != head_dim:
            raise ValueError(
                f"{name}: without the stored projection the head dimension hidden_size ({head_dim}) "
                f"must equal stored_size ({stored_size})"
            )
        pattern_dim = pattern_size if pattern_size is not None else (head_dim if value_projection else value_size)
        if pattern_dim <= 0:
            raise ValueError(f"{name}: pattern_size must be > 0, got {pattern_dim}")
        if not value_projection and value_size != pattern_dim:
            raise ValueError(
                f"{name}: without the value projection pattern_size ({pattern_dim}) must equal value_size ({value_size})"
            )
        if update_steps < 0:
            raise ValueError(f"{name}: update_steps must be >= 0, got {update_steps}")
        if not eps >= 0:  # NaN fails too
            raise ValueError(f"{name}: eps must be >= 0, got {eps}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        if separation not in _SEPARATIONS:
            raise ValueError(f'{name}: separation must be "softmax", "sparsemax" or "entmax15", got "{separation}"')
        if beta is None:
            betas = [1.0 / math.sqrt(head_dim)] * num_heads
        elif isinstance(beta, (int, float)):
            betas = [float(beta)] * num_heads
        else:
            betas = [float(b) for b in beta]
            if len(betas) != num_heads:
                raise ValueError(f"{name}: beta must have one entry per head ({num_heads}), got {len(betas)}")
        for b in betas:
            if not (b > 0 and math.isfinite(b)):
                raise ValueError(f"{name}: beta must be > 0 (an inverse temperature), got {b}")

        self.input_size = input_size
        self.stored_size = stored_size
        self.value_size = value_size
        self.head_dim = head_dim
        self.pattern_dim = pattern_dim
        self.num_heads = num_heads
        self.update_steps = update_steps
        self.eps = float(eps)
        self.separation = separation
        self.dropout = float(dropout)
        self.state_projection = state_projection
        self.stored_projection = stored_projection
        self.value_projection = value_projection
        self.out_projection = out_projection
        self.learn_beta = learn_beta
        self.batch_first = batch_first
        self.output_size = (input_size if output_size is None else output_size) if out_projection else num_heads * pattern_dim

        if learn_beta:
            self.raw_beta = nn.Parameter(torch.tensor([_inverse_softplus(b) for b in betas], **factory))
            self.register_buffer("beta", None)
        else:
            self.register_parameter("raw_beta", None)
            self.register_buffer("beta", torch.tensor(betas, **factory))

        hidden = num_heads * head_dim
        self.state_proj = nn.Linear(input_size, hidden, bias=bias, **factory) if state_projection else nn.Identity()
        self.stored_proj = nn.Linear(stored_size, hidden, bias=bias, **factory) if stored_projection else nn.Identity()
        self.value_proj = (
            nn.Linear(value_size, num_heads * pattern_dim, bias=bias, **factory) if value_projection else nn.Identity()
        )
        self.out_proj = (
            nn.Linear(num_heads * pattern_dim, self.output_size, bias=bias, **factory) if out_projection else nn.Identity()
        )
        self.state_norm = nn.LayerNorm(input_size, **factory) if normalize_state else nn.Identity()
        self.stored_norm = nn.LayerNorm(stored_size, **factory) if normalize_stored else nn.Identity()
        self.value_norm = nn.LayerNorm(value_size, **factory) if normalize_value else nn.Identity()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projection weights and zero biases (like ``nn.MultiheadAttention``);
        LayerNorms to identity. beta keeps its value."""
        for proj in (self.state_proj, self.stored_proj, self.value_proj, self.out_proj):
            if isinstance(proj, nn.Linear):
                nn.init.xavier_uniform_(proj.weight)
                if proj.bias is not None:
                    nn.init.zeros_(proj.bias)
        for norm in (self.state_norm, self.stored_norm, self.value_norm):
            if isinstance(norm, nn.LayerNorm):
                norm.reset_parameters()

    def extra_repr(self) -> str:
        off = [
            n for n, on in (
                ("state", self.state_projection), ("stored", self.stored_projection),
                ("value", self.value_projection), ("out", self.out_projection),
            ) if not on
        ]
        return (
            f"input_size={self.input_size}, num_heads={self.num_heads}, hidden_size={self.head_dim}, "
            f"pattern_size={self.pattern_dim}, output_size={self.output_size}, update_steps={self.update_steps}, "
            f"separation={self.separation!r}"
            + (f", eps={self.eps}" if self.eps > 0 else "")
            + (", learn_beta=True" if self.learn_beta else "")
            + (f", projections_off={off}" if off else "")
        )

    def effective_beta(self) -> Tensor:
        """The inverse temperature of each head, ``[num_heads]``."""
        if self.learn_beta:
            raw = self.raw_beta
            assert raw is not None
            return F.softplus(raw)
        beta = self.beta
        assert beta is not None
        return beta

    def _heads(self, x: Tensor, projected: bool, dim: int) -> Tensor:
        if projected:
            return x.reshape(x.shape[0], x.shape[1], self.num_heads, dim).transpose(1, 2)
        return x.unsqueeze(1).expand(x.shape[0], self.num_heads, x.shape[1], x.shape[2])

    def _project(
        self,
        state: Tensor,
        stored: Optional[Tensor],
        value: Optional[Tensor],
        need_value: bool,
        mask: Optional[Tensor],
        stored_mask: Optional[Tensor],
    ):
        if state.dim() != 3:
            raise ValueError(
                f"statmech.nn.Hopfield: state must be 3-D [B, L, input_size] (batch_first) or [L, B, input_size], "
                f"got shape {list(state.shape)}"
            )
        s = state if self.batch_first else state.transpose(0, 1)
        k = s
        if stored is not None:
            k = stored if self.batch_first else stored.transpose(0, 1)
        v = k
        if value is not None:
            v = value if self.batch_first else value.transpose(0, 1)
        for name, x, size in (("state", s, self.input_size), ("stored", k, self.stored_size), ("value", v, self.value_size)):
            if (need_value or name != "value") and (x.dim() != 3 or x.shape[2] != size):
                raise ValueError(
                    f"statmech.nn.Hopfield: {name} must be 3-D with {size} features in its last dimension, "
                    f"got shape {list(x.shape)}"
                )
        q_heads = self._heads(self.state_proj(self.state_norm(s)), self.state_projection, self.head_dim)
        k_heads = self._heads(self.stored_proj(self.stored_norm(k)), self.stored_projection, self.head_dim)
        v_heads = k_heads
        if need_value:
            v_heads = self._heads(self.value_proj(self.value_norm(v)), self.value_projection, self.pattern_dim)
        combined = mask
        if stored_mask is not None:
            if stored_mask.dtype != torch.bool or stored_mask.shape != (k.shape[0], k.shape[1]):
                raise ValueError(
                    f"statmech.nn.Hopfield: stored_mask must be a bool tensor [B, S] = [{k.shape[0]}, {k.shape[1]}], "
                    f"got {stored_mask.dtype} of shape {list(stored_mask.shape)}"
                )
            takes_part = stored_mask.view(k.shape[0], 1, 1, k.shape[1])
            if combined is None:
                combined = takes_part
            elif combined.dtype == torch.bool:
                combined = combined & takes_part
            else:
                combined = combined.masked_fill(~takes_part, float("-inf"))
        return q_heads, k_heads, v_heads, combined

    def forward(
        self,
        state: Tensor,
        stored: Optional[Tensor] = None,
        value: Optional[Tensor] = None,
        mask: Optional[Tensor] = None,
        stored_mask: Optional[Tensor] = None,
        generator: Optional[torch.Generator] = None,
    ) -> Tensor:
        """Retrieve: ``[B, L, output_size]`` (see the class docstring for the shapes).

        ``generator``: where the association dropout (training mode, ``dropout > 0``) draws from;
        the default generator when None. With a generator the softmax output step is computed
        explicitly instead of by ``scaled_dot_product_attention``, whose dropout takes none.
        """
        q, k, v, m = self._project(state, stored, value, True, mask, stored_mask)
        retrieved = torch.ops.statmech.hopfield_retrieval(
            q, k, v, self.effective_beta(), self.update_steps, self.eps, m, self.separation,
            self.dropout if self.training else 0.0, generator,
        )
        out = self.out_proj(retrieved.transpose(1, 2).reshape(q.shape[0], q.shape[2], self.num_heads * self.pattern_dim))
        return out if self.batch_first else out.transpose(0, 1)

    def association(
        self,
        state: Tensor,
        stored: Optional[Tensor] = None,
        mask: Optional[Tensor] = None,
        stored_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """The association matrix after the update steps, ``[B, num_heads, L, S]`` (no dropout)."""
        q, k, v, m = self._project(state, stored, None, False, mask, stored_mask)
        return torch.ops.statmech.hopfield_retrieval_explicit(
            q, k, k, self.effective_beta(), self.update_steps, self.eps, m, self.separation, 0.0
        )[1]

    def energy(
        self,
        state: Tensor,
        stored: Optional[Tensor] = None,
        mask: Optional[Tensor] = None,
        stored_mask: Optional[Tensor] = None,
    ) -> Tensor:
        """Ramsauer et al. eq. 2 of each projected state pattern (before the updates) with respect to
        the projected stored patterns of its head: ``[B, num_heads, L]``."""
        q, k, v, m = self._project(state, stored, None, False, mask, stored_mask)
        return torch.ops.statmech.hopfield_energy(q, k, self.effective_beta(), m)


class HopfieldPooling(nn.Module):
    r"""Hopfield pooling: ``num_queries`` learned state patterns retrieve from a set of stored
    patterns, turning ``[B, S, stored_size]`` into ``[B, num_queries, output_size]`` (hflayers
    returns it flattened, ``[B, num_queries * output_size]``).

    Takes every argument of :class:`Hopfield` (``input_size`` is the size of the learned queries).
    The learned queries are the parameter ``queries`` ``[num_queries, input_size]``; they pass
    through the state projection like any state pattern.

    Shapes (``batch_first=True``): stored ``[B, S, stored_size]``, value ``[B, S, value_size]``
    (default: stored), mask broadcastable to ``[B, num_heads, num_queries, S]``, stored_mask
    ``[B, S]`` bool (True = takes part; use it for bags of different sizes); output
    ``[B, num_queries, output_size]``.
    """

    def __init__(self, input_size: int, num_queries: int = 1, **hopfield_kwargs) -> None:
        super().__init__()
        if num_queries <= 0:
            raise ValueError(f"statmech.nn.HopfieldPooling: num_queries must be > 0, got {num_queries}")
        factory = {"device": hopfield_kwargs.get("device"), "dtype": hopfield_kwargs.get("dtype")}
        self.hopfield = Hopfield(input_size, **hopfield_kwargs)
        self.num_queries = num_queries
        self.batch_first: bool = self.hopfield.batch_first
        self.queries = nn.Parameter(torch.empty(num_queries, input_size, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Queries ~ N(0, 1 / input_size); the Hopfield layer as in :meth:`Hopfield.reset_parameters`."""
        self.hopfield.reset_parameters()
        nn.init.normal_(self.queries, 0.0, 1.0 / math.sqrt(self.queries.shape[1]))

    def extra_repr(self) -> str:
        return f"num_queries={self.num_queries}"

    def _queries(self, stored: Tensor) -> Tensor:
        batch = stored.shape[0] if self.batch_first else stored.shape[1]
        q = self.queries.unsqueeze(0).expand(batch, self.queries.shape[0], self.queries.shape[1])
        return q if self.batch_first else q.transpose(0, 1)

    def forward(
        self,
        stored: Tensor,
        value: Optional[Tensor] = None,
        mask: Optional[Tensor] = None,
        stored_mask: Optional[Tensor] = None,
        generator: Optional[torch.Generator] = None,
    ) -> Tensor:
        """Pool: ``[B, num_queries, output_size]``; ``generator`` as in :meth:`Hopfield.forward`."""
        return self.hopfield(self._queries(stored), stored, value, mask, stored_mask, generator)

    def association(self, stored: Tensor, mask: Optional[Tensor] = None, stored_mask: Optional[Tensor] = None) -> Tensor:
        """``[B, num_heads, num_queries, S]``: how much each stored pattern enters each pooled vector."""
        return self.hopfield.association(self._queries(stored), stored, mask, stored_mask)

    def energy(self, stored: Tensor, mask: Optional[Tensor] = None, stored_mask: Optional[Tensor] = None) -> Tensor:
        """``[B, num_heads, num_queries]``: the energy of each projected learned query."""
        return self.hopfield.energy(self._queries(stored), stored, mask, stored_mask)


class HopfieldLayer(nn.Module):
    r"""A memory / lookup layer: ``num_patterns`` learned stored patterns (parameter ``patterns``
    ``[num_patterns, stored_size]``) that every state pattern retrieves from. With
    ``separate_values=True`` the values are learned too (``values [num_patterns, value_size]``);
    otherwise the patterns are their own values.

    Takes every argument of :class:`Hopfield`. Shapes (``batch_first=True``): state
    ``[B, L, input_size]``, mask broadcastable to ``[B, num_heads, L, num_patterns]``, output
    ``[B, L, output_size]``.
    """

    def __init__(self, input_size: int, num_patterns: int, separate_values: bool = False, **hopfield_kwargs) -> None:
        super().__init__()
        if num_patterns <= 0:
            raise ValueError(f"statmech.nn.HopfieldLayer: num_patterns must be > 0, got {num_patterns}")
        factory = {"device": hopfield_kwargs.get("device"), "dtype": hopfield_kwargs.get("dtype")}
        self.hopfield = Hopfield(input_size, **hopfield_kwargs)
        self.num_patterns = num_patterns
        self.batch_first: bool = self.hopfield.batch_first
        self.patterns = nn.Parameter(torch.empty(num_patterns, self.hopfield.stored_size, **factory))
        if separate_values:
            self.values = nn.Parameter(torch.empty(num_patterns, self.hopfield.value_size, **factory))
        else:
            if self.hopfield.value_size != self.hopfield.stored_size:
                raise ValueError(
                    "statmech.nn.HopfieldLayer: without separate_values the patterns are their own values, so "
                    f"value_size ({self.hopfield.value_size}) must equal stored_size ({self.hopfield.stored_size})"
                )
            self.register_parameter("values", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Patterns (and values) ~ N(0, 1 / size); the Hopfield layer as in :meth:`Hopfield.reset_parameters`."""
        self.hopfield.reset_parameters()
        nn.init.normal_(self.patterns, 0.0, 1.0 / math.sqrt(self.patterns.shape[1]))
        if self.values is not None:
            nn.init.normal_(self.values, 0.0, 1.0 / math.sqrt(self.values.shape[1]))

    def extra_repr(self) -> str:
        return f"num_patterns={self.num_patterns}, separate_values={self.values is not None}"

    def _expand(self, t: Tensor, batch: int) -> Tensor:
        e = t.unsqueeze(0).expand(batch, t.shape[0], t.shape[1])
        return e if self.batch_first else e.transpose(0, 1)

    def forward(self, state: Tensor, mask: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> Tensor:
        """Look up: ``[B, L, output_size]``; ``generator`` as in :meth:`Hopfield.forward`."""
        batch = state.shape[0] if self.batch_first else state.shape[1]
        stored = self._expand(self.patterns, batch)
        values = self.values
        value = stored if values is None else self._expand(values, batch)
        return self.hopfield(state, stored, value, mask, None, generator)

    def association(self, state: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """``[B, num_heads, L, num_patterns]``."""
        batch = state.shape[0] if self.batch_first else state.shape[1]
        return self.hopfield.association(state, self._expand(self.patterns, batch), mask)

    def energy(self, state: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """``[B, num_heads, L]``."""
        batch = state.shape[0] if self.batch_first else state.shape[1]
        return self.hopfield.energy(state, self._expand(self.patterns, batch), mask)


def hopfield_from_hflayers(theirs: nn.Module) -> Hopfield:
    """Build a :class:`Hopfield` that computes what a ``hflayers.Hopfield`` / ``difflayers.Hopfield``
    computes, copying its weights.

    Their input LayerNorms become ``normalize_state / normalize_stored / normalize_value`` (a
    non-affine LayerNorm becomes an affine one at weight 1, bias 0), their static patterns
    (``*_as_static``) switched-off projections, their ``scaling`` our ``beta`` and
    ``update_steps_max`` our ``update_steps``. Their call ``theirs((stored, state, value))``
    becomes ``ours(state, stored, value)``; their masks are True where a pattern is *ignored*, ours
    where it *takes part*: pass ``stored_mask=~stored_pattern_padding_mask`` and
    ``mask=~association_mask`` (float masks unchanged).

    They stop iterating a head once the whole association matrix changes by less than
    ``update_steps_eps`` (over all queries of the batch); ours runs exactly ``update_steps`` steps
    (``eps=0``), so with ``update_steps_max > 0`` the two agree where theirs did not stop early.

    Raises ``NotImplementedError`` for what has no counterpart here: LayerNorm in the Hopfield
    space, concatenated bias patterns, zero association, connected value projections, an
    association activation, unbounded or per-head update steps, unequal per-head scalings (which
    hflayers broadcasts over features, not heads), and static patterns with more than one head
    (which hflayers tiles in a different batch order than its projected patterns).
    """
    return _from_hflayers(theirs, Hopfield, "hopfield_from_hflayers")


def _from_hflayers(theirs: nn.Module, build, name: str):
    """Checks a hflayers ``Hopfield`` for options without a counterpart, calls
    ``build(input_size, **Hopfield_kwargs)`` and copies the weights into its :class:`Hopfield`
    (the result itself or its ``hopfield`` submodule)."""
    core = theirs.association_core

    def unsupported(what: str):
        raise NotImplementedError(f"{name}: {what} has no counterpart in statmech.nn.Hopfield")

    if core.normalize_pattern:
        unsupported("normalize_hopfield_space=True (LayerNorm in the Hopfield space)")
    if core.bias_k is not None or core.bias_v is not None:
        unsupported("concat_bias_pattern=True")
    if core.add_zero_attn:
        unsupported("add_zero_association=True")
    if core.value_as_connected:
        unsupported("pattern_projection_as_connected=True")
    if getattr(theirs, "association_activation", None) is not None:
        unsupported("association_activation")
    if core.static_execution:
        unsupported("a fully static layer (no projections at all: use the operators directly)")
    steps = theirs.update_steps_max
    if not isinstance(steps, int) or steps < 0:
        unsupported(f"update_steps_max={steps!r} (only a fixed non-negative int)")
    scaling = theirs.scaling
    if isinstance(scaling, Tensor):
        if scaling.numel() > 1 and not bool((scaling == scaling.flatten()[0]).all()):
            unsupported("a per-head scaling with unequal entries (hflayers applies it per feature)")
        scaling = float(scaling.flatten()[0])
    heads = core.num_heads
    static_q, static_k, static_v = core.query_as_static, core.key_as_static, core.value_as_static
    if heads > 1 and (static_q or static_k or static_v):
        unsupported("static patterns with num_heads > 1")
    out = core.out_proj
    bias = (out.bias is not None) if out is not None else (core.in_proj_bias is not None)

    norms = {}
    for ours_name, their_norm in (
        ("normalize_state", theirs.norm_state_pattern),
        ("normalize_stored", theirs.norm_stored_pattern),
        ("normalize_value", theirs.norm_pattern_projection),
    ):
        norms[ours_name] = their_norm is not None
    device = next(iter(theirs.parameters()), torch.empty(0)).device
    dtype = next(iter(theirs.parameters()), torch.empty(0)).dtype
    ours = build(
        core.embed_dim,
        hidden_size=core.head_dim,
        output_size=core.out_dim if out is not None else None,
        pattern_size=core.pattern_dim,
        num_heads=heads,
        stored_size=core.kdim,
        value_size=core.vdim,
        beta=float(scaling),
        update_steps=steps,
        dropout=float(core.dropout),
        state_projection=not static_q,
        stored_projection=not static_k,
        value_projection=not static_v,
        out_projection=out is not None,
        bias=bias,
        batch_first=theirs.batch_first,
        device=device,
        dtype=dtype,
        **norms,
    )

    built = ours
    ours = built if isinstance(built, Hopfield) else built.hopfield
    with torch.no_grad():
        hidden, values = heads * core.head_dim, heads * core.pattern_dim
        if core._qkv_same_embed_dim:
            packed = core.in_proj_weight
            rows = []
            start = 0
            for static, size in ((static_q, hidden), (static_k, hidden), (static_v, values)):
                rows.append(None if static else packed[start:start + size])
                start += 0 if static else size
            weights = rows
        else:
            weights = [core.q_proj_weight, core.k_proj_weight, core.v_proj_weight]
        biases: List[Optional[Tensor]] = [None, None, None]
        if core.in_proj_bias is not None:
            start = 0
            for i, (static, size) in enumerate(((static_q, hidden), (static_k, hidden))):
                if not static:
                    biases[i] = core.in_proj_bias[start:start + size]
                    start += size
            biases[2] = core.in_proj_bias[start:start + values]
        for proj, weight, b in zip((ours.state_proj, ours.stored_proj, ours.value_proj), weights, biases):
            if isinstance(proj, nn.Linear):
                proj.weight.copy_(weight)
                if proj.bias is not None:
                    if b is None:
                        proj.bias.zero_()
                    else:
                        proj.bias.copy_(b)
        if out is not None:
            ours.out_proj.weight.copy_(out.weight)
            if out.bias is not None:
                ours.out_proj.bias.copy_(out.bias)
        for ours_norm, their_norm in (
            (ours.state_norm, theirs.norm_state_pattern),
            (ours.stored_norm, theirs.norm_stored_pattern),
            (ours.value_norm, theirs.norm_pattern_projection),
        ):
            if their_norm is not None:
                ours_norm.eps = their_norm.eps
                if their_norm.elementwise_affine:
                    ours_norm.weight.copy_(their_norm.weight)
                    ours_norm.bias.copy_(their_norm.bias)
    built.train(theirs.training)
    return built


def _learned_patterns(weights: Tensor, size: int, what: str, name: str) -> Tensor:
    """hflayers keeps learned patterns as ``[1, quantity, size]`` (batch_first) or
    ``[quantity, 1, size]``; ours are ``[quantity, size]``."""
    if weights.shape[-1] != size:
        raise NotImplementedError(
            f"{name}: their {what} have {weights.shape[-1]} features but the migrated layer takes {size} "
            "(a static projection with hidden_size != the input size has no counterpart)"
        )
    return weights.reshape(-1, size)


def hopfield_pooling_from_hflayers(theirs: nn.Module) -> HopfieldPooling:
    """Build a :class:`HopfieldPooling` that computes what a ``hflayers.HopfieldPooling`` /
    ``difflayers.HopfieldPooling`` computes, copying its weights: their ``pooling_weights``
    ``[1, quantity, input_size]`` become our ``queries`` ``[num_queries, input_size]`` and their
    Hopfield layer is migrated as by :func:`hopfield_from_hflayers` (same refusals).

    Their output is flattened, ``[B, quantity * output_size]``; ours is
    ``[B, num_queries, output_size]`` (``ours(x).flatten(1)`` is theirs, with ``batch_first``).
    Their call ``theirs(stored)`` or ``theirs((stored, value))`` becomes ``ours(stored)`` or
    ``ours(stored, value)``; masks translate as for :func:`hopfield_from_hflayers`.
    ``trainable=False`` carries over as ``queries.requires_grad = False``.
    """
    name = "hopfield_pooling_from_hflayers"
    queries = theirs.pooling_weights
    pool = _from_hflayers(
        theirs.hopfield, lambda input_size, **kw: HopfieldPooling(input_size, num_queries=theirs.quantity, **kw), name
    )
    with torch.no_grad():
        pool.queries.copy_(_learned_patterns(queries, pool.hopfield.input_size, "pooling_weights", name))
    pool.queries.requires_grad_(queries.requires_grad)
    return pool


def hopfield_layer_from_hflayers(theirs: nn.Module) -> HopfieldLayer:
    """Build a :class:`HopfieldLayer` that computes what a ``hflayers.HopfieldLayer`` /
    ``difflayers.HopfieldLayer`` computes, copying its weights: their ``lookup_weights``
    ``[1, quantity, stored_size]`` become our ``patterns`` ``[num_patterns, stored_size]``, their
    ``target_weights`` (``lookup_weights_as_separated=True``) our ``values``
    (``separate_values=True``), and their Hopfield layer is migrated as by
    :func:`hopfield_from_hflayers` (same refusals). The call and the output shape are the same
    (``theirs(state)``, ``ours(state)``); their masks translate as for
    :func:`hopfield_from_hflayers` (only ``mask`` here: ``mask=~association_mask``, and a
    ``stored_pattern_padding_mask`` row ``p`` is ``mask[..., p]`` set to False).
    ``trainable=False`` / ``lookup_targets_as_trainable=False`` carry over as
    ``requires_grad = False`` on ``patterns`` / ``values``.
    """
    name = "hopfield_layer_from_hflayers"
    lookup, targets = theirs.lookup_weights, theirs.target_weights
    layer = _from_hflayers(
        theirs.hopfield,
        lambda input_size, **kw: HopfieldLayer(
            input_size, num_patterns=theirs.quantity, separate_values=targets is not None, **kw
        ),
        name,
    )
    with torch.no_grad():
        layer.patterns.copy_(_learned_patterns(lookup, layer.hopfield.stored_size, "lookup_weights", name))
        if targets is not None:
            layer.values.copy_(_learned_patterns(targets, layer.hopfield.value_size, "target_weights", name))
    layer.patterns.requires_grad_(lookup.requires_grad)
    if targets is not None:
        layer.values.requires_grad_(targets.requires_grad)
    return layer
