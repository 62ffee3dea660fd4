"""RBM training throughput (samples/s): statmech.nn.RBM against scikit-learn's BernoulliRBM and
learnergy's RBM, at matched settings, on the same data, in one process.

CD-1 and PCD-1; 64 visible units (binarised digits) and 784 (synthetic binary images with
MNIST's mean density, 0.13); 500 hidden units; batch 10 and 100; float32 everywhere; plain SGD.
scikit-learn's BernoulliRBM trains by PCD only (its fit), learnergy's RBM by CD-k only (its fit,
which also computes its per-batch metrics, as a user's call does): each is timed where it applies.
Ours is timed twice: the ordinary loop (loss = rbm.contrastive_divergence(batch, 1, persistent);
loss.backward(); optimizer.step()) and RBM.fit with its default plain SGD, which runs each epoch in
the fused operator rbm_train_sgd (metrics_rows=0: no per-epoch evaluation, as the anchors' fit).

`--gaussian`: the same table for GaussianBernoulliRBM (learned variances, real-valued data: the
digits standardised per pixel, and the synthetic images plus N(0, 0.3^2) noise), ours against
learnergy's VarianceGaussianRBM (a Gaussian-Bernoulli RBM with a learned visible scale, CD-k,
torch.optim.SGD) for CD-1; no anchor for PCD-1 (scikit-learn has no Gaussian RBM).

Each cell is the best of `--rounds` epochs over `--rows` rows (samples/s). Set the BLAS threads of
every side from the environment (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS) before
starting: numpy reads them at import.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        python benchmarks/bench_rbm_training.py [--device cuda] [--rows 2000] [--rounds 3] [--gaussian]
"""

import argparse
import os
import time

import numpy as np
import torch

from harness import machine_description, print_table
from statmech.nn import RBM, GaussianBernoulliRBM


def data(visible, rows, seed=0, gaussian=False):
    rng = np.random.default_rng(seed)
    if visible == 64:
        from sklearn.datasets import load_digits

        digits = load_digits().data
        if gaussian:
            x = ((digits - digits.mean(0)) / np.maximum(digits.std(0), 1e-2)).astype(np.float32)
        else:
            x = (digits > 7).astype(np.float32)
        return np.resize(x, (rows, 64))
    x = (rng.random((rows, visible)) < 0.13).astype(np.float32)
    if gaussian:
        x += 0.3 * rng.standard_normal((rows, visible)).astype(np.float32)
    return x


def ours(x, batch, persistent, device, cls=RBM):
    model = cls(x.shape[1], 500, device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    xt = torch.from_numpy(x).to(device)
    g = torch.Generator(device=device).manual_seed(0)

    def epoch():
        for start in range(0, len(xt), batch):
            optimizer.zero_grad()
            loss = model.contrastive_divergence(xt[start:start + batch], 1, persistent, g)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return epoch


def ours_fit(x, batch, persistent, device, cls=RBM):
    model = cls(x.shape[1], 500, device=device)
    xt = torch.from_numpy(x).to(device)
    g = torch.Generator(device=device).manual_seed(0)

    def epoch():
        model.fit(xt, epochs=1, batch_size=batch, lr=0.01, steps=1, persistent=persistent, metrics_rows=0,
                  generator=g, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return epoch


def sklearn_pcd(x, batch):
    from sklearn.neural_network import BernoulliRBM

    model = BernoulliRBM(n_components=500, learning_rate=0.01, batch_size=batch, n_iter=1, random_state=0)

    def epoch():
        model.fit(x)

    return epoch


def learnergy_cd(x, batch, device, gaussian=False):
    if gaussian:
        from learnergy.models.gaussian import VarianceGaussianRBM as LearnergyRBM
    else:
        from learnergy.models.bernoulli import RBM as LearnergyRBM

    class Rows(torch.utils.data.Dataset):
        def __init__(self, x):
            self.x = torch.from_numpy(x)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i], 0

    dtype = torch.get_default_dtype()
    model = LearnergyRBM(n_visible=x.shape[1], n_hidden=500, steps=1, learning_rate=0.01, use_gpu=device.type == "cuda")
    torch.set_default_dtype(dtype)  # learnergy changes global defaults
    dataset = Rows(x)

    def epoch():
        model.fit(dataset, batch_size=batch, epochs=1)

    return epoch


def best_rate(epoch, rows, rounds):
    epoch()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return rows / min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-learnergy", action="store_true")
    parser.add_argument("--gaussian", action="store_true", help="GaussianBernoulliRBM rows (see above)")
    args = parser.parse_args()
    gaussian = args.gaussian
    cls = GaussianBernoulliRBM if gaussian else RBM
    device = torch.device(args.device)
    import logging

    logging.disable(logging.INFO)  # learnergy logs every batch
    rows = []
    load = os.getloadavg()
    for visible in (64, 784):
        x = data(visible, args.rows, gaussian=gaussian)
        for batch in (10, 100):
            for method, persistent in (("CD-1", False), ("PCD-1", True)):
                loop = best_rate(ours(x, batch, persistent, device, cls), len(x), args.rounds)
                fused = best_rate(ours_fit(x, batch, persistent, device, cls), len(x), args.rounds)
                if persistent and gaussian:
                    anchor_name, theirs = "-", float("nan")
                elif persistent:
                    anchor_name = "scikit-learn"
                    theirs = best_rate(sklearn_pcd(x, batch), len(x), args.rounds) if device.type == "cpu" else float("nan")
                else:
                    anchor_name = "learnergy"
                    theirs = float("nan") if args.no_learnergy else best_rate(
                        learnergy_cd(x, batch, device, gaussian), len(x), args.rounds)
                anchor_cells = [f"{theirs:,.0f}", f"{loop / theirs:.1f}x", f"**{fused / theirs:.1f}x**"]
                rows.append([method, str(visible), str(batch), f"{loop:,.0f}", f"{fused:,.0f}", anchor_name,
                             *(anchor_cells if theirs == theirs else ["-", "-", "-"]), f"{fused / loop:.1f}x"])
                print(rows[-1], flush=True)
    threads = (f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
               f"load average at the start {load[0]:.1f}, at the end {os.getloadavg()[0]:.1f}")
    print_table(
        f"{cls.__name__} training throughput, 500 hidden, float32 ({machine_description(device)}; {threads})",
        ["method", "visible", "batch", "statmech loop samples/s", "statmech fit samples/s", "anchor",
         "anchor samples/s", "loop / anchor", "fit / anchor", "fit / loop"],
        rows,
    )


if __name__ == "__main__":
    main()
