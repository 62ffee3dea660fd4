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

    fig, ax = plt.subplots(figsize=(7, 4.5))
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
