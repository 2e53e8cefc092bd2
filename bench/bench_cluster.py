"""Benchmark: GeodesicKMeans with graph distances on 10,000 MNIST digits, 10 clusters.

    python bench/bench_cluster.py [--n-jobs 2] [--epochs 30] [--n-neighbors 10]

Prints the time of each stage (VAE fit, kNN graph, clustering) and ARI / NMI / F-measure
of the clusters against the digit labels, next to Euclidean k-means on the same codes.
Target: under 5 minutes on 2 CPU cores.
"""

import argparse
import time

import numpy as np
import torch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-jobs", type=int, default=None)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--n-neighbors", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="Torch threads (1 on shared machines)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from sklearn.cluster import KMeans
    from sklearn.frozen import FrozenEstimator
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from sk_geodesic.cluster import GeodesicKMeans, f_measure
    from sk_geodesic.cluster._experiment import LSO_VAE_PARAMS
    from sk_geodesic.datasets import load_mnist
    from sk_geodesic.geometry.graph import LatentGraph
    from sk_geodesic.interpolation import Linear
    from sk_geodesic.manifolds import VAE

    t_all = time.perf_counter()
    X, y = load_mnist(return_X_y=True, digits=list(range(10)))
    print(f"data: {X.shape[0]} MNIST digits, {X.shape[1]} pixels")
    t = time.perf_counter()
    vae = VAE(**dict(LSO_VAE_PARAMS, epochs=args.epochs), random_state=0).fit(X)
    t_vae = time.perf_counter() - t
    # graph build on its own (GeodesicKMeans builds the same graph inside fit)
    t = time.perf_counter()
    LatentGraph(vae.embedding_map(), vae.latent_train_, n_neighbors=args.n_neighbors, dtype=vae.dtype_,
                device=vae.device_)
    t_graph = time.perf_counter() - t
    t = time.perf_counter()
    km = GeodesicKMeans(
        10, interpolator=Linear(manifold=FrozenEstimator(vae)), distance="graph", n_neighbors=args.n_neighbors,
        random_state=0, n_jobs=args.n_jobs,
    ).fit(X)
    t_cluster = time.perf_counter() - t
    t = time.perf_counter()
    eu = KMeans(10, n_init=10, random_state=0).fit(vae.latent_train_)
    t_kmeans = time.perf_counter() - t
    total = time.perf_counter() - t_all

    print(f"VAE fit            {t_vae:7.1f} s")
    print(f"kNN graph build    {t_graph:7.1f} s")
    print(f"GeodesicKMeans fit {t_cluster:7.1f} s  (graph build + clustering, {km.n_iter_} iterations)")
    print(f"  of which clustering {t_cluster - t_graph:7.1f} s")
    print(f"KMeans (latent)    {t_kmeans:7.1f} s")
    print(f"total              {total:7.1f} s  (target < 300 s)")
    for name, lab in (("GeodesicKMeans (graph)", km.labels_), ("KMeans (Euclidean latent)", eu.labels_)):
        print(
            f"{name:26s} ARI {adjusted_rand_score(y, lab):.3f}  NMI {normalized_mutual_info_score(y, lab):.3f}  "
            f"F {f_measure(y, lab):.3f}"
        )
    return dict(vae=t_vae, graph=t_graph, cluster=t_cluster, total=total)


if __name__ == "__main__":
    main()
