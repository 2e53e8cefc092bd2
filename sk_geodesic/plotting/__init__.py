"""Matplotlib figures: latent scatters, image strips, metric heat maps."""

from ._diagnostics import jacobian_maps, jacobian_summary, plot_jacobian_diagnostics
from ._plots import (
    latent_extent,
    plot_image_strips,
    plot_latent_paths,
    plot_latent_scatter,
    plot_magnification,
    plot_std_map,
)

__all__ = [
    "plot_latent_scatter",
    "plot_image_strips",
    "plot_magnification",
    "plot_latent_paths",
    "plot_std_map",
    "latent_extent",
    "plot_jacobian_diagnostics",
    "jacobian_maps",
    "jacobian_summary",
]
