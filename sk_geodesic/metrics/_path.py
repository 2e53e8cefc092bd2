"""Quality measures of interpolation paths."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from .._utils import place_module
from ..geometry import curve_length_energy, linear_curve, log_det_metric
from ..geometry.realism import path_realism


def _geometry(obj):
    """The fitted manifold behind an interpolator, a manifold or a FrozenEstimator."""
    if hasattr(obj, "_geometry"):
        check_is_fitted(obj)
        return obj._geometry
    if isinstance(obj, FrozenEstimator):
        obj = obj.estimator
    check_is_fitted(obj)
    return obj


def _curves(geom, Z):
    Z = getattr(Z, "latent", Z)
    Z = np.asarray(Z)
    if Z.ndim == 2:
        Z = Z[None]
    if Z.ndim != 3 or Z.shape[-1] != geom.latent_dim_:
        raise ValueError(f"expected latent curves of shape (n_pairs, n_points, {geom.latent_dim_}), got {Z.shape}")
    return torch.as_tensor(Z, dtype=geom.dtype_, device=geom.device_)


def path_length(model, Z):
    """Length of each piecewise-linear latent curve under φ, measured densely.

    Measured the same way as ``Path.length``
    (:func:`~sk_geodesic.geometry.curve_length_energy`).

    Parameters
    ----------
    model : Interpolator, GenerativeManifold or FrozenEstimator
        Supplies the embedding map φ.
    Z : Path or array-like of shape (n_pairs, n_points, latent_dim)

    Returns
    -------
    ndarray of shape (n_pairs,)
    """
    g = _geometry(model)
    with torch.no_grad():
        return curve_length_energy(g.embedding_map(), _curves(g, Z))[0].cpu().double().numpy()


def length_ratio(model, Z):
    """Dense length of each curve over that of the straight latent segment between
    its endpoints (same number of points), shape (n_pairs,). Below 1: shorter than
    linear interpolation."""
    g = _geometry(model)
    Zt = _curves(g, Z)
    with torch.no_grad():
        embed = g.embedding_map()
        lin = curve_length_energy(embed, linear_curve(Zt[:, 0], Zt[:, -1], Zt.shape[1]))[0]
        L = curve_length_energy(embed, Zt)[0]
    return (L / lin.clamp_min(torch.finfo(Zt.dtype).tiny)).cpu().double().numpy()


def path_log_density(model, Z, kind="data", reduce="mean", log_density=None):
    """Log-density along latent curves.

    Parameters
    ----------
    model : Interpolator, GenerativeManifold or FrozenEstimator
    Z : Path or array-like of shape (n_pairs, n_points, latent_dim)
    kind : {"data", "latent"}, default="data"
        ``"latent"``: log p(z). ``"data"``: the data-space log-density of the
        decoded point on the manifold, log p(x) = log p(z) − ½ log det G(z)
        (Kim & Zhang 2019; G the pullback metric of φ).
    reduce : {"mean", "min", None}, default="mean"
        Mean or minimum over the points of each curve, or the full profile.
    log_density : callable or None
        log p(z); default the manifold's.

    Returns
    -------
    ndarray of shape (n_pairs,) or (n_pairs, n_points)
    """
    if kind not in ("data", "latent"):
        raise ValueError(f"kind must be 'data' or 'latent', got {kind!r}")
    if reduce not in ("mean", "min", None):
        raise ValueError(f"reduce must be 'mean', 'min' or None, got {reduce!r}")
    g = _geometry(model)
    if log_density is None:
        # an interpolator's own density (placed on its device), else the manifold's fitted one
        own = getattr(model, "_latent_log_density", None)
        log_density = own() if callable(own) else g.latent_log_density()
    else:
        log_density = place_module(log_density, g.device_, g.dtype_)
    if log_density is None:
        raise ValueError(f"{type(g).__name__} provides no latent log-density; pass log_density=.")
    Zt = _curves(g, Z)
    B, n, d = Zt.shape
    flat = Zt.reshape(-1, d)
    with torch.no_grad():
        v = log_density(flat)
        if kind == "data":
            v = v - 0.5 * log_det_metric(g.embedding_map(), flat, eps=1e-10)
    v = v.reshape(B, n).cpu().double().numpy()
    if reduce == "mean":
        return v.mean(1)
    if reduce == "min":
        return v.min(1)
    return v


def path_realism_index(model, Z, index=None, epsilon=0.0, normalize=False):
    """Realism of each curve, Struski et al. eq. 12:
    exp(Σ_i log((ri_ε(z_i) + ri_ε(z_{i+1}))/2)·‖Δφ_i‖).

    Parameters
    ----------
    model : Interpolator, GenerativeManifold or FrozenEstimator
    Z : Path or array-like of shape (n_pairs, n_points, latent_dim)
    index : callable or None
        ri: ``(N, d) -> (N,)``; default ``model.realism_index_`` (a fitted
        :class:`~sk_geodesic.interpolation.RealismIndex`).
    epsilon : float, default=0.0
        Rescaling ri_ε = ε + (1 − 2ε)·ri.
    normalize : bool, default=False
        Divide the exponent by the length (length-weighted geometric mean of ri).

    Returns
    -------
    ndarray of shape (n_pairs,)
    """
    g = _geometry(model)
    if index is None:
        index = getattr(model, "realism_index_", None)
    if index is None:
        raise ValueError("pass index= (a realism index callable) or a fitted RealismIndex as model")
    with torch.no_grad():
        return path_realism(g.embedding_map(), index, _curves(g, Z), epsilon, normalize).cpu().double().numpy()


def _draw_pairs(X, n_pairs, random_state):
    X = check_array(X, dtype=[np.float64, np.float32])
    if len(X) < 2:
        raise ValueError("need at least 2 samples to draw pairs")
    rng = check_random_state(random_state)
    i = rng.randint(0, len(X), n_pairs)
    j = (i + 1 + rng.randint(0, len(X) - 1, n_pairs)) % len(X)
    return X[i], X[j]


def path_quality_score(interpolator, X, n_pairs=20, length_penalty=1.0, random_state="interpolator"):
    """Path quality of an interpolator on pairs drawn from ``X`` (higher is better).

    ``n_pairs`` pairs (distinct rows) are drawn from ``X`` with the interpolator's
    ``random_state``; for each path,

        q = min_k log p_x(z_k) − length_penalty · log(L / L_linear),

    with log p_x(z) = log p(z) − ½ log det G(z) the manifold's data-space log-density
    (latent p from the manifold, never the interpolator's own parameters) at the
    path's points, L its length and L_linear that of the straight latent segment.
    The score is the mean of q. A path that avoids low-density regions gains; one
    that detours more than needed pays for its extra length; nothing depends on the
    interpolator's own μ or ε. When the manifold has no log-density, q is the
    length term alone, −log(L / L_linear).
    """
    if random_state == "interpolator":
        random_state = getattr(interpolator, "random_state", None)
    check_is_fitted(interpolator)
    X0, X1 = _draw_pairs(X, n_pairs, random_state)
    p = interpolator.path(X0, X1)
    g = interpolator._geometry
    q = -length_penalty * np.log(np.maximum(length_ratio(g, p.latent), 1e-300))
    if g.latent_log_density() is not None:
        q = q + path_log_density(g, p.latent, kind="data", reduce="min")
    return float(np.mean(q))
