"""Breaks of sk_geodesic.cluster (GeodesicKMeans, the LSO protocol) and its graph distances."""

from . import Break

PAM = "tests/test_pam.py"
LSO = "tests/test_lso.py"


def _no_swaps(mp):
    from sk_geodesic.cluster._kmedoids import GeodesicKMeans

    def fasterpam(self, dist, medoids):  # keeps the seeding: no swap search
        labels, d = self._assign(dist, medoids)
        return medoids, labels, float(d.sum()), 0

    mp.setattr(GeodesicKMeans, "_fasterpam", fasterpam)


def _queries_as_nodes(mp):
    import sk_geodesic.cluster._kmedoids as km
    from sk_geodesic.geometry.graph import multi_source_distances

    def query_distances(graph, sources, Q, n_jobs=None, chunk_size=128):  # the old Dijkstra through queries
        A, _ = graph.with_queries(Q)
        return multi_source_distances(A, sources)[:, len(graph.nodes):]

    mp.setattr(km, "query_distances", query_distances)
    import sk_geodesic.geometry.graph as g

    mp.setattr(g, "query_distances", query_distances)
    import tests.test_pam as t

    mp.setattr(t, "query_distances", query_distances)


def _batch_dependent_encoding(mp):
    import numpy as np

    from sk_geodesic.cluster._kmedoids import GeodesicKMeans

    mp.setattr(GeodesicKMeans, "_encode",
               lambda self, X: np.asarray(self.interpolator_._as_latent(X, latent=False), dtype=np.float64))


def _no_duplicate_warning(mp):
    import sk_geodesic.cluster._kmedoids as km

    class _W:
        @staticmethod
        def warn(*a, **k):
            pass

    mp.setattr(km, "warnings", _W)


def _mutual_is_knn(mp):
    from sk_geodesic.geometry.graph import LatentGraph

    init = LatentGraph.__init__

    def patched(self, *a, **k):
        k["mutual"] = False
        init(self, *a, **k)

    mp.setattr(LatentGraph, "__init__", patched)


def _auto_not_widened(mp):
    from sk_geodesic.cluster._kmedoids import GeodesicKMeans

    build = GeodesicKMeans._build_graph

    def patched(self, Z):
        if self.n_neighbors == "auto":
            old = self.n_neighbors
            self.n_neighbors = 5
            try:
                return build(self, Z)
            finally:
                self.n_neighbors = old
        return build(self, Z)

    mp.setattr(GeodesicKMeans, "_build_graph", patched)


def _spread_for_one_seed(mp):
    import sk_geodesic.cluster._experiment as ex

    mp.setattr(ex, "_fmt", lambda ms, n: f"{ms[0]:.1f} ± {ms[1]:.1f}")


def _always_verdict(mp):
    # import everything before patching: a module first imported while the patch is active
    # would keep the patched function after ``mp.undo()`` (and leak into later runs)
    import sk_geodesic.cluster as c
    import sk_geodesic.cluster._experiment as ex
    import tests.test_lso as t

    always = lambda runs, margin=0.0: "Verdict: graph-geodesic k-medoids beats Euclidean"  # noqa: E731
    for module in (ex, c, t):
        mp.setattr(module, "lso_verdict", always)


def _scores_of_wrong_labels(mp):
    import sk_geodesic.cluster._metrics as m

    import numpy as np

    f = m.f_measure
    mp.setattr(m, "f_measure", lambda yt, yp: f(yt, np.random.RandomState(0).permutation(np.asarray(yp))))


BREAKS = [
    Break("fasterpam_no_swaps", "FasterPAM keeps its initial medoids", _no_swaps,
          [f"{PAM}::test_fasterpam_finds_the_optimum_alternating_does_not"]),
    Break("queries_are_transit_nodes", "graph query points act as shortcuts for one another", _queries_as_nodes,
          [f"{PAM}::test_query_distances_are_sinks"]),
    Break("batch_dependent_encoding", "transform encodes rows in batches of varying shape",
          _batch_dependent_encoding, [f"{PAM}::test_transform_subset_invariance"]),
    Break("no_duplicate_warning", "no ConvergenceWarning with fewer distinct points than clusters",
          _no_duplicate_warning, [f"{PAM}::test_fewer_distinct_points_than_clusters_warns"]),
    Break("mutual_graph_is_knn", "graph='mutual' keeps every kNN edge", _mutual_is_knn,
          [f"{PAM}::test_mutual_graph_edges_and_connectivity"]),
    Break("auto_neighbours_fixed", "n_neighbors='auto' is not widened until connected", _auto_not_widened,
          [f"{PAM}::test_auto_neighbours_connect_far_groups"]),
    Break("spread_for_one_seed", "the LSO table prints ± 0.0 for a single seed", _spread_for_one_seed,
          [f"{LSO}::test_markdown_single_seed_has_no_spread_and_verdict_needs_evidence"]),
    Break("verdict_always", "a verdict is printed whatever the numbers", _always_verdict,
          [f"{LSO}::test_markdown_single_seed_has_no_spread_and_verdict_needs_evidence"]),
    Break("scores_of_wrong_labels", "lso_experiment scores labels other than its clusterings'",
          _scores_of_wrong_labels, [f"{LSO}::test_lso_experiment_on_custom_data_reports_its_clusterings"]),
]


def _plain_length_edges(mp):
    import sk_geodesic.cluster._kmedoids as km

    mp.setattr(km, "graph_segment_factor", lambda interp, Z: None)


def _unshifted_density(mp):
    # h not shifted to 0 on the codes: its constant (here −log of the N(0, I) normaliser) then
    # rewards fewer hops
    import sk_geodesic.cluster._kmedoids as km

    mp.setattr(km, "_penalty_floor", lambda h, Z, interp: 0.0)


BREAKS += [
    Break("graph_edges_plain_length", "graph edges ignore the interpolator's objective (mu, epsilon)",
          _plain_length_edges, ["tests/test_graph_objective.py"]),
    Break("density_penalty_not_shifted", "the density penalty on edges is not shifted to 0 on the codes",
          _unshifted_density,
          ["tests/test_graph_objective.py::test_density_regularized_edge_weights"]),
]
