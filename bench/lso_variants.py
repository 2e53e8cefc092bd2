"""GeodesicKMeans settings on the LSO protocol's VAEs, trained once and cached.

The "Latent space oddity" protocol (``sk_geodesic.cluster.lso_experiment``) trains one 2-D VAE
per class set and seed, then clusters its codes. The VAE is the same whatever
``GeodesicKMeans`` setting follows, so this script trains each one once (the protocol's
``LSO_VAE_PARAMS`` and seed; pickled under ``--cache``) and runs any number of clustering
settings on the same codes, next to Euclidean k-means. It prints one JSON line per run and
the mean gain over k-means (F points) per group of class sets::

    python bench/lso_variants.py --cache /tmp/lso_cache --n-jobs 2 \\
        --variants '{"protocol": {}, "trim 0.4": {"density_trim": 0.4}}'

Groups: ``tune`` (the nine sets the protocol's settings were chosen on), ``held1`` and
``held2`` (the two draws of sets never used for a choice, see ``docs/lso_results.md``);
digits and Fashion-MNIST apart. ``--groups`` picks some, ``--seeds`` the seeds (0 1).
A variant is a dict of ``GeodesicKMeans`` arguments over the protocol's
(``distance="graph"``, ``edge_power=2``, ``density_trim=0.5``); the key
``"silhouette_trims"`` instead clusters at each listed ``density_trim`` and keeps the
clustering whose silhouette under the graph distances is highest (a label-free choice).
One VAE takes ~7 s, one clustering 4-8 s (one Torch thread).
"""

import argparse
import json
import os
import pickle
import time
import warnings

import numpy as np

GROUPS = {
    "tune": {"mnist": ["0,1,2", "3,4,7", "5,6,9", "1,7,9", "2,3,8", "4,6,8"],
             "fashion-mnist": ["0,1,8", "5,7,9", "2,4,6"]},
    "held1": {"mnist": ["3,8,9", "5,6,7", "1,3,5", "3,4,5", "0,3,5", "4,7,9"],
              "fashion-mnist": ["5,6,9", "0,2,8", "0,3,6", "1,5,8"]},
    "held2": {"mnist": ["3,7,9", "2,5,7", "0,2,6", "2,7,9", "4,6,9", "1,7,8"],
              "fashion-mnist": ["3,7,9", "4,7,9", "2,5,7", "0,2,6"]},
}
PROTOCOL = dict(distance="graph", edge_power=2.0, density_trim=0.5)


def cached_vae(cache, dataset, classes, seed):
    """The protocol's VAE for one run, trained once and pickled under ``cache``."""
    path = os.path.join(cache, f"{dataset}_{classes}_{seed}.pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    from sk_geodesic.cluster._experiment import LSO_PRESETS, LSO_VAE_PARAMS, load_lso_data
    from sk_geodesic.manifolds import VAE

    cls = tuple(int(c) for c in classes.split(","))
    X, y = load_lso_data(dataset, cls, LSO_PRESETS[dataset]["n_per_class"])
    vae = VAE(random_state=seed, **LSO_VAE_PARAMS).fit(X)
    run = dict(X=X, y=y, vae=vae, classes=cls, seed=seed, dataset=dataset)
    os.makedirs(cache, exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        pickle.dump(run, f)
    os.replace(path + ".tmp", path)
    return run


def _geodesic_kmeans(run, **kw):
    from sklearn.frozen import FrozenEstimator

    from sk_geodesic.cluster import GeodesicKMeans
    from sk_geodesic.interpolation import Linear

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GeodesicKMeans(n_clusters=len(run["classes"]), interpolator=Linear(manifold=FrozenEstimator(run["vae"])),
                              random_state=run["seed"], **{**PROTOCOL, **kw}).fit(run["X"])


def _silhouette_choice(run, trims):
    """Cluster at each density trim; keep the labels of highest silhouette (graph distances)."""
    from scipy.sparse.csgraph import shortest_path
    from sklearn.metrics import silhouette_score

    best = None
    D = None
    for t in trims:
        g = _geodesic_kmeans(run, density_trim=t)
        if D is None:  # the same graph for every trim: power-weighted path costs, p-th root
            A = g.graph_.with_queries(np.zeros((0, g.medoid_latent_.shape[1])))[0]
            D = shortest_path(A, directed=False) ** (1.0 / PROTOCOL["edge_power"])
        s = silhouette_score(D, g.labels_, metric="precomputed")
        if best is None or s > best[0]:
            best = (s, g.labels_)
    return best[1]


def one_run(cache, dataset, classes, seed, variants):
    import torch
    from sklearn.cluster import KMeans

    from sk_geodesic.cluster import f_measure

    torch.set_num_threads(1)
    run = cached_vae(cache, dataset, classes, seed)
    Z = run["vae"].latent_train_
    k = len(run["classes"])
    row = dict(dataset=dataset, classes=classes, seed=seed,
               euclidean=100 * f_measure(run["y"], KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Z).labels_))
    for name, kw in variants.items():
        t = time.perf_counter()
        kw = dict(kw)
        trims = kw.pop("silhouette_trims", None)
        labels = _silhouette_choice(run, trims) if trims else _geodesic_kmeans(run, **kw).labels_
        row[name] = 100 * f_measure(run["y"], labels)
        row[name + " s"] = round(time.perf_counter() - t, 1)
    print(json.dumps(row), flush=True)
    return row


def summarise(rows, variants):
    print(f"\n{'group':24s} {'runs':>4s} {'F k-means':>9s}  " + "  ".join(f"{v[:14]:>14s}" for v in variants))
    keys = sorted({(r["group"], r["dataset"]) for r in rows})
    for key in keys:
        R = [r for r in rows if (r["group"], r["dataset"]) == key]
        e = np.mean([r["euclidean"] for r in R])
        print(f"{key[0] + ' ' + key[1]:24s} {len(R):4d} {e:9.1f}  "
              + "  ".join(f"{np.mean([r[v] for r in R]) - e:+14.2f}" for v in variants))
    for ds in ("mnist", "fashion-mnist"):
        R = [r for r in rows if r["dataset"] == ds and r["group"] != "tune"]
        if R:
            e = np.mean([r["euclidean"] for r in R])
            print(f"{'held-out ' + ds:24s} {len(R):4d} {e:9.1f}  "
                  + "  ".join(f"{np.mean([r[v] for r in R]) - e:+14.2f}" for v in variants))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", required=True, help="folder for the pickled VAEs (reused across calls)")
    p.add_argument("--variants", default='{"protocol": {}}', help="JSON: name -> GeodesicKMeans arguments")
    p.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--out", default=None, help="write every run's row here (JSON)")
    args = p.parse_args(argv)
    from joblib import Parallel, delayed

    variants = json.loads(args.variants)
    jobs = [(g, ds, c, s) for g in args.groups for s in args.seeds for ds, sets in GROUPS[g].items() for c in sets]
    rows = Parallel(n_jobs=args.n_jobs)(delayed(one_run)(args.cache, ds, c, s, variants) for _, ds, c, s in jobs)
    for (g, *_), row in zip(jobs, rows):
        row["group"] = g
    summarise(rows, variants)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
