"""Breaks of DensityRegularizedGeodesic's objective and solver (issue 10 item 5)."""

from . import Break, patch_everywhere

T = "tests/test_drg.py"
BRIDGE = f"{T}::test_drg_lifts_the_worst_point_over_a_bridge"
SCALE = f"{T}::test_drg_mu_is_invariant_to_the_scale_of_phi"
PIT = f"{T}::test_drg_sees_a_pit_between_two_nodes"
LATENT = f"{T}::test_drg_latent_density_option"
FALLBACK = f"{T}::test_drg_returns_the_straight_line_when_it_scores_better"


def _soft_max_is_mean(mp):
    patch_everywhere(mp, "sk_geodesic.geometry.density", "soft_maximum", lambda h, temperature: h.mean(-1))


def _terms(mp, wrap):
    from sk_geodesic.geometry.density import RegularizedCurveObjective

    original = RegularizedCurveObjective.terms
    mp.setattr(RegularizedCurveObjective, "terms", lambda self, inner, idx: wrap(self, inner, idx, original))


def _absolute_length(mp):
    # ½E/L₀ (the old, scale-dependent normalisation) instead of ½E/L₀²
    _terms(mp, lambda self, inner, idx, orig: (lambda e, p: (e * self.L0[idx], p))(*orig(self, inner, idx)))


def _penalty_at_nodes(mp):
    def wrap(self, inner, idx, orig):
        s = self.s
        self.s = 1
        try:
            return orig(self, inner, idx)
        finally:
            self.s = s

    _terms(mp, wrap)


def _lbfgs_one_step(mp):
    import sk_geodesic.geometry.density as density

    original = density.minimize_curves_lbfgs

    def one(objective, Z, max_iter=200, **kw):
        Z, F, conv, it = original(objective, Z, max_iter=min(max_iter, 1), **kw)
        return Z, F, conv | True, it

    patch_everywhere(mp, density, "minimize_curves_lbfgs", one)


def _latent_ignored(mp):
    from sk_geodesic.interpolation import DensityRegularizedGeodesic
    from sk_geodesic.geometry.density import data_space_penalty

    mp.setattr(DensityRegularizedGeodesic, "_penalty",
               lambda self, embed: data_space_penalty(embed, self._latent_log_density()))


def _no_fallback(mp):
    from sk_geodesic.interpolation import DensityRegularizedGeodesic

    mp.setattr(DensityRegularizedGeodesic, "_prefer_line", staticmethod(lambda obj, Z, F, line, conv: (Z, conv)))


BREAKS = [
    Break("drg_soft_max_is_mean", "S_τ[h] is the mean of h whatever the temperature (the paper's sum)",
          _soft_max_is_mean, [BRIDGE, f"{T}::test_soft_maximum_between_mean_and_max"]),
    Break("drg_absolute_length", "the length term is ½E/L₀ (depends on the scale of φ)", _absolute_length, [SCALE]),
    Break("drg_penalty_at_nodes", "h is evaluated at the nodes only (subdivisions ignored)", _penalty_at_nodes, [PIT]),
    Break("drg_one_iteration", "the solver stops after one iteration per level and calls it converged",
          _lbfgs_one_step, [BRIDGE]),
    Break("drg_latent_option_ignored", "density='latent' still uses the data-space h", _latent_ignored, [LATENT]),
    Break("drg_no_line_fallback", "the solved curve is returned even when the straight line scores a lower F",
          _no_fallback, [FALLBACK]),
]
