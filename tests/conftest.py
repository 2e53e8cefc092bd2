import os

import numpy as np
import pytest
import torch

# Tests run two workers on two cores (pytest -n 2): one Torch thread each avoids
# oversubscription, which slows multi-threaded Torch down by an order of magnitude.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


def sphere_map(z):
    """f(u, v) = (cos u cos v, sin u cos v, sin v): the unit sphere in a lat/long chart."""
    u, v = z[..., 0], z[..., 1]
    return torch.stack([u.cos() * v.cos(), u.sin() * v.cos(), v.sin()], dim=-1)


def great_circle(z0, z1):
    x0 = sphere_map(torch.as_tensor(z0))
    x1 = sphere_map(torch.as_tensor(z1))
    return torch.arccos((x0 * x1).sum(-1).clamp(-1, 1)).numpy()


@pytest.fixture(scope="session")
def sphere_manifold():
    from sk_geodesic.manifolds import PretrainedManifold

    return PretrainedManifold(sphere_map, latent_dim=2, dtype="float64", random_state=0).fit()


@pytest.fixture(scope="session")
def mnist_small():
    from sk_geodesic.datasets import load_mnist

    X, y = load_mnist(return_X_y=True, digits=[0, 1, 7], n_per_digit=400)
    return X, y


@pytest.fixture(scope="session")
def mnist_vae(mnist_small):
    from sk_geodesic.manifolds import VAE

    X, _ = mnist_small
    return VAE(latent_dim=2, epochs=15, output_activation="sigmoid", n_centers=32, random_state=0).fit(X)


@pytest.fixture
def rng():
    return np.random.RandomState(0)


# Mutation check (scripts/mutation_check.py): apply one deliberate break to the
# package for the whole session, in every xdist worker.
_MUTATION = os.environ.get("SK_GEODESIC_MUTATION")
if _MUTATION:
    from tests.mutations import apply_from_env

    _mutation_patch = pytest.MonkeyPatch()
    apply_from_env(_mutation_patch, _MUTATION)
