"""Geodesic versus linear interpolation between MNIST digits in a 2-D VAE.

For pairs of MNIST digits of different classes a VAE with a 2-D latent space
(expected metric with an RBF variance network, Arvanitidis et al. 2018) gives

* ``Linear``   -- the straight latent segment, and
* ``Geodesic`` -- the shortest path under the pullback metric,

shown as decoded image strips with their lengths (``mnist_geodesic_strips.png``),
and as latent paths over the magnification-factor heat map ½ log det G(z)
(``mnist_geodesic_latent.png``, with the encoded training digits). Geodesics
avoid the high-magnification ridges between classes (regions with no training
data, where the decoder's variance is large) and are never longer than the
straight line. Lengths of both methods and their ratio are printed.

Run ``python examples/plot_mnist_geodesics.py [--quick] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
import torch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="sk_geodesic_output/", help="output folder for the PNGs")
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sk_geodesic.datasets import load_mnist
    from sk_geodesic.interpolation import Geodesic, Linear
    from sk_geodesic.manifolds import VAE
    from sk_geodesic.plotting import plot_image_strips, plot_latent_paths, plot_latent_scatter, plot_magnification

    os.makedirs(args.out, exist_ok=True)
    digits = [0, 1, 7] if args.quick else [0, 1, 4, 7]
    X, y = load_mnist(return_X_y=True, digits=digits, n_per_digit=200 if args.quick else 500)
    vae = VAE(
        latent_dim=2,
        hidden_sizes=(128, 64) if args.quick else (256, 128),
        epochs=20 if args.quick else 40,
        output_activation="sigmoid",
        n_centers=16 if args.quick else 32,
        density_components=len(digits) * 2,
        batch_size=32,
        learning_rate=2e-3,
        random_state=args.seed,
    ).fit(X)

    rng = np.random.RandomState(args.seed)
    pairs = [(digits[0], digits[-1]), (digits[1], digits[2])]
    if not args.quick:
        pairs.append((digits[0], digits[2]))
    i = [rng.choice(np.flatnonzero(y == a)) for a, _ in pairs]
    j = [rng.choice(np.flatnonzero(y == b)) for _, b in pairs]
    X0, X1 = X[i], X[j]

    n_points = 20 if args.quick else 35
    lin = Linear(manifold=vae, n_points=n_points).fit(X).path(X0, X1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few iterations in --quick: convergence warnings
        geo = Geodesic(manifold=vae, n_points=n_points, max_iter=30 if args.quick else 100).fit(X).path(X0, X1)

    print(f"MNIST VAE (digits {digits}), latent_dim=2")
    print(f"{'pair':<8} {'Linear':>8} {'Geodesic':>9} {'ratio':>7}")
    rows, labels = [], []
    for k, (a, b) in enumerate(pairs):
        print(f"{a}->{b:<5} {lin.length[k]:8.2f} {geo.length[k]:9.2f} {geo.length[k] / lin.length[k]:7.3f}")
        rows += [lin.decoded[k], geo.decoded[k]]
        labels += [f"{a}→{b} Linear\nL={lin.length[k]:.1f}", f"{a}→{b} Geodesic\nL={geo.length[k]:.1f}"]
    fig = plot_image_strips(rows, row_labels=labels, n_images=10)
    out1 = os.path.join(args.out, "mnist_geodesic_strips.png")
    fig.savefig(out1, dpi=100, bbox_inches="tight")
    plt.close(fig)

    Z = vae.transform(X)
    pad = 0.5
    extent = (Z[:, 0].min() - pad, Z[:, 0].max() + pad, Z[:, 1].min() - pad, Z[:, 1].max() + pad)
    fig, ax = plt.subplots(figsize=(7, 6))
    plot_magnification(vae, extent, ax=ax, resolution=60 if args.quick else 120)
    plot_latent_scatter(Z, y, ax=ax, s=2)
    plot_latent_paths([lin, geo], ax=ax, labels=["Linear", "Geodesic"], colors=["tab:cyan", "tab:red"], lw=2)
    ax.set_title("latent paths over the magnification factor", fontsize="small")
    fig.tight_layout()
    out2 = os.path.join(args.out, "mnist_geodesic_latent.png")
    fig.savefig(out2, dpi=100)
    plt.close(fig)
    print(f"saved {out1}\nsaved {out2}")
    return [out1, out2]


if __name__ == "__main__":
    main()
