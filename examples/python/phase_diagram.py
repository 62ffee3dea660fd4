"""Order-to-chaos phase diagrams of deep tanh and erf networks (Poole et al. 2016; Schoenholz et al. 2017).

For each (sigma_w2, sigma_b2) (weight and bias variances, sigma^2) the mean-field calculator finds
the fixed point q* of the variance map, the slope chi_1 that separates the ordered (chi_1 < 1) from
the chaotic (chi_1 > 1) phase, and the correlation depth scale xi_c = -1 / ln chi_c, which diverges
on the critical line chi_1 = 1: deep networks train only within a few xi_c of their depth
(Schoenholz et al. 2017). The plot shows log10 xi_c as a heat map with the critical line
(statmech.meanfield.critical_line) drawn over it, one panel per activation.

Writes examples/output/phase_diagram.png. Run:
    python examples/python/phase_diagram.py [--grid 120]
"""

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from statmech import meanfield  # noqa: E402


def compute(activation: str, sigma_w2: torch.Tensor, sigma_b2: torch.Tensor, chunks: int = 10):
    """phase_diagram in chunks of sigma_w2 rows, printing progress."""
    rows = []
    start = time.perf_counter()
    for k, part in enumerate(torch.tensor_split(sigma_w2, chunks)):
        rows.append(meanfield.phase_diagram(part, sigma_b2, activation).xi_c)
        done = (k + 1) / chunks
        bar = "#" * int(30 * done)
        print(f"\r  {activation:5s} [{bar:<30s}] {100 * done:3.0f}%  {time.perf_counter() - start:5.1f}s", end="", flush=True)
    print()
    return torch.cat(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=120, help="grid points per axis")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "output" / "phase_diagram.png"))
    args = parser.parse_args()

    sigma_w2 = torch.linspace(0.5, 4.0, args.grid, dtype=torch.float64)
    sigma_b2 = torch.linspace(0.0, 0.3, args.grid, dtype=torch.float64)
    line_b2 = torch.linspace(0.0, 0.3, 200, dtype=torch.float64)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), constrained_layout=True)
    for ax, activation in zip(axes, ("tanh", "erf")):
        print(f"{activation}: phase diagram on a {args.grid} x {args.grid} grid")
        xi_c = compute(activation, sigma_w2, sigma_b2)
        line_w2 = meanfield.critical_line(line_b2, activation)
        image = ax.pcolormesh(
            sigma_w2.numpy(), sigma_b2.numpy(), torch.log10(xi_c).T.numpy(),
            shading="auto", cmap="viridis", vmin=0, vmax=3,
        )
        ax.plot(line_w2.numpy(), line_b2.numpy(), color="white", lw=2, label=r"critical line $\chi_1 = 1$")
        ax.set_xlim(sigma_w2[0].item(), sigma_w2[-1].item())
        ax.set_ylim(sigma_b2[0].item(), sigma_b2[-1].item())
        ax.set_xlabel(r"$\sigma_w^2$ (weight variance)")
        ax.set_ylabel(r"$\sigma_b^2$ (bias variance)")
        ax.set_title(f"{activation}: ordered (left) | chaotic (right)")
        ax.legend(loc="upper left", fontsize=8)
        fig.colorbar(image, ax=ax, label=r"$\log_{10} \xi_c$ (correlation depth scale, layers)")
        p = meanfield.fixed_point(torch.nn.init.calculate_gain("tanh") ** 2, 0.0, activation)
        print(f"  at PyTorch's tanh gain (5/3)^2 with zero bias: {p}")

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
