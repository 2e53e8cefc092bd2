"""Breaks of the curve solver (area ``solver``)."""

from . import Break


def _objective_scaled_stopping(mp):
    import sk_geodesic.geometry.solvers as solvers

    # the old behaviour: relative drop measured against |F|, which a constant shifts
    mp.setattr(solvers, "_stopping_scale", lambda objective, energy: objective.abs())


BREAKS = [
    Break(
        name="stopping_scaled_by_objective",
        description="solve_energy judges convergence relative to the (offset-dependent) objective",
        apply=_objective_scaled_stopping,
        tests=[
            "tests/test_solver_offset.py::test_solve_energy_penalty_offset_invariant_and_negative_objective_iterates",
            "tests/test_solver_offset.py::test_density_regularized_path_unchanged_by_constant_in_log_density",
        ],
    ),
]
