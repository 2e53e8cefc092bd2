"""k-medoids clustering under the path length of an interpolator."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, clone

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._utils import honour_threads
from ..geometry.graph import (
    DisconnectedGraphError,
    LatentGraph,
    multi_source_distances,
    query_distances,
)


class _GraphDistances:
    """Distances between training points on the kNN graph; rows cached per source."""

    def __init__(self, A, n_jobs):
        self.A, self.n_jobs = A, n_jobs
        self.cache = {}

    def rows(self, idx):
        idx = np.asarray(idx, dtype=np.intp)
        missing = np.array(sorted({int(i) for i in idx} - self.cache.keys()), dtype=np.intp)
        if len(missing):
            # float32 rows: the cache can grow to all pairs (N x N) on large data
            D = multi_source_distances(self.A, missing, n_jobs=self.n_jobs, dtype=np.float32)
            for i, row in zip(missing, D):
                self.cache[int(i)] = row
        if not len(idx):
            return np.zeros((0, self.A.shape[0]))
        return np.vstack([self.cache[int(i)] for i in idx]).astype(np.float64)

    def between(self, a, b):
        return self.rows(a)[:, np.asarray(b, dtype=np.intp)]

    def full(self):
        """All-pairs graph distances (float32, the memory of n² floats)."""
        D = multi_source_distances(self.A, np.arange(self.A.shape[0]), n_jobs=self.n_jobs, dtype=np.float32)
        np.fill_diagonal(D, 0.0)
        return D


class _MatrixDistances:
    """Distances read off a precomputed square matrix (the FasterPAM path)."""

    def __init__(self, D):
        self.D = D

    def rows(self, idx):
        return np.asarray(self.D[np.asarray(idx, dtype=np.intp)], dtype=np.float64)

    def between(self, a, b):
        return self.rows(a)[:, np.asarray(b, dtype=np.intp)]


class _PathDistances:
    """Interpolator path lengths between training points; medoid rows cached."""

    def __init__(self, interp, Z):
        self.interp, self.Z = interp, Z
        self.cache = {}

    def rows(self, idx):
        idx = np.asarray(idx, dtype=np.intp)
        missing = [int(i) for i in dict.fromkeys(idx.tolist()) if int(i) not in self.cache]
        if missing:
            D = self.interp.pairwise_distances(self.Z[missing], self.Z, latent=True)
            for i, row in zip(missing, D):
                row = row.copy()
                row[i] = 0.0
                self.cache[i] = row
        return np.vstack([self.cache[int(i)] for i in idx]) if len(idx) else np.zeros((0, len(self.Z)))

    def between(self, a, b):
        a, b = np.asarray(a, dtype=np.intp), np.asarray(b, dtype=np.intp)
        if all(int(i) in self.cache for i in a):
            return self.rows(a)[:, b]
        D = self.interp.pairwise_distances(self.Z[a], self.Z[b], latent=True)
        D[a[:, None] == b[None, :]] = 0.0
        return D

    def full(self):
        """All pairs i < j of path lengths (n(n−1)/2 paths), symmetric, zero diagonal."""
        return np.asarray(self.interp.pairwise_distances(self.Z, latent=True), dtype=np.float64)


class _SubsetDistances:
    """The distances of ``dist`` restricted to the training points ``idx`` (renumbered 0..m-1)."""

    def __init__(self, dist, idx):
        self.dist, self.idx = dist, np.asarray(idx, dtype=np.intp)
        if hasattr(dist, "D"):
            self.D = np.ascontiguousarray(dist.D[np.ix_(self.idx, self.idx)])

    def rows(self, idx):
        return self.dist.rows(self.idx[np.asarray(idx, dtype=np.intp)])[:, self.idx]

    def between(self, a, b):
        return self.dist.between(self.idx[np.asarray(a, dtype=np.intp)], self.idx[np.asarray(b, dtype=np.intp)])


class _PowerRoot:
    """Wraps graph distances (power-weighted path costs) and returns their p-th root."""

    def __init__(self, dist, p):
        self.dist, self.p = dist, float(p)
        self.A = dist.A

    def rows(self, idx):
        return self.dist.rows(idx) ** (1.0 / self.p)

    def between(self, a, b):
        return self.dist.between(a, b) ** (1.0 / self.p)

    def full(self):
        D = self.dist.full()
        return np.power(D, np.float32(1.0 / self.p), out=D)


def _on_codes(fn, Z, interp, chunk):
    """A Torch callable ``(N, d) -> (N,)`` over the codes ``Z``, ``chunk`` rows at a time,
    on the interpolator's device and dtype: a float64 NumPy array."""
    import torch

    vals = [fn(torch.as_tensor(Z[i : i + chunk], dtype=interp.dtype_, device=interp.device_)).detach().cpu().double()
            for i in range(0, len(Z), chunk)]
    return torch.cat(vals).numpy()


def _penalty_floor(h, Z, interp):
    """min of the penalty h over the training codes (its zero for graph edges)."""
    return float(_on_codes(h, Z, interp, 2048).min())


class _DensityFactor:
    """1 + μ·h̄ per step, h = −log p(z) + ½ log det G(z) − h0 (picklable: holds the interpolator)."""

    def __init__(self, interp, h0):
        self.interp, self.h0, self.mu = interp, float(h0), float(interp.mu)

    def __call__(self, C):
        it = self.interp
        h = it._penalty(it._geometry.embedding_map())  # the interpolator's own h (density="data"/"latent")
        v = (h(C.reshape(-1, C.shape[-1])).detach().reshape(C.shape[:2]) - self.h0).clamp_min(0.0)
        return 1.0 + self.mu * 0.5 * (v[:, 1:] + v[:, :-1])


class _RealismFactor:
    """|log((ri_ε(z_i) + ri_ε(z_{i+1}))/2)| per step (picklable: holds the interpolator)."""

    def __init__(self, interp):
        self.interp, self.epsilon = interp, float(interp.epsilon)

    def __call__(self, C):
        import torch

        from ..geometry.realism import rescale_index, segment_realism

        r = rescale_index(self.interp.realism_index_(C.reshape(-1, C.shape[-1])).reshape(C.shape[:2]), self.epsilon)
        return torch.log(segment_realism(r)).abs()


def graph_segment_factor(interp, Z):
    """Per-step weights that put an interpolator's own objective on graph edges, or ``None``.

    - :class:`~sk_geodesic.interpolation.DensityRegularizedGeodesic`: the steps of an
      edge cost ``(1 + μ·h̄)·‖Δφ‖`` with h = −log p(z) + ½ log det G(z) (the negative
      data-space log-density the interpolator integrates), shifted so that its minimum
      over the training codes is 0 (a constant in h would otherwise reward fewer hops),
      h̄ the mean over the step's two ends. μ = 0 gives the plain length.
    - :class:`~sk_geodesic.interpolation.RealismIndex`: ``|log((ri_ε(z_i) + ri_ε(z_{i+1}))/2)|·‖Δφ_i‖``,
      the length under the metric of its eq. 19 energy, so ``epsilon`` enters.
    - anything else: ``None`` (plain φ-length).
    """
    from ..interpolation import DensityRegularizedGeodesic, RealismIndex

    if isinstance(interp, DensityRegularizedGeodesic) and interp.mu > 0:
        h = interp._penalty(interp._geometry.embedding_map())
        return _DensityFactor(interp, _penalty_floor(h, Z, interp))
    if isinstance(interp, RealismIndex):
        return _RealismFactor(interp)
    return None


class GeodesicKMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-medoids clustering under path length on a generative model's manifold.

    A mean under a geodesic distance would need exponential and logarithmic maps,
    so cluster centres are *medoids*: training points that minimise the summed path
    length to the members of their cluster.

    Distances come from one of two sources:

    - ``distance="geodesic"``: the length of the path the ``interpolator`` computes
      between two points (exact but costly: one curve optimisation per pair).
    - ``distance="graph"``: *graph geodesics*, shortest paths on a neighbourhood
      graph over the encoded training points whose edges are weighted by their
      length on the manifold (Chen et al. 2019), the fast approximation of geodesic
      distances. The edges carry the interpolator's own objective where it has one
      (:func:`graph_segment_factor`: the density penalty of
      :class:`~sk_geodesic.interpolation.DensityRegularizedGeodesic`, the realism
      index of :class:`~sk_geodesic.interpolation.RealismIndex`), so its parameters
      (``mu``, ``epsilon``) change the clustering without one exact path per pair.
      ``refine="exact"`` then re-assigns the final clustering with the
      interpolator's lengths to the medoids.

    Two optimisers:

    - ``method="fasterpam"`` (default): FasterPAM (Schubert & Rousseeuw 2021, the
      ``kmedoids`` package), a swap search that tries exchanging any medoid with any
      non-medoid, on the full matrix of distances between training points. It
      reaches lower inertia than the alternating method, which only moves a medoid
      inside its current cluster. The matrix costs n² floats of memory and, with
      ``distance="geodesic"``, n(n−1)/2 paths.
    - ``method="alternate"``: Voronoi iteration (assign every point to its nearest
      medoid, move each medoid to the best member of its cluster); needs only the
      rows of the medoids and candidates, for data too large for a full matrix.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters (medoids).
    interpolator : Interpolator or None, default=None
        Gives the manifold (``interpolator.manifold``) and the path lengths. It is
        cloned and fitted on ``X``; a manifold that is already fitted, or wrapped in
        :class:`sklearn.frozen.FrozenEstimator`, is reused without training (cloning an
        interpolator keeps a fitted manifold fitted, wrapped in ``FrozenEstimator``). ``None`` means :class:`~sk_geodesic.interpolation.Linear`
        with a default VAE.
    distance : {"geodesic", "graph"}, default="geodesic"
        Distance used during the iterations (see above).
    method : {"fasterpam", "alternate"}, default="fasterpam"
        The k-medoids optimiser (see above).
    refine : {"none", "exact"}, default="none"
        With ``"exact"``, the final assignment, ``transform``, ``predict`` and
        ``score`` use the interpolator's path lengths to the medoids even when
        ``distance="graph"`` chose the medoids.
    n_neighbors : int or "auto", default="auto"
        Neighbours per node of the graph (``distance="graph"``). ``"auto"`` starts
        from ``max(5, ceil(ln n_samples))`` (the order of k at which random kNN graphs
        become connected) and doubles it until the graph is connected. An integer is
        used as given; if that graph is disconnected a
        :class:`~sk_geodesic.geometry.graph.DisconnectedGraphError` (a
        ``ValueError``) asks for a larger value.
    graph : {"knn", "mutual"}, default="knn"
        ``"knn"``: an edge where either point is among the other's ``n_neighbors``
        nearest latent codes. ``"mutual"``: only where each is among the other's, plus
        the edges of a minimum spanning tree of the kNN graph so it stays connected
        (a neighbourhood that adapts to density: points in sparse regions keep only
        the links the tree needs, so fewer shortcuts cross low-density gaps).
    edge_power : float >= 1, default=1.0
        ``distance="graph"`` only. Graph edges weigh ``length ** edge_power`` and the
        distance between two points is the ``edge_power``-th root of the least
        summed edge weight over the paths joining them: the power-weighted
        shortest-path distance (Alamgir & von Luxburg 2012; Hwang, Damelin & Hero
        2016), a path metric in units of length. At 1 it is the plain graph
        geodesic. At p > 1 a chain of short hops through densely sampled codes
        costs less than one long hop of the same total length, so in the limit of
        many points the distance is a geodesic of the manifold's metric rescaled by
        the code density to the power ``(1 − p) / latent_dim`` — distances shrink
        inside dense groups of codes and grow across sparse gaps between them.
    density_trim : float in [0, 1), default=0.0
        Fraction of the training points, those of lowest latent density, left out
        of the k-medoids search: the medoids minimise the summed distance of the
        densest ``1 − density_trim`` of the points (an upper level set of the
        density, as in trimmed k-medoids), then *every* point is assigned to its
        nearest medoid (``labels_`` and ``inertia_`` cover all points). Sparse
        fringes between or around groups then do not pull medoids away from the
        dense cores. The density is the manifold's latent log-density (the VAE's
        aggregate posterior) when it has one, otherwise a 10-component Gaussian
        mixture fitted to the codes. 0 keeps every point (plain k-medoids).
    init : {"k-medoids++", "random"} or array-like of shape (n_clusters,), default="k-medoids++"
        ``"k-medoids++"``: greedy k-means++ seeding with the chosen distance;
        ``"random"``: distinct random training points; an array: indices of the
        training points to start from (then ``n_init`` is 1; with
        ``density_trim`` they join the points of the search).
    n_init : int or "auto", default="auto"
        Number of initialisations; the run with the smallest inertia is kept.
        ``"auto"``: 10 with ``method="fasterpam"`` (each run is cheap once the
        matrix exists), 1 with ``"alternate"`` (like :class:`sklearn.cluster.KMeans`,
        whose ``"auto"`` is 1 or 10 depending on the cost of a run).
    max_iter : int, default=50
        Most iterations (alternating rounds, or FasterPAM passes over the data) per
        initialisation.
    tol : float, default=1e-4
        ``method="alternate"``: stop when the inertia decreases by less than ``tol``
        times its value. (FasterPAM stops when no swap improves the inertia.)
    n_candidates : int or None, default=None
        ``method="alternate"`` only: the medoid update of a cluster tries the
        ``n_candidates`` members nearest to its current medoid (under the distance in
        use) and keeps the one of least summed distance to all members. ``None``: all
        members for ``"graph"`` (a Dijkstra run per candidate, cached across
        iterations), 16 for ``"geodesic"`` (each candidate costs one path per cluster
        member).
    random_state : int, RandomState instance or None, default=None
    n_jobs : int or None, default=None
        Parallel jobs for Dijkstra chunks and, when not ``None``, for the
        interpolator's batches (overrides ``interpolator.n_jobs``). Work goes
        through :class:`sklearn.utils.parallel.Parallel`, so
        ``joblib.parallel_backend("dask")`` runs it on a Dask cluster.
    verbose : int, default=0
        Prints the inertia of every initialisation (and iteration).

    Attributes
    ----------
    interpolator_ : Interpolator
        The fitted clone of ``interpolator``.
    medoid_indices_ : ndarray of shape (n_clusters,)
        Indices of the medoids in the training data.
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The medoids (training rows).
    medoid_latent_ : ndarray of shape (n_clusters, latent_dim)
        Latent codes of the medoids.
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        Sum of the distances of the training points to their medoid (lengths, not
        squared lengths).
    n_iter_ : int
        Iterations of the kept run.
    graph_ : LatentGraph or None
        The graph (``distance="graph"``).
    n_neighbors_ : int or None
        Neighbours per node of the graph actually built (``distance="graph"``).
    core_sample_indices_ : ndarray of shape (n_core,)
        Indices of the training points that took part in the k-medoids search (all
        of them unless ``density_trim`` > 0); the medoids are among them.
    n_features_in_ : int

    See Also
    --------
    sklearn.cluster.KMeans : Euclidean k-means.

    Notes
    -----
    With ``method="alternate"``, ``distance="graph"`` and ``n_candidates=None`` the
    medoid update is exact within a cluster (every member is tried) and costs one
    Dijkstra run per training point over the whole fit (rows are cached). With
    ``distance="geodesic"`` the rows of the medoids are cached and the candidates
    are limited, so one iteration costs about
    ``n_samples * n_clusters + n_candidates * n_samples`` paths.

    When ``X`` holds fewer distinct points than ``n_clusters``, a
    :class:`~sklearn.exceptions.ConvergenceWarning` says so (as
    :class:`sklearn.cluster.KMeans` does) and the result keeps ``n_clusters``
    distinct medoid indices, some of them duplicates of one another.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sk_geodesic.manifolds import PretrainedManifold
    >>> from sk_geodesic.interpolation import Linear
    >>> from sk_geodesic.cluster import GeodesicKMeans
    >>> m = PretrainedManifold(torch.nn.Identity(), latent_dim=2, encoder=torch.nn.Identity(),
    ...                        dtype="float64").fit()
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10.]])
    >>> km = GeodesicKMeans(n_clusters=2, interpolator=Linear(manifold=m), random_state=0).fit(X)
    >>> np.bincount(km.labels_).tolist()
    [3, 3]
    >>> km.predict([[0.5, 0.5], [9.0, 9.0]]).tolist() == km.labels_[[0, 3]].tolist()
    True
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "interpolator": [None, HasMethods(["fit", "pairwise_distances", "length"])],
        "distance": [StrOptions({"geodesic", "graph"})],
        "method": [StrOptions({"fasterpam", "alternate"})],
        "refine": [StrOptions({"none", "exact"})],
        "n_neighbors": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "graph": [StrOptions({"knn", "mutual"})],
        "edge_power": [Interval(Real, 1, None, closed="left")],
        "density_trim": [Interval(Real, 0, 1, closed="left")],
        "init": [StrOptions({"k-medoids++", "random"}), "array-like"],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_candidates": [None, Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        interpolator=None,
        distance="geodesic",
        method="fasterpam",
        refine="none",
        n_neighbors="auto",
        graph="knn",
        edge_power=1.0,
        density_trim=0.0,
        init="k-medoids++",
        n_init="auto",
        max_iter=50,
        tol=1e-4,
        n_candidates=None,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.interpolator = interpolator
        self.distance = distance
        self.method = method
        self.refine = refine
        self.n_neighbors = n_neighbors
        self.graph = graph
        self.edge_power = edge_power
        self.density_trim = density_trim
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_candidates = n_candidates
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- fitting ----------------------------------------------------------------------------
    def _make_interpolator(self, X, y):
        if self.interpolator is None:
            from ..interpolation import Linear

            interp = Linear(random_state=self.random_state)
        else:
            interp = clone(self.interpolator)
        if self.n_jobs is not None and "n_jobs" in interp.get_params(deep=False):
            interp.set_params(n_jobs=self.n_jobs)
        return interp.fit(X, y)

    def _build_graph(self, Z):
        """The latent graph and its adjacency; widens an ``"auto"`` neighbourhood until connected."""
        geom = self.interpolator_._geometry
        n = len(Z)
        auto = self.n_neighbors == "auto"
        k = max(5, math.ceil(math.log(max(n, 2)))) if auto else int(self.n_neighbors)
        factor = graph_segment_factor(self.interpolator_, Z)
        while True:
            k_eff = min(k, max(n - 1, 1))
            graph = LatentGraph(
                geom.embedding_map(), Z, n_neighbors=k_eff, mutual=self.graph == "mutual",
                dtype=self.interpolator_.dtype_, device=self.interpolator_.device_,
                segment_factor=factor, edge_power=self.edge_power,
            )
            A, _ = graph.with_queries(np.zeros((0, Z.shape[1])))
            try:
                self._check_graph(A, k_eff)
                return graph, A, k_eff
            except DisconnectedGraphError:
                if not auto or k_eff >= n - 1:
                    raise
                k = 2 * k

    @honour_threads
    def fit(self, X, y=None):
        """Cluster ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
            Passed on to the interpolator's (and manifold's) ``fit``.

        Returns
        -------
        self : GeodesicKMeans
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        n = X.shape[0]
        if self.n_clusters > n:
            raise ValueError(f"n_samples={n} should be >= n_clusters={self.n_clusters}.")
        rng = check_random_state(self.random_state)
        init_idx = None
        if not isinstance(self.init, str):
            init_idx = np.asarray(self.init)
            if init_idx.dtype.kind not in "iu" or init_idx.shape != (self.n_clusters,):
                raise ValueError(
                    f"init given as an array must hold n_clusters={self.n_clusters} integer indices of "
                    f"training points, got shape {init_idx.shape} and dtype {init_idx.dtype}."
                )
            if init_idx.min() < 0 or init_idx.max() >= n or len(np.unique(init_idx)) != len(init_idx):
                raise ValueError("init indices must be distinct and lie in [0, n_samples).")

        if self.edge_power != 1 and self.distance != "graph":
            raise ValueError(f"edge_power={self.edge_power} applies to distance='graph' only.")
        self.interpolator_ = self._make_interpolator(X, y)
        Z = self._encode(X)
        self._Z_train = Z
        self.graph_ = None
        self.n_neighbors_ = None
        if self.distance == "graph":
            self.graph_, A, self.n_neighbors_ = self._build_graph(Z)
            dist = _GraphDistances(A, self.n_jobs)
            if self.edge_power != 1:
                dist = _PowerRoot(dist, self.edge_power)
            n_cand = self.n_candidates
        else:
            dist = _PathDistances(self.interpolator_, Z)
            n_cand = 16 if self.n_candidates is None else self.n_candidates
        pam = self.method == "fasterpam"
        if pam:
            dist = _MatrixDistances(dist.full())

        core = self._core_points(Z, rng, init_idx)
        self.core_sample_indices_ = core
        full_dist = dist
        if len(core) < n:
            dist = _SubsetDistances(dist, core)
            if init_idx is not None:
                init_idx = np.searchsorted(core, init_idx)
        n_core = len(core)

        if init_idx is not None:
            n_init = 1
        elif self.n_init == "auto":
            n_init = 10 if pam else 1
        else:
            n_init = int(self.n_init)
        best = None
        for run in range(n_init):
            if init_idx is not None:
                medoids = init_idx.astype(np.intp)
            elif self.init == "random":
                medoids = rng.choice(n_core, self.n_clusters, replace=False).astype(np.intp)
            else:
                medoids = self._kmedoids_pp(dist, n_core, rng)
            if pam:
                result = self._fasterpam(dist, medoids)
            else:
                result = self._alternate(dist, medoids, n_cand)
            if self.verbose:
                print(f"GeodesicKMeans: init {run + 1}/{n_init}: inertia {result[2]:.6g} after {result[3]} iterations")
            if best is None or result[2] < best[2]:
                best = result
        medoids, labels, inertia, n_iter = best
        if n_core < n:
            # medoids of the dense core; every point goes to its nearest one
            medoids = core[medoids]
            labels, d = self._assign(full_dist, medoids)
            inertia = float(d.sum())
        self.medoid_indices_ = medoids
        self.cluster_centers_ = X[medoids]
        self.medoid_latent_ = Z[medoids]
        self.n_iter_ = int(n_iter)
        if self.refine == "exact" and self.distance == "graph":
            D = self._exact_distances(Z)
            labels = np.argmin(D, axis=1)
            inertia = float(D[np.arange(n), labels].sum())
        self.labels_ = labels.astype(np.intp)
        self.inertia_ = float(inertia)
        n_distinct = len(np.unique(Z, axis=0)) if len(np.unique(X, axis=0)) < self.n_clusters else n
        n_found = len(np.unique(self.labels_))
        if min(n_distinct, n_found) < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({min(n_distinct, n_found)}) found smaller than "
                f"n_clusters ({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        del self._Z_train
        return self

    def _fasterpam(self, dist, medoids):
        import kmedoids

        # started from our own seeding, FasterPAM is deterministic (no random_state)
        res = kmedoids.fasterpam(dist.D, np.asarray(medoids, dtype=np.int64), max_iter=self.max_iter, n_cpu=1)
        medoids = np.asarray(res.medoids, dtype=np.intp)
        labels, d = self._assign(dist, medoids)
        return medoids, labels, float(d.sum()), int(res.n_iter)

    def _core_points(self, Z, rng, init_idx):
        """Sorted indices of the points that enter the k-medoids search (``density_trim``)."""
        n = len(Z)
        keep = max(self.n_clusters, int(math.ceil((1.0 - self.density_trim) * n)))
        if keep >= n:
            return np.arange(n, dtype=np.intp)
        logp = self._latent_log_density(Z, rng)
        order = np.argsort(-logp, kind="stable")
        core = order[:keep]
        if init_idx is not None:
            core = np.union1d(core, init_idx)
        return np.sort(core).astype(np.intp)

    def _latent_log_density(self, Z, rng):
        """log-density of the codes: the manifold's own, or a Gaussian mixture fitted to them."""
        f = self.interpolator_._geometry.latent_log_density()
        if f is None:
            from sklearn.mixture import GaussianMixture

            k = int(min(10, len(np.unique(Z, axis=0))))
            gmm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-4,
                                  random_state=rng.randint(np.iinfo(np.int32).max)).fit(Z)
            return gmm.score_samples(Z)
        import torch

        with torch.no_grad():
            return _on_codes(f, Z, self.interpolator_, 4096)

    def _check_graph(self, A, k):
        from scipy.sparse.csgraph import connected_components

        n_comp, comp = connected_components(A, directed=False)
        if n_comp > 1:
            sizes = np.bincount(comp)
            raise DisconnectedGraphError(
                f"the kNN graph over the {A.shape[0]} encoded training points has {n_comp} connected "
                f"components (sizes {sorted(sizes.tolist(), reverse=True)[:10]}), so some graph distances are "
                f"infinite; increase n_neighbors (now {k}), use n_neighbors='auto', or use distance='geodesic'."
            )

    def _kmedoids_pp(self, dist, n, rng):
        """Greedy k-means++ seeding (sampling ∝ D², best of 2 + log k trials)."""
        k = self.n_clusters
        n_trials = 2 + int(math.log(k))
        medoids = [int(rng.randint(n))]
        closest = dist.rows(medoids)[0].copy()
        for _ in range(1, k):
            w = closest**2
            total = w.sum()
            if not np.isfinite(total) or total <= 0:
                free = np.setdiff1d(np.arange(n), medoids)
                cand = rng.choice(free, min(n_trials, len(free)), replace=False)
            else:
                cand = np.searchsorted(np.cumsum(w), rng.uniform(size=n_trials) * total)
                cand = np.unique(np.clip(cand, 0, n - 1))
            D = dist.rows(cand)
            pot = np.minimum(closest[None, :], D).sum(axis=1)
            j = int(np.argmin(pot))
            medoids.append(int(cand[j]))
            closest = np.minimum(closest, D[j])
        return np.asarray(medoids, dtype=np.intp)

    def _assign(self, dist, medoids):
        D = dist.rows(medoids)  # (k, n)
        labels = np.argmin(D, axis=0)
        d = D[labels, np.arange(D.shape[1])].astype(np.float64)
        return labels, d

    def _alternate(self, dist, medoids, n_cand):
        medoids = medoids.copy()
        n = len(self._Z_train)
        labels, d = self._assign(dist, medoids)
        inertia = float(d.sum())
        n_iter = 0
        for it in range(self.max_iter):
            n_iter = it + 1
            labels, d = self._fix_empty(dist, medoids, labels, d)
            new = medoids.copy()
            for c in range(self.n_clusters):
                members = np.flatnonzero(labels == c)
                if len(members) <= 1:
                    continue
                order = np.argsort(d[members], kind="stable")
                cand = members[order] if n_cand is None else members[order[:n_cand]]
                if medoids[c] not in cand:
                    cand = np.concatenate([[medoids[c]], cand])
                cost = dist.between(cand, members).sum(axis=1)
                cur = cost[np.flatnonzero(cand == medoids[c])[0]]
                j = int(np.argmin(cost))
                if cost[j] < cur - 1e-12 * max(abs(cur), 1.0):
                    new[c] = cand[j]
            changed = not np.array_equal(new, medoids)
            medoids = new
            labels, d = self._assign(dist, medoids)
            new_inertia = float(d.sum())
            if self.verbose:
                print(f"GeodesicKMeans: iteration {n_iter}, inertia {new_inertia:.6g}")
            done = not changed or inertia - new_inertia <= self.tol * abs(inertia)
            inertia = new_inertia
            if done:
                break
        labels, d = self._fix_empty(dist, medoids, labels, d)
        return medoids, labels, float(d.sum()), n_iter

    def _fix_empty(self, dist, medoids, labels, d):
        """Reseed empty clusters with the point farthest from its medoid."""
        for _ in range(self.n_clusters):
            counts = np.bincount(labels, minlength=self.n_clusters)
            empty = np.flatnonzero(counts == 0)
            if not len(empty):
                break
            c = int(empty[0])
            order = np.argsort(-d, kind="stable")
            far = next((int(i) for i in order if int(i) not in set(medoids.tolist())), None)
            if far is None or d[far] <= 0:
                break  # only duplicates left: nothing can move
            medoids[c] = far
            labels, d = self._assign(dist, medoids)
        return labels, d

    # -- distances for new data -------------------------------------------------------------
    _ENCODE_CHUNK = 64

    def _encode(self, X):
        """Latent codes of ``X``, encoded in padded chunks of one fixed shape.

        float32 networks can round a row differently depending on how many rows share
        its batch; a fixed batch shape makes every row's code (and so its distances)
        independent of the other rows given with it.
        """
        c = self._ENCODE_CHUNK
        out = []
        for start in range(0, X.shape[0], c):
            part = X[start : start + c]
            m = part.shape[0]
            if m < c:
                part = np.concatenate([part, np.repeat(part[-1:], c - m, axis=0)])
            out.append(np.asarray(self.interpolator_._as_latent(part, latent=False), dtype=np.float64)[:m])
        return np.concatenate(out) if out else np.zeros((0, self.interpolator_.latent_dim_))

    def _exact_distances(self, Z):
        interp = self.interpolator_
        return interp.pairwise_distances(Z, self.medoid_latent_, latent=True)

    def _distances(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        Z = self._encode(X)
        if self.distance == "graph" and self.refine == "none":
            D = query_distances(self.graph_, self.medoid_indices_, Z, n_jobs=self.n_jobs).T
            if self.edge_power != 1:
                D = D ** (1.0 / self.edge_power)
            if not np.all(np.isfinite(D)):
                raise DisconnectedGraphError(
                    "some points are not connected to any medoid in the kNN graph; increase n_neighbors "
                    "or use refine='exact'."
                )
            return D
        return self._exact_distances(Z)

    @honour_threads
    def transform(self, X):
        """Path lengths from ``X`` to the medoids.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        D : ndarray of shape (n_samples, n_clusters)
        """
        return self._distances(X)

    def fit_transform(self, X, y=None):
        """Fit, then return :meth:`transform` of ``X``."""
        return self.fit(X, y).transform(X)

    @honour_threads
    def predict(self, X):
        """Index of the nearest medoid (by path length) of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return np.argmin(self._distances(X), axis=1).astype(np.intp)

    def fit_predict(self, X, y=None):
        """Fit and return ``labels_``."""
        return self.fit(X, y).labels_

    def score(self, X, y=None):
        """Opposite of the inertia of ``X``: −Σ (path length to the nearest medoid).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        score : float
        """
        return -float(self._distances(X).min(axis=1).sum())

    def get_feature_names_out(self, input_features=None):
        """``geodesickmeans0`` … one name per cluster (the columns of :meth:`transform`)."""
        check_is_fitted(self)
        return np.asarray([f"geodesickmeans{i}" for i in range(self.n_clusters)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
