"""GeodesicKMeans: FasterPAM optimum, adaptive graphs, duplicates, subset invariance (issues 9 and 10)."""

import itertools
import warnings

import numpy as np
import pytest
import torch
from scipy.sparse.csgraph import connected_components
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_methods_subset_invariance

from sk_geodesic.cluster import GeodesicKMeans
from sk_geodesic.geometry.graph import DisconnectedGraphError, LatentGraph, knn_edges, query_distances
from sk_geodesic.interpolation import Linear
from sk_geodesic.manifolds import VAE, PretrainedManifold


def identity_manifold(dim=2):
    return PretrainedManifold(torch.nn.Identity(), latent_dim=dim, encoder=torch.nn.Identity(), dtype="float64").fit()


def brute_force_inertia(X, k):
    """The exact k-medoids optimum under Euclidean distance, by enumerating all medoid sets."""
    D = np.linalg.norm(X[:, None] - X[None], axis=-1)
    return min(D[list(c)].min(axis=0).sum() for c in itertools.combinations(range(len(X)), k))


def test_fasterpam_finds_the_optimum_alternating_does_not():
    interp = Linear(manifold=identity_manifold())
    alt_missed = 0
    for seed in range(6):
        rng = np.random.RandomState(seed)
        # three elongated, touching groups: local minima for the alternating method
        X = np.vstack([rng.normal(c, [1.5, 0.4], size=(5, 2)) for c in ([0, 0], [2.5, 1.0], [0.5, 2.5])])
        opt = brute_force_inertia(X, 3)
        pam = GeodesicKMeans(3, interpolator=interp, random_state=seed).fit(X)
        assert pam.inertia_ == pytest.approx(opt, rel=1e-9)
        # the reported inertia is the sum of distances to the reported medoids
        D = np.linalg.norm(X[:, None] - X[pam.medoid_indices_][None], axis=-1)
        assert np.array_equal(pam.labels_, D.argmin(1))
        assert pam.inertia_ == pytest.approx(D.min(1).sum())
        alt = GeodesicKMeans(3, interpolator=interp, method="alternate", init="random", random_state=seed).fit(X)
        assert alt.inertia_ >= opt - 1e-9
        alt_missed += alt.inertia_ > opt * (1 + 1e-6)
    # the test has teeth: one random start of the alternating method misses the optimum somewhere
    assert alt_missed >= 1


def test_fasterpam_graph_inertia_not_worse_than_alternating():
    rng = np.random.RandomState(0)
    from sklearn.datasets import make_moons

    X, _ = make_moons(200, noise=0.06, random_state=0)
    interp = Linear(manifold=identity_manifold())
    pam = GeodesicKMeans(4, interpolator=interp, distance="graph", random_state=0).fit(X)
    alt = GeodesicKMeans(4, interpolator=interp, distance="graph", method="alternate", random_state=0).fit(X)
    assert pam.inertia_ <= alt.inertia_ + 1e-6
    assert pam.n_neighbors_ == max(5, int(np.ceil(np.log(200))))
    del rng


def test_n_init_auto():
    interp = Linear(manifold=identity_manifold())
    X = np.random.RandomState(0).normal(size=(40, 2))
    msgs = []
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        GeodesicKMeans(3, interpolator=interp, verbose=1, random_state=0).fit(X)
        GeodesicKMeans(3, interpolator=interp, method="alternate", verbose=1, random_state=0).fit(X)
    msgs = [line for line in buf.getvalue().splitlines() if "init " in line]
    assert sum("/10:" in m for m in msgs) == 10 and sum("/1:" in m for m in msgs) == 1


def test_mutual_graph_edges_and_connectivity():
    rng = np.random.RandomState(1)
    Z = np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(15, 2)) * 3 + [8, 0]])
    embed = lambda z: z  # noqa: E731
    knn = LatentGraph(embed, Z, n_neighbors=6, dtype=torch.float64)
    mut = LatentGraph(embed, Z, n_neighbors=6, dtype=torch.float64, mutual=True)
    r, c = knn_edges(Z, Z, 6, exclude_self=True)
    directed = set(zip(r.tolist(), c.tolist()))
    A, _ = knn.with_queries(np.zeros((0, 2)))
    from scipy.sparse.csgraph import minimum_spanning_tree

    T = minimum_spanning_tree(A).tocoo()
    tree = {(min(a, b), max(a, b)) for a, b in zip(T.row.tolist(), T.col.tolist())}
    n_mutual = 0
    for a, b in mut.edges.tolist():
        mutual = (a, b) in directed and (b, a) in directed
        n_mutual += mutual
        assert mutual or (a, b) in tree
    assert n_mutual > 0 and len(mut.edges) < len(knn.edges)
    Am, _ = mut.with_queries(np.zeros((0, 2)))
    assert connected_components(Am, directed=False)[0] == connected_components(A, directed=False)[0] == 1


def test_auto_neighbours_connect_far_groups():
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 100]
    interp = Linear(manifold=identity_manifold())
    with pytest.raises(DisconnectedGraphError, match="n_neighbors"):
        GeodesicKMeans(2, interpolator=interp, distance="graph", n_neighbors=5).fit(X)
    km = GeodesicKMeans(2, interpolator=interp, distance="graph", random_state=0).fit(X)
    assert km.n_neighbors_ > 30  # doubled until an edge crosses
    assert sorted(np.bincount(km.labels_).tolist()) == [30, 30]


@pytest.mark.parametrize("method", ["fasterpam", "alternate"])
@pytest.mark.parametrize("distance", ["geodesic", "graph"])
def test_fewer_distinct_points_than_clusters_warns(method, distance):
    X = np.array([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    km = GeodesicKMeans(3, interpolator=Linear(manifold=identity_manifold()), method=method, distance=distance,
                        random_state=0)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        km.fit(X)
    assert len(set(km.medoid_indices_.tolist())) == 3
    assert km.labels_.min() >= 0 and km.labels_.max() < 3
    assert km.inertia_ == pytest.approx(0.0, abs=1e-9)
    # the two groups are never mixed
    assert len(set(km.labels_[:5]) & set(km.labels_[5:])) == 0
    # enough distinct points: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        GeodesicKMeans(2, interpolator=Linear(manifold=identity_manifold()), method=method, distance=distance,
                       random_state=0).fit(X)


def test_query_distances_are_sinks():
    # nodes on a U (a chain with k=2); a query across the gap between the two tips must
    # not become a shortcut for another query
    left = [[0.0, y] for y in range(10, -1, -1)]
    bottom = [[x, 0.0] for x in range(1, 4)]
    right = [[4.0, y] for y in range(0, 11)]
    Z = np.array(left + bottom + right)
    g = LatentGraph(lambda z: z, Z, n_neighbors=2, dtype=torch.float64)
    alone = query_distances(g, [0], np.array([[4.0, 10.5]]))
    both = query_distances(g, [0], np.array([[2.0, 10.0], [4.0, 10.5]]))
    assert alone[0, 0] == pytest.approx(24.5)  # around the U
    assert both[0, 1] == pytest.approx(alone[0, 0])
    assert both[0, 0] == pytest.approx(2.0)


@pytest.mark.parametrize("distance", ["geodesic", "graph"])
def test_transform_subset_invariance(distance):
    vae = VAE(latent_dim=2, hidden_sizes=(8,), epochs=2, n_centers=4, random_state=0)
    est = GeodesicKMeans(n_clusters=3, interpolator=Linear(manifold=vae, n_points=8), distance=distance,
                         random_state=0, max_iter=5, n_init=1)
    check_methods_subset_invariance("GeodesicKMeans", est)
