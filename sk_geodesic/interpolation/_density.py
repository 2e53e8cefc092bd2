"""Geodesics regularised by the data-space density (Kim & Zhang 2019)."""

from __future__ import annotations

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._utils import place_module
from ..geometry import curve_length, linear_curve, resample
from ..geometry.density import (
    RegularizedCurveObjective,
    data_space_penalty,
    latent_space_penalty,
    minimize_curves_lbfgs,
)
from ..geometry.solvers import solve_geodesic
from ._base import Interpolator

__all__ = ["DensityRegularizedGeodesic", "data_space_penalty"]


class DensityRegularizedGeodesic(Interpolator):
    """Geodesic with a density regulariser: paths avoid low-density regions.

    Kim & Zhang (2019) add to the curve energy the integrated negative log of the
    data-space density, h(z) = −log p(x(z)) = −log p(z) + ½ log det G(z):
    L(z; μ) = E(z) + μ ∫ h dt. This class minimises, per pair of endpoints,

    .. math::

        F(Z) = \\tfrac12 \\frac{E_s(\\tilde\\varphi; Z)}{L_0^2}
               + \\mu\\,(n-2)\\, S_\\tau[h](Z),
        \\qquad
        S_\\tau[h] = \\tau \\log \\frac{1}{N-2} \\sum_{j=1}^{N-2} e^{h(p_j)/\\tau},

    where the p_j are the N = (n − 1)·``subdivisions`` + 1 points of the
    piecewise-linear latent curve with ``subdivisions`` − 1 points inserted in each of
    its n − 1 segments, and

    * E_s is the energy (N − 1) Σ_j ‖φ̃(p_{j+1}) − φ̃(p_j)‖² of that sub-divided curve,
      divided by the squared φ-length L₀ of the straight latent segment: at constant
      speed ½E_s/L₀² = ½(L/L₀)², the *relative* length, so μ means the same on any model
      whatever the scale of φ. The embedding is lifted by the density,
      φ̃ = (φ, κ h) with κ = L₀ √(μ(n − 2)) / ``density_scale`` (≈ L₀ / 5 at the
      defaults with μ = 0.1): a change of that many nats along the curve counts as much
      as the straight segment's length, and the lift vanishes with μ. The energy then
      spaces the nodes evenly in this lifted length, so nodes follow the curve through
      every density dip and no segment steps over one (``density_scale=None``: φ alone);
    * S_τ is a soft maximum of h over the interior sub-points (between their mean,
      τ → ∞, and their maximum, τ → 0): the regulariser weighs the least dense stretch
      of the path, which a sum can trade away against dense stretches elsewhere.

    **What differs from the paper.** With ``temperature=None`` S_τ is the mean of h over
    the sub-points, so μ(n − 2)S_τ ≈ μ Σ_k h(z_k) over the n − 2 interior nodes: the
    balance of the paper's Algorithm 1 (one −μ∇h(z_k) step per node, μ ∈ [0.003, 0.1]
    with 35 points), with the length measured relative to L₀ rather than in the units of
    φ. The default τ = 1 nat targets the worst point instead of the average; the penalty
    sees the sub-points between nodes; the energy is lifted by κh; and the solver is a
    batched L-BFGS on F (the paper's fixed-step metric-preconditioned updates converge
    far more slowly), coarse to fine, started from the geodesic (μ = 0) by default. A
    pair whose straight line has a lower F than the solved curve gets the straight line.
    ``density="latent"`` replaces h by −log p(z) (the latent density alone). ``mu=0``
    gives exactly :class:`Geodesic`'s solver.

    Parameters
    ----------
    manifold : GenerativeManifold, FrozenEstimator or None, default=None
    mu : float, default=0.01
        Regulariser weight μ ≥ 0 (per interior node, relative to the straight line's
        length; 0.01–0.1 are useful).
    log_density : callable or None, default=None
        Latent log-density log p(z), a differentiable Torch callable
        ``(N, d) -> (N,)``. ``None`` uses the manifold's (the prior of a GAN, the
        aggregate posterior of a VAE).
    density : {"data", "latent"}, default="data"
        h = −log p(x) = −log p(z) + ½ log det G (the paper's), or h = −log p(z).
    temperature : float or None, default=1.0
        τ of the soft maximum, in nats; ``None``: the mean of h (the paper's integral).
    subdivisions : int, default=4
        Sub-segments per latent segment at which the energy and h are evaluated.
    density_scale : float or None, default=9.0
        s_h in κ = L₀ √(μ(n − 2)) / s_h, the lift of the energy (at μ = 0.1 with 35
        points, κ ≈ L₀ / 5: a change of 5 nats in h counts like the straight segment's
        length); ``None`` disables the lift.
    geodesic_start : bool, default=True
        Solve the geodesic (μ = 0) from the initial curve first and start there (the
        regularised objective is not convex; the geodesic is usually the better start).
    n_points : int, default=35
    max_iter : int, default=100
        L-BFGS iterations per pair and level.
    tol : float, default=1e-5
        Relative decrease of F (in units of its energy part) below which a pair has
        converged (twice in a row).
    init : {"linear", "graph"}, default="linear"
    n_neighbors : int, default=10
    coarse_to_fine : bool, default=True
        Solve on coarser curves (9, 18, … points) first.
    device : str, default="auto"
    batch_size : int, default=256
    n_jobs : int or None, default=None
    random_state : int, RandomState instance or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    manifold_ : GenerativeManifold
    latent_dim_ : int
    graph_ : LatentGraph or None
    n_features_in_ : int

    See Also
    --------
    Geodesic : the unregularised (μ = 0) method.
    sk_geodesic.metrics.path_log_density : log p(x) or log p(z) along paths.

    Examples
    --------
    >>> import torch
    >>> from sk_geodesic.manifolds import PretrainedManifold
    >>> from sk_geodesic.geometry import StandardNormalLogDensity
    >>> from sk_geodesic.interpolation import DensityRegularizedGeodesic
    >>> f = lambda z: torch.cat([z, 0.1 * z.pow(2).sum(-1, keepdim=True)], -1)
    >>> m = PretrainedManifold(f, latent_dim=2, log_density=StandardNormalLogDensity(),
    ...                        dtype="float64").fit()
    >>> reg = DensityRegularizedGeodesic(manifold=m, mu=0.05).fit(m.sample(5, random_state=0)[0])
    >>> p = reg.path([-2.0, 0.0], [2.0, 0.0], latent=True)
    >>> p.latent.shape
    (1, 35, 2)
    """

    _parameter_constraints: dict = {
        **Interpolator._parameter_constraints,
        "mu": [Interval(Real, 0, None, closed="left")],
        "log_density": [None, callable],
        "density": [StrOptions({"data", "latent"})],
        "temperature": [None, Interval(Real, 0, None, closed="neither")],
        "subdivisions": [Interval(Integral, 1, None, closed="left")],
        "density_scale": [None, Interval(Real, 0, None, closed="neither")],
        "geodesic_start": ["boolean"],
        "coarse_to_fine": ["boolean"],
    }
    _requires_log_density = True

    def __init__(
        self,
        manifold=None,
        mu=0.01,
        log_density=None,
        density="data",
        temperature=1.0,
        subdivisions=4,
        density_scale=9.0,
        geodesic_start=True,
        n_points=35,
        max_iter=100,
        tol=1e-5,
        init="linear",
        n_neighbors=10,
        coarse_to_fine=True,
        device="auto",
        batch_size=256,
        n_jobs=None,
        random_state=None,
        verbose=False,
    ):
        self.manifold = manifold
        self.mu = mu
        self.log_density = log_density
        self.density = density
        self.temperature = temperature
        self.subdivisions = subdivisions
        self.density_scale = density_scale
        self.geodesic_start = geodesic_start
        self.n_points = n_points
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.n_neighbors = n_neighbors
        self.coarse_to_fine = coarse_to_fine
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _needs_manifold_density(self):
        return self.log_density is None

    def _latent_log_density(self):
        if self.log_density is None:
            return self._geometry.latent_log_density()
        return place_module(self.log_density, self.device_, self.dtype_)

    def _penalty(self, embed):
        """h as a Torch callable ``(N, d) -> (N,)``."""
        if self.density == "latent":
            return latent_space_penalty(self._latent_log_density())
        return data_space_penalty(embed, self._latent_log_density())

    def _solve(self, Z):
        embed = self._geometry.embedding_map()
        if self.mu == 0:  # the geodesic solver itself (solve_geodesic's default subdivisions=2)
            res = solve_geodesic(embed, Z, max_iter=self.max_iter, tol=self.tol, coarse_to_fine=self.coarse_to_fine)
            return res.Z, res.converged, res.n_iter, dict(length=res.length, energy=res.energy, fallback=res.fallback)
        h = self._penalty(embed)
        B, n, d = Z.shape
        line = linear_curve(Z[:, 0], Z[:, -1], n)
        s = int(self.subdivisions)
        with torch.no_grad():
            L0 = curve_length(embed, line, subdivisions=s).clamp_min(torch.finfo(Z.dtype).eps)
        # the lift weighs density changes like μ weighs h: it vanishes as μ → 0 (Geodesic)
        w = self.mu * max(n - 2, 1)
        kappa = None if self.density_scale is None else L0 * w**0.5 / float(self.density_scale)
        obj = RegularizedCurveObjective(
            embed, h, Z[:, 0], Z[:, -1], mu=w, temperature=self.temperature,
            subdivisions=s, L0=L0, kappa=kappa,
        )
        if self.geodesic_start and n > 2:
            Z = solve_geodesic(embed, Z, max_iter=self.max_iter, coarse_to_fine=self.coarse_to_fine).Z
        sizes = [n]
        if self.coarse_to_fine:
            while (sizes[-1] - 1) // 2 + 1 >= 9:
                sizes.append((sizes[-1] - 1) // 2 + 1)
        sizes = sizes[::-1]
        cur = resample(Z, sizes[0])
        total = torch.zeros(B, dtype=torch.long, device=Z.device)
        conv = torch.ones(B, dtype=torch.bool, device=Z.device)
        F = None
        for level, m in enumerate(sizes):
            cur = resample(cur, m)
            last = level == len(sizes) - 1
            if m <= 2:
                break
            cur, F, conv, it = minimize_curves_lbfgs(
                obj, cur, max_iter=self.max_iter, tol=self.tol if last else max(self.tol, 1e-3)
            )
            total += it
        if F is not None:
            cur, conv = self._prefer_line(obj, cur, F, line, conv)
        return cur, conv, total

    @staticmethod
    def _prefer_line(obj, Z, F, line, converged):
        """The straight line wherever it scores a lower F than the solved curve."""
        F_line, _ = obj.value(line[:, 1:-1], torch.arange(len(Z), device=Z.device))
        better = F_line < F
        return torch.where(better[:, None, None], line, Z), converged | better
