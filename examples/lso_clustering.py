"""Geodesic vs Euclidean clustering of MNIST latent codes ("Latent space oddity", Sec. 4).

Protocol of Arvanitidis, Hansen & Hauberg (2018): for the digit triplets {0,1,2},
{3,4,7} and {5,6,9} (~1000 images per digit) train one VAE with a 2-D latent space
and an RBF variance network, then cluster the same latent codes with Euclidean
k-means and with k-medoids under the Riemannian (expected-metric) distance, here
approximated by kNN-graph geodesics (``GeodesicKMeans(distance="graph")``).

    python examples/lso_clustering.py [--quick] [--seeds N] [--out DIR] [--no-all-digits]

Prints a Markdown table (F-measure, ARI, NMI in %, mean ± std over seeds), writes it
to ``DIR/lso_results.md`` (and the per-run numbers to ``DIR/lso_runs.json``), and draws
``DIR/lso_clusters.png``: latent codes coloured by cluster, with geodesics between
the medoids. ``--quick`` (500 images per digit, one seed, triplets only)
takes about two minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch


def run(quick=False, seeds=3, out="lso_out", all_digits=True, figure=True, verbose=True):
    """Run the experiment, write the table (and figure) to ``out``; return the result dict."""
    from sk_geodesic.cluster import lso_experiment
    from sk_geodesic.cluster._experiment import LSO_DIGIT_SETS, _summarise, lso_markdown

    os.makedirs(out, exist_ok=True)
    seed_list = list(range(1 if quick and seeds is None else (seeds or 3)))
    t0 = time.perf_counter()
    res = lso_experiment(LSO_DIGIT_SETS, seeds=seed_list, quick=quick, return_models=figure, verbose=verbose)
    runs = list(res["runs"])
    if all_digits and not quick:
        res10 = lso_experiment([tuple(range(10))], seeds=seed_list, quick=quick, verbose=verbose)
        runs += res10["runs"]
    summary = _summarise(runs)
    table = lso_markdown(summary)
    elapsed = time.perf_counter() - t0
    header = (
        f"Settings: {json.dumps(res['settings'])}; seeds {seed_list}; quick={quick}; "
        f"{elapsed:.0f} s.\n\n"
    )
    with open(os.path.join(out, "lso_results.md"), "w") as fh:
        fh.write(header + table)
    with open(os.path.join(out, "lso_runs.json"), "w") as fh:
        json.dump([{k: (list(v) if isinstance(v, tuple) else v) for k, v in r.items()} for r in runs], fh, indent=1)
    if figure:
        draw(res["models"], os.path.join(out, "lso_clusters.png"))
    if verbose:
        print(header + table)
    return dict(res, runs=runs, summary=summary, markdown=table)


def draw(models, path):
    """Latent codes coloured by geodesic cluster, with geodesics between medoids."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.frozen import FrozenEstimator

    from sk_geodesic.interpolation import Geodesic

    fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 4.6), squeeze=False)
    for ax, (digits, m) in zip(axes[0], models.items()):
        vae, gkm = m["vae"], m["geodesic"]
        Z = vae.latent_train_
        # σ(z) as background: large away from the data, where geodesics refuse to go
        lo, hi = Z.min(0) - 0.5, Z.max(0) + 0.5
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 120), np.linspace(lo[1], hi[1], 120))
        G = np.c_[gx.ravel(), gy.ravel()]
        sig = np.log(vae.decoded_std(G).mean(1)).reshape(gx.shape)
        ax.imshow(sig, extent=(lo[0], hi[0], lo[1], hi[1]), origin="lower", cmap="Greys", alpha=0.6, aspect="auto")
        ax.scatter(Z[:, 0], Z[:, 1], c=gkm.labels_, s=3, cmap="tab10", vmin=0, vmax=9)
        geo = Geodesic(manifold=FrozenEstimator(vae), n_points=25, max_iter=100, init="graph").fit(m["X"])
        Zm = gkm.medoid_latent_
        i, j = np.triu_indices(len(Zm), k=1)
        p = geo.path(Zm[i], Zm[j], latent=True)
        for b in range(len(p)):
            ax.plot(p.latent[b, :, 0], p.latent[b, :, 1], "r-", lw=2)
            ax.plot([Zm[i[b], 0], Zm[j[b], 0]], [Zm[i[b], 1], Zm[j[b], 1]], "k--", lw=1)
        ax.plot(Zm[:, 0], Zm[:, 1], "k*", ms=14)
        ax.set_title(f"digits {digits}: geodesic k-medoids")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
    fig.suptitle("latent codes by cluster; red: geodesics between medoids, dashed: straight lines; grey: log σ(z)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description="Geodesic vs Euclidean clustering of MNIST VAE latent codes (LSO protocol).")
    p.add_argument("--quick", action="store_true", help="small run (~2 minutes): 500 images per digit, 1 seed")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3; 1 with --quick)")
    p.add_argument("--out", default="lso_out", help="output folder")
    p.add_argument("--no-all-digits", action="store_true", help="skip the ten-digit row")
    p.add_argument("--no-figure", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="Torch threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    run(quick=args.quick, seeds=args.seeds, out=args.out, all_digits=not args.no_all_digits, figure=not args.no_figure)


if __name__ == "__main__":
    main()
