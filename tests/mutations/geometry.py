"""Breaks of the geometry core."""

from . import Break


def _straight_line_solver(mp):
    import sk_geodesic.geometry.solvers as solvers

    original = solvers.solve_energy

    def no_iterations(embed, Z, *args, **kwargs):
        kwargs["max_iter"] = 0
        return original(embed, Z, *args, **kwargs)

    mp.setattr(solvers, "solve_energy", no_iterations)


BREAKS = [
    Break(
        name="solver_no_iterations",
        description="solve_energy returns its initial (straight) curve",
        apply=_straight_line_solver,
        tests=["tests/test_geometry.py"],
    ),
]
