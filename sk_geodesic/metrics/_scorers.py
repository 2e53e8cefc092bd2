"""sklearn-style scorers ``scorer(estimator, X, y=None)`` built from path metrics."""

from __future__ import annotations

import numpy as np

from ._path import _draw_pairs, length_ratio, path_log_density, path_quality_score, path_realism_index


class PathScorer:
    """A scorer ``scorer(interpolator, X, y=None) -> float`` (higher is better).

    Draws ``n_pairs`` pairs of rows of ``X`` (with ``random_state``), interpolates
    them with the fitted interpolator and averages ``metric(interpolator, path)``
    multiplied by ``sign``. Usable as ``GridSearchCV(..., scoring=scorer)``.

    Parameters
    ----------
    metric : callable
        ``metric(interpolator, path) -> ndarray (n_pairs,)``.
    sign : {1, -1}, default=1
    n_pairs : int, default=20
    random_state : int or None, default=0

    Examples
    --------
    >>> from sk_geodesic.metrics import PathScorer, length_ratio
    >>> scorer = PathScorer(lambda est, p: length_ratio(est, p), sign=-1)
    """

    def __init__(self, metric, sign=1, n_pairs=20, random_state=0):
        self.metric = metric
        self.sign = sign
        self.n_pairs = n_pairs
        self.random_state = random_state

    def __call__(self, estimator, X, y=None):
        X0, X1 = _draw_pairs(X, self.n_pairs, self.random_state)
        path = estimator.path(X0, X1)
        return float(self.sign * np.mean(self.metric(estimator, path)))

    def __repr__(self):
        return f"PathScorer({getattr(self.metric, '__name__', self.metric)}, sign={self.sign})"


def _min_data_log_density(est, path):
    return path_log_density(est._geometry, path, kind="data", reduce="min")


def _mean_data_log_density(est, path):
    return path_log_density(est._geometry, path, kind="data", reduce="mean")


def _length_ratio(est, path):
    return length_ratio(est, path)


def make_path_scorer(name, n_pairs=20, random_state=0, index=None, epsilon=0.0):
    """A named path scorer.

    Parameters
    ----------
    name : {"quality", "min_log_density", "mean_log_density", "neg_length_ratio", "realism"}
        ``"quality"``: :func:`path_quality_score`; ``"realism"``: mean path realism
        (eq. 12) under the realism index ``index`` (a callable, required).

    Returns
    -------
    callable ``scorer(estimator, X, y=None)``
    """
    if name == "quality":
        def scorer(estimator, X, y=None):
            return path_quality_score(estimator, X, n_pairs=n_pairs, random_state=random_state)

        return scorer
    if name == "min_log_density":
        return PathScorer(_min_data_log_density, 1, n_pairs, random_state)
    if name == "mean_log_density":
        return PathScorer(_mean_data_log_density, 1, n_pairs, random_state)
    if name == "neg_length_ratio":
        return PathScorer(_length_ratio, -1, n_pairs, random_state)
    if name == "realism":
        if index is None:
            raise ValueError("the 'realism' scorer needs a fixed index= callable (not the estimator's own)")

        def _realism(est, path):
            return path_realism_index(est, path, index=index, epsilon=epsilon)

        return PathScorer(_realism, 1, n_pairs, random_state)
    raise ValueError(f"unknown scorer {name!r}")
