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


def run_estimator_check(estimator, check):
    """Run one sklearn estimator check; float32 subset invariance is platform-dependent.

    Matmul kernels picked by batch size change float32 results by ~1e-7, above the
    check's rtol=1e-7, on some machines (CPU and CUDA differ in which estimators hit it).
    Where it fails for that reason it is reported as an expected failure, at run time,
    so that a platform where it passes does not turn a strict xfail red; float64
    estimators must pass it everywhere.
    """
    name = getattr(check, "func", check).__name__
    if name == "check_methods_subset_invariance" and getattr(estimator, "dtype", None) == "float32":
        try:
            check(estimator)
        except AssertionError as err:
            if "not invariant when applied to a subset" not in str(err):
                raise
            pytest.xfail("float32 networks: batch-size-dependent matmul kernels change results by ~1e-7")
        return
    check(estimator)


def on(est, Z, dtype=torch.float32):
    """``Z`` as a tensor on a fitted estimator's device (tests call its Torch maps directly)."""
    return torch.as_tensor(np.asarray(Z) if not torch.is_tensor(Z) else Z, dtype=dtype).to(est.device_)
