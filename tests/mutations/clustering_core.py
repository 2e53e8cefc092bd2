"""Breaks of the kNN latent graph and of GeodesicKMeans's use of the manifold."""

from . import Break

T_GRAPH = "tests/test_claims_geometry.py::test_graph_distances_bound_and_approach_great_circles"
T_WALL = "tests/test_claims_cluster.py::test_geodesic_kmeans_beats_kmeans_where_geometry_decides"


def _edge_lengths(mp, kind):
    import numpy as np

    from sk_geodesic.geometry.graph import LatentGraph

    def lengths(self, Za, Zb):
        d = np.linalg.norm(np.asarray(Za) - np.asarray(Zb), axis=-1)
        return np.maximum(d if kind == "latent" else np.ones_like(d), 1e-12)

    mp.setattr(LatentGraph, "_lengths", lengths)


class _PlainLatent:
    """A fitted manifold seen through the identity embedding: lengths are latent distances."""

    def __init__(self, manifold):
        self._m = manifold

    def __getattr__(self, name):
        return getattr(self._m, name)

    def embedding_map(self):
        return lambda z: z


def _kmeans_plain_latent(mp):
    from sk_geodesic.cluster import GeodesicKMeans

    original = GeodesicKMeans._make_interpolator

    def make(self, X, y):
        interp = original(self, X, y)
        interp._geometry = _PlainLatent(interp._geometry)
        return interp

    mp.setattr(GeodesicKMeans, "_make_interpolator", make)


def _predict_farthest(mp):
    import numpy as np

    from sk_geodesic.cluster import GeodesicKMeans

    mp.setattr(GeodesicKMeans, "predict", lambda self, X: np.argmax(self.transform(X), axis=1))


BREAKS = [
    Break(
        name="graph_edges_ignore_manifold",
        description="kNN graph edges weighted by latent (chart) distance instead of length under φ",
        apply=lambda mp: _edge_lengths(mp, "latent"),
        tests=[T_GRAPH],
    ),
    Break(
        name="graph_edges_ignore_manifold_kmeans",
        description="kNN graph edges ignore the manifold, seen by GeodesicKMeans(distance='graph')",
        apply=lambda mp: _edge_lengths(mp, "latent"),
        tests=[f"{T_WALL}[graph]"],
    ),
    Break(
        name="graph_unweighted",
        description="kNN graph edges all weigh 1 (hop counts)",
        apply=lambda mp: _edge_lengths(mp, "hops"),
        tests=[T_GRAPH],
    ),
    Break(
        name="kmeans_plain_latent_distances",
        description="GeodesicKMeans measures plain latent distances (the manifold's φ replaced by the identity)",
        apply=_kmeans_plain_latent,
        tests=[T_WALL],
    ),
    Break(
        name="kmeans_predict_farthest",
        description="GeodesicKMeans.predict returns the farthest medoid",
        apply=_predict_farthest,
        tests=[f"{T_WALL}[geodesic]"],
    ),
]
