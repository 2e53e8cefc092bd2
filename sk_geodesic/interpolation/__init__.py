"""Interpolator estimators: paths between data points on a generative manifold."""

from ._base import Interpolator, Path
from ._density import DensityRegularizedGeodesic
from ._geodesic import Geodesic
from ._linear import Linear
from ._neural import NeuralCurve
from ._realism import RealismIndex

__all__ = ["Interpolator", "Path", "Linear", "Geodesic", "DensityRegularizedGeodesic", "RealismIndex", "NeuralCurve"]
