"""Matplotlib figures: latent scatters, image strips, metric heat maps."""

from ._diagnostics import jacobian_maps, jacobian_summary, plot_jacobian_diagnostics
from ._plots import plot_image_strips, plot_latent_paths, plot_latent_scatter, plot_magnification

__all__ = [
    "plot_latent_scatter",
    "plot_image_strips",
    "plot_magnification",
    "plot_latent_paths",
    "plot_jacobian_diagnostics",
    "jacobian_maps",
    "jacobian_summary",
]
