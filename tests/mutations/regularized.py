"""Breaks of density-regularised geodesics and of the data-space log-density metric."""

from . import Break

T_CLAIMS = "tests/test_claims_regularized.py"
T_RING = "tests/test_regularized.py::test_density_regularized_avoids_hole"


def _density_module():
    import sk_geodesic.interpolation._density as density

    return density


def _drg_log_det(mp, factor):
    """Scale the ½ log det G term of DRG's penalty only (not the metric elsewhere)."""
    import sk_geodesic.geometry.density as density

    original = density.log_det_metric
    mp.setattr(density, "log_det_metric", lambda embed, Z, eps=0.0: factor * original(embed, Z, eps=eps))


def _path_log_det(mp, factor):
    import sk_geodesic.metrics._path as path

    original = path.log_det_metric
    mp.setattr(path, "log_det_metric", lambda embed, Z, eps=0.0: factor * original(embed, Z, eps=eps))


def _drg_ignores_mu(mp):
    from sk_geodesic.interpolation import DensityRegularizedGeodesic, Geodesic

    mp.setattr(DensityRegularizedGeodesic, "_solve", lambda self, Z: Geodesic._solve(self, Z))


def _drg_mu_hundredth(mp):
    from sk_geodesic.interpolation import DensityRegularizedGeodesic

    original = DensityRegularizedGeodesic._solve

    def solve(self, Z):
        mu = self.mu
        self.mu = mu / 100.0
        try:
            return original(self, Z)
        finally:
            self.mu = mu

    mp.setattr(DensityRegularizedGeodesic, "_solve", solve)


def _drg_ignores_latent_density(mp):
    from sk_geodesic.interpolation import DensityRegularizedGeodesic

    mp.setattr(DensityRegularizedGeodesic, "_latent_log_density", lambda self: (lambda z: 0.0 * z.sum(-1)))


BREAKS = [
    Break(
        name="drg_without_half_log_det",
        description="DensityRegularizedGeodesic's penalty drops ½ log det G (only −log p(z) left)",
        apply=lambda mp: _drg_log_det(mp, 0.0),
        tests=[f"{T_CLAIMS}::test_regularizer_follows_half_log_det_on_ridge"],
    ),
    Break(
        name="drg_half_log_det_sign",
        description="DensityRegularizedGeodesic's penalty uses −½ log det G",
        apply=lambda mp: _drg_log_det(mp, -1.0),
        tests=[f"{T_CLAIMS}::test_regularizer_follows_half_log_det_on_ridge"],
    ),
    Break(
        name="path_log_density_sign",
        description="path_log_density(kind='data') adds ½ log det G instead of subtracting it",
        apply=lambda mp: _path_log_det(mp, -1.0),
        tests=[f"{T_CLAIMS}::test_path_log_density_closed_form_on_sphere"],
    ),
    Break(
        name="path_log_density_no_log_det",
        description="path_log_density(kind='data') returns the latent log-density",
        apply=lambda mp: _path_log_det(mp, 0.0),
        tests=[f"{T_CLAIMS}::test_path_log_density_closed_form_on_sphere"],
    ),
    Break(
        name="drg_ignores_mu",
        description="DensityRegularizedGeodesic solves the plain geodesic (μ ignored)",
        apply=_drg_ignores_mu,
        tests=[f"{T_CLAIMS}::test_regularizer_follows_half_log_det_on_ridge"],
    ),
    Break(
        name="drg_mu_hundredth",
        description="DensityRegularizedGeodesic uses μ/100",
        apply=_drg_mu_hundredth,
        # the ring's hole is avoided even at μ/100 under the relative-length objective;
        # the bridge detour (+0.5 nat over Linear/Geodesic at μ = 0.1) is not
        tests=["tests/test_drg.py::test_drg_lifts_the_worst_point_over_a_bridge"],
    ),
    Break(
        name="drg_ignores_latent_density",
        description="DensityRegularizedGeodesic's penalty drops −log p(z) (only ½ log det G left)",
        apply=_drg_ignores_latent_density,
        tests=[f"{T_RING}[0.03]"],
    ),
    Break(
        name="drg_ignores_mu_on_mnist",
        description="DensityRegularizedGeodesic solves the plain geodesic, seen on a trained MNIST VAE",
        apply=_drg_ignores_mu,
        tests=[f"{T_CLAIMS}::test_regularized_raises_min_log_density_on_mnist_vae"],
    ),
]
