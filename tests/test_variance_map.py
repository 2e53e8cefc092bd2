"""Manifolds name the σ part of φ = [μ, σ]; the Geodesic's Newton steps use its curvature alone."""

import numpy as np
import pytest
import torch
from torch import nn

import sk_geodesic.interpolation._geodesic as geodesic_module
from sk_geodesic.interpolation import Geodesic
from sk_geodesic.manifolds import VAE, PretrainedManifold


def _pretrained(with_std):
    torch.manual_seed(0)
    dec = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 6))
    std = nn.Sequential(nn.Linear(2, 6), nn.Softplus()) if with_std else None
    return PretrainedManifold(dec, latent_dim=2, std_network=std).fit()


@pytest.mark.parametrize("kind", ["vae", "pretrained"])
def test_variance_map_is_the_sigma_columns_of_phi(kind):
    X = np.random.RandomState(0).rand(60, 6)
    m = VAE(latent_dim=2, hidden_sizes=(8,), epochs=2, n_centers=4, random_state=0).fit(X) if kind == "vae" else _pretrained(True)
    sigma, columns = m.variance_map()
    z = torch.randn(5, 2, dtype=m.dtype_)
    phi = m.embedding_map()(z)
    assert columns == slice(6, None)
    torch.testing.assert_close(sigma(z), phi[:, columns])
    # the columns before are the decoder mean
    torch.testing.assert_close(phi[:, :6], m.decoding_map()(z))


def test_no_variance_map_without_a_varying_sigma():
    X = np.random.RandomState(0).rand(60, 6)
    assert VAE(latent_dim=2, hidden_sizes=(8,), epochs=1, std_network="constant").fit(X).variance_map() is None
    assert _pretrained(False).variance_map() is None


def _spy(mp):
    seen = []
    for name in ("solve_geodesic", "solve_geodesic_multistart"):
        original = getattr(geodesic_module, name)

        def spy(*a, _original=original, **k):
            seen.append(k.get("curvature_part"))
            return _original(*a, **k)

        mp.setattr(geodesic_module, name, spy)
    return seen


@pytest.mark.parametrize("with_std", [True, False])
@pytest.mark.parametrize("second_order", [True, "variance", False])
def test_geodesic_hands_the_variance_part_to_the_solver(monkeypatch, with_std, second_order):
    m = _pretrained(with_std)
    seen = _spy(monkeypatch)
    z = np.array([[-0.5, 0.2], [0.4, -0.3]])
    X = m.inverse_transform(z)
    Geodesic(manifold=m, n_points=9, second_order=second_order, init="linear").fit(X).path(z[:1], z[1:], latent=True)
    assert seen
    if with_std and second_order == "variance":
        assert all(p is not None and p[1] == slice(6, None) for p in seen)
    else:
        assert all(p is None for p in seen)
