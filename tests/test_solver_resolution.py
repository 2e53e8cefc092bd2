"""Adaptive resolution: a curve whose coarse solution already resolves it is returned as
the cubic refinement of that solution, and only curves that coarse levels cannot follow
pay for the fine levels.

Each claim is checked against the full solve at every level (``resolution_tol=None``)
and, on the sphere, against the great circle.
"""

import numpy as np
import pytest
import torch

from sk_geodesic.geometry import curve_length, linear_curve, resample
from sk_geodesic.geometry.curves import refine_cubic
from sk_geodesic.geometry.solvers import RESOLUTION_TOL, solve_energy, solve_energy_multilevel, solve_geodesic

from .conftest import great_circle, sphere_map


def _arc(n, t0=0.0, t1=1.5):
    t = torch.linspace(t0, t1, n, dtype=torch.float64)
    return torch.stack([t.cos(), t.sin()], -1)[None]


def test_refine_cubic_is_fourth_order_and_keeps_the_nodes():
    errors = []
    for n in (9, 17, 33):
        fine = refine_cubic(_arc(n), 2 * n - 1)
        np.testing.assert_array_equal(fine[:, ::2].numpy(), _arc(n).numpy())  # the old nodes, exactly
        errors.append(float((fine - _arc(2 * n - 1)).abs().max()))
    # halving h divides a cubic's error by ~16 (a linear resample's by 4)
    assert errors[0] / errors[1] > 12 and errors[1] / errors[2] > 12, errors
    lin = float((resample(_arc(17), 33) - _arc(33)).abs().max())
    assert errors[1] < lin / 50
    # any target size, not only doublings: points on the arc to O(h⁴)
    odd = refine_cubic(_arc(12), 50)
    assert float((odd - _arc(50)).abs().max()) < 1e-4


def _sphere_pairs():
    rng = np.random.RandomState(3)
    Z0, Z1 = rng.uniform(-1.0, 1.0, (8, 2)), rng.uniform(-1.0, 1.0, (8, 2))
    return torch.as_tensor(Z0), torch.as_tensor(Z1)


def test_resolved_sphere_geodesics_stop_at_seventeen_nodes_and_keep_their_accuracy():
    Z0, Z1 = _sphere_pairs()
    Zl = linear_curve(Z0, Z1, 65)
    kw = dict(tol=1e-4, subdivisions=1, newton_after=2)
    full = solve_energy_multilevel(sphere_map, Zl, **kw)
    fast = solve_energy_multilevel(sphere_map, Zl, resolution_tol=RESOLUTION_TOL, **kw)
    assert fast.n_solved.tolist() == [17] * 8
    assert fast.Z.shape == Zl.shape
    assert fast.n_jacobian_points < full.n_jacobian_points / 3
    # the refined 17-node solution follows the 65-node one (up to nodes sliding along it)
    assert float((fast.Z - full.Z).norm(dim=-1).max()) < 1e-3
    gc = great_circle(Z0.numpy(), Z1.numpy())
    L_fast = solve_geodesic(sphere_map, Zl, subdivisions=1, resolution_tol=RESOLUTION_TOL).length.numpy()
    L_full = solve_geodesic(sphere_map, Zl, subdivisions=1).length.numpy()
    np.testing.assert_allclose(L_fast, gc, rtol=1e-5)
    np.testing.assert_allclose(L_fast, L_full, rtol=1e-6)


def _bump(z, w=0.08, h=1.5):
    # flat plane with a narrow Gaussian hill just above the x-axis: curves passing near it
    # bend within a width that 17 nodes over a length-2 segment do not resolve
    c = torch.tensor([0.0, 0.08], dtype=z.dtype)
    return torch.cat([z, h * torch.exp(-(z - c).pow(2).sum(-1, keepdim=True) / (2 * w * w))], -1)


@pytest.fixture(scope="module")
def bump_lines():
    y = torch.linspace(-0.15, 0.15, 6, dtype=torch.float64)
    ones = torch.ones(6, dtype=torch.float64)
    return linear_curve(torch.stack([-ones, y], -1), torch.stack([ones, y], -1), 65)


def test_curves_that_coarse_levels_cannot_follow_are_solved_at_full_resolution(bump_lines):
    full = solve_geodesic(_bump, bump_lines, subdivisions=1)
    res = solve_energy_multilevel(_bump, bump_lines, tol=1e-4, subdivisions=1, newton_after=2,
                                  resolution_tol=RESOLUTION_TOL)
    fast = solve_geodesic(_bump, bump_lines, subdivisions=1, resolution_tol=RESOLUTION_TOL)
    # far from the hill the curve is resolved at 17 nodes; through its flank it is not
    assert res.n_solved.min() == 17 and res.n_solved.max() == 65, res.n_solved.tolist()
    np.testing.assert_allclose(fast.length.numpy(), full.length.numpy(), rtol=1e-4)
    # measured: accepting every curve at 17 nodes is 6e-4 long on the worst pair
    assert np.all(fast.length.numpy() <= full.length.numpy() * (1 + 1e-4))


def test_resolution_tol_none_solves_every_level(bump_lines):
    res = solve_energy_multilevel(_bump, bump_lines, tol=1e-4, subdivisions=1)
    assert res.n_solved.tolist() == [65] * 6


@pytest.mark.parametrize("subdivisions, newton_after", [(1, None), (2, None), (2, 1)])
def test_seen_length_is_the_chord_length_of_the_returned_curve(bump_lines, subdivisions, newton_after):
    # the solver reports Σ‖r‖ of the nodes it returns, from its own last φ evaluation
    res = solve_energy(_bump, bump_lines, tol=1e-6, subdivisions=subdivisions, newton_after=newton_after)
    assert int(res.n_iter.min()) > 1
    np.testing.assert_allclose(res.seen_length.numpy(), curve_length(_bump, res.Z, subdivisions).numpy(), rtol=1e-12)
    # curves that never take a step: already optimal (done at iteration 0), no iterations
    # at all, or no interior nodes
    optimal = solve_energy(lambda z: 2 * z, bump_lines, tol=1e-6, subdivisions=subdivisions, newton_after=newton_after)
    np.testing.assert_allclose(optimal.seen_length.numpy(), 2 * (bump_lines[:, -1] - bump_lines[:, 0]).norm(dim=-1),
                               rtol=1e-12)
    for Z, kw in ((bump_lines, dict(max_iter=0)), (bump_lines[:, ::64], {})):
        r = solve_energy(_bump, Z, subdivisions=subdivisions, **kw)
        np.testing.assert_allclose(r.seen_length.numpy(), curve_length(_bump, Z, subdivisions).numpy(), rtol=1e-12)
    ml = solve_energy_multilevel(_bump, bump_lines, tol=1e-4, subdivisions=subdivisions, newton_after=newton_after,
                                 resolution_tol=RESOLUTION_TOL)
    # at the level each curve was solved on (its cubic refinement is what is returned)
    for k, m in enumerate(ml.n_solved.tolist()):
        solved = resample(ml.Z[k:k + 1], m) if m < ml.Z.shape[1] else ml.Z[k:k + 1]
        np.testing.assert_allclose(float(ml.seen_length[k]), float(curve_length(_bump, solved, subdivisions)),
                                   rtol=1e-6)


def test_path_says_where_a_coarse_level_resolved_the_curve():
    from sk_geodesic.interpolation import Geodesic
    from sk_geodesic.manifolds import PretrainedManifold

    m = PretrainedManifold(sphere_map, latent_dim=2, dtype="float64").fit()
    Z0, Z1 = (Z.numpy() for Z in _sphere_pairs())
    X = m.inverse_transform(Z0)
    fast = Geodesic(manifold=m).fit(X).path(Z0, Z1, latent=True)
    full = Geodesic(manifold=m, resolution_tol=None).fit(X).path(Z0, Z1, latent=True)
    assert fast.n_solved.tolist() == [17] * 8 and full.n_solved.tolist() == [65] * 8
    assert fast.latent.shape == full.latent.shape == (8, 65, 2)
    assert fast[2:4].n_solved.tolist() == [17, 17]
    gc = great_circle(Z0, Z1)
    np.testing.assert_allclose(fast.length, gc, rtol=1e-5)
    np.testing.assert_allclose(full.length, gc, rtol=1e-5)


def test_geodesic_pickled_before_resolution_tol_solves_every_level():
    import pickle

    from sk_geodesic.interpolation import Geodesic
    from sk_geodesic.manifolds import PretrainedManifold

    m = PretrainedManifold(sphere_map, latent_dim=2, dtype="float64").fit()
    Z0, Z1 = (Z.numpy()[:2] for Z in _sphere_pairs())
    geo = Geodesic(manifold=m).fit(m.inverse_transform(Z0))
    state = geo.__getstate__()
    del state["resolution_tol"]  # what an older version pickled
    old = Geodesic.__new__(Geodesic)
    old.__setstate__(state)
    assert old.resolution_tol is None
    assert old.path(Z0, Z1, latent=True).n_solved.tolist() == [65, 65]
    assert pickle.loads(pickle.dumps(geo)).resolution_tol == geo.resolution_tol
