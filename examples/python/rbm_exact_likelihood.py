"""Train a restricted Boltzmann machine by exact maximum likelihood, with rbm_free_energy.

For a small RBM the partition function is an exact sum over every visible state,
log Z = logsumexp_v(-F(v)), so the negative log-likelihood

    NLL = mean_data F(v) + log Z

is exact, and its gradient comes from the operator's hand-written backward. The data set is
4x4 bars-and-stripes (30 patterns, MacKay 2003); the best possible NLL is log 30 = 3.401 nats.

Writes examples/output/rbm_exact_likelihood.png: the NLL curve and the model's most probable
states. Run:  python examples/python/rbm_exact_likelihood.py [--steps N] [--hidden H]
"""

import argparse
import itertools
import math
import sys
from pathlib import Path

import torch

import statmech


def bars_and_stripes(side: int) -> torch.Tensor:
    """All side x side images whose rows (or columns) are all on or all off, flattened."""
    patterns = set()
    for lines in itertools.product([0.0, 1.0], repeat=side):
        rows = torch.tensor(lines).unsqueeze(1).expand(side, side)
        patterns.add(tuple(rows.flatten().tolist()))
        patterns.add(tuple(rows.T.flatten().tolist()))
    return torch.tensor(sorted(patterns), dtype=torch.float64)


def all_binary_states(n: int) -> torch.Tensor:
    codes = torch.arange(2**n).unsqueeze(1)
    return ((codes >> torch.arange(n)) & 1).to(torch.float64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "output")
    args = parser.parse_args()

    data = bars_and_stripes(args.side)
    visible = args.side**2
    states = all_binary_states(visible)
    generator = torch.Generator().manual_seed(args.seed)
    # Weight layout [visible, hidden], as in every statmech RBM operator.
    weight = torch.nn.Parameter(0.01 * torch.randn(visible, args.hidden, dtype=torch.float64, generator=generator))
    visible_bias = torch.nn.Parameter(torch.zeros(visible, dtype=torch.float64))
    hidden_bias = torch.nn.Parameter(torch.zeros(args.hidden, dtype=torch.float64))
    optimizer = torch.optim.Adam([weight, visible_bias, hidden_bias], lr=0.05)

    best = math.log(len(data))
    print(f"{len(data)} bars-and-stripes patterns of {visible} pixels; exact log Z over {len(states)} states; "
          f"best possible NLL = log {len(data)} = {best:.3f} nats")
    history = []
    for step in range(1, args.steps + 1):
        log_partition = torch.logsumexp(-statmech.ops.rbm_free_energy(states, weight, visible_bias, hidden_bias), 0)
        nll = statmech.ops.rbm_free_energy(data, weight, visible_bias, hidden_bias).mean() + log_partition
        optimizer.zero_grad()
        nll.backward()
        optimizer.step()
        history.append(nll.item())
        if step % max(1, args.steps // 20) == 0 or step == args.steps:
            done = step * 30 // args.steps
            print(f"\r[{'#' * done}{'.' * (30 - done)}] step {step:4d}/{args.steps}  NLL {nll.item():.4f}",
                  end="", flush=True)
    print()

    with torch.no_grad():
        log_p = -statmech.ops.rbm_free_energy(states, weight, visible_bias, hidden_bias)
        log_p -= torch.logsumexp(log_p, 0)
        mass_on_data = log_p[(states.unsqueeze(1) == data.unsqueeze(0)).all(-1).any(-1)].exp().sum().item()
        top = log_p.topk(len(data))
    print(f"final NLL {history[-1]:.4f} nats (optimum {best:.4f}); model mass on the data patterns "
          f"{mass_on_data:.3f}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the plot")
        return 0
    args.output.mkdir(parents=True, exist_ok=True)
    figure = plt.figure(figsize=(11, 4.2))
    curve = figure.add_axes([0.06, 0.14, 0.36, 0.76])
    curve.plot(history, label="exact NLL")
    curve.axhline(best, color="k", linestyle="--", label=f"optimum log {len(data)}")
    curve.set_xlabel("Adam step")
    curve.set_ylabel("negative log-likelihood (nats)")
    curve.set_title("Exact maximum likelihood via rbm_free_energy")
    curve.legend()
    columns = 10
    for i, (index, value) in enumerate(zip(top.indices, top.values)):
        ax = figure.add_axes([0.47 + (i % columns) * 0.052, 0.66 - (i // columns) * 0.27, 0.045, 0.2])
        ax.imshow(states[index].reshape(args.side, args.side), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{value.exp().item():.3f}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    figure.text(0.47, 0.92, f"the model's {len(data)} most probable states and their probabilities")
    path = args.output / "rbm_exact_likelihood.png"
    figure.savefig(path, dpi=110)
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
