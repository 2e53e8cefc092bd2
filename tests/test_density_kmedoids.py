"""GeodesicKMeans: power-weighted graph distances (edge_power) and density-trimmed medoids
(density_trim), and the LSO protocol's use of them."""

import math

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from sklearn.metrics import adjusted_rand_score

from sk_geodesic.cluster import GeodesicKMeans
from sk_geodesic.interpolation import Linear
from sk_geodesic.manifolds import PretrainedManifold


def _identity(log_density=None):
    return PretrainedManifold(
        torch.nn.Identity(), latent_dim=2, encoder=torch.nn.Identity(), dtype="float64", log_density=log_density
    ).fit()


def _floyd_power_distances(X, k, p):
    """Reference: (min over kNN-graph paths of Σ |edge|^p)^(1/p) by Floyd–Warshall in NumPy."""
    n = len(X)
    _, idx = cKDTree(X).query(X, k=k + 1)
    W = np.full((n, n), np.inf)
    np.fill_diagonal(W, 0.0)
    for i in range(n):
        for j in idx[i, 1:]:
            w = np.linalg.norm(X[i] - X[j]) ** p
            W[i, j] = W[j, i] = min(W[i, j], w)
    for m in range(n):
        W = np.minimum(W, W[:, m : m + 1] + W[m : m + 1, :])
    return W ** (1.0 / p)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_power_weighted_distances_match_floyd_warshall(p):
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(25, 2) * 0.5, rng.randn(20, 2) * 0.5 + [1.8, 0.0]])
    km = GeodesicKMeans(3, interpolator=Linear(manifold=_identity()), distance="graph", n_neighbors=6,
                        edge_power=p, random_state=0).fit(X)
    ref = _floyd_power_distances(X, 6, p)
    np.testing.assert_allclose(km.transform(X), ref[:, km.medoid_indices_], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(km.inertia_, ref[:, km.medoid_indices_].min(axis=1).sum(), rtol=1e-6)
    if p != 1.0:  # the power changes the distances (and is not just a monotone rescaling)
        plain = _floyd_power_distances(X, 6, 1.0)[:, km.medoid_indices_]
        assert np.max(np.abs(plain - km.transform(X))) > 0.2


def _arm_data(seed):
    rng = np.random.RandomState(seed)
    cores = np.array([[0, 0], [4, 0], [2, 3.5]])
    X = np.vstack([c + 0.3 * rng.randn(150, 2) for c in cores]
                  + [np.c_[-rng.uniform(0.5, 12, 150), 0.3 * rng.randn(150)]])
    y = np.repeat([0, 1, 2, 0], 150)
    return X, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_density_trim_keeps_medoids_in_the_dense_cores(seed):
    # three dense groups, one with a long sparse arm: plain k-medoids spends a medoid on
    # the arm and merges two groups; medoids from the densest half find the three groups
    X, y = _arm_data(seed)
    m = _identity()
    plain = GeodesicKMeans(3, interpolator=Linear(manifold=m), distance="graph", random_state=seed).fit(X)
    trim = GeodesicKMeans(3, interpolator=Linear(manifold=m), distance="graph", density_trim=0.5,
                          random_state=seed).fit(X)
    assert adjusted_rand_score(y, plain.labels_) < 0.7
    assert adjusted_rand_score(y, trim.labels_) > 0.99
    n = len(X)
    assert len(trim.core_sample_indices_) == math.ceil(0.5 * n)
    assert np.all(np.isin(trim.medoid_indices_, trim.core_sample_indices_))
    # the far end of the arm is sparse: none of it is in the core
    assert not np.any(np.isin(np.flatnonzero(X[:, 0] < -4), trim.core_sample_indices_))
    # every point is labelled, and inertia covers every point
    assert trim.labels_.shape == (n,)
    np.testing.assert_allclose(trim.inertia_, trim.transform(X).min(axis=1).sum(), rtol=1e-6)
    np.testing.assert_array_equal(trim.labels_, trim.predict(X))
    assert np.array_equal(plain.core_sample_indices_, np.arange(n))


def test_density_trim_uses_the_manifold_density():
    # a manifold density that prefers large x: the core is exactly the top half by x
    X, _ = _arm_data(0)
    m = _identity(log_density=lambda z: z[:, 0])
    km = GeodesicKMeans(3, interpolator=Linear(manifold=m), distance="graph", density_trim=0.5,
                        random_state=0).fit(X)
    expect = np.sort(np.argsort(-X[:, 0], kind="stable")[: math.ceil(0.5 * len(X))])
    np.testing.assert_array_equal(km.core_sample_indices_, expect)


def test_density_trim_with_alternate_and_init():
    X, y = _arm_data(1)
    m = _identity()
    km = GeodesicKMeans(3, interpolator=Linear(manifold=m), distance="graph", density_trim=0.5, method="alternate",
                        random_state=0).fit(X)
    assert adjusted_rand_score(y, km.labels_) > 0.99
    init = np.array([0, 150, 599])  # the last one lies on the arm: it joins the search
    km = GeodesicKMeans(3, interpolator=Linear(manifold=m), distance="graph", density_trim=0.5, init=init,
                        random_state=0).fit(X)
    assert 599 in km.core_sample_indices_


def test_edge_power_needs_graph_distance():
    X, _ = _arm_data(0)
    with pytest.raises(ValueError, match="edge_power"):
        GeodesicKMeans(3, interpolator=Linear(manifold=_identity()), distance="geodesic", edge_power=2.0).fit(X[:20])
