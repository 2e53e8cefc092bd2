"""VAE σ calibration: the RBF precision network raises σ in the gaps between groups of codes."""

import numpy as np
import pytest
import torch

from sk_geodesic.manifolds import VAE


def rbf_sigma(Z, query, **params):
    """σ(query) of the RBF network built (before training) from codes Z with the VAE's construction."""
    vae = VAE(**params)
    vae.latent_train_ = Z
    vae.latent_dim_ = Z.shape[1]
    net = vae._rbf_network(3, seed=0, sigma0=torch.full((3,), 0.1))
    with torch.no_grad():
        return net(torch.as_tensor(query, dtype=torch.float64)).mean(-1).numpy()


def three_groups(seed=0):
    rng = np.random.RandomState(seed)
    centres = np.array([[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    return np.vstack([c + 0.35 * rng.normal(size=(300, 2)) for c in centres]), centres


def test_sigma_rises_between_groups_and_far_away():
    Z, centres = three_groups()
    gaps = np.array([[0.0, 0.0], [1.0, 1.5], [-1.0, 1.5]])  # between the groups
    on = rbf_sigma(Z, centres)
    gap = rbf_sigma(Z, gaps)
    far = rbf_sigma(Z, [[30.0, 0.0]])
    assert np.all(on < 0.15)  # σ on the data stays at the phase-1 value scale
    assert np.all(gap > 3 * on.max())  # a barrier in every gap between groups
    assert far[0] == pytest.approx(10.0, rel=1e-3)  # σ far = max_std, ≫ σ on the data
    # the old bandwidths (rbf_scale=2) fill the gaps even with the same σ far
    old_gap = rbf_sigma(Z, gaps, rbf_scale=2.0)
    assert np.all(old_gap <= gap + 1e-9) and old_gap.min() < gap.min() / 2


def test_default_vae_parameters():
    p = VAE().get_params()
    assert p["rbf_scale"] == 1.0 and p["max_std"] == 10.0
