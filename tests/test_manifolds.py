import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_geodesic.manifolds import VAE, PretrainedManifold

from .conftest import on, run_estimator_check, sphere_map

# A decoder fixes its output size, so checks that fit on data with a different number
# of features than the decoder produces cannot pass for a pretrained model: ``fit``
# raises "X has k features but the decoder outputs 3 values". These are the checks that
# really fail for that reason (xfail_strict: any of them passing turns the suite red).
_PRETRAINED_XFAIL = {
    name: "a pretrained decoder fixes n_features; this check fits on data of another width"
    for name in [
        "check_dtype_object",
        "check_estimators_dtypes",
        "check_estimators_fit_returns_self",
        "check_estimators_overwrite_params",
        "check_fit2d_1feature",
        "check_fit2d_1sample",
        "check_fit_check_is_fitted",
        "check_fit_idempotent",
        "check_n_features_in",
        "check_n_features_in_after_fitting",
        "check_positive_only_tag_during_fit",
        "check_readonly_memmap_input",
    ]
}


def _linear_decoder():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))


def _expected_failed(est):
    # float32 subset invariance: see run_estimator_check
    return _PRETRAINED_XFAIL if isinstance(est, PretrainedManifold) else {}


@parametrize_with_checks(
    [
        VAE(latent_dim=2, hidden_sizes=(8,), epochs=2, n_centers=4, density_components=2, batch_size=64, random_state=0),
        VAE(latent_dim=1, hidden_sizes=(8,), epochs=1, std_network="mlp", density_components=1, dtype="float64", random_state=0),
        PretrainedManifold(_linear_decoder(), random_state=0, inversion_steps=5, n_candidates=16),
    ],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_compatible(estimator, check):
    run_estimator_check(estimator, check)


def test_pretrained_sphere_matches_decoder(sphere_manifold):
    Z = np.array([[0.3, -0.2], [1.0, 0.5]])
    X = sphere_manifold.inverse_transform(Z)
    np.testing.assert_allclose(X, sphere_map(torch.as_tensor(Z)).numpy())
    # inversion without an encoder recovers codes (chart is injective away from the poles)
    Zr = sphere_manifold.transform(X)
    np.testing.assert_allclose(sphere_manifold.inverse_transform(Zr), X, atol=1e-4)


def test_pretrained_rejects_mismatched_decoder():
    dec = torch.nn.Linear(2, 5)
    with pytest.raises(ValueError, match="decoder outputs 5 values"):
        PretrainedManifold(dec).fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="latent_dim"):
        PretrainedManifold(lambda z: z).fit()
    with pytest.raises(ValueError, match="decoder failed"):
        PretrainedManifold(torch.nn.Linear(3, 5), latent_dim=2).fit()


def test_pretrained_std_network_changes_the_metric():
    from sk_geodesic.geometry import metric_tensor

    dec = torch.nn.Linear(2, 3).double()
    std = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Softplus()).double()
    m0 = PretrainedManifold(dec, dtype="float64").fit()
    m1 = PretrainedManifold(dec, std_network=std, dtype="float64").fit()
    Z = torch.randn(5, 2, dtype=torch.float64, device=m0.device_)
    G0 = metric_tensor(m0.embedding_map(), Z)
    G1 = metric_tensor(m1.embedding_map(), Z)
    J = torch.func.vmap(torch.func.jacfwd(std))(Z.cpu())  # the user's module stays on the CPU
    torch.testing.assert_close(G1.cpu(), G0.cpu() + J.transpose(-1, -2) @ J)


def test_vae_mnist_reconstruction():
    from sk_geodesic.datasets import load_mnist

    X, _ = load_mnist(return_X_y=True)
    vae = VAE(latent_dim=8, epochs=15, std_epochs=1, output_activation="sigmoid", random_state=0).fit(X)
    mse = vae.reconstruction_error(X)
    # a per-pixel MSE of 0.067 is what predicting the mean image gives on these digits
    baseline = float(np.mean((X - X.mean(0)) ** 2))
    assert mse < 0.036, mse  # measured 0.034 (seed 0)
    assert mse < 0.55 * baseline
    assert vae.loss_curve_[0] > vae.loss_curve_[vae.epochs - 1]


def test_vae_outputs_and_density(mnist_vae, mnist_small):
    X, _ = mnist_small
    Z = mnist_vae.transform(X[:10])
    assert Z.shape == (10, 2)
    Xh = mnist_vae.inverse_transform(Z)
    assert Xh.shape == (10, 784) and Xh.min() >= 0 and Xh.max() <= 1
    Xs, Zs = mnist_vae.sample(7, random_state=0)
    assert Xs.shape == (7, 784) and Zs.shape == (7, 2)
    elbo = mnist_vae.score_samples(X[:20])
    assert elbo.shape == (20,) and np.all(np.isfinite(elbo))
    np.testing.assert_allclose(elbo, mnist_vae.score_samples(X[:20]))  # deterministic
    logp = mnist_vae.latent_log_density()
    Zt = on(mnist_vae, mnist_vae.latent_train_)
    far = Zt.abs().max() * 5 * torch.ones(1, 2, device=Zt.device)
    # the aggregate posterior is much higher on the data than far from it
    assert float(logp(Zt).mean()) > float(logp(far)) + 10


def test_vae_rbf_std_grows_away_from_data(mnist_vae):
    Zt = mnist_vae.latent_train_
    near = mnist_vae.decoded_std(Zt[:200]).mean()
    far_point = Zt.mean(0) + 4 * np.abs(Zt).max(0)
    far = mnist_vae.decoded_std(far_point[None]).mean()
    assert far > 3 * near
    np.testing.assert_allclose(far, mnist_vae.max_std, rtol=0.05)


def test_vae_embedding_is_mean_and_std(mnist_vae):
    Z = on(mnist_vae, mnist_vae.latent_train_[:4])
    phi = mnist_vae.embedding_map()(Z).cpu()
    assert phi.shape == (4, 2 * 784)
    np.testing.assert_allclose(phi[:, :784].numpy(), mnist_vae.inverse_transform(Z.cpu().numpy()), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(phi[:, 784:].numpy(), mnist_vae.decoded_std(Z.cpu().numpy()), rtol=1e-5, atol=1e-6)


def test_bad_input_errors(mnist_vae):
    with pytest.raises(NotFittedError):
        VAE().transform(np.zeros((2, 784)))
    with pytest.raises(ValueError, match="NaN"):
        mnist_vae.transform(np.full((2, 784), np.nan))
    with pytest.raises(ValueError, match="infinity"):
        VAE(epochs=1).fit(np.full((4, 3), np.inf))
    with pytest.raises(ValueError, match="784 features"):
        mnist_vae.transform(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="latent"):
        mnist_vae.inverse_transform(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(latent_dim=0).fit(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="CUDA"):
        VAE(device="cuda", epochs=1).fit(np.zeros((4, 3))) if not torch.cuda.is_available() else (_ for _ in ()).throw(ValueError("CUDA"))


def test_pickle_roundtrip_and_clone(mnist_vae, mnist_small):
    X, _ = mnist_small
    again = pickle.loads(pickle.dumps(mnist_vae))
    np.testing.assert_allclose(again.transform(X[:5]), mnist_vae.transform(X[:5]))
    assert clone(mnist_vae).get_params() == mnist_vae.get_params()


def test_cuda_pickle_loads_on_cpu(mnist_vae, monkeypatch):
    """A state saved with device_=cuda comes back on the CPU when CUDA is absent."""
    state = mnist_vae.__getstate__()
    state["device_"] = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    restored = VAE.__new__(VAE)
    restored.__setstate__(dict(state))
    assert restored.device_ == torch.device("cpu")
    assert next(restored.module_.parameters()).device.type == "cpu"
