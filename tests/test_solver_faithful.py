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
from sk_geodesic.geometry import curve_energy
from sk_geodesic.geometry.solvers import solve_energy, solve_geodesic
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


def _line(Z0, Z1, n=35):
    return linear_curve(torch.as_tensor(Z0), torch.as_tensor(Z1), n)


def test_subpoint_energy_alone_can_tunnel(wall_problem):
    # Why the guard exists: minimising the energy sampled at s = 2 points per segment
    # from the straight line (one level, no guard) ends with nodes and midpoints placed
    # around the wall, so the samples see a fraction of what the curve really crosses.
    _, Z0, Z1 = wall_problem
    res = solve_energy(_wall, _line(Z0, Z1), subdivisions=2, tol=1e-8, max_iter=200)
    seen = curve_length(_wall, res.Z, 2).numpy()
    assert np.all(_dense(res.Z) > 2.0 * seen)


def test_solver_objective_is_the_subdivided_energy(wall_problem):
    _, Z0, Z1 = wall_problem
    for s in (1, 2, 3):
        res = solve_energy(_wall, _line(Z0, Z1, 9), subdivisions=s, max_iter=3)
        N = 8 * s  # sub-segments
        np.testing.assert_allclose(res.objective.numpy(), curve_energy(_wall, res.Z, s).numpy() / N, rtol=1e-10)


def test_tunnelling_guard_resolves_the_wall(wall_problem):
    # the same one-level s = 2 solve inside solve_geodesic, with the straight-line
    # fallback off so that only the guard can repair it: the returned curve crosses the
    # wall once (like the line), and its reported length is its dense length
    _, Z0, Z1 = wall_problem
    Zl = _line(Z0, Z1)
    res = solve_geodesic(_wall, Zl, subdivisions=2, coarse_to_fine=False, fallback=False)
    dense = _dense(res.Z)
    assert np.all(dense < 1.05 * _dense(Zl))
    np.testing.assert_allclose(res.length.numpy(), dense, rtol=1e-3)


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
    # The reported length is the dense length of the returned 65-point latent polyline,
    # which exceeds the great circle by its discretisation error, O(h²): under 1e-5 with
    # the defaults, while 35 points (the old default) are 3e-5 off.
    p = Geodesic(manifold=m).fit(X).path(Z0, Z1, latent=True)
    assert np.all(p.length >= gc * (1 - 1e-7))
    np.testing.assert_allclose(p.length, gc, rtol=1e-5)
    p35 = Geodesic(manifold=m, n_points=35, subdivisions=2).fit(X).path(Z0, Z1, latent=True)
    assert np.max(p35.length / gc - 1) > 1e-5


def _plateau_map():
    # An expected-metric-like embedding in 8-D: 40 data "codes", σ = (Σ RBF + ζ)^{-1/2}
    # rising steeply away from them and saturating (flat: J ≈ 0) far from all of them.
    g = torch.Generator().manual_seed(0)
    C = torch.randn(40, 8, generator=g, dtype=torch.float64)
    W = torch.ones(8, 5, dtype=torch.float64)

    def phi(z):
        w = torch.exp(-(z.unsqueeze(-2) - C).pow(2).sum(-1) / 0.5).sum(-1, keepdim=True)
        return torch.cat([torch.tanh(z @ W), (w + 1e-4).rsqrt()], -1)

    return phi, C


def test_levenberg_damping_leaves_a_flat_plateau():
    # Straight lines between codes cross the flat, high-σ plateau. With damping
    # proportional to each node's own metric block (Marquardt) the plateau nodes keep
    # taking long, failing steps and the curves barely move (≈ the line's length after
    # 40 iterations); Levenberg damping shortens them by more than 30 % in total.
    phi, C = _plateau_map()
    rng = np.random.RandomState(0)
    i, j = rng.randint(0, 40, (2, 12))
    Zl = linear_curve(C[i] + 0.1, C[j] - 0.1, 17)
    res = solve_energy(phi, Zl, subdivisions=2, max_iter=40, tol=1e-9)
    assert curve_length(phi, res.Z, 16).sum() < 0.7 * curve_length(phi, Zl, 16).sum()


def test_geodesic_estimator_falls_back_to_the_line():
    # flat space, graph initialisation and no iterations: the zig-zag graph path is
    # longer than the straight segment, which Geodesic must return (and say so)
    m = PretrainedManifold(lambda z: z * 1.0, latent_dim=2, dtype="float64").fit()
    X = np.random.RandomState(0).uniform(-1, 1, (200, 2))
    geo = Geodesic(manifold=m, init="graph", max_iter=0).fit(X)
    Z0, Z1 = np.array([[-0.9, -0.8], [-0.5, 0.9]]), np.array([[0.9, 0.7], [0.8, -0.9]])
    p = geo.path(Z0, Z1, latent=True)
    assert p.fallback.all()
    np.testing.assert_allclose(p.length, np.linalg.norm(Z1 - Z0, axis=1), rtol=1e-9)


def test_few_node_curves_are_measured_densely():
    """A 2-node curve over a narrow bump of φ lying between its 4- and 2-point samples:
    neither chord sum sees it, so no Richardson correction flags it; curves of few nodes
    are therefore measured at ≥ MIN_CURVE_SUBSEGMENTS sub-segments in all."""
    from scipy.integrate import quad

    from sk_geodesic.geometry import curve_length_energy

    h, w, c = 0.5, 0.03, 0.25  # between the sub-points z₁ = 0 and 0.5 of the segment [−1, 1]

    def bump(z):
        return torch.cat([z, h * torch.exp(-0.5 * ((z[..., :1] - c) / w).pow(2))], -1)

    def speed(t):  # |dφ/dt| along z = (t, 0)
        return np.sqrt(1.0 + (h * np.exp(-0.5 * ((t - c) / w) ** 2) * (t - c) / w**2) ** 2)

    ref = quad(speed, -1.0, 1.0, points=[c - w, c, c + w], limit=200, epsabs=1e-12)[0]
    Z = torch.tensor([[[-1.0, 0.0], [1.0, 0.0]]], dtype=torch.float64)
    L, _ = curve_length_energy(bump, Z)
    # measured: 1.1e-4 short (the refinement's per-segment tolerance); at 4 sub-segments
    # (the per-segment default) the bump is missed and the length reads 2.0, 30 % short
    assert abs(float(L[0]) / ref - 1) < 1e-3, (float(L[0]), ref)
    assert ref > 2.8


def test_fallback_measures_the_line_densely_where_its_nodes_do_not_decide():
    # Two detours around the wall (through z₂ = 2, where the wall has vanished; dense
    # length 6 and ≈ 6.8) against their straight segments, which cross the wall (dense
    # length 2 + 10 and 3 + 10). The first segment's 16 nodes straddle the wall and see
    # a flat chord of ≈ 2 < 6: only its dense length (≈ 12) shows the detour is shorter.
    # The second segment's nodes hit the wall's crest, so its node chords (≈ 13) already
    # exceed the detour and it is not measured densely (line_length NaN).
    def rectangle(x0, x1, n=16):
        corners = torch.tensor([[x0, 0.0], [x0, 2.0], [x1, 2.0], [x1, 0.0]], dtype=torch.float64)
        seg = (corners[1:] - corners[:-1]).norm(dim=-1)
        t = torch.linspace(0, float(seg.sum()), n, dtype=torch.float64)
        cum = torch.cat([torch.zeros(1, dtype=torch.float64), seg.cumsum(0)])
        k = torch.searchsorted(cum, t, right=True).clamp(1, 3) - 1
        w = ((t - cum[k]) / seg[k])[:, None]
        return corners[k] * (1 - w) + corners[k + 1] * w

    Z = torch.stack([rectangle(-1.0, 1.0), rectangle(-1.0, 2.0)])
    res = solve_geodesic(_wall, Z, max_iter=0)
    assert not res.fallback.any()
    np.testing.assert_allclose(res.length.numpy(), _dense(Z), rtol=1e-3)
    assert res.length[0] == pytest.approx(6.0, rel=1e-3)
    line = linear_curve(Z[:, 0], Z[:, -1], 16)
    assert curve_length(_wall, line[:1], 1).item() < 2.01  # the straddling nodes see no wall
    assert res.line_length[0].item() == pytest.approx(_dense(line[:1])[0], rel=1e-3)
    assert res.line_length[0].item() > 11.5
    assert curve_length(_wall, line[1:], 1).item() > res.length[1].item()
    assert torch.isnan(res.line_length[1])


def test_fallback_bounds_the_line_only_with_points_the_dense_measurement_samples():
    # A spike of φ at t = 1/16 along the segment (0,0)–(1,0), far narrower than the
    # dense measurement's sub-segments of a 20-node curve: the dense length of the
    # segment is ≈ 1. Chords at 17 equally spaced points would hit the spike (≈ 3 > the
    # solved curve's 1.2) and skip the dense measurement; the bound must use points the
    # dense measurement also samples (a subset of the nodes), so the segment is measured
    # and returned.
    from sk_geodesic.geometry.solvers import _fall_back_to_line

    def spike(z):
        return torch.cat([z, torch.exp(-(((z[..., :1] - 1 / 16) / 5e-4) ** 2))], -1)

    t = torch.linspace(0, 1, 17, dtype=torch.float64)
    assert curve_length(spike, torch.stack([t, 0 * t], -1)[None], 1).item() > 2.5
    Z = linear_curve(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([[1.0, 0.0]], dtype=torch.float64), 20)
    Z[:, 1:-1, 1] += 0.3  # some other curve between the same endpoints
    L, E = torch.tensor([1.2], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64)
    Zr, Lr, _, fb, L_line = _fall_back_to_line(spike, Z, L, E, None)
    assert bool(fb[0]) and Lr[0].item() == pytest.approx(1.0, abs=1e-6)
    assert L_line[0].item() == pytest.approx(1.0, abs=1e-6)


def test_reported_length_is_dense_on_a_relu_decoder():
    # A ReLU decoder makes φ kinked: its chord sums converge only to first order in the
    # sub-segment width (Richardson's O(h²) assumption fails), so a length taken at a few
    # sub-segments per segment is off by ~1e-3. The reported length must still be the
    # returned curve's length to 1e-3, judged by a float64 evaluation at 128 sub-segments
    # per segment (itself within ~2e-5 at this width).
    import copy

    torch.manual_seed(0)
    relu = torch.nn.Sequential(torch.nn.Linear(2, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 784), torch.nn.Sigmoid())
    m = PretrainedManifold(relu, latent_dim=2).fit()
    rng = np.random.RandomState(0)
    Z0, Z1 = 1.5 * rng.randn(6, 2), 1.5 * rng.randn(6, 2)
    p = Geodesic(manifold=m, init="linear").fit(m.inverse_transform(Z0)).path(Z0, Z1, latent=True)
    relu64 = copy.deepcopy(relu).double()
    with torch.no_grad():
        dense = curve_length(relu64, torch.as_tensor(p.latent, dtype=torch.float64), 128).numpy()
        chords = curve_length(relu64, torch.as_tensor(p.latent, dtype=torch.float64), 1).numpy()
    np.testing.assert_allclose(p.length, dense, rtol=1e-3)
    assert np.max(dense / chords - 1) > 2e-3  # the kinks are real: node chords would fail the check


def _flat_decoder():
    """Values about 1, changing by about 1e-4 per unit latent step: in float32 the chords
    of a dense sub-division approach the rounding error of φ."""
    g = torch.Generator().manual_seed(0)
    W = torch.randn(2, 300, generator=g, dtype=torch.float64)
    c = torch.rand(300, generator=g, dtype=torch.float64) + 0.5

    def flat(z):
        return c.to(z.dtype) + 1e-4 * torch.tanh(3 * z @ W.to(z.dtype))

    return flat


def test_float32_lengths_near_rounding_are_not_inflated_by_refinement():
    """Refining a segment whose chords are near φ's rounding error makes it *longer*
    (each chord gains about ν²/2Δ): before round 22 the dense length refined such
    segments to 512 sub-segments and reported these lengths 1.95-6.8x too long, and
    Geodesic, steered by those lengths, returned the straight lines (0.9999-1.0000 of
    them). Now refinement stops at the rounding level, and a warning says why float64 is
    needed for exact lengths."""
    from sk_geodesic.geometry import curve_length_energy
    from sk_geodesic.interpolation import Linear

    flat = _flat_decoder()
    X = np.zeros((1, 300))
    Z0, Z1 = np.random.RandomState(0).normal(size=(2, 6, 2))
    m64 = PretrainedManifold(flat, latent_dim=2, dtype="float64").fit()
    ref = Linear(manifold=m64).fit(X).length(Z0, Z1, latent=True)
    m32 = PretrainedManifold(flat, latent_dim=2).fit()
    with pytest.warns(RuntimeWarning, match="near the resolution of torch.float32"):
        L = Linear(manifold=m32).fit(X).length(Z0, Z1, latent=True)
    np.testing.assert_allclose(L, ref, rtol=1e-2)
    assert np.median(np.abs(L / ref - 1)) < 1e-3
    with pytest.warns(RuntimeWarning, match="near the resolution"):
        p = Geodesic(manifold=m32).fit(X).path(Z0, Z1, latent=True)
    dense64 = curve_length_energy(m64.embedding_map(), torch.as_tensor(p.latent, dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(p.length, dense64, rtol=3e-2)
    assert np.all(dense64 <= ref * (1 + 1e-6)) and np.mean(dense64 / ref) < 0.95  # the geodesics do shorten


def test_no_rounding_warning_where_lengths_are_resolved():
    import warnings

    from sk_geodesic.interpolation import Linear

    flat = _flat_decoder()
    Z0, Z1 = np.random.RandomState(0).normal(size=(2, 6, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        Linear(manifold=PretrainedManifold(flat, latent_dim=2, dtype="float64").fit()).fit(np.zeros((1, 300))).length(
            Z0, Z1, latent=True)
        def sphere(z):
            u, v = z[..., 0], z[..., 1]
            return torch.stack([u.cos() * v.cos(), u.sin() * v.cos(), v.sin()], -1)

        m = PretrainedManifold(sphere, latent_dim=2).fit()  # float32, lengths of order 1
        Linear(manifold=m).fit(np.zeros((1, 3))).length(Z0 * 0.3, Z1 * 0.3, latent=True)
        # zero-length pairs and repeated nodes: their chords are exactly 0, no rounding to warn about
        assert np.all(Linear(manifold=m).fit(np.zeros((1, 3))).length(Z0, Z0, latent=True) == 0)
        from sk_geodesic.geometry import curve_length_energy

        Zr = torch.as_tensor(np.stack([Z0[0], Z0[0], Z1[0]])[None] * 0.3)
        curve_length_energy(m.embedding_map(), Zr.float())
        Geodesic(manifold=m).fit(np.zeros((1, 3))).length(Z0 * 0.3, Z1 * 0.3, latent=True)
