import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV

from sk_geodesic.interpolation import DensityRegularizedGeodesic, Linear, RealismIndex
from sk_geodesic.metrics import (
    length_ratio,
    make_path_scorer,
    path_length,
    path_log_density,
    path_quality_score,
    path_realism_index,
)
from sk_geodesic.geometry.realism import ChiSquareRealismIndex

from .test_regularized import ring_manifold, ring_pairs  # noqa: F401  (fixtures)


def test_basic_metrics(ring_manifold, ring_pairs):
    X0, X1 = ring_pairs
    p = Linear(manifold=ring_manifold).fit(X0).path(X0[:3], X1[:3])
    np.testing.assert_allclose(path_length(ring_manifold, p), p.length)
    np.testing.assert_allclose(length_ratio(ring_manifold, p), 1.0)
    prof = path_log_density(ring_manifold, p, reduce=None)
    assert prof.shape == (3, 35)
    np.testing.assert_allclose(path_log_density(ring_manifold, p, reduce="min"), prof.min(1))
    lat = path_log_density(ring_manifold, p, kind="latent", reduce="mean")
    assert lat.shape == (3,)
    r = path_realism_index(ring_manifold, p, index=ChiSquareRealismIndex(), epsilon=0.1)
    assert np.all((r > 0) & (r <= 1))
    rn = path_realism_index(ring_manifold, p, index=ChiSquareRealismIndex(), epsilon=0.1, normalize=True)
    assert np.all((rn >= 0.1) & (rn <= 0.9))


def test_path_quality_prefers_regularized(ring_manifold, ring_pairs):
    X0, _ = ring_pairs
    lin = Linear(manifold=ring_manifold, random_state=0).fit(X0)
    reg = DensityRegularizedGeodesic(manifold=ring_manifold, mu=0.03, random_state=0).fit(X0)
    assert reg.score(X0) > lin.score(X0)
    assert path_quality_score(reg, X0) == reg.score(X0)


def test_gridsearch_mu(ring_manifold, ring_pairs):
    X0, _ = ring_pairs
    gs = GridSearchCV(
        DensityRegularizedGeodesic(manifold=FrozenEstimator(ring_manifold), random_state=0),
        {"mu": [0.0, 0.03]},
        cv=2,
        scoring=make_path_scorer("quality", n_pairs=10),
    ).fit(X0)
    assert gs.best_params_["mu"] > 0
    gs2 = GridSearchCV(
        DensityRegularizedGeodesic(manifold=FrozenEstimator(ring_manifold), random_state=0),
        {"mu": [0.0, 0.03]},
        cv=2,
    ).fit(X0)  # default scoring: Interpolator.score
    assert gs2.best_params_["mu"] > 0


def test_gridsearch_epsilon(ring_manifold, ring_pairs):
    """ε = 0.5 (listed first, so a tie selects it) makes RealismIndex the plain geodesic,
    which cuts through the ring's hole; ε = 0.1 follows the density index around it.
    The scorer is the manifold's minimum data log-density, not the estimator's index."""
    X0, _ = ring_pairs
    gs = GridSearchCV(
        RealismIndex(manifold=FrozenEstimator(ring_manifold), index="density", n_samples=200, max_iter=100,
                     cdf_estimator="gmm", random_state=0),
        {"epsilon": [0.5, 0.1]},
        cv=2,
        scoring=make_path_scorer("min_log_density", n_pairs=8),
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gs.fit(X0)
    assert gs.best_params_["epsilon"] == 0.1
    s = gs.cv_results_["mean_test_score"]
    # measured: −3.77 (ε = 0.5) vs −1.36 (ε = 0.1), the same order on both folds
    assert s[1] > s[0] + 1.0, s
    assert np.all(gs.cv_results_["split0_test_score"][1] > gs.cv_results_["split0_test_score"][0])
    assert np.all(gs.cv_results_["split1_test_score"][1] > gs.cv_results_["split1_test_score"][0])


def test_unknown_scorer():
    with pytest.raises(ValueError):
        make_path_scorer("nope")
