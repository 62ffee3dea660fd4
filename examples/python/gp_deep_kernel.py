"""A deep-kernel model trained in an ordinary PyTorch loop: a small feature network feeds a
KernelLayer (NNGP kernel against learnable inducing points + linear head), all trained together by
Adam on a 1-D regression task; then the same features feed an exact GP head (statmech.gp.ExactGP)
fitted by its marginal likelihood. Saves examples/output/gp_deep_kernel.png."""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from tqdm import trange  # noqa: E402

import statmech  # noqa: E402,F401
from statmech.gp import ExactGP, KernelLayer, NNGPKernel  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "output")


def target(x):
    return torch.sin(3 * x) + 0.3 * torch.cos(9 * x)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    x = torch.rand(200, 1) * 4 - 2
    y = target(x) + 0.05 * torch.randn_like(x)
    grid = torch.linspace(-2.5, 2.5, 400).unsqueeze(1)
    features = torch.nn.Sequential(torch.nn.Linear(1, 32), torch.nn.Tanh(), torch.nn.Linear(32, 8))
    layer = KernelLayer(8, 32, 1, depth=2, activation="relu")
    model = torch.nn.Sequential(features, layer)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in trange(1500, desc="deep kernel layer"):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    print(f"KernelLayer: training MSE {loss.item():.4f}")
    # Exact GP head on the learned features (float64), hyper-parameters by the marginal likelihood.
    with torch.no_grad():
        fx, fgrid = features(x).double(), features(grid).double()
    gp = ExactGP(NNGPKernel(depth=2), noise=0.01).double().fit(fx, y.squeeze(1).double())
    gp_opt = torch.optim.Adam(gp.parameters(), lr=0.05)
    for _ in range(100):
        gp_opt.zero_grad()
        nlml = gp.loss()
        nlml.backward()
        gp_opt.step()
    mean, var = gp.posterior(fgrid)
    print(f"ExactGP head: NLML per point {nlml.item():.3f}, noise {gp.noise.item():.4f}")
    with torch.no_grad():
        layer_pred = model(grid).squeeze(1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(x.squeeze(1), y.squeeze(1), s=6, color="k", label="data")
    ax.plot(grid.squeeze(1), target(grid).squeeze(1), "k:", label="truth")
    ax.plot(grid.squeeze(1), layer_pred, label="features -> KernelLayer (SGD)")
    sd = var.sqrt().detach()
    ax.plot(grid.squeeze(1), mean.detach(), label="features -> ExactGP mean")
    ax.fill_between(grid.squeeze(1), (mean - 2 * sd).detach(), (mean + 2 * sd).detach(), alpha=0.2,
                    label="ExactGP +- 2 sd")
    ax.legend(fontsize=8)
    ax.set_title("deep kernel: feature network into NNGP kernel layers")
    fig.tight_layout()
    path = os.path.join(OUT, "gp_deep_kernel.png")
    fig.savefig(path, dpi=120)
    print("saved", os.path.abspath(path))


if __name__ == "__main__":
    main()
