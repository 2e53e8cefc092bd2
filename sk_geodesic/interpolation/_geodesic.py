"""Shortest paths under the pullback metric."""

from __future__ import annotations

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..geometry.graph import LatentGraph
from ..geometry.solvers import MAX_POINTS, NEWTON_AFTER, RESOLUTION_TOL, solve_geodesic, solve_geodesic_multistart
from .._utils import honour_threads
from ._base import Interpolator

#: ``Geodesic(tol="auto")`` under a decoder's mean metric (φ without σ).
AUTO_TOL_MEAN_METRIC = 1e-3

#: ``Geodesic(tol="auto")`` where φ carries the decoder's σ (the expected metric).
AUTO_TOL_WITH_VARIANCE = 1e-4

#: The second start of ``multi_start`` is the shortest path of a kNN graph with this
#: many times ``n_neighbors`` neighbours (over the same codes).
MULTISTART_NEIGHBOR_FACTOR = 3


class Geodesic(Interpolator):
    """Geodesic interpolation: the discrete curve of least energy under φ.

    The returned curve is piecewise linear in latent space through ``n_points``
    nodes. The solver (:func:`sk_geodesic.geometry.solve_geodesic`) minimises the
    energy of that whole curve, each latent segment sampled at ``subdivisions``
    sub-segments, with a batched, damped Gauss–Newton method: every pair of a batch is
    one block-tridiagonal system in the nodes, with its own damping and stopping test.
    Minimisers of the energy are constant-speed geodesics, so the nodes are evenly
    spaced on the manifold.

    Reported lengths (``Path.length``, :meth:`length`, :meth:`pairwise_distances`) are
    those of the returned curve measured densely: 2 sub-segments per latent segment,
    Richardson-extrapolated with the node chords, and segments where φ is too steep for
    that (a wall of decoder variance, a kink of a ReLU decoder) measured again 4×, 16×,
    … finer (on the benchmark's decoders within 3.1e-6 of a float64 evaluation at ≥ 512
    sub-segments for smooth φ, about 1e-4 for ReLU decoders).
    A curve that comes out densely longer than the straight latent segment is replaced
    by the straight segment (``Path.fallback`` says where), so no returned curve is
    longer than the straight line.

    Parameters
    ----------
    manifold : GenerativeManifold, FrozenEstimator or None, default=None
    n_points : int, default=65
        Nodes of the returned latent polyline. The polyline's own discretisation error
        is O(1/n²): on the unit sphere, 65 nodes stay within 1e-5 of the great circle
        (35 nodes: 3e-5). With ``resolution_tol`` a smooth curve is usually *solved* on
        17 nodes and returned as their cubic refinement to ``n_points`` nodes, so more
        nodes cost little beyond the dense length measurement.
    max_iter : int, default=100
    tol : "auto" or float, default="auto"
        A pair has converged when a Gauss–Newton step at the finest level lowers its
        (sub-divided) energy by less than ``tol`` relative (coarser levels stop at
        ``max(tol, 1e-3)``). ``"auto"``: 1e-3 when the manifold's φ is the decoder mean
        alone, 1e-4 when it carries the decoder's σ
        (:meth:`~sk_geodesic.manifolds.GenerativeManifold.metric_has_variance`); the
        value used is ``tol_``. Measured on the bench's MNIST decoders (64 pairs, one
        thread, :ref:`benchmarks`): under a mean metric the last iterations of the
        finest level mostly re-space nodes along a settled curve, and 1e-3 instead of
        1e-4 made ReLU decoders 1.25-1.7x faster with mean length ratios 1e-5-1.6e-4
        higher (one pair 2e-3 longer: there Gauss–Newton crawls while nodes cross the
        decoder's kinks), and left smooth decoders' lengths unchanged (time within
        run-to-run noise); under the expected metric the finest level still shortens
        curves across σ walls, and 1e-3 left the 8-D decoder's curves 0.2 % long on
        average (1e-4: 0.02 %).
    respace_tol : "auto", float or None, default=None
        At the finest level, once two consecutive steps each change a pair's length (the
        chords at the energy's sample points) by at most ``respace_tol`` relative while
        its energy falls by at most 10 × ``respace_tol``, its nodes are moved along the
        curve to equal steps of that length, on the cubic through the nodes (kept where
        that lowers the energy; the stopping test is unchanged). Near a minimum the nodes
        otherwise re-space slowly along a curve whose length has settled: on the
        benchmark's 2-D MNIST decoder under the expected metric one pair took 52
        iterations of which the last 50 changed its length by < 3e-4 in all. There,
        ``respace_tol="auto"`` (= ``tol_``) cut the finest level's iterations from 12.1
        to 6.9 per pair (16 pairs), but end to end (64 pairs, three pair sets, one
        thread) the time moved by -15 % / -15 % / +12 %, within what the basin choices
        and the machine move it, and the 8-D decoders gained 2 % (:ref:`benchmarks`);
        so it is off by default. ``None``: never re-space.
    init : {"auto", "linear", "graph"}, default="auto"
        ``"graph"`` starts from the shortest path of a kNN graph over the encoded
        training data, which helps when straight segments cross empty regions;
        ``"auto"`` builds that graph (over at most 2000 codes, when the manifold has
        codes or an encoder) and starts each pair from the shorter of its graph path
        and its straight segment; ``"linear"`` always starts from the straight segment.
        A pair's graph path joins its end points to the graph by edges into and out of
        the graph only, so it never runs through another pair's end point: a pair starts
        from the same curve alone as in any batch.
    n_neighbors : int, default=10
    coarse_to_fine : bool, default=True
        Solve on a coarse curve first and double its resolution up to ``n_points``
        (each level starts from the cubic refinement of the previous one); usually 2-3x
        fewer decoder passes.
    subdivisions : int, default=1
        Sub-segments per latent segment in the minimised energy (1: the node energy;
        65 nodes sample φ as densely as 35 nodes at 2 sub-segments, at the same cost
        per iteration, with a 4× smaller polyline error). Whatever the value, a pair
        whose returned curve is densely longer than the energy's samples see (a ridge
        of φ stepped over between them) is solved again with twice the sub-division,
        up to 8.
    second_order : bool or "variance", default=True
        At the finest level, pairs not converged after
        :data:`~sk_geodesic.geometry.solvers.NEWTON_AFTER` Gauss–Newton iterations
        switch to Newton steps with the energy's exact Hessian (Gauss–Newton blocks
        plus the curvature of φ, from one forward-over-reverse pass). Gauss–Newton alone
        converges only linearly where φ bends sharply (a steep decoder variance) and
        stops short of the optimum; ``False`` keeps it, for embeddings ``torch.func``
        cannot differentiate twice. ``"variance"``: where the manifold names the σ part
        of φ = [μ, σ] (:meth:`~sk_geodesic.manifolds.GenerativeManifold.variance_map`),
        the curvature term is σ's alone (σ's walls are what Gauss–Newton cannot follow;
        the decoder mean, the larger network, then needs no second derivatives),
        elsewhere as ``True``. Measured under the expected metric at 16 and 64 pairs:
        7-23 % less time, mean lengths 0-2e-4 longer, the worst pair of 64 on a ReLU
        decoder 1.7 % above the reference instead of 0.8 % (see :ref:`benchmarks`);
        hence not the default. It pays most where the decoder is expensive to
        differentiate twice.
    multi_start : "auto" or bool, default="auto"
        With a graph start (``init="auto"`` or ``"graph"``), also start every pair from
        the shortest path of a kNN graph with 3 × ``n_neighbors`` neighbours over the
        same codes; both starts are solved to 17 nodes and the one densely shorter
        there is refined, at twice ``subdivisions`` (where starts are compared, φ has
        walls, and a solve at ``subdivisions`` mostly tunnels and is solved again).
        Where the decoder variance is steep, the energy has several
        basins and the two graphs lead into different ones: on the benchmark's MNIST
        decoders under the expected metric (64 pairs) the mean excess over the
        reference length fell from 0.97 % to 0.20 % (2-D) and from 0.70 % to 0.41 %
        (8-D). Under a decoder's mean metric the second start never gave a shorter
        curve (0 of 69 pairs whose starts differed, on four decoders: tanh, softplus
        and two ReLU MLPs) and cost up to 49 % more time. ``"auto"``: two starts when
        the manifold's φ carries the decoder's σ
        (:meth:`~sk_geodesic.manifolds.GenerativeManifold.metric_has_variance`: the
        package's ``VAE`` unless its σ is constant, a ``PretrainedManifold`` with
        ``std_network``), one
        otherwise.
    resolution_tol : float or None, default=3e-4
        Stop refining a curve once its resolution suffices (with ``coarse_to_fine``):
        when a level after the coarsest (9 nodes) lowers the energy of its start -- the
        cubic refinement of the coarser solution -- by at most this fraction, that
        solution already resolved the geodesic, and the curve returned is this level's
        solution cubically refined (:func:`~sk_geodesic.geometry.refine_cubic`)
        to ``n_points`` nodes. Its length is still measured densely, as every reported
        length. The cubic refinement of a resolved curve puts the new nodes on the
        smooth geodesic to O(h⁴), where solving at the finer level would move them by
        less than the tolerance. On the unit sphere every pair stops at 17 nodes with
        the 65-node accuracy (within 1e-5 of the great circle) at a quarter of the
        Jacobian evaluations; on the benchmark's MNIST decoders under the mean metric
        most pairs stop at 17 or 33 nodes, within 1e-5 of the full solve on average;
        curves that coarse levels cannot follow (σ walls of an expected metric, kinks of
        a ReLU decoder) are moved by every level and solved to ``n_points`` as without
        it (:ref:`benchmarks`). ``None`` solves every level.
    max_points : int or None, default=257
        The most nodes a curve is solved at (with ``coarse_to_fine`` and
        ``resolution_tol``): a pair whose curve the level of ``n_points`` nodes still
        shortened by more than ``resolution_tol`` relative is not resolved by that many
        nodes, and is solved again at 2·n_points − 1 nodes, then 4·n_points − 3, …, up to
        ``max_points``, until a level shortens it by at most ``resolution_tol``. A latent
        polyline is longer than the geodesic it approximates by O(1/n²), with a constant
        set by how sharply the geodesic turns in latent space: under the mean metric of
        the benchmark's MNIST decoders 65 nodes are within 1e-5 of finer polylines and no
        pair goes further, but under an expected metric with a steep σ, where geodesics
        bend around its walls, 65-node curves measured 0.6 % (2-D latent) and 1.0 % (8-D,
        up to 3.4 %) longer than 257-node ones, which cost 1.3x and 2.7x the time
        (16 pairs, one thread; :ref:`benchmarks`). The returned polylines then have more
        than ``n_points`` nodes: all pairs of a call get the largest number any of them
        reached (the others cubically refined). ``None``: ``n_points`` nodes always.
    device : str, default="auto"
    batch_size : int, default=256
    n_jobs : int or None, default=None
    random_state : int, RandomState instance or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    manifold_ : GenerativeManifold
        The fitted manifold (the given one when it was already fitted).
    latent_dim_ : int
    graph_ : LatentGraph or None
        The kNN graph used by ``init="graph"``.
    dense_graph_ : LatentGraph or None
        The graph of the second start (``None`` with one start per pair).
    tol_ : float
        The convergence tolerance in use (``tol``, or what ``"auto"`` picks).
    n_features_in_ : int

    Examples
    --------
    >>> import math, torch
    >>> from sk_geodesic.manifolds import PretrainedManifold
    >>> from sk_geodesic.interpolation import Geodesic
    >>> def sphere(z):
    ...     u, v = z[..., 0], z[..., 1]
    ...     return torch.stack([u.cos() * v.cos(), u.sin() * v.cos(), v.sin()], -1)
    >>> m = PretrainedManifold(sphere, latent_dim=2, dtype="float64").fit()
    >>> geo = Geodesic(manifold=m).fit(m.sample(5, random_state=0)[0])
    >>> p = geo.path([0.0, 0.5], [2.0, 0.5], latent=True)
    >>> round(float(p.length[0]), 3)  # the great-circle distance is 1.662
    1.662
    """

    _parameter_constraints: dict = {
        **Interpolator._parameter_constraints,
        "tol": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "coarse_to_fine": ["boolean"],
        "subdivisions": [Interval(Integral, 1, None, closed="left")],
        "second_order": ["boolean", StrOptions({"variance"})],
        "multi_start": [StrOptions({"auto"}), "boolean"],
        "resolution_tol": [None, Interval(Real, 0, None, closed="left")],
        "respace_tol": [StrOptions({"auto"}), None, Interval(Real, 0, None, closed="left")],
        "max_points": [None, Interval(Integral, 2, None, closed="left")],
    }

    def __init__(
        self,
        manifold=None,
        n_points=65,
        max_iter=100,
        tol="auto",
        init="auto",
        n_neighbors=10,
        coarse_to_fine=True,
        subdivisions=1,
        second_order=True,
        multi_start="auto",
        resolution_tol=RESOLUTION_TOL,
        respace_tol=None,
        max_points=MAX_POINTS,
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
        self.coarse_to_fine = coarse_to_fine
        self.subdivisions = subdivisions
        self.second_order = second_order
        self.multi_start = multi_start
        self.resolution_tol = resolution_tol
        self.respace_tol = respace_tol
        self.max_points = max_points
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def __setstate__(self, state):
        # pickled before resolution_tol / respace_tol existed: solved as it was then
        state.setdefault("resolution_tol", None)
        state.setdefault("respace_tol", None)
        state.setdefault("max_points", None)
        super().__setstate__(state)

    @honour_threads
    def fit(self, X, y=None):
        super().fit(X, y)
        self.dense_graph_ = None
        g = self.graph_
        if self._uses_two_starts() and self.coarse_to_fine and g is not None:
            k = min(MULTISTART_NEIGHBOR_FACTOR * self.n_neighbors, len(g.nodes) - 1)
            if k > self.n_neighbors:
                self.dense_graph_ = LatentGraph(
                    self._geometry.embedding_map(), g.nodes, n_neighbors=k, dtype=self.dtype_, device=self.device_
                )
        return self

    @property
    def tol_(self):
        """The convergence tolerance in use: ``tol``, or what ``"auto"`` picks for the
        fitted manifold (read when the solver runs, so ``set_params(tol=...)`` applies at
        once, as ``max_iter`` does)."""
        check_is_fitted(self)
        if isinstance(self.tol, str):  # "auto"
            return AUTO_TOL_WITH_VARIANCE if self._metric_has_variance() else AUTO_TOL_MEAN_METRIC
        return float(self.tol)

    def _metric_has_variance(self):
        # a manifold without the method is treated as having walls (the careful choice)
        has_variance = getattr(self._geometry, "metric_has_variance", None)
        return bool(has_variance()) if has_variance is not None else True

    def _curvature_part(self):
        # Newton steps take σ's curvature only where the manifold names its σ (see
        # GenerativeManifold.variance_map); otherwise that of all of φ
        variance_map = getattr(self._geometry, "variance_map", None)
        return variance_map() if variance_map is not None else None

    def _uses_two_starts(self):
        if isinstance(self.multi_start, str):  # "auto"
            return self._metric_has_variance()
        return bool(self.multi_start)

    def _initial_curves(self, Z0, Z1):
        """(B, n, d) initial curves, or (2, B, n, d): the two starts of ``multi_start``."""
        if getattr(self, "dense_graph_", None) is None:
            return super()._initial_curves(Z0, Z1)
        return torch.stack(self._graph_starts(Z0, Z1, [self.graph_, self.dense_graph_]))

    def _solve(self, Z):
        tol = self.tol_
        kw = dict(max_iter=self.max_iter, tol=tol, subdivisions=self.subdivisions,
                  newton_after=NEWTON_AFTER if self.second_order else None, resolution_tol=self.resolution_tol,
                  respace_tol=tol if self.respace_tol == "auto" else self.respace_tol,
                  curvature_part=self._curvature_part() if self.second_order == "variance" else None)
        if self.max_points is not None and self.max_points > self.n_points:
            kw["max_points"] = self.max_points
        if Z.ndim == 4:
            res = solve_geodesic_multistart(self._geometry.embedding_map(), Z, **kw)
        else:
            res = solve_geodesic(self._geometry.embedding_map(), Z, coarse_to_fine=self.coarse_to_fine, **kw)
        info = dict(length=res.length, energy=res.energy, fallback=res.fallback, n_solved=res.n_solved,
                    last_gain=res.last_gain)
        return res.Z, res.converged, res.n_iter, info
