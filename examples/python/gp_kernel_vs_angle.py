"""The NNGP kernel of a deep tanh network as a function of the angle between two inputs, at
several depths, in the ordered and the chaotic phase. With depth the correlation K(x, x') /
sqrt(K(x, x) K(x', x')) of any pair flows to the mean-field fixed point c* (statmech.meanfield):
c* = 1 in the ordered phase (every input looks alike), c* < 1 in the chaotic phase.
Saves examples/output/gp_kernel_vs_angle.png."""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import statmech  # noqa: E402
from statmech.gp import fc_kernel  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "output")


def main():
    os.makedirs(OUT, exist_ok=True)
    angles = torch.linspace(0, math.pi, 181, dtype=torch.float64)
    d = 2
    reference = torch.tensor([[1.0, 0.0]], dtype=torch.float64) * math.sqrt(d)
    points = torch.stack([angles.cos(), angles.sin()], 1) * math.sqrt(d)
    phases = {"ordered": (1.2, 0.3), "chaotic": (4.0, 0.05)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, (name, (sw2, sb2)) in zip(axes, phases.items()):
        fp = statmech.meanfield.fixed_point(sw2, sb2, "tanh")
        for depth in (1, 3, 10, 30):
            k = fc_kernel(reference, points, depth=depth, activation="tanh", sigma_w2=sw2, sigma_b2=sb2, get="nngp")[0]
            k_ref = fc_kernel(reference, depth=depth, activation="tanh", sigma_w2=sw2, sigma_b2=sb2, get="nngp",
                              diagonal=True)
            k_pts = fc_kernel(points, depth=depth, activation="tanh", sigma_w2=sw2, sigma_b2=sb2, get="nngp",
                              diagonal=True)
            ax.plot(angles.numpy(), (k / (k_ref * k_pts).sqrt()).numpy(), label=f"depth {depth}")
        ax.axhline(fp.c_star, color="k", linestyle="--", label=f"mean-field c* = {fp.c_star:.3f}")
        ax.set_title(f"{name} phase (tanh, sigma_w2={sw2}, sigma_b2={sb2})", fontsize=10)
        ax.set_xlabel("angle between inputs (rad)")
        ax.legend(fontsize=8)
    axes[0].set_ylabel("NNGP correlation")
    fig.tight_layout()
    path = os.path.join(OUT, "gp_kernel_vs_angle.png")
    fig.savefig(path, dpi=120)
    print("saved", os.path.abspath(path))


if __name__ == "__main__":
    main()
