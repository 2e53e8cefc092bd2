"""Manifold claims against closed forms and a real CUDA→CPU pickle round trip.

- ``VAE.score_samples`` (the ELBO) on a linear-Gaussian VAE: with the exact posterior
  as encoder it equals log p(x) = log N(x; b, WWᵀ + σ²I) (SciPy); with any Gaussian
  encoder it equals the analytic E_q[log p(x|z)] − KL.
- Pickling a model whose tensors live on CUDA: the pickle's storages are tagged
  ``cuda:0`` exactly as torch tags real CUDA storages (we tag the model's storages by
  patching ``torch.serialization.location_tag``, since this machine has no GPU), and
  the bytes are loaded with CUDA unavailable. A pickle that still holds CUDA storages
  cannot be loaded there at all.
"""

import copy
import math
import pickle

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from sk_geodesic.manifolds import VAE

D, d = 6, 2
SIGMA = 0.5
A = np.array([1.5, 0.8])


class _ConstStd(torch.nn.Module):
    def forward(self, z):
        return torch.full((*z.shape[:-1], D), SIGMA, dtype=z.dtype, device=z.device)


@pytest.fixture(scope="module")
def linear_gaussian_vae():
    rng = np.random.RandomState(0)
    Q, _ = np.linalg.qr(rng.normal(size=(D, d)))
    W = Q * A  # orthogonal columns of norms A: WᵀW = diag(A²)
    b = rng.normal(size=D)
    X = rng.normal(size=(40, d)) @ W.T + b + SIGMA * rng.normal(size=(40, D))
    vae = VAE(latent_dim=d, hidden_sizes=(8,), epochs=1, std_network="constant", density_components=1,
              dtype="float64", random_state=0).fit(X)
    dec = torch.nn.Linear(d, D).double()
    with torch.no_grad():
        dec.weight.copy_(torch.as_tensor(W))
        dec.bias.copy_(torch.as_tensor(b))
    vae.module_.dec_mean = dec.requires_grad_(False).to(vae.device_)
    vae.module_.dec_std = _ConstStd()
    return vae, X, W, b


def test_elbo_equals_log_evidence_with_exact_posterior(linear_gaussian_vae):
    vae, X, W, b = linear_gaussian_vae
    vae = copy.deepcopy(vae)
    post_var = SIGMA**2 / (SIGMA**2 + A**2)
    Wt = torch.as_tensor(W, device=vae.device_)
    bt = torch.as_tensor(b, device=vae.device_)

    def exact_posterior(x):
        # Σ_post Wᵀ(x − b)/σ² with Σ_post = diag(σ²/(σ² + a²))
        mean = ((x - bt) @ Wt) / torch.as_tensor(SIGMA**2 + A**2, device=x.device)
        return mean, torch.as_tensor(np.log(post_var), device=x.device).expand_as(mean)

    vae.module_.encode = exact_posterior
    elbo = vae.score_samples(X, n_draws=4000)
    log_px = multivariate_normal(b, W @ W.T + SIGMA**2 * np.eye(D)).logpdf(X)
    # measured: |ELBO − log p(x)| < 0.03 (Monte-Carlo error of 4000 draws)
    np.testing.assert_allclose(elbo, log_px, atol=0.1)
    assert np.abs(log_px).min() > 3  # an affine distortion of the ELBO cannot hide in the tolerance


def test_elbo_matches_analytic_form_for_any_encoder(linear_gaussian_vae):
    vae, X, W, b = linear_gaussian_vae
    with torch.no_grad():
        m, logvar = vae.module_.encode(torch.as_tensor(X, device=vae.device_))
    m, s2 = m.cpu().numpy(), np.exp(logvar.cpu().numpy())
    resid = X - m @ W.T - b
    # E_q ‖x − Wz − b‖² = ‖x − Wm − b‖² + Σ_k a_k² s_k²  (W has orthogonal columns)
    expected_sq = (resid**2).sum(1) + (A**2 * s2).sum(1)
    e_loglik = -0.5 * expected_sq / SIGMA**2 - D * math.log(SIGMA) - 0.5 * D * math.log(2 * math.pi)
    kl = 0.5 * (m**2 + s2 - 1.0 - np.log(s2)).sum(1)
    # score_samples is a Monte-Carlo estimate over z = m + s·ε: its standard error
    # follows from Var_ε[‖r − W(s ε)‖²/(2σ²)] = (Σ_k (Wᵀr)_k² s_k² + ½ Σ_k a_k⁴ s_k⁴) / σ⁴
    n_draws = 20000
    var = (((resid @ W) ** 2 * s2).sum(1) + 0.5 * (A**4 * s2**2).sum(1)) / SIGMA**4
    se = np.sqrt(var / n_draws)
    elbo = vae.score_samples(X, n_draws=n_draws)
    err = np.abs(elbo - (e_loglik - kl))
    assert np.all(err < 5 * se + 1e-9), (err / se).max()
    assert np.all(se < 0.2)  # so the bound is tight: a distorted ELBO is off by far more
    # and it is a lower bound of the evidence
    log_px = multivariate_normal(b, W @ W.T + SIGMA**2 * np.eye(D)).logpdf(X)
    assert np.all(elbo <= log_px + 0.1)


def _torch_state(est):
    return [v for v in vars(est).values() if isinstance(v, (torch.nn.Module, torch.Tensor))]


def _storage_ptrs(est):
    ptrs = set()
    for v in _torch_state(est):
        tensors = list(v.state_dict().values()) if isinstance(v, torch.nn.Module) else [v]
        ptrs |= {t.untyped_storage().data_ptr() for t in tensors}
    return ptrs


def _pickle_as_if_on_cuda(obj, ptrs, monkeypatch):
    """pickle.dumps with the storages in ``ptrs`` tagged 'cuda:0', as torch tags CUDA storages."""
    import torch.serialization as ser

    original = ser.location_tag

    def tag(storage):
        return "cuda:0" if storage.data_ptr() in ptrs else original(storage)

    with monkeypatch.context() as mp:
        mp.setattr(ser, "location_tag", tag)
        return pickle.dumps(obj)


@pytest.fixture(scope="module")
def small_mnist_vae(mnist_small):
    X, _ = mnist_small
    return VAE(latent_dim=2, hidden_sizes=(32,), epochs=3, n_centers=8, output_activation="sigmoid",
               random_state=0).fit(X[::4])


def test_cuda_trained_vae_unpickles_on_cpu(small_mnist_vae, mnist_small, monkeypatch):
    X, _ = mnist_small
    mnist_vae = small_mnist_vae
    on_gpu = copy.deepcopy(mnist_vae)
    on_gpu.device_ = torch.device("cuda", 0)
    ptrs = _storage_ptrs(on_gpu)
    assert len(ptrs) >= 5
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # the fake is faithful: a module pickled with its own storages needs CUDA to load
    raw = _pickle_as_if_on_cuda(on_gpu.module_, ptrs, monkeypatch)
    with pytest.raises(RuntimeError, match="CUDA"):
        pickle.loads(raw)
    # the estimator's pickle holds CPU copies and comes back on the CPU
    data = _pickle_as_if_on_cuda(on_gpu, ptrs, monkeypatch)
    restored = pickle.loads(data)
    assert restored.device_ == torch.device("cpu")
    for v in _torch_state(restored):
        assert all(t.device.type == "cpu" for t in v.state_dict().values())
    # the same function: bit for bit where the fixture itself runs on the CPU; on a CUDA
    # machine the fixture is on the GPU, whose kernels round differently (~1e-7)
    tol = dict(rtol=0, atol=0) if mnist_vae.device_.type == "cpu" else dict(rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(restored.transform(X[:20]), mnist_vae.transform(X[:20]), **tol)
    np.testing.assert_allclose(restored.inverse_transform(mnist_vae.latent_train_[:5]),
                               mnist_vae.inverse_transform(mnist_vae.latent_train_[:5]), **tol)
    Z = torch.as_tensor(mnist_vae.latent_train_[:5], dtype=torch.float32)
    Zd = Z.to(mnist_vae.device_)
    with torch.no_grad():
        torch.testing.assert_close(restored.embedding_map()(Z), mnist_vae.embedding_map()(Zd).cpu(), **tol)
        torch.testing.assert_close(restored.latent_log_density()(Z), mnist_vae.latent_log_density()(Zd).cpu(), **tol)
