"""Modern Hopfield retrieval with 0, 1 and 3 update steps, side by side:

  statmech    torch.ops.statmech.hopfield_retrieval (one scaled_dot_product_attention per step)
  difflayers  difflayers.Hopfield (= ml-jku hflayers) configured for the same maths: no
              projections, no LayerNorms, no output projection, scaling = beta
  hflayers-style  the same maths in plain PyTorch the way hflayers writes it: materialised
              softmax, a Python loop, a host sync per step (its stopping test)
  SDPA        one F.scaled_dot_product_attention call: the floor for one step

    python benchmarks/bench_hopfield_retrieval.py [--device cpu|cuda] [--batch 32]

Default problem (issue 10): batch 32, 8 heads, 1024 queries x 1024 stored patterns, head dim 64,
float32. On a CPU the default batch is 4 (difflayers materialises a [batch*heads, L, S]
association matrix per step, 1 GiB at batch 32; the per-head work is the same). All outputs are
checked to agree before timing. "per step" divides by (update steps + 1) SDPA calls.
"""

import argparse

import torch
import torch.nn.functional as F

import statmech  # noqa: F401
from harness import machine_description, median_seconds, memory_profile, print_table

try:
    import difflayers
except ImportError:  # test-only / benchmark-only dependency: pip install --no-deps difflayers
    difflayers = None


def hflayers_style(q, k, v, beta, steps, eps=1e-30):
    """What hflayers does, in plain PyTorch: materialised association, Python loop, host sync."""
    xi = q
    association = torch.softmax(beta * xi @ k.transpose(-2, -1), -1)
    for _ in range(steps):
        new = association @ k
        moved = (new - xi).norm(dim=-1).max()
        if not bool(moved > eps):  # the per-step host sync of its stopping test
            break
        xi = new
        association = torch.softmax(beta * xi @ k.transpose(-2, -1), -1)
    return association @ v


def difflayers_layer(steps, beta, device):
    layer = difflayers.Hopfield(
        input_size=None, num_heads=1, scaling=beta, update_steps_max=steps, update_steps_eps=1e-30,
        normalize_stored_pattern=False, normalize_stored_pattern_affine=False, normalize_state_pattern=False,
        normalize_state_pattern_affine=False, normalize_pattern_projection=False,
        normalize_pattern_projection_affine=False, stored_pattern_as_static=True, state_pattern_as_static=True,
        pattern_projection_as_static=True, disable_out_projection=True, batch_first=True,
    )
    return layer.to(device).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=None, help="default 32 on CUDA, 4 on CPU")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--queries", type=int, default=1024)
    parser.add_argument("--stored", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 1, 3])
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (default 20 on CUDA, 3 on CPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch = args.batch or (32 if device.type == "cuda" else 4)
    repeats = args.repeats or (20 if device.type == "cuda" else 3)
    warmup = 3 if device.type == "cuda" else 1

    g = torch.Generator().manual_seed(0)
    shape = (batch, args.heads)
    q = torch.randn(*shape, args.queries, args.dim, generator=g).to(device)
    k = torch.randn(*shape, args.stored, args.dim, generator=g).to(device)
    v = torch.randn(*shape, args.stored, args.dim, generator=g).to(device)
    beta = 1.0 / args.dim**0.5
    beta_tensor = torch.tensor(beta)
    flat = lambda t: t.reshape(batch * args.heads, t.shape[-2], t.shape[-1])  # noqa: E731

    def sdpa():
        return F.scaled_dot_product_attention(q, k, v, scale=beta)

    rows = []
    with torch.no_grad():
        sdpa_time = median_seconds(sdpa, device, warmup, repeats)
        sdpa_peak = memory_profile(sdpa, device).peak_bytes
        for steps in args.steps:
            sides = {
                "statmech": lambda: torch.ops.statmech.hopfield_retrieval(q, k, v, beta_tensor, steps),
                "hflayers-style": lambda: hflayers_style(q, k, v, beta, steps),
            }
            if difflayers is not None:
                layer = difflayers_layer(steps, beta, device)
                sides["difflayers"] = lambda: layer((flat(k), flat(q), flat(v))).reshape(q.shape)
            reference = sides["hflayers-style"]()
            for name, fn in sides.items():
                error = (fn() - reference).abs().max().item()
                assert error < 1e-4, (name, steps, error)
            times = {name: median_seconds(fn, device, warmup, repeats) for name, fn in sides.items()}
            peaks = {name: memory_profile(fn, device).peak_bytes for name, fn in sides.items()}
            ours = times["statmech"]
            their = times.get("difflayers", float("nan"))
            rows.append([
                str(steps),
                f"{times['statmech'] * 1e3:.1f}",
                f"{their * 1e3:.1f}",
                f"{times['hflayers-style'] * 1e3:.1f}",
                f"{sdpa_time * 1e3:.1f}",
                f"**{their / ours:.2f}x**",
                f"**{times['hflayers-style'] / ours:.2f}x**",
                f"**{ours / ((steps + 1) * sdpa_time):.2f}**",
                f"{peaks['statmech'] / 2**20:.0f}",
                f"{peaks.get('difflayers', float('nan')) / 2**20:.0f}",
                f"{peaks['hflayers-style'] / 2**20:.0f}",
                f"{sdpa_peak / 2**20:.0f}",
                f"**{peaks.get('difflayers', float('nan')) / max(peaks['statmech'], 1):.1f}x**",
            ])
            print(f"steps {steps}: " + ", ".join(f"{n} {t * 1e3:.1f} ms" for n, t in times.items()), flush=True)

    print(
        f"\nbatch {batch}, {args.heads} heads, {args.queries} queries x {args.stored} stored, head dim {args.dim}, "
        f"float32; {machine_description(device)}"
    )
    print_table(
        "Modern Hopfield retrieval",
        [
            "update steps", "statmech ms", "difflayers ms", "hflayers-style ms", "SDPA (1 call) ms",
            "speed-up vs difflayers", "speed-up vs hflayers-style", "statmech / ((steps+1) SDPA)",
            "statmech peak MiB", "difflayers peak MiB", "hflayers-style peak MiB", "SDPA peak MiB",
            "difflayers / statmech peak",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
