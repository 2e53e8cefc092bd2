"""Quality measures of interpolation paths and sklearn scorers built from them."""

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
]
