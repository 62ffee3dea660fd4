"""Asynchronous sweeps of a classical binary Hopfield network: neuron updates per second of
statmech's C++ kernel against vectorised NumPy implementations written here.

    python benchmarks/bench_hopfield_classical.py [--device cpu|cuda] [--sizes 1000 4096]

A Hebbian network storing P = 0.05 N random patterns, a batch of 16 initial states, a fixed
number of asynchronous sweeps (every neuron visited once per sweep in a random order, s_i <-
sign(f_i), no early stop). A "neuron update" is one visit. Two starts:

* ``recall``: the stored patterns with 10% of the bits flipped (the associative-memory use: a
  tenth of the neurons flip in the first sweep, then the state is fixed);
* ``random``: random states (about half the neurons flip in the first sweep, more later: the
  O(N) field update of every flip dominates, for both sides).

Orders: statmech's CPU kernel gives the 16 rows of an order group one shared random order per
sweep (on CUDA each row has its own). The NumPy sides are vectorised over the batch (one Python
step per neuron position, all rows at once):

* ``numpy incremental``: fields kept up to date, f += 2 s_i W[:, i] on the rows that flipped
  (what our kernel does, O(N) per flip), each row in its own random order;
* ``numpy shared``: the same with one random order per sweep for the whole batch (statmech's CPU
  order semantics; a visit then reads one column of W for every row that flips);
* ``numpy recompute``: the textbook h_i = W[i] . s for every row at each step (O(N) per visit).

Like our kernel, the incremental NumPy sides read the columns of W in place when W is symmetric
(a check costs one read of W) and transpose it once otherwise. Every side includes its setup (the
initial fields, one [16, N] x [N, N] product) in its time.

Before timing, both sides run to a fixed point from the same states, and their mean final
energies per neuron are compared (the orders differ, so the states do too).
"""

import argparse
import statistics
import time

import numpy as np
import torch

import statmech
from statmech import hopfield as H
from harness import machine_description, print_table


def columns_of(W):
    """Row i is column i of W: W itself when symmetric (what our kernel does), else a copy of W.T."""
    return W if np.array_equal(W, W.T) else np.ascontiguousarray(W.T)


def numpy_incremental(S, W, sweeps, rng):
    S = S.copy()
    batch, n = S.shape
    diag = np.diag(W).copy()
    columns = columns_of(W)
    F = S @ W.T - diag * S
    rows = np.arange(batch)
    for _ in range(sweeps):
        order = rng.permuted(np.tile(np.arange(n), (batch, 1)), axis=1)
        for k in range(n):
            i = order[:, k]
            s = S[rows, i]
            f = F[rows, i]
            new = np.where(f > 0, 1.0, np.where(f < 0, -1.0, s))
            flip = np.nonzero(new != s)[0]
            if flip.size:
                ii, delta = i[flip], 2.0 * new[flip]
                S[flip, ii] = new[flip]
                F[flip] += delta[:, None] * columns[ii]
                F[flip, ii] -= delta * diag[ii]
    return S


def numpy_shared(S, W, sweeps, rng):
    S = S.copy()
    n = S.shape[1]
    diag = np.diag(W).copy()
    columns = columns_of(W)
    F = S @ W.T - diag * S
    for _ in range(sweeps):
        for i in rng.permutation(n):
            s = S[:, i]
            f = F[:, i]
            new = np.where(f > 0, 1.0, np.where(f < 0, -1.0, s))
            flip = np.nonzero(new != s)[0]
            if flip.size:
                delta = 2.0 * new[flip]
                S[flip, i] = new[flip]
                F[flip] += delta[:, None] * columns[i]
                F[flip, i] -= delta * diag[i]
    return S


def numpy_recompute(S, W, sweeps, rng):
    S = S.copy()
    batch, n = S.shape
    diag = np.diag(W).copy()
    rows = np.arange(batch)
    for _ in range(sweeps):
        order = rng.permuted(np.tile(np.arange(n), (batch, 1)), axis=1)
        for k in range(n):
            i = order[:, k]
            f = np.einsum("bj,bj->b", W[i], S) - diag[i] * S[rows, i]
            S[rows, i] = np.where(f > 0, 1.0, np.where(f < 0, -1.0, S[rows, i]))
    return S


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4096])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        g = torch.Generator().manual_seed(n)
        patterns = H.random_patterns(max(args.batch, n // 20), n, generator=g, dtype=torch.float64)
        W = H.store(patterns)
        W_np = W.numpy()
        Wd = W.to(device)
        gen = torch.Generator(device=device).manual_seed(1)
        starts = {
            "recall": torch.where(torch.rand(args.batch, n, generator=g, dtype=torch.float64) < 0.1,
                                  -patterns[: args.batch], patterns[: args.batch]),
            "random": H.random_patterns(args.batch, n, generator=g, dtype=torch.float64),
        }
        for start, S in starts.items():
            S_np, Sd = S.numpy(), S.to(device)
            # Agreement: both to a fixed point, mean final energy per neuron.
            ours_fixed = H.run(Sd, Wd, max_sweeps=1000, generator=gen)
            assert bool(ours_fixed.converged.all())
            theirs_fixed = numpy_incremental(S_np, W_np, 30, rng)
            e_ours = ours_fixed.energy.mean().item() / n
            e_theirs = float((-0.5 * np.einsum("bi,ij,bj->b", theirs_fixed, W_np, theirs_fixed)).mean()) / n

            schedule = [0.0] * args.sweeps  # deterministic sweeps without early stop

            def ours():
                out = H.glauber(Sd, Wd, schedule, generator=gen)[0]
                if device.type == "cuda":
                    torch.cuda.synchronize()
                return out

            ours()
            t_ours = timed(ours, max(args.repeats, 5))
            t_inc = timed(lambda: numpy_incremental(S_np, W_np, args.sweeps, rng), args.repeats)
            t_shared = timed(lambda: numpy_shared(S_np, W_np, args.sweeps, rng), args.repeats)
            t_rec = timed(lambda: numpy_recompute(S_np, W_np, args.sweeps, rng), args.repeats)
            updates = args.batch * n * args.sweeps
            rate = lambda t: updates / t / 1e6  # noqa: E731
            rows.append([
                str(n), start, str(args.batch), str(args.sweeps), f"{rate(t_rec):.2f}", f"{rate(t_inc):.2f}",
                f"{rate(t_shared):.2f}", f"{rate(t_ours):.1f}", f"**{t_inc / t_ours:.1f}x**",
                f"**{t_shared / t_ours:.1f}x**", f"**{t_rec / t_ours:.0f}x**",
                f"{e_theirs:.4f} / {e_ours:.4f}",
            ])
    print_table(
        f"Asynchronous sweeps, float64, {machine_description(device)}",
        ["N", "start", "batch", "sweeps", "numpy recompute M upd/s", "numpy incremental M upd/s",
         "numpy shared M upd/s", "statmech M upd/s", "vs incremental", "vs shared", "vs recompute",
         "E/N at fixed point numpy / statmech"],
        rows,
    )


if __name__ == "__main__":
    main()
