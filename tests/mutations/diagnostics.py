"""Breaks of the Jacobian diagnostics (issue 12)."""

from . import Break
from .aeai import _patch_everywhere


def _kappa_inverted(mp):
    import torch

    import sk_geodesic.geometry.metric as gm

    original = gm.jacobian_diagnostics

    def broken(embed, Z, chunk_size=1024):
        out = original(embed, Z, chunk_size)
        out["condition_number"] = 1.0 / out["condition_number"]  # σ_min/σ_max
        return out

    _patch_everywhere(mp, "sk_geodesic.geometry.metric", "jacobian_diagnostics", broken)


def _logdet_single_singular_value(mp):
    import torch

    import sk_geodesic.geometry.metric as gm

    original_svdvals = torch.linalg.svdvals

    class Linalg:
        def __getattr__(self, name):
            return getattr(torch.linalg, name)

        @staticmethod
        def svdvals(J):
            s = original_svdvals(J)
            return torch.cat([s[..., :1], torch.ones_like(s[..., 1:])], -1)  # keeps σ_1 only

    class Torch:
        linalg = Linalg()

        def __getattr__(self, name):
            return getattr(torch, name)

    mp.setattr(gm, "torch", Torch())


def _grid_variation_one_axis(mp):
    import torch

    import sk_geodesic.geometry.metric as gm

    def broken(values, spacing=1.0):
        V = torch.as_tensor(values, dtype=torch.float64)
        dx = (V[:, 1:] - V[:, :-1]).abs()
        gy, gx = torch.gradient(V, spacing=float(spacing))
        return float(dx.mean()), float(gx.abs().mean())  # ignores the vertical direction

    _patch_everywhere(mp, "sk_geodesic.geometry.metric", "grid_variation", broken)


BREAKS = [
    Break("diagnostics_kappa_inverted", "κ reported as σ_min/σ_max", _kappa_inverted,
          ["tests/test_diagnostics.py::test_sphere_chart_diagnostics_match_closed_form"]),
    Break("diagnostics_logdet_one_value", "log det from the largest singular value only", _logdet_single_singular_value,
          ["tests/test_diagnostics.py::test_sphere_chart_diagnostics_match_closed_form"]),
    Break("diagnostics_tv_one_axis", "grid variation ignores one direction", _grid_variation_one_axis,
          ["tests/test_diagnostics.py::test_grid_variation_of_a_ramp"]),
]
