"""Several initial curves per pair: where φ has walls the energy has several basins, and
the start decides which one a local solver ends in. ``solve_geodesic_multistart`` solves
every start to a coarse level and refines the densely shortest."""

import numpy as np
import pytest
import torch

from sk_geodesic.geometry import linear_curve
from sk_geodesic.geometry.solvers import solve_geodesic, solve_geodesic_multistart
from sk_geodesic.interpolation import Geodesic
from sk_geodesic.manifolds import VAE, PretrainedManifold


def _bump(z):
    """R² → R³: a tall, narrow hill at the origin (a wall of φ between two routes)."""
    h = 6.0 * torch.exp(-(z[..., 0] ** 2 + z[..., 1] ** 2) / 0.5)
    return torch.stack([z[..., 0], z[..., 1], h], -1)


def _detour(z0, z1, via, n=65):
    """Polyline z0 → via → z1 with n nodes (B, n, 2)."""
    a = linear_curve(z0, via, (n + 1) // 2)
    b = linear_curve(via, z1, (n + 1) // 2)
    return torch.cat([a, b[:, 1:]], 1)


def _pairs():
    # endpoints on either side of the hill, all a little above its centre: the route over
    # the top of the hill (y > 0) is shorter than the route under it
    z0 = torch.tensor([[-2.0, 0.4], [-2.0, 0.6], [-1.8, 0.3]], dtype=torch.float64)
    z1 = torch.tensor([[2.0, 0.4], [2.0, 0.2], [1.9, 0.5]], dtype=torch.float64)
    above = _detour(z0, z1, torch.tensor([[0.0, 1.8]] * 3, dtype=torch.float64))
    below = _detour(z0, z1, torch.tensor([[0.0, -1.8]] * 3, dtype=torch.float64))
    return above, below


def test_each_start_stays_in_its_own_basin():
    # the premise of the multi-start: from below, the solver does not find the way above
    above, below = _pairs()
    L_above = solve_geodesic(_bump, above, subdivisions=2).length
    L_below = solve_geodesic(_bump, below, subdivisions=2).length
    assert torch.all(L_below > 1.02 * L_above), (L_above, L_below)


@pytest.mark.parametrize("order", ["below_first", "above_first"])
def test_multistart_keeps_the_shorter_basin(order):
    above, below = _pairs()
    starts = torch.stack([below, above] if order == "below_first" else [above, below])
    res = solve_geodesic_multistart(_bump, starts, subdivisions=2)
    ref = solve_geodesic(_bump, above, subdivisions=2)
    expect = 1 if order == "below_first" else 0
    assert res.start.tolist() == [expect] * 3
    # refined from the coarse curve of the right basin: the same length as solving that
    # start alone, to the solver's tolerance
    np.testing.assert_allclose(res.length.numpy(), ref.length.numpy(), rtol=2e-4)
    # the returned length is the dense length of the returned curve
    from sk_geodesic.geometry import curve_length

    np.testing.assert_allclose(res.length.numpy(), curve_length(_bump, res.Z, 64).numpy(), rtol=1e-4)


def test_one_start_is_solve_geodesic():
    # the refinement runs at twice the comparison's sub-division unless told otherwise
    above, _ = _pairs()
    res = solve_geodesic_multistart(_bump, above[None], subdivisions=2)
    ref = solve_geodesic(_bump, above, subdivisions=4)
    torch.testing.assert_close(res.Z, ref.Z)
    assert res.start.tolist() == [0, 0, 0]
    same = solve_geodesic_multistart(_bump, above[None], subdivisions=2, refine_subdivisions=2)
    torch.testing.assert_close(same.Z, solve_geodesic(_bump, above, subdivisions=2).Z)


def test_pairs_with_identical_starts_are_solved_once():
    # pair 0 has the same curve twice (solved as by solve_geodesic, from all of its
    # levels); pairs 1 and 2 have two different starts (the selection applies)
    above, below = _pairs()
    first = below.clone()
    first[0] = above[0]
    starts = torch.stack([first, above])
    res = solve_geodesic_multistart(_bump, starts, subdivisions=2)
    solo = solve_geodesic(_bump, above[:1], subdivisions=4)
    torch.testing.assert_close(res.Z[:1], solo.Z)
    torch.testing.assert_close(res.length[:1], solo.length)
    assert res.start.tolist() == [0, 1, 1]
    pick = solve_geodesic_multistart(_bump, starts[:, 1:], subdivisions=2)
    torch.testing.assert_close(res.Z[1:], pick.Z)
    assert bool(res.converged.all()) and not bool(res.fallback.any())


class _Bump(torch.nn.Module):
    def forward(self, z):
        return _bump(z)


class _FirstTwo(torch.nn.Module):
    def forward(self, x):
        return x[..., :2]


def test_geodesic_multi_start_builds_a_denser_graph_and_two_starts():
    rng = np.random.RandomState(0)
    codes = torch.as_tensor(rng.uniform(-2.5, 2.5, (300, 2)))
    X = _bump(codes).numpy()  # points of the surface; the encoder reads their first two coordinates
    man = PretrainedManifold(_Bump(), latent_dim=2, encoder=_FirstTwo(), dtype="float64").fit()
    g = Geodesic(manifold=man, n_neighbors=5, multi_start=True).fit(X)
    assert g.dense_graph_.n_neighbors == 15 and g.graph_.n_neighbors == 5
    np.testing.assert_array_equal(g.dense_graph_.nodes, g.graph_.nodes)
    z0, z1 = np.array([[-2.0, 0.4]]), np.array([[2.0, 0.4]])
    starts = g._initial_curves(z0, z1)
    assert starts.shape == (2, 1, 65, 2)
    p = g.path(z0, z1, latent=True)
    single = Geodesic(manifold=man, n_neighbors=5, multi_start=False).fit(X)
    assert single.dense_graph_ is None and single._initial_curves(z0, z1).shape == (1, 65, 2)
    # never longer than the straight segment, and no longer than the single start here
    assert p.length[0] <= single.path(z0, z1, latent=True).length[0] * (1 + 1e-4)
    assert Geodesic(manifold=man, init="linear").fit(X).dense_graph_ is None


def test_auto_multi_start_follows_the_metric(mnist_vae, mnist_small):
    # "auto": two starts where φ carries the decoder's σ (walls, several basins), one
    # under a decoder mean, where a second start was measured never to help
    rng = np.random.RandomState(0)
    codes = torch.as_tensor(rng.uniform(-2.5, 2.5, (300, 2)))
    X = _bump(codes).numpy()
    mean_only = PretrainedManifold(_Bump(), latent_dim=2, encoder=_FirstTwo(), dtype="float64").fit()
    sigma = PretrainedManifold(_Bump(), latent_dim=2, encoder=_FirstTwo(), dtype="float64",
                               std_network=lambda z: (0.1 + z.pow(2).sum(-1, keepdim=True)).expand(-1, 3)).fit()
    assert not mean_only.metric_has_variance() and sigma.metric_has_variance()
    assert Geodesic(manifold=mean_only, n_neighbors=5).fit(X).dense_graph_ is None
    assert Geodesic(manifold=sigma, n_neighbors=5).fit(X).dense_graph_.n_neighbors == 15
    assert Geodesic(manifold=mean_only, n_neighbors=5, multi_start=True).fit(X).dense_graph_ is not None
    assert Geodesic(manifold=sigma, n_neighbors=5, multi_start=False).fit(X).dense_graph_ is None
    # the package's VAE embeds [μ(z), σ(z)]; a constant σ leaves the mean's metric
    assert mnist_vae.metric_has_variance()
    flat = VAE(latent_dim=2, hidden_sizes=(8,), epochs=1, std_network="constant", density_components=1,
               random_state=0).fit(X[:40])
    assert not flat.metric_has_variance()
    assert Geodesic(manifold=flat, n_neighbors=5).fit(X[:40]).dense_graph_ is None
    Xm, _ = mnist_small
    g = Geodesic(manifold=mnist_vae).fit(Xm[::8])
    assert g.dense_graph_ is not None and g._initial_curves(mnist_vae.transform(Xm[:2]),
                                                             mnist_vae.transform(Xm[2:4])).ndim == 4
