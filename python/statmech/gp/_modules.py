"""Kernel modules, exact GP regression, infinite-width prediction and a kernel layer."""

import math
from typing import Any, Optional, Tuple

import torch
from torch import Tensor, nn

from statmech.gp._functional import fc_kernel, resolve_activation

__all__ = ["NNGPKernel", "NTKKernel", "ExactGP", "ntk_predict", "KernelLayer"]


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class _FCKernel(nn.Module):
    __jit_unused_properties__ = ["sigma_w2", "sigma_b2"]

    def __init__(self, depth: int = 1, activation: Any = "relu", sigma_w2: float = 2.0, sigma_b2: float = 0.1,
                 parameterization: str = "ntk", learn_sigmas: bool = True,
                 activation_parameter: Optional[float] = None) -> None:
        super().__init__()
        self.kernel_name = "nngp" if isinstance(self, NNGPKernel) else "ntk"
        if depth < 0:
            raise ValueError(f"{type(self).__name__}: depth must be >= 0, got {depth}")
        if sigma_w2 <= 0 or sigma_b2 <= 0:
            raise ValueError(f"{type(self).__name__}: sigma_w2 and sigma_b2 must be positive (they are kept positive "
                             f"through a softplus), got {sigma_w2}, {sigma_b2}")
        self.depth = depth
        name, parameter, custom = resolve_activation(activation, activation_parameter, type(self).__name__)
        self.activation: str = name
        self.activation_parameter: Optional[float] = parameter
        # A user-defined activation (statmech.meanfield.Activation) runs eagerly outside the
        # operator (see statmech.gp.fc_kernel); the module then is not scriptable or compilable.
        self.is_custom: bool = custom is not None
        self.custom_activation = custom
        self.parameterization = parameterization
        self.initial_sigma_w2 = float(sigma_w2)
        self.initial_sigma_b2 = float(sigma_b2)
        self.raw_sigma_w2 = nn.Parameter(torch.empty(()), requires_grad=learn_sigmas)
        self.raw_sigma_b2 = nn.Parameter(torch.empty(()), requires_grad=learn_sigmas)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.raw_sigma_w2.fill_(_inverse_softplus(self.initial_sigma_w2))
            self.raw_sigma_b2.fill_(_inverse_softplus(self.initial_sigma_b2))

    @property
    def sigma_w2(self) -> Tensor:
        """Weight variance, softplus of the raw parameter (always positive)."""
        return nn.functional.softplus(self.raw_sigma_w2)

    @property
    def sigma_b2(self) -> Tensor:
        """Bias variance, softplus of the raw parameter (always positive)."""
        return nn.functional.softplus(self.raw_sigma_b2)

    def forward(self, x1: Tensor, x2: Optional[Tensor] = None, diag: bool = False) -> Tensor:
        """x1 ``[N, d]``, x2 ``[M, d]`` or None (x1) -> ``[N, M]``, or ``[N]`` with ``diag``."""
        sw2 = nn.functional.softplus(self.raw_sigma_w2).to(x1.dtype)
        sb2 = nn.functional.softplus(self.raw_sigma_b2).to(x1.dtype)
        if self.is_custom:
            return self._custom_forward(x1, x2, sw2, sb2, diag)
        out = torch.ops.statmech.fc_kernel(x1, x2, sw2, sb2, self.depth, self.activation, self.activation_parameter,
                                           self.parameterization, 1.0, self.kernel_name == "nngp", self.kernel_name == "ntk", diag)
        return out[0]

    @torch.jit.unused
    def _custom_forward(self, x1: Tensor, x2: Optional[Tensor], sw2: Tensor, sb2: Tensor, diag: bool) -> Tensor:
        from statmech import _C

        out = _C.gp.fc_kernel_activation(x1, x2, sw2, sb2, self.depth, self.custom_activation, self.parameterization,
                                         1.0, self.kernel_name == "nngp", self.kernel_name == "ntk", diag)
        return out[0]

    def extra_repr(self) -> str:
        activation = repr(self.custom_activation) if self.is_custom else repr(self.activation)
        if self.activation_parameter is not None:
            activation += f", activation_parameter={self.activation_parameter}"
        return (f"depth={self.depth}, activation={activation}, parameterization={self.parameterization!r}, "
                f"sigma_w2={float(self.sigma_w2.detach()):.4g}, sigma_b2={float(self.sigma_b2.detach()):.4g}")


class NNGPKernel(_FCKernel):
    r"""NNGP kernel of ``[Dense, phi] * depth + Dense`` as a module (see :func:`statmech.gp.fc_kernel`).

    :math:`\sigma_w^2, \sigma_b^2` (variances) are parameters kept positive by a softplus of
    ``raw_sigma_w2`` / ``raw_sigma_b2``. Scriptable; compiles with ``fullgraph=True``.

    ``activation``: any name :func:`statmech.gp.fc_kernel` takes (closed forms, Hermite series, and
    elu / selu / hard_tanh by quadrature), with ``activation_parameter`` for leaky_relu's slope or
    elu's alpha; or a :class:`statmech.meanfield.Activation` / callable (user-defined: evaluated
    eagerly and slowly, for small N; such a module is not scriptable or compilable).

    Shape: ``forward(x1 [N, d], x2 [M, d] = None, diag=False)`` -> ``[N, M]`` (``[N]`` with diag).
    """


class NTKKernel(_FCKernel):
    r"""NTK of ``[Dense, phi] * depth + Dense`` as a module (see :func:`statmech.gp.fc_kernel`),
    NTK parameterisation by default. Parameters and shapes as :class:`NNGPKernel`."""



def _cholesky_with_jitter(matrix: Tensor, max_tries: int = 6) -> Tuple[Tensor, float]:
    """Cholesky factor of a symmetric PSD matrix, adding jitter 1e-8, 1e-7, ... times its mean
    diagonal until it succeeds. Raises with what failed when even the largest jitter does not help."""
    factor, info = torch.linalg.cholesky_ex(matrix)
    if int(info) == 0:
        return factor, 0.0
    scale = float(matrix.diagonal().mean().abs()) or 1.0
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    jitter = 0.0
    for attempt in range(max_tries):
        jitter = scale * 10.0 ** (-8 + attempt)
        factor, info = torch.linalg.cholesky_ex(matrix + jitter * eye)
        if int(info) == 0:
            return factor, jitter
    raise RuntimeError(
        f"ExactGP: Cholesky of the [{matrix.shape[-1]}, {matrix.shape[-1]}] kernel matrix failed (leading minor "
        f"{int(info)} not positive) even with jitter {jitter:.3g} (1e-3 of its mean diagonal {scale:.3g}); the "
        f"kernel is not positive definite on these inputs (duplicate points with zero noise, or NaNs)")


class ExactGP(nn.Module):
    r"""Exact Gaussian-process regression with any kernel module (e.g. :class:`NNGPKernel`).

    Model: :math:`y = f(x) + \epsilon`, :math:`f \sim GP(0, k)`, :math:`\epsilon \sim N(0, \sigma_n^2)`,
    the noise variance a positive parameter (softplus). ``fit(X [N, d], y [N])`` stores the
    training data; ``loss()`` is the negative log marginal likelihood per point (differentiable in
    the kernel's parameters and the noise); ``posterior(X* [M, d])`` returns mean ``[M]`` and
    variance ``[M]`` of f (add ``noise`` for y). The Cholesky factorisation adds jitter when needed.
    """

    def __init__(self, kernel: nn.Module, noise: float = 1e-2) -> None:
        super().__init__()
        self.kernel = kernel
        self.initial_noise = float(noise)
        self.raw_noise = nn.Parameter(torch.empty(()))
        self.train_x: Optional[Tensor] = None
        self.train_y: Optional[Tensor] = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.raw_noise.fill_(_inverse_softplus(self.initial_noise))

    @property
    def noise(self) -> Tensor:
        return nn.functional.softplus(self.raw_noise)

    def fit(self, x: Tensor, y: Tensor) -> "ExactGP":
        if x.dim() != 2 or y.dim() != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"ExactGP.fit: x must be [N, d] and y [N], got {tuple(x.shape)} and {tuple(y.shape)}")
        self.train_x, self.train_y = x, y
        return self

    def _factor(self) -> Tensor:
        if self.train_x is None or self.train_y is None:
            raise RuntimeError("ExactGP: call fit(x, y) first")
        k = self.kernel(self.train_x)
        k = k + self.noise.to(k.dtype) * torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
        return _cholesky_with_jitter(k)[0]

    def loss(self) -> Tensor:
        """Negative log marginal likelihood divided by N."""
        factor = self._factor()
        y = self.train_y.unsqueeze(1)
        alpha = torch.cholesky_solve(y, factor)
        n = y.shape[0]
        nlml = 0.5 * (y * alpha).sum() + factor.diagonal().log().sum() + 0.5 * n * math.log(2 * math.pi)
        return nlml / n

    def posterior(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Posterior mean ``[M]`` and variance ``[M]`` of f at x ``[M, d]``."""
        factor = self._factor()
        cross = self.kernel(x, self.train_x)
        mean = cross @ torch.cholesky_solve(self.train_y.unsqueeze(1), factor).squeeze(1)
        v = torch.linalg.solve_triangular(factor, cross.T, upper=False)
        var = self.kernel(x, diag=True) - v.square().sum(0)
        return mean, var.clamp_min(0)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        return self.posterior(x)


def ntk_predict(
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    t: Optional[float] = None,
    *,
    depth: int,
    activation: str,
    sigma_w2: float,
    sigma_b2: float,
    parameterization: str = "ntk",
    get: str = "ntk",
    learning_rate: float = 1.0,
    diag_reg: float = 0.0,
    diag_reg_absolute_scale: bool = False,
    compute_cov: bool = True,
) -> Tuple[Tensor, Optional[Tensor]]:
    r"""Mean and covariance of the infinite ensemble of networks trained by gradient descent on
    the MSE loss :math:`\frac{1}{2 n_y}\|f(X) - Y\|^2` for time ``t`` (``None``: :math:`t = \infty`),
    as in Lee et al. 2019 (neural-tangents' ``predict.gradient_descent_mse_ensemble``).

    With :math:`\Theta` the train-train kernel (the NTK for ``get="ntk"``, the NNGP kernel for
    ``get="nngp"``: Bayesian posterior at :math:`t=\infty`) plus the regulariser
    :math:`\lambda I` on its diagonal, :math:`K` the NNGP kernel and
    :math:`A_t = \Theta^{-1}(I - e^{-\eta\Theta t / n_y})`, :math:`n_y` = ``y_train.numel()``:

    - mean :math:`\Theta_{*d} A_t Y`;
    - NNGP: covariance :math:`K_{**} - K_{*d} A_{2t} K_{d*}`;
    - NTK: covariance :math:`K_{**} + \Theta_{*d} A_t K_{dd} A_t \Theta_{d*} - (\Theta_{*d} A_t K_{d*} + h.c.)`.

    The regulariser follows neural-tangents: :math:`\lambda` = ``diag_reg`` times the mean of the
    train-train kernel's diagonal, :math:`\operatorname{tr}\Theta / N` (``diag_reg`` is relative to
    the kernel's scale), or ``diag_reg`` itself with ``diag_reg_absolute_scale=True``.

    Args:
        x_train ``[N, d]``, y_train ``[N, k]`` (or ``[N]``), x_test ``[M, d]``; kernel arguments as
        :func:`fc_kernel`.
        diag_reg: strength of the diagonal regulariser (>= 0), relative unless
            ``diag_reg_absolute_scale``.
        diag_reg_absolute_scale: ``True`` for ``diag_reg`` in the kernel's absolute units.

    Returns:
        ``(mean [M, k], cov [M, M])`` (``cov`` is None without ``compute_cov``).
    """
    if get not in ("nngp", "ntk"):
        raise ValueError(f"ntk_predict: get must be 'nngp' or 'ntk', got {get!r}")
    if not diag_reg >= 0:
        raise ValueError(f"ntk_predict: diag_reg must be >= 0, got {diag_reg}")
    if y_train.dim() not in (1, 2) or y_train.shape[0] != x_train.shape[0]:
        raise ValueError(f"ntk_predict: y_train must be [N] or [N, k] with N = x_train.shape[0] = {x_train.shape[0]}, "
                         f"got shape {tuple(y_train.shape)}")
    squeeze = y_train.dim() == 1
    y = y_train.unsqueeze(1) if squeeze else y_train
    kw = dict(depth=depth, activation=activation, sigma_w2=sigma_w2, sigma_b2=sigma_b2,
              parameterization=parameterization)
    nngp_dd, ntk_dd = fc_kernel(x_train, **kw)
    nngp_td, ntk_td = fc_kernel(x_test, x_train, **kw)
    theta_dd = ntk_dd if get == "ntk" else nngp_dd
    theta_td = ntk_td if get == "ntk" else nngp_td
    regulariser = diag_reg if diag_reg_absolute_scale else diag_reg * theta_dd.diagonal().mean()
    theta_dd = theta_dd + regulariser * torch.eye(theta_dd.shape[0], dtype=theta_dd.dtype, device=theta_dd.device)
    evals, evecs = torch.linalg.eigh(theta_dd)
    # Eigenvalues within rounding of 0 (N eps max |lambda|, the cutoff of numpy's pinv) are 0: with
    # duplicated training points the kernel is singular, and inverting the rounding noise of its
    # zero eigenvalues moved the t = inf mean by O(1) (0.7 for an nngp posterior in float64).
    cutoff = evals.abs().amax() * theta_dd.shape[0] * torch.finfo(theta_dd.dtype).eps
    evals = torch.where(evals > cutoff, evals, torch.zeros_like(evals))
    n_y = y.numel()

    def operator(time: Optional[float]) -> Tensor:
        # Theta^{-1} (I - exp(-eta Theta t / n_y)) in the eigenbasis; -expm1(-x) / lambda stays
        # finite as lambda -> 0 (it tends to eta t / n_y).
        if time is None:
            factor = torch.where(evals > 0, 1 / evals, torch.zeros_like(evals))
        else:
            scaled = learning_rate * time / n_y
            factor = torch.where(evals > 0, -torch.expm1(-evals * scaled) / evals,
                                 torch.full_like(evals, scaled))
        return (evecs * factor) @ evecs.T

    a_t = operator(t)
    mean = theta_td @ (a_t @ y)
    if squeeze:
        mean = mean.squeeze(1)
    if not compute_cov:
        return mean, None
    nngp_tt = fc_kernel(x_test, **kw, get="nngp")
    if get == "nngp":
        a_2t = operator(None if t is None else 2 * t)
        cov = nngp_tt - nngp_td @ a_2t @ nngp_td.T
    else:
        term = theta_td @ a_t
        cross = term @ nngp_td.T
        cov = nngp_tt + term @ nngp_dd @ term.T - cross - cross.T
    return mean, cov


class KernelLayer(nn.Module):
    r"""Kernel features against learnable inducing points, then a linear head:
    :math:`y = K(x, Z) W^\top + b` with :math:`K` an :class:`NNGPKernel` / :class:`NTKKernel`.

    Args:
        in_features: d. num_inducing: number of inducing points Z ``[num_inducing, d]``.
        out_features: outputs of the linear head. kernel: ``"nngp"`` or ``"ntk"``; the other
            keyword arguments go to the kernel module.

    Shape: x ``[N, d]`` -> ``[N, out_features]``. Trained by ordinary SGD (Z, the head and the
    kernel's sigmas are parameters).
    """

    def __init__(self, in_features: int, num_inducing: int, out_features: int = 1, *, kernel: str = "nngp",
                 depth: int = 2, activation: str = "relu", sigma_w2: float = 2.0, sigma_b2: float = 0.1,
                 normalize: bool = True) -> None:
        super().__init__()
        self.in_features = in_features
        self.num_inducing = num_inducing
        self.out_features = out_features
        self.normalize = normalize
        module = NNGPKernel if kernel == "nngp" else NTKKernel
        self.kernel = module(depth=depth, activation=activation, sigma_w2=sigma_w2, sigma_b2=sigma_b2)
        self.inducing_points = nn.Parameter(torch.empty(num_inducing, in_features))
        self.head = nn.Linear(num_inducing, out_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.inducing_points)
        self.head.reset_parameters()
        self.kernel.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        features = self.kernel(x, self.inducing_points.to(x.dtype))
        if self.normalize:
            features = features / math.sqrt(self.num_inducing)
        return self.head(features.to(self.head.weight.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_inducing={self.num_inducing}, out_features={self.out_features}"
