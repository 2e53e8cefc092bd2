"""Breaks that the examples' printed numbers must reveal (tests/test_examples.py)."""

from . import Break
from .geometry import _straight_line_solver
from .realism import _replaced_by_geodesic
from .regularized import _drg_ignores_mu

T = "tests/test_examples.py::test_example_runs"


def _all_three(mp):
    _straight_line_solver(mp)
    _drg_ignores_mu(mp)
    _replaced_by_geodesic(mp)


BREAKS = [
    Break(
        name="straight_line_solver",
        description="solve_energy returns its initial (straight) curve",
        apply=_straight_line_solver,
        # with init="auto" the example may start from graph paths, which already beat the
        # line; the sphere test needs the solver itself to reach the great circle
        tests=[f"{T}[plot_mnist_geodesics]", "tests/test_interpolation.py::test_geodesic_matches_great_circle"],
    ),
    Break(
        name="drg_ignores_mu",
        description="DensityRegularizedGeodesic solves the plain geodesic (μ ignored)",
        apply=_drg_ignores_mu,
        tests=[f"{T}[plot_ring_density]"],
    ),
    Break(
        name="realism_replaced_by_geodesic",
        description="RealismIndex solves the plain energy, ignoring the index",
        apply=_replaced_by_geodesic,
        tests=[f"{T}[plot_semicircle_realism]"],
    ),
    Break(
        name="all_three_mnist_regularized",
        description="straight-line solver, DRG ignoring μ and RealismIndex replaced, all at once",
        apply=_all_three,
        tests=[f"{T}[plot_mnist_regularized]"],
    ),
]
