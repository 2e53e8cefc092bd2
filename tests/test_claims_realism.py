"""RealismIndex claims, scored by a realism index built independently of the estimator.

The reference index is the empirical CDF of the semicircle prior's log-density over
20,000 prior draws, ri_ref(z) = P(log p(S) ≤ log p(z)), with log p evaluated by SciPy
from the mixture's means and covariances (not by the estimator, nor by
``SemicircleMixture.log_prob``). Paths are compared with both ``Linear`` and
``Geodesic``, so neither a plain geodesic nor an inverted index (1 − CDF) can pass.
"""

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import chi2, multivariate_normal
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV

from sk_geodesic.datasets import SemicircleMixture
from sk_geodesic.geometry import curve_length
from sk_geodesic.geometry.realism import ChiSquareRealismIndex
from sk_geodesic.interpolation import Geodesic, Linear, RealismIndex
from sk_geodesic.manifolds import PretrainedManifold
from sk_geodesic.metrics import PathScorer, path_realism_index


def _semi_decoder(z):
    return torch.cat([z, 0.5 * torch.tanh(z), 0.1 * torch.sin(z[..., :1] + z[..., 1:2])], -1)


def _encode2(x):
    return x[:, :2]


class ReferenceIndex:
    """ri_ref(z) = empirical CDF of log p(S), S ~ prior, at log p(z); SciPy densities."""

    def __init__(self, prior, n=20000, seed=123):
        self.comps = [
            (w, multivariate_normal(mu, C)) for w, mu, C in zip(prior.weights_, prior.means_, prior.covariances_)
        ]
        self.sorted = np.sort(self.log_pdf(prior.sample(n, random_state=seed)))

    def log_pdf(self, Z):
        return np.log(sum(w * c.pdf(Z) for w, c in self.comps) + 1e-300)

    def __call__(self, Z):
        Z = np.asarray(Z, dtype=np.float64)
        return np.searchsorted(self.sorted, self.log_pdf(Z), side="right") / len(self.sorted)


def realism_profile(ref, path):
    """(min over the path of ri_ref, length-normalised path realism with ε = 0.01), numpy only."""
    B, n, d = path.latent.shape
    r = ref(path.latent.reshape(-1, d)).reshape(B, n)
    seg = np.linalg.norm(np.diff(path.decoded, axis=1), axis=-1)  # φ = decoder here
    rr = 0.01 + 0.98 * r
    norm = np.exp((np.log(0.5 * (rr[:, 1:] + rr[:, :-1])) * seg).sum(1) / seg.sum(1))
    return r.min(1), norm


@pytest.fixture(scope="module")
def semicircle_setup():
    prior = SemicircleMixture(n_dims=2)
    m = PretrainedManifold(_semi_decoder, latent_dim=2, log_density=prior, encoder=_encode2, dtype="float64").fit()
    rng = np.random.RandomState(0)
    Z0 = np.array([2.0, 6.0]) + rng.normal(scale=0.5, size=(10, 2))
    Z1 = np.array([2.0, -6.0]) + rng.normal(scale=0.5, size=(10, 2))
    return prior, m, Z0, Z1, ReferenceIndex(prior)


@pytest.fixture(scope="module")
def gmm_paths(semicircle_setup):
    prior, m, Z0, Z1, ref = semicircle_setup
    X0 = m.inverse_transform(Z0)
    ri = RealismIndex(
        manifold=m, index="density", log_density=prior, cdf_estimator="gmm", n_samples=500, max_iter=150,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ri.fit(X0)
        p = ri.path(Z0, Z1, latent=True)
    geo = Geodesic(manifold=m).fit(X0).path(Z0, Z1, latent=True)
    lin = Linear(manifold=m).fit(X0).path(Z0, Z1, latent=True)
    return ri, {"ri": p, "geo": geo, "lin": lin}


def test_fitted_density_index_matches_reference(semicircle_setup, gmm_paths):
    prior, _, _, _, ref = semicircle_setup
    ri, _ = gmm_paths
    Q = prior.sample(400, random_state=5)
    with torch.no_grad():
        fitted = ri.realism_index_(torch.as_tensor(Q, device=ri.device_)).cpu().numpy()
    # measured: max |error| 0.041 with the GMM smoother over 500 draws; an inverted
    # index (1 − CDF) is off by up to ~1
    assert np.abs(fitted - ref(Q)).max() < 0.08


def test_realism_index_paths_beat_geodesic_and_linear(gmm_paths, semicircle_setup):
    ref = semicircle_setup[-1]
    _, paths = gmm_paths
    scores = {k: realism_profile(ref, p) for k, p in paths.items()}
    for other in ("geo", "lin"):
        # measured: min ri_ref 0.30 on every RealismIndex path, <= 0.04 on the straight
        # and geodesic ones; normalised realism 0.63 vs <= 0.21
        assert np.all(scores["ri"][0] > scores[other][0] + 0.15), (scores["ri"][0], scores[other][0])
        assert np.all(scores["ri"][1] > scores[other][1] + 0.2), (scores["ri"][1], scores[other][1])
    # the detour through the middle component is longer than the straight line, not absurdly so
    ratio = paths["ri"].length / paths["lin"].length
    assert np.all((ratio > 1.02) & (ratio < 1.6)), ratio


def test_path_realism_closed_form_for_constant_index(semicircle_setup):
    # with ri ≡ c the path realism (Struski et al. eq. 12) is c^L, and c once normalised
    _, m, Z0, Z1, _ = semicircle_setup
    p = Linear(manifold=m, n_points=11).fit(m.inverse_transform(Z0)).path(Z0[:3], Z1[:3], latent=True)
    const = lambda z: torch.full(z.shape[:-1], 0.7, dtype=z.dtype, device=z.device)  # noqa: E731
    # eq. 12 sums over the curve's own segments: L is the node-chord length here (Path.length
    # is the dense length of the piecewise-linear curve, slightly longer)
    chords = curve_length(m.embedding_map(), torch.as_tensor(p.latent, device=m.device_)).cpu().numpy()
    np.testing.assert_allclose(path_realism_index(m, p, index=const), 0.7**chords, rtol=1e-10)
    np.testing.assert_allclose(path_realism_index(m, p, index=const, normalize=True), 0.7, rtol=1e-10)
    # ε rescaling: ri_ε = ε + (1 − 2ε)·0.7
    np.testing.assert_allclose(path_realism_index(m, p, index=const, epsilon=0.2), (0.2 + 0.6 * 0.7) ** chords)


@pytest.mark.parametrize("D", [1, 2, 5, 20])
def test_chi_square_index_matches_scipy(D):
    z = torch.as_tensor(np.random.RandomState(D).normal(scale=1.3, size=(200, D)))
    got = ChiSquareRealismIndex()(z).numpy()
    np.testing.assert_allclose(got, chi2.sf((z.numpy() ** 2).sum(1), D), rtol=1e-8, atol=1e-12)
    # the paper's large-D approximation (eq. 6) is within a few percent for D = 20
    if D == 20:
        approx = ChiSquareRealismIndex(asymptotic=True)(z).numpy()
        assert np.abs(approx - got).max() < 0.05


def test_gridsearch_epsilon_prefers_realistic_paths(semicircle_setup):
    """Grid search with a scorer on the *independent* index picks the realism path.

    ε = 0.5 makes RealismIndex the plain geodesic; it is listed first, so a tie
    (RealismIndex ignoring ε, or replaced by a geodesic) selects it and fails.
    """
    prior, m, Z0, Z1, ref = semicircle_setup
    # rows alternate between the two outer components, so every CV fold holds both
    X = m.inverse_transform(np.stack([Z0, Z1], 1).reshape(-1, 2))
    # the scorer: length-normalised path realism under ri_ref, computed in NumPy
    scorer = PathScorer(lambda est, path: realism_profile(ref, path)[1], n_pairs=8, random_state=1)
    gs = GridSearchCV(
        RealismIndex(manifold=FrozenEstimator(m), index="density", log_density=prior, cdf_estimator="gmm",
                     n_samples=300, max_iter=100, n_points=25, random_state=0),
        {"epsilon": [0.5, 0.1]},
        cv=2,
        scoring=scorer,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gs.fit(X)
    assert gs.best_params_["epsilon"] == 0.1
    s = gs.cv_results_["mean_test_score"]
    print("mean test scores (ε=0.5, ε=0.1):", s)
    assert s[1] > s[0] + 0.1, s


def test_feature_index_on_mnist_vae(mnist_vae, mnist_small):
    """index="features" (FID-style, an MLP trained on the labels) is a calibrated CDF:
    over fresh draws of the latent distribution ri is uniform on [0, 1], and decoded
    training codes score above those draws."""
    from scipy.stats import kstest

    X, y = mnist_small
    ri = RealismIndex(manifold=mnist_vae, index="features", n_samples=500, random_state=0).fit(X, y)
    assert ri.index_ == "features" and ri.feature_extractor_ is not None
    _, Zs = mnist_vae.sample(1000, random_state=1)
    with torch.no_grad():
        fresh = ri.realism_index_(torch.as_tensor(Zs, dtype=torch.float32, device=ri.device_)).cpu().numpy()
        on = ri.realism_index_(torch.as_tensor(mnist_vae.latent_train_[::10], dtype=torch.float32, device=ri.device_)).cpu().numpy()
    assert np.all((fresh >= 0) & (fresh <= 1))
    assert kstest(fresh, "uniform").statistic < 0.1
    # measured: median 0.87 on training codes, 0.5 on prior draws by construction
    assert np.median(on) > 0.65, np.median(on)
