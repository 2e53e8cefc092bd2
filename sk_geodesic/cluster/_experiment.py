"""The clustering protocol of "Latent space oddity" (Arvanitidis et al. 2018), on any data."""

from __future__ import annotations

import time

import numpy as np

#: Digit sets of the paper's Table.
LSO_DIGIT_SETS = ((0, 1, 2), (3, 4, 7), (5, 6, 9))

#: F-measures (%) reported by the paper, Riemannian / Euclidean.
LSO_PAPER_F = {(0, 1, 2): (94.3, 77.6), (3, 4, 7): (89.5, 77.8), (5, 6, 9): (81.1, 64.9)}

#: Named data presets: the loader's name, default class sets, images per class.
#: ``n_per_class=None`` keeps every image of the class (MNIST: the ~1000 per digit of
#: the embedded subset); Fashion-MNIST keeps the first 1000 training images per class.
LSO_PRESETS = {
    "mnist": dict(class_sets=LSO_DIGIT_SETS, n_per_class=None),
    "fashion-mnist": dict(class_sets=((0, 1, 8), (5, 7, 9), (2, 4, 6)), n_per_class=1000),
}

#: The one VAE setting used for every class set and data set. Thirty epochs of ~3000
#: images are ~700 Adam steps: at the VAE's default step size (1e-3) three of six
#: seeds of {3, 4, 7} ended at F <= 72 (seed 2's codes fold two digits together); a step
#: of 3e-3 trains further in the same time (measurements: docs/lso_results.md).
LSO_VAE_PARAMS = dict(
    latent_dim=2,
    hidden_sizes=(256, 128),
    output_activation="sigmoid",
    epochs=30,
    learning_rate=3e-3,
    n_centers=64,
    rbf_scale=2.0,
    max_std=1.0,
)


#: Graph edges weigh (length on the manifold)², distances are square roots of the least
#: summed weight (a density-weighted graph geodesic, see :class:`GeodesicKMeans`).
LSO_EDGE_POWER = 2.0

#: The medoids are chosen among the densest half of the codes (trimmed k-medoids).
LSO_DENSITY_TRIM = 0.5


def load_lso_data(dataset="mnist", classes=None, n_per_class=None):
    """Images and labels of some classes of a preset data set.

    Parameters
    ----------
    dataset : {"mnist", "fashion-mnist"}
        ``"mnist"`` reads the embedded 10,000 digits; ``"fashion-mnist"`` the IDX files
        found by :func:`~sk_geodesic.datasets.load_fashion_mnist`.
    classes : sequence of int or None
        Labels to keep (``None``: all).
    n_per_class : int or None
        Keep the first ``n_per_class`` images of each class (``None``: the preset's).

    Returns
    -------
    X : ndarray of shape (n_samples, 784)
    y : ndarray of shape (n_samples,)
    """
    if dataset not in LSO_PRESETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(LSO_PRESETS)}")
    if n_per_class is None:
        n_per_class = LSO_PRESETS[dataset]["n_per_class"]
    if dataset == "mnist":
        from ..datasets import load_mnist

        X, y = load_mnist(return_X_y=True)
    else:
        from ..datasets import load_fashion_mnist

        X, y = load_fashion_mnist(return_X_y=True)
    return _select(X, y, classes, n_per_class)


def _select(X, y, classes, n_per_class):
    y = np.asarray(y)
    classes = np.unique(y) if classes is None else np.asarray(classes)
    missing = sorted(set(classes.tolist()) - set(np.unique(y).tolist()))
    if missing:
        raise ValueError(f"classes {missing} do not occur in y")
    idx = [np.flatnonzero(y == c)[: n_per_class] for c in sorted(classes.tolist())]
    idx = np.concatenate(idx)
    return np.asarray(X)[idx], y[idx]


def lso_experiment(
    class_sets=None,
    seeds=(0, 1, 2),
    *,
    X=None,
    y=None,
    dataset="mnist",
    quick=False,
    n_per_class=None,
    vae_params=None,
    n_neighbors="auto",
    graph="knn",
    method="fasterpam",
    n_init="auto",
    edge_power=LSO_EDGE_POWER,
    density_trim=LSO_DENSITY_TRIM,
    return_models=False,
    verbose=False,
):
    """Geodesic k-medoids vs Euclidean k-means on the 2-D latent codes of a VAE.

    For every class set and seed: train one VAE (2-D latent, RBF variance network) on
    the images of those classes, then cluster the *same* latent codes with
    :class:`sklearn.cluster.KMeans` (Euclidean) and with :class:`GeodesicKMeans`
    (``distance="graph"``: graph geodesics, i.e. shortest paths on a neighbourhood
    graph of the codes whose edges are weighted by their length under the VAE's
    expected metric), with as many clusters as classes. Scores: :func:`f_measure`,
    ARI and NMI against the labels.

    Two protocol settings make the graph geodesics density-aware, both fixed for
    every data set (:data:`LSO_EDGE_POWER`, :data:`LSO_DENSITY_TRIM`): edges weigh
    their squared length and the distance is the square root of the least summed
    weight (power-weighted graph geodesics: a chain of short hops through dense codes
    is cheaper than a long hop across a sparse gap), and the medoids are chosen among
    the densest half of the codes under the VAE's aggregate-posterior density (every
    code is then assigned to its nearest medoid). Without them, on codes of touching
    classes, the k-medoids optimum spends a medoid on a sparse fringe and splits a
    wide class (see ``docs/lso_results.md``).

    Parameters
    ----------
    class_sets : sequence of sequences of int or None
        Label subsets, one experiment each. ``None``: the preset's sets (the paper's
        digit triplets for MNIST).
    seeds : sequence of int
        One VAE and one clustering per seed.
    X, y : array-like or None
        Any data set (rows in [0, 1] suit the default sigmoid decoder) and its labels;
        ``None`` loads ``dataset``.
    dataset : {"mnist", "fashion-mnist"}, default="mnist"
        Preset used when ``X`` is ``None`` (see :data:`LSO_PRESETS`).
    quick : bool, default=False
        At most 500 images per class.
    n_per_class : int or None
        Images per class (the first ones); ``None``: the preset's (all for ``X``).
    vae_params : dict or None
        Overrides of :data:`LSO_VAE_PARAMS`.
    n_neighbors, graph, method, n_init, edge_power, density_trim :
        Passed to :class:`GeodesicKMeans` (an ``"auto"`` neighbourhood widened until
        connected, FasterPAM with 10 starts; ``edge_power=2``, ``density_trim=0.5``:
        the protocol's density-aware setting, ``1`` and ``0`` give plain graph-geodesic
        k-medoids). :class:`~sklearn.cluster.KMeans` gets ``n_init=10``.
    return_models : bool
        Keep the data, fitted VAE and clusterings of the first seed of each set.
    verbose : bool

    Returns
    -------
    result : dict
        ``"runs"``: one dict per (class set, seed) with the scores (in %), timings and
        the clusterings' inertias; ``"summary"``: one dict per class set with the mean
        and std of each score; ``"markdown"``: the summary as a Markdown table;
        ``"settings"``; ``"models"`` when asked.

    Examples
    --------
    >>> from sk_geodesic.cluster import lso_experiment
    >>> res = lso_experiment([(0, 1)], seeds=[0], n_per_class=60,
    ...                      vae_params=dict(epochs=2, hidden_sizes=(32,), n_centers=8))
    >>> sorted(k for k in res["runs"][0] if k.endswith("_f"))
    ['euclidean_f', 'geodesic_f']
    """
    from sklearn.cluster import KMeans
    from sklearn.frozen import FrozenEstimator
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from ..interpolation import Linear
    from ..manifolds import VAE
    from ._kmedoids import GeodesicKMeans
    from ._metrics import f_measure

    params = dict(LSO_VAE_PARAMS)
    params.update(vae_params or {})
    if quick:
        n_per_class = 500 if n_per_class is None else min(n_per_class, 500)
    if class_sets is None:
        if X is not None:
            raise ValueError("with X given, name the class_sets to cluster")
        class_sets = LSO_PRESETS[dataset]["class_sets"]
    if X is None:
        name = dataset
        loaded = {}
    else:
        name = "custom"
        if y is None:
            raise ValueError("X needs its labels y")
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    runs, models = [], {}
    for classes in class_sets:
        classes = tuple(int(c) for c in classes)
        if X is None:
            if name not in loaded:
                loaded[name] = load_lso_data(name, None, n_per_class)
            Xs, ys = _select(*loaded[name], classes, n_per_class)
        else:
            Xs, ys = _select(X, y, classes, n_per_class)
        k = len(classes)
        for seed in seeds:
            t0 = time.perf_counter()
            vae = VAE(random_state=seed, **params).fit(Xs)
            t1 = time.perf_counter()
            Z = vae.latent_train_
            km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Z)
            t2 = time.perf_counter()
            gkm = GeodesicKMeans(
                n_clusters=k,
                interpolator=Linear(manifold=FrozenEstimator(vae)),
                distance="graph",
                n_neighbors=n_neighbors,
                graph=graph,
                method=method,
                n_init=n_init,
                edge_power=edge_power,
                density_trim=density_trim,
                random_state=seed,
            ).fit(Xs)
            t3 = time.perf_counter()
            row = dict(
                dataset=name, classes=classes, seed=int(seed), n_samples=len(Xs), n_neighbors=int(gkm.n_neighbors_),
                geodesic_inertia=float(gkm.inertia_), euclidean_inertia=float(km.inertia_),
                vae_s=t1 - t0, kmeans_s=t2 - t1, geodesic_s=t3 - t2,
            )
            for which, labels in (("euclidean", km.labels_), ("geodesic", gkm.labels_)):
                row[f"{which}_f"] = 100 * f_measure(ys, labels)
                row[f"{which}_ari"] = 100 * adjusted_rand_score(ys, labels)
                row[f"{which}_nmi"] = 100 * normalized_mutual_info_score(ys, labels)
            runs.append(row)
            if verbose:
                print(
                    f"{name} {classes} seed {seed}: F graph geodesic {row['geodesic_f']:.1f} vs Euclidean "
                    f"{row['euclidean_f']:.1f} (VAE {row['vae_s']:.0f}s, clustering {row['geodesic_s']:.0f}s)",
                    flush=True,
                )
            if return_models and classes not in models:
                models[classes] = dict(X=Xs, y=ys, vae=vae, kmeans=km, geodesic=gkm)
    summary = _summarise(runs)
    settings = dict(params, dataset=name, n_neighbors=n_neighbors, graph=graph, method=method, n_init=n_init,
                    edge_power=edge_power, density_trim=density_trim,
                    n_per_class=n_per_class, seeds=[int(s) for s in seeds])
    out = dict(runs=runs, summary=summary, markdown=lso_markdown(summary), settings=settings)
    if return_models:
        out["models"] = models
    return out


def _summarise(runs):
    summary = []
    for key in dict.fromkeys((r.get("dataset", "mnist"), tuple(r["classes"])) for r in runs):
        rows = [r for r in runs if (r.get("dataset", "mnist"), tuple(r["classes"])) == key]
        s = dict(dataset=key[0], classes=key[1], n_seeds=len(rows), n_samples=rows[0]["n_samples"])
        for name in rows[0]:
            if name.endswith(("_f", "_ari", "_nmi", "_s")):
                vals = np.array([r[name] for r in rows], dtype=float)
                s[name] = (float(vals.mean()), float(vals.std()))
        summary.append(s)
    return summary


def _fmt(mean_std, n_seeds):
    m, s = mean_std
    return f"{m:.1f} ± {s:.1f}" if n_seeds > 1 else f"{m:.1f}"


def lso_markdown(summary):
    """The summary of :func:`lso_experiment` as a Markdown table (in %).

    Mean ± std over seeds where a set has several seeds; the single value (and
    "1" in the seeds column) where it has one.
    """
    head = (
        "| data | classes | n | seeds | F graph geodesic | F Euclidean | F paper (Riem. / Eucl.) | "
        "ARI graph geodesic | ARI Euclidean | NMI graph geodesic | NMI Euclidean |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for s in summary:
        paper = LSO_PAPER_F.get(tuple(s["classes"])) if s["dataset"] == "mnist" else None
        ptxt = f"{paper[0]} / {paper[1]}" if paper else "–"
        f = lambda key: _fmt(s[key], s["n_seeds"])  # noqa: E731
        lines.append(
            f"| {s['dataset']} | {','.join(map(str, s['classes']))} | {s['n_samples']} | {s['n_seeds']} | "
            f"{f('geodesic_f')} | {f('euclidean_f')} | {ptxt} | {f('geodesic_ari')} | {f('euclidean_ari')} | "
            f"{f('geodesic_nmi')} | {f('euclidean_nmi')} |"
        )
    return head + "\n".join(lines) + "\n"


def lso_verdict(runs, margin=0.0):
    """A one-line verdict on graph-geodesic vs Euclidean F, or ``None`` when unsupported.

    A verdict is returned only with at least two runs per class set, and only when
    the mean F difference exceeds ``margin`` plus twice its standard error over all
    runs (paired by set and seed) — otherwise the numbers do not support a claim.
    """
    if not runs:
        return None
    per_set = {}
    for r in runs:
        per_set.setdefault((r.get("dataset"), tuple(r["classes"])), []).append(r)
    if min(len(v) for v in per_set.values()) < 2:
        return None
    diff = np.array([r["geodesic_f"] - r["euclidean_f"] for r in runs])
    mean, se = float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff)))
    wins = int(np.sum(diff > 0))
    if mean - 2 * se > margin:
        word = "beats"
    elif mean + 2 * se < -margin:
        word = "loses to"
    else:
        return None
    return (
        f"Verdict: graph-geodesic k-medoids {word} Euclidean k-means by {mean:+.1f} F points on average "
        f"(± {2 * se:.1f}, 2 s.e.; better in {wins} of {len(diff)} runs, {len(per_set)} class sets)."
    )
