"""Jacobian diagnostics: log det(JᵀJ), magnification, κ(J) and their grid maps."""

import numpy as np
import pytest
import torch

from sk_geodesic.geometry import grid_variation, jacobian_diagnostics, latent_plane, plane_through

from .conftest import sphere_map

torch.set_num_threads(1)


def test_sphere_chart_diagnostics_match_closed_form():
    # f(u, v) = (cos u cos v, sin u cos v, sin v): J has singular values |cos v| and 1,
    # so det JᵀJ = cos² v, magnification |cos v| and κ(J) = 1/|cos v|.
    rng = np.random.RandomState(0)
    Z = torch.as_tensor(np.c_[rng.uniform(-3, 3, 200), rng.uniform(-1.4, 1.4, 200)])
    out = jacobian_diagnostics(sphere_map, Z, chunk_size=64)
    cos_v = Z[:, 1].cos().abs()
    torch.testing.assert_close(out["log_det"], torch.log(cos_v**2), atol=1e-6, rtol=0)
    torch.testing.assert_close(out["magnification"], cos_v, atol=1e-6, rtol=0)
    torch.testing.assert_close(out["condition_number"], 1 / cos_v, atol=1e-6, rtol=1e-6)


def test_linear_map_diagnostics_match_svd():
    torch.manual_seed(0)
    A = torch.randn(7, 3, dtype=torch.float64)
    Z = torch.randn(10, 3, dtype=torch.float64)
    out = jacobian_diagnostics(lambda z: z @ A.T, Z)
    s = torch.linalg.svdvals(A)
    torch.testing.assert_close(out["log_det"], torch.logdet(A.T @ A).expand(10))
    torch.testing.assert_close(out["condition_number"], (s[0] / s[-1]).expand(10))


def test_latent_plane_layout_and_plane_through():
    P = latent_plane(torch.zeros(3, dtype=torch.float64), (-1, 1, 0, 2), resolution=5)
    assert P.shape == (5, 5, 3)
    assert P[0, 0].tolist() == [-1.0, 0.0, 0.0] and P[-1, -1].tolist() == [1.0, 2.0, 0.0]
    codes = torch.tensor([[0.0, 0, 0, 1], [2.0, 0, 0, 1], [0.0, 3, 0, 1]], dtype=torch.float64)
    c, D, coords = plane_through(codes)
    torch.testing.assert_close(D @ D.T, torch.eye(2, dtype=torch.float64))
    torch.testing.assert_close(coords, torch.tensor([[0.0, 0], [2, 0], [0, 3]], dtype=torch.float64))
    with pytest.raises(ValueError, match="collinear"):
        plane_through(torch.tensor([[0.0, 0], [1, 1], [2, 2]]))


def test_grid_variation_of_a_ramp():
    a = np.linspace(0, 1, 11)
    V = 3.0 * a[None, :] + 0 * a[:, None]  # slope 3 along columns only
    tv, grad = grid_variation(V, spacing=0.1)
    # horizontal diffs 0.3 (110 of them), vertical 0 (110): mean 0.15
    assert tv == pytest.approx(0.15)
    assert grad == pytest.approx(3.0)
    assert grid_variation(np.ones((4, 4)))[0] == 0.0


def test_jacobian_maps_on_the_sphere_chart(sphere_manifold):
    from sk_geodesic.plotting import jacobian_maps

    maps = jacobian_maps(sphere_manifold, extent=(-1.0, 1.0, -1.2, 1.2), resolution=7)
    v = np.linspace(-1.2, 1.2, 7)[:, None] * np.ones((1, 7))  # rows follow b = v
    np.testing.assert_allclose(maps["log_det"], np.log(np.cos(v) ** 2), atol=1e-6)
    np.testing.assert_allclose(maps["condition_number"], 1 / np.abs(np.cos(v)), atol=1e-6)
    assert maps["codes"] is None


class _Lift(torch.nn.Module):
    """R^3 -> R^4, (a, b, c) -> (a, b, c, a² + b²)."""

    def forward(self, z):
        return torch.cat([z, (z[..., :2] ** 2).sum(-1, keepdim=True)], -1)


def test_slice_through_three_codes_and_summary():
    from sk_geodesic.manifolds import PretrainedManifold
    from sk_geodesic.plotting import jacobian_maps, jacobian_summary, plot_jacobian_diagnostics

    m = PretrainedManifold(_Lift(), latent_dim=3, dtype="float64").fit()
    through = np.array([[0.0, 0, 0], [1.0, 0, 0], [0.0, 1, 0]])
    maps = jacobian_maps(m, extent=(-1, 1, -1, 1), resolution=5, through=through)
    # on the plane c = 0 the metric is I + 4 (a, b, 0)(a, b, 0)ᵀ: det = 1 + 4(a² + b²)
    a = np.linspace(-1, 1, 5)
    A, B = np.meshgrid(a, a)
    np.testing.assert_allclose(maps["log_det"], np.log(1 + 4 * (A**2 + B**2)), atol=1e-9)
    np.testing.assert_allclose(maps["condition_number"], np.sqrt(1 + 4 * (A**2 + B**2)), atol=1e-9)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes, _ = plot_jacobian_diagnostics(m, extent=(-1, 1, -1, 1), resolution=5, through=through)
    assert len(axes) == 2 and len(axes[0].images) == 1
    plt.close("all")

    # summary on codes: a model whose training codes are a cloud at the origin
    rng = np.random.RandomState(0)
    m.latent_train_ = rng.normal(scale=0.1, size=(50, 3))
    s = jacobian_summary(m, resolution=15)
    k_on = np.sqrt(1 + 4 * (m.latent_train_[:, :2] ** 2).sum(1))
    assert s["kappa_on_median"] == pytest.approx(np.median(k_on))
    assert s["kappa_off_median"] > s["kappa_on_median"]


@pytest.mark.slow
def test_jacobian_example_quick(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "plot_jacobian_diagnostics.py"
    spec = importlib.util.spec_from_file_location("_jac_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files = module.main(["--quick", "--out", str(tmp_path)])
    assert (tmp_path / "jacobian_gan_tanh.png").is_file() and (tmp_path / "jacobian_vae_sigmoid.png").is_file()
    table = (tmp_path / "jacobian_table.md").read_text()
    assert table.startswith("*QUICK") and table.count("| AEAI |") == 2
    assert len(files) == 4
