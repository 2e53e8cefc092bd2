"""Deliberate breaks of the package, each paired with the tests that must catch it.

Every module in this package (one per area: ``solver.py``, ``cluster.py``, ...) defines
``BREAKS``, a list of :class:`Break`. ``scripts/mutation_check.py`` runs, for each break,
only the tests it names with the break applied (environment variable
``SK_GEODESIC_MUTATION=<area>:<name>``, read by ``tests/conftest.py``), and fails when
those tests still pass: a claim whose break survives is not guarded.

A break's ``apply(mp)`` receives a ``pytest.MonkeyPatch`` and must patch the name
*where it is looked up* (e.g. ``sk_geodesic.interpolation._geodesic.solve_energy``
when that module imported the function by name).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Break:
    name: str
    description: str
    apply: Callable
    tests: list = field(default_factory=list)


def all_breaks():
    """``{"area:name": Break}`` over every module of this package."""
    out = {}
    for info in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        for br in getattr(mod, "BREAKS", []):
            key = f"{info.name}:{br.name}"
            if key in out:
                raise ValueError(f"duplicate break {key}")
            out[key] = br
    return out


def apply_from_env(mp, key):
    """Apply the break named ``key`` ("area:name") with the MonkeyPatch ``mp``."""
    breaks = all_breaks()
    if key not in breaks:
        raise KeyError(f"unknown mutation {key!r}; known: {sorted(breaks)}")
    breaks[key].apply(mp)
