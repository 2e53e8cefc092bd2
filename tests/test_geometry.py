import math

import numpy as np
import pytest
import torch

from sk_geodesic.geometry import (
    block_tridiagonal_solve,
    condition_number,
    curve_energy,
    curve_length,
    linear_curve,
    log_det_metric,
    magnification_factor,
    metric_tensor,
    reparametrize_constant_speed,
    resample,
    solve_energy,
)
from sk_geodesic.geometry.solvers import solve_energy_multilevel

from .conftest import great_circle, sphere_map


def _chart_points(n, seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g, dtype=torch.float64) * 2.0 - 1.0
    v = torch.rand(n, generator=g, dtype=torch.float64) * 2.0 - 1.0
    return torch.stack([u, v], -1)


def test_sphere_metric_closed_form():
    Z = _chart_points(50, 0)
    G = metric_tensor(sphere_map, Z)
    expected = torch.zeros_like(G)
    expected[:, 0, 0] = torch.cos(Z[:, 1]) ** 2
    expected[:, 1, 1] = 1.0
    torch.testing.assert_close(G, expected, atol=1e-12, rtol=0)


def test_sphere_scalar_diagnostics():
    Z = _chart_points(20, 1)
    cos_v = torch.cos(Z[:, 1])
    torch.testing.assert_close(log_det_metric(sphere_map, Z), 2 * torch.log(cos_v))
    torch.testing.assert_close(magnification_factor(sphere_map, Z), cos_v)
    torch.testing.assert_close(condition_number(sphere_map, Z), 1 / cos_v)


def test_discrete_length_converges_to_arc_length():
    # Latitude circle v = 0.5 from u = 0 to u = 2: arc length 2·cos(0.5).
    z0 = torch.tensor([[0.0, 0.5]], dtype=torch.float64)
    z1 = torch.tensor([[2.0, 0.5]], dtype=torch.float64)
    exact = 2.0 * math.cos(0.5)
    errors = []
    for n in (5, 17, 65, 257):
        L = curve_length(sphere_map, linear_curve(z0, z1, n)).item()
        errors.append(abs(L - exact))
    assert errors[-1] < 1e-5
    # second-order convergence: 4x the points, about 16x smaller error
    for a, b in zip(errors[:-1], errors[1:]):
        assert b < a / 10


def test_energy_length_inequality_and_constant_speed():
    z0, z1 = _chart_points(8, 2), _chart_points(8, 3)
    t = torch.linspace(0, 1, 40, dtype=torch.float64) ** 2  # uneven speed along a smooth curve
    Z = z0[:, None] + t[None, :, None] * (z1 - z0)[:, None]
    L, E = curve_length(sphere_map, Z), curve_energy(sphere_map, Z)
    assert torch.all(L**2 <= E + 1e-12)
    assert torch.all((E - L**2) / L**2 > 0.1)  # far from constant speed
    Zc = reparametrize_constant_speed(sphere_map, Z)
    Lc, Ec = curve_length(sphere_map, Zc), curve_energy(sphere_map, Zc)
    assert torch.all((Ec - Lc**2) / Lc**2 < 0.01)
    torch.testing.assert_close(Lc, L, rtol=1e-3, atol=0)


def test_resample_keeps_endpoints_and_line():
    Z = linear_curve(torch.zeros(2, 3), torch.ones(2, 3), 5)
    R = resample(Z, 9)
    torch.testing.assert_close(R, linear_curve(torch.zeros(2, 3), torch.ones(2, 3), 9))


@pytest.mark.parametrize("dense_limit", [0, 10_000])
def test_block_tridiagonal_solve_matches_dense(dense_limit):
    g = torch.Generator().manual_seed(0)
    B, m, d = 3, 6, 2
    M = torch.randn(B, m * d, m * d, generator=g, dtype=torch.float64)
    # make it block tridiagonal SPD: banded mask then MᵀM-like construction
    H = M @ M.transpose(-1, -2) + m * d * torch.eye(m * d, dtype=torch.float64)
    mask = torch.zeros(m, m, dtype=torch.bool)
    for k in range(m):
        mask[k, max(0, k - 1) : k + 2] = True
    H = H * mask.repeat_interleave(d, 0).repeat_interleave(d, 1)
    H = H + 4 * m * d * torch.eye(m * d, dtype=torch.float64)  # keep positive definite
    blocks = H.reshape(B, m, d, m, d).permute(0, 1, 3, 2, 4)
    diag = torch.stack([blocks[:, k, k] for k in range(m)], 1)
    lower = torch.stack([blocks[:, k + 1, k] for k in range(m - 1)], 1)
    rhs = torch.randn(B, m, d, generator=g, dtype=torch.float64)
    x = block_tridiagonal_solve(diag, lower, rhs, dense_limit=dense_limit)
    expected = torch.linalg.solve(H, rhs.reshape(B, m * d)).reshape(B, m, d)
    torch.testing.assert_close(x, expected)


@pytest.mark.parametrize("solver", [solve_energy, solve_energy_multilevel])
def test_solver_finds_great_circles(solver):
    z0, z1 = _chart_points(32, 4), _chart_points(32, 5)
    res = solver(sphere_map, linear_curve(z0, z1, 33), max_iter=200, tol=1e-10)
    assert bool(res.converged.all())
    L = curve_length(sphere_map, res.Z).numpy()
    gc = great_circle(z0, z1)
    assert np.max(np.abs(L - gc) / gc) < 1e-3
    L_lin = curve_length(sphere_map, linear_curve(z0, z1, 33)).numpy()
    assert np.all(L <= L_lin + 1e-9)
    # endpoints fixed
    torch.testing.assert_close(res.Z[:, 0], z0)
    torch.testing.assert_close(res.Z[:, -1], z1)


def test_solver_zero_length_for_identical_endpoints():
    z = _chart_points(3, 6)
    res = solve_energy(sphere_map, linear_curve(z, z, 10))
    assert bool(res.converged.all())
    assert float(curve_length(sphere_map, res.Z).abs().max()) == 0.0
