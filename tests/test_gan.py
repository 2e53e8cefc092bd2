"""Tests of the GAN manifold: sklearn conformance and real GAN behaviour on small data."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from .conftest import run_estimator_check

from sk_geodesic.datasets import SemicircleMixture, make_ring
from sk_geodesic.manifolds import GAN

TINY = dict(epochs=2, encoder_epochs=2, inversion_steps=5, n_candidates=16, hidden_sizes=(8,), random_state=0)

# Settings of the ring test: the paper's 2-20-20-2 generator, non-saturating loss.
RING = dict(hidden_sizes=(20, 20), epochs=100, encoder_epochs=20, batch_size=128, learning_rate=1e-3)


@parametrize_with_checks([GAN(**TINY)])
def test_sklearn_compatible(estimator, check):
    run_estimator_check(estimator, check)


@pytest.fixture(scope="module")
def ring_gan():
    X, _ = make_ring(2000, random_state=0)
    return GAN(random_state=0, **RING).fit(X), X


def _ring_quality(gan, n=2000):
    Xs, _ = gan.sample(n, random_state=1)
    radius = np.linalg.norm(Xs, axis=1)
    on_ring = np.mean((radius > 0.7) & (radius < 1.3))
    angle = np.arctan2(Xs[:, 1], Xs[:, 0])
    sectors = np.histogram(angle, bins=8, range=(-np.pi, np.pi))[0]
    return on_ring, sectors


def test_ring_samples_lie_on_the_ring(ring_gan):
    gan, X = ring_gan
    on_ring, sectors = _ring_quality(gan)
    assert on_ring >= 0.9
    # every 45° sector gets a fair share (uniform: 250 of 2000)
    assert sectors.min() >= 100, sectors
    assert gan.latent_train_.shape == (X.shape[0], 2)
    assert gan.latent_train_.dtype == np.float64
    assert np.array_equal(gan.latent_reference_points(), gan.latent_train_)
    assert len(gan.discriminator_loss_curve_) == RING["epochs"]
    assert len(gan.encoder_loss_curve_) == RING["encoder_epochs"]
    assert not gan.piecewise_linear_


@pytest.mark.parametrize("seed", [1, 2])
def test_ring_training_is_reliable_across_seeds(seed):
    X, _ = make_ring(2000, random_state=seed)
    gan = GAN(random_state=seed, **RING).fit(X)
    on_ring, sectors = _ring_quality(gan)
    assert on_ring >= 0.9
    assert sectors.min() >= 100, sectors


def test_transform_inverts_the_generator(ring_gan):
    gan, X = ring_gan
    Xs, Zs = gan.sample(300, random_state=5)
    Z = gan.transform(Xs)
    err = np.linalg.norm(gan.inverse_transform(Z) - Xs, axis=1)
    assert np.median(err) < 0.02
    assert np.quantile(err, 0.95) < 0.1
    # training data: reconstructions sit on the ring next to the data
    rec = np.linalg.norm(gan.inverse_transform(gan.latent_train_) - X, axis=1)
    assert np.median(rec) < 0.1


def test_transform_recovers_latent_codes_of_an_injective_generator():
    # Gaussian data on a 2-D plane in R^3: the generator learns an (almost) affine,
    # injective map, so z itself, not only G(z), must be recovered.
    rng = np.random.default_rng(0)
    A = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, -0.7]])
    X = rng.normal(size=(1000, 2)) @ A.T
    gan = GAN(hidden_sizes=(16, 16), epochs=40, encoder_epochs=20, inversion_steps=200, random_state=0).fit(X)
    Xs, Zs = gan.sample(200, random_state=1)
    Z = gan.transform(Xs)
    z_err = np.linalg.norm(Z - Zs, axis=1)
    assert np.median(z_err) < 0.02
    assert np.mean(z_err < 0.1) >= 0.9  # a few codes in the prior's tails are ill-conditioned
    np.testing.assert_allclose(gan.inverse_transform(Z), Xs, atol=0.05)


def test_embedding_map_and_log_density_are_differentiable(ring_gan):
    gan, _ = ring_gan
    z = torch.zeros(4, 2, device=gan.device_, requires_grad=True)
    phi = gan.embedding_map()
    assert phi(z).shape == (4, 2)
    assert phi(z[0]).shape == (2,)
    J = torch.autograd.functional.jacobian(phi, z[0])
    assert J.shape == (2, 2) and torch.isfinite(J).all()
    logp = gan.latent_log_density()(z)
    logp.sum().backward()
    assert logp.shape == (4,)
    np.testing.assert_allclose(logp.detach().cpu().numpy(), -np.log(2 * np.pi), rtol=1e-6)
    np.testing.assert_allclose(gan.decoding_map()(z).detach().cpu().numpy(), phi(z).detach().cpu().numpy())


def test_semicircle_prior():
    prior = SemicircleMixture(n_dims=20)
    X = np.random.default_rng(0).normal(size=(200, 5))
    gan = GAN(latent_dim=20, prior=prior, **{**TINY, "epochs": 3}).fit(X)
    Xs, Zs = gan.sample(4000, random_state=0)
    assert Xs.shape == (4000, 5) and Zs.shape == (4000, 20)
    assert abs(Zs[:, 0].mean() - 4.0 / 3.0) < 0.1  # component means (2, 0, 2) in z_1
    assert abs(Zs[:, 1].mean()) < 0.2
    # sampling is reproducible and goes through the prior's own sampler
    np.testing.assert_array_equal(gan.sample(5, random_state=3)[1], gan.sample(5, random_state=3)[1])
    # the log-density is the prior's, differentiable in torch
    z = torch.as_tensor(Zs[:10], dtype=torch.float32).requires_grad_(True)
    logp = gan.latent_log_density()(z)
    logp.sum().backward()
    np.testing.assert_allclose(logp.detach().numpy(), prior.log_prob(Zs[:10]), rtol=1e-4)
    assert z.grad is not None and torch.isfinite(z.grad).all()
    assert gan.transform(X[:3]).shape == (3, 20)


def test_prior_with_wrong_dimension_raises():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match="latent_dim"):
        GAN(latent_dim=2, prior=SemicircleMixture(n_dims=20), **TINY).fit(X)


def test_prior_without_log_density_raises():
    class OnlySample:
        def sample(self, n_samples, random_state=None):
            return np.random.default_rng(random_state).normal(size=(n_samples, 2))

    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match="log-density"):
        GAN(prior=OnlySample(), **TINY).fit(X)


def test_invalid_prior_string_raises():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError):
        GAN(prior="uniform", **TINY).fit(X)


def test_pickle_round_trip_gives_the_same_transform(ring_gan):
    gan, X = ring_gan
    clone = pickle.loads(pickle.dumps(gan))
    np.testing.assert_array_equal(clone.transform(X[:50]), gan.transform(X[:50]))
    np.testing.assert_array_equal(clone.sample(5, random_state=0)[0], gan.sample(5, random_state=0)[0])


def test_transform_is_deterministic_and_refit_reproducible():
    X, _ = make_ring(200, random_state=0)
    a = GAN(**TINY).fit(X)
    b = GAN(**TINY).fit(X)
    np.testing.assert_array_equal(a.transform(X), a.transform(X))
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    np.testing.assert_array_equal(a.latent_train_, b.latent_train_)


def test_does_not_touch_global_torch_rng():
    X, _ = make_ring(100, random_state=0)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    GAN(**TINY).fit(X).transform(X)
    np.testing.assert_array_equal(torch.rand(3), expected)


def test_not_fitted():
    gan = GAN(**TINY)
    with pytest.raises(NotFittedError):
        gan.transform(np.zeros((2, 2)))
    with pytest.raises(NotFittedError):
        gan.sample(2)
    with pytest.raises(NotFittedError):
        gan.embedding_map()


def test_nan_input_raises():
    X = np.random.default_rng(0).normal(size=(20, 2))
    X[3, 1] = np.nan
    with pytest.raises(ValueError):
        GAN(**TINY).fit(X)
    gan = GAN(**TINY).fit(np.nan_to_num(X))
    with pytest.raises(ValueError):
        gan.transform(X)


def test_wrong_number_of_features_raises():
    gan = GAN(**TINY).fit(np.random.default_rng(0).normal(size=(30, 3)))
    with pytest.raises(ValueError, match="features"):
        gan.transform(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="latent"):
        gan.inverse_transform(np.zeros((4, 3)))


def test_conv_architecture():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(32, 784))
    gan = GAN(architecture="conv", output_activation="sigmoid", **{**TINY, "epochs": 1, "encoder_epochs": 1}).fit(X)
    Xs, _ = gan.sample(3, random_state=0)
    assert Xs.shape == (3, 784)
    assert (Xs >= 0).all() and (Xs <= 1).all()
    assert gan.transform(X[:2]).shape == (2, 2)
    with pytest.raises(ValueError, match="784"):
        GAN(architecture="conv", **TINY).fit(rng.normal(size=(10, 5)))


def test_wgan_gp_loss_runs():
    X, _ = make_ring(200, random_state=0)
    gan = GAN(loss="wgan-gp", n_critic=2, **TINY).fit(X)
    assert len(gan.generator_loss_curve_) == TINY["epochs"]
    assert np.all(np.isfinite(gan.discriminator_loss_curve_))
    assert gan.transform(X[:3]).shape == (3, 2)


def test_float64():
    X, _ = make_ring(100, random_state=0)
    gan = GAN(dtype="float64", **TINY).fit(X)
    assert gan.dtype_ == torch.float64
    assert gan.transform(X).dtype == np.float64
    assert gan.embedding_map()(torch.zeros(2, 2, dtype=torch.float64, device=gan.device_)).dtype == torch.float64
