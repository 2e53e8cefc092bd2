"""Breaks of the curve solver (area ``solver``)."""

import functools

import torch

from . import Break


def _objective_scaled_stopping(mp):
    import sk_geodesic.geometry.solvers as solvers

    # the old behaviour: relative drop measured against |F|, which a constant shifts
    mp.setattr(solvers, "_stopping_scale", lambda objective, energy: objective.abs())


def _no_fallback(mp):
    import sk_geodesic.geometry.solvers as solvers
    import sk_geodesic.interpolation._geodesic as g

    original = solvers.solve_geodesic

    def no_fallback(*a, **k):
        return original(*a, **{**k, "fallback": False})

    # the estimator calls it directly (one start) or through solve_geodesic_multistart
    mp.setattr(g, "solve_geodesic", no_fallback)
    mp.setattr(solvers, "solve_geodesic", no_fallback)


def _fallback_on_node_chords(mp):
    import sk_geodesic.geometry.solvers as solvers
    from sk_geodesic.geometry.curves import curve_length, curve_length_energy, linear_curve

    # the line's node chords (a lower bound) decide the fallback; its dense length is reported
    def fall_back(embed, Z, L, E, ls):
        line = linear_curve(Z[:, 0], Z[:, -1], Z.shape[1])
        fb = curve_length(embed, line, 1) < L
        L_line, E_line = curve_length_energy(embed, line, ls)
        return (torch.where(fb[:, None, None], line, Z), torch.where(fb, L_line, L), torch.where(fb, E_line, E), fb,
                L_line)

    mp.setattr(solvers, "_fall_back_to_line", fall_back)


def _multistart_keeps_first(mp):
    import sk_geodesic.geometry.solvers as solvers

    # the first start is refined whatever the coarse lengths say
    original = solvers.solve_geodesic_multistart
    mp.setattr(solvers, "solve_geodesic_multistart", lambda embed, starts, **k: original(embed, starts[:1], **k))


def _auto_multistart_fixed(value):
    def apply(mp):
        from sk_geodesic.interpolation import Geodesic

        # "auto" ignores the manifold's metric
        original = Geodesic._uses_two_starts
        mp.setattr(Geodesic, "_uses_two_starts",
                   lambda self: value if isinstance(self.multi_start, str) else original(self))

    return apply


def _multistart_unused(mp):
    from sk_geodesic.interpolation import Geodesic

    # the estimator never builds the second start
    mp.setattr(Geodesic, "_initial_curves", lambda self, Z0, Z1: super(Geodesic, self)._initial_curves(Z0, Z1))


def _chord_lengths(mp):
    import sk_geodesic.geometry.curves as curves

    # report the node chords instead of the dense length of the returned curve
    mp.setattr(curves, "LENGTH_SUBDIVISIONS", 1)
    mp.setattr(curves, "MIN_CURVE_SUBSEGMENTS", 1)


def _no_length_refinement(mp):
    import sk_geodesic.geometry.curves as curves

    # Richardson at the base sub-division only: segments a wall crosses are never re-measured
    mp.setattr(curves, "_refine_segments", lambda embed, Z, seg_len, corr, s, scale=None: seg_len)


def _few_subsegments_on_short_curves(mp):
    import sk_geodesic.geometry.curves as curves

    # the old rule: 4 sub-segments per latent segment however few the nodes
    mp.setattr(curves, "MIN_CURVE_SUBSEGMENTS", 1)


def _no_tunnel_guard(mp):
    import sk_geodesic.geometry.solvers as solvers

    mp.setattr(solvers, "TUNNEL_TOLERANCE", float("inf"))


def _marquardt_damping(mp):
    import sk_geodesic.geometry.solvers as solvers

    # the old damping λ·diag(A): steps stay long at nodes where φ is flat
    mp.setattr(solvers, "_damped_system", lambda A, lam, scale, jitter, eye: A + lam * (A + jitter * eye) + jitter * eye)


def _auto_init_never_graph(mp):
    import sk_geodesic.interpolation._base as base

    mp.setattr(base.Interpolator, "_build_auto_graph", lambda self, X: None)


def _auto_init_always_graph(mp):
    import sk_geodesic.interpolation._base as base

    mp.setattr(base, "curve_length", lambda embed, Z, s=1: Z.new_full((Z.shape[0],), float("inf")))


def _node_energy_only(mp):
    import sk_geodesic.geometry.solvers as solvers

    original = solvers.solve_energy
    mp.setattr(solvers, "solve_energy", lambda *a, **k: original(*a, **{**k, "subdivisions": 1}))


def _curvature_dropped(mp):
    import sk_geodesic.geometry.solvers as solvers

    # "Newton" steps that are Gauss–Newton steps: the curvature term never added
    original = solvers._curvature_blocks
    mp.setattr(solvers, "_curvature_blocks", lambda H, s: tuple(0 * x for x in original(H, s)))


def _curvature_linear_weights(mp):
    import torch

    import sk_geodesic.geometry.solvers as solvers

    # sub-point weights (1 − a), a instead of (1 − a)², a² on the node blocks
    def blocks(H, s):
        b, _, d, _ = H.shape
        per = torch.cat([H.new_zeros(b, 1, d, d), H], 1)
        n = per.shape[1] // s + 1
        per = per.reshape(b, n - 1, s, d, d)
        a = solvers._segment_weights(s, H.dtype, H.device)[:-1][:, None, None]
        between = (a * (1 - a) * per).sum(2)
        return ((1 - a) * per).sum(2)[:, 1:] + (a * per).sum(2)[:, :-1], between[:, 1:-1]

    mp.setattr(solvers, "_curvature_blocks", blocks)


def _newton_step_always_trusted(mp):
    import sk_geodesic.geometry.solvers as solvers

    # the Newton candidate wins whenever it is lower than the Gauss–Newton one
    mp.setattr(solvers, "_model_decrease", lambda diag, lower, grad, step: grad.new_full(grad.shape[:1], -float("inf")))



def _part_curvature_wrong_columns(mp):
    import sk_geodesic.geometry.solvers as solvers

    # the part's curvature weighted by the residuals of φ's first columns (μ's) instead of its own
    original = solvers._value_jacobian_and_curvature

    def wrong(embed, curvature_part=None):
        f = original(embed, curvature_part)
        if curvature_part is None:
            return f
        columns = curvature_part[1]

        def g(Z, W):
            width = W[:, columns].shape[1]
            shifted = W.clone()
            shifted[:, columns] = W[:, :width]
            return f(Z, shifted)

        return g

    mp.setattr(solvers, "_value_jacobian_and_curvature", wrong)


def _geodesic_ignores_variance_map(mp):
    from sk_geodesic.interpolation import Geodesic

    # Newton steps always take the curvature of all of φ
    mp.setattr(Geodesic, "_curvature_part", lambda self: None)


def _variance_map_names_the_mean(mp):
    from sk_geodesic.manifolds import VAE, PretrainedManifold

    # the "σ" handed to the solver is the decoder mean, at φ's first columns
    mp.setattr(VAE, "variance_map", lambda self: (self.module_.dec_mean, slice(0, self.n_features_in_))
               if self.metric_has_variance() else None)
    mp.setattr(PretrainedManifold, "variance_map", lambda self: (self._decode, slice(0, self.n_features_in_))
               if self.std_network_ is not None else None)

NEWTON = "tests/test_solver_newton.py::"
FAITHFUL = "tests/test_solver_faithful.py::"


def _linear_level_refinement(mp):
    import sk_geodesic.geometry.curves as curves

    # levels (and early-accepted curves) refined by cutting chords, not along the cubic
    mp.setattr(curves, "refine_cubic", curves.resample)


def _auto_tol_inverted(mp):
    from sk_geodesic.interpolation import Geodesic

    # tol="auto" picks the loose tolerance where φ carries σ and the tight one where it does not
    original = Geodesic._metric_has_variance
    mp.setattr(Geodesic, "_metric_has_variance", lambda self: not original(self))


def _solver_gets_fixed_tol(mp):
    import sk_geodesic.interpolation._geodesic as geodesic_module

    # the solver always runs at 1e-4, whatever tol_ says
    for name in ("solve_geodesic", "solve_geodesic_multistart"):
        original = getattr(geodesic_module, name)

        def fixed(*a, _original=original, **k):
            k["tol"] = 1e-4
            return _original(*a, **k)

        mp.setattr(geodesic_module, name, fixed)


def _resolution_tol_fixed(value):
    def apply(mp):
        import sk_geodesic.geometry.solvers as solvers

        # the resolution test ignores the gain of the level: never (None) or always (inf) stop early
        original = solvers.solve_energy_multilevel

        def fixed(*a, **k):
            if k.get("resolution_tol") is not None:
                k["resolution_tol"] = value
            return original(*a, **k)

        mp.setattr(solvers, "solve_energy_multilevel", fixed)

    return apply


def _refine_at_comparison_subdivision(mp):
    import sk_geodesic.geometry.solvers as solvers

    # the refinement of solve_geodesic_multistart runs at the comparison's sub-division
    original = solvers.solve_geodesic_multistart

    def same_s(embed, starts, *a, **k):
        k["refine_subdivisions"] = k.get("subdivisions", a[2] if len(a) > 2 else 2)
        return original(embed, starts, *a, **k)

    mp.setattr(solvers, "solve_geodesic_multistart", same_s)

def _fallback_bound_off_grid(mp):
    import sk_geodesic.geometry.solvers as solvers
    from sk_geodesic.geometry.curves import curve_length, curve_length_energy, linear_curve

    # the coarse bound samples the segment at 17 equally spaced points, which need not be
    # among the points the dense measurement samples (so it is no lower bound of it)
    def fall_back(embed, Z, L, E, ls):
        Z, L, E = Z.clone(), L.clone(), E.clone()
        fb = torch.zeros(Z.shape[0], dtype=torch.bool)
        L_line = torch.full_like(L, float("nan"))
        near = (curve_length(embed, linear_curve(Z[:, 0], Z[:, -1], 17), 1) < L).nonzero().squeeze(-1)
        if near.numel():
            line = linear_curve(Z[near, 0], Z[near, -1], Z.shape[1])
            L_near, E_near = curve_length_energy(embed, line, ls)
            L_line[near] = L_near
            take = L_near < L[near]
            fb[near[take]] = True
            Z[near[take]], L[near[take]], E[near[take]] = line[take], L_near[take], E_near[take]
        return Z, L, E, fb, L_line

    mp.setattr(solvers, "_fall_back_to_line", fall_back)


def _seen_length_of_start(mp):
    import sk_geodesic.geometry.solvers as solvers
    from sk_geodesic.geometry.curves import curve_length

    # the solver reports what its energy saw of the *initial* curve, not of the returned one
    original = solvers.solve_energy

    def stale(embed, Z, *a, **k):
        res = original(embed, Z, *a, **k)
        res.seen_length = curve_length(embed, Z, int(k.get("subdivisions", 1)))
        return res

    mp.setattr(solvers, "solve_energy", stale)



def _respace_constant(name, value):
    def apply(mp):
        import sk_geodesic.geometry.solvers as solvers

        mp.setattr(solvers, name, value)

    return apply


def _respace_on_the_chords(mp):
    import sk_geodesic.geometry.curves as curves

    # re-spaced nodes placed on the polyline's chords (O(h²) off the curve), not on the cubic
    original = curves.reparametrize_constant_speed
    mp.setattr(curves, "reparametrize_constant_speed", lambda embed, Z, s=1, cubic=False: original(embed, Z, s))


def _kwarg_ignored(function, kwarg, mp):
    """``solvers.<function>`` accepts ``kwarg`` and ignores it."""
    import sk_geodesic.geometry.solvers as solvers

    original = getattr(solvers, function)

    def ignoring(*a, **k):
        k.pop(kwarg, None)
        return original(*a, **k)

    mp.setattr(solvers, function, ignoring)


_respace_never = functools.partial(_kwarg_ignored, "solve_energy", "respace_tol")


RESOLUTION = "tests/test_solver_resolution.py::"

RESPACE = "tests/test_solver_respace.py::"
BREAKS = [
    Break(
        name="respace_after_one_calm_step",
        description="nodes re-spaced after one calm step instead of RESPACE_CALM_STEPS",
        apply=_respace_constant("RESPACE_CALM_STEPS", 1),
        tests=[RESPACE + "test_respacing_happens_after_calm_steps_and_only_where_it_lowers_the_energy"],
    ),
    Break(
        name="respace_without_energy_guard",
        description="a step counts as calm however much it lowered the energy",
        apply=_respace_constant("RESPACE_ENERGY_FACTOR", float("inf")),
        tests=[RESPACE + "test_respacing_happens_after_calm_steps_and_only_where_it_lowers_the_energy"],
    ),
    Break(
        name="respace_on_the_chords",
        description="re-spaced nodes placed on the latent polyline's chords instead of the cubic through the nodes",
        apply=_respace_on_the_chords,
        tests=[RESPACE + "test_cubic_respacing_keeps_the_nodes_on_the_smooth_curve",
               RESPACE + "test_respacing_happens_after_calm_steps_and_only_where_it_lowers_the_energy"],
    ),
    Break(
        name="respace_never",
        description="respace_tol ignored: nodes never re-spaced",
        apply=_respace_never,
        tests=[RESPACE + "test_respacing_happens_after_calm_steps_and_only_where_it_lowers_the_energy"],
    ),
    Break(
        name="fallback_bound_off_grid",
        description="the straight-line fallback bounds the segment with chords at points the dense measurement "
                    "does not sample",
        apply=_fallback_bound_off_grid,
        tests=[FAITHFUL + "test_fallback_bounds_the_line_only_with_points_the_dense_measurement_samples"],
    ),
    Break(
        name="seen_length_of_start",
        description="the seen length (what the tunnelling guard compares with) is taken from the initial curve",
        apply=_seen_length_of_start,
        tests=[RESOLUTION + "test_seen_length_is_the_chord_length_of_the_returned_curve",
               FAITHFUL + "test_tunnelling_guard_resolves_the_wall"],
    ),
    Break(
        name="multistart_refine_at_comparison_subdivision",
        description="solve_geodesic_multistart refines at the comparison's sub-division (the tunnelling guard "
                    "then solves most pairs twice)",
        apply=_refine_at_comparison_subdivision,
        tests=["tests/test_solver_multistart.py::test_one_start_is_solve_geodesic",
               "tests/test_solver_multistart.py::test_pairs_with_identical_starts_are_solved_once"],
    ),
    Break(
        name="linear_level_refinement",
        description="coarse solutions refined to the next level (and to the returned curve) linearly, not cubically",
        apply=_linear_level_refinement,
        tests=[RESOLUTION + "test_refine_cubic_is_fourth_order_and_keeps_the_nodes",
               RESOLUTION + "test_resolved_sphere_geodesics_stop_at_seventeen_nodes_and_keep_their_accuracy"],
    ),
    Break(
        name="auto_tol_inverted",
        description='tol="auto" is loose where φ carries σ and tight under the mean metric',
        apply=_auto_tol_inverted,
        tests=["tests/test_geodesic_tol.py::test_auto_tol_follows_the_metric"],
    ),
    Break(
        name="solver_ignores_tol",
        description="the solver runs at 1e-4 whatever tol (or tol_) says",
        apply=_solver_gets_fixed_tol,
        tests=["tests/test_geodesic_tol.py::test_auto_tol_follows_the_metric",
               "tests/test_geodesic_tol.py::test_auto_tol_keeps_mean_metric_lengths_on_a_relu_decoder"],
    ),
    Break(
        name="resolution_never_accepts",
        description="every curve is solved at every level, however little a level moves it",
        apply=_resolution_tol_fixed(None),
        tests=[RESOLUTION + "test_resolved_sphere_geodesics_stop_at_seventeen_nodes_and_keep_their_accuracy"],
    ),
    Break(
        name="resolution_always_accepts",
        description="every curve stops at the first level after the coarsest, resolved or not",
        apply=_resolution_tol_fixed(float("inf")),
        tests=[RESOLUTION + "test_curves_that_coarse_levels_cannot_follow_are_solved_at_full_resolution"],
    ),
    Break(
        name="newton_curvature_dropped",
        description="Newton steps without the curvature term of the Hessian (plain Gauss-Newton)",
        apply=_curvature_dropped,
        tests=[NEWTON + "test_newton_system_is_the_exact_hessian_of_the_energy",
               NEWTON + "test_newton_steps_reach_the_minimum_where_gauss_newton_stops_short"],
    ),
    Break(
        name="newton_curvature_linear_weights",
        description="curvature of a sub-point spread onto the nodes with weights 1-a, a instead of (1-a)², a²",
        apply=_curvature_linear_weights,
        tests=[NEWTON + "test_newton_system_is_the_exact_hessian_of_the_energy"],
    ),
    Break(
        name="newton_step_always_trusted",
        description="a damped Newton step is taken whenever it beats the Gauss-Newton one, however little it gains",
        apply=_newton_step_always_trusted,
        tests=[NEWTON + "test_newton_steps_reach_the_minimum_where_gauss_newton_stops_short"],
    ),
    Break(
        name="newton_part_curvature_wrong_columns",
        description="the curvature of φ's σ part weighted by the residuals of the wrong columns",
        apply=_part_curvature_wrong_columns,
        tests=[NEWTON + "test_part_curvature_is_the_curvature_of_those_columns"],
    ),
    Break(
        name="geodesic_ignores_variance_map",
        description="Geodesic's Newton steps never restrict the curvature to σ",
        apply=_geodesic_ignores_variance_map,
        tests=["tests/test_variance_map.py::test_geodesic_hands_the_variance_part_to_the_solver"],
    ),
    Break(
        name="variance_map_names_the_mean",
        description="VAE / PretrainedManifold.variance_map return the decoder mean and its columns",
        apply=_variance_map_names_the_mean,
        tests=["tests/test_variance_map.py::test_variance_map_is_the_sigma_columns_of_phi"],
    ),
    Break(
        name="auto_init_never_graph",
        description='init="auto" always starts from the straight segment',
        apply=_auto_init_never_graph,
        tests=["tests/test_claims_geometry.py::test_graph_init_changes_start_and_iterations"],
    ),
    Break(
        name="auto_init_always_graph",
        description='init="auto" always starts from the graph path, even where the segment is shorter',
        apply=_auto_init_always_graph,
        tests=["tests/test_claims_geometry.py::test_auto_init_takes_the_shorter_start"],
    ),
    Break(
        name="no_tunnel_guard",
        description="solve_geodesic keeps curves whose dense length exceeds what the solver's sub-points saw",
        apply=_no_tunnel_guard,
        tests=[FAITHFUL + "test_tunnelling_guard_resolves_the_wall"],
    ),
    Break(
        name="marquardt_damping",
        description="Gauss-Newton damped by λ·diag blocks (Marquardt) instead of λ·mean-diagonal·I",
        apply=_marquardt_damping,
        tests=["tests/test_solver_faithful.py::test_levenberg_damping_leaves_a_flat_plateau"],
    ),
    Break(
        name="no_straight_line_fallback",
        description="Geodesic returns a solved curve even when it is densely longer than the straight line",
        apply=_no_fallback,
        tests=[FAITHFUL + "test_reported_length_is_dense_length_and_never_above_line",
               FAITHFUL + "test_geodesic_estimator_falls_back_to_the_line"],
    ),
    Break(
        name="fallback_on_node_chords",
        description="the straight line's node chords (a lower bound of its length) decide the fallback",
        apply=_fallback_on_node_chords,
        tests=[FAITHFUL + "test_fallback_measures_the_line_densely_where_its_nodes_do_not_decide"],
    ),
    Break(
        name="chord_lengths_reported",
        description="reported lengths are node chords, not the dense length of the returned curve",
        apply=_chord_lengths,
        tests=[FAITHFUL + "test_reported_length_is_dense_length_and_never_above_line",
               FAITHFUL + "test_reported_length_is_dense_on_a_relu_decoder"],
    ),
    Break(
        name="no_length_refinement",
        description="dense lengths are Richardson-extrapolated at 4 sub-segments, never refined where φ is steep",
        apply=_no_length_refinement,
        tests=[FAITHFUL + "test_tunnelling_guard_resolves_the_wall",
               FAITHFUL + "test_fallback_measures_the_line_densely_where_its_nodes_do_not_decide"],
    ),
    Break(
        name="few_subsegments_on_short_curves",
        description="curves of few nodes measured at 4 sub-segments per segment: a bump between them is missed",
        apply=_few_subsegments_on_short_curves,
        tests=[FAITHFUL + "test_few_node_curves_are_measured_densely"],
    ),
    Break(
        name="node_energy_only",
        description="the solver minimises the node energy (subdivisions ignored) and tunnels through ridges",
        apply=_node_energy_only,
        tests=[FAITHFUL + "test_solver_objective_is_the_subdivided_energy"],
    ),
    Break(
        name="stopping_scaled_by_objective",
        description="solve_energy judges convergence relative to the (offset-dependent) objective",
        apply=_objective_scaled_stopping,
        tests=[
            "tests/test_solver_offset.py::test_solve_energy_penalty_offset_invariant_and_negative_objective_iterates",
            "tests/test_solver_offset.py::test_density_regularized_path_unchanged_by_constant_in_log_density",
        ],
    ),
    Break(
        name="multistart_keeps_first",
        description="solve_geodesic_multistart refines the first start, not the densely shortest",
        apply=_multistart_keeps_first,
        tests=["tests/test_solver_multistart.py::test_multistart_keeps_the_shorter_basin"],
    ),
    Break(
        name="multistart_unused",
        description="Geodesic(multi_start=True) solves from one start only",
        apply=_multistart_unused,
        tests=["tests/test_solver_multistart.py::test_geodesic_multi_start_builds_a_denser_graph_and_two_starts"],
    ),
    Break(
        name="auto_multistart_always_one",
        description='multi_start="auto" gives one start even where φ carries the decoder σ',
        apply=_auto_multistart_fixed(False),
        tests=["tests/test_solver_multistart.py::test_auto_multi_start_follows_the_metric"],
    ),
    Break(
        name="auto_multistart_always_two",
        description='multi_start="auto" gives two starts under a decoder mean too',
        apply=_auto_multistart_fixed(True),
        tests=["tests/test_solver_multistart.py::test_auto_multi_start_follows_the_metric"],
    ),
    Break(
        name="constant_std_counts_as_variance",
        description="a VAE with a constant σ claims the expected metric (two starts for nothing)",
        apply=lambda mp: mp.setattr("sk_geodesic.manifolds._vae.VAE.metric_has_variance", lambda self: True),
        tests=["tests/test_solver_multistart.py::test_auto_multi_start_follows_the_metric"],
    ),
]

BREAKS += [
    Break(
        name="refine_into_rounding",
        description="dense lengths refine segments whose chords are down at φ's rounding error",
        apply=lambda mp: mp.setattr("sk_geodesic.geometry.curves._rounding_bias",
                                    lambda L, scale, s: torch.zeros_like(L)),
        tests=["tests/test_solver_faithful.py::test_float32_lengths_near_rounding_are_not_inflated_by_refinement"],
    ),
    Break(
        name="silent_rounding_limit",
        description="lengths near φ's float32 resolution are reported without a warning",
        apply=lambda mp: mp.setattr("sk_geodesic.geometry.curves._warn_if_rounding_limited",
                                    lambda L, bias, dtype: None),
        tests=["tests/test_solver_faithful.py::test_float32_lengths_near_rounding_are_not_inflated_by_refinement"],
    ),
    Break(
        name="rounding_warning_everywhere",
        description="the rounding warning fires on every length",
        apply=lambda mp: mp.setattr("sk_geodesic.geometry.curves.ROUNDING_WARN_FRACTION", -1.0),
        tests=["tests/test_solver_faithful.py::test_no_rounding_warning_where_lengths_are_resolved"],
    ),
]


def _zero_length_bias(mp):
    import warnings

    import sk_geodesic.geometry.curves as curves

    def bias(L, scale, s):  # the first round-22 formula: a zero-length segment looks infinitely biased
        nu = torch.finfo(L.dtype).eps * scale
        return (s * nu).pow(2) / (2 * L.abs().clamp_min(torch.finfo(L.dtype).tiny))

    def warn(L, b, dtype):
        if bool((b > curves.ROUNDING_WARN_FRACTION * L.abs()).any()):
            warnings.warn("lengths are near the resolution", RuntimeWarning)

    mp.setattr(curves, "_rounding_bias", bias)
    mp.setattr(curves, "_warn_if_rounding_limited", warn)


BREAKS += [
    Break(
        name="zero_length_bias",
        description="zero-length segments count as rounding-limited (warning on a path from a point to itself)",
        apply=_zero_length_bias,
        tests=["tests/test_solver_faithful.py::test_no_rounding_warning_where_lengths_are_resolved"],
    ),
]


def _cross_terms_across_curves(mp):
    import sk_geodesic.geometry.solvers as solvers

    # the flat batch's consecutive products taken as if the curves were one long curve
    def products(Jt, b):
        M, d, _ = Jt.shape
        flat = torch.bmm(Jt[1:], Jt[:-1].transpose(1, 2))
        return flat[: M - b].reshape(b, M // b - 1, d, d)

    mp.setattr(solvers, "_consecutive_products", products)


BREAKS += [
    Break(
        name="cross_terms_across_curves",
        description="the node system's cross terms J_{p+1}ᵀJ_p read across the boundaries of the batch's curves",
        apply=_cross_terms_across_curves,
        tests=["tests/test_solver_newton.py::test_node_system_of_a_batch_is_that_of_each_curve"],
    ),
]


_never_past_n_points = functools.partial(_kwarg_ignored, "solve_energy_multilevel", "max_points")


def _always_past_n_points(mp):
    import sk_geodesic.geometry.solvers as solvers

    # no level past n_points ever counts as resolved
    mp.setattr(solvers, "_length_gain", lambda res: torch.full_like(res.seen_length, float("inf")))


MAX_POINTS_TESTS = "tests/test_solver_max_points.py::"
BREAKS += [
    Break(
        name="never_past_n_points",
        description="max_points ignored: steep-variance geodesics stay at n_points nodes",
        apply=_never_past_n_points,
        tests=[MAX_POINTS_TESTS + "test_steep_variance_geodesics_are_solved_past_n_points"],
    ),
    Break(
        name="always_past_n_points",
        description="every curve solved up to max_points nodes, resolved or not",
        apply=_always_past_n_points,
        tests=[MAX_POINTS_TESTS + "test_resolved_curves_stay_at_n_points",
               MAX_POINTS_TESTS + "test_steep_variance_geodesics_are_solved_past_n_points"],
    ),
]


def _unresolved_never_warned(mp):
    import sk_geodesic.interpolation._base as base

    mp.setattr(base, "RESOLUTION_WARN_GAIN", float("inf"))


def _unresolved_always_warned(mp):
    import sk_geodesic.interpolation._base as base

    mp.setattr(base, "RESOLUTION_WARN_GAIN", -1.0)


BREAKS += [
    Break(
        name="unresolved_never_warned",
        description="no warning where n_points nodes leave a steep-variance geodesic 30 % too long",
        apply=_unresolved_never_warned,
        tests=[MAX_POINTS_TESTS + "test_steep_variance_geodesics_are_solved_past_n_points"],
    ),
    Break(
        name="unresolved_always_warned",
        description="the resolution warning fires on resolved curves too",
        apply=_unresolved_always_warned,
        tests=[MAX_POINTS_TESTS + "test_resolved_curves_stay_at_n_points"],
    ),
]
