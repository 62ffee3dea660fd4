"""NNGP and NTK classification of scikit-learn's digits against trained finite MLPs of growing
width (in the style of Lee et al. 2018, Table 1): the infinite-width kernels predict by kernel
regression on one-hot targets (statmech.gp.ntk_predict at t = infinity); the MLPs
([Linear, relu] x depth + Linear, PyTorch's default initialisation) are trained by full-batch Adam
on the MSE loss. Prints the table and saves examples/output/gp_digits.png.
"""

import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from tqdm import tqdm  # noqa: E402

import statmech  # noqa: E402,F401
from statmech.gp import ntk_predict  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "output")
DEPTH, SIGMA_W2, SIGMA_B2 = 2, 2.0, 0.05
WIDTHS = (16, 64, 256, 512)
SEEDS = 1
STEPS = 300


def data():
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x, dtype=torch.float64)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    x_train, x_test, y_train, y_test = train_test_split(x.numpy(), y, test_size=0.3, random_state=0, stratify=y)
    return (torch.tensor(x_train), torch.tensor(x_test), torch.tensor(y_train), torch.tensor(y_test))


def mlp_accuracy(width, seed, x_train, x_test, y_train, y_test):
    torch.manual_seed(seed)
    layers = []
    fan_in = x_train.shape[1]
    for _ in range(DEPTH):
        layers += [torch.nn.Linear(fan_in, width), torch.nn.ReLU()]
        fan_in = width
    model = torch.nn.Sequential(*layers, torch.nn.Linear(fan_in, 10))
    targets = torch.nn.functional.one_hot(y_train, 10).float() - 0.1
    xt, xs = x_train.float(), x_test.float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xt), targets)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (model(xs).argmax(1) == y_test).double().mean().item()


def main():
    os.makedirs(OUT, exist_ok=True)
    x_train, x_test, y_train, y_test = data()
    targets = torch.nn.functional.one_hot(y_train, 10).double() - 0.1
    rows = []
    start = time.perf_counter()
    limits = {}
    for get in ("nngp", "ntk"):
        mean, _ = ntk_predict(x_train, targets, x_test, None, depth=DEPTH, activation="relu", sigma_w2=SIGMA_W2,
                              sigma_b2=SIGMA_B2, get=get, diag_reg=1e-3,
                              diag_reg_absolute_scale=True, compute_cov=False)
        limits[get] = (mean.argmax(1) == y_test).double().mean().item()
    kernel_time = time.perf_counter() - start
    print(f"NNGP {limits['nngp']:.4f}, NTK {limits['ntk']:.4f} ({kernel_time:.1f} s)", flush=True)
    mlp = {}
    start = time.perf_counter()
    # One thread: these small GEMMs lose more to thread synchronisation than they gain.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for width in tqdm(WIDTHS, desc="MLP widths"):
        accs = [mlp_accuracy(width, seed, x_train, x_test, y_train, y_test) for seed in range(SEEDS)]
        mlp[width] = sum(accs) / len(accs)
        tqdm.write(f"width {width}: test accuracy {mlp[width]:.4f}")
    mlp_time = time.perf_counter() - start
    torch.set_num_threads(threads)
    print(f"digits: {len(y_train)} train / {len(y_test)} test, relu depth {DEPTH}, sigma_w2={SIGMA_W2}, "
          f"sigma_b2={SIGMA_B2}")
    print("| model | test accuracy |")
    print("|---|---|")
    for width in WIDTHS:
        print(f"| MLP width {width} (Adam, {STEPS} steps, mean of {SEEDS} seeds) | {mlp[width]:.4f} |")
    print(f"| NNGP (infinite width, Bayesian posterior mean) | {limits['nngp']:.4f} |")
    print(f"| NTK (infinite width, gradient descent to t = inf) | {limits['ntk']:.4f} |")
    print(f"time: kernels {kernel_time:.1f} s, MLPs {mlp_time:.1f} s")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogx(WIDTHS, [mlp[w] for w in WIDTHS], "o-", label="trained MLP")
    ax.axhline(limits["nngp"], color="C1", linestyle="--", label="NNGP (infinite width)")
    ax.axhline(limits["ntk"], color="C2", linestyle=":", label="NTK (infinite width)")
    ax.set_xlabel("hidden width")
    ax.set_ylabel("test accuracy")
    ax.set_title("scikit-learn digits")
    ax.legend()
    fig.tight_layout()
    path = os.path.join(OUT, "gp_digits.png")
    fig.savefig(path, dpi=120)
    print("saved", os.path.abspath(path))


if __name__ == "__main__":
    main()
