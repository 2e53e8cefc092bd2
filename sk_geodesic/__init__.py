"""sk_geodesic: geodesic interpolation, distances and clustering in the latent spaces
of deep generative models, with the scikit-learn API."""

__version__ = "0.1.0"

from ._utils import config_context, get_config, set_config  # noqa: E402
from . import datasets, geometry, interpolation, manifolds  # noqa: E402
from .interpolation import Geodesic, Interpolator, Linear, Path  # noqa: E402
from .manifolds import GAN, VAE, GenerativeManifold, PretrainedManifold  # noqa: E402

__all__ = [
    "config_context",
    "get_config",
    "set_config",
    "datasets",
    "geometry",
    "interpolation",
    "manifolds",
    "GenerativeManifold",
    "VAE",
    "GAN",
    "PretrainedManifold",
    "Interpolator",
    "Path",
    "Linear",
    "Geodesic",
]
