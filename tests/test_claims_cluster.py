"""GeodesicKMeans where the geometry decides the clusters.

The latent points fill a tall box [-1.2, 1.2] x [-3, 3] (minus a gap at the wall) (KMeans with two clusters cuts
it across the middle, y = 0), but the manifold has a wall along x = 0: crossing it
costs 2 x 6 in length. The true clusters are the two sides of the wall, which only
a method that measures lengths on the manifold can find. Reference labels: the
sign of x; reference method: scikit-learn's KMeans on the latent codes and on the
data.
"""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from sk_geodesic.cluster import GeodesicKMeans, f_measure
from sk_geodesic.interpolation import Linear
from sk_geodesic.manifolds import PretrainedManifold


def wall_map(z):
    wall = 6.0 * torch.exp(-(z[..., :1] / 0.2).pow(2))
    return torch.cat([z, wall], dim=-1)


class _FirstTwo(torch.nn.Module):
    def forward(self, x):
        return x[..., :2]


@pytest.fixture(scope="module")
def wall_data():
    rng = np.random.RandomState(0)
    n = 160
    side = np.repeat([-1.0, 1.0], n // 2)
    x = side * rng.uniform(0.45, 1.2, n)
    Z = np.c_[x, rng.uniform(-3.0, 3.0, n)]
    m = PretrainedManifold(wall_map, latent_dim=2, encoder=_FirstTwo(), dtype="float64").fit()
    X = m.inverse_transform(Z)
    return m, X, Z, (side > 0).astype(int)


def _kmeans_scores(Z, X, y):
    out = []
    for data in (Z, X):
        labels = KMeans(2, n_init=10, random_state=0).fit_predict(data)
        out.append((adjusted_rand_score(y, labels), f_measure(y, labels)))
    return out


@pytest.mark.parametrize("distance", ["graph", "geodesic"])
def test_geodesic_kmeans_beats_kmeans_where_geometry_decides(wall_data, distance):
    m, X, Z, y = wall_data
    (ari_z, f_z), (ari_x, f_x) = _kmeans_scores(Z, X, y)
    # KMeans cuts the tall box across the wall's direction (measured ARI ≈ 0, F ≈ 0.5)
    assert max(ari_z, ari_x) < 0.1 and max(f_z, f_x) < 0.7, (ari_z, ari_x, f_z, f_x)
    km = GeodesicKMeans(2, interpolator=Linear(manifold=m, n_points=25), distance=distance, n_neighbors=30,
                        n_init=2, random_state=0).fit(X)
    assert adjusted_rand_score(y, km.labels_) > 0.95
    assert f_measure(y, km.labels_) > max(f_z, f_x) + 0.3
    assert np.array_equal(km.predict(X), km.labels_)
    # medoids sit one on each side, and new points are assigned across the wall correctly
    assert set(np.sign(km.medoid_latent_[:, 0])) == {-1.0, 1.0}
    probe = m.inverse_transform(np.array([[-0.7, 2.8], [0.7, 2.8], [-0.7, -2.8], [0.7, -2.8]]))
    pred = km.predict(probe)
    assert pred[0] == pred[2] and pred[1] == pred[3] and pred[0] != pred[1]


def test_geodesic_kmeans_transform_is_manifold_length(wall_data):
    m, X, Z, y = wall_data
    km = GeodesicKMeans(2, interpolator=Linear(manifold=m, n_points=49), random_state=0,
                        init=np.array([0, 10])).fit(X[::8])
    D = km.transform(X[:2])
    # a point and a medoid on the same side: about the latent distance; across the wall: + 2 x 6
    za, zm = Z[:2], km.medoid_latent_
    lat = np.linalg.norm(za[:, None] - zm[None], axis=-1)
    same = np.sign(za[:, None, 0]) == np.sign(zm[None, :, 0])
    np.testing.assert_allclose(D[same], lat[same], rtol=0.02)
    assert np.all(D[~same] > lat[~same] + 10.0)
