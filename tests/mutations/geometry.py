"""Breaks of the geometry core (curves, metric, densities, initial curves)."""

from . import Break, patch_everywhere

T_GEOM = "tests/test_geometry.py"
T_CLAIMS = "tests/test_claims_geometry.py"


def _straight_line_solver(mp):
    import sk_geodesic.geometry.solvers as solvers

    original = solvers.solve_energy

    def no_iterations(embed, Z, *args, **kwargs):
        kwargs["max_iter"] = 0
        return original(embed, Z, *args, **kwargs)

    mp.setattr(solvers, "solve_energy", no_iterations)


def _resample_straight(mp):
    import sk_geodesic.geometry.curves as curves

    def straight(Z, n_points):
        return curves.linear_curve(Z[:, 0], Z[:, -1], n_points)

    patch_everywhere(mp, curves, "resample", straight)


def _resample_nearest(mp):
    import torch

    import sk_geodesic.geometry.curves as curves

    def nearest(Z, n_points):
        n = Z.shape[1]
        idx = torch.linspace(0, n - 1, n_points).round().long()
        return Z[:, idx]

    patch_everywhere(mp, curves, "resample", nearest)


def _log_det_negated(mp):
    import sk_geodesic.geometry.metric as metric

    original = metric.log_det_metric
    patch_everywhere(mp, metric, "log_det_metric", lambda embed, Z, eps=0.0: -original(embed, Z, eps=eps))


def _metric_plus_identity(mp):
    import torch

    import sk_geodesic.geometry.metric as metric

    original = metric.metric_tensor

    def shifted(embed, Z):
        G = original(embed, Z)
        return G + torch.eye(G.shape[-1], dtype=G.dtype)

    patch_everywhere(mp, metric, "metric_tensor", shifted)


def _length_of_squares(mp):
    import sk_geodesic.geometry.curves as curves

    patch_everywhere(mp, curves, "curve_length", lambda embed, Z: curves.segment_lengths(embed, Z).pow(2).sum(-1))


def _energy_without_factor(mp):
    import sk_geodesic.geometry.curves as curves

    original = curves.curve_energy
    patch_everywhere(mp, curves, "curve_energy", lambda embed, Z: original(embed, Z) / (Z.shape[1] - 1))


def _constant_speed_noop(mp):
    import sk_geodesic.geometry.curves as curves

    patch_everywhere(mp, curves, "reparametrize_constant_speed", lambda embed, Z: Z.clone())


def _gmm_no_normaliser(mp):
    import torch

    from sk_geodesic.geometry.density import GaussianMixtureLogDensity

    original = GaussianMixtureLogDensity.forward

    def forward(self, z):
        # evaluate with the components' −½ log|Σ_k| set to zero
        saved = self.half_logdet
        self.half_logdet = torch.zeros_like(saved)
        try:
            return original(self, z)
        finally:
            self.half_logdet = saved

    mp.setattr(GaussianMixtureLogDensity, "forward", forward)


def _normal_no_constant(mp):
    from sk_geodesic.geometry.density import StandardNormalLogDensity

    mp.setattr(StandardNormalLogDensity, "forward", lambda self, z: -0.5 * z.pow(2).sum(-1))


def _graph_init_ignored(mp):
    import torch

    from sk_geodesic.geometry import linear_curve
    from sk_geodesic.interpolation._base import Interpolator

    def straight(self, Z0, Z1, graphs):
        t0 = torch.as_tensor(Z0, dtype=self.dtype_, device=self.device_)
        t1 = torch.as_tensor(Z1, dtype=self.dtype_, device=self.device_)
        return [linear_curve(t0, t1, self.n_points) for _ in graphs]

    mp.setattr(Interpolator, "_graph_starts", straight)


def _length_ratio_inverted(mp):
    import sk_geodesic.metrics._path as path

    original = path.length_ratio
    patch_everywhere(mp, path, "length_ratio", lambda model, Z: 1.0 / original(model, Z))



T_STARTS = "tests/test_graph_starts.py"


def _starts_through_other_queries(mp):
    import numpy as np

    from sk_geodesic.geometry.graph import LatentGraph, graph_curves

    def pair_paths(self, Z0, Z1, n_points, limit=None):  # every end point a node of one undirected graph
        A, nodes = self.with_queries(np.vstack([Z0, Z1]))
        N, B = len(self.nodes), len(Z0)
        return graph_curves(A, nodes, N + np.arange(B), N + B + np.arange(B), n_points)

    mp.setattr(LatentGraph, "pair_paths", pair_paths)


def _query_edges_skip_the_node(mp):
    import numpy as np
    import torch

    from sk_geodesic.geometry.graph import LatentGraph

    original = LatentGraph._node_embedding

    def shifted(self):  # φ of the wrong nodes: each query edge ends at its neighbour's neighbour in the list
        return torch.roll(original(self), 1, dims=0)

    mp.setattr(LatentGraph, "_node_embedding", shifted)


def _limit_ignored(mp):
    from sk_geodesic.geometry.graph import LatentGraph

    original = LatentGraph.pair_paths

    def pair_paths(self, Z0, Z1, n_points, limit=None):
        return original(self, Z0, Z1, n_points)

    mp.setattr(LatentGraph, "pair_paths", pair_paths)

BREAKS = [
    Break("graph_start_through_other_queries", "a pair's graph start may pass through another pair's end point",
          _starts_through_other_queries,
          [f"{T_STARTS}::test_pair_paths_do_not_pass_through_other_pairs_end_points",
           f"{T_STARTS}::test_geodesic_graph_start_is_the_same_alone_and_in_a_batch",
           f"{T_STARTS}::test_mnist_graph_starts_are_the_same_alone_and_in_a_batch"]),
    Break("query_edges_wrong_node_embedding", "query edges end at the cached embedding of another node",
          _query_edges_skip_the_node, [f"{T_STARTS}::test_pair_paths_reuse_node_embeddings_exactly"]),
    Break("pair_paths_limit_ignored", "pair_paths searches beyond its limit", _limit_ignored,
          [f"{T_STARTS}::test_pair_paths_do_not_pass_through_other_pairs_end_points"]),
    Break(
        name="solver_no_iterations",
        description="solve_energy returns its initial (straight) curve",
        apply=_straight_line_solver,
        tests=[f"{T_GEOM}::test_solver_finds_great_circles"],
    ),
    Break(
        name="resample_straight",
        description="resample returns the straight segment between the curve's endpoints",
        apply=_resample_straight,
        tests=[f"{T_CLAIMS}::test_resample_matches_numpy_interp"],
    ),
    Break(
        name="resample_nearest",
        description="resample picks the nearest existing point instead of interpolating",
        apply=_resample_nearest,
        tests=[f"{T_CLAIMS}::test_resample_matches_numpy_interp"],
    ),
    Break(
        name="log_det_negated",
        description="log_det_metric returns −log det G",
        apply=_log_det_negated,
        tests=[f"{T_GEOM}::test_sphere_scalar_diagnostics"],
    ),
    Break(
        name="metric_plus_identity",
        description="metric_tensor returns JᵀJ + I",
        apply=_metric_plus_identity,
        tests=[f"{T_GEOM}::test_sphere_metric_closed_form"],
    ),
    Break(
        name="length_of_squares",
        description="curve_length sums squared steps",
        apply=_length_of_squares,
        tests=[f"{T_GEOM}::test_discrete_length_converges_to_arc_length"],
    ),
    Break(
        name="energy_without_n_minus_1",
        description="curve_energy drops its (n − 1) factor",
        apply=_energy_without_factor,
        tests=[f"{T_GEOM}::test_energy_length_inequality_and_constant_speed"],
    ),
    Break(
        name="constant_speed_noop",
        description="reparametrize_constant_speed leaves the curve as it is",
        apply=_constant_speed_noop,
        tests=[f"{T_GEOM}::test_energy_length_inequality_and_constant_speed"],
    ),
    Break(
        name="gmm_density_no_normaliser",
        description="GaussianMixtureLogDensity drops the components' −½ log det Σ",
        apply=_gmm_no_normaliser,
        tests=[f"{T_CLAIMS}::test_gaussian_mixture_log_density_matches_sklearn"],
    ),
    Break(
        name="normal_density_no_constant",
        description="StandardNormalLogDensity drops −(d/2) log 2π",
        apply=_normal_no_constant,
        tests=[f"{T_CLAIMS}::test_standard_normal_log_density_matches_scipy"],
    ),
    Break(
        name="graph_init_ignored",
        description='init="graph" ignored: every curve starts as the straight segment',
        apply=_graph_init_ignored,
        tests=[f"{T_CLAIMS}::test_graph_init_changes_start_and_iterations"],
    ),
    Break(
        name="length_ratio_inverted",
        description="length_ratio returns L_linear / L",
        apply=_length_ratio_inverted,
        tests=[f"{T_CLAIMS}::test_length_ratio_of_sphere_geodesics"],
    ),
]
