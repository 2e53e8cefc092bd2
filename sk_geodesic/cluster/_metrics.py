"""The clustering F-measure used by Arvanitidis et al. (2018)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils import check_consistent_length, column_or_1d


def f_measure(labels_true, labels_pred):
    """Clustering F-measure: class-size-weighted best F1 of each class.

    For a class ``i`` with ``n_i`` members and a cluster ``j`` with ``m_j`` members
    sharing ``n_ij`` points, precision ``P = n_ij / m_j``, recall ``R = n_ij / n_i``
    and ``F1(i, j) = 2PR / (P + R) = 2 n_ij / (n_i + m_j)``. The F-measure is

    .. math:: F = \\sum_i \\frac{n_i}{n} \\max_j F1(i, j),

    (Larsen & Aone 1999), the score reported by "Latent space oddity" for k-means on
    MNIST. It lies in [0, 1], is 1 for a perfect clustering, does not depend on
    how clusters are numbered, and is not symmetric in its arguments.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from sk_geodesic.cluster import f_measure
    >>> f_measure([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    >>> round(f_measure([0, 0, 1, 1], [0, 0, 0, 1]), 3)
    0.733
    """
    labels_true = column_or_1d(labels_true)
    labels_pred = column_or_1d(labels_pred)
    check_consistent_length(labels_true, labels_pred)
    if labels_true.shape[0] == 0:
        raise ValueError("f_measure needs at least one sample.")
    C = contingency_matrix(labels_true, labels_pred).astype(np.float64)  # classes x clusters
    n_class = C.sum(axis=1, keepdims=True)
    n_clust = C.sum(axis=0, keepdims=True)
    F = 2.0 * C / (n_class + n_clust)
    return float(np.sum(n_class.ravel() * F.max(axis=1)) / C.sum())
