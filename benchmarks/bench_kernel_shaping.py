"""Kernel shaping (DKS / TAT) parameters for a depth-100 network: statmech against deepmind's dks.

    python benchmarks/bench_kernel_shaping.py [--depth 100] [--dks-repeats 3]

Needs the dks package (PyPI dks 0.1.2 with absl-py and autograd), which this project does not
depend on; install it apart, e.g.
    python -m venv --system-site-packages /work/venvs/dks
    /work/venvs/dks/bin/pip install dks==0.1.2 absl-py autograd
    PYTHONPATH=python /work/venvs/dks/bin/python benchmarks/bench_kernel_shaping.py

Both compute the transformation parameters of a plain network (no skip connections) of --depth
nonlinear layers: dks with max_slope_func = x^L (DKS), max_curv_func = L x (smooth TAT) or
subnet_max_func = r applied L times (leaky-ReLU TAT); ours with depth=L. dks's 100,000 Legendre
roots are computed (and cached) before timing, so its one-time setup is not counted. Times: ours
is the median of 20 calls after warm-up, dks's the median of --dks-repeats calls. The largest
disagreement is over the four parameters (negative_slope, output_scale for leaky ReLU), relative.
"""

import argparse
import statistics
import time

import torch

import statmech  # noqa: F401
from harness import machine_description, median_seconds, print_table
from statmech import meanfield

DKS_NAMES = {"tanh": "tanh", "softplus": "softplus", "gelu": "gelu_exact", "silu": "swish", "elu": "elu",
             "leaky_relu": "leaky_relu"}


def params(t):
    if t.activation.name == "leaky_relu" and t.method == "tat":
        return (t.negative_slope, t.output_scale)
    return (t.input_scale, t.input_shift, t.output_shift, t.output_scale)


def dks_params(package, method, name, depth):
    plain = lambda x, r: [x := r(x) for _ in range(depth)][-1]  # noqa: E731
    kwargs = dict(max_slope_func=lambda x: x**depth, max_curv_func=lambda x: depth * x, subnet_max_func=plain)
    p = package._get_activations_params([DKS_NAMES[name]], method=method.upper(), **kwargs)[DKS_NAMES[name]]
    if name == "leaky_relu" and method == "tat":
        return (float(p["negative_slope"]), float(p["output_scale"]))
    return tuple(float(p[k]) for k in ("input_scale", "input_shift", "output_shift", "output_scale"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--dks-repeats", type=int, default=3)
    args = parser.parse_args()
    try:
        from dks.base import activation_transform as package
    except ImportError:
        raise SystemExit("the dks package is not importable; see this script's docstring")

    package._precompute_or_load_roots(package._QUADRATURE_ORDER)  # one-time setup, not timed
    cases = [("dks", n) for n in ("tanh", "softplus", "gelu", "silu", "elu")]
    cases += [("tat", n) for n in ("tanh", "softplus", "gelu", "silu", "elu", "leaky_relu")]
    rows, ratios, worst = [], [], 0.0
    for method, name in cases:
        fn = meanfield.dks if method == "dks" else meanfield.tat
        ours = fn(name, args.depth)
        ours_s = median_seconds(lambda: fn(name, args.depth), torch.device("cpu"), warmup=3, repeats=20)
        times = []
        for _ in range(args.dks_repeats):
            start = time.perf_counter()
            theirs = dks_params(package, method, name, args.depth)
            times.append(time.perf_counter() - start)
        theirs_s = statistics.median(times)
        disagreement = max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(params(ours), theirs))
        worst = max(worst, disagreement)
        ratios.append(theirs_s / ours_s)
        rows.append([method.upper(), name, f"{theirs_s:.3f}", f"{ours_s * 1e3:.3f}", f"**{theirs_s / ours_s:,.0f}×**",
                     f"{disagreement:.1e}"])
    print(f"machine: {machine_description(torch.device('cpu'))}")
    print_table(
        f"Kernel-shaping parameters, depth {args.depth}",
        ["method", "activation", "dks (s)", "ours (ms)", "speed-up", "largest relative disagreement"],
        rows,
    )
    print(f"\nspeed-up: min {min(ratios):,.0f}×, median {statistics.median(ratios):,.0f}×; "
          f"largest relative disagreement {worst:.1e}")


if __name__ == "__main__":
    main()
