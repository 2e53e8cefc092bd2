"""``Geodesic(tol="auto")``: a looser finest-level tolerance where the metric is the
decoder mean alone, the tight one where φ carries the decoder's σ.

The claim behind the choice (``docs/benchmarks.rst``): under a mean metric the last
finest-level iterations mostly re-space nodes along a curve whose length has settled,
so stopping at 1e-3 costs little length; where σ walls make the finest level still
shorten curves, 1e-4 is kept.
"""

import pickle

import numpy as np
import pytest
import torch

import sk_geodesic.interpolation._geodesic as geodesic_module
from sk_geodesic.interpolation import Geodesic
from sk_geodesic.manifolds import PretrainedManifold


def _relu_decoder(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 30), torch.nn.Sigmoid())


def _std_network(z):
    # σ small near the origin, large far from it: a metric with variance
    return 0.05 + z.pow(2).sum(-1, keepdim=True).expand(*z.shape[:-1], 30)


def _pairs(n=12, seed=1, scale=2.0):
    rng = np.random.RandomState(seed)
    return rng.uniform(-scale, scale, (n, 2)).astype(np.float32), rng.uniform(-scale, scale, (n, 2)).astype(np.float32)


@pytest.fixture
def tol_seen(monkeypatch):
    """The ``tol`` each call of the solver received."""
    seen = []
    for name in ("solve_geodesic", "solve_geodesic_multistart"):
        original = getattr(geodesic_module, name)

        def spy(*a, _original=original, **k):
            seen.append(k["tol"])
            return _original(*a, **k)

        monkeypatch.setattr(geodesic_module, name, spy)
    return seen


def test_auto_tol_follows_the_metric(tol_seen):
    Z0, Z1 = _pairs(2)
    mean_only = PretrainedManifold(_relu_decoder(), latent_dim=2).fit()
    with_std = PretrainedManifold(_relu_decoder(), latent_dim=2, std_network=_std_network).fit()
    X = mean_only.inverse_transform(Z0)
    cases = [(mean_only, "auto", geodesic_module.AUTO_TOL_MEAN_METRIC),
             (with_std, "auto", geodesic_module.AUTO_TOL_WITH_VARIANCE),
             (mean_only, 5e-4, 5e-4), (with_std, 5e-4, 5e-4)]
    assert geodesic_module.AUTO_TOL_MEAN_METRIC == 1e-3 and geodesic_module.AUTO_TOL_WITH_VARIANCE == 1e-4
    for manifold, tol, expected in cases:
        tol_seen.clear()
        geo = Geodesic(manifold=manifold, tol=tol, init="linear").fit(X)
        assert geo.tol_ == expected
        geo.path(Z0, Z1, latent=True)
        assert tol_seen and set(tol_seen) == {expected}, (tol, tol_seen)
    # the Path's convergence message names the tolerance used, not "auto"
    geo = Geodesic(manifold=mean_only, init="linear", max_iter=1).fit(X)
    with pytest.warns(Warning, match=r"tol=0\.001"):
        geo.path(Z0, Z1, latent=True)


def test_auto_tol_keeps_mean_metric_lengths_on_a_relu_decoder():
    # a kinked φ is where the finest level crawls longest: stopping at 1e-3 must cost
    # at most a fraction of 1e-3 of length, and actually save iterations
    m = PretrainedManifold(_relu_decoder(), latent_dim=2, dtype="float64").fit()
    Z0, Z1 = (Z.astype(np.float64) for Z in _pairs(12))
    X = m.inverse_transform(Z0)
    auto = Geodesic(manifold=m, init="linear").fit(X).path(Z0, Z1, latent=True)
    tight = Geodesic(manifold=m, init="linear", tol=1e-4).fit(X).path(Z0, Z1, latent=True)
    ratio = auto.length / tight.length
    assert ratio.max() < 1 + 1e-3 and ratio.mean() < 1 + 2e-4, ratio
    assert int(np.sum(auto.n_iter)) < int(np.sum(tight.n_iter))


def test_tol_is_read_when_the_solver_runs(tol_seen):
    from sklearn.exceptions import NotFittedError

    m = PretrainedManifold(_relu_decoder(), latent_dim=2).fit()
    Z0, Z1 = _pairs(2)
    geo = Geodesic(manifold=m, init="linear")
    with pytest.raises(NotFittedError):
        geo.tol_
    geo.fit(m.inverse_transform(Z0))
    assert geo.tol_ == 1e-3
    geo.set_params(tol=2e-4)  # like max_iter: applies without a new fit
    assert geo.tol_ == 2e-4
    geo.path(Z0, Z1, latent=True)
    assert set(tol_seen) == {2e-4}
    # a pickle (and one made before tol="auto", when tol was always a number) keeps it
    assert pickle.loads(pickle.dumps(geo)).tol_ == 2e-4
