"""The ``Interpolator`` base shared by every interpolation method."""

from __future__ import annotations

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_array, check_random_state, gen_batches
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm.auto import tqdm

from .._utils import (
    DEVICE_CONSTRAINT,
    check_finite_output,
    check_log_density,
    check_manifold_finite,
    check_positive_int,
    honour_threads,
    probe_points,
    resolve_device,
    seed_from,
    to_numpy,
)
from ..geometry import curve_length, curve_length_energy, embed_curve, linear_curve, refine_cubic
from ..geometry.graph import LatentGraph


class Path:
    """Result of :meth:`Interpolator.path`.

    Attributes
    ----------
    latent : ndarray (n_pairs, n_points, latent_dim)
        The latent curves; between two nodes the curve is the straight latent segment.
        ``n_points`` is the interpolator's, except where
        :class:`~sk_geodesic.interpolation.Geodesic` solved pairs at more nodes
        (``max_points``): then every curve of the call has that many.
    decoded : ndarray (n_pairs, n_points, n_features)
        The decoded means along them. Where the solver measured its curves
        (:class:`~sk_geodesic.interpolation.Geodesic`,
        :class:`~sk_geodesic.interpolation.DensityRegularizedGeodesic`) they are decoded
        the first time this is read (or when the path is pickled), then kept: where
        only the curves and their lengths are wanted, decoding every node -- on a
        convolutional decoder about a seventh of the call -- is never paid. Read it before
        refitting the manifold.
    t : ndarray (n_points,)
        Curve parameter, t_i = i / (n_points − 1).
    length : ndarray (n_pairs,)
        Length of the returned piecewise-linear latent curve under the manifold's
        embedding map, measured densely by
        :func:`~sk_geodesic.geometry.curve_length_energy` (every latent segment at 2
        sub-segments, Richardson-extrapolated, and measured again finer where φ is too
        steep for that), so a steep ridge of φ between two nodes is counted, not
        skipped. Solvers that measure their curves while solving
        (:class:`~sk_geodesic.interpolation.Geodesic`,
        :class:`~sk_geodesic.interpolation.DensityRegularizedGeodesic`) fill it at
        once; for the others (``Linear``, ``RealismIndex``, ``NeuralCurve``) it is
        measured the first time it is read (or when the path is pickled), then kept:
        where only the images are wanted, the dense measurement -- on an image decoder
        many times the cost of decoding the curve -- is never paid. ``measured`` says
        which. A deferred length is measured under the manifold as it is when read:
        read it (or pickle the path) before refitting that manifold.
    energy : ndarray (n_pairs,)
        Energy (N − 1) Σ‖Δφ‖² over the same N − 1 sub-segments (L² ≤ energy).
    converged : ndarray (n_pairs,) of bool
    n_iter : ndarray (n_pairs,) of int
    fallback : ndarray (n_pairs,) of bool
        True where the optimised curve came out densely longer than the straight
        latent segment, so the straight segment was returned instead
        (:class:`~sk_geodesic.interpolation.Geodesic` only; False elsewhere).
    n_solved : ndarray (n_pairs,) of int
        Nodes of the polyline whose energy was minimised: fewer than the returned
        curves have where a coarser level already resolved the curve and the returned one
        is its cubic refinement (``Geodesic(resolution_tol=...)``), more than the
        interpolator's ``n_points`` where finer levels were needed
        (``Geodesic(max_points=...)``).
    measured : bool
        Whether ``length`` and ``energy`` have been measured yet.

    Parameters
    ----------
    latent, decoded, t, length, energy, converged, n_iter, fallback, n_solved
        As the attributes. ``length`` and ``energy`` may be ``None`` when ``measure``
        is given.
    measure : callable or None, default=None
        ``measure(latent) -> (length, energy)``, called on first access to either.
    decode : callable or None, default=None
        ``decode(latent) -> decoded``, called on first access to ``decoded`` when
        ``decoded`` is None.
    """

    def __init__(self, latent, decoded, t, length, energy, converged, n_iter, fallback=None, n_solved=None,
                 measure=None, decode=None):
        if (length is None or energy is None) and measure is None:
            raise ValueError("Path needs length and energy, or a measure function to compute them.")
        if decoded is None and decode is None:
            raise ValueError("Path needs decoded curves, or a decode function to compute them.")
        self.latent, self.t = latent, t
        self._decoded = decoded
        self._decode = None if decoded is not None else decode
        self._length, self._energy = length, energy
        self._measure = None if length is not None and energy is not None else measure
        self.converged, self.n_iter = converged, n_iter
        n = latent.shape[0]
        self.fallback = np.zeros(n, dtype=bool) if fallback is None else fallback
        self.n_solved = np.full(n, latent.shape[1], dtype=int) if n_solved is None else n_solved

    @property
    def measured(self):
        return self._measure is None

    @property
    def decoded(self):
        if self._decode is not None:
            self._decoded = self._decode(self.latent)
            self._decode = None
        return self._decoded

    @decoded.setter
    def decoded(self, value):
        self._decoded, self._decode = value, None

    def _measure_now(self):
        if self._measure is not None:
            self._length, self._energy = self._measure(self.latent)
            self._measure = None

    @property
    def length(self):
        self._measure_now()
        return self._length

    @length.setter
    def length(self, value):
        self._measure_now()  # keep energy consistent with what was measured
        self._length = value

    @property
    def energy(self):
        self._measure_now()
        return self._energy

    @energy.setter
    def energy(self, value):
        self._measure_now()
        self._energy = value

    def __getstate__(self):
        # a pickled path holds its numbers, not the interpolator that would measure them
        self._measure_now()
        _ = self.decoded
        return self.__dict__.copy()

    def __setstate__(self, state):
        if "decoded" in state:  # pickled before decoding was deferred
            state["_decoded"] = state.pop("decoded")
        state.setdefault("_decode", None)
        self.__dict__.update(state)

    def __repr__(self):
        n, k, d = self.latent.shape
        return f"Path(n_pairs={n}, n_points={k}, latent_dim={d}, measured={self.measured})"

    def __len__(self):
        return self.latent.shape[0]

    def __getitem__(self, i):
        sl = slice(i, i + 1) if isinstance(i, (int, np.integer)) else i
        lazy = not self.measured
        undecoded = self._decode is not None
        return Path(
            self.latent[sl], None if undecoded else self._decoded[sl], self.t,
            None if lazy else self._length[sl], None if lazy else self._energy[sl],
            self.converged[sl], self.n_iter[sl], self.fallback[sl], self.n_solved[sl],
            measure=self._measure, decode=self._decode,
        )


#: Most reference codes in the graph of ``init="auto"`` (a random subset beyond): the
#: graph only proposes initial curves, and its cost at fit grows with its size.
AUTO_GRAPH_NODES = 2000

#: Nodes at which ``init="auto"`` measures a pair's straight segment against its graph path.
AUTO_LINE_POINTS = 33


def _unwrap_manifold(manifold):
    return manifold.estimator if isinstance(manifold, FrozenEstimator) else manifold


def _is_fitted(est):
    try:
        check_is_fitted(est)
        return True
    except (NotFittedError, TypeError):  # TypeError: not an estimator at all
        return False


def _move_manifold(manifold, device):
    """A copy of a fitted manifold whose Torch state lives on ``device``."""
    m = copy.copy(manifold)
    for key, value in list(vars(m).items()):
        if isinstance(value, torch.nn.Module):
            setattr(m, key, copy.deepcopy(value).to(device))
        elif isinstance(value, torch.Tensor):
            setattr(m, key, value.to(device))
    m.device_ = device
    return m


class Interpolator(BaseEstimator):
    """Base class: paths between data points on a generative model's manifold.

    Subclasses implement :meth:`_solve` (optimise a batch of latent curves) and
    declare their own parameters; everything else -- validation, encoding,
    initial curves, batching, parallelism, warnings -- lives here.

    Parameters
    ----------
    manifold : GenerativeManifold or FrozenEstimator or None
        The generative model. A fitted one (or one wrapped in
        :class:`sklearn.frozen.FrozenEstimator`) is used as is and never re-trained;
        an unfitted one is cloned and fitted on ``X`` in :meth:`fit`. ``None`` means a
        default :class:`~sk_geodesic.manifolds.VAE`. :func:`sklearn.base.clone` of an
        interpolator (and so ``GridSearchCV``, ``cross_validate`` and
        :class:`~sk_geodesic.cluster.GeodesicKMeans`) keeps a fitted manifold too: the
        clone holds it wrapped in ``FrozenEstimator`` instead of an unfitted copy, so
        no one pays a re-training they did not ask for. To search over the
        manifold's own parameters, pass an unfitted manifold.
    n_points : int
        Points per discrete curve, endpoints included.
    max_iter : int
        Most solver iterations per pair.
    tol : float
        Relative objective decrease under which a pair has converged.
    init : {"linear", "graph", "auto"}
        Initial curve: the straight latent segment, or the shortest path of a kNN
        graph over the manifold's encoded training points (Chen et al. 2019).
        ``"auto"`` builds that graph over at most :data:`AUTO_GRAPH_NODES` of those
        points (when there are any) and starts each pair from whichever of the two
        curves is shorter: the graph path where the straight segment crosses a
        costly region (high decoder variance between groups of codes), the straight
        segment elsewhere. Each pair's graph path is its own (it never passes through
        another pair's end point), so a pair starts alike alone and in any batch.
    n_neighbors : int
        Neighbours per node of that graph.
    device : str
        ``"auto"`` computes where the manifold lives; otherwise the manifold is copied
        to this device.
    batch_size : int
        Pairs solved together in one tensor.
    n_jobs : int or None
        Parallel jobs over batches (``sklearn.utils.parallel.Parallel``; any joblib
        backend, e.g. Dask, applies).
    random_state : int, RandomState instance or None
    verbose : bool or int
        Progress bar over batches.
    """

    _parameter_constraints: dict = {
        "manifold": [None, HasMethods(["fit", "transform", "embedding_map", "decoding_map"])],
        "n_points": [Interval(Integral, 2, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"linear", "graph", "auto"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "device": DEVICE_CONSTRAINT,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [None, Integral],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # which manifold callables a subclass needs (checked at fit)
    _requires_log_density = False

    # -- cloning: a fitted manifold is kept, frozen ----------------------------------------------
    def __sklearn_clone__(self):
        manifold = getattr(self, "manifold", None)
        if manifold is None or isinstance(manifold, FrozenEstimator) or not _is_fitted(manifold):
            return super().__sklearn_clone__()
        # sklearn's clone would give an unfitted copy of the manifold and the next fit
        # would silently re-train it: hand the clone the fitted one, frozen.
        proxy = copy.copy(self)
        proxy.manifold = FrozenEstimator(manifold)
        return BaseEstimator.__sklearn_clone__(proxy)

    # -- fitting ------------------------------------------------------------------------------
    @honour_threads
    def fit(self, X, y=None):
        """Fit the manifold if needed and prepare the interpolator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; used to fit an unfitted manifold, and as graph nodes.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self.manifold_ = self._fitted_manifold(X, y)
        m = _unwrap_manifold(self.manifold_)
        n_in = getattr(m, "n_features_in_", X.shape[1])
        if n_in != X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, but the manifold expects {n_in}.")
        if self.device != "auto":
            dev = resolve_device(self.device)
            if dev != m.device_:
                m = _move_manifold(m, dev)
        self._geometry = m
        self.latent_dim_ = int(m.latent_dim_)
        self.device_ = m.device_
        self.dtype_ = m.dtype_
        names = getattr(m, "feature_names_in_", None)
        if names is not None and hasattr(self, "feature_names_in_") and not np.array_equal(names, self.feature_names_in_):
            raise ValueError(
                f"the feature names of X do not match those the manifold {type(m).__name__} was fitted with "
                f"(got {list(self.feature_names_in_)[:5]}, expected {list(names)[:5]})."
            )
        self._check_manifold_at_fit(X)
        if self._requires_log_density and m.latent_log_density() is None and self._needs_manifold_density():
            raise ValueError(
                f"{type(self).__name__} needs a latent log-density, but {type(m).__name__} provides "
                "none; give the manifold one (e.g. PretrainedManifold(log_density=...)) or pass "
                "log_density= to the interpolator."
            )
        self._check_params_at_fit()
        self._fit_extra(X, y)
        self.graph_ = None
        if self.init == "graph":
            self.graph_ = self._build_graph(X)
        elif self.init == "auto":
            self.graph_ = self._build_auto_graph(X)
        return self

    def _fitted_manifold(self, X, y):
        if self.manifold is None:
            from ..manifolds import VAE

            return VAE(random_state=self.random_state).fit(X)
        if _is_fitted(_unwrap_manifold(self.manifold)):
            return self.manifold
        return clone(self.manifold).fit(X, y)

    def _check_manifold_at_fit(self, X):
        """Probe the manifold's maps (and a user ``log_density``) once, at fit.

        The points are the origin, a few N(0, 0.25 I) draws and up to 8 codes of the
        training data; a NaN/inf output or a wrongly shaped log-density is named here
        instead of surfacing later inside a Torch solver.
        """
        m = self._geometry
        context = f"at {type(self).__name__}.fit, on probe points"
        refs = m.latent_reference_points()
        Zref = np.asarray(refs[:8]) if refs is not None and len(refs) else self._encode_data(X[:8])
        Zp = torch.cat(
            [
                probe_points(self.latent_dim_, dtype=self.dtype_, device=self.device_),
                torch.as_tensor(Zref, dtype=self.dtype_, device=self.device_).reshape(-1, self.latent_dim_),
            ]
        )
        check_manifold_finite(m, Zp, context)
        user_log_density = getattr(self, "log_density", None)
        if user_log_density is not None:
            check_log_density(user_log_density, Zp, "log_density", context)

    def _encode_data(self, X):
        """Latent codes of validated data rows; a NaN/inf code is named."""
        with warnings.catch_warnings():
            # the interpolator has checked the feature names itself
            warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
            Z = np.asarray(self._geometry.transform(X))
        if Z.ndim != 2 or Z.shape != (X.shape[0], self.latent_dim_):
            raise ValueError(
                f"the manifold's transform returned codes of shape {Z.shape} for {X.shape[0]} rows; "
                f"expected ({X.shape[0]}, {self.latent_dim_})."
            )
        bad = ~np.isfinite(Z).all(axis=1)
        if bad.any():
            raise ValueError(
                f"the manifold's transform (its encoder) returned NaN or inf codes for {int(bad.sum())} of "
                f"{len(Z)} rows (first: row {int(np.flatnonzero(bad)[0])})."
            )
        return Z

    def _needs_manifold_density(self):
        return True

    def _check_params_at_fit(self):
        pass

    def _fit_extra(self, X, y):
        pass

    def _build_graph(self, X=None):
        m = self._geometry
        nodes = m.latent_reference_points()
        if nodes is None:
            nodes = self._encode_data(X)
        return LatentGraph(
            m.embedding_map(), nodes, n_neighbors=self.n_neighbors, dtype=self.dtype_, device=self.device_
        )

    def _build_auto_graph(self, X):
        """The graph of ``init="auto"``: over ≤ AUTO_GRAPH_NODES reference codes, or None."""
        m = self._geometry
        nodes = m.latent_reference_points()
        if nodes is None:
            try:
                nodes = self._encode_data(X)
            except Exception:  # no encoder: nothing to build a graph on
                return None
        nodes = np.asarray(nodes)
        if len(nodes) <= self.n_neighbors + 1:
            return None
        if len(nodes) > AUTO_GRAPH_NODES:
            rng = check_random_state(self.random_state)
            nodes = nodes[np.sort(rng.choice(len(nodes), AUTO_GRAPH_NODES, replace=False))]
        return LatentGraph(
            m.embedding_map(), nodes, n_neighbors=self.n_neighbors, dtype=self.dtype_, device=self.device_
        )

    # -- the per-subclass solver ------------------------------------------------------------------
    def _solve(self, Z):
        """Optimise curves ``Z`` (B, n, d) → (Z, converged (B,), n_iter (B,))."""
        raise NotImplementedError

    # -- encoding and initial curves ----------------------------------------------------------------
    def _as_latent(self, X, latent):
        if latent:
            Z = check_array(X, dtype=[np.float64, np.float32], ensure_2d=False)
            Z = np.atleast_2d(Z)
            if Z.ndim != 2 or Z.shape[1] != self.latent_dim_:
                raise ValueError(f"latent endpoints have {Z.shape[-1]} features; the latent space has {self.latent_dim_}.")
            return Z
        if not hasattr(X, "columns") and np.ndim(X) == 1:
            X = np.atleast_2d(check_array(X, dtype=[np.float64, np.float32], ensure_2d=False))
        # sklearn's conventions: feature names checked against fit, n_features_in_ checked
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._encode_data(X)

    def _initial_curves(self, Z0, Z1):
        return self._graph_starts(Z0, Z1, [self.graph_])[0]

    def _graph_starts(self, Z0, Z1, graphs):
        """One (B, n, d) tensor of initial curves per graph in ``graphs`` (``None``: straight).

        Under ``init="auto"`` each pair starts from its graph path where that is shorter than
        its straight segment, measured once for all graphs.
        """
        t0 = torch.as_tensor(Z0, dtype=self.dtype_, device=self.device_)
        t1 = torch.as_tensor(Z1, dtype=self.dtype_, device=self.device_)
        line = linear_curve(t0, t1, self.n_points)
        line_len = None
        starts = []
        for graph in graphs:
            if self.init == "linear" or graph is None:
                starts.append(line)
                continue
            limit = None
            if self.init == "auto":
                if line_len is None:
                    # a choice between two starts, not a reported length: the segment's
                    # chords at AUTO_LINE_POINTS nodes (at 65 nodes × 2 sub-segments this
                    # cost more than the graph queries and Dijkstra together)
                    with torch.no_grad():
                        coarse = linear_curve(t0, t1, AUTO_LINE_POINTS)
                        line_len = curve_length(self._geometry.embedding_map(), coarse, 1).cpu().numpy()
                # only a graph path shorter than the segment is used: search no further
                limit = line_len
            B = len(Z0)
            curves, graph_len, ok = graph.pair_paths(Z0, Z1, self.n_points, limit=limit)
            if self.init == "auto":
                use_graph = ok & (graph_len < line_len)
                curves = np.where(use_graph[:, None, None], curves, line.cpu().numpy())
            elif not ok.all():
                warnings.warn(
                    f"{int((~ok).sum())} of {B} pairs lie in different components of the kNN graph; "
                    "they start from straight segments instead (increase n_neighbors to connect them).",
                    UserWarning,
                    stacklevel=4,
                )
            starts.append(torch.as_tensor(curves, dtype=self.dtype_, device=self.device_))
        return starts

    # -- solving with checks ------------------------------------------------------------------------
    def _solve_pairs(self, Z0, Z1, keep_curves, return_extra=False, measure=True):
        """``_run_batches`` with NaN/inf from the manifold detected and named."""
        try:
            extra = {"return_extra": True} if return_extra else {}
            res = self._run_batches(Z0, Z1, keep_curves=keep_curves, measure=measure, **extra)
        except (RuntimeError, ValueError) as exc:  # e.g. a Cholesky factorisation of a NaN metric
            self._raise_non_finite(Z0, Z1, np.arange(len(Z0)), exc)
            raise
        if not keep_curves:
            self._check_finite_lengths(res[0], Z0, Z1)
        return res

    def _check_finite_lengths(self, L, Z0, Z1):
        bad = np.flatnonzero(~np.isfinite(L))
        if len(bad):
            self._raise_non_finite(Z0, Z1, bad, None)

    def _raise_non_finite(self, Z0, Z1, pairs, cause):
        """Name the map that returned NaN/inf on the straight segments of ``pairs``."""
        embed = self._geometry.embedding_map()
        context = f"during {type(self).__name__}'s solve"
        for start in range(0, len(pairs), self.batch_size):
            sel = pairs[start : start + self.batch_size]
            t0 = torch.as_tensor(Z0[sel], dtype=self.dtype_, device=self.device_)
            t1 = torch.as_tensor(Z1[sel], dtype=self.dtype_, device=self.device_)
            pts = linear_curve(t0, t1, self.n_points).reshape(-1, self.latent_dim_)
            with torch.no_grad():
                check_finite_output(embed(pts), pts, f"the embedding map of {type(self._geometry).__name__}", context)
        if cause is not None:
            return  # the map is finite on the segments: the error is not ours to explain
        raise ValueError(
            f"{type(self).__name__} produced non-finite path lengths for {len(pairs)} pairs (first: pair "
            f"{int(pairs[0])}) although the embedding map is finite along their straight segments: the "
            "lengths overflow (endpoints too far apart in the embedding) or the optimised curves left the "
            "region where the map is finite."
        )

    # -- public API -----------------------------------------------------------------------------------
    @honour_threads
    def path(self, x0, x1, latent=False):
        """Interpolate between endpoints.

        Parameters
        ----------
        x0, x1 : array-like of shape (n_features,) or (n_pairs, n_features)
            Data-space endpoints (one pair or aligned batches). With
            ``latent=True`` they are latent codes of shape (…, latent_dim).
        latent : bool, default=False

        Returns
        -------
        Path
        """
        check_is_fitted(self)
        Z0, Z1 = self._as_latent(x0, latent), self._as_latent(x1, latent)
        if Z0.shape != Z1.shape:
            raise ValueError(f"x0 and x1 must hold the same number of points, got {len(Z0)} and {len(Z1)}")
        Z, conv, n_iter, extra = self._solve_pairs(Z0, Z1, keep_curves=True, return_extra=True, measure=False)
        if extra["length"] is None:  # the solver did not measure its curves: measured when read
            decoded = self._decode_curves(Z)
            bad = np.flatnonzero(~np.isfinite(decoded).reshape(len(decoded), -1).all(1))
            if len(bad):  # NaN images are named now, not when the length is first read
                self._raise_non_finite(Z0, Z1, bad, None)
            return Path(Z, decoded, np.linspace(0.0, 1.0, Z.shape[1]), None, None, conv, n_iter,
                        extra["fallback"], extra["n_solved"], measure=self._measure_curves)
        # the dense lengths evaluated φ along every curve (a NaN would be in them): the
        # images are decoded when first read
        self._check_finite_lengths(extra["length"], Z0, Z1)
        return Path(Z, None, np.linspace(0.0, 1.0, Z.shape[1]), extra["length"], extra["energy"], conv, n_iter,
                    extra["fallback"], extra["n_solved"], decode=self._decode_curves)

    @honour_threads
    def _decode_curves(self, Z):
        """Decoded means along latent curves ``Z`` (n, n_points, d)."""
        with torch.no_grad():
            Zt = torch.as_tensor(Z, dtype=self.dtype_, device=self.device_)
            return to_numpy(embed_curve(self._geometry.decoding_map(), Zt))

    @honour_threads
    def _measure_curves(self, Z):
        """Dense (length, energy) of latent polylines ``Z`` (n, n_points, d), batch by batch."""
        embed = self._geometry.embedding_map()
        L, E = np.zeros(len(Z)), np.zeros(len(Z))
        for sl in gen_batches(len(Z), self.batch_size):
            Zt = torch.as_tensor(Z[sl], dtype=self.dtype_, device=self.device_)
            with torch.no_grad():
                Lb, Eb = curve_length_energy(embed, Zt)
            L[sl], E[sl] = to_numpy(Lb), to_numpy(Eb)
        same = np.all(Z == Z[:, :1], axis=(1, 2))
        L[same], E[same] = 0.0, 0.0  # a constant curve: zero length by definition, as when solved
        self._check_finite_lengths(L, Z[:, 0], Z[:, -1])
        return L, E

    @honour_threads
    def length(self, X0, X1, latent=False):
        """Path lengths between aligned pairs ``X0[i]``–``X1[i]``, shape (n_pairs,)."""
        check_is_fitted(self)
        Z0, Z1 = self._as_latent(X0, latent), self._as_latent(X1, latent)
        if Z0.shape != Z1.shape:
            raise ValueError(f"X0 and X1 must have the same shape, got {Z0.shape} and {Z1.shape}")
        return self._solve_pairs(Z0, Z1, keep_curves=False)[0]

    @honour_threads
    def pairwise_distances(self, X, Y=None, latent=False, out=None, chunk_size=None):
        """Matrix of path lengths between the rows of ``X`` and ``Y``.

        With ``Y=None`` only the pairs i < j of ``X`` are solved (the matrix is
        symmetric with a zero diagonal).

        Pairs are generated and solved in chunks whose lengths are written straight into
        the output, so the memory used beyond the output matrix is bounded by the chunk
        size, not by the number of pairs. Chunks are whole multiples of ``batch_size``
        and follow the pairs' row-major order, so the batches -- and the results, bit for
        bit -- are the same as for one call on all pairs.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
            Data rows (latent codes with ``latent=True``).
        Y : array-like of shape (n_samples_Y, n_features) or None, default=None
        latent : bool, default=False
        out : ndarray of shape (n_samples_X, n_samples_Y) or None, default=None
            Where to write the distances, e.g. a :class:`numpy.memmap` for matrices
            larger than memory; a floating C- or F-ordered array. A new float64 array
            when ``None``.
        chunk_size : int or None, default=None
            Pairs per chunk, rounded up to a multiple of ``batch_size``; ``None``:
            ``batch_size * max(16, 4 * n_jobs)``.

        Returns
        -------
        D : ndarray of shape (n_samples_X, n_samples_Y)
            ``out`` when given.
        """
        check_is_fitted(self)
        ZX = self._as_latent(X, latent)
        symmetric = Y is None
        ZY = ZX if symmetric else self._as_latent(Y, latent)
        nX, nY = len(ZX), len(ZY)
        out = _check_out(out, (nX, nY))
        total = nX * (nX - 1) // 2 if symmetric else nX * nY
        chunk = self._chunk_pairs(chunk_size)
        runner = self
        if self.verbose:  # one progress bar over all chunks, none per chunk
            runner = copy.copy(self)
            runner.verbose = False
        bar = tqdm(total=total, desc=type(self).__name__, unit="pair", disable=not self.verbose or total == 0)
        if symmetric:
            rows = np.arange(nX, dtype=np.int64)
            row_start = rows * (2 * nX - rows - 1) // 2  # pairs (i, j > i) before row i
            for r in range(nX):
                out[r, r] = 0.0
        unconverged, n_unconverged, other = [], 0, {}
        for k0 in range(0, total, chunk):
            k = np.arange(k0, min(k0 + chunk, total), dtype=np.int64)
            if symmetric:
                i = np.searchsorted(row_start, k, side="right") - 1
                j = k - row_start[i] + i + 1
            else:
                i, j = np.divmod(k, nY)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                d, conv, _ = runner._solve_pairs(ZX[i], ZY[j], keep_curves=False)
            for w in caught:
                if not issubclass(w.category, ConvergenceWarning):
                    other.setdefault((w.category, str(w.message)), w)
            if not conv.all():
                bad = np.flatnonzero(~conv)
                n_unconverged += len(bad)
                unconverged.extend(zip(i[bad[:5]].tolist(), j[bad[:5]].tolist()))
            out[i, j] = d
            bar.update(len(k))
        bar.close()
        if symmetric:
            _mirror_upper(out)
        for (category, message), _ in other.items():
            warnings.warn(message, category, stacklevel=3)
        if n_unconverged:
            warnings.warn(
                f"{type(self).__name__}: {n_unconverged} of {total} pairs did not converge within "
                f"max_iter={self.max_iter} iterations (tol={getattr(self, 'tol_', self.tol)}), e.g. (row, column) "
                f"{unconverged[:5]}; increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return out

    def _chunk_pairs(self, chunk_size):
        from joblib import effective_n_jobs

        bs = int(self.batch_size)
        if chunk_size is None:
            n_jobs = 1 if self.n_jobs in (None, 1) else effective_n_jobs(self.n_jobs)
            return bs * max(16, 4 * n_jobs)
        chunk_size = check_positive_int(chunk_size, "chunk_size")
        return bs * -(-chunk_size // bs)

    def score(self, X, y=None):
        """Mean log-density-free path quality: the negative mean length ratio to Linear.

        Pairs are drawn from ``X`` with ``random_state``; see
        :func:`sk_geodesic.metrics.path_quality_score` for the definition.
        """
        from ..metrics import path_quality_score

        return path_quality_score(self, X)

    # -- batching, parallelism, warnings ------------------------------------------------------------
    def _run_batches(self, Z0, Z1, keep_curves, return_extra=False, measure=True):
        """Solve pairs batch by batch → (curves or dense lengths, converged, n_iter).

        With ``return_extra`` a fourth item, a dict of per-pair arrays ``length``,
        ``energy`` (dense, of the returned curves) and ``fallback``, is appended.
        With ``measure=False`` (curves only) the lengths are left unmeasured -- ``length``
        and ``energy`` are ``None`` -- unless the solver measured them itself.
        """
        n = len(Z0)
        batches = list(gen_batches(n, self.batch_size))
        bar = tqdm(total=n, desc=type(self).__name__, unit="pair", disable=not self.verbose or n == 0)
        results = []
        if self.n_jobs in (None, 1) or len(batches) == 1:
            for sl in batches:
                results.append(_solve_batch(self, Z0[sl], Z1[sl], keep_curves, extra=True, measure=measure))
                bar.update(sl.stop - sl.start)
        else:
            # Each job gets a pickled copy of the fitted interpolator; the backend is the
            # caller's choice (loky by default, Dask inside joblib.parallel_backend("dask")).
            jobs = Parallel(n_jobs=self.n_jobs, return_as="generator")(
                delayed(_solve_batch)(self, Z0[sl], Z1[sl], keep_curves, extra=True, measure=measure) for sl in batches
            )
            for sl, res in zip(batches, jobs):
                results.append(res)
                bar.update(sl.stop - sl.start)
        bar.close()
        if n == 0:
            empty = np.zeros((0, self.n_points, self.latent_dim_)) if keep_curves else np.zeros(0)
            out = (empty, np.zeros(0, dtype=bool), np.zeros(0, dtype=int))
            if return_extra:
                out += (dict(length=np.zeros(0), energy=np.zeros(0), fallback=np.zeros(0, dtype=bool),
                             n_solved=np.zeros(0, dtype=int)),)
            return out
        if keep_curves:
            results = self._common_node_count(results)
        out = np.concatenate([r[0] for r in results])
        conv = np.concatenate([r[1] for r in results])
        n_iter = np.concatenate([r[2] for r in results])
        extra = {k: np.concatenate([r[3][k] for r in results]) for k in ("fallback", "n_solved")}
        unmeasured = any(r[3]["length"] is None for r in results)
        for k in ("length", "energy"):
            extra[k] = None if unmeasured else np.concatenate([r[3][k] for r in results])
        gains = [r[3].get("last_gain") for r in results]
        if all(g is not None for g in gains):
            self._warn_if_unresolved(np.concatenate(gains), out.shape[1] if keep_curves else None)
        if not conv.all():
            warnings.warn(
                f"{type(self).__name__}: {int((~conv).sum())} of {n} pairs did not converge within "
                f"max_iter={self.max_iter} iterations (tol={getattr(self, 'tol_', self.tol)}); increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if return_extra:
            return out, conv, n_iter, extra
        return out, conv, n_iter

    def _warn_if_unresolved(self, gain, nodes):
        """Warn where the last level a pair was solved at still shortened it by more than
        :data:`RESOLUTION_WARN_GAIN` (NaN gains, not measured, never warn)."""
        bad = np.nan_to_num(gain, nan=0.0) > RESOLUTION_WARN_GAIN
        if not bad.any():
            return
        where = "" if nodes is None else f" by {nodes} nodes"
        warnings.warn(
            f"{type(self).__name__}: {int(bad.sum())} of {len(gain)} pairs are not resolved{where}: the last "
            f"doubling of their nodes still shortened them by up to {float(np.nanmax(gain)):.1%}. A polyline's "
            "excess over the geodesic falls about 4x per doubling, so these lengths are about a third of that "
            "or more above the geodesic's (a steep decoder variance bends geodesics sharply). Raise max_points "
            "(or n_points); the time grows about in proportion.",
            RuntimeWarning,
            stacklevel=4,
        )

    def _common_node_count(self, results):
        """Batches' curves brought to the most nodes any batch returned (a solver may solve
        some pairs at more than ``n_points`` nodes, e.g. ``Geodesic(max_points=...)``):
        the others cubically refined, and their lengths measured again where measured."""
        n_max = max(r[0].shape[1] for r in results)
        if all(r[0].shape[1] == n_max for r in results):
            return results
        embed = self._geometry.embedding_map()
        out = []
        for curves, conv, n_iter, info in results:
            if curves.shape[1] < n_max:
                Zt = refine_cubic(torch.as_tensor(curves, dtype=self.dtype_, device=self.device_), n_max)
                info = dict(info)
                if info["length"] is not None:
                    with torch.no_grad():
                        L, E = curve_length_energy(embed, Zt)
                    constant = np.all(curves == curves[:, :1], axis=(1, 2))
                    info["length"] = np.where(constant, 0.0, to_numpy(L).astype(np.float64))
                    info["energy"] = np.where(constant, 0.0, to_numpy(E).astype(np.float64))
                curves = to_numpy(Zt)
            out.append((curves, conv, n_iter, info))
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


#: :class:`~sk_geodesic.interpolation.Geodesic` warns where the last level a pair was
#: solved at still shortened it by more than this fraction (its length then lies about a
#: third of that, 1e-3, or more above the geodesic's).
RESOLUTION_WARN_GAIN = 3e-3


def _check_out(out, shape):
    if out is None:
        return np.zeros(shape)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array (e.g. a numpy.memmap), got {type(out).__name__}.")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}; the distance matrix has shape {shape}.")
    if out.dtype.kind != "f":
        raise ValueError(f"out must have a floating dtype, got {out.dtype}.")
    if not out.flags.writeable:
        raise ValueError("out is read-only.")
    return out


def _mirror_upper(D, block_bytes=32 * 2**20):
    """Copy the strict upper triangle of a square matrix to its lower one, by row blocks."""
    n = D.shape[0]
    step = max(1, min(256, block_bytes // (D.itemsize * max(n, 1))))
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        D[r0:r1, :r0] = D[:r0, r0:r1].T
        block = D[r0:r1, r0:r1]
        low = np.tril_indices(r1 - r0, -1)
        block[low] = block.T[low]


def _solve_batch(interp, Z0, Z1, keep_curves, extra=False, measure=True):
    """Solve one batch of pairs → (curves or dense lengths, converged, n_iter[, extra]).

    ``interp._solve`` may return ``(Z, converged, n_iter)`` or, when it measured its
    curves itself, ``(Z, converged, n_iter, info)`` with ``info["length"]``,
    ``info["energy"]`` (dense, of the returned curves) and optionally
    ``info["fallback"]``. Otherwise the lengths are measured here, densely
    (:func:`~sk_geodesic.geometry.curve_length_energy`): reported lengths are always
    those of the returned piecewise-linear curves. With ``measure=False`` and
    ``keep_curves`` they are left to the caller (``None``) when the solver did not
    measure them.
    """
    Zinit = interp._initial_curves(Z0, Z1)
    out = interp._solve(Zinit)
    Z, conv, n_iter = out[:3]
    info = out[3] if len(out) > 3 else {}
    embed = interp._geometry.embedding_map()
    if "length" in info:
        L, E = info["length"], info["energy"]
    elif measure or not keep_curves:
        with torch.no_grad():
            L, E = curve_length_energy(embed, Z)
    else:
        L = E = None
    fallback = info.get("fallback")
    fallback = np.zeros(len(Z0), dtype=bool) if fallback is None else to_numpy(fallback).astype(bool)
    same = torch.as_tensor(np.all(Z0 == Z1, axis=1), device=Z.device)
    if bool(same.any()):
        # identical endpoints: the constant curve, exactly (zero length by definition)
        Z = torch.where(same[:, None, None], Z[:, :1].expand_as(Z), Z)
        if L is not None:
            L = torch.where(same, torch.zeros_like(L), L)
            E = torch.where(same, torch.zeros_like(E), E)
        conv = torch.as_tensor(conv).clone()
        conv[same.to(conv.device)] = True
        fallback = fallback & ~to_numpy(same).astype(bool)
    if L is not None:
        L, E = to_numpy(L).astype(np.float64), to_numpy(E).astype(np.float64)
    first = to_numpy(Z) if keep_curves else L
    res = (first, to_numpy(conv).astype(bool), to_numpy(n_iter).astype(int))
    if extra:
        n_solved = info.get("n_solved")
        n_solved = np.full(len(Z0), Z.shape[1], dtype=int) if n_solved is None else to_numpy(n_solved).astype(int)
        gain = info.get("last_gain")
        res += (dict(length=L, energy=E, fallback=fallback, n_solved=n_solved,
                     last_gain=None if gain is None else to_numpy(gain).astype(np.float64)),)
    return res
