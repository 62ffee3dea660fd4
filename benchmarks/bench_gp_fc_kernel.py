"""fc_kernel against neural-tangents' jitted kernel_fn on the same data (NNGP + NTK, depth 10).

Runs neural-tangents in its own venv (see compare_neural_tangents.py) through a subprocess, with
timings taken warm (after one call that compiles). Usage:

    python3 benchmarks/bench_gp_fc_kernel.py [--n 4096] [--d 64] [--depth 10]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = [("relu", "float32"), ("erf", "float32"), ("relu", "float64"), ("erf", "float64"), ("tanh", "float64")]


def _best(fn, repeats=2):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def anchor(data_path, depth, out_path, tanh_degree):
    import jax

    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    x = np.load(data_path)["x"]
    out = {}
    for act, dtype in CASES:
        phi = {"relu": stax.Relu, "erf": stax.Erf,
               "tanh": lambda: stax.ElementwiseNumerical(jax.numpy.tanh, deg=tanh_degree)}[act]
        layers = []
        for _ in range(depth):
            layers += [stax.Dense(1, W_std=np.sqrt(1.8), b_std=np.sqrt(0.1)), phi()]
        layers += [stax.Dense(1, W_std=np.sqrt(1.8), b_std=np.sqrt(0.1))]
        kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
        # ElementwiseNumerical holds deg^2 x N^2 values: tanh runs on the first 256 rows only.
        xs = jax.numpy.asarray((x[:256] if act == "tanh" else x).astype(dtype))

        def run():
            k = kernel_fn(xs, xs, get=("nngp", "ntk"))
            k.ntk.block_until_ready()
            return k

        out[f"{act}-{dtype}"] = _best(run)
        if act == "tanh":
            k = run()
            np.save(out_path + ".tanh.npy", np.asarray(k.ntk))
    with open(out_path, "w") as f:
        json.dump(out, f)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--tanh-degree", type=int, default=25)
    parser.add_argument("--nt-python", default="/work/venvs/nt/bin/python")
    parser.add_argument("--anchor", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.anchor:
        anchor(args.anchor[0], args.depth, args.anchor[1], args.tanh_degree)
        return
    import torch

    import statmech  # noqa: F401
    from statmech.gp import fc_kernel

    x = np.random.default_rng(0).standard_normal((args.n, args.d))
    with tempfile.TemporaryDirectory() as tmp:
        data_path, out_path = os.path.join(tmp, "x.npz"), os.path.join(tmp, "t.json")
        np.savez(data_path, x=x)
        subprocess.run([args.nt_python, os.path.abspath(__file__), "--anchor", data_path, out_path,
                        "--depth", str(args.depth), "--tanh-degree", str(args.tanh_degree)], check=True)
        theirs = json.load(open(out_path))
        tanh_theirs = np.load(out_path + ".tanh.npy")
    print(f"N = M = {args.n}, d = {args.d}, depth {args.depth}, NNGP + NTK; torch threads {torch.get_num_threads()}")
    print(f"{'case':16s} {'neural-tangents s':>18s} {'statmech s':>11s} {'speed-up':>9s}")
    for act, dtype in CASES:
        xt = torch.from_numpy(x[:256] if act == "tanh" else x).to(getattr(torch, dtype))

        def run():
            return fc_kernel(xt, depth=args.depth, activation=act, sigma_w2=1.8, sigma_b2=0.1)

        ours = _best(run)
        print(f"{act + '-' + dtype:16s} {theirs[act + '-' + dtype]:18.3f} {ours:11.3f} "
              f"{theirs[act + '-' + dtype] / ours:8.1f}x")
        if act == "tanh":
            exact = run()[1].numpy()
            err = np.max(np.abs(tanh_theirs - exact) / np.abs(exact).max())
            print(f"  tanh (N = 256): neural-tangents ElementwiseNumerical(deg={args.tanh_degree}) differs from the series by "
                  f"{err:.1e} (max abs / max |NTK|)")


if __name__ == "__main__":
    main()
