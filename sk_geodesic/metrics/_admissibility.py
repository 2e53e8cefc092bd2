"""Admissible-interpolation criteria of Oring, Yakhini & Hel-Or (2021, Sec. 2), and the
ground-truth evaluations of their Sec. 4.3 (MSE against the true in-between image,
α-retrieval).

Every function takes the *decoded* interpolants: a :class:`~sk_geodesic.interpolation.Path`
(its ``decoded`` attribute is used) or an array of shape (n_pairs, n_points, n_features)
(a single path of shape (n_points, n_features) is accepted too). The interpolation
parameter of point k is α_k = k / (n_points − 1) unless the path says otherwise
(``Path.t``).
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array


def _decoded(path):
    X = getattr(path, "decoded", path)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3 or X.shape[1] < 2:
        raise ValueError(f"expected decoded paths of shape (n_pairs, n_points >= 2, n_features), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("the decoded paths contain NaN or infinite values")
    return X


def _alphas(path, n_points):
    t = getattr(path, "t", None)
    if t is None:
        return np.linspace(0.0, 1.0, n_points)
    return np.asarray(t, dtype=np.float64)


def _endpoints(x, B, D, name):
    x = np.asarray(x, dtype=np.float64)
    x = np.atleast_2d(x)
    if x.shape == (1, D) and B > 1:
        x = np.repeat(x, B, 0)
    if x.shape != (B, D):
        raise ValueError(f"{name} must have shape ({B}, {D}) to match the paths, got {x.shape}")
    return x


# -- 1. boundary -------------------------------------------------------------------------------
def boundary_error(path, x0, x1):
    """Boundary condition x̂(0) = x_i, x̂(1) = x_j: the mean squared error per feature of the
    two endpoint reconstructions, averaged over the two ends.

    Parameters
    ----------
    path : Path or array-like of shape (n_pairs, n_points, n_features)
    x0, x1 : array-like of shape (n_pairs, n_features)
        The data points the paths should start and end at.

    Returns
    -------
    ndarray of shape (n_pairs,)

    Examples
    --------
    >>> import numpy as np
    >>> from sk_geodesic.metrics import boundary_error
    >>> P = np.linspace([0.0, 0.0], [1.0, 1.0], 5)[None]
    >>> boundary_error(P, [[0.0, 0.0]], [[1.0, 0.0]])
    array([0.25])
    """
    X = _decoded(path)
    B, _, D = X.shape
    x0, x1 = _endpoints(x0, B, D, "x0"), _endpoints(x1, B, D, "x1")
    return 0.5 * (((X[:, 0] - x0) ** 2).mean(1) + ((X[:, -1] - x1) ** 2).mean(1))


# -- 2. monotonicity -----------------------------------------------------------------------------
def monotonicity(path, x0=None, x1=None, tol=0.0):
    """Fraction of steps along α that move away from x_i *and* towards x_j.

    Step k → k+1 complies when d(x̂_{k+1}, x_i) ≥ d(x̂_k, x_i) − tol and
    d(x̂_{k+1}, x_j) ≤ d(x̂_k, x_j) + tol (Euclidean d). A monotone interpolation
    scores 1.

    Parameters
    ----------
    path : Path or array-like of shape (n_pairs, n_points, n_features)
    x0, x1 : array-like of shape (n_pairs, n_features) or None
        Reference endpoints; ``None`` uses the path's own first and last points.
    tol : float, default=0.0
        Slack on each comparison.

    Returns
    -------
    ndarray of shape (n_pairs,)

    Examples
    --------
    >>> import numpy as np
    >>> from sk_geodesic.metrics import monotonicity
    >>> straight = np.linspace([0.0], [1.0], 5)[None]
    >>> back_and_forth = np.array([[[0.0], [0.6], [0.3], [0.8], [1.0]]])
    >>> monotonicity(straight), monotonicity(back_and_forth)
    (array([1.]), array([0.75]))
    """
    X = _decoded(path)
    B, n, D = X.shape
    x0 = X[:, 0] if x0 is None else _endpoints(x0, B, D, "x0")
    x1 = X[:, -1] if x1 is None else _endpoints(x1, B, D, "x1")
    d0 = np.linalg.norm(X - x0[:, None], axis=-1)
    d1 = np.linalg.norm(X - x1[:, None], axis=-1)
    ok = (np.diff(d0, axis=1) >= -tol) & (np.diff(d1, axis=1) <= tol)
    return ok.mean(1)


# -- 3. smoothness --------------------------------------------------------------------------------
def lipschitz_constant(path):
    """Discrete Lipschitz estimate K = max_k ‖x̂(α_{k+1}) − x̂(α_k)‖ / (α_{k+1} − α_k).

    Returns
    -------
    ndarray of shape (n_pairs,)
    """
    X = _decoded(path)
    t = _alphas(path, X.shape[1])
    steps = np.linalg.norm(np.diff(X, axis=1), axis=-1)
    return (steps / np.diff(t)).max(1)


def step_evenness(path):
    """How evenly the image-space distance is spread over α: L² / ((n − 1) Σ‖Δx̂_k‖²).

    L = Σ‖Δx̂_k‖ is the path length. By Cauchy–Schwarz the ratio lies in [1/(n − 1), 1]
    and equals 1 exactly when every step has the same length (constant speed in α),
    1/(n − 1) when all the change happens in one step. A path that does not move at all
    scores 1.

    Returns
    -------
    ndarray of shape (n_pairs,)

    Examples
    --------
    >>> import numpy as np
    >>> from sk_geodesic.metrics import step_evenness
    >>> even = np.linspace([0.0], [1.0], 5)[None]
    >>> jump = np.array([[[0.0], [0.0], [1.0], [1.0], [1.0]]])
    >>> step_evenness(even), step_evenness(jump)
    (array([1.]), array([0.25]))
    """
    X = _decoded(path)
    steps = np.linalg.norm(np.diff(X, axis=1), axis=-1)
    L = steps.sum(1)
    E = (steps**2).sum(1) * steps.shape[1]
    out = np.ones(X.shape[0])
    moving = E > 0
    out[moving] = L[moving] ** 2 / E[moving]
    return out


def smoothness(path):
    """Smoothness summary: Lipschitz estimate, step evenness and step-length spread.

    Returns
    -------
    dict with ``"lipschitz"`` (:func:`lipschitz_constant`), ``"evenness"``
    (:func:`step_evenness`) and ``"step_cv"`` (coefficient of variation of the step
    lengths ‖Δx̂_k‖; 0 for constant speed), each an ndarray of shape (n_pairs,).
    """
    X = _decoded(path)
    steps = np.linalg.norm(np.diff(X, axis=1), axis=-1)
    mean = steps.mean(1)
    cv = np.divide(steps.std(1), mean, out=np.zeros_like(mean), where=mean > 0)
    return {"lipschitz": lipschitz_constant(path), "evenness": step_evenness(path), "step_cv": cv}


# -- 4. credibility ---------------------------------------------------------------------------------
def _nn_distance(Q, R, exclude_self=False, chunk=2048):
    from sklearn.metrics import pairwise_distances_chunked

    out = []
    for block in pairwise_distances_chunked(Q, R, working_memory=64):
        if exclude_self:
            start = sum(len(o) for o in out)
            rows = np.arange(len(block))
            block = block.copy()
            block[rows, start + rows] = np.inf
        out.append(block.min(1))
    return np.concatenate(out)


def credibility_scores(path, judge, X_reference=None):
    """Per-point credibility score of the interpolants (higher is more credible).

    Parameters
    ----------
    path : Path or array-like of shape (n_pairs, n_points, n_features)
    judge : callable, classifier, density estimator or "nearest"
        * a callable (e.g. a trained discriminator, NumPy or Torch) mapping
          (N, n_features) to probabilities in [0, 1] of belonging to the data;
        * a fitted classifier with ``predict_proba``: the largest class probability;
        * a fitted density with ``score_samples`` (log-density, e.g.
          :class:`sklearn.neighbors.KernelDensity`);
        * ``"nearest"``: minus the Euclidean distance to the nearest row of
          ``X_reference`` (the training images).
    X_reference : array-like of shape (n_reference, n_features) or None
        Needed by ``"nearest"``.

    Returns
    -------
    ndarray of shape (n_pairs, n_points)
    """
    X = _decoded(path)
    B, n, D = X.shape
    flat = X.reshape(-1, D)
    if isinstance(judge, str):
        if judge != "nearest":
            raise ValueError(f"judge must be a callable, a classifier, a density or 'nearest', got {judge!r}")
        if X_reference is None:
            raise ValueError("judge='nearest' needs X_reference (the training images)")
        R = check_array(X_reference, dtype=np.float64)
        s = -_nn_distance(flat, R)
    elif hasattr(judge, "predict_proba"):
        s = np.asarray(judge.predict_proba(flat)).max(1)
    elif hasattr(judge, "score_samples"):
        s = np.asarray(judge.score_samples(flat), dtype=np.float64)
    elif callable(judge):
        s = _call_judge(judge, flat)
    else:
        raise TypeError(f"cannot score with a {type(judge).__name__}")
    return np.asarray(s, dtype=np.float64).reshape(B, n)


def _call_judge(judge, flat):
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(judge, torch.nn.Module):
        p = next(judge.parameters(), None)
        dtype = p.dtype if p is not None else torch.float32
        device = p.device if p is not None else "cpu"
        with torch.no_grad():
            out = judge(torch.as_tensor(flat, dtype=dtype, device=device))
        return out.detach().cpu().double().numpy().reshape(-1)
    out = judge(flat)
    if torch is not None and isinstance(out, torch.Tensor):
        out = out.detach().cpu().double().numpy()
    return np.asarray(out, dtype=np.float64).reshape(-1)


def credibility(path, judge, beta=0.1, X_reference=None):
    """Fraction of interpolants that are credible members of the data set.

    For a probability judge (a callable or a classifier, see
    :func:`credibility_scores`) a point is credible when P(x̂(α)) ≥ 1 − β, the paper's
    condition. A density or ``"nearest"`` judge gives no probability; the point is then
    credible when its score is at least the β-quantile of the same score over
    ``X_reference`` (for ``"nearest"``: each reference point's distance to its nearest
    *other* reference point), i.e. when it is no less typical than all but a fraction β
    of the training data.

    Parameters
    ----------
    path : Path or array-like of shape (n_pairs, n_points, n_features)
    judge : callable, classifier, density estimator or "nearest"
    beta : float in [0, 1], default=0.1
    X_reference : array-like of shape (n_reference, n_features) or None
        Required for density and ``"nearest"`` judges.

    Returns
    -------
    ndarray of shape (n_pairs,)

    Examples
    --------
    >>> import numpy as np
    >>> from sk_geodesic.metrics import credibility
    >>> train = np.linspace([0.0, 0.0], [1.0, 0.0], 11)         # data on a segment
    >>> on = np.linspace([0.0, 0.0], [1.0, 0.0], 5)[None]
    >>> off = np.array([[[0.0, 0.0], [0.5, 0.5], [1.0, 0.0]]])
    >>> credibility(on, "nearest", X_reference=train), credibility(off, "nearest", X_reference=train)
    (array([1.]), array([0.66666667]))
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta}")
    s = credibility_scores(path, judge, X_reference)
    if isinstance(judge, str) or (hasattr(judge, "score_samples") and not hasattr(judge, "predict_proba")):
        if X_reference is None:
            raise ValueError("a density judge needs X_reference to calibrate its threshold")
        R = check_array(X_reference, dtype=np.float64)
        ref = -_nn_distance(R, R, exclude_self=True) if isinstance(judge, str) else np.asarray(judge.score_samples(R), dtype=np.float64)
        threshold = np.quantile(ref, beta)
        # a small relative slack so an exact copy of a reference point always passes
        return (s >= threshold - 1e-12 * max(1.0, abs(threshold))).mean(1)
    return (s >= 1.0 - beta).mean(1)


# -- ground truth ------------------------------------------------------------------------------------
def ground_truth_mse(path, X_true):
    """Mean squared error (per feature) of each interpolant against the true image at its α.

    Parameters
    ----------
    path : Path or array-like of shape (n_pairs, n_points, n_features)
    X_true : array-like of shape (n_pairs, n_points, n_features)
        The ground-truth image at each α (NaN rows are skipped: their error is NaN).

    Returns
    -------
    ndarray of shape (n_pairs, n_points)

    Examples
    --------
    >>> import numpy as np
    >>> from sk_geodesic.metrics import ground_truth_mse
    >>> truth = np.zeros((1, 3, 4))
    >>> ground_truth_mse(truth + 0.1, truth).round(6)
    array([[0.01, 0.01, 0.01]])
    """
    X = _decoded(path)
    T = np.asarray(X_true, dtype=np.float64)
    if T.ndim == 2:
        T = T[None]
    if T.shape != X.shape:
        raise ValueError(f"X_true has shape {T.shape}, the paths {X.shape}")
    return ((X - T) ** 2).mean(-1)


def nearest_reference(path, X_reference):
    """Index of the nearest row of ``X_reference`` (Euclidean) for each interpolant.

    Returns
    -------
    ndarray of int, shape (n_pairs, n_points)
    """
    from sklearn.metrics import pairwise_distances_argmin

    X = _decoded(path)
    R = check_array(X_reference, dtype=np.float64)
    if R.shape[1] != X.shape[2]:
        raise ValueError(f"X_reference has {R.shape[1]} features, the paths {X.shape[2]}")
    return pairwise_distances_argmin(X.reshape(-1, X.shape[2]), R).reshape(X.shape[:2])


def retrieve_alpha(path, X_reference, reference_alpha):
    """α-retrieval (Oring et al., Figs. 7 and 15): the α of the nearest data-set image.

    Parameters
    ----------
    path : Path or array-like of shape (n_pairs, n_points, n_features)
    X_reference : array-like of shape (n_reference, n_features)
        The data set searched (all images, with their known parameters).
    reference_alpha : array-like of shape (n_pairs, n_reference)
        For each pair, the interpolation parameter each reference image has with
        respect to that pair (e.g. (φ_ref − φ_i)/(φ_j − φ_i) along an azimuth interval).

    Returns
    -------
    ndarray of shape (n_pairs, n_points)
        The retrieved α̂ of every interpolant.
    """
    idx = nearest_reference(path, X_reference)
    A = np.asarray(reference_alpha, dtype=np.float64)
    if A.ndim == 1:
        A = np.broadcast_to(A, (idx.shape[0], A.shape[0]))
    if A.shape[0] != idx.shape[0]:
        raise ValueError(f"reference_alpha has {A.shape[0]} rows for {idx.shape[0]} paths")
    return np.take_along_axis(A, idx, axis=1)


def alpha_retrieval_summary(alpha_true, alpha_hat):
    """Median and inter-quartile range of α̂ per true α, and the median absolute error.

    Parameters
    ----------
    alpha_true, alpha_hat : array-like of the same shape

    Returns
    -------
    dict with ``"alpha"`` (the distinct true values), ``"median"``, ``"q25"``, ``"q75"``
    (of α̂ at each), and ``"median_abs_error"`` (median absolute error of α̂ over all points).
    """
    a = np.asarray(alpha_true, dtype=np.float64).ravel()
    h = np.asarray(alpha_hat, dtype=np.float64).ravel()
    if a.shape != h.shape:
        raise ValueError("alpha_true and alpha_hat must have the same shape")
    values = np.unique(np.round(a, 10))
    med, q25, q75 = [], [], []
    for v in values:
        sel = h[np.isclose(a, v)]
        q = np.quantile(sel, [0.25, 0.5, 0.75])
        q25.append(q[0])
        med.append(q[1])
        q75.append(q[2])
    return {
        "alpha": values,
        "median": np.array(med),
        "q25": np.array(q25),
        "q75": np.array(q75),
        "median_abs_error": float(np.median(np.abs(h - a))),
    }


# -- scorers -----------------------------------------------------------------------------------------
class AdmissibilityScorer:
    """An sklearn scorer ``scorer(interpolator, X, y=None) -> float`` from an admissibility
    criterion (higher is better).

    Draws ``n_pairs`` pairs of distinct rows of ``X``, interpolates them with the fitted
    interpolator and averages the criterion over the pairs.

    Parameters
    ----------
    criterion : {"monotonicity", "evenness", "neg_lipschitz", "neg_boundary_error", "credibility"}
    n_pairs : int, default=20
    random_state : int or None, default=0
    judge, beta : passed to :func:`credibility` (``"credibility"`` only); with
        ``judge="nearest"`` the reference is the ``X`` given to the scorer.

    Examples
    --------
    >>> from sk_geodesic.metrics import AdmissibilityScorer
    >>> scorer = AdmissibilityScorer("monotonicity", n_pairs=10)
    """

    _CRITERIA = ("monotonicity", "evenness", "neg_lipschitz", "neg_boundary_error", "credibility")

    def __init__(self, criterion, n_pairs=20, random_state=0, judge="nearest", beta=0.1):
        if criterion not in self._CRITERIA:
            raise ValueError(f"criterion must be one of {self._CRITERIA}, got {criterion!r}")
        self.criterion = criterion
        self.n_pairs = n_pairs
        self.random_state = random_state
        self.judge = judge
        self.beta = beta

    def __call__(self, estimator, X, y=None):
        X = check_array(X, dtype=[np.float64, np.float32])
        if len(X) < 2:
            raise ValueError("need at least 2 samples to draw pairs")
        rng = check_random_state(self.random_state)
        i = rng.randint(0, len(X), self.n_pairs)
        j = (i + 1 + rng.randint(0, len(X) - 1, self.n_pairs)) % len(X)
        path = estimator.path(X[i], X[j])
        c = self.criterion
        if c == "monotonicity":
            v = monotonicity(path, X[i], X[j])
        elif c == "evenness":
            v = step_evenness(path)
        elif c == "neg_lipschitz":
            v = -lipschitz_constant(path)
        elif c == "neg_boundary_error":
            v = -boundary_error(path, X[i], X[j])
        else:
            v = credibility(path, self.judge, self.beta, X_reference=X)
        return float(np.mean(v))

    def __repr__(self):
        return f"AdmissibilityScorer({self.criterion!r}, n_pairs={self.n_pairs})"
