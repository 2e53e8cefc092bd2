"""Tests of sk_geodesic.cluster: GeodesicKMeans, f_measure, graph distances."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_geodesic.cluster import GeodesicKMeans, f_measure
from sk_geodesic.geometry.graph import (
    DisconnectedGraphError,
    LatentGraph,
    all_pairs_distances,
    multi_source_distances,
    query_distances,
)
from sk_geodesic.interpolation import Geodesic, Linear
from sk_geodesic.manifolds import PretrainedManifold


def identity_manifold(dim=2):
    return PretrainedManifold(torch.nn.Identity(), latent_dim=dim, encoder=torch.nn.Identity(), dtype="float64").fit()


def ring_map(z):
    """Identity plus a 'wall': a large extra coordinate inside the unit disc.

    Straight segments through the origin are long, paths around the wall short.
    """
    wall = 20.0 * torch.exp(-(z.pow(2).sum(-1, keepdim=True)) / 0.5)
    return torch.cat([z, wall], dim=-1)


class _FirstTwo(torch.nn.Module):
    def forward(self, x):
        return x[..., :2]


def ring_manifold():
    """Data live in R^3 (X = ring_map(Z)); the encoder reads the chart off the first two columns."""
    return PretrainedManifold(ring_map, latent_dim=2, encoder=_FirstTwo(), dtype="float64").fit()


def on_ring(Z):
    return ring_map(torch.as_tensor(Z, dtype=torch.float64)).numpy()


def two_moons(n=120, seed=0, noise=0.04):
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    return X, y


# -- f_measure -----------------------------------------------------------------------------------
def test_f_measure_values():
    y = np.array([0, 0, 0, 1, 1, 2])
    assert f_measure(y, y) == 1.0
    assert f_measure(y, [5, 5, 5, 7, 7, 9]) == 1.0  # label permutation invariant
    # one cluster: class i gets F1 = 2 n_i / (n_i + n)
    expected = (3 * (2 * 3 / 9) + 2 * (2 * 2 / 8) + 1 * (2 * 1 / 7)) / 6
    assert f_measure(y, np.zeros(6)) == pytest.approx(expected)
    # by hand: class 0 best matched by cluster 0 (2 of 3, cluster size 2)
    assert f_measure([0, 0, 0, 1], [0, 0, 1, 1]) == pytest.approx((3 * 0.8 + 1 * (2 / 3)) / 4)
    with pytest.raises(ValueError):
        f_measure([0, 1], [0])


# -- graph helpers ---------------------------------------------------------------------------------
def test_multi_source_and_query_distances(rng):
    Z = rng.normal(size=(60, 2))
    g = LatentGraph(lambda z: z, Z, n_neighbors=8, dtype=torch.float64)
    A, _ = g.with_queries(np.zeros((0, 2)))
    D = all_pairs_distances(A)
    assert D.shape == (60, 60) and np.allclose(D, D.T) and np.allclose(np.diag(D), 0)
    # graph distances are never shorter than straight lines under the identity embedding
    E = np.linalg.norm(Z[:, None] - Z[None], axis=-1)
    assert np.all(D >= E - 1e-9)
    sub = multi_source_distances(A, [3, 7, 3], chunk_size=2, n_jobs=2)
    assert np.allclose(sub, D[[3, 7, 3]])
    # a query at a node's position is (almost) at distance 0 from it
    Q = query_distances(g, [0, 5], Z[[5, 9]])
    assert Q.shape == (2, 2)
    assert Q[1, 0] == pytest.approx(0, abs=1e-5)
    assert Q[0, 1] == pytest.approx(D[0, 9], abs=1e-5)


# -- GeodesicKMeans: behaviour -----------------------------------------------------------------------
@pytest.mark.parametrize("distance", ["geodesic", "graph"])
def test_blobs_recovered_with_identity_metric(distance, rng):
    centers = np.array([[0, 0], [8, 0], [0, 8]])
    y = np.repeat([0, 1, 2], 30)
    X = centers[y] + rng.normal(scale=0.6, size=(90, 2))
    km = GeodesicKMeans(3, interpolator=Linear(manifold=identity_manifold()), distance=distance, n_neighbors=32,
                        random_state=0).fit(X)
    assert adjusted_rand_score(y, km.labels_) == 1.0
    assert km.transform(X).shape == (90, 3)
    assert np.array_equal(km.predict(X), km.labels_)
    assert np.allclose(km.cluster_centers_, X[km.medoid_indices_])
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-6)
    # medoids are the exact 1-medians of their clusters under Euclidean distance
    for c in range(3):
        M = X[km.labels_ == c]
        cost = np.linalg.norm(M[:, None] - M[None], axis=-1).sum(1)
        assert np.linalg.norm(M - km.cluster_centers_[c], axis=1).sum() == pytest.approx(cost.min(), rel=1e-6)


def test_linear_transform_is_euclidean_under_identity(rng):
    X = rng.normal(size=(40, 2))
    km = GeodesicKMeans(4, interpolator=Linear(manifold=identity_manifold()), random_state=0).fit(X)
    D = np.linalg.norm(X[:, None] - km.cluster_centers_[None], axis=-1)
    assert np.allclose(km.transform(X), D, rtol=1e-6)
    assert km.inertia_ == pytest.approx(D.min(1).sum(), rel=1e-6)


def test_graph_distance_beats_euclidean_on_moons():
    # k-medoids still prefers compact clusters, but graph distances follow the arcs
    X, y = two_moons(200, noise=0.06)
    euclid = KMeans(2, n_init=10, random_state=0).fit(X)
    km = GeodesicKMeans(2, interpolator=Linear(manifold=identity_manifold()), distance="graph", n_neighbors=6,
                        n_init=3, random_state=0).fit(X)
    assert adjusted_rand_score(y, km.labels_) > adjusted_rand_score(y, euclid.labels_) + 0.15


def test_metric_changes_the_clusters():
    """With a wall around the origin, paths between opposite arcs are long."""
    t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    Z = 1.5 * np.c_[np.cos(t), np.sin(t)]
    m = ring_manifold()
    flat = GeodesicKMeans(2, interpolator=Linear(manifold=identity_manifold()), random_state=0).fit(Z)
    curved = GeodesicKMeans(2, interpolator=Linear(manifold=m), random_state=0).fit(on_ring(Z))
    X = on_ring(Z)
    Zc = curved.medoid_latent_
    flat_d = np.linalg.norm(Z[:, None] - Zc[None], axis=-1)
    assert np.all(curved.transform(X) >= flat_d - 1e-9)
    assert curved.transform(X).max() > 5 * flat_d.max()
    # both cut the circle into two arcs of about equal size
    assert np.bincount(curved.labels_).min() >= 22 and np.bincount(flat.labels_).min() >= 22


def test_refine_exact_uses_interpolator_lengths(rng):
    X = on_ring(rng.normal(size=(50, 2)))
    m = ring_manifold()
    km = GeodesicKMeans(3, interpolator=Linear(manifold=m), distance="graph", refine="exact", n_neighbors=10,
                        random_state=0).fit(X)
    lin = Linear(manifold=m).fit(X)
    D = lin.pairwise_distances(X, km.cluster_centers_)
    assert np.allclose(km.transform(X), D)
    assert np.array_equal(km.labels_, D.argmin(1))
    assert km.inertia_ == pytest.approx(D.min(1).sum())


def test_geodesic_interpolator_clustering(rng):
    centers = np.array([[-2.0, 0.3], [2.0, 0.3]])
    y = np.repeat([0, 1], 12)
    X = on_ring(centers[y] + rng.normal(scale=0.2, size=(24, 2)))
    m = ring_manifold()
    geo = Geodesic(manifold=m, n_points=9, max_iter=30)
    km = GeodesicKMeans(2, interpolator=geo, n_candidates=4, random_state=0).fit(X)
    assert adjusted_rand_score(y, km.labels_) == 1.0
    # geodesic lengths never exceed straight ones
    lin = GeodesicKMeans(2, interpolator=Linear(manifold=m), init=km.medoid_indices_).fit(X)
    assert np.all(km.transform(X) <= lin.transform(X) + 1e-6)


def test_init_options_and_determinism(rng):
    X = rng.normal(size=(60, 2))
    interp = Linear(manifold=identity_manifold())
    a = GeodesicKMeans(3, interpolator=interp, init="random", n_init=3, random_state=1).fit(X)
    b = GeodesicKMeans(3, interpolator=interp, init="random", n_init=3, random_state=1).fit(X)
    assert np.array_equal(a.labels_, b.labels_) and np.array_equal(a.medoid_indices_, b.medoid_indices_)
    c = GeodesicKMeans(3, interpolator=interp, init=np.array([0, 1, 2]), max_iter=1).fit(X)
    assert c.n_iter_ == 1
    # more initialisations never give a worse inertia than the best single one kept
    single = [GeodesicKMeans(3, interpolator=interp, n_init=1, random_state=s).fit(X).inertia_ for s in range(3)]
    assert GeodesicKMeans(3, interpolator=interp, n_init=5, random_state=0).fit(X).inertia_ <= max(single) + 1e-9
    with pytest.raises(ValueError, match="init"):
        GeodesicKMeans(3, interpolator=interp, init=np.array([0, 0, 1])).fit(X)
    with pytest.raises(ValueError, match="init"):
        GeodesicKMeans(3, interpolator=interp, init=np.array([0, 1])).fit(X)


def test_empty_cluster_reseeded():
    # 5 copies of one point + 3 distinct points, 4 clusters, init on two duplicates
    X = np.array([[0.0, 0.0]] * 5 + [[5.0, 0.0], [6.0, 0.0], [0.0, 7.0]])
    km = GeodesicKMeans(4, interpolator=Linear(manifold=identity_manifold()), init=np.array([0, 1, 5, 6])).fit(X)
    assert len(np.unique(km.labels_)) == 4
    assert np.bincount(km.labels_).min() >= 1
    assert km.inertia_ == pytest.approx(0.0, abs=1e-9)


def test_errors(rng):
    interp = Linear(manifold=identity_manifold())
    X = rng.normal(size=(5, 2))
    with pytest.raises(ValueError, match="n_clusters"):
        GeodesicKMeans(6, interpolator=interp).fit(X)
    Xn = X.copy()
    Xn[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GeodesicKMeans(2, interpolator=interp).fit(Xn)
    # two far-apart groups and too few neighbours: a disconnected graph
    X2 = np.r_[rng.normal(size=(10, 2)), rng.normal(size=(10, 2)) + 100]
    with pytest.raises(DisconnectedGraphError, match="n_neighbors"):
        GeodesicKMeans(2, interpolator=interp, distance="graph", n_neighbors=3).fit(X2)
    assert issubclass(DisconnectedGraphError, ValueError)
    with pytest.raises(ValueError, match="distance"):
        GeodesicKMeans(2, interpolator=interp, distance="manhattan").fit(X)
    km = GeodesicKMeans(2, interpolator=interp).fit(X)
    with pytest.raises(ValueError, match="features"):
        km.predict(rng.normal(size=(3, 3)))


def test_default_interpolator_is_linear_with_vae(rng):
    X = rng.uniform(size=(40, 5))
    km = GeodesicKMeans(2, random_state=0).fit(X)
    assert type(km.interpolator_).__name__ == "Linear"
    assert type(km.interpolator_.manifold_).__name__ == "VAE"
    assert km.transform(X).shape == (40, 2)


@pytest.mark.parametrize("backend_n_jobs", [2])
def test_parallel_n_jobs_matches_serial(backend_n_jobs, rng):
    X = rng.normal(size=(80, 2))
    interp = Linear(manifold=identity_manifold(), batch_size=16)
    for distance in ("graph", "geodesic"):
        a = GeodesicKMeans(3, interpolator=interp, distance=distance, random_state=0).fit(X)
        b = GeodesicKMeans(3, interpolator=interp, distance=distance, random_state=0, n_jobs=backend_n_jobs).fit(X)
        assert np.array_equal(a.labels_, b.labels_)
        assert np.allclose(a.transform(X), b.transform(X))


@pytest.mark.dask
def test_dask_backend_matches_local(rng):
    distributed = pytest.importorskip("distributed")
    import joblib

    X = rng.normal(size=(100, 2))
    interp = Linear(manifold=identity_manifold(), batch_size=64)
    kw = dict(interpolator=interp, n_neighbors=10, random_state=0)
    local_g = GeodesicKMeans(2, distance="graph", **kw).fit(X)
    local_e = GeodesicKMeans(2, distance="geodesic", **kw).fit(X)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", dashboard_address=None,
        host="127.0.0.1",
    ) as cluster, distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"), distributed.get_task_stream(client) as stream:
            dask_g = GeodesicKMeans(2, distance="graph", n_jobs=2, **kw).fit(X)
            dask_e = GeodesicKMeans(2, distance="geodesic", n_jobs=2, **kw).fit(X)
    assert len(stream.data) > 0  # the chunks really ran on the Dask workers
    assert np.array_equal(local_g.labels_, dask_g.labels_)
    assert np.array_equal(local_e.labels_, dask_e.labels_)
    assert np.allclose(local_e.inertia_, dask_e.inertia_)


# -- a real VAE on MNIST -----------------------------------------------------------------------------
def test_mnist_vae_graph_clustering(mnist_small, mnist_vae):
    from sklearn.frozen import FrozenEstimator

    X, y = mnist_small
    km = GeodesicKMeans(3, interpolator=Linear(manifold=FrozenEstimator(mnist_vae)), distance="graph",
                        n_init=2, random_state=0).fit(X)
    assert f_measure(y, km.labels_) > 0.75
    assert km.interpolator_.manifold_ is not None
    # labels_ and predict agree on the training data (query nodes duplicate the nodes)
    assert np.mean(km.predict(X) == km.labels_) > 0.99


# -- sklearn API checks ----------------------------------------------------------------------------------
def _check_estimators():
    # the checks use random data of varying width: a tiny VAE keeps them fast
    from sk_geodesic.manifolds import VAE

    vae = VAE(latent_dim=2, hidden_sizes=(8,), epochs=2, n_centers=4, random_state=0)
    yield GeodesicKMeans(n_clusters=3, interpolator=Linear(manifold=vae, n_points=5), random_state=0, max_iter=5)
    yield GeodesicKMeans(
        n_clusters=3, interpolator=Linear(manifold=vae, n_points=5), distance="graph", n_neighbors=15,
        random_state=0, max_iter=5,
    )


def _expected_failures(est):
    return {}


@parametrize_with_checks(list(_check_estimators()), expected_failed_checks=_expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
