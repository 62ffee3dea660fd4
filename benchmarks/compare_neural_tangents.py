"""fc_kernel and ntk_predict side by side with neural-tangents (float64).

neural-tangents 0.6.5 imports only with jax 0.4.x, so it lives in its own venv:

    python3 -m venv /work/venvs/nt
    /work/venvs/nt/bin/pip install jax==0.4.38 jaxlib==0.4.38 tf2jax==0.3.6 neural-tangents tensorflow-cpu

Run with the project's Python: ``python3 benchmarks/compare_neural_tangents.py [--nt-python PATH]``.
This script draws the data, runs itself under the neural-tangents venv (``--anchor``) to get
its kernels and predictions, computes ours, and prints the largest relative disagreement.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

ACTIVATIONS = ["relu", "erf", "gelu"]
DEPTHS = list(range(1, 11))
PARAMETERIZATIONS = ["ntk", "standard"]
SIGMA_W2, SIGMA_B2, WIDTH = 1.8, 0.2, 64
# ntk_predict regularisers: (diag_reg, diag_reg_absolute_scale), absolute and relative to tr(K) / N.
PREDICT_REGULARISERS = {"_absolute": (1e-6, True), "_relative": (1e-2, False)}


def anchor(data_path, out_path):
    import jax

    jax.config.update("jax_enable_x64", True)
    import neural_tangents as nt
    from neural_tangents import stax

    data = np.load(data_path)
    x1, x2 = data["x1"], data["x2"]
    phis = {"relu": stax.Relu, "erf": stax.Erf, "gelu": lambda: stax.Gelu(approximate=False)}
    out = {}
    w_std, b_std = np.sqrt(SIGMA_W2), np.sqrt(SIGMA_B2)
    for act in ACTIVATIONS:
        for par in PARAMETERIZATIONS:
            for depth in DEPTHS:
                layers = []
                for _ in range(depth):
                    layers += [stax.Dense(WIDTH, W_std=w_std, b_std=b_std, parameterization=par), phis[act]()]
                layers += [stax.Dense(1, W_std=w_std, b_std=b_std, parameterization=par)]
                kernel_fn = stax.serial(*layers)[2]
                k = kernel_fn(x1, x2, ("nngp", "ntk"))
                out[f"{act}-{par}-{depth}-nngp"] = np.asarray(k.nngp)
                out[f"{act}-{par}-{depth}-ntk"] = np.asarray(k.ntk)
    # Infinite-width gradient-descent prediction.
    layers = []
    for _ in range(3):
        layers += [stax.Dense(WIDTH, W_std=w_std, b_std=b_std), stax.Relu()]
    layers += [stax.Dense(1, W_std=w_std, b_std=b_std)]
    kernel_fn = stax.serial(*layers)[2]
    for scale, (diag_reg, absolute) in PREDICT_REGULARISERS.items():
        predict_fn = nt.predict.gradient_descent_mse_ensemble(
            kernel_fn, data["x_train"], data["y_train"], diag_reg=diag_reg, diag_reg_absolute_scale=absolute)
        for get in ("nngp", "ntk"):
            for t in (None, 0.5, 20.0):
                mean, cov = predict_fn(t=t, x_test=data["x_test"], get=get, compute_cov=True)
                out[f"predict{scale}-{get}-{t}-mean"] = np.asarray(mean)
                out[f"predict{scale}-{get}-{t}-cov"] = np.asarray(cov)
    np.savez(out_path, **out)


def ours(data):
    import torch

    import statmech  # noqa: F401
    from statmech.gp import fc_kernel, ntk_predict

    x1, x2 = torch.from_numpy(data["x1"]), torch.from_numpy(data["x2"])
    out = {}
    for act in ACTIVATIONS:
        for par in PARAMETERIZATIONS:
            for depth in DEPTHS:
                nngp, ntk = fc_kernel(x1, x2, depth=depth, activation=act, sigma_w2=SIGMA_W2, sigma_b2=SIGMA_B2,
                                      parameterization=par, width=WIDTH)
                out[f"{act}-{par}-{depth}-nngp"] = nngp.numpy()
                out[f"{act}-{par}-{depth}-ntk"] = ntk.numpy()
    xt, yt, xs = (torch.from_numpy(data[k]) for k in ("x_train", "y_train", "x_test"))
    for scale, (diag_reg, absolute) in PREDICT_REGULARISERS.items():
        for get in ("nngp", "ntk"):
            for t in (None, 0.5, 20.0):
                mean, cov = ntk_predict(xt, yt, xs, t, depth=3, activation="relu", sigma_w2=SIGMA_W2,
                                        sigma_b2=SIGMA_B2, get=get, diag_reg=diag_reg,
                                        diag_reg_absolute_scale=absolute)
                out[f"predict{scale}-{get}-{t}-mean"] = mean.numpy()
                out[f"predict{scale}-{get}-{t}-cov"] = cov.numpy()
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--anchor", nargs=2, metavar=("DATA", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--nt-python", default="/work/venvs/nt/bin/python")
    args = parser.parse_args()
    if args.anchor:
        anchor(*args.anchor)
        return
    rng = np.random.default_rng(0)
    data = {"x1": rng.standard_normal((12, 5)), "x2": rng.standard_normal((9, 5)),
            "x_train": rng.standard_normal((20, 5)), "y_train": rng.standard_normal((20, 1)),
            "x_test": rng.standard_normal((7, 5))}
    data["x2"][0] = data["x1"][0]  # a correlation of exactly 1
    with tempfile.TemporaryDirectory() as tmp:
        data_path, out_path = os.path.join(tmp, "data.npz"), os.path.join(tmp, "nt.npz")
        np.savez(data_path, **data)
        subprocess.run([args.nt_python, os.path.abspath(__file__), "--anchor", data_path, out_path], check=True)
        theirs = dict(np.load(out_path))
    mine = ours(data)
    worst = {}
    for key, value in theirs.items():
        ref = value.reshape(mine[key].shape)
        err = np.max(np.abs(mine[key] - ref) / np.maximum(np.abs(ref), 1e-3 * np.max(np.abs(ref))))
        group = key.split("-")[0] + "-" + key.split("-")[1] + ("" if key.startswith("predict") else "-" + key.split("-")[-1])
        worst[group] = max(worst.get(group, 0.0), err)
    print(f"{'comparison':28s} largest relative disagreement (float64)")
    for group, err in worst.items():
        print(f"{group:28s} {err:.2e}")


if __name__ == "__main__":
    main()
