"""scikit-learn's estimator checks on every interpolator.

The checks fit on random data with varying numbers of features, so every
interpolator gets an *unfitted*, tiny manifold that is cloned and fitted inside
``fit``. The VAE is a few-neuron network trained for one epoch in float64: the
checks test the estimator contract (validation, cloning, pickling, idempotence),
not path quality.
"""

import warnings

import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_geodesic.interpolation import DensityRegularizedGeodesic, Geodesic, Linear, NeuralCurve, RealismIndex
from sk_geodesic.manifolds import VAE

torch.set_num_threads(1)


def _tiny_vae():
    return VAE(
        latent_dim=2,
        hidden_sizes=(8,),
        epochs=1,
        n_centers=4,
        density_components=2,
        dtype="float64",
        random_state=0,
    )


def _estimators():
    common = dict(n_points=5, random_state=0)
    return [
        Linear(manifold=_tiny_vae(), **common),
        Geodesic(manifold=_tiny_vae(), max_iter=5, **common),
        DensityRegularizedGeodesic(manifold=_tiny_vae(), mu=0.01, max_iter=5, **common),
        RealismIndex(manifold=_tiny_vae(), index="density", n_samples=50, max_iter=5, **common),
        NeuralCurve(manifold=_tiny_vae(), hidden_size=4, n_train_points=5, max_iter=5, **common),
    ]


def _expected_failed_checks(estimator):
    return {}


@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_interpolator(estimator, check):
    with warnings.catch_warnings():
        # few iterations on random data: convergence warnings are expected and irrelevant here
        warnings.simplefilter("ignore", category=UserWarning)
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", category=ConvergenceWarning)
        check(estimator)
