"""Multiple-instance learning with HopfieldPooling on scikit-learn's digits.

A bag is a set of 6-14 digit images (8x8, in random order); it is positive when it holds at least
one image of the target digit (default 9). The classifier sees only the bag label: an instance
encoder (a small MLP) embeds each image, HopfieldPooling's learned query retrieves from the bag
(the instances are the stored patterns, padding masked out with stored_mask), and a linear layer
turns the pooled vector into a logit. It is trained in a normal loop (Adam, mini-batches of bags),
and the association of the learned query with each instance shows which image made the decision.

Writes examples/output/hopfield_pooling_mil.png: the training loss and test accuracy, and two test
bags with each instance's association weight. Run:
    python examples/python/hopfield_pooling_mil.py [--target 9] [--epochs 30]
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

import statmech


def make_bags(images, labels, count, target, generator, min_size=6, max_size=14):
    """count bags, half of them positive, as padded [count, max_size, 64] with a [count, max_size] mask."""
    positives = torch.nonzero(labels == target).flatten()
    negatives = torch.nonzero(labels != target).flatten()
    bags = torch.zeros(count, max_size, images.shape[1])
    members = torch.full((count, max_size), -1, dtype=torch.long)
    mask = torch.zeros(count, max_size, dtype=torch.bool)
    bag_labels = torch.zeros(count)
    for b in range(count):
        size = int(torch.randint(min_size, max_size + 1, (1,), generator=generator))
        chosen = negatives[torch.randint(len(negatives), (size,), generator=generator)]
        if b % 2 == 0:  # positive: one to three target images at random places
            hits = int(torch.randint(1, 4, (1,), generator=generator))
            places = torch.randperm(size, generator=generator)[:hits]
            chosen[places] = positives[torch.randint(len(positives), (hits,), generator=generator)]
            bag_labels[b] = 1.0
        bags[b, :size] = images[chosen]
        members[b, :size] = chosen
        mask[b, :size] = True
    return bags, mask, bag_labels, members


class BagClassifier(nn.Module):
    def __init__(self, features=64, hidden=32, heads=4):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, hidden))
        self.pool = statmech.nn.HopfieldPooling(hidden, num_queries=1, num_heads=heads, update_steps=1)
        self.head = nn.Linear(hidden, 1)

    def forward(self, bags, mask):
        pooled = self.pool(self.encoder(bags), stored_mask=mask)  # [B, 1, hidden]
        return self.head(pooled.squeeze(1)).squeeze(-1)

    def association(self, bags, mask):
        return self.pool.association(self.encoder(bags), stored_mask=mask)  # [B, heads, 1, S]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--train-bags", type=int, default=1000)
    parser.add_argument("--test-bags", type=int, default=400)
    args = parser.parse_args()
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    labels = torch.tensor(digits.target)
    order = torch.randperm(len(labels), generator=g)
    split = int(0.7 * len(labels))
    train_idx, test_idx = order[:split], order[split:]  # test bags use images never seen in training
    train = make_bags(images[train_idx], labels[train_idx], args.train_bags, args.target, g)
    test = make_bags(images[test_idx], labels[test_idx], args.test_bags, args.target, g)
    test_members = torch.where(test[3] >= 0, test_idx[test[3].clamp_min(0)], -1)  # indices into the data set

    started = time.perf_counter()
    model = BagClassifier()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    losses, accuracies = [], []
    for epoch in range(args.epochs):
        model.train()
        permutation = torch.randperm(args.train_bags, generator=g)
        total = 0.0
        for start in range(0, args.train_bags, 50):
            batch = permutation[start:start + 50]
            optimiser.zero_grad()
            loss = loss_fn(model(train[0][batch], train[1][batch]), train[2][batch])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        model.eval()
        with torch.no_grad():
            accuracy = ((model(test[0], test[1]) > 0).float() == test[2]).float().mean().item()
        losses.append(total / args.train_bags)
        accuracies.append(accuracy)
        print(f"epoch {epoch + 1:3d}  loss {losses[-1]:.4f}  test accuracy {accuracy:.3f}", flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with torch.no_grad():
        weights = model.association(test[0][:2], test[1][:2]).mean(1)[:, 0]  # heads averaged: [2, S]
        probability = torch.sigmoid(model(test[0][:2], test[1][:2]))
    figure = plt.figure(figsize=(12, 6.5))
    grid = figure.add_gridspec(3, 14, height_ratios=[2.2, 1, 1], hspace=0.6)
    ax = figure.add_subplot(grid[0, :6])
    ax.plot(range(1, args.epochs + 1), losses, color="tab:blue")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (BCE)", color="tab:blue")
    twin = ax.twinx()
    twin.plot(range(1, args.epochs + 1), accuracies, color="tab:red")
    twin.set_ylabel("test bag accuracy", color="tab:red")
    twin.set_ylim(0.4, 1.0)
    ax.set_title(f"HopfieldPooling, bags positive when they hold a {args.target}")
    note = figure.add_subplot(grid[0, 7:])
    note.axis("off")
    note.text(
        0, 0.5,
        f"final test accuracy {accuracies[-1]:.3f} on {args.test_bags} bags\n"
        f"of 6-14 held-out digit images each\n\n"
        "below: two test bags; the number over each image\n"
        "is the learned query's association weight\n(heads averaged), the one under it the true digit",
        fontsize=11, va="center",
    )
    for row in range(2):
        members = test_members[row]
        size = int(test[1][row].sum())
        for i in range(min(size, 14)):
            cell = figure.add_subplot(grid[1 + row, i])
            cell.imshow(digits.images[int(members[i])], cmap="gray_r")
            cell.set_title(f"{weights[row, i]:.2f}", fontsize=8, color="tab:red" if weights[row, i] > 1.5 / size else "k")
            cell.set_xticks([])
            cell.set_yticks([])
            cell.set_xlabel(str(int(labels[int(members[i])])), fontsize=8)
            if i == 0:
                cell.set_ylabel(f"label {int(test[2][row])}\np={probability[row]:.2f}", fontsize=8)
    output = Path(__file__).resolve().parents[1] / "output"
    output.mkdir(parents=True, exist_ok=True)
    path = output / "hopfield_pooling_mil.png"
    figure.savefig(path, dpi=110, bbox_inches="tight")
    print(f"wrote {path} ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
