"""A sparse variational GP head (SVGP, whitened) over the NNGP / NTK kernel modules."""

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

__all__ = ["VariationalGP"]


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class VariationalGP(nn.Module):
    r"""Sparse variational Gaussian-process regression (Titsias 2009; Hensman et al. 2015, "SVGP")
    with any kernel module (:class:`NNGPKernel`, :class:`NTKKernel`, ...), whitened.

    Model: :math:`y = f(x) + \epsilon`, :math:`f \sim GP(0, k)`, :math:`\epsilon \sim N(0, \sigma_n^2)`.
    With inducing points :math:`Z` ``[M, d]``, :math:`K_{zz} = L L^\top` (Cholesky, jitter added)
    and inducing values :math:`u = f(Z) = L v`, the variational posterior is
    :math:`q(v) = N(m, S)`, :math:`S = L_S L_S^\top` (``variational_mean`` ``[M]``, the lower
    triangle of ``variational_scale_tril`` ``[M, M]``), prior :math:`p(v) = N(0, I)`. With
    :math:`A = L^{-1} K_{zx}`, the predictive of f at x is

    .. math::
        \mu(x) = A^\top m,\qquad
        \sigma^2(x) = k(x, x) - \|A\|^2_{\text{col}} + \|L_S^\top A\|^2_{\text{col}},

    and the evidence lower bound on :math:`\log p(y)`

    .. math::
        \mathcal{L} = \sum_i \Big(-\tfrac12 \log 2\pi\sigma_n^2
            - \frac{(y_i - \mu_i)^2 + \sigma^2_i}{2\sigma_n^2}\Big) - \mathrm{KL}(q(v)\,\|\,N(0, I)),

    estimated from a mini-batch by scaling its sum by ``num_data / batch``. With :math:`Z` = the
    training inputs and the optimal :math:`q` it equals the exact log marginal likelihood.

    Args:
        kernel: a kernel module ``kernel(x1, x2=None, diag=False)``.
        inducing_points: initial :math:`Z` ``[M, d]`` (a learnable parameter unless
            ``learn_inducing_points=False``).
        noise: initial noise variance :math:`\sigma_n^2` (kept positive by a softplus).
        jitter: added to the diagonal of :math:`K_{zz}`, relative to its mean diagonal.

    Train with ``loss = -model.elbo(x_batch, y_batch, num_data) / num_data`` in an ordinary loop;
    :meth:`set_optimal_variational_` sets :math:`q` to its closed-form optimum for the current
    kernel, noise and :math:`Z`.
    """

    def __init__(self, kernel: nn.Module, inducing_points: Tensor, noise: float = 1e-2, *,
                 learn_inducing_points: bool = True, jitter: float = 1e-8) -> None:
        super().__init__()
        if inducing_points.dim() != 2:
            raise ValueError(f"VariationalGP: inducing_points must be [M, d], got shape {tuple(inducing_points.shape)}")
        if not noise > 0:
            raise ValueError(f"VariationalGP: noise must be a positive variance, got {noise}")
        self.kernel = kernel
        self.num_inducing = inducing_points.shape[0]
        self.initial_inducing_points = inducing_points.detach().clone()
        self.initial_noise = float(noise)
        self.jitter = float(jitter)
        self.inducing_points = nn.Parameter(inducing_points.detach().clone(), requires_grad=learn_inducing_points)
        self.variational_mean = nn.Parameter(torch.empty(self.num_inducing, dtype=inducing_points.dtype))
        self.variational_scale_tril = nn.Parameter(
            torch.empty(self.num_inducing, self.num_inducing, dtype=inducing_points.dtype))
        self.raw_noise = nn.Parameter(torch.empty((), dtype=inducing_points.dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """q(v) = the prior N(0, I), Z and the noise back to their initial values."""
        with torch.no_grad():
            self.inducing_points.copy_(self.initial_inducing_points)
            self.variational_mean.zero_()
            self.variational_scale_tril.copy_(torch.eye(self.num_inducing))
            self.raw_noise.fill_(_inverse_softplus(self.initial_noise))

    @property
    def noise(self) -> Tensor:
        """Noise variance, softplus of the raw parameter."""
        return nn.functional.softplus(self.raw_noise)

    def _scale_tril(self) -> Tensor:
        return self.variational_scale_tril.tril()

    def _inducing_factor(self) -> Tensor:
        z = self.inducing_points
        kzz = self.kernel(z)
        scale = kzz.diagonal().mean().detach().clamp_min(1e-30)
        eye = torch.eye(kzz.shape[0], dtype=kzz.dtype, device=kzz.device)
        for attempt in range(6):
            factor, info = torch.linalg.cholesky_ex(kzz + self.jitter * 10.0 ** attempt * scale * eye)
            if int(info) == 0:
                return factor
        raise RuntimeError(
            f"VariationalGP: Cholesky of K(Z, Z) [{kzz.shape[0]}, {kzz.shape[0]}] failed even with jitter "
            f"{self.jitter * 1e5:.3g} of its mean diagonal {float(scale):.3g} (duplicate inducing points or NaNs?)")

    def _projection(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        factor = self._inducing_factor()
        cross = self.kernel(self.inducing_points, x.to(self.inducing_points.dtype))  # [M, N]
        return factor, torch.linalg.solve_triangular(factor, cross, upper=False)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """Predictive mean ``[N]`` and variance ``[N]`` of f at x ``[N, d]`` (add ``noise`` for y)."""
        _, a = self._projection(x)
        mean = a.T @ self.variational_mean
        prior = self.kernel(x.to(a.dtype), diag=True)
        var = prior - a.square().sum(0) + (self._scale_tril().T @ a).square().sum(0)
        return mean, var.clamp_min(0)

    def kl_divergence(self) -> Tensor:
        """KL(q(v) || N(0, I))."""
        scale = self._scale_tril()
        m = self.num_inducing
        return 0.5 * (scale.square().sum() + self.variational_mean.square().sum() - m
                      - 2 * scale.diagonal().abs().log().sum())

    def elbo(self, x: Tensor, y: Tensor, num_data: Optional[int] = None) -> Tensor:
        """Evidence lower bound for the whole data set from a batch x ``[B, d]``, y ``[B]``; the
        expected log likelihood is scaled by ``num_data / B`` (``num_data`` defaults to B)."""
        if x.dim() != 2 or y.dim() != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"VariationalGP.elbo: x must be [B, d] and y [B], got {tuple(x.shape)} and {tuple(y.shape)}")
        mean, var = self.forward(x)
        noise = self.noise.to(mean.dtype)
        y = y.to(mean.dtype)
        expected = -0.5 * math.log(2 * math.pi) - 0.5 * noise.log() - ((y - mean).square() + var) / (2 * noise)
        batch = x.shape[0]
        scale = (num_data if num_data is not None else batch) / batch
        return scale * expected.sum() - self.kl_divergence()

    @torch.no_grad()
    def set_optimal_variational_(self, x: Tensor, y: Tensor) -> "VariationalGP":
        """Sets q(v) to the optimum of the bound for data (x ``[N, d]``, y ``[N]``) at the current
        kernel, noise and Z (Titsias 2009): S = (I + A A^T / noise)^-1, m = S A y / noise."""
        _, a = self._projection(x)
        noise = self.noise.to(a.dtype)
        eye = torch.eye(self.num_inducing, dtype=a.dtype, device=a.device)
        precision = eye + a @ a.T / noise
        precision_factor = torch.linalg.cholesky(precision)
        mean = torch.cholesky_solve((a @ y.to(a.dtype) / noise).unsqueeze(1), precision_factor).squeeze(1)
        # S = P^-1 = (R^-T)(R^-1) with P = R R^T; its Cholesky factor is chol(P^-1).
        covariance = torch.cholesky_inverse(precision_factor)
        self.variational_mean.copy_(mean)
        self.variational_scale_tril.copy_(torch.linalg.cholesky(covariance))
        return self

    def extra_repr(self) -> str:
        return f"num_inducing={self.num_inducing}, noise={float(self.noise.detach()):.4g}"
