"""Monte Carlo: finite random networks approach fc_kernel as the width grows.

- NNGP, depth 1: the output kernel of one network of width n is an average of n i.i.d. terms
  sigma_w2 phi(u_j) phi(v_j) + sigma_b2 (first-layer pre-activations are exactly Gaussian), so by
  the central limit theorem it is within 5 standard errors sigma_w2 sd(phi(u) phi(v)) / sqrt(n) of
  the NNGP kernel (probability of a false failure < 1e-6 per entry; the seed is fixed anyway).
- NNGP and NTK, depth 2, through torch.func Jacobians: the relative fluctuation of finite-width
  kernels scales like sqrt(depth / n) (Hanin & Nica 2019); we check the error at n = 1024 is below
  3 sqrt(depth / n) of the kernel's scale and smaller than at n = 64.
"""

import math

import torch
from torch.func import functional_call, jacrev

import statmech  # noqa: F401
from statmech.gp import fc_kernel

SW2, SB2 = 1.6, 0.2


def _x():
    return torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_nngp_depth_one_within_clt_bound():
    x = _x()
    g = torch.Generator().manual_seed(1)
    n = 20000
    w = torch.randn(n, 3, generator=g, dtype=torch.float64) * math.sqrt(SW2 / 3)
    b = torch.randn(n, generator=g, dtype=torch.float64) * math.sqrt(SB2)
    features = torch.relu(x @ w.T + b)  # [4, n]
    terms = SW2 * features[:, None, :] * features[None, :, :] + SB2  # [4, 4, n]
    empirical = terms.mean(-1)
    standard_error = terms.std(-1) / math.sqrt(n)
    exact = fc_kernel(x, depth=1, activation="relu", sigma_w2=SW2, sigma_b2=SB2, get="nngp")
    assert ((empirical - exact).abs() <= 5 * standard_error).all()


class _MLP(torch.nn.Module):
    """[Dense, relu] x depth + Dense in the NTK parameterisation: W ~ N(0, 1), scaled by
    sqrt(sigma_w2 / fan_in) in the forward; b ~ N(0, 1) scaled by sqrt(sigma_b2)."""

    def __init__(self, d, width, depth, generator):
        super().__init__()
        sizes = [d] + [width] * depth + [1]
        self.weights = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(o, i, generator=generator, dtype=torch.float64))
             for i, o in zip(sizes[:-1], sizes[1:])])
        self.biases = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(o, generator=generator, dtype=torch.float64)) for o in sizes[1:]])

    def forward(self, x):
        for index, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = math.sqrt(SW2 / w.shape[1]) * x @ w.T + math.sqrt(SB2) * b
            if index < len(self.weights) - 1:
                x = torch.relu(x)
        return x.squeeze(-1)


def _empirical(width, depth, seeds=3):
    x = _x()
    nngp = torch.zeros(4, 4, dtype=torch.float64)
    ntk = torch.zeros(4, 4, dtype=torch.float64)
    for seed in range(seeds):
        net = _MLP(3, width, depth, torch.Generator().manual_seed(100 + seed))
        params = {k: v.detach() for k, v in net.named_parameters()}
        jac = jacrev(lambda p: functional_call(net, p, (x,)))(params)
        flat = torch.cat([j.reshape(4, -1) for j in jac.values()], 1)
        ntk += flat @ flat.T / seeds
        # NNGP: the output layer's kernel, sigma_w2 phi . phi' / n + sigma_b2, at this initialisation.
        h = x
        for w, b in zip(list(net.weights)[:-1], list(net.biases)[:-1]):
            h = torch.relu(math.sqrt(SW2 / w.shape[1]) * h @ w.T.detach() + math.sqrt(SB2) * b.detach())
        nngp += (SW2 * h @ h.T / width + SB2) / seeds
    return nngp, ntk


def test_empirical_nngp_and_ntk_approach_the_limit():
    depth = 2
    exact_nngp, exact_ntk = fc_kernel(_x(), depth=depth, activation="relu", sigma_w2=SW2, sigma_b2=SB2)
    errors = {}
    for width in (64, 1024):
        nngp, ntk = _empirical(width, depth)
        errors[width] = ((nngp - exact_nngp).abs().max() / exact_nngp.abs().max(),
                         (ntk - exact_ntk).abs().max() / exact_ntk.abs().max())
    bound = 3 * math.sqrt(depth / 1024)
    assert errors[1024][0] < bound and errors[1024][1] < bound, (errors, bound)
    assert errors[1024][0] < errors[64][0] and errors[1024][1] < errors[64][1], errors
