"""Density-regularised geodesics on a ring with a hole (Kim & Zhang 2019, Fig. 2).

Reproduces Fig. 2 of paper 000 ("Latent space interpolation with a density
regulariser"): a 2-D ring with a hole, a pair of points on opposite sides, and the
data-space density

    log p(x(z)) = log p(z) − ½ log det G(z),     G = J_φᵀ J_φ,

drawn as a heat map over the latent space Z. It compares

* ``Linear``      -- the straight latent segment,
* ``Geodesic``    -- the shortest path under the pullback metric (the shortest
  way across a ring is a chord through the hole),
* ``DensityRegularizedGeodesic`` -- the geodesic plus μ Σ −log p(x), which bends
  around the hole along the ring,

in data space and in Z, and prints each path's length and minimum / mean
log p(x).

Manifold used. The paper trains a 2-20-20-2 GAN on the ring. A GAN trained for
the ~1 minute this example may take (``GAN(hidden_sizes=(20, 20))`` on
:func:`~sk_geodesic.datasets.make_ring`, 60-200 epochs) does not show a clear
hole: its log p(x) map is a smooth blob and all three paths coincide. The
default is therefore the analytic stand-in ring manifold of
``tests/test_regularized.py``: the sheet z ↦ (z₁, z₂, 0.3 tanh(z₁z₂)) with a
ring-shaped latent density (radius 1, radial std 0.2), whose hole of low p(x) at
the origin is exact, and data drawn from ``make_ring``. ``--gan`` trains the
GAN instead (expect no visible hole unless trained much longer).

Run ``python examples/plot_ring_density.py [--quick] [--out DIR] [--gan]``.
"""

from __future__ import annotations

import argparse
import math
import os
import warnings

import numpy as np
import torch


def _ring_decoder(z):
    return torch.cat([z, 0.3 * torch.tanh(z[..., :1] * z[..., 1:2])], -1)


def _ring_log_density(z):
    r = z.pow(2).sum(-1).add(1e-12).sqrt()
    return -0.5 * ((r - 1.0) / 0.2).pow(2) - math.log(2 * math.pi * 0.2 * math.sqrt(2 * math.pi))


def _encode2(x):
    return x[:, :2]


def _fit_manifold(X, standin, quick, seed):
    from sk_geodesic.manifolds import GAN, PretrainedManifold

    if standin:
        return PretrainedManifold(
            _ring_decoder, latent_dim=2, log_density=_ring_log_density, encoder=_encode2, dtype="float64"
        ).fit()
    return GAN(
        hidden_sizes=(20, 20),
        epochs=60 if quick else 200,
        encoder_epochs=10 if quick else 30,
        inversion_steps=100,
        n_candidates=128,
        dtype="float64",
        random_state=seed,
    ).fit(X)


def _log_px_grid(manifold, extent, resolution):
    from sk_geodesic.geometry import log_det_metric

    x = np.linspace(extent[0], extent[1], resolution)
    y = np.linspace(extent[2], extent[3], resolution)
    grid = np.stack(np.meshgrid(x, y), -1).reshape(-1, 2)
    Z = torch.as_tensor(grid, dtype=manifold.dtype_, device=manifold.device_)
    with torch.no_grad():
        v = manifold.latent_log_density()(Z) - 0.5 * log_det_metric(manifold.embedding_map(), Z, eps=1e-10)
    return v.cpu().numpy().reshape(resolution, resolution)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="sk_geodesic_output/", help="output folder for the PNGs")
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    parser.add_argument("--gan", action="store_true", help="train a GAN instead of the analytic stand-in")
    parser.add_argument("--mu", type=float, default=0.03, help="density-regulariser weight")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sk_geodesic.datasets import make_ring
    from sk_geodesic.interpolation import DensityRegularizedGeodesic, Geodesic, Linear
    from sk_geodesic.metrics import path_log_density
    from sk_geodesic.plotting import plot_latent_paths

    os.makedirs(args.out, exist_ok=True)
    X, _ = make_ring(500 if args.quick else 1000, random_state=args.seed)
    standin = not args.gan
    manifold = _fit_manifold(X, standin, args.quick, args.seed)
    kind = "stand-in ring manifold" if standin else "GAN"
    if standin:
        # make_ring's points are latent codes on the stand-in sheet; its data are their images
        X = manifold.inverse_transform(X)

    # a pair on opposite sides of the ring
    ang = np.array([0.25 * np.pi, 1.25 * np.pi])
    ends = np.c_[np.cos(ang), np.sin(ang)]
    if standin:
        Z_ends = ends  # the stand-in's latent ring is the unit circle
        ends = manifold.inverse_transform(ends)
    else:
        Z_ends = manifold.transform(ends)
    z0, z1 = Z_ends[:1], Z_ends[1:]

    common = dict(manifold=manifold, n_points=25 if args.quick else 35)
    methods = {
        "Linear": Linear(**common),
        "Geodesic": Geodesic(max_iter=50 if args.quick else 100, **common),
        f"DensityReg (μ={args.mu:g})": DensityRegularizedGeodesic(
            mu=args.mu, max_iter=50 if args.quick else 100, **common
        ),
    }
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few iterations in --quick: convergence warnings
        for name, est in methods.items():
            paths[name] = est.fit(X[:50]).path(z0, z1, latent=True)

    print(f"Ring ({kind}): pair at angles 45° and 225°")
    print(f"{'method':<22} {'length':>8} {'min log p(x)':>13} {'mean log p(x)':>14}")
    for name, p in paths.items():
        lo = path_log_density(manifold, p, kind="data", reduce="min")[0]
        me = path_log_density(manifold, p, kind="data", reduce="mean")[0]
        print(f"{name:<22} {p.length[0]:8.3f} {lo:13.3f} {me:14.3f}")

    colors = ["tab:blue", "tab:orange", "tab:green"]
    fig, (ax_x, ax_z) = plt.subplots(1, 2, figsize=(11, 5))
    ax_x.scatter(X[:, 0], X[:, 1], s=3, c="0.7", linewidths=0, label="training ring")
    for (name, p), c in zip(paths.items(), colors):
        D = p.decoded[0]
        ax_x.plot(D[:, 0], D[:, 1], "-", color=c, lw=2, label=f"{name}: L={p.length[0]:.2f}")
    ax_x.plot(ends[:, 0], ends[:, 1], "ko", ms=5)
    ax_x.set_aspect("equal")
    ax_x.set_title("data space" + (" (first two of 3 coordinates)" if standin else ""))
    ax_x.legend(fontsize="small", frameon=False, loc="upper right")

    lim = max(2.0 if standin else 3.0, float(np.abs(np.vstack([p.latent[0] for p in paths.values()])).max()) * 1.15)
    extent = (-lim, lim, -lim, lim)
    heat = _log_px_grid(manifold, extent, 80 if args.quick else 150)
    lo = np.quantile(heat, 0.02)
    im = ax_z.imshow(np.maximum(heat, lo), origin="lower", extent=extent, cmap="viridis", aspect="equal")
    fig.colorbar(im, ax=ax_z, label="log p(x(z)) = log p(z) − ½ log det G(z)")
    plot_latent_paths(list(paths.values()), ax=ax_z, labels=list(paths), colors=colors, lw=2)
    ax_z.set_title(f"latent space Z ({kind})")
    fig.suptitle("Kim & Zhang (2019), Fig. 2: density-regularised interpolation on a ring")
    fig.tight_layout()
    out = os.path.join(args.out, "ring_density.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"saved {out}")
    return [out]


if __name__ == "__main__":
    main()
