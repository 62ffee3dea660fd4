r"""Initialisers at the edge of chaos, in the style of :mod:`torch.nn.init`.

Mean-field theory (Poole et al. 2016, Schoenholz et al. 2017) follows a signal through a deep
random network with weights of variance :math:`\sigma_w^2/\text{fan\_in}` and biases of variance
:math:`\sigma_b^2`. The pre-activation variance obeys the q-map
:math:`q^{l+1} = \sigma_w^2\,\mathbb{E}[\phi(\sqrt{q^l}z)^2] + \sigma_b^2`, and two inputs stay
distinguishable over depth without exploding gradients only on the critical line
:math:`\chi_1 = \sigma_w^2\,\mathbb{E}[\phi'(\sqrt{q^*}z)^2] = 1`. The functions here write weights
with a chosen :math:`\sigma_w^2` (or, when ``sigma_w2`` is None, the critical one for the
``activation`` (alias ``nonlinearity``, as torch's ``kaiming_*``), which is then required, and
``sigma_b2``, from :func:`statmech.meanfield.critical_sigma_w2`) and return the tensor.
``critical_normal_`` and ``critical_uniform_`` take ``mode='fan_in'`` (default) or ``'fan_out'``.

Variances, not standard deviations, everywhere: ``sigma_w2`` is :math:`\sigma_w^2`. The relation to
:func:`torch.nn.init.calculate_gain`: ``kaiming_normal_(w, nonlinearity=...)`` draws
:math:`\text{gain}^2/\text{fan\_in}`, i.e. ``critical_normal_(w, gain**2)``.

- ReLU: critical :math:`\sigma_w^2 = 2` at :math:`\sigma_b^2 = 0`, which is
  ``calculate_gain('relu')**2`` (He et al. 2015 found the same condition).
- Leaky ReLU with slope :math:`\alpha`: :math:`2/(1+\alpha^2)`, again ``calculate_gain('leaky_relu', a)**2``.
- tanh: critical :math:`\sigma_w^2 = 1` at :math:`\sigma_b^2 = 0` (and larger for :math:`\sigma_b^2 > 0`).
  PyTorch's tanh gain 5/3 gives :math:`\sigma_w^2 = 25/9 \approx 2.78` at zero bias, which is in the
  chaotic phase (:math:`\chi_1 > 1`): nearby inputs decorrelate exponentially with depth.

The tensor operators behind these wrappers are ``torch.ops.statmech.critical_normal_``,
``critical_orthogonal_`` and ``delta_orthogonal_``; they take ``(tensor, sigma_w2, generator=None)``,
return nothing (a custom operator may not return an alias of its input) and run on any device.

TorchScript: the three wrappers compile (``torch.jit.script``) and can be saved when ``sigma_w2`` is
given explicitly; the default ``sigma_w2=None`` needs the Python calculator and raises inside
TorchScript. Their arguments after ``sigma_w2`` are ordinary keyword arguments (TorchScript does not
compile keyword-only parameters with defaults), so pass them by name.
"""

from statmech._edge_of_chaos import EdgeOfChaosReport, LayerInit, edge_of_chaos_
from statmech._initialisers import critical_normal_, critical_orthogonal_, critical_uniform_, delta_orthogonal_

__all__ = [
    "critical_normal_",
    "critical_uniform_",
    "critical_orthogonal_",
    "delta_orthogonal_",
    "edge_of_chaos_",
    "EdgeOfChaosReport",
    "LayerInit",
]
