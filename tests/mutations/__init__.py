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
import sys
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Break:
    name: str
    description: str
    apply: Callable
    tests: list = field(default_factory=list)


def import_package(name="sk_geodesic"):
    """Import every submodule of ``name`` (so :func:`patch_everywhere` sees them all)."""
    pkg = importlib.import_module(name)
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{name}."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            importlib.import_module(info.name)
    return pkg


def patch_everywhere(mp, module, name, new):
    """Replace ``module.name`` and every ``sk_geodesic`` module attribute bound to the same
    object (names imported with ``from ... import name``), so a break reaches every caller
    wherever the code imports it from. Returns the original object."""
    if isinstance(module, str):
        module = importlib.import_module(module)
    import_package()
    original = getattr(module, name)  # AttributeError when the name is gone: the break is stale
    for modname, mod in list(sys.modules.items()):
        if mod is None or not (modname == "sk_geodesic" or modname.startswith("sk_geodesic.")):
            continue
        for attr, value in list(vars(mod).items()):
            if value is original:
                mp.setattr(mod, attr, new)
    return original


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
