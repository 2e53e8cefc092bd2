"""Re-spacing in the curve solver: the crawl along a curve whose length has settled.

Near a minimum the energy keeps falling while the nodes re-space along the curve;
Gauss–Newton does that slowly (a nearly flat direction of the energy). With
``respace_tol`` the solver moves the nodes to equal steps of the seen length once the
length has been calm for :data:`RESPACE_CALM_STEPS` steps, and keeps that where it lowers
the energy; the energy test still decides convergence.
"""

import numpy as np
import pytest
import torch
from sklearn.frozen import FrozenEstimator

from sk_geodesic.geometry import linear_curve, reparametrize_constant_speed, resample, subdivide
from sk_geodesic.geometry.curves import curve_length_energy
from sk_geodesic.geometry.solvers import (
    RESPACE_CALM_STEPS,
    RESPACE_ENERGY_FACTOR,
    solve_energy,
    solve_energy_multilevel,
)
from sk_geodesic.interpolation import Geodesic

from .conftest import great_circle, sphere_map
from .test_solver_newton import _bent, _steep


def _detours():
    """Three curves bent away from their geodesics, their nodes crowded at the start."""
    z0 = torch.tensor([[-0.9, 0.2], [-0.6, -0.5], [-1.0, -0.1]], dtype=torch.float64)
    z1 = torch.tensor([[0.8, 0.4], [0.7, 0.6], [0.9, -0.3]], dtype=torch.float64)
    t = torch.linspace(0, 1, 21, dtype=torch.float64)[None, :, None] ** 1.6
    Z = z0[:, None] + t * (z1 - z0)[:, None]
    bump = torch.tensor([0.5, -0.4, 0.3], dtype=torch.float64)[:, None, None]
    return Z + bump * torch.sin(np.pi * t) * torch.tensor([0.0, 1.0], dtype=torch.float64)


def test_reparametrize_puts_nodes_at_equal_steps_on_the_polyline():
    Z = _detours()
    R = reparametrize_constant_speed(_bent, Z, 8)

    def spread(C):
        """Longest over shortest segment, each measured at 8 sub-steps: (B,)."""
        X = _bent(subdivide(C, 8))
        seg = (X[:, 1:] - X[:, :-1]).norm(dim=-1).reshape(C.shape[0], C.shape[1] - 1, 8).sum(-1)
        return seg.max(-1).values / seg.min(-1).values

    assert float(spread(Z).min()) > 2.0  # crowded at the start
    assert float(spread(R).max()) < 1.05
    # the new nodes lie on the old latent polyline: each is a convex combination of two
    # consecutive old nodes
    for b in range(3):
        for p in R[b, 1:-1]:
            a, c = Z[b, :-1], Z[b, 1:]
            w = ((p - a) * (c - a)).sum(-1) / (c - a).pow(2).sum(-1)
            on = (w >= -1e-12) & (w <= 1 + 1e-12) & ((a + w[:, None] * (c - a) - p).norm(dim=-1) < 1e-10)
            assert bool(on.any())
    torch.testing.assert_close(R[:, [0, -1]], Z[:, [0, -1]])


def test_cubic_respacing_keeps_the_nodes_on_the_smooth_curve():
    # uneven nodes on a circle in the chart of the identity: the linear re-spacing cuts its
    # chords (O(h²) off the circle), the cubic one stays on it to O(h⁴)
    t = torch.linspace(0, 1, 33, dtype=torch.float64) ** 2 * 1.5
    Z = torch.stack([t.cos(), t.sin()], -1)[None]
    import sk_geodesic.geometry.curves as curves  # looked up when called (as the solver does)

    lin = curves.reparametrize_constant_speed(lambda z: z, Z, 4)
    cub = curves.reparametrize_constant_speed(lambda z: z, Z, 4, cubic=True)
    off_lin = float((lin.norm(dim=-1) - 1).abs().max())
    off_cub = float((cub.norm(dim=-1) - 1).abs().max())
    assert off_cub < 1e-5 and off_lin > 1e-4, (off_cub, off_lin)  # measured 1.1e-6 and 1.1e-3
    angles = torch.atan2(cub[0, :, 1], cub[0, :, 0])
    np.testing.assert_allclose(angles.diff().numpy(), 1.5 / 32, rtol=1e-2)  # evenly spaced now


def test_respacing_happens_after_calm_steps_and_only_where_it_lowers_the_energy(monkeypatch):
    import sk_geodesic.geometry.curves as curves

    # straight through a steep wall, Gauss–Newton steps, no energy test: at first the
    # length barely changes while the energy falls by percents per step (the nodes
    # re-space, a saddle of the length: not calm), later the curves converge linearly
    z0 = torch.tensor([[-1.0, 0.05], [-1.0, -0.1], [-0.8, 0.02]], dtype=torch.float64)
    Z = linear_curve(z0, -z0, 33)
    kw = dict(tol=0.0, subdivisions=2)
    K = 30
    # the first k iterations of a run are those of a run with max_iter=k: read the seen
    # length and the energy after every iteration of the plain run
    runs = [solve_energy(_steep, Z, max_iter=k, **kw) for k in range(K + 1)]
    seen = torch.stack([r.seen_length for r in runs])
    energy = torch.stack([runs[1].initial_objective] + [r.objective for r in runs[1:]])
    change = ((seen[1:] - seen[:-1]).abs() / seen[:-1]).numpy()  # (K, B): made by iteration k+1
    drop = ((energy[:-1] - energy[1:]) / energy[:-1]).numpy()
    assert (drop > 0).all()  # every step accepted
    tol = 1e-4
    calm = (change <= tol) & (drop <= RESPACE_ENERGY_FACTOR * tol)

    def first_window(c):
        return min(k + 1 for b in range(3) for k in range(RESPACE_CALM_STEPS - 1, K)
                   if c[k - RESPACE_CALM_STEPS + 1 : k + 1, b].all())

    first = first_window(calm)
    # the data exercise both conditions: one calm step, or the length alone, comes earlier
    assert calm[: first - 1].any() and first_window(change <= tol) < first

    calls = []
    original = curves.reparametrize_constant_speed

    def spy(embed, Zc, *a, **k):
        calls.append(Zc.shape[0])
        return original(embed, Zc, *a, **k)

    monkeypatch.setattr(curves, "reparametrize_constant_speed", spy)
    before = solve_energy(_steep, Z, max_iter=first - 1, respace_tol=tol, **kw)
    assert calls == []  # nothing re-spaced yet
    torch.testing.assert_close(before.Z, runs[first - 1].Z)
    at = solve_energy(_steep, Z, max_iter=first, respace_tol=tol, **kw)
    due = [bool(calm[first - RESPACE_CALM_STEPS : first, b].all()) for b in range(3)]
    assert calls == [sum(due)]
    plain = runs[first].Z
    respaced = original(_steep, plain, 2, cubic=True)
    for b in range(3):
        lower = bool(solve_energy(_steep, respaced[b : b + 1], max_iter=0, **kw).objective
                     < runs[first].objective[b])
        assert int(at.n_respaced[b]) == int(due[b] and lower), b
        torch.testing.assert_close(at.Z[b], respaced[b] if due[b] and lower else plain[b])
    assert int(at.n_respaced.sum()) >= 1


def test_respacing_keeps_sphere_geodesics_exact():
    Z = resample(_detours(), 65)
    kw = dict(tol=1e-4, subdivisions=2, newton_after=2)
    res = solve_energy_multilevel(sphere_map, Z, respace_tol=1e-4, **kw)
    L = curve_length_energy(sphere_map, res.Z)[0].numpy()
    np.testing.assert_allclose(L, great_circle(Z[:, 0].numpy(), Z[:, -1].numpy()), rtol=1e-5)


def test_respacing_leaves_a_curve_sliding_off_a_wall_alone():
    # straight through a steep wall (a saddle of the length): for the first iterations the
    # length changes by 1e-5 to 1e-4 per step while the energy falls by 1-10 % per step
    z0 = torch.tensor([[-1.0, 0.05], [-1.0, -0.1], [-0.8, 0.02]], dtype=torch.float64)
    Z = linear_curve(z0, -z0, 33)
    kw = dict(max_iter=100, tol=1e-4, subdivisions=2, newton_after=2)
    plain = solve_energy(_steep, Z, **kw)
    res = solve_energy(_steep, Z, respace_tol=1e-4, **kw)
    assert float(res.objective.max()) < 0.2  # the straight line's energy is > 200
    np.testing.assert_allclose(res.seen_length.numpy(), plain.seen_length.numpy(), rtol=1e-4)


def test_respacing_is_off_with_a_penalty():
    Z = _detours()
    kw = dict(tol=1e-10, subdivisions=2, point_penalty=lambda z: (z * z).sum(-1), penalty_weight=0.1, max_iter=40)
    a = solve_energy(_bent, Z, **kw)
    b = solve_energy(_bent, Z, respace_tol=1e-2, **kw)
    torch.testing.assert_close(a.Z, b.Z)
    assert b.n_respaced.tolist() == [0, 0, 0]


def test_mnist_geodesics_keep_their_lengths_with_respacing(mnist_vae, mnist_small):
    """The real case: ``Geodesic`` on the package's MNIST VAE (expected metric),
    cross-class pairs, with and without re-spacing: the same dense lengths."""
    X, y = mnist_small
    rng = np.random.RandomState(5)
    i = rng.choice(np.flatnonzero(y == 0), 8)
    j = rng.choice(np.flatnonzero(y == 7), 8)
    frozen = FrozenEstimator(mnist_vae)
    L = {}
    for tol in ("auto", None):
        # at a fixed resolution: past 65 nodes (max_points) the two runs can settle in
        # different local minima of finer polylines
        geo = Geodesic(manifold=frozen, respace_tol=tol, max_points=None).fit(X)
        L[tol] = np.asarray(geo.path(X[i], X[j]).length)
    rel = L["auto"] / L[None] - 1
    assert np.abs(rel).max() < 1e-3 and abs(rel.mean()) < 2e-4, rel


def test_geodesic_does_not_respace_by_default():
    assert Geodesic().respace_tol is None


@pytest.mark.parametrize("respace_tol, expected", [("auto", 1e-4), (None, None), (3e-5, 3e-5)])
def test_geodesic_passes_its_respace_tol(monkeypatch, sphere_manifold, respace_tol, expected):
    import sk_geodesic.interpolation._geodesic as g

    passed = []
    original = g.solve_geodesic

    def spy(*a, **k):
        passed.append(k.get("respace_tol", "missing"))
        return original(*a, **k)

    monkeypatch.setattr(g, "solve_geodesic", spy)
    geo = Geodesic(manifold=sphere_manifold, init="linear", tol=1e-4, respace_tol=respace_tol)
    geo.fit(sphere_manifold.sample(5, random_state=0)[0])
    p = geo.path([0.0, 0.5], [2.0, 0.5], latent=True)
    assert passed == [expected]
    # (this pair stops at 17 nodes, cubically refined: 2.5e-5 from the great circle either way)
    np.testing.assert_allclose(p.length, great_circle(np.array([[0.0, 0.5]]), np.array([[2.0, 0.5]])), rtol=5e-5)
