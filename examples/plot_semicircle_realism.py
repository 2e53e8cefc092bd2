"""Realism-index interpolation under a semicircle prior (Struski et al., Fig. 1).

Reproduces Fig. 1 of paper 002 ("Realism Index: interpolation in generative
models with arbitrary prior"): the latent prior is the three-Gaussian
"semicircle" mixture of :class:`~sk_geodesic.datasets.SemicircleMixture`
(``--dims`` dimensions, 20 as in the paper by default). Between points drawn from
the two outer components (means (2, 6) and (2, −6)) the straight line crosses
the low-density gap between them, while the
:class:`~sk_geodesic.interpolation.RealismIndex` path (minimising
Σ log²(ri_ε) ‖Δz‖², ε = 0.1) bends through the middle component and stays
realistic.

The generative model is the identity decoder z ↦ z (a
:class:`~sk_geodesic.manifolds.PretrainedManifold`), so the metric is Euclidean
and only the realism index shapes the path, as in the paper's figure. The index
is ri(z) = P(log p(Z) ≤ log p(z)), Z ~ prior, estimated from prior samples.

Figures: ``semicircle_paths.png`` -- prior samples and both paths projected on
the first two coordinates; ``semicircle_ri.png`` -- ri along each path. The
script prints each path's length, minimum and mean ri, and path realism
(Struski et al. eq. 12, length-normalised).

Run ``python examples/plot_semicircle_realism.py [--quick] [--out DIR] [--dims D]``.
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import torch


def _identity(z):
    return z


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="sk_geodesic_output/", help="output folder for the PNGs")
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    parser.add_argument("--dims", type=int, default=20, help="dimension of the semicircle prior")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sk_geodesic.datasets import SemicircleMixture
    from sk_geodesic.interpolation import Linear, RealismIndex
    from sk_geodesic.manifolds import PretrainedManifold
    from sk_geodesic.metrics import path_realism_index

    os.makedirs(args.out, exist_ok=True)
    prior = SemicircleMixture(n_dims=args.dims)
    manifold = PretrainedManifold(
        _identity, latent_dim=args.dims, encoder=_identity, log_density=prior, dtype="float64"
    ).fit()
    Zs, labels = prior.sample(1000 if args.quick else 3000, random_state=args.seed, return_labels=True)

    rng = np.random.RandomState(args.seed)
    n_pairs = 2 if args.quick else 4
    Z0 = Zs[rng.choice(np.flatnonzero(labels == 0), n_pairs, replace=False)]
    Z1 = Zs[rng.choice(np.flatnonzero(labels == 2), n_pairs, replace=False)]

    n_points = 25 if args.quick else 35
    ri = RealismIndex(
        manifold=manifold,
        index="density",
        log_density=prior,
        epsilon=0.1,
        n_samples=1000 if args.quick else 2000,
        n_points=n_points,
        max_iter=200 if args.quick else 600,
        random_state=args.seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few iterations in --quick: convergence warnings
        ri.fit(Zs[:50])
        p_ri = ri.path(Z0, Z1, latent=True)
    p_lin = Linear(manifold=manifold, n_points=n_points).fit(Zs[:50]).path(Z0, Z1, latent=True)

    paths = {"Linear": p_lin, "RealismIndex": p_ri}
    colors = {"Linear": "tab:blue", "RealismIndex": "tab:red"}
    ri_along = {}
    for name, p in paths.items():
        with torch.no_grad():
            flat = torch.as_tensor(p.latent.reshape(-1, args.dims), device=ri.device_)
            ri_along[name] = ri.realism_index_(flat).double().cpu().numpy().reshape(len(p), -1)
    print(f"Semicircle prior, {args.dims}-D, {n_pairs} pairs (component 1 -> component 3)")
    print(f"{'pair':<5} {'method':<13} {'length':>7} {'min ri':>7} {'mean ri':>8} {'realism':>8}")
    for name, p in paths.items():
        realism = path_realism_index(ri, p, epsilon=0.0, normalize=True)
        for k in range(n_pairs):
            print(
                f"{k:<5} {name:<13} {p.length[k]:7.2f} {ri_along[name][k].min():7.3f} "
                f"{ri_along[name][k].mean():8.3f} {realism[k]:8.3f}"
            )

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(Zs[:, 0], Zs[:, 1], s=3, c=labels, cmap="Set2", linewidths=0)
    for name, p in paths.items():
        for k in range(n_pairs):
            ax.plot(p.latent[k, :, 0], p.latent[k, :, 1], "-", color=colors[name], lw=2, label=name if k == 0 else None)
        ax.plot(p.latent[:, [0, -1], 0].ravel(), p.latent[:, [0, -1], 1].ravel(), "ko", ms=4)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal")
    ax.legend(frameon=False)
    ax.set_title(f"Struski et al., Fig. 1: semicircle prior ({args.dims}-D, first two dims)", fontsize="small")
    fig.tight_layout()
    out1 = os.path.join(args.out, "semicircle_paths.png")
    fig.savefig(out1, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, p in paths.items():
        for k in range(n_pairs):
            ax.plot(p.t, ri_along[name][k], color=colors[name], lw=1.5, label=name if k == 0 else None)
    ax.set_xlabel("t")
    ax.set_ylabel("realism index ri(z(t))")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False)
    fig.tight_layout()
    out2 = os.path.join(args.out, "semicircle_ri.png")
    fig.savefig(out2, dpi=100)
    plt.close(fig)
    print(f"saved {out1}\nsaved {out2}")
    return [out1, out2]


if __name__ == "__main__":
    main()
