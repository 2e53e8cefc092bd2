"""Command line: ``python -m sk_geodesic demo`` and ``python -m sk_geodesic lso``.

``demo`` fits a VAE on the embedded MNIST digits (progress bar), prints its
reconstruction error, draws straight-line and geodesic interpolations over a map of
the decoder's σ with the codes on it, and runs a short version of the geodesic
clustering experiment of "Latent space oddity" (several seeds).
``lso`` runs that experiment on any preset data set and class subsets, writing a
table and a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _write_lso(result, out, prefix, seconds):
    """Write the table (Markdown, with the verdict when supported) and the per-run JSON."""
    from .cluster import lso_verdict

    verdict = lso_verdict(result["runs"])
    seeds = sorted({r["seed"] for r in result["runs"]})
    lines = [
        f"Seeds {seeds} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''}"
        f"{'; mean ± std over seeds' if len(seeds) > 1 else '; single values, no spread'}). "
        f"Settings: {json.dumps(result['settings'])}. {seconds:.0f} s.",
        "",
        result["markdown"],
    ]
    if verdict:
        lines.append(verdict)
    text = "\n".join(lines)
    with open(os.path.join(out, f"{prefix}_table.md"), "w") as fh:
        fh.write(text + "\n")
    with open(os.path.join(out, f"{prefix}_runs.json"), "w") as fh:
        json.dump([{k: (list(v) if isinstance(v, tuple) else v) for k, v in r.items()} for r in result["runs"]], fh,
                  indent=1)
    return text, verdict


def draw_lso_clusters(models, path, geodesics=True):
    """One panel per class set: codes coloured by graph-geodesic cluster over log σ(z),
    medoids as stars, exact geodesics (red) and straight segments (dashed) between them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.frozen import FrozenEstimator

    from .interpolation import Geodesic
    from .plotting import latent_extent, plot_std_map

    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.6), squeeze=False)
    for ax, (classes, m) in zip(axes[0], models.items()):
        vae, gkm = m["vae"], m["geodesic"]
        Z = vae.latent_train_
        plot_std_map(vae, latent_extent(Z, pad=0.1), codes=Z, labels=gkm.labels_, ax=ax, cmap="Greys", s=3)
        Zm = gkm.medoid_latent_
        if geodesics and len(Zm) > 1:
            import numpy as np

            geo = Geodesic(manifold=FrozenEstimator(vae), n_points=25, max_iter=100, init="graph").fit(m["X"])
            i, j = np.triu_indices(len(Zm), k=1)
            p = geo.path(Zm[i], Zm[j], latent=True)
            for b in range(len(p)):
                ax.plot(p.latent[b, :, 0], p.latent[b, :, 1], "r-", lw=2)
                ax.plot([Zm[i[b], 0], Zm[j[b], 0]], [Zm[i[b], 1], Zm[j[b], 1]], "k--", lw=1)
        ax.plot(Zm[:, 0], Zm[:, 1], "k*", ms=14)
        ax.set_title(f"classes {classes}: density-weighted graph-geodesic k-medoids")
    fig.suptitle("codes by cluster over log10 σ(z); red: geodesics between medoids, dashed: straight lines")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _demo(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .datasets import load_mnist
    from .interpolation import Geodesic, Linear
    from .manifolds import VAE
    from .plotting import latent_extent, plot_image_strips, plot_latent_paths, plot_std_map

    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    X, y = load_mnist(return_X_y=True)
    if args.n_per_digit:
        X, y = load_mnist(return_X_y=True, n_per_digit=args.n_per_digit)
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
    # started on the graph geodesic (shortest path through the codes), refined on the metric
    geo = Geodesic(manifold=vae, init="graph").fit(X)
    t1 = time.perf_counter()
    p_lin = lin.path(Z[i0], Z[i1], latent=True)
    p_geo = geo.path(Z[i0], Z[i1], latent=True)
    print(f"{len(pairs)} cross-class geodesics in {time.perf_counter() - t1:.1f} s")
    for k, (a, b) in enumerate(pairs):
        print(f"  {a} -> {b}: straight-line length {p_lin.length[k]:.2f}, geodesic length {p_geo.length[k]:.2f} "
              f"(ratio {p_geo.length[k] / p_lin.length[k]:.2f})")

    rows, labels = [], []
    for k, (a, b) in enumerate(pairs):
        rows += [p_lin.decoded[k], p_geo.decoded[k]]
        labels += [f"{a}→{b} linear\nL={p_lin.length[k]:.1f}", f"{a}→{b} geodesic\nL={p_geo.length[k]:.1f}"]
    fig = plot_image_strips(rows, row_labels=labels, n_images=10)
    fig.suptitle("Straight-line vs geodesic latent interpolation (MNIST VAE)")
    f1 = os.path.join(args.out, "demo_interpolations.png")
    fig.savefig(f1, dpi=110, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 6.5))
    plot_std_map(vae, latent_extent(Z), codes=Z, labels=y, ax=ax, cmap="Greys", s=2)
    plot_latent_paths([p_lin, p_geo], ax=ax, labels=["straight line", "geodesic"], colors=["tab:blue", "tab:red"],
                      lw=2)
    # a key for the digit colours (plot_std_map colours digit d with tab10's colour d), beside the paths' key
    from matplotlib.lines import Line2D

    path_key = ax.get_legend()
    digit_handles = [Line2D([], [], ls="", marker="o", ms=4, color=plt.get_cmap("tab10")(int(d)), label=str(d))
                     for d in np.unique(y)]
    ax.legend(handles=digit_handles, title="digit", ncol=2, fontsize="x-small", title_fontsize="small",
              loc="lower right", framealpha=0.85, edgecolor="none")
    if path_key is not None:
        ax.add_artist(path_key)
    ax.set_title("MNIST codes (coloured by digit) over log10 σ(z) of the decoder;\n"
                 "cross-class straight lines vs geodesics")
    f2 = os.path.join(args.out, "demo_latent.png")
    fig.savefig(f2, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {f1}\nwrote {f2}")

    if not args.no_cluster:
        from .cluster import lso_experiment

        seeds = list(range(args.seed, args.seed + args.seeds))
        n_pc = args.cluster_n_per_digit
        per_class = f"{n_pc} digits per class" if n_pc else "~1000 digits per class"
        print(f"\nDensity-weighted graph-geodesic k-medoids vs Euclidean k-means on the same 2-D VAE codes "
              f"('Latent space oddity' protocol, {per_class}, one VAE per digit triplet and seed, "
              f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}):", flush=True)
        t2 = time.perf_counter()
        vp = {"epochs": args.cluster_epochs} if args.cluster_epochs else None
        result = lso_experiment(seeds=seeds, n_per_class=n_pc, vae_params=vp, return_models=True, verbose=True)
        text, verdict = _write_lso(result, args.out, "demo_lso", time.perf_counter() - t2)
        print(text)
        if not verdict:
            print("No verdict: the numbers do not separate the two methods (or there is only one seed).")
        f3 = os.path.join(args.out, "demo_lso_clusters.png")
        draw_lso_clusters(result["models"], f3, geodesics=not args.fast_figures)
        print(f"wrote {f3}")
        print(f"clustering experiment in {time.perf_counter() - t2:.0f} s; "
              "other data and class sets: python -m sk_geodesic lso --help")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


def _lso(args):
    import torch

    from .cluster import lso_experiment

    os.makedirs(args.out, exist_ok=True)
    seeds = list(range(args.seeds))
    class_sets = [tuple(args.classes)] if args.classes else None
    vp = {"epochs": args.epochs} if args.epochs else None
    t0 = time.perf_counter()
    result = lso_experiment(class_sets, seeds=seeds, dataset=args.dataset, quick=args.quick,
                            n_per_class=args.n_per_class, vae_params=vp, return_models=not args.no_figure,
                            verbose=True)
    prefix = f"lso_{args.dataset}"
    text, verdict = _write_lso(result, args.out, prefix, time.perf_counter() - t0)
    print(text)
    if not verdict:
        print("No verdict: the numbers do not separate the two methods (or there is only one seed).")
    print(f"wrote {os.path.join(args.out, prefix + '_table.md')}")
    if not args.no_figure:
        path = os.path.join(args.out, f"{prefix}_clusters.png")
        draw_lso_clusters(result["models"], path, geodesics=not args.fast_figures)
        print(f"wrote {path}")
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
    demo.add_argument("--seeds", type=int, default=3, help="seeds of the clustering experiment")
    demo.add_argument("--n-per-digit", type=int, default=None, help="digits per class for the interpolation VAE")
    demo.add_argument("--cluster-n-per-digit", type=int, default=None,
                      help="digits per class for clustering (default: all ~1000 of the embedded subset, as in the paper)")
    demo.add_argument("--cluster-epochs", type=int, default=None, help="VAE epochs in the clustering experiment")
    demo.add_argument("--fast-figures", action="store_true", help="no exact geodesics in the cluster figure")
    demo.add_argument("--no-cluster", action="store_true", help="skip the clustering experiment")
    lso = sub.add_parser("lso", help="geodesic vs Euclidean clustering of VAE codes on a data set")
    lso.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    lso.add_argument("--classes", type=int, nargs="+", default=None,
                     help="one class subset (default: the preset's sets)")
    lso.add_argument("--seeds", type=int, default=3, help="number of seeds (0, 1, ...)")
    lso.add_argument("--n-per-class", type=int, default=None, help="images per class (default: the preset's)")
    lso.add_argument("--epochs", type=int, default=None, help="VAE epochs (default: the protocol's 30)")
    lso.add_argument("--quick", action="store_true", help="at most 500 images per class")
    lso.add_argument("--out", default="lso_out", help="output folder")
    lso.add_argument("--no-figure", action="store_true")
    lso.add_argument("--fast-figures", action="store_true", help="no exact geodesics in the figure")
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
    if args.command == "lso":
        return _lso(args)
    return 1


if __name__ == "__main__":
    sys.exit(main())
