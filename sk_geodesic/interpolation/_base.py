"""The ``Interpolator`` base shared by every interpolation method."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_array, gen_batches
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm.auto import tqdm

from .._utils import resolve_device, seed_from, to_numpy
from ..geometry import curve_length_energy, embed_curve, linear_curve
from ..geometry.graph import LatentGraph, check_connected, graph_curves, shortest_paths


@dataclass
class Path:
    """Result of :meth:`Interpolator.path`.

    Attributes
    ----------
    latent : ndarray (n_pairs, n_points, latent_dim)
        The latent curves; between two nodes the curve is the straight latent segment.
    decoded : ndarray (n_pairs, n_points, n_features)
        The decoded means along them.
    t : ndarray (n_points,)
        Curve parameter, t_i = i / (n_points − 1).
    length : ndarray (n_pairs,)
        Length of the returned piecewise-linear latent curve under the manifold's
        embedding map, measured densely by
        :func:`~sk_geodesic.geometry.curve_length_energy` (every latent segment at 8
        sub-segments, Richardson-extrapolated), so a steep ridge of φ between two
        nodes is counted, not skipped.
    energy : ndarray (n_pairs,)
        Energy (N − 1) Σ‖Δφ‖² over the same N − 1 sub-segments (L² ≤ energy).
    converged : ndarray (n_pairs,) of bool
    n_iter : ndarray (n_pairs,) of int
    fallback : ndarray (n_pairs,) of bool
        True where the optimised curve came out densely longer than the straight
        latent segment, so the straight segment was returned instead
        (:class:`~sk_geodesic.interpolation.Geodesic` only; False elsewhere).
    """

    latent: np.ndarray
    decoded: np.ndarray
    t: np.ndarray
    length: np.ndarray
    energy: np.ndarray
    converged: np.ndarray
    n_iter: np.ndarray
    fallback: np.ndarray = None

    def __post_init__(self):
        if self.fallback is None:
            self.fallback = np.zeros(len(self.length), dtype=bool)

    def __len__(self):
        return self.latent.shape[0]

    def __getitem__(self, i):
        sl = slice(i, i + 1) if isinstance(i, (int, np.integer)) else i
        return Path(
            self.latent[sl], self.decoded[sl], self.t, self.length[sl], self.energy[sl], self.converged[sl],
            self.n_iter[sl], self.fallback[sl],
        )


def _unwrap_manifold(manifold):
    return manifold.estimator if isinstance(manifold, FrozenEstimator) else manifold


def _is_fitted(est):
    try:
        check_is_fitted(est)
        return True
    except NotFittedError:
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
        :class:`sklearn.frozen.FrozenEstimator`) is used as is; an unfitted one is
        cloned and fitted on ``X`` in :meth:`fit`. ``None`` means a default
        :class:`~sk_geodesic.manifolds.VAE`.
    n_points : int
        Points per discrete curve, endpoints included.
    max_iter : int
        Most solver iterations per pair.
    tol : float
        Relative objective decrease under which a pair has converged.
    init : {"linear", "graph"}
        Initial curve: the straight latent segment, or the shortest path of a kNN
        graph over the manifold's encoded training points (Chen et al. 2019).
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
        "manifold": [None, HasMethods(["fit", "transform"])],
        "n_points": [Interval(Integral, 2, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "init": [StrOptions({"linear", "graph"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [None, Integral],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # which manifold callables a subclass needs (checked at fit)
    _requires_log_density = False

    # -- fitting ------------------------------------------------------------------------------
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
        return self

    def _fitted_manifold(self, X, y):
        if self.manifold is None:
            from ..manifolds import VAE

            return VAE(random_state=self.random_state).fit(X)
        if _is_fitted(_unwrap_manifold(self.manifold)):
            return self.manifold
        return clone(self.manifold).fit(X, y)

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
            nodes = m.transform(X)
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
            if Z.shape[1] != self.latent_dim_:
                raise ValueError(f"latent endpoints have {Z.shape[1]} features; the latent space has {self.latent_dim_}.")
            return Z
        X = np.atleast_2d(check_array(X, dtype=[np.float64, np.float32], ensure_2d=False))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return self._geometry.transform(X)

    def _initial_curves(self, Z0, Z1):
        t0 = torch.as_tensor(Z0, dtype=self.dtype_, device=self.device_)
        t1 = torch.as_tensor(Z1, dtype=self.dtype_, device=self.device_)
        if self.init != "graph" or self.graph_ is None:
            return linear_curve(t0, t1, self.n_points)
        B = len(Z0)
        A, nodes = self.graph_.with_queries(np.vstack([Z0, Z1]))
        N = len(self.graph_.nodes)
        curves, _, ok = graph_curves(A, nodes, N + np.arange(B), N + B + np.arange(B), self.n_points)
        if not ok.all():
            warnings.warn(
                f"{int((~ok).sum())} of {B} pairs lie in different components of the kNN graph; "
                "they start from straight segments instead (increase n_neighbors to connect them).",
                UserWarning,
                stacklevel=3,
            )
        return torch.as_tensor(curves, dtype=self.dtype_, device=self.device_)

    # -- public API -----------------------------------------------------------------------------------
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
        Z, conv, n_iter, extra = self._run_batches(Z0, Z1, keep_curves=True, return_extra=True)
        decode = self._geometry.decoding_map()
        with torch.no_grad():
            Zt = torch.as_tensor(Z, dtype=self.dtype_, device=self.device_)
            decoded = to_numpy(embed_curve(decode, Zt))
        return Path(Z, decoded, np.linspace(0.0, 1.0, self.n_points), extra["length"], extra["energy"], conv, n_iter,
                    extra["fallback"])

    def length(self, X0, X1, latent=False):
        """Path lengths between aligned pairs ``X0[i]``–``X1[i]``, shape (n_pairs,)."""
        check_is_fitted(self)
        Z0, Z1 = self._as_latent(X0, latent), self._as_latent(X1, latent)
        if Z0.shape != Z1.shape:
            raise ValueError(f"X0 and X1 must have the same shape, got {Z0.shape} and {Z1.shape}")
        return self._run_batches(Z0, Z1, keep_curves=False)[0]

    def pairwise_distances(self, X, Y=None, latent=False):
        """Matrix of path lengths between the rows of ``X`` and ``Y``.

        With ``Y=None`` only the pairs i < j of ``X`` are solved (the matrix is
        symmetric with a zero diagonal).

        Returns
        -------
        D : ndarray of shape (n_samples_X, n_samples_Y)
        """
        check_is_fitted(self)
        ZX = self._as_latent(X, latent)
        if Y is None:
            i, j = np.triu_indices(len(ZX), k=1)
            D = np.zeros((len(ZX), len(ZX)))
            if len(i):
                d = self._run_batches(ZX[i], ZX[j], keep_curves=False)[0]
                D[i, j] = d
                D[j, i] = d
            return D
        ZY = self._as_latent(Y, latent)
        i, j = np.meshgrid(np.arange(len(ZX)), np.arange(len(ZY)), indexing="ij")
        d = self._run_batches(ZX[i.ravel()], ZY[j.ravel()], keep_curves=False)[0]
        return d.reshape(len(ZX), len(ZY))

    def score(self, X, y=None):
        """Mean log-density-free path quality: the negative mean length ratio to Linear.

        Pairs are drawn from ``X`` with ``random_state``; see
        :func:`sk_geodesic.metrics.path_quality_score` for the definition.
        """
        from ..metrics import path_quality_score

        return path_quality_score(self, X)

    # -- batching, parallelism, warnings ------------------------------------------------------------
    def _run_batches(self, Z0, Z1, keep_curves, return_extra=False):
        """Solve pairs batch by batch → (curves or dense lengths, converged, n_iter).

        With ``return_extra`` a fourth item, a dict of per-pair arrays ``length``,
        ``energy`` (dense, of the returned curves) and ``fallback``, is appended.
        """
        n = len(Z0)
        batches = list(gen_batches(n, self.batch_size))
        bar = tqdm(total=n, desc=type(self).__name__, unit="pair", disable=not self.verbose or n == 0)
        results = []
        if self.n_jobs in (None, 1) or len(batches) == 1:
            for sl in batches:
                results.append(_solve_batch(self, Z0[sl], Z1[sl], keep_curves, extra=True))
                bar.update(sl.stop - sl.start)
        else:
            # Each job gets a pickled copy of the fitted interpolator; the backend is the
            # caller's choice (loky by default, Dask inside joblib.parallel_backend("dask")).
            jobs = Parallel(n_jobs=self.n_jobs, return_as="generator")(
                delayed(_solve_batch)(self, Z0[sl], Z1[sl], keep_curves, extra=True) for sl in batches
            )
            for sl, res in zip(batches, jobs):
                results.append(res)
                bar.update(sl.stop - sl.start)
        bar.close()
        if n == 0:
            empty = np.zeros((0, self.n_points, self.latent_dim_)) if keep_curves else np.zeros(0)
            out = (empty, np.zeros(0, dtype=bool), np.zeros(0, dtype=int))
            if return_extra:
                out += (dict(length=np.zeros(0), energy=np.zeros(0), fallback=np.zeros(0, dtype=bool)),)
            return out
        out = np.concatenate([r[0] for r in results])
        conv = np.concatenate([r[1] for r in results])
        n_iter = np.concatenate([r[2] for r in results])
        extra = {k: np.concatenate([r[3][k] for r in results]) for k in ("length", "energy", "fallback")}
        if not conv.all():
            warnings.warn(
                f"{type(self).__name__}: {int((~conv).sum())} of {n} pairs did not converge within "
                f"max_iter={self.max_iter} iterations (tol={self.tol}); increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if return_extra:
            return out, conv, n_iter, extra
        return out, conv, n_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _solve_batch(interp, Z0, Z1, keep_curves, extra=False):
    """Solve one batch of pairs → (curves or dense lengths, converged, n_iter[, extra]).

    ``interp._solve`` may return ``(Z, converged, n_iter)`` or, when it measured its
    curves itself, ``(Z, converged, n_iter, info)`` with ``info["length"]``,
    ``info["energy"]`` (dense, of the returned curves) and optionally
    ``info["fallback"]``. Otherwise the lengths are measured here, densely
    (:func:`~sk_geodesic.geometry.curve_length_energy`): reported lengths are always
    those of the returned piecewise-linear curves.
    """
    Zinit = interp._initial_curves(Z0, Z1)
    out = interp._solve(Zinit)
    Z, conv, n_iter = out[:3]
    info = out[3] if len(out) > 3 else {}
    embed = interp._geometry.embedding_map()
    if "length" in info:
        L, E = info["length"], info["energy"]
    else:
        with torch.no_grad():
            L, E = curve_length_energy(embed, Z)
    fallback = info.get("fallback")
    fallback = np.zeros(len(Z0), dtype=bool) if fallback is None else to_numpy(fallback).astype(bool)
    same = torch.as_tensor(np.all(Z0 == Z1, axis=1), device=Z.device)
    if bool(same.any()):
        # identical endpoints: the constant curve, exactly (zero length by definition)
        Z = torch.where(same[:, None, None], Z[:, :1].expand_as(Z), Z)
        L = torch.where(same, torch.zeros_like(L), L)
        E = torch.where(same, torch.zeros_like(E), E)
        conv = torch.as_tensor(conv).clone()
        conv[same.to(conv.device)] = True
        fallback = fallback & ~to_numpy(same).astype(bool)
    L = to_numpy(L).astype(np.float64)
    first = to_numpy(Z) if keep_curves else L
    res = (first, to_numpy(conv).astype(bool), to_numpy(n_iter).astype(int))
    if extra:
        res += (dict(length=L, energy=to_numpy(E).astype(np.float64), fallback=fallback),)
    return res
