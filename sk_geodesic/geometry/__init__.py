"""Pure-Torch Riemannian geometry of generative models (no sklearn here).

Everything takes an *embedding map* φ: a Torch callable ``(N, d) -> (N, D)`` whose
Euclidean pullback is the latent metric G(z) = J_φ(z)ᵀ J_φ(z).
"""

from .curves import (
    LENGTH_SUBDIVISIONS,
    curve_energy,
    curve_length_energy,
    subdivide,
    curve_length,
    embed_curve,
    linear_curve,
    refine_cubic,
    reparametrize_constant_speed,
    resample,
    segment_lengths,
)
from .density import GaussianMixtureLogDensity, StandardNormalLogDensity
from .density import (
    RegularizedCurveObjective,
    data_space_penalty,
    latent_space_penalty,
    minimize_curves_lbfgs,
    soft_maximum,
)
from .layerwise import LayerwiseEmbedding, forward_jacobian
from .metric import (
    condition_number,
    grid_variation,
    jacobian,
    jacobian_diagnostics,
    latent_plane,
    log_det_metric,
    magnification_factor,
    metric_tensor,
    plane_through,
)
from .solvers import SolverResult, block_tridiagonal_solve, solve_energy, solve_geodesic, solve_geodesic_multistart

__all__ = [
    "LENGTH_SUBDIVISIONS",
    "curve_energy",
    "curve_length_energy",
    "subdivide",
    "curve_length",
    "embed_curve",
    "linear_curve",
    "reparametrize_constant_speed",
    "resample",
    "refine_cubic",
    "segment_lengths",
    "GaussianMixtureLogDensity",
    "StandardNormalLogDensity",
    "RegularizedCurveObjective",
    "data_space_penalty",
    "latent_space_penalty",
    "minimize_curves_lbfgs",
    "soft_maximum",
    "condition_number",
    "jacobian_diagnostics",
    "latent_plane",
    "plane_through",
    "grid_variation",
    "jacobian",
    "forward_jacobian",
    "LayerwiseEmbedding",
    "log_det_metric",
    "magnification_factor",
    "metric_tensor",
    "SolverResult",
    "block_tridiagonal_solve",
    "solve_energy",
    "solve_geodesic",
    "solve_geodesic_multistart",
]
