"""Geodesic solver benchmark: sk_geodesic vs StochMan, side by side in one run.

For each model (MNIST VAEs with latent_dim 2 and 8, trained here; the analytic sphere)
and batch sizes B, it times

* ``Linear``                      straight latent segments (baseline length),
* ``Geodesic(init="linear")``     batched Gauss-Newton, coarse to fine,
* ``Geodesic(init="graph")``      same, started from kNN-graph shortest paths,
* StochMan ``connecting_geodesic`` (stochman 0.3.0 defaults: cubic spline, Adam),

and reports seconds, the mean/max curve length relative to a converged reference
(Geodesic with 129 points, tol 1e-7), and seconds per decoder forward+backward pass
over the same B x n_points points, so times read as decoder-pass equivalents.
All lengths are measured the same way: the curve is evaluated at 512 points
(piecewise linear in latent space between a method's own nodes; StochMan's spline at
512 parameter values) and its φ-length summed.

Usage::

    python bench/bench_geodesic.py            # full run (B = 1, 16, 64, 256)
    python bench/bench_geodesic.py --quick    # B = 1, 16, 64; fewer epochs
    python bench/bench_geodesic.py --write-docs   # also write docs/bench_results.rst

StochMan is a benchmark-only extra: ``pip install --no-deps stochman==0.3.0``.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import torch

from sk_geodesic.datasets import load_mnist
from sk_geodesic.geometry import curve_length, linear_curve, resample
from sk_geodesic.geometry.solvers import solve_energy_multilevel
from sk_geodesic.interpolation import Geodesic, Linear
from sk_geodesic.manifolds import VAE, PretrainedManifold

FINE = 512


def sphere_map(z):
    u, v = z[..., 0], z[..., 1]
    return torch.stack([u.cos() * v.cos(), u.sin() * v.cos(), v.sin()], dim=-1)


def fine_length(embed, Z):
    with torch.no_grad():
        return curve_length(embed, resample(Z, FINE)).cpu().numpy()


def stochman_solve(embed, Z0, Z1):
    from stochman.manifold import EmbeddedManifold

    class _M(EmbeddedManifold):
        def embed(self, c, jacobian=False):
            return embed(c)

    t = time.perf_counter()
    curve, _ = _M().connecting_geodesic(Z0.clone(), Z1.clone())
    el = time.perf_counter() - t
    with torch.no_grad():
        Zs = curve(torch.linspace(0, 1, FINE, dtype=Z0.dtype))
        if Zs.dim() == 2:
            Zs = Zs.unsqueeze(0)
        L = curve_length(embed, Zs).numpy()
    return el, L


def fwd_bwd_seconds(embed, Z, n_points, repeats=5):
    pts = linear_curve(Z[:, 0] if Z.dim() == 3 else Z, Z[:, -1] if Z.dim() == 3 else Z, n_points)
    pts = pts.reshape(-1, pts.shape[-1]).clone().requires_grad_(True)
    embed(pts).pow(2).sum().backward()
    t = time.perf_counter()
    for _ in range(repeats):
        pts.grad = None
        embed(pts).pow(2).sum().backward()
    return (time.perf_counter() - t) / repeats


def make_models(quick, seed):
    X, y = load_mnist(return_X_y=True)
    epochs = 8 if quick else 20
    models = []
    for d in (2, 8):
        t = time.perf_counter()
        vae = VAE(latent_dim=d, epochs=epochs, output_activation="sigmoid", random_state=seed).fit(X)
        print(f"trained MNIST VAE latent_dim={d} in {time.perf_counter() - t:.0f}s")
        models.append((f"MNIST VAE d={d}", vae, X))
    sphere = PretrainedManifold(sphere_map, latent_dim=2, dtype="float32", random_state=seed).fit()
    Xs = sphere.sample(2000, random_state=seed)[0]
    models.append(("sphere", sphere, Xs))
    return models


def endpoints(name, manifold, X, n, seed):
    rng = np.random.RandomState(seed)
    if name == "sphere":
        Z0 = rng.uniform(-1.2, 1.2, (n, 2))
        Z1 = rng.uniform(-1.2, 1.2, (n, 2))
    else:
        Z = manifold.latent_train_
        Z0, Z1 = Z[rng.randint(0, len(Z), n)], Z[rng.randint(0, len(Z), n)]
    return Z0.astype(np.float32), Z1.astype(np.float32)


def run(quick=False, seed=0, batch_sizes=None, skip_stochman=False):
    try:
        import stochman  # noqa: F401

        have_stochman = not skip_stochman
    except ImportError:
        have_stochman = False
        print("stochman not installed: pip install --no-deps stochman==0.3.0 (benchmark-only extra)")
    batch_sizes = batch_sizes or ([1, 16, 64] if quick else [1, 16, 64, 256])
    rows = []
    for name, manifold, X in make_models(quick, seed):
        embed = manifold.embedding_map()
        Bmax = max(batch_sizes)
        Z0n, Z1n = endpoints(name, manifold, X, Bmax, seed)
        Z0, Z1 = torch.as_tensor(Z0n), torch.as_tensor(Z1n)
        t = time.perf_counter()
        ref = solve_energy_multilevel(embed, linear_curve(Z0, Z1, 129), max_iter=300, tol=1e-7)
        Lref = fine_length(embed, ref.Z)
        print(f"[{name}] reference ({Bmax} pairs, 129 points) in {time.perf_counter() - t:.0f}s")
        lin = Linear(manifold=manifold).fit(X)
        geo = Geodesic(manifold=manifold, tol=1e-3).fit(X)
        t = time.perf_counter()
        geo_graph = Geodesic(manifold=manifold, init="graph", tol=1e-3).fit(X)
        graph_build = time.perf_counter() - t
        for B in batch_sizes:
            z0, z1, lref = Z0n[:B], Z1n[:B], Lref[:B]
            fb = fwd_bwd_seconds(embed, linear_curve(Z0[:B], Z1[:B], 2), geo.n_points)
            results = {}
            for label, est in (("Linear", lin), ("Geodesic (linear init)", geo), ("Geodesic (graph init)", geo_graph)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t = time.perf_counter()
                    p = est.path(z0, z1, latent=True)
                    el = time.perf_counter() - t
                L = fine_length(embed, torch.as_tensor(p.latent))
                results[label] = (el, L)
            if have_stochman:
                results["StochMan connecting_geodesic"] = stochman_solve(embed, Z0[:B], Z1[:B])
            base = results.get("StochMan connecting_geodesic", (np.nan,))[0]
            for label, (el, L) in results.items():
                r = L / lref
                rows.append(
                    dict(model=name, B=B, method=label, seconds=el, passes=el / fb, mean_ratio=float(r.mean()),
                         max_ratio=float(r.max()), speedup=base / el if label != "Linear" else np.nan)
                )
            print(f"[{name}] B={B}: fwd+bwd pass over B x {geo.n_points} points = {1e3 * fb:.2f} ms")
        print(f"[{name}] kNN graph over {len(X)} points built in {graph_build:.1f}s (once per fit)")
    return rows


def format_table(rows, rst=False):
    head = ["model", "B", "method", "seconds", "decoder passes", "length / ref (mean)", "length / ref (max)", "speed-up vs StochMan"]
    lines = []
    for r in rows:
        lines.append([
            r["model"], str(r["B"]), r["method"], f"{r['seconds']:.3f}", f"{r['passes']:.0f}",
            f"{r['mean_ratio']:.5f}", f"{r['max_ratio']:.5f}", "" if np.isnan(r["speedup"]) else f"{r['speedup']:.1f}x",
        ])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
    if rst:
        sep = "  ".join("=" * w for w in widths)
        out = [sep, "  ".join(h.ljust(w) for h, w in zip(head, widths)), sep]
        out += ["  ".join(c.ljust(w) for c, w in zip(l, widths)) for l in lines]
        return "\n".join(out + [sep])
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |", "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(l, widths)) + " |" for l in lines]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 = comparable timings)")
    ap.add_argument("--batch-sizes", type=int, nargs="*")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    rows = run(args.quick, args.seed, args.batch_sizes)
    table = format_table(rows)
    print("\n" + table)
    print(f"\ntotal {time.perf_counter() - t:.0f}s, torch threads={args.threads}, torch {torch.__version__}")
    if args.write_docs:
        path = os.path.join(os.path.dirname(__file__), "..", "docs", "bench_results.rst")
        with open(path, "w") as f:
            f.write("Measured with ``python bench/bench_geodesic.py`` "
                    f"(torch threads={args.threads}, CPU, torch {torch.__version__}).\n\n")
            f.write(format_table(rows, rst=True) + "\n")
        print(f"wrote {os.path.abspath(path)}")


if __name__ == "__main__":
    main()
