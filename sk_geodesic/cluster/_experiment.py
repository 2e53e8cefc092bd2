"""The MNIST clustering protocol of "Latent space oddity" (Arvanitidis et al. 2018)."""

from __future__ import annotations

import time

import numpy as np

#: Digit sets of the paper's Table (plus all ten digits).
LSO_DIGIT_SETS = ((0, 1, 2), (3, 4, 7), (5, 6, 9))

#: F-measures (%) reported by the paper, Riemannian / Euclidean.
LSO_PAPER_F = {(0, 1, 2): (94.3, 77.6), (3, 4, 7): (89.5, 77.8), (5, 6, 9): (81.1, 64.9)}

#: The one setting used for every digit set (chosen on the triplets, see docs/lso_results.md).
LSO_VAE_PARAMS = dict(
    latent_dim=2,
    hidden_sizes=(256, 128),
    output_activation="sigmoid",
    epochs=30,
    n_centers=64,
    rbf_scale=2.0,
    max_std=1.0,
)
LSO_N_NEIGHBORS = 10


def lso_experiment(
    digit_sets=LSO_DIGIT_SETS,
    seeds=(0, 1, 2),
    quick=False,
    n_per_digit=None,
    vae_params=None,
    n_neighbors=LSO_N_NEIGHBORS,
    n_init=3,
    return_models=False,
    verbose=False,
):
    """Geodesic k-medoids vs Euclidean k-means on the 2-D latent codes of a VAE.

    For every digit set and seed: train one VAE (2-D latent, RBF variance network) on
    the images of those digits, then cluster the *same* latent codes with
    :class:`sklearn.cluster.KMeans` (Euclidean) and with :class:`GeodesicKMeans`
    (``distance="graph"``: kNN-graph geodesics under the VAE's expected metric), with
    as many clusters as digits. Scores: :func:`f_measure`, ARI and NMI against the
    digit labels.

    Parameters
    ----------
    digit_sets : sequence of sequences of int
    seeds : sequence of int
        One VAE and one clustering per seed.
    quick : bool, default=False
        500 images per digit (a run of about a minute per seed on two cores).
    n_per_digit : int or None
        Images per digit (``None``: all ~1000 of the embedded MNIST subset).
    vae_params : dict or None
        Overrides of :data:`LSO_VAE_PARAMS`.
    n_neighbors : int
        Neighbours of the kNN graph; doubled (and recorded in the run) while the graph
        is disconnected.
    n_init : int
        Initialisations of both clusterings.
    return_models : bool
        Keep the fitted VAE and clusterings of the first seed of each set.
    verbose : bool

    Returns
    -------
    result : dict
        ``"runs"``: one dict per (digit set, seed) with the scores and timings;
        ``"summary"``: one dict per digit set with mean and std of each score;
        ``"markdown"``: the summary as a Markdown table; ``"models"`` when asked.
    """
    from sklearn.cluster import KMeans
    from sklearn.frozen import FrozenEstimator
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from ..datasets import load_mnist
    from ..geometry.graph import DisconnectedGraphError
    from ..interpolation import Linear
    from ..manifolds import VAE
    from ._kmedoids import GeodesicKMeans
    from ._metrics import f_measure

    params = dict(LSO_VAE_PARAMS)
    if quick:
        n_per_digit = 500 if n_per_digit is None else n_per_digit
    params.update(vae_params or {})
    runs, models = [], {}
    for digits in digit_sets:
        digits = tuple(int(d) for d in digits)
        X, y = load_mnist(return_X_y=True, digits=list(digits), n_per_digit=n_per_digit)
        k = len(digits)
        for seed in seeds:
            t0 = time.perf_counter()
            vae = VAE(random_state=seed, **params).fit(X)
            t1 = time.perf_counter()
            Z = vae.latent_train_
            km = KMeans(n_clusters=k, n_init=max(n_init, 10), random_state=seed).fit(Z)
            t2 = time.perf_counter()
            # a kNN graph over 2-D codes can split off an isolated blob: widen it until connected
            nn = n_neighbors
            while True:
                gkm = GeodesicKMeans(
                    n_clusters=k,
                    interpolator=Linear(manifold=FrozenEstimator(vae)),
                    distance="graph",
                    n_neighbors=nn,
                    n_init=n_init,
                    random_state=seed,
                )
                try:
                    gkm.fit(X)
                    break
                except DisconnectedGraphError:
                    if nn >= len(X) - 1:
                        raise
                    nn = min(2 * nn, len(X) - 1)
            t3 = time.perf_counter()
            row = dict(
                digits=digits, seed=seed, n_samples=len(X), n_neighbors=nn, vae_s=t1 - t0, kmeans_s=t2 - t1,
                geodesic_s=t3 - t2,
            )
            for name, labels in (("euclidean", km.labels_), ("geodesic", gkm.labels_)):
                row[f"{name}_f"] = 100 * f_measure(y, labels)
                row[f"{name}_ari"] = 100 * adjusted_rand_score(y, labels)
                row[f"{name}_nmi"] = 100 * normalized_mutual_info_score(y, labels)
            runs.append(row)
            if verbose:
                print(
                    f"digits {digits} seed {seed}: F geodesic {row['geodesic_f']:.1f} vs euclidean "
                    f"{row['euclidean_f']:.1f} (VAE {row['vae_s']:.0f}s, clustering {row['geodesic_s']:.0f}s)",
                    flush=True,
                )
            if return_models and digits not in models:
                models[digits] = dict(X=X, y=y, vae=vae, kmeans=km, geodesic=gkm)
    summary = _summarise(runs)
    out = dict(runs=runs, summary=summary, markdown=lso_markdown(summary), settings=dict(params, n_neighbors=n_neighbors))
    if return_models:
        out["models"] = models
    return out


def _summarise(runs):
    summary = []
    for digits in dict.fromkeys(r["digits"] for r in runs):
        rows = [r for r in runs if r["digits"] == digits]
        s = dict(digits=digits, n_seeds=len(rows), n_samples=rows[0]["n_samples"])
        for key in rows[0]:
            if key.endswith(("_f", "_ari", "_nmi", "_s")):
                vals = np.array([r[key] for r in rows], dtype=float)
                s[key] = (float(vals.mean()), float(vals.std()))
        summary.append(s)
    return summary


def lso_markdown(summary):
    """The summary of :func:`lso_experiment` as a Markdown table (mean ± std, in %)."""
    head = (
        "| digits | n | seeds | F geodesic | F Euclidean | F paper (Riem. / Eucl.) | ARI geodesic | ARI Euclidean "
        "| NMI geodesic | NMI Euclidean |\n|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for s in summary:
        paper = LSO_PAPER_F.get(tuple(s["digits"]))
        ptxt = f"{paper[0]} / {paper[1]}" if paper else "–"
        f = lambda key: f"{s[key][0]:.1f} ± {s[key][1]:.1f}"
        lines.append(
            f"| {','.join(map(str, s['digits']))} | {s['n_samples']} | {s['n_seeds']} | {f('geodesic_f')} | "
            f"{f('euclidean_f')} | {ptxt} | {f('geodesic_ari')} | {f('euclidean_ari')} | {f('geodesic_nmi')} | "
            f"{f('euclidean_nmi')} |"
        )
    return head + "\n".join(lines) + "\n"
