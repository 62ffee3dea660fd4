"""Ground-state energy of the Sherrington-Kirkpatrick spin glass against N, and the overlap
distribution of its replicas.

H(s) = -sum_{i<j} J_ij s_i s_j with J_ij ~ N(0, 1/N) (statmech.hopfield.sk_couplings): the
Hopfield energy with Gaussian couplings. Its ground-state energy per spin tends to Parisi's
e0 = -0.7633 (Parisi 1979/1980; Crisanti & Rizzo 2002) with finite-size corrections
~ N^(-2/3) (Boettcher 2005; Aspelmeier, Billoire, Marinari & Moore 2008).

Left: for each N, --samples disorder samples; each is annealed from --restarts random states
(heat-bath sweeps over a geometric schedule 3.0 -> 0.05, then a zero-temperature quench;
statmech.hopfield.glauber / run, every sample and restart one row of one batched call) and the
lowest energy is kept. Mean +- standard error over samples against N^(-2/3), with the fit
e_N = e_inf + a N^(-2/3) extrapolated to N -> infinity.

Right: overlap distribution P(q) of two independent replicas at T = 0.4 (below T_c = 1), from
parallel tempering (statmech.hopfield.parallel_tempering) at N = 64 over many disorder samples:
the broad, two-peaked distribution of replica symmetry breaking.

Writes examples/output/sk_ground_state.png. Run:
    python examples/python/sk_ground_state.py [--device cuda] [--sizes 64 128 256 512 1024]
About 5 minutes on 2 CPU cores with the defaults; the annealing runs on CUDA with --device cuda.
"""

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from statmech import hopfield as H  # noqa: E402

PARISI_E0 = -0.7633


def ground_state_energies(n, samples, restarts, sweeps, device, g, gd):
    """Lowest annealed energy per spin of each of `samples` SK instances, [samples]."""
    j = H.sk_couplings(n, batch=samples, generator=g, dtype=torch.float32).to(device)
    w = j.repeat_interleave(restarts, 0)  # [samples * restarts, n, n]
    start = H.random_patterns(samples * restarts, n, generator=g, dtype=torch.float32).to(device)
    schedule = H.geometric_schedule(3.0, 0.05, sweeps)
    state, _ = H.glauber(start, w, schedule, generator=gd)
    out = H.run(state, w, max_sweeps=1000, generator=gd)
    return (out.energy.double().cpu().reshape(samples, restarts).min(1).values / n)


def overlap_distribution(n, samples, temperature, g):
    """Overlaps q of two independent replicas at `temperature`, sampled by parallel tempering."""
    temps = H.geometric_schedule(temperature, 1.6, 12)
    j = H.sk_couplings(n, batch=samples, generator=g, dtype=torch.float64).repeat_interleave(2, 0)
    state = H.random_patterns(2 * samples * len(temps), n, generator=g, dtype=torch.float64)
    state = state.reshape(2 * samples, len(temps), n)
    pt = H.parallel_tempering(state, j, temps, 500, generator=g)  # equilibrate
    qs = []
    for _ in range(100):
        pt = H.parallel_tempering(pt.state, j, temps, 10, generator=g)
        cold = pt.state[:, 0].reshape(samples, 2, n)
        qs.append(H.overlap(cold[:, 0], cold[:, 1]))
    return torch.cat(qs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--samples", type=int, default=16, help="disorder samples per N")
    parser.add_argument("--restarts", type=int, default=4)
    parser.add_argument("--sweeps", type=int, default=2000, help="annealing sweeps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "output" / "sk_ground_state.png"))
    args = parser.parse_args()
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    gd = torch.Generator(device=device).manual_seed(1)

    means, errors = [], []
    print(f"SK ground-state energy per spin: best of {args.restarts} annealings ({args.sweeps} sweeps), "
          f"{args.samples} samples per N")
    for n in tqdm(args.sizes, desc="N"):
        e = ground_state_energies(n, args.samples, args.restarts, args.sweeps, device, g, gd)
        means.append(e.mean().item())
        errors.append(e.std().item() / math.sqrt(len(e)))
    for n, m, s in zip(args.sizes, means, errors):
        tqdm.write(f"  N = {n:5d}: e = {m:.4f} +- {s:.4f}")

    x = torch.tensor([n ** (-2 / 3) for n in args.sizes], dtype=torch.float64)
    y = torch.tensor(means, dtype=torch.float64)
    wts = 1 / torch.tensor(errors, dtype=torch.float64).clamp(min=1e-6) ** 2
    design = torch.stack([torch.ones_like(x), x], 1)
    normal = design.T @ (wts[:, None] * design)
    e_inf, slope = torch.linalg.solve(normal, design.T @ (wts * y)).tolist()
    e_inf_err = math.sqrt(torch.linalg.inv(normal)[0, 0].item())
    print(f"fit e_N = e_inf + a N^(-2/3): e_inf = {e_inf:.4f} +- {e_inf_err:.4f}, a = {slope:.3f} "
          f"(Parisi e0 = {PARISI_E0})")

    q = overlap_distribution(64, 64, 0.4, g)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3))
    left.errorbar(x.numpy(), means, yerr=errors, fmt="o", capsize=3, label="annealing, best of restarts")
    for n, xi, m in zip(args.sizes, x.tolist(), means):
        left.annotate(f"N={n}", (xi, m), textcoords="offset points", xytext=(6, -10), fontsize=8)
    grid = torch.linspace(0, x.max().item() * 1.05, 50)
    left.plot(grid, e_inf + slope * grid, "-", lw=1, label=f"fit: $e_\\infty$ = {e_inf:.4f} ± {e_inf_err:.4f}")
    left.axhline(PARISI_E0, color="k", ls="--", lw=1, label=f"Parisi $e_0$ = {PARISI_E0}")
    left.set_xlabel("$N^{-2/3}$")
    left.set_ylabel("ground-state energy per spin")
    left.set_title("SK model: ground-state energy against N")
    left.legend(fontsize=8)
    # q takes the values k / 32 (N = 64); bins of two values each, edges between them.
    edges = (torch.arange(-32.5, 34.0, 2.0) / 32).numpy()
    right.hist(q.numpy(), bins=edges, density=True, color="C2")
    right.set_xlabel("overlap $q = s^a \\cdot s^b / N$")
    right.set_ylabel("$P(q)$")
    right.set_title("SK, N = 64, T = 0.4: replica overlap distribution")
    fig.tight_layout()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=120)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
