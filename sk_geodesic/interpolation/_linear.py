"""Straight latent interpolation, the baseline."""

from __future__ import annotations

import torch

from ._base import Interpolator


class Linear(Interpolator):
    """Straight-line interpolation in latent space: z(t) = (1 − t) z0 + t z1.

    Lengths are still measured on the manifold (under the embedding map φ), so
    ``Linear`` and :class:`Geodesic` lengths compare directly.

    Parameters
    ----------
    manifold : GenerativeManifold, FrozenEstimator or None, default=None
    n_points : int, default=35
    device : str, default="auto"
    batch_size : int, default=256
    n_jobs : int or None, default=None
    random_state : int, RandomState instance or None, default=None
    verbose : bool, default=False

    The remaining base parameters (``max_iter``, ``tol``, ``init``, ``n_neighbors``)
    are accepted for a uniform interface and ignored: a straight line needs no solver.

    Examples
    --------
    >>> import torch
    >>> from sk_geodesic.manifolds import PretrainedManifold
    >>> from sk_geodesic.interpolation import Linear
    >>> m = PretrainedManifold(torch.nn.Linear(2, 3), dtype="float64").fit()
    >>> interp = Linear(manifold=m, n_points=5).fit(m.sample(10, random_state=0)[0])
    >>> interp.path([0, 0, 0], [1, 1, 1]).latent.shape
    (1, 5, 2)
    """

    def __init__(
        self,
        manifold=None,
        n_points=35,
        max_iter=0,
        tol=0.0,
        init="linear",
        n_neighbors=10,
        device="auto",
        batch_size=256,
        n_jobs=None,
        random_state=None,
        verbose=False,
    ):
        self.manifold = manifold
        self.n_points = n_points
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.n_neighbors = n_neighbors
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _initial_curves(self, Z0, Z1):
        from ..geometry import linear_curve

        t0 = torch.as_tensor(Z0, dtype=self.dtype_, device=self.device_)
        t1 = torch.as_tensor(Z1, dtype=self.dtype_, device=self.device_)
        return linear_curve(t0, t1, self.n_points)

    def _solve(self, Z):
        B = Z.shape[0]
        return Z, torch.ones(B, dtype=torch.bool), torch.zeros(B, dtype=torch.long)

    def fit(self, X, y=None):
        # a straight line never needs the graph
        super().fit(X, y)
        self.graph_ = None
        return self
