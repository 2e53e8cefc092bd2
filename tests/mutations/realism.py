"""Breaks of the realism index (Struski et al.) and of RealismIndex interpolation."""

from . import Break, patch_everywhere

T = "tests/test_claims_realism.py"
T_PATHS = f"{T}::test_realism_index_paths_beat_geodesic_and_linear"
T_INDEX = f"{T}::test_fitted_density_index_matches_reference"


def _index_inverted(mp):
    from sk_geodesic.geometry.realism import ScoreRealismIndex

    original = ScoreRealismIndex.forward
    mp.setattr(ScoreRealismIndex, "forward", lambda self, z: 1.0 - original(self, z))


def _index_flat(mp):
    from sk_geodesic.geometry.realism import ScoreRealismIndex

    mp.setattr(ScoreRealismIndex, "forward", lambda self, z: 0.5 + 0.0 * z.sum(-1))


def _replaced_by_geodesic(mp):
    from sk_geodesic.geometry.solvers import solve_energy_multilevel
    from sk_geodesic.interpolation import RealismIndex

    def solve(self, Z):
        res = solve_energy_multilevel(self._geometry.embedding_map(), Z, max_iter=100, tol=1e-6)
        return res.Z, res.converged, res.n_iter

    mp.setattr(RealismIndex, "_solve", solve)


def _replaced_by_linear(mp):
    import torch

    from sk_geodesic.interpolation import RealismIndex

    def solve(self, Z):
        B = Z.shape[0]
        return Z, torch.ones(B, dtype=torch.bool), torch.zeros(B, dtype=torch.long)

    mp.setattr(RealismIndex, "_solve", solve)


def _chi_square_wrong_dof(mp):
    import torch

    from sk_geodesic.geometry.realism import ChiSquareRealismIndex

    def forward(self, z):
        r2 = z.pow(2).sum(-1)
        return torch.special.gammaincc(torch.full_like(r2, 0.5 * (z.shape[-1] + 1)), 0.5 * r2)

    mp.setattr(ChiSquareRealismIndex, "forward", forward)


def _epsilon_ignored(mp):
    import sk_geodesic.geometry.realism as realism

    patch_everywhere(mp, realism, "rescale_index", lambda ri, epsilon: ri)


def _path_realism_unweighted(mp):
    import torch

    import sk_geodesic.geometry.realism as realism

    def path_realism(embed, ri, Z, epsilon=0.0, normalize=False):
        B, n, d = Z.shape
        r = realism.rescale_index(ri(Z.reshape(B * n, d)).reshape(B, n), epsilon)
        return torch.exp(torch.log(realism.segment_realism(r)).mean(-1))

    patch_everywhere(mp, realism, "path_realism", path_realism)


BREAKS = [
    Break(
        name="index_inverted",
        description="the score-based realism index returns 1 − CDF",
        apply=_index_inverted,
        tests=[T_INDEX, T_PATHS],
    ),
    Break(
        name="features_index_inverted",
        description="the score-based realism index returns 1 − CDF, seen through index='features'",
        apply=_index_inverted,
        tests=[f"{T}::test_feature_index_on_mnist_vae"],
    ),
    Break(
        name="index_flat",
        description="the score-based realism index is the constant 1/2 (the CDF estimate lost)",
        apply=_index_flat,
        tests=[T_INDEX],
    ),
    Break(
        name="replaced_by_geodesic",
        description="RealismIndex solves the plain energy (a geodesic), ignoring the index",
        apply=_replaced_by_geodesic,
        tests=[T_PATHS],
    ),
    Break(
        name="replaced_by_geodesic_gridsearch",
        description="RealismIndex replaced by a geodesic, seen by the grid search over ε",
        apply=_replaced_by_geodesic,
        tests=[f"{T}::test_gridsearch_epsilon_prefers_realistic_paths"],
    ),
    Break(
        name="replaced_by_linear",
        description="RealismIndex returns the straight latent segment",
        apply=_replaced_by_linear,
        tests=[T_PATHS],
    ),
    Break(
        name="chi_square_wrong_dof",
        description="ChiSquareRealismIndex uses D + 1 degrees of freedom",
        apply=_chi_square_wrong_dof,
        tests=[f"{T}::test_chi_square_index_matches_scipy"],
    ),
    Break(
        name="epsilon_ignored",
        description="rescale_index ignores ε",
        apply=_epsilon_ignored,
        tests=[f"{T}::test_path_realism_closed_form_for_constant_index"],
    ),
    Break(
        name="path_realism_unweighted",
        description="path realism (eq. 12) averages log r̄ without the ‖Δφ‖ weights",
        apply=_path_realism_unweighted,
        tests=[f"{T}::test_path_realism_closed_form_for_constant_index"],
    ),
]
