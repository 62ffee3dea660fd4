"""fc_kernel against neural-tangents' jitted kernel_fn on the same data (NNGP + NTK, depth 10).

Runs neural-tangents in its own venv (see compare_neural_tangents.py) through a subprocess, with
timings taken warm (after one call that compiles) and the same number of threads on both sides
(--threads: torch.set_num_threads here; XLA's CPU client there, with OMP_NUM_THREADS and
MKL_NUM_THREADS set alike). Also measures, for our side, the peak memory of one call (resident
high-water mark over the resident size before it, in a fresh process, against the returned
kernels + inputs), and, for tanh, the accuracy of both sides against composite Gauss-Legendre
quadrature of the recursion in float64.
Usage:

    python3 benchmarks/bench_gp_fc_kernel.py [--n 4096] [--d 64] [--depth 10] [--threads 2]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = [("relu", "float32"), ("erf", "float32"), ("relu", "float64"), ("erf", "float64"),
         ("tanh", "float32"), ("tanh", "float64")]
SIGMA_W2, SIGMA_B2 = 1.8, 0.1
TANH_ROWS = 256  # ElementwiseNumerical holds deg^2 x N^2 values: tanh runs on the first 256 rows


def _best(fn, repeats=2):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _thread_env(threads):
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=true"
                        f" intra_op_parallelism_threads={threads}").strip()
    return env


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
            layers += [stax.Dense(1, W_std=np.sqrt(SIGMA_W2), b_std=np.sqrt(SIGMA_B2)), phi()]
        layers += [stax.Dense(1, W_std=np.sqrt(SIGMA_W2), b_std=np.sqrt(SIGMA_B2))]
        kernel_fn = jax.jit(stax.serial(*layers)[2], static_argnames="get")
        xs = jax.numpy.asarray((x[:TANH_ROWS] if act == "tanh" else x).astype(dtype))

        def run():
            k = kernel_fn(xs, xs, get=("nngp", "ntk"))
            k.ntk.block_until_ready()
            return k

        out[f"{act}-{dtype}"] = _best(run)
        if act == "tanh":
            k = run()
            np.save(f"{out_path}.{act}-{dtype}.npy", np.stack([np.asarray(k.nngp), np.asarray(k.ntk)]))
    with open(out_path, "w") as f:
        json.dump(out, f)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory(act, dtype, n, d, depth):
    """Peak resident-memory increase of one fc_kernel call, in MiB, as JSON: the high-water mark
    (VmHWM, reset just before the call through /proc/self/clear_refs) minus the resident size
    before it. (ru_maxrss is not usable in a child: Linux carries the parent's peak over.)"""
    import torch

    import statmech  # noqa: F401
    from statmech.gp import fc_kernel

    x = torch.from_numpy(np.random.default_rng(0).standard_normal((n, d))).to(getattr(torch, dtype))
    fc_kernel(x[:64], depth=depth, activation=act, sigma_w2=SIGMA_W2, sigma_b2=SIGMA_B2)  # load everything
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark to the current resident size
    start = time.perf_counter()
    k = fc_kernel(x, depth=depth, activation=act, sigma_w2=SIGMA_W2, sigma_b2=SIGMA_B2)
    seconds = time.perf_counter() - start
    peak = (_status_kib("VmHWM") - before) / 1024
    returned = sum(v.numel() * v.element_size() for v in k) / 2**20
    inputs = x.numel() * x.element_size() / 2**20
    print(json.dumps({"peak": peak, "returned": returned, "inputs": inputs, "seconds": seconds}))


def _legendre_rule(panels=80, nodes=10, reach=10.0):
    # Composite Gauss-Legendre on [-reach, reach] with the standard normal density folded into the
    # weights (800 nodes; panels of width 0.25 resolve tanh's poles at i pi / (2 sqrt(q))).
    t, tw = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(-reach, reach, panels + 1)
    half = (edges[1:] - edges[:-1]) / 2
    z = ((edges[:-1] + edges[1:])[:, None] / 2 + half[:, None] * t[None, :]).ravel()
    w = (half[:, None] * tw[None, :]).ravel() * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    return z, w


def tanh_reference(x, pairs, depth):
    """NNGP and NTK of [Dense, tanh] x depth + Dense at the given (i, j) pairs, float64, by
    800^2-node quadrature of E[phi(u) phi(v)] and E[phi'(u) phi'(v)] at every layer."""
    z, w = _legendre_rule()
    d = x.shape[1]
    q0 = SIGMA_W2 * (x * x).sum(1) / d + SIGMA_B2
    rows = sorted({i for pair in pairs for i in pair})
    q = {i: [q0[i]] for i in rows}
    for i in rows:
        for _ in range(depth):
            q[i].append(SIGMA_W2 * np.sum(w * np.tanh(np.sqrt(q[i][-1]) * z) ** 2) + SIGMA_B2)
    out = []
    for i, j in pairs:
        s = SIGMA_W2 * (x[i] @ x[j]) / d + SIGMA_B2
        theta = s
        for layer in range(depth):
            a, b = q[i][layer], q[j][layer]
            c = np.clip(s / np.sqrt(a * b), -1, 1)
            u = np.sqrt(a) * z
            v = np.sqrt(b) * (c * z[:, None] + np.sqrt(max(1 - c * c, 0.0)) * z[None, :])
            tu, tv = np.tanh(u), np.tanh(v)
            k = (w * tu) @ (tv @ w)
            kd = (w * (1 - tu * tu)) @ ((1 - tv * tv) @ w)
            s = SIGMA_W2 * k + SIGMA_B2
            theta = s + SIGMA_W2 * kd * theta
        out.append((s, theta))
    return np.array(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tanh-degree", type=int, default=25)
    parser.add_argument("--nt-python", default="/work/venvs/nt/bin/python")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--anchor", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.anchor:
        anchor(args.anchor[0], args.depth, args.anchor[1], args.tanh_degree)
        return
    if args.memory:
        memory(args.memory[0], args.memory[1], args.n, args.d, args.depth)
        return
    import torch

    import statmech  # noqa: F401
    from statmech.gp import fc_kernel

    torch.set_num_threads(args.threads)
    env = _thread_env(args.threads)
    load_before = os.getloadavg()
    x = np.random.default_rng(0).standard_normal((args.n, args.d))
    theirs_kernels = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_path, out_path = os.path.join(tmp, "x.npz"), os.path.join(tmp, "t.json")
        np.savez(data_path, x=x)
        subprocess.run([args.nt_python, os.path.abspath(__file__), "--anchor", data_path, out_path,
                        "--depth", str(args.depth), "--tanh-degree", str(args.tanh_degree)], check=True, env=env)
        theirs = json.load(open(out_path))
        for act, dtype in CASES:
            if act == "tanh":
                theirs_kernels[dtype] = np.load(f"{out_path}.{act}-{dtype}.npy")
    print(f"N = M = {args.n}, d = {args.d}, depth {args.depth}, NNGP + NTK; threads {args.threads} on both sides "
          f"(torch {torch.get_num_threads()}); load average before {load_before[0]:.1f}")
    print(f"{'case':16s} {'neural-tangents s':>18s} {'statmech s':>11s} {'speed-up':>9s} {'peak MiB':>9s} "
          f"{'kernels+inputs MiB':>19s} {'extra':>7s}")
    ours_kernels = {}
    for act, dtype in CASES:
        rows = TANH_ROWS if act == "tanh" else args.n
        xt = torch.from_numpy(x[:rows]).to(getattr(torch, dtype))

        def run():
            return fc_kernel(xt, depth=args.depth, activation=act, sigma_w2=SIGMA_W2, sigma_b2=SIGMA_B2)

        ours = _best(run, repeats=3)
        if act == "tanh":
            ours_kernels[dtype] = torch.stack(run()).double().numpy()
        mem = ""
        if not args.no_memory:
            result = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--memory", act, dtype, "--n", str(args.n), "--d",
                 str(args.d), "--depth", str(args.depth)], check=True, env=env, capture_output=True, text=True)
            m = json.loads(result.stdout.strip().splitlines()[-1])
            base = m["returned"] + m["inputs"]
            mem = (f"{m['peak']:9.1f} {base:19.1f} {m['peak'] / base - 1:+7.1%}"
                   + (f"  (N = {args.n}: {m['seconds']:.2f} s)" if act == "tanh" else ""))
        label = act + "-" + dtype + (f" N={rows}" if act == "tanh" else "")
        print(f"{label:16s} {theirs[act + '-' + dtype]:18.3f} {ours:11.3f} "
              f"{theirs[act + '-' + dtype] / ours:8.1f}x {mem}")
    # tanh accuracy against quadrature, at entries spread over the matrix (the diagonal, a
    # duplicate-free off-diagonal sample), float64 reference.
    rng = np.random.default_rng(1)
    pairs = [(i, i) for i in (0, 100)] + [tuple(p) for p in rng.integers(0, TANH_ROWS, size=(10, 2))]
    exact = tanh_reference(x[:TANH_ROWS], pairs, args.depth)
    index = tuple(np.array(pairs).T)
    print(f"tanh accuracy at {len(pairs)} entries vs 800^2-node Gauss-Legendre quadrature (float64), "
          "max |error| / max |kernel| (NNGP, NTK):")
    for dtype in ("float32", "float64"):
        for side, kernels in (("neural-tangents deg=%d" % args.tanh_degree, theirs_kernels[dtype]),
                              ("statmech series", ours_kernels[dtype])):
            errors = [np.max(np.abs(kernels[k][index] - exact[:, k])) / np.max(np.abs(exact[:, k])) for k in (0, 1)]
            print(f"  {dtype} {side:24s} {errors[0]:.1e} {errors[1]:.1e}")
    load_after = os.getloadavg()
    print(f"load average after {load_after[0]:.1f} (1 min), {load_after[1]:.1f} (5 min)")


if __name__ == "__main__":
    main()
