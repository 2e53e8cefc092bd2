"""Clustering under geodesic (path-length) distances on generative manifolds.

GeodesicKMeans
    k-medoids with interpolator path lengths or kNN-graph geodesic distances.
f_measure
    The clustering F-measure of "Latent space oddity" (Arvanitidis et al. 2018).
lso_experiment
    Their MNIST clustering protocol: geodesic k-medoids vs Euclidean k-means.
"""

from ._experiment import LSO_PRESETS, load_lso_data, lso_experiment, lso_verdict
from ._kmedoids import GeodesicKMeans
from ._metrics import f_measure

__all__ = ["GeodesicKMeans", "f_measure", "lso_experiment", "lso_verdict", "load_lso_data", "LSO_PRESETS"]
