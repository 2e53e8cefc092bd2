"""Graph edges that carry the interpolator's own objective (DRG's μ, RealismIndex's ε)."""

import numpy as np
import pytest
import torch
from scipy.stats import chi2
from sklearn.metrics import adjusted_rand_score

from sk_geodesic.cluster import GeodesicKMeans
from sk_geodesic.geometry import StandardNormalLogDensity
from sk_geodesic.interpolation import DensityRegularizedGeodesic, Linear, RealismIndex
from sk_geodesic.manifolds import PretrainedManifold


def normal_identity():
    return PretrainedManifold(torch.nn.Identity(), latent_dim=2, encoder=torch.nn.Identity(),
                              log_density=StandardNormalLogDensity(), dtype="float64").fit()


def edge_points(a, b, n=4):
    t = np.linspace(0, 1, n)[:, None]
    return (1 - t) * a + t * b


def data(seed=0):
    rng = np.random.RandomState(seed)
    return np.vstack([rng.normal([-1.5, 0], 0.5, size=(40, 2)), rng.normal([1.5, 0], 0.5, size=(40, 2))])


@pytest.mark.parametrize("mu", [0.0, 0.5])
def test_density_regularized_edge_weights(mu):
    X = data()
    km = GeodesicKMeans(2, interpolator=DensityRegularizedGeodesic(manifold=normal_identity(), mu=mu),
                        distance="graph", n_neighbors=20, random_state=0).fit(X)
    g = km.graph_
    # identity map, N(0, I) density: h(z) = ½‖z‖² + const, shifted to min 0 over the codes
    h0 = 0.5 * (X**2).sum(1).min()
    for (a, b), w in zip(g.edges[:25], g.weights[:25]):
        P = edge_points(X[a], X[b])
        v = np.maximum(0.5 * (P**2).sum(1) - h0, 0)
        steps = np.linalg.norm(np.diff(P, axis=0), axis=1)
        assert w == pytest.approx(np.sum((1 + mu * 0.5 * (v[1:] + v[:-1])) * steps), rel=1e-9)


def test_realism_edge_weights_use_epsilon():
    X = data()
    for eps in (0.05, 0.3):
        ri = RealismIndex(manifold=normal_identity(), index="normal", epsilon=eps)
        km = GeodesicKMeans(2, interpolator=ri, distance="graph", n_neighbors=20, random_state=0).fit(X)
        for (a, b), w in zip(km.graph_.edges[:25], km.graph_.weights[:25]):
            P = edge_points(X[a], X[b])
            r = eps + (1 - 2 * eps) * (1 - chi2.cdf((P**2).sum(1), df=2))
            steps = np.linalg.norm(np.diff(P, axis=0), axis=1)
            assert w == pytest.approx(np.sum(np.abs(np.log(0.5 * (r[1:] + r[:-1]))) * steps), rel=1e-6)


def test_mu_changes_the_clustering():
    # a ring of points around the origin: under the plain length, k-medoids cuts it into
    # arcs; a strong density penalty (N(0, I): h grows with ‖z‖) makes the outer part of
    # the ring expensive, so the cut moves
    rng = np.random.RandomState(0)
    t = rng.uniform(0, 2 * np.pi, 150)
    r = 1.0 + 2.0 * (t > np.pi)  # the upper half near the origin, the lower half far out
    X = np.c_[r * np.cos(t), r * np.sin(t)] + rng.normal(scale=0.05, size=(150, 2))
    labels = {}
    for mu in (0.0, 3.0):
        interp = DensityRegularizedGeodesic(manifold=normal_identity(), mu=mu)
        labels[mu] = GeodesicKMeans(3, interpolator=interp, distance="graph", random_state=0).fit(X).labels_
    plain = GeodesicKMeans(3, interpolator=Linear(manifold=normal_identity()), distance="graph",
                           random_state=0).fit(X).labels_
    assert adjusted_rand_score(plain, labels[0.0]) == 1.0  # μ = 0 is the plain graph geodesic
    assert adjusted_rand_score(labels[0.0], labels[3.0]) < 0.9


def test_objective_weighted_clustering_pickles():
    import pickle

    X = data()
    for interp in (DensityRegularizedGeodesic(manifold=normal_identity(), mu=0.5),
                   RealismIndex(manifold=normal_identity(), index="normal", epsilon=0.1)):
        km = GeodesicKMeans(2, interpolator=interp, distance="graph", n_neighbors=20, random_state=0).fit(X)
        restored = pickle.loads(pickle.dumps(km))
        assert np.allclose(restored.transform(X[:7]), km.transform(X[:7]))
