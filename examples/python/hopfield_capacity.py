"""Storage capacity of binary associative memories: retrieval overlap against the load alpha = P/N.

For each load, P = alpha N random +-1 patterns are stored in an N-neuron network (N = 1000 by
default) and up to --probes of them are presented with 10% of their bits flipped; the network
runs its asynchronous dynamics to a fixed point and the overlap m = s . xi / N with the original
pattern is recorded (mean over probes). Four memories on one plot:

* Hebbian (Hopfield 1982): retrieval collapses near alpha_c ~ 0.138 (Amit, Gutfreund &
  Sompolinsky 1985), the dashed line;
* Storkey (1997): a local, incremental rule with a larger capacity;
* pseudo-inverse (Personnaz et al. 1985; Kanter & Sompolinsky 1987): every pattern a fixed
  point up to alpha -> 1, with basins that shrink as alpha grows;
* dense associative memory with F(x) = x^3 (Krotov & Hopfield 2016): capacity ~ N^2, far beyond
  0.14 N.

A second panel measures the dense memory's capacity where it breaks down: N = 100 neurons,
F(x) = x^n for n = 2 (the Hebbian energy), 3 and 4, and the fraction of 50 probes (10% flipped
bits) recalled exactly against P / N.

Writes examples/output/hopfield_capacity.png and prints the table. Run:
    python examples/python/hopfield_capacity.py [--neurons 1000] [--probes 40]
About 2 minutes on 2 cores with the defaults.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from statmech import hopfield as H  # noqa: E402

ALPHA_C = 0.138  # Amit, Gutfreund & Sompolinsky (1985)


def recall_overlap(memory: str, patterns: torch.Tensor, probes: int, g: torch.Generator) -> float:
    p, n = patterns.shape
    targets = patterns[:probes]
    noisy = torch.where(torch.rand(targets.shape, generator=g) < 0.1, -targets, targets)
    if memory == "dense (x^3)":
        out = H.dense_memory_run(noisy, patterns, "polynomial", 3, generator=g)
    else:
        rule = {"Hebbian": "hebbian", "Storkey": "storkey", "pseudo-inverse": "pseudo_inverse"}[memory]
        out = H.run(noisy, H.store(patterns, rule), generator=g)
    return H.overlap(out.state, targets).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--neurons", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=40, help="noisy patterns presented per load")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "output" / "hopfield_capacity.png"))
    args = parser.parse_args()
    n = args.neurons
    alphas = [0.02, 0.05, 0.08, 0.10, 0.12, 0.13, 0.14, 0.15, 0.16, 0.18, 0.20, 0.25, 0.30, 0.40, 0.50, 0.60]
    memories = ["Hebbian", "Storkey", "pseudo-inverse", "dense (x^3)"]
    results = {m: [] for m in memories}
    g = torch.Generator().manual_seed(0)
    for alpha in tqdm(alphas, desc=f"loads (N = {n})"):
        patterns = H.random_patterns(max(1, round(alpha * n)), n, generator=g)
        for memory in memories:
            results[memory].append(recall_overlap(memory, patterns, args.probes, g))

    print(f"\nmean retrieval overlap from 10% flipped bits, N = {n}, {args.probes} probes per load")
    print("alpha  " + "  ".join(f"{m:>15s}" for m in memories))
    for k, alpha in enumerate(alphas):
        print(f"{alpha:5.2f}  " + "  ".join(f"{results[m][k]:15.3f}" for m in memories))

    dense_n, dense_loads = 100, [0.1, 0.14, 0.2, 0.4, 0.8, 1.2, 1.6, 2.4, 3.2, 4.8, 6.4]
    exact = {degree: [] for degree in (2, 3, 4)}
    for load in tqdm(dense_loads, desc="dense memory loads (N = 100)"):
        patterns = H.random_patterns(round(load * dense_n), dense_n, generator=g)
        probes = patterns[:50]
        noisy = torch.where(torch.rand(probes.shape, generator=g) < 0.1, -probes, probes)
        for degree in exact:
            out = H.dense_memory_run(noisy, patterns, "polynomial", degree, generator=g)
            exact[degree].append((out.state == probes).all(1).float().mean().item())
    print(f"\ndense memory, N = {dense_n}: fraction of 50 probes recalled exactly")
    print("P/N    " + "  ".join(f"{'x^' + str(d):>6s}" for d in exact))
    for k, load in enumerate(dense_loads):
        print(f"{load:5.2f}  " + "  ".join(f"{exact[d][k]:6.2f}" for d in exact))

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for degree, marker in zip(exact, "osd"):
        ax2.plot(dense_loads, exact[degree], marker=marker, label=f"F(x) = x^{degree}" + (" (Hebbian)" if degree == 2 else ""))
    ax2.axvline(ALPHA_C, color="k", ls="--", lw=1)
    ax2.set_xscale("log")
    ax2.set_xlabel("P / N")
    ax2.set_ylabel("fraction recalled exactly")
    ax2.set_title(f"Dense associative memory, N = {dense_n}")
    ax2.legend(loc="lower left")
    for memory, marker in zip(memories, "osd^"):
        ax.plot(alphas, results[memory], marker=marker, label=memory)
    ax.axvline(ALPHA_C, color="k", ls="--", lw=1, label=r"$\alpha_c \approx 0.138$ (AGS 1985)")
    ax.set_xlabel(r"load $\alpha = P / N$")
    ax.set_ylabel("retrieval overlap $m$")
    ax.set_title(f"Capacity of binary associative memories, N = {n}, 10% flipped bits")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="lower left")
    fig.tight_layout()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
