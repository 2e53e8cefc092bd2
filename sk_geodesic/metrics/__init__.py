"""Quality measures of interpolation paths and sklearn scorers built from them."""

from ._admissibility import (
    AdmissibilityScorer,
    alpha_retrieval_summary,
    boundary_error,
    credibility,
    credibility_scores,
    ground_truth_mse,
    lipschitz_constant,
    monotonicity,
    nearest_reference,
    retrieve_alpha,
    smoothness,
    step_evenness,
)
from ._path import length_ratio, path_length, path_log_density, path_quality_score, path_realism_index
from ._scorers import PathScorer, make_path_scorer

__all__ = [
    "path_length",
    "length_ratio",
    "path_log_density",
    "path_realism_index",
    "path_quality_score",
    "PathScorer",
    "make_path_scorer",
    "boundary_error",
    "monotonicity",
    "lipschitz_constant",
    "step_evenness",
    "smoothness",
    "credibility",
    "credibility_scores",
    "ground_truth_mse",
    "nearest_reference",
    "retrieve_alpha",
    "alpha_retrieval_summary",
    "AdmissibilityScorer",
]
