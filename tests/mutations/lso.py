"""Breaks of the density-aware graph clustering of the LSO protocol: power-weighted graph
distances (``edge_power``), density-trimmed medoids (``density_trim``) and the protocol defaults."""

from . import Break

T = "tests/test_density_kmedoids.py"
LSO = "tests/test_lso.py"


def _power_ignored(mp):
    from sk_geodesic.geometry.graph import LatentGraph

    init = LatentGraph.__init__

    def __init__(self, *args, **kwargs):
        kwargs["edge_power"] = 1.0
        init(self, *args, **kwargs)

    mp.setattr(LatentGraph, "__init__", __init__)


def _no_root(mp):
    import sk_geodesic.cluster._kmedoids as km

    mp.setattr(km, "_PowerRoot", lambda dist, p: dist)


def _trim_ignored(mp):
    import numpy as np

    from sk_geodesic.cluster._kmedoids import GeodesicKMeans

    mp.setattr(GeodesicKMeans, "_core_points", lambda self, Z, rng, init_idx: np.arange(len(Z)))


def _trim_wrong_end(mp):
    from sk_geodesic.cluster._kmedoids import GeodesicKMeans

    orig = GeodesicKMeans._latent_log_density
    mp.setattr(GeodesicKMeans, "_latent_log_density", lambda self, Z, rng: -orig(self, Z, rng))


def _assign_core_only(mp):
    # labels from the core search only: trimmed points keep whatever the subset search gave
    import numpy as np

    from sk_geodesic.cluster._kmedoids import GeodesicKMeans

    orig = GeodesicKMeans._assign

    def _assign(self, dist, medoids):
        labels, d = orig(self, dist, medoids)
        if len(labels) == len(self._Z_train) and hasattr(self, "core_sample_indices_"):
            mask = np.ones(len(labels), bool)
            mask[self.core_sample_indices_] = False
            labels = labels.copy()
            labels[mask] = 0
        return labels, d

    mp.setattr(GeodesicKMeans, "_assign", _assign)


def _lso_plain(mp):
    from sk_geodesic.cluster import _experiment

    kw = dict(_experiment.lso_experiment.__kwdefaults__, edge_power=1.0, density_trim=0.0)
    mp.setattr(_experiment.lso_experiment, "__kwdefaults__", kw)


BREAKS = [
    Break("power_ignored", "graph edges keep their plain length whatever edge_power says", _power_ignored,
          [f"{T}::test_power_weighted_distances_match_floyd_warshall[2.0]"]),
    Break("no_root", "the k-medoids search uses the power-weighted path cost, not its p-th root", _no_root,
          [f"{T}::test_power_weighted_distances_match_floyd_warshall[2.0]"]),
    Break("trim_ignored", "density_trim leaves every point in the k-medoids search", _trim_ignored,
          [f"{T}::test_density_trim_keeps_medoids_in_the_dense_cores[0]"]),
    Break("trim_wrong_end", "density_trim keeps the least dense points instead of the densest", _trim_wrong_end,
          [f"{T}::test_density_trim_uses_the_manifold_density", f"{T}::test_density_trim_keeps_medoids_in_the_dense_cores[0]"]),
    Break("assign_core_only", "trimmed points are not assigned to their nearest medoid", _assign_core_only,
          [f"{T}::test_density_trim_keeps_medoids_in_the_dense_cores[0]"]),
    Break("lso_plain", "the LSO protocol runs plain graph geodesics with every point in the search", _lso_plain,
          [f"{LSO}::test_lso_protocol_uses_density_trimmed_power_graph_geodesics"]),
]
