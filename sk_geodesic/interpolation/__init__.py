"""Interpolator estimators: paths between data points on a generative manifold."""

from ._base import Interpolator, Path
from ._geodesic import Geodesic
from ._linear import Linear

__all__ = ["Interpolator", "Path", "Linear", "Geodesic"]
