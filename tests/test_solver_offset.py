"""The solver's stopping tests must not depend on the objective's offset.

Adding a constant to the point penalty (equivalently, to log p in the density
regularised geodesic) shifts the objective but not its minimiser; a negative
objective is as legitimate as a positive one.
"""

import math

import numpy as np
import torch

from sk_geodesic.geometry import linear_curve
from sk_geodesic.geometry.solvers import solve_energy
from sk_geodesic.interpolation import DensityRegularizedGeodesic
from sk_geodesic.manifolds import PretrainedManifold


def _sheet(z):
    return torch.cat([z, 0.5 * torch.tanh(z[..., :1] * z[..., 1:2])], -1)


def _bump_penalty(shift):
    # a penalty that pushes the curve away from the origin, shifted by a constant
    def h(z):
        return 3.0 * torch.exp(-z.pow(2).sum(-1) / 0.5) + shift

    return h


def test_solve_energy_penalty_offset_invariant_and_negative_objective_iterates():
    z0 = torch.tensor([[-1.5, 0.1], [-1.2, -0.3]], dtype=torch.float64)
    z1 = -z0
    Z = linear_curve(z0, z1, 17)
    results = {s: solve_energy(_sheet, Z, max_iter=200, tol=1e-10, point_penalty=_bump_penalty(s), penalty_weight=0.05)
               for s in (0.0, 500.0, -500.0)}
    ref = results[0.0]
    # the shifted objective with s = -500 is negative throughout: it must still iterate
    assert bool((results[-500.0].objective < 0).all())
    for s, res in results.items():
        assert bool((res.n_iter > 3).all()), (s, res.n_iter)
        # the bump moves the curve off the straight line (by far more than the tolerance)
        assert float((res.Z - Z).abs().max()) > 0.1
        np.testing.assert_allclose(res.Z.numpy(), ref.Z.numpy(), atol=1e-6)


def _ring_log_density(z):
    r = z.pow(2).sum(-1).add(1e-12).sqrt()
    return -0.5 * ((r - 1.0) / 0.2).pow(2) - math.log(2 * math.pi * 0.2 * math.sqrt(2 * math.pi))


def test_density_regularized_path_unchanged_by_constant_in_log_density():
    m = PretrainedManifold(lambda z: torch.cat([z, 0.3 * torch.tanh(z[..., :1] * z[..., 1:2])], -1),
                           latent_dim=2, dtype="float64").fit()
    ang = np.random.RandomState(1).uniform(0, 2 * np.pi, 6)
    Z0 = np.c_[np.cos(ang), np.sin(ang)]
    Z1 = -Z0
    paths = {}
    for c in (0.0, 100.0, -100.0):
        ld = (lambda c: lambda z: _ring_log_density(z) + c)(c)
        # converged tightly, so that what differs is the offset, not where each run stopped
        est = DensityRegularizedGeodesic(manifold=m, mu=0.03, log_density=ld, tol=1e-10, max_iter=300)
        est.fit(m.inverse_transform(Z0))
        paths[c] = est.path(Z0, Z1, latent=True)
    lin = linear_curve(torch.as_tensor(Z0), torch.as_tensor(Z1), paths[0.0].latent.shape[1]).numpy()
    for c, p in paths.items():
        # the hole at the origin has low density: the path must leave the straight line
        assert np.abs(p.latent - lin).max() > 0.2, c
        np.testing.assert_allclose(p.latent, paths[0.0].latent, atol=1e-4)  # measured: ≤ 1.4e-5
