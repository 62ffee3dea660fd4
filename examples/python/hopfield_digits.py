"""Associative recall of scikit-learn's 8x8 digits: classical binary Hopfield networks against
modern (continuous) Hopfield retrieval, from corrupted and from half-masked inputs.

Images are binarised (pixel > 7 of 16 -> +1, else -1: 64 neurons). One image per digit class
(--per-class more) is stored in

* a classical network with the Hebbian rule and with the pseudo-inverse rule (asynchronous
  dynamics to a fixed point, statmech.nn.BinaryHopfield);
* modern Hopfield retrieval (Ramsauer et al. 2020), xi <- X^T softmax(beta X xi), one update,
  then the sign (the exponential-capacity continuous network; beta = --beta).

Probes are the stored images with 20% of the pixels flipped, and with the lower half blanked
(set to -1). Reported: the fraction of probes recalled exactly (all 64 pixels) per memory.

Writes examples/output/hopfield_digits.png. Run:
    python examples/python/hopfield_digits.py [--per-class 1] [--beta 0.5]
A few seconds.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import statmech  # noqa: E402


def modern_retrieve(stored: torch.Tensor, probes: torch.Tensor, beta: float) -> torch.Tensor:
    """One step of modern Hopfield retrieval, xi <- X^T softmax(beta X xi), then the sign: the
    retrieval op of statmech.nn.Hopfield with its projections off (stored = values = the patterns)."""
    retrieved = statmech.modern_hopfield.hopfield_retrieval(probes, stored, stored, beta)  # [probes, 64]
    return torch.where(retrieved > 0, 1.0, -1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=1, help="stored images per digit class")
    parser.add_argument("--beta", type=float, default=0.5)
    parser.add_argument("--trials", type=int, default=20, help="random corruptions per stored image")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "output" / "hopfield_digits.png"))
    args = parser.parse_args()

    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32)
    labels = torch.tensor(digits.target)
    chosen = torch.cat([torch.nonzero(labels == d)[: args.per_class, 0] for d in range(10)])
    stored = torch.where(images[chosen] > 7, 1.0, -1.0)  # [P, 64]
    p = stored.shape[0]

    g = torch.Generator().manual_seed(0)
    networks = {
        rule: statmech.nn.BinaryHopfield(64, rule=rule).store(stored) for rule in ("hebbian", "pseudo_inverse")
    }

    def corrupt(kind: str, x: torch.Tensor) -> torch.Tensor:
        if kind == "20% flipped":
            return torch.where(torch.rand(x.shape, generator=g) < 0.2, -x, x)
        masked = x.clone()
        masked[:, 32:] = -1.0  # lower half blanked
        return masked

    recalls = {}
    print(f"{p} stored images ({args.per_class} per digit); fraction of probes recalled exactly:")
    print(f"{'input':14s} {'Hebbian':>9s} {'pseudo-inv':>11s} {'modern':>8s}")
    for kind in ("20% flipped", "lower half blanked"):
        trials = args.trials if kind == "20% flipped" else 1
        targets = stored.repeat(trials, 1)
        probes = corrupt(kind, targets)
        out = {
            "Hebbian": networks["hebbian"](probes, generator=g),
            "pseudo-inverse": networks["pseudo_inverse"](probes, generator=g),
            "modern": modern_retrieve(stored, probes, args.beta),
        }
        exact = {name: (o == targets).all(1).float().mean().item() for name, o in out.items()}
        print(f"{kind:14s} {exact['Hebbian']:9.2f} {exact['pseudo-inverse']:11.2f} {exact['modern']:8.2f}")
        recalls[kind] = (probes[:10], {name: o[:10] for name, o in out.items()}, exact)

    rows = ["stored"] + [f"{kind}: {name}" for kind in recalls for name in ["input", "Hebbian", "pseudo-inverse", "modern"]]
    fig, axes = plt.subplots(len(rows), 10, figsize=(10, 1.05 * len(rows)))
    pictures = [stored[:10]]
    for kind, (probes, out, exact) in recalls.items():
        pictures += [probes, out["Hebbian"], out["pseudo-inverse"], out["modern"]]
    for r, (label, batch) in enumerate(zip(rows, pictures)):
        for c in range(10):
            ax = axes[r, c]
            ax.imshow(batch[c].reshape(8, 8), cmap="gray_r", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        name = label.split(": ")[-1]
        kind = label.split(": ")[0]
        score = "" if name in ("stored", "input") else f" ({recalls[kind][2][name]:.0%} exact)"
        axes[r, 0].set_ylabel(label.replace(": ", "\n") + score, rotation=0, ha="right", va="center", fontsize=7)
    fig.suptitle(f"Associative recall of digits: {p} stored images, classical vs modern Hopfield", fontsize=10)
    fig.tight_layout()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
