"""Resolution past ``n_points``: under a steep decoder variance a 65-node latent polyline
is far longer than the geodesic it approximates, and ``Geodesic(max_points=...)`` solves
such pairs at finer levels; elsewhere nothing changes.

The real case is the package's MNIST VAE under its expected metric (steep RBF σ): there a
cross-class geodesic measured 13.28 at 65 nodes, 9.80 at 257 and 9.25 at 1025 (dense
lengths of the returned polylines).
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator

from sk_geodesic.geometry import curve_length_energy
from sk_geodesic.geometry.solvers import MAX_POINTS
from sk_geodesic.interpolation import Geodesic

from .conftest import great_circle


def test_geodesic_goes_past_n_points_by_default():
    assert Geodesic().max_points == MAX_POINTS == 257


def test_steep_variance_geodesics_are_solved_past_n_points(mnist_vae, mnist_small):
    X, y = mnist_small
    frozen = FrozenEstimator(mnist_vae)
    codes = mnist_vae.transform(X)
    i = int(np.flatnonzero(y == 0)[0])
    j = int(np.flatnonzero(y == 7)[0])
    zeros = np.flatnonzero(y == 0)
    k = int(zeros[np.argsort(((codes[zeros] - codes[i]) ** 2).sum(1))[1]])  # the 0 nearest to i in latent space
    with pytest.warns(RuntimeWarning, match="not resolved by 65 nodes"):
        coarse = Geodesic(manifold=frozen, max_points=None).fit(X).path(X[[i]], X[[j]])
    # one pair per batch: the cross-class pair goes past 65 nodes, the near pair does not,
    # and the call returns both at the same resolution
    geo = Geodesic(manifold=frozen, batch_size=1).fit(X)
    p = geo.path(X[[i, i]], X[[j, k]])
    assert coarse.latent.shape[1] == 65
    assert p.latent.shape[1] > 65 and len(p.t) == p.latent.shape[1] == p.decoded.shape[1]
    assert p.n_solved[0] > 65 and p.n_solved[1] <= 65, p.n_solved
    assert p.length[0] < 0.95 * coarse.length[0], (p.length, coarse.length)  # measured 11.48 vs 12.99
    # every reported length is the dense length of the curve returned, the refined near
    # pair's included
    L, _ = curve_length_energy(mnist_vae.embedding_map(), torch.as_tensor(p.latent, dtype=torch.float32))
    np.testing.assert_allclose(p.length, L.double().numpy(), rtol=1e-3)
    assert not p.fallback.any()


@pytest.mark.parametrize("n_points, rtol", [(17, 1e-3), (33, 1e-4)])
def test_resolved_curves_stay_at_n_points(sphere_manifold, n_points, rtol):
    # 17 nodes: the pairs reach the n_points level (the first after the coarsest) and
    # are resolved there; 33: they stop below it
    z0 = np.array([[0.0, 0.5], [0.3, -0.4], [-1.0, 0.2]])
    z1 = np.array([[2.0, 0.5], [1.1, 0.6], [0.8, -0.7]])
    geo = Geodesic(manifold=sphere_manifold, n_points=n_points).fit(sphere_manifold.sample(5, random_state=0)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # resolved: no resolution warning
        p = geo.path(z0, z1, latent=True)
    assert p.latent.shape[1] == n_points and (np.asarray(p.n_solved) <= n_points).all()
    np.testing.assert_allclose(p.length, great_circle(z0, z1), rtol=rtol)
