"""Which deep tanh networks train? Depth against sigma_w^2, with 6 xi_c from mean-field theory.

Schoenholz et al. 2017 ("Deep information propagation", Fig. 5/6) found that a random network
trains only when its depth is below a few correlation depth scales xi_c: information about the
input is lost after ~xi_c layers of the c-map, so deeper networks start from an output that does not
depend on the input. xi_c diverges at the order-chaos transition (chi_1 = 1), so the trainable
region is a wedge around the critical sigma_w^2; the paper's boundary is depth ~ 6 xi_c.

This script trains tanh MLPs of width --width on scikit-learn's digits (8x8 images, 10 classes)
for a fixed number of RMSProp steps, over a grid of sigma_w^2 and depths up to 200 at a fixed
sigma_b^2, and colours the grid by test accuracy. The theory curve 6 xi_c(sigma_w^2) comes from
statmech.meanfield; weights are drawn by statmech.init.critical_normal_ with an explicit sigma_w^2
(variance of each weight: sigma_w^2 / fan_in) and biases from N(0, sigma_b^2).

Writes examples/output/trainability.png. Run:
    python examples/python/trainability.py --quick     # a few minutes on 2 CPU cores
    python examples/python/trainability.py             # the finer grid
"""

import argparse
import sys
import time
from pathlib import Path

import torch

import statmech


def load_digits(generator: torch.Generator):
    from sklearn.datasets import load_digits as sklearn_digits  # bundled with scikit-learn, no download

    data = sklearn_digits()
    x = torch.tensor(data.data, dtype=torch.float32)
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=generator)
    x, y = x[order], y[order]
    # Standardised features, so the input variance per coordinate is q_0 = 1 as in the theory.
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-6)
    split = 1300
    return (x[:split], y[:split]), (x[split:], y[split:])


def tanh_mlp(inputs: int, width: int, depth: int, classes: int, sigma_w2: float, sigma_b2: float, generator):
    layers = []
    fan_in = inputs
    for _ in range(depth):
        linear = torch.nn.Linear(fan_in, width)
        statmech.init.critical_normal_(linear.weight, sigma_w2=sigma_w2, generator=generator)
        torch.nn.init.normal_(linear.bias, std=sigma_b2**0.5, generator=generator)
        layers += [linear, torch.nn.Tanh()]
        fan_in = width
    readout = torch.nn.Linear(width, classes)
    torch.nn.init.normal_(readout.weight, std=(1.0 / width) ** 0.5, generator=generator)
    torch.nn.init.zeros_(readout.bias)
    return torch.nn.Sequential(*layers, readout)


def train_and_score(model, train, test, steps: int, batch: int, lr: float, generator) -> float:
    optimizer = torch.optim.RMSprop(model.parameters(), lr=lr)
    x_train, y_train = train
    for _ in range(steps):
        index = torch.randint(len(x_train), (batch,), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(x_train[index]), y_train[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        x_test, y_test = test
        prediction = model(x_test).argmax(1)
        return (prediction == y_test).float().mean().item()


def progress(done: int, total: int, started: float, text: str) -> None:
    filled = int(30 * done / total)
    elapsed = time.perf_counter() - started
    remaining = elapsed / done * (total - done) if done else float("nan")
    print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}  {text}  eta {remaining:5.0f}s",
          end="", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="coarse grid and short training (a few minutes)")
    parser.add_argument("--sigma-b2", type=float, default=0.05, help="bias variance sigma_b^2 (a variance)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4, help="RMSProp learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "output")
    args = parser.parse_args()

    # In the ordered phase the signal decays geometrically with depth; subnormal floats would make
    # those runs ~100x slower without changing the result.
    torch.set_flush_denormal(True)
    if args.quick:
        sigma_w2_grid = torch.linspace(0.5, 4.0, 8).tolist()
        depths = [10, 25, 50, 100, 200]
        steps = 300
    else:
        sigma_w2_grid = torch.linspace(0.5, 4.0, 15).tolist()
        depths = [10, 20, 35, 50, 75, 100, 150, 200, 250]
        steps = 1000

    generator = torch.Generator().manual_seed(args.seed)
    train, test = load_digits(generator)

    accuracy = torch.zeros(len(depths), len(sigma_w2_grid))
    total = accuracy.numel()
    started = time.perf_counter()
    done = 0
    for i, depth in enumerate(depths):
        for j, sigma_w2 in enumerate(sigma_w2_grid):
            progress(done, total, started, f"depth {depth:3d}  sigma_w^2 {sigma_w2:4.2f}")
            model = tanh_mlp(64, args.width, depth, 10, sigma_w2, args.sigma_b2, generator)
            accuracy[i, j] = train_and_score(model, train, test, steps, 128, args.lr, generator)
            done += 1
    progress(done, total, started, "done" + " " * 24)
    print(file=sys.stderr)

    # The theory: xi_c over a fine sigma_w^2 grid at the same sigma_b^2 (both variances).
    fine = torch.linspace(sigma_w2_grid[0], sigma_w2_grid[-1], 400, dtype=torch.float64)
    diagram = statmech.meanfield.phase_diagram(fine, torch.tensor([args.sigma_b2], dtype=torch.float64), "tanh")
    xi_c = diagram.xi_c[:, 0]
    critical = statmech.meanfield.critical_sigma_w2(args.sigma_b2, "tanh")

    print(f"tanh, sigma_b^2 = {args.sigma_b2}: critical sigma_w^2 = {critical:.4f}")
    print("test accuracy (rows: depth, columns: sigma_w^2):")
    print("depth  " + " ".join(f"{s:5.2f}" for s in sigma_w2_grid))
    for depth, row in zip(depths, accuracy.tolist()):
        print(f"{depth:5d}  " + " ".join(f"{a:5.2f}" for a in row))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 5))
    step_w = (sigma_w2_grid[-1] - sigma_w2_grid[0]) / (len(sigma_w2_grid) - 1)
    image = axes.pcolormesh(
        torch.tensor(sigma_w2_grid + [sigma_w2_grid[-1] + step_w]) - step_w / 2,
        torch.tensor([0] + [(a + b) / 2 for a, b in zip(depths, depths[1:])] + [depths[-1] + 25]),
        accuracy, cmap="viridis", vmin=0.0, vmax=1.0, shading="flat")
    figure.colorbar(image, ax=axes, label=f"test accuracy after {steps} RMSProp steps")
    axes.plot(fine, 6 * xi_c.clamp(max=10 * depths[-1]), color="white", linewidth=2, label=r"$6\,\xi_c$ (mean-field theory)")
    axes.axvline(critical, color="red", linestyle="--", linewidth=1, label=rf"$\chi_1 = 1$ ($\sigma_w^2$ = {critical:.3f})")
    axes.set_ylim(0, depths[-1] + 25)
    axes.set_xlabel(r"$\sigma_w^2$ (weight variance $\times$ fan-in)")
    axes.set_ylabel("depth L")
    axes.set_title(rf"deep tanh MLPs on digits, width {args.width}, $\sigma_b^2$ = {args.sigma_b2}")
    axes.legend(loc="upper right", fontsize=8)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / "trainability.png"
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    print(f"saved {path} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
