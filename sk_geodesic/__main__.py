"""Command line: ``python -m sk_geodesic demo``.

The demo fits a VAE on the embedded MNIST digits (progress bar), prints its
reconstruction error, draws straight-line and geodesic interpolations and a latent
scatter, and runs a short version of the geodesic-clustering experiment.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _demo(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from .datasets import load_mnist
    from .interpolation import Geodesic, Linear
    from .manifolds import VAE
    from .plotting import plot_image_strips, plot_latent_paths, plot_latent_scatter, plot_magnification

    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    X, y = load_mnist(return_X_y=True)
    print(f"MNIST: {X.shape[0]} digits of {X.shape[1]} pixels (embedded, offline)")
    vae = VAE(
        latent_dim=2, epochs=args.epochs, output_activation="sigmoid", random_state=args.seed, verbose=True
    ).fit(X)
    mse = vae.reconstruction_error(X)
    print(f"VAE (latent_dim=2, {args.epochs} epochs): reconstruction MSE per pixel = {mse:.4f} "
          f"(fit {time.perf_counter() - t0:.0f} s)")

    Z = vae.transform(X)
    rng = np.random.RandomState(args.seed)
    pairs = [(0, 1), (3, 8), (4, 9), (2, 7)]
    i0 = np.array([rng.choice(np.flatnonzero(y == a)) for a, _ in pairs])
    i1 = np.array([rng.choice(np.flatnonzero(y == b)) for _, b in pairs])
    lin = Linear(manifold=vae).fit(X)
    geo = Geodesic(manifold=vae).fit(X)
    t1 = time.perf_counter()
    p_lin = lin.path(Z[i0], Z[i1], latent=True)
    p_geo = geo.path(Z[i0], Z[i1], latent=True)
    print(f"{len(pairs)} geodesics in {time.perf_counter() - t1:.1f} s")
    for k, (a, b) in enumerate(pairs):
        print(f"  {a} -> {b}: linear length {p_lin.length[k]:.2f}, geodesic length {p_geo.length[k]:.2f} "
              f"({100 * (1 - p_geo.length[k] / p_lin.length[k]):.0f}% shorter)")

    rows, labels = [], []
    for k, (a, b) in enumerate(pairs):
        rows += [p_lin.decoded[k], p_geo.decoded[k]]
        labels += [f"{a}→{b} linear\nL={p_lin.length[k]:.1f}", f"{a}→{b} geodesic\nL={p_geo.length[k]:.1f}"]
    fig = plot_image_strips(rows, row_labels=labels, n_images=10)
    fig.suptitle("Straight-line vs geodesic latent interpolation (MNIST VAE)")
    f1 = os.path.join(args.out, "demo_interpolations.png")
    fig.savefig(f1, dpi=110, bbox_inches="tight")
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    plot_latent_scatter(Z, y, ax=axes[0])
    axes[0].set_title("Latent codes of MNIST, coloured by digit")
    lo, hi = np.percentile(Z, [0.5, 99.5], axis=0)
    pad = 0.15 * (hi - lo)
    extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    plot_magnification(vae, extent, ax=axes[1])
    plot_latent_paths([p_lin, p_geo], ax=axes[1], labels=["linear", "geodesic"], colors=["tab:cyan", "tab:green"])
    axes[1].set_title("Paths over the magnification factor")
    f2 = os.path.join(args.out, "demo_latent.png")
    fig.savefig(f2, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {f1}\nwrote {f2}")

    if not args.no_cluster:
        from .cluster import lso_experiment

        print("\nGeodesic k-medoids vs Euclidean k-means on VAE latent codes "
              "(short 'Latent space oddity' protocol: 500 digits per class, one seed):")
        t2 = time.perf_counter()
        result = lso_experiment(seeds=(args.seed,), quick=True, verbose=False)
        print(result["markdown"])
        with open(os.path.join(args.out, "demo_lso_table.md"), "w") as f:
            f.write(result["markdown"])
        print(f"clustering experiment in {time.perf_counter() - t2:.0f} s; "
              "full table: python examples/lso_clustering.py")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


def _env_threads():
    from ._utils import _env_threads as read

    return read()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sk_geodesic", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=int, default=None,
        help="Torch intra-op threads (default: $SK_GEODESIC_THREADS, else Torch's default of one per core; "
        "use 1 on shared machines)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit a VAE on MNIST, draw interpolations, cluster")
    demo.add_argument("--out", default="sk_geodesic_output", help="folder for the figures")
    demo.add_argument("--epochs", type=int, default=30)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-cluster", action="store_true", help="skip the clustering experiment")
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be a positive integer, got {args.threads}")
    threads = args.threads if args.threads is not None else _env_threads()
    if threads is not None:
        import torch

        from . import set_config

        set_config(threads=threads)
        torch.set_num_threads(threads)  # also for work outside the estimators (plots, metrics)
    if args.command == "demo":
        return _demo(args)
    return 1


if __name__ == "__main__":
    sys.exit(main())
