"""Faithful geodesic lengths: reported = dense length of the returned curve, never
longer than the straight line, and no tunnelling through a ridge between nodes.

The manifold has a thin, tall wall across z₁ = 0 (width 0.02, far below the node
spacing of 35 points over a length-2 segment): a curve whose two neighbouring nodes
straddle the wall has a short chord but a long dense length.
"""

import numpy as np
import pytest
import torch

from sk_geodesic.geometry import curve_length, linear_curve
from sk_geodesic.geometry.solvers import solve_geodesic
from sk_geodesic.interpolation import Geodesic
from sk_geodesic.manifolds import PretrainedManifold


def _wall(z):
    wall = 5.0 * torch.exp(-(z[..., :1] / 0.02).pow(2)) * torch.sigmoid((1.5 - z[..., 1:2].abs()) / 0.05)
    return torch.cat([z, wall], -1)


def _dense(Z, s=64):
    # independent reference: float64, 64 sub-segments per latent segment
    return curve_length(_wall, torch.as_tensor(Z, dtype=torch.float64), s).numpy()


@pytest.fixture(scope="module")
def wall_problem():
    m = PretrainedManifold(_wall, latent_dim=2, dtype="float64").fit()
    y = np.linspace(-0.4, 0.4, 6)
    Z0, Z1 = np.c_[-np.ones(6), y], np.c_[np.ones(6), -y]
    return m, Z0, Z1


@pytest.fixture(scope="module")
def wall_paths(wall_problem):
    m, Z0, Z1 = wall_problem
    X = m.inverse_transform(Z0)
    return {s: Geodesic(manifold=m, subdivisions=s).fit(X).path(Z0, Z1, latent=True) for s in (1, 2)}


@pytest.mark.parametrize("s", [1, 2])
def test_reported_length_is_dense_length_and_never_above_line(wall_paths, s):
    p = wall_paths[s]
    dense = _dense(p.latent)
    np.testing.assert_allclose(p.length, dense, rtol=1e-3)
    line_Z = linear_curve(torch.as_tensor(p.latent[:, 0]), torch.as_tensor(p.latent[:, -1]), p.latent.shape[1])
    # never longer than the straight line: exactly by the estimator's own measure, and to
    # well within the faithfulness tolerance by the independent one
    from sk_geodesic.geometry import curve_length_energy

    assert np.all(p.length <= curve_length_energy(_wall, line_Z)[0].numpy() * (1 + 1e-12))
    assert np.all(dense <= _dense(line_Z) * (1 + 1e-4))
    # the straight line crosses the wall: every curve's dense length counts it (≈ 2 + 2·5)
    assert np.all(dense > 10.0)


def test_node_energy_tunnels_and_falls_back(wall_paths):
    # the classical node energy (subdivisions=1) puts two nodes on either side of the
    # wall: its chord length is far below the dense one, so Geodesic returns the line
    p = wall_paths[1]
    assert p.fallback.any()
    Z = torch.as_tensor(p.latent)
    line = linear_curve(Z[:, 0], Z[:, -1], Z.shape[1]).numpy()
    np.testing.assert_allclose(p.latent[p.fallback], line[p.fallback], atol=1e-12)


def test_subdivided_energy_does_not_tunnel(wall_paths):
    p = wall_paths[2]
    assert not p.fallback.any()
    chord = curve_length(_wall, torch.as_tensor(p.latent), 1).numpy()
    assert np.all(chord >= 0.99 * _dense(p.latent))


def test_solve_geodesic_fallback_replaces_longer_curve():
    # a detour (a bump off the straight line) in flat space, not optimised (max_iter=0)
    flat = lambda z: z  # noqa: E731
    z0 = torch.tensor([[0.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    z1 = torch.tensor([[1.0, 0.0], [2.0, 1.0]], dtype=torch.float64)
    Z = linear_curve(z0, z1, 9).clone()
    Z[0, 1:-1, 1] += 0.3 * torch.sin(torch.linspace(0, np.pi, 9, dtype=torch.float64)[1:-1])
    res = solve_geodesic(flat, Z, max_iter=0)
    assert res.fallback.tolist() == [True, False]
    np.testing.assert_allclose(res.length.numpy(), [1.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(res.Z[0].numpy(), linear_curve(z0, z1, 9)[0].numpy(), atol=1e-15)


def test_sphere_length_matches_great_circle():
    def sphere(z):
        u, v = z[..., 0], z[..., 1]
        return torch.stack([u.cos() * v.cos(), u.sin() * v.cos(), v.sin()], -1)

    m = PretrainedManifold(sphere, latent_dim=2, dtype="float64").fit()
    rng = np.random.RandomState(3)
    Z0, Z1 = rng.uniform(-1.0, 1.0, (8, 2)), rng.uniform(-1.0, 1.0, (8, 2))
    X = m.inverse_transform(Z0)

    def xyz(Z):
        return sphere(torch.as_tensor(Z)).numpy()

    gc = np.arccos(np.clip((xyz(Z0) * xyz(Z1)).sum(-1), -1, 1))
    # The reported length is the dense length of the returned 35-point latent polyline,
    # which exceeds the great circle by its discretisation error (O(h²), 2.8e-5 at most
    # here); 65 points bring it under 1e-5.
    p = Geodesic(manifold=m).fit(X).path(Z0, Z1, latent=True)
    assert np.all(p.length >= gc * (1 - 1e-6))
    np.testing.assert_allclose(p.length, gc, rtol=5e-5)
    p65 = Geodesic(manifold=m, n_points=65).fit(X).path(Z0, Z1, latent=True)
    np.testing.assert_allclose(p65.length, gc, rtol=1e-5)
