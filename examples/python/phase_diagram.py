"""Order-to-chaos phase diagrams of deep tanh, silu and gelu networks (Poole et al. 2016;
Schoenholz et al. 2017), with the stability of the variance map's fixed points.

For each (sigma_w2, sigma_b2) (weight and bias variances, sigma^2) the mean-field calculator finds
every fixed point of the variance map and the one a network reaches from the default input variance
(q0 = sigma_w2 + sigma_b2: inputs of mean squared entry 1), the slope chi_1 that separates the
ordered (chi_1 < 1) from the chaotic (chi_1 > 1) phase, and the correlation depth scale
xi_c = -1 / ln chi_c, which diverges at the edge of chaos.

The heat map is log10 xi_c where the network settles at a fixed point; grey where its variance
diverges; hatched where the variance map has several fixed points (where the network goes depends
on q0); red where an unstable fixed point with chi_1 >= 1 exists while the network is ordered or
diverges. The curve chi_1 = 1 (statmech.meanfield.critical_curve, parameterised by q*) is solid
where its fixed point is stable (a true edge of chaos, what critical_line returns) and dashed
where it is unstable: for silu and gelu the small-sigma_b2 part of the curve is unstable, so no
network sits there; tanh's curve is stable everywhere.

Writes examples/output/phase_diagram.png. Run:
    python examples/python/phase_diagram.py [--grid 100]
"""

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from statmech import meanfield  # noqa: E402

ACTIVATIONS = ("tanh", "silu", "gelu")


def compute(activation: str, sigma_w2: torch.Tensor, sigma_b2: torch.Tensor, chunks: int = 10):
    """phase_diagram in chunks of sigma_w2 rows, printing progress; the fields concatenated."""
    parts = []
    start = time.perf_counter()
    for k, part in enumerate(torch.tensor_split(sigma_w2, chunks)):
        parts.append(meanfield.phase_diagram(part, sigma_b2, activation))
        done = (k + 1) / chunks
        bar = "#" * int(30 * done)
        print(f"\r  {activation:5s} [{bar:<30s}] {100 * done:3.0f}%  {time.perf_counter() - start:5.1f}s", end="", flush=True)
    print()
    return {name: torch.cat([getattr(p, name) for p in parts]) for name in ("xi_c", "phase", "fixed_points", "unstable_critical")}


def describe_edge(activation: str) -> str:
    """The sigma_b2 range with a stable edge of chaos, from a fine critical_line."""
    b = torch.linspace(0.0, 2.0, 2001, dtype=torch.float64)
    line = meanfield.critical_line(b, activation, return_reason=True)
    found = line.reason == 0
    if not found.any():
        return f"{activation}: no stable edge of chaos for sigma_b2 in [0, 2]"
    first = int(found.nonzero()[0])
    reason = meanfield.CRITICAL_REASONS[int(line.reason[0])]
    return (
        f"{activation}: stable edge of chaos from sigma_b2 = {b[first].item():.3f} (sigma_w2 = "
        f"{line.sigma_w2[first].item():.4f}, q* = {line.q_star[first].item():.3f}); at sigma_b2 = 0: {reason}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=100, help="grid points per axis")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "output" / "phase_diagram.png"))
    args = parser.parse_args()

    sigma_w2 = torch.linspace(0.5, 4.0, args.grid, dtype=torch.float64)
    sigma_b2 = torch.linspace(0.0, 1.2, args.grid, dtype=torch.float64)
    q_curve = torch.logspace(-3, 3, 600, dtype=torch.float64)

    fig, axes = plt.subplots(1, len(ACTIVATIONS), figsize=(16, 4.8), constrained_layout=True)
    for ax, activation in zip(axes, ACTIVATIONS):
        print(f"{activation}: phase diagram on a {args.grid} x {args.grid} grid")
        d = compute(activation, sigma_w2, sigma_b2)
        diverging = d["phase"] == meanfield.PHASES.index("diverging")
        xi = torch.log10(d["xi_c"]).masked_fill(diverging, float("nan"))
        ax.set_facecolor("0.75")  # diverging: grey
        image = ax.pcolormesh(
            sigma_w2.numpy(), sigma_b2.numpy(), xi.T.numpy(), shading="auto", cmap="viridis", vmin=0, vmax=3
        )
        extent = (sigma_w2[0].item(), sigma_w2[-1].item(), sigma_b2[0].item(), sigma_b2[-1].item())
        multiple = (d["fixed_points"] >= 2).T.numpy().astype(float)
        if multiple.any():
            ax.contourf(sigma_w2.numpy(), sigma_b2.numpy(), multiple, levels=[0.5, 1.5], colors="none", hatches=["//"])
        unstable = d["unstable_critical"].T.numpy().astype(float)
        if unstable.any():
            ax.contourf(sigma_w2.numpy(), sigma_b2.numpy(), unstable, levels=[0.5, 1.5], colors=["red"], alpha=0.25)
        curve = meanfield.critical_curve(q_curve, activation)
        w, b, slope = curve.sigma_w2.numpy(), curve.sigma_b2.numpy(), curve.slope.numpy()
        stable = np.where(slope <= 1.0, b, np.nan)
        unstable_b = np.where(slope > 1.0, b, np.nan)
        ax.plot(w, stable, color="white", lw=2.2, label=r"$\chi_1 = 1$, stable $q^*$ (edge of chaos)")
        ax.plot(w, unstable_b, color="red", lw=2, ls="--", label=r"$\chi_1 = 1$, unstable $q^*$ (not an edge)")
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xlabel(r"$\sigma_w^2$ (weight variance)")
        ax.set_ylabel(r"$\sigma_b^2$ (bias variance)")
        ax.set_title(f"{activation}: hatched = several fixed points, grey = diverging")
        ax.legend(loc="upper left", fontsize=7)
        fig.colorbar(image, ax=ax, label=r"$\log_{10} \xi_c$ (layers)")
        print("  " + describe_edge(activation))

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
