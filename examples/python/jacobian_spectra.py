"""Singular values of the input-output Jacobian of deep MLPs at the edge of chaos: orthogonal
versus Gaussian weights, tanh versus ReLU (Pennington, Schoenholz & Ganguli 2017, "Resurrecting
the sigmoid in deep learning through dynamical isometry").

At criticality the mean squared singular value of J = d x^L / d x^0 is one for every network here
(chi_1 = 1), but the *spread* differs:
- tanh with orthogonal weights and a small fixed point q* = 1/L stays concentrated near one
  (dynamical isometry); with Gaussian weights it spreads out with depth;
- ReLU spreads out whatever the weights, since half the units are off (no isometry possible).

Every network is built with statmech.init.edge_of_chaos_ (which reports the chosen point) and
measured with statmech.meanfield.measure. Writes examples/output/jacobian_spectra.png.
Run:  python examples/python/jacobian_spectra.py [--depth 32] [--width 256] [--draws 4]
"""

import argparse
import time
from pathlib import Path

import torch
from torch import nn

import statmech
from statmech import meanfield


def mlp(width: int, depth: int, activation: type) -> nn.Sequential:
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), activation()]
    return nn.Sequential(*layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--draws", type=int, default=4, help="networks per configuration")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "output")
    args = parser.parse_args()
    torch.set_num_threads(2)  # the spectra are cheap; leave the rest of the machine alone

    configurations = [(act, dist) for act in (nn.Tanh, nn.ReLU) for dist in ("orthogonal", "normal")]
    spectra = {}
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for activation, distribution in configurations:
        key = (activation.__name__, distribution)
        values = []
        for draw in range(args.draws):
            net = mlp(args.width, args.depth, activation).double()
            # tanh: the critical point with q* = 1/L (edge_of_chaos_ with depth); ReLU: (2, 0).
            report = statmech.init.edge_of_chaos_(
                net, distribution=distribution, depth=args.depth if activation is nn.Tanh else None,
                generator=generator,
            )
            sigma_w2, sigma_b2 = report[0].sigma_w2, report[0].sigma_b2
            q_star = meanfield.fixed_point(sigma_w2, sigma_b2, report[0].activation).q_star
            # Inputs at the fixed point's length (ReLU has none: its q is preserved, use q = 1).
            q_in = q_star if activation is nn.Tanh else 1.0
            x = torch.randn(2, args.width, dtype=torch.float64, generator=generator) * q_in**0.5
            result = meanfield.measure(net, x)
            values.append(result.singular_values)
        s = torch.cat(values)
        spectra[key] = s
        print(
            f"[{time.perf_counter() - start:5.1f}s] {key[0]:4s} {distribution:10s} sigma_w2 = {sigma_w2:.4f}, "
            f"sigma_b2 = {sigma_b2:.3g}: mean s^2 = {s.pow(2).mean():.3f}, var s^2 = {s.pow(2).var():.3f}, "
            f"max s = {s.max():.3f}, min s = {s.min():.2e}"
        )

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, act in zip(axes, ("Tanh", "ReLU")):
        for distribution, colour in (("orthogonal", "tab:blue"), ("normal", "tab:orange")):
            s = spectra[(act, distribution)].numpy()
            ax.hist(s, bins=60, range=(0, max(3.0, float(s.max()) * 0.5)), density=True, alpha=0.6,
                    color=colour, label=f"{distribution} (var s² = {(s**2).var():.2f})")
        ax.set_title(f"{act}, depth {args.depth}, width {args.width}, at criticality")
        ax.set_xlabel("singular value of the input-output Jacobian")
        ax.set_ylabel("density")
        ax.legend()
    fig.tight_layout()
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "jacobian_spectra.png"
    fig.savefig(path, dpi=120)
    print(f"wrote {path} ({time.perf_counter() - start:.1f}s)")


if __name__ == "__main__":
    main()
