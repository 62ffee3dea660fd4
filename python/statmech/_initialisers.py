"""The three tensor initialisers of :mod:`statmech.init` (see its docstring for the theory and
the conventions); module walking lives in ``_edge_of_chaos.py``."""

from typing import Any, Optional

import torch
from torch import Tensor

__all__ = ["critical_normal_", "critical_uniform_", "critical_orthogonal_", "delta_orthogonal_"]

_MODES = ("fan_in", "fan_out")


def _critical_sigma_w2(caller: str, sigma_b2: float, activation: Any, nonlinearity: Any) -> float:
    # Imported here: the calculator is needed only when sigma_w2 is not given.
    from statmech import meanfield
    from statmech._module_activations import spec_from_argument

    if activation is not None and nonlinearity is not None:
        raise ValueError(f"{caller}: pass the activation once, as activation= or nonlinearity=, not both")
    chosen = activation if activation is not None else nonlinearity
    if chosen is None:
        raise ValueError(
            f"{caller}: sigma_w2 is None, so the critical value is computed for an activation, and none was given; "
            "pass activation= (or nonlinearity=, as for torch.nn.init.kaiming_normal_): a name such as 'relu' or "
            "'tanh', an nn activation module or a statmech.meanfield.activation object, or pass sigma_w2 itself"
        )
    return float(meanfield.critical_sigma_w2(sigma_b2, spec_from_argument(chosen).resolve()))


def _sigma_w2_or_critical(
    caller: str, sigma_w2: Optional[float], activation: Any, sigma_b2: float, nonlinearity: Any
) -> float:
    """sigma_w2 if given, else the critical value (Python only: TorchScript cannot call the calculator)."""
    if sigma_w2 is not None:
        return sigma_w2
    if torch.jit.is_scripting():
        raise RuntimeError(
            caller + ": sigma_w2 must be given explicitly in TorchScript (the critical value "
            "comes from the Python calculator statmech.meanfield.critical_sigma_w2)"
        )
    else:
        return _critical_sigma_w2(caller, sigma_b2, activation, nonlinearity)


def _fan_scale(caller: str, tensor: Tensor, mode: str) -> float:
    """fan_in / fan of `mode`: the factor that turns sigma_w2 / fan into sigma_w2' / fan_in."""
    if mode == "fan_in":
        return 1.0
    if mode != "fan_out":
        raise ValueError(caller + ": mode must be 'fan_in' or 'fan_out', got " + mode)
    if tensor.dim() < 2 or tensor.numel() == 0:
        return 1.0  # the operator reports the shape error
    # fan_in / fan_out = (in * prod(kernel)) / (out * prod(kernel))
    return float(tensor.shape[1]) / float(tensor.shape[0])


def critical_normal_(
    tensor: Tensor,
    sigma_w2: Optional[float] = None,
    activation: Any = None,
    sigma_b2: float = 0.0,
    generator: Optional[torch.Generator] = None,
    nonlinearity: Any = None,
    mode: str = "fan_in",
) -> Tensor:
    r"""Fill ``tensor`` with :math:`\mathcal{N}(0, \sigma_w^2/\text{fan\_in})` entries, in place.

    Args:
        tensor: weight ``[out, in, *kernel]`` (PyTorch's layout), at least 2-D, floating point;
            ``fan_in = in * prod(kernel)``.
        sigma_w2: weight variance :math:`\sigma_w^2`. ``None``: the critical value for
            ``activation`` and ``sigma_b2``, from :func:`statmech.meanfield.critical_sigma_w2` (a
            stable edge of chaos; it raises where the activation has none at ``sigma_b2``).
        activation: name (``'tanh'``, ``'relu'``, ``'leaky_relu'``, ``'erf'``, ``'gelu'``, ...),
            ``nn`` activation module or :func:`statmech.meanfield.activation` object; REQUIRED when
            ``sigma_w2`` is ``None`` (there is no default: a wrong one silently writes an ordered or
            chaotic init), unused otherwise.
        sigma_b2: bias variance :math:`\sigma_b^2` the critical point is computed for (the bias
            itself is not touched); used only when ``sigma_w2`` is ``None``.
        generator: ``torch.Generator`` on the tensor's device, for a reproducible draw.
        nonlinearity: the name torch's ``kaiming_*`` initialisers use for ``activation``; give one
            of the two.
        mode: ``'fan_in'`` (default; variance :math:`\sigma_w^2/\text{fan\_in}`, the mean-field
            forward pass) or ``'fan_out'`` (:math:`\sigma_w^2/\text{fan\_out}`, preserving the
            backward pass, as ``torch.nn.init``'s ``mode``).

    Returns:
        ``tensor``, written under ``torch.no_grad()``.

    Equivalent to ``torch.nn.init.kaiming_normal_(tensor, a, mode='fan_in')`` with
    :math:`\text{gain}^2 = \sigma_w^2`; for ReLU the critical :math:`\sigma_w^2 = 2` is
    ``calculate_gain('relu')**2``.

    Example::

        >>> w = torch.empty(256, 128)
        >>> _ = statmech.init.critical_normal_(w, 2.0)      # ReLU at the critical point
        >>> round(w.var().item() * 128, 1)                  # sigma_w2 / fan_in
        2.0
        >>> _ = statmech.init.critical_normal_(w, activation="tanh", sigma_b2=0.05)  # sigma_w2 = 1.76
    """
    value = _sigma_w2_or_critical("critical_normal_", sigma_w2, activation, sigma_b2, nonlinearity)
    value = value * _fan_scale("critical_normal_", tensor, mode)
    with torch.no_grad():
        torch.ops.statmech.critical_normal_(tensor, value, generator)
    return tensor


def critical_uniform_(
    tensor: Tensor,
    sigma_w2: Optional[float] = None,
    activation: Any = None,
    sigma_b2: float = 0.0,
    generator: Optional[torch.Generator] = None,
    nonlinearity: Any = None,
    mode: str = "fan_in",
) -> Tensor:
    r"""Fill ``tensor`` with :math:`U(-a, a)`, :math:`a = \sqrt{3\sigma_w^2/\text{fan\_in}}`, in place:
    the entry variance :math:`\sigma_w^2/\text{fan\_in}` of :func:`critical_normal_` (what the
    mean-field maps see), as ``torch.nn.init.kaiming_uniform_`` with :math:`\text{gain}^2 = \sigma_w^2`.

    Args, return value, ``mode`` and the required ``activation`` (or ``nonlinearity``) when
    ``sigma_w2`` is ``None``: as :func:`critical_normal_`.
    """
    value = _sigma_w2_or_critical("critical_uniform_", sigma_w2, activation, sigma_b2, nonlinearity)
    value = value * _fan_scale("critical_uniform_", tensor, mode)
    with torch.no_grad():
        torch.ops.statmech.critical_uniform_(tensor, value, generator)
    return tensor


def critical_orthogonal_(
    tensor: Tensor,
    sigma_w2: Optional[float] = None,
    activation: Any = None,
    sigma_b2: float = 0.0,
    generator: Optional[torch.Generator] = None,
    nonlinearity: Any = None,
) -> Tensor:
    r"""Fill ``tensor`` with a scaled Haar-random orthogonal matrix, in place.

    The weight is flattened to :math:`W` of shape ``[out, fan_in]`` and set to
    :math:`Q\sqrt{\sigma_w^2\max(1, \text{out}/\text{fan\_in})}`, with :math:`Q` the QR factor of a
    Gaussian matrix with the signs of :math:`R`'s diagonal moved into it, so :math:`Q` is exactly
    Haar-distributed (Mezzadri 2007). The convention, so that :math:`\sigma_w^2` plays the role of
    the variance as for :func:`critical_normal_`:

    - ``out <= fan_in`` (square or wide): :math:`W W^\top = \sigma_w^2 I_\text{out}`; square
      weights are :math:`\sqrt{\sigma_w^2}\,O` (Saxe et al. 2014, Pennington et al. 2017);
    - ``out > fan_in`` (tall): :math:`W^\top W = \sigma_w^2\,(\text{out}/\text{fan\_in})\,I`, so
      that :math:`|Wx|^2/\text{out} = \sigma_w^2|x|^2/\text{fan\_in}` exactly: the q-map.
      (:func:`torch.nn.init.orthogonal_` with gain :math:`g` gives :math:`W^\top W = g^2 I` here.)

    In all cases :math:`\|W\|_F^2 = \sigma_w^2\,\text{out}`: the mean entry variance is
    :math:`\sigma_w^2/\text{fan\_in}`, as for :func:`critical_normal_`.

    Args, return value and the choice of the default ``sigma_w2``: as :func:`critical_normal_`.
    The QR runs in the tensor's dtype, promoted to float32 for float16/bfloat16.
    """
    value = _sigma_w2_or_critical("critical_orthogonal_", sigma_w2, activation, sigma_b2, nonlinearity)
    with torch.no_grad():
        torch.ops.statmech.critical_orthogonal_(tensor, value, generator)
    return tensor


def delta_orthogonal_(
    tensor: Tensor,
    sigma_w2: Optional[float] = None,
    activation: Any = None,
    sigma_b2: float = 0.0,
    generator: Optional[torch.Generator] = None,
    nonlinearity: Any = None,
) -> Tensor:
    r"""Delta-orthogonal convolution weight (Xiao et al. 2018), in place.

    Every tap of the kernel is zero except the centre one, which is an ``[out, in]`` matrix from
    :func:`critical_orthogonal_`: :math:`\sqrt{\sigma_w^2}\,O` when ``in == out`` (Xiao et al.'s
    Algorithm 2), and orthonormal columns times :math:`\sqrt{\sigma_w^2\,\text{out}/\text{in}}`
    when ``in < out``, so the q-map holds with the centre tap's fan-in ``in``. The convolution is
    then the identity in space and orthogonal across channels, and the input-output Jacobian of a
    deep CNN has the spectrum of an orthogonal MLP (dynamical isometry for tanh-like nets).

    Args:
        tensor: ``nn.Conv1d/2d/3d`` weight ``[out, in, *kernel]`` (3-D to 5-D) with every kernel
            size odd (so there is a centre tap) and ``in <= out`` (so the centre tap can have
            orthonormal columns). For grouped convolutions pass each group's slice.
        sigma_w2, activation, sigma_b2, generator: as :func:`critical_normal_`.

    Returns:
        ``tensor``.
    """
    value = _sigma_w2_or_critical("delta_orthogonal_", sigma_w2, activation, sigma_b2, nonlinearity)
    with torch.no_grad():
        torch.ops.statmech.delta_orthogonal_(tensor, value, generator)
    return tensor
