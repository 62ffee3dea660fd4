"""RBMs on scikit-learn's digits (8x8, binarised): PCD training, honest likelihoods, samples, and
RBM features for classification beside scikit-learn's BernoulliRBM pipeline.

1. Trains statmech.nn.RBM(64, 100) with PCD-1 (fit() shows a tqdm progress bar and per-epoch
   metrics) on 80% of the digits.
2. Test average log-likelihood by annealed importance sampling (Salakhutdinov & Murray 2008:
   14,500 betas, 100 runs, base-rate model from the training data), and for a 20-hidden model both
   by AIS and exactly (2^20 hidden states enumerated).
3. A grid of samples from 1000-step Gibbs chains (fused in one C++ op).
4. scikit-learn's documented "RBM features for digit classification" pipeline (nudged digits,
   BernoulliRBM(n_components=100, learning_rate=0.06, n_iter=10) + LogisticRegression(C=6000), raw
   pixels with C=100), run beside the same pipeline with statmech's RBM (PCD-1, batch 10, SGD with
   the same learning rate), on the same binarised data; prints the three accuracies.

Writes examples/output/rbm_digits.png. Run:  python examples/python/rbm_digits.py [--epochs N]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import statmech
from statmech.nn import RBM


def binarised_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.data > 7).astype(np.float64), digits.target


def nudge(x, y):
    """The documented example's augmentation: each image shifted by one pixel in four directions."""
    from scipy.ndimage import shift

    images = x.reshape(-1, 8, 8)
    shifted = [x] + [
        np.stack([shift(img, offset, mode="constant", cval=0) for img in images]).reshape(len(x), 64)
        for offset in ((0, 1), (0, -1), (1, 0), (-1, 0))
    ]
    return np.concatenate(shifted), np.concatenate([y] * 5)


def likelihoods(args, x_train, x_test):
    g = torch.Generator().manual_seed(0)
    train = torch.from_numpy(x_train)
    test = torch.from_numpy(x_test)
    results = {}
    for hidden, epochs in ((100, args.epochs), (20, args.epochs)):
        model = RBM(64, hidden, dtype=torch.float64)
        model.reset_parameters(generator=g)
        model.init_from_data(train)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
        history = model.fit(train, epochs=epochs, batch_size=20, optimizer=optimizer, persistent=True, generator=g)
        start = time.perf_counter()
        log_z, lower, upper = model.ais(train, runs=100, generator=g)
        ais_seconds = time.perf_counter() - start
        with torch.no_grad():
            test_ll = float(model.log_likelihood(test, log_z).mean())
            spread = (float(test_ll - (upper - log_z)), float(test_ll + (log_z - lower)))
        line = (f"RBM(64, {hidden}): test log-likelihood by AIS {test_ll:.3f} nats "
                f"(log Z {float(log_z):.3f} in [{float(lower):.3f}, {float(upper):.3f}], {ais_seconds:.1f} s)")
        if hidden <= 25:
            with torch.no_grad():
                exact_log_z = float(model.log_partition())
                exact_ll = float(model.log_likelihood(test).mean())
            line += f"; exact {exact_ll:.3f} nats (log Z {exact_log_z:.3f}, AIS error {float(log_z) - exact_log_z:+.4f})"
        print(line)
        results[hidden] = (model, history, test_ll, spread)
    return results


def pipelines(args, x, y):
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import BernoulliRBM
    from sklearn.pipeline import Pipeline

    x, y = nudge(x, y)
    x = (x > 0.5).astype(np.float64)  # shifting keeps 0/1 values; binarised again for safety
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0)
    logistic = LogisticRegression(solver="newton-cg", C=6000)
    theirs = Pipeline([("rbm", BernoulliRBM(n_components=100, learning_rate=0.06, n_iter=10, random_state=0)),
                       ("logistic", logistic)])
    start = time.perf_counter()
    theirs.fit(x_train, y_train)
    their_seconds = time.perf_counter() - start
    their_accuracy = accuracy_score(y_test, theirs.predict(x_test))

    g = torch.Generator().manual_seed(0)
    ours = RBM(64, 100, dtype=torch.float64)
    ours.reset_parameters(generator=g)
    start = time.perf_counter()
    ours.fit(torch.from_numpy(x_train), epochs=10, batch_size=10, lr=0.06, persistent=True, generator=g,
             metrics_rows=0)
    our_seconds = time.perf_counter() - start
    with torch.no_grad():
        features_train = ours.hidden_probability(torch.from_numpy(x_train)).numpy()
        features_test = ours.hidden_probability(torch.from_numpy(x_test)).numpy()
    our_logistic = clone(logistic).fit(features_train, y_train)
    our_accuracy = accuracy_score(y_test, our_logistic.predict(features_test))

    raw = LogisticRegression(solver="newton-cg", C=100).fit(x_train, y_train)
    raw_accuracy = accuracy_score(y_test, raw.predict(x_test))
    print(f"accuracy: statmech RBM + logistic {our_accuracy:.4f} (RBM training {our_seconds:.1f} s), "
          f"scikit-learn BernoulliRBM + logistic {their_accuracy:.4f} (pipeline {their_seconds:.1f} s), "
          f"raw-pixel logistic {raw_accuracy:.4f}")
    return our_accuracy, their_accuracy, raw_accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "output" / "rbm_digits.png")
    args = parser.parse_args()
    from sklearn.model_selection import train_test_split

    x, y = binarised_digits()
    x_train, x_test = train_test_split(x, test_size=0.2, random_state=0)
    results = likelihoods(args, x_train, x_test)
    model, history, test_ll, _ = results[100]
    samples = model.sample(100, steps=1000, generator=torch.Generator().manual_seed(1))
    accuracies = pipelines(args, x, y)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for hidden, (_, hist, ll, _) in sorted(results.items()):
        axes[0].plot([h["pseudo_likelihood"] for h in hist], label=f"{hidden} hidden (test AIS LL {ll:.2f})")
    axes[0].set_xlabel("epoch (PCD-1)")
    axes[0].set_ylabel("mean log pseudo-likelihood (train)")
    axes[0].legend()
    grid = samples.view(10, 10, 8, 8).permute(0, 2, 1, 3).reshape(80, 80)
    axes[1].imshow(grid.numpy(), cmap="gray_r")
    axes[1].set_title("samples: 100 chains x 1000 Gibbs steps")
    axes[1].axis("off")
    names = ["statmech RBM\n+ logistic", "sklearn BernoulliRBM\n+ logistic", "raw pixels\n+ logistic"]
    axes[2].bar(names, accuracies, color=["tab:blue", "tab:orange", "tab:gray"])
    axes[2].set_ylim(0.8, 1.0)
    for i, acc in enumerate(accuracies):
        axes[2].text(i, acc + 0.003, f"{acc:.3f}", ha="center")
    axes[2].set_title("nudged binarised digits, test accuracy")
    fig.tight_layout()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
