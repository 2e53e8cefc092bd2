"""A matrix of bad and edge inputs across the estimators and their methods.

Every bad input must raise a clear, sklearn-style error that names the problem (never
an exception from deep inside Torch); every edge input must give a correct result,
checked against an independent reference (a closed form, a chord length, the
all-pairs-at-once computation).
"""

import copy
import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import InvalidParameterError

import sk_geodesic
from sk_geodesic.geometry import StandardNormalLogDensity
from sk_geodesic.interpolation import DensityRegularizedGeodesic, Geodesic, Linear, NeuralCurve, RealismIndex
from sk_geodesic.manifolds import GAN, VAE, PretrainedManifold

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# -- small models ---------------------------------------------------------------------------------
def bump(z):
    """A smooth 2-D surface in R³ (batch-only: indexes z[:, k])."""
    return torch.cat([z, 0.3 * torch.tanh(z[:, :1]) * z[:, 1:]], -1)


def bump64(z):
    """The same map computed in float64 whatever the input dtype."""
    return bump(z.double())


def nan_beyond(z):
    """Finite for z₀ < 3, NaN beyond: passes the fit probes, fails during a solve."""
    x = bump(z)
    return torch.where(z[:, :1] < 3.0, x, torch.full_like(x, float("nan")))


def nan_band(z):
    """NaN only in the band 3 < z₀ < 3.2: finite endpoints around it, NaN on the segment."""
    x = bump(z)
    band = (z[:, :1] > 3.0) & (z[:, :1] < 3.2)
    return torch.where(band, torch.full_like(x, float("nan")), x)


def make_manifold(decoder=bump, **kw):
    kw.setdefault("log_density", StandardNormalLogDensity())
    kw.setdefault("encoder", lambda x: x[:, :2])
    return PretrainedManifold(decoder, latent_dim=2, dtype="float64", random_state=0, **kw).fit()


@pytest.fixture(scope="module")
def m():
    return make_manifold()


@pytest.fixture(scope="module")
def X(m):
    return m.inverse_transform(np.random.RandomState(0).normal(size=(30, 2)))


@pytest.fixture(scope="module")
def tiny_vae(X):
    return VAE(latent_dim=2, hidden_sizes=(8,), epochs=1, n_centers=4, density_components=2, dtype="float64",
               random_state=0).fit(X)


INTERPOLATORS = {
    "Linear": lambda man, **kw: Linear(manifold=man, **kw),
    "Geodesic": lambda man, **kw: Geodesic(manifold=man, max_iter=20, **kw),
    "DensityRegularizedGeodesic": lambda man, **kw: DensityRegularizedGeodesic(manifold=man, mu=0.01, max_iter=20, **kw),
    "NeuralCurve": lambda man, **kw: NeuralCurve(manifold=man, max_iter=30, random_state=0, **kw),
    "RealismIndex": lambda man, **kw: RealismIndex(manifold=man, index="normal", max_iter=30, random_state=0, **kw),
}
NAMES = list(INTERPOLATORS)


def chord(man, z0, z1):
    e = man.embedding_map()
    t = torch.as_tensor(np.vstack([z0, z1]))
    with torch.no_grad():
        x = e(t)
    return float((x[1] - x[0]).norm())


# -- bad inputs: parameters ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda X: VAE(device="gpu").fit(X),
        lambda X: GAN(device="gpu").fit(X),
        lambda X: PretrainedManifold(bump, latent_dim=2, device="gpu").fit(),
        lambda X: Linear(manifold=make_manifold(), device="gpu").fit(X),
        lambda X: Geodesic(manifold=make_manifold(), device="cuda0").fit(X),
    ],
    ids=["VAE", "GAN", "PretrainedManifold", "Linear", "Geodesic"],
)
def test_bad_device_fails_parameter_validation(make, X):
    with pytest.raises(InvalidParameterError, match=r"'device' parameter.*'auto', 'cpu', 'cuda'"):
        make(X)


def test_non_manifold_is_rejected_by_parameter_validation(X):
    from sklearn.decomposition import PCA

    with pytest.raises(InvalidParameterError, match="'manifold' parameter.*embedding_map"):
        Geodesic(manifold=PCA()).fit(X)
    with pytest.raises(InvalidParameterError, match="'manifold' parameter"):
        clone(Linear(manifold="vae")).fit(X)  # clone itself must not fail on a non-estimator


@pytest.mark.parametrize("bad", [-1, 0, 1.5, True])
def test_sample_needs_a_positive_integer(tiny_vae, bad):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        tiny_vae.sample(bad)


@pytest.mark.parametrize("bad", [0, -2, 2.0])
def test_score_samples_needs_positive_draws(tiny_vae, X, bad):
    with pytest.raises(ValueError, match="n_draws must be a positive integer"):
        tiny_vae.score_samples(X[:3], n_draws=bad)


def test_score_samples_one_draw_is_finite(tiny_vae, X):
    assert np.isfinite(tiny_vae.score_samples(X[:3], n_draws=1)).all()


def test_vae_fit_on_one_row_fails_before_training(X, monkeypatch):
    import sk_geodesic.manifolds._vae as vae_module

    def no_training(*args, **kwargs):
        raise AssertionError("training started on invalid data")

    monkeypatch.setattr(vae_module, "train_loop", no_training)
    with pytest.raises(ValueError, match="1 sample"):
        VAE(epochs=1).fit(X[:1])


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("est", ["VAE", "GAN", "PretrainedManifold", "Linear"])
def test_non_finite_training_data(est, value, X):
    Xb = X.copy()
    Xb[3, 1] = value
    make = {
        "VAE": lambda: VAE(epochs=1),
        "GAN": lambda: GAN(epochs=1),
        "PretrainedManifold": lambda: PretrainedManifold(bump, latent_dim=2),
        "Linear": lambda: Linear(manifold=make_manifold()),
    }[est]
    with pytest.raises(ValueError, match="NaN|infinity"):
        make().fit(Xb)


def test_unfitted_estimators(X):
    with pytest.raises(NotFittedError):
        VAE().transform(X)
    with pytest.raises(NotFittedError):
        PretrainedManifold(bump, latent_dim=2).sample(2)
    for name in NAMES:
        with pytest.raises(NotFittedError):
            INTERPOLATORS[name](make_manifold()).path(X[0], X[1])


def test_bad_thread_settings():
    with pytest.raises(ValueError, match="threads must be None or a positive integer"):
        sk_geodesic.set_config(threads=0)
    with pytest.raises(SystemExit):
        from sk_geodesic.__main__ import main

        main(["--threads", "0", "demo"])


# -- bad inputs: user callables of PretrainedManifold ----------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(decoder=lambda z: bump(z) / 0.0 * 0.0), r"decoder returned NaN or inf at fit"),
        (dict(decoder=lambda z: z[:1]), r"decoder must map a batch .* N rows"),
        (dict(decoder=lambda z: z.numpy()), r"decoder must map a batch .* N rows"),
        (dict(decoder=lambda z: z @ torch.ones(3, 3)), r"the decoder failed on a batch of shape \(8, 2\)"),
        (dict(encoder=lambda x: x), r"encoder must map \(N, n_features\) to codes of shape \(N, 2\)"),
        (dict(encoder=lambda x: x[:, :2] * float("nan")), r"encoder returned NaN or inf"),
        (dict(log_density=lambda z: z), r"log_density must map .* shape \(N,\)"),
        (dict(log_density=lambda z: z.sum(-1).log()), r"log_density returned NaN or inf"),
        (dict(std_network=lambda z: z), r"std_network must map .* 3 values"),
        (dict(std_network=lambda z: bump(z).exp() * float("inf")), r"std_network returned NaN or inf"),
    ],
    ids=["nan-decoder", "rows", "numpy", "raises", "encoder-width", "nan-encoder", "log-density-shape",
         "nan-log-density", "std-width", "inf-std"],
)
def test_pretrained_pieces_are_checked_at_fit(kwargs, match):
    kwargs = {"decoder": bump, **kwargs}
    decoder = kwargs.pop("decoder")
    with pytest.raises(ValueError, match=match):
        # device="cpu": the "numpy" case is a NumPy decoder, which only CPU tensors can feed
        PretrainedManifold(decoder, latent_dim=2, device="cpu", **kwargs).fit()


def test_pretrained_fit_checks_data_width():
    with pytest.raises(ValueError, match="X has 4 features but the decoder outputs 3"):
        PretrainedManifold(bump, latent_dim=2).fit(np.zeros((5, 4)))


# -- bad inputs: interpolator methods ------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(m, X):
    return {name: INTERPOLATORS[name](m).fit(X) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_bad_endpoints(fitted, X, name):
    est = fitted[name]
    with pytest.raises(ValueError, match="X has 2 features, but .* expecting 3 features"):
        est.path(X[0, :2], X[1, :2])
    with pytest.raises(ValueError, match="NaN"):
        est.path(np.r_[np.nan, X[0, 1:]], X[1])
    with pytest.raises(ValueError, match="infinity"):
        est.pairwise_distances(np.vstack([X[:2], [np.inf, 0, 0]]))
    with pytest.raises(ValueError, match="latent endpoints have 3 features; the latent space has 2"):
        est.path(X[0], X[1], latent=True)
    with pytest.raises(ValueError, match="same number of points"):
        est.path(X[:2], X[:3])
    with pytest.raises(ValueError, match="same shape"):
        est.length(X[:2], X[:3])


@pytest.mark.parametrize("name", NAMES)
def test_nan_decoder_during_a_solve_is_named(X, name):
    """The map passes the fit probes but is NaN at an endpoint: named, not a Torch crash or NaN."""
    man = make_manifold(nan_beyond)
    est = INTERPOLATORS[name](man).fit(X)
    with pytest.raises(ValueError, match=r"embedding map of PretrainedManifold returned NaN or inf during"):
        est.path([2.5, 0.0], [3.5, 0.3], latent=True)
    with pytest.raises(ValueError, match=r"returned NaN or inf during"):
        est.length([[2.5, 0.0]], [[3.5, 0.3]], latent=True)


@pytest.mark.parametrize("name", ["Linear", "Geodesic", "NeuralCurve"])
def test_nan_decoder_between_finite_endpoints_is_named(X, name):
    est = INTERPOLATORS[name](make_manifold(nan_band)).fit(X)
    with pytest.raises(ValueError, match=r"returned NaN or inf during .*first at z="):
        est.pairwise_distances([[2.9, 0.0], [3.5, 0.1]], latent=True)


def test_nan_manifold_is_named_at_interpolator_fit(tiny_vae, X):
    vae = copy.deepcopy(tiny_vae)
    with torch.no_grad():
        next(vae.module_.dec_mean.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match=r"decoder of VAE returned NaN or inf at Geodesic.fit, on probe points"):
        Geodesic(manifold=vae).fit(X)


def test_nan_codes_from_the_encoder_are_named(X):
    man = make_manifold(encoder=lambda x: torch.where(x[:, :1] > 5, float("nan"), 1.0) * x[:, :2])
    est = Linear(manifold=man).fit(X)
    with pytest.raises(ValueError, match="transform .*encoder.* returned NaN or inf codes for 1 of 1 rows"):
        est.path([6.0, 0.0, 0.0], X[1])


def test_user_log_density_shape_is_checked_at_fit(m, X):
    est = DensityRegularizedGeodesic(manifold=m, log_density=lambda z: StandardNormalLogDensity()(z)[:, None])
    with pytest.raises(ValueError, match=r"log_density must map \(N, latent_dim\) to a Torch tensor of shape \(N,\)"):
        est.fit(X)


def test_realism_callable_index_is_checked_at_fit(m, X):
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        RealismIndex(manifold=m, index=lambda z: z.pow(2).sum(-1) + 2).fit(X)
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        RealismIndex(manifold=m, index=lambda z: z).fit(X)


def test_bad_out_and_chunk_size(fitted, X):
    est = fitted["Linear"]
    with pytest.raises(ValueError, match=r"out has shape \(3, 3\); the distance matrix has shape \(4, 4\)"):
        est.pairwise_distances(X[:4], out=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="floating dtype"):
        est.pairwise_distances(X[:4], out=np.zeros((4, 4), dtype=int))
    with pytest.raises(TypeError, match="NumPy array"):
        est.pairwise_distances(X[:4], out=[[0.0] * 4] * 4)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        est.pairwise_distances(X[:4], chunk_size=0)


# -- feature names (sklearn's validate_data conventions) ------------------------------------------------
@pytest.mark.parametrize("name", ["Linear", "Geodesic"])
def test_feature_names(m, X, name):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    est = INTERPOLATORS[name](m).fit(df)
    assert list(est.feature_names_in_) == ["a", "b", "c"]
    ref = est.pairwise_distances(df.iloc[:4])
    renamed = df.rename(columns={"c": "z"})
    with pytest.raises(ValueError, match="feature names"):
        est.pairwise_distances(renamed.iloc[:4])
    with pytest.raises(ValueError, match="feature names"):
        est.path(renamed.iloc[:1], df.iloc[1:2])
    with pytest.raises(ValueError, match="feature names"):
        est.length(df.iloc[:2], renamed.iloc[:2])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        D = est.pairwise_distances(X[:4])
    assert np.array_equal(D, ref)


# -- edge inputs: correct results ---------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_identical_and_tiny_gaps(fitted, m, name):
    est = fitted[name]
    z0 = np.array([0.3, -0.2])
    p = est.path(z0, z0, latent=True)
    assert p.length[0] == 0.0 and np.all(p.latent == z0)
    for gap in (1e-7, 1e-4):
        z1 = z0 + gap
        L = est.length([z0], [z1], latent=True)[0]
        c = chord(m, z0, z1)
        # never shorter than the chord; a path wandering off (the old RealismIndex: 1e5x) fails
        assert c * (1 - 1e-6) <= L <= 1.05 * c, (gap, L, c)


@pytest.mark.parametrize("name", NAMES)
def test_duplicate_rows(fitted, X, name):
    est = fitted[name]
    Xd = np.vstack([X[:3], X[:3]])
    D = est.pairwise_distances(Xd)
    assert np.array_equal(D, D.T)
    assert np.all(np.diag(D) == 0) and np.all(D[np.arange(3), np.arange(3) + 3] == 0)
    assert np.all(D[:3, :3][np.triu_indices(3, 1)] > 0.1)
    assert est.pairwise_distances(X[:1]).tolist() == [[0.0]]


def test_read_only_input_is_used_without_warning(tiny_vae, X):
    """joblib hands parallel workers read-only memory maps; torch warns on those unless copied."""
    Xr = X.copy()
    Xr.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        codes = tiny_vae.transform(Xr)
        D = Linear(manifold=tiny_vae).fit(Xr).pairwise_distances(Xr[:4])
    assert np.array_equal(codes, tiny_vae.transform(X))
    assert np.array_equal(D, Linear(manifold=tiny_vae).fit(X).pairwise_distances(X[:4]))


def test_float64_callable_under_float32(X):
    man32 = PretrainedManifold(bump64, latent_dim=2, dtype="float32", encoder=lambda x: x[:, :2].double()).fit(X)
    man64 = make_manifold()
    for cls in (Linear, Geodesic):
        L32 = cls(manifold=man32).fit(X).length(X[:5], X[5:10])
        L64 = cls(manifold=man64).fit(X).length(X[:5], X[5:10])
        assert L32.dtype == np.float64 and np.allclose(L32, L64, rtol=1e-4)
    assert man32.inverse_transform([[0.5, 0.5]]).dtype == np.float64  # validated float64 input kept


def test_log_density_n_by_1_is_flattened(X):
    col = make_manifold(log_density=lambda z: StandardNormalLogDensity()(z)[:, None])
    flat = make_manifold()
    assert col.latent_log_density()(torch.zeros(4, 2, dtype=torch.float64)).shape == (4,)
    a = DensityRegularizedGeodesic(manifold=col, mu=0.05).fit(X).path([-2.0, 0.5], [2.0, 0.5], latent=True)
    b = DensityRegularizedGeodesic(manifold=flat, mu=0.05).fit(X).path([-2.0, 0.5], [2.0, 0.5], latent=True)
    assert np.array_equal(a.latent, b.latent)


def test_single_point_calls_reach_a_batch_only_decoder(X):
    """The geometry core vmaps φ over single points; a batch-only decoder still works."""
    man = make_manifold(decoder=bump)
    p = DensityRegularizedGeodesic(manifold=man, mu=0.05).fit(X).path([-2.0, 0.5], [2.0, 0.5], latent=True)
    assert np.isfinite(p.length).all()


def test_pretrained_fit_does_not_touch_the_users_module():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double().train()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    man = PretrainedManifold(net, dtype="float32").fit()
    assert net.training and all(p.dtype == torch.float64 and p.requires_grad for p in net.parameters())
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert man.decoder_ is not net and not man.decoder_.training
    assert next(man.decoder_.parameters()).dtype == torch.float32
    z = np.array([[0.2, -0.4]])
    with torch.no_grad():
        ref = net(torch.as_tensor(z)).numpy()
    assert np.allclose(man.inverse_transform(z), ref, atol=1e-6)


# -- a fitted manifold is never re-trained by clone ----------------------------------------------------
class CountingVAE(VAE):
    n_fits = 0

    def fit(self, X, y=None):
        type(self).n_fits += 1
        return super().fit(X, y)


def test_clone_and_grid_search_keep_a_fitted_manifold(X):
    from sklearn.model_selection import GridSearchCV

    CountingVAE.n_fits = 0
    vae = CountingVAE(latent_dim=2, hidden_sizes=(8,), epochs=1, n_centers=4, density_components=2,
                      dtype="float64", random_state=0).fit(X)
    est = Linear(manifold=vae, n_points=5)
    c = clone(est)
    assert isinstance(c.manifold, FrozenEstimator) and c.manifold.estimator is vae
    assert est.manifold is vae  # the original is left as it was
    grid = GridSearchCV(est, {"n_points": [3, 5]}, cv=2).fit(X)
    assert CountingVAE.n_fits == 1
    assert grid.best_estimator_._geometry is vae
    # searching over the frozen manifold's own parameters says why it cannot
    with pytest.raises(ValueError, match="frozen estimator"):
        clone(est).set_params(manifold__epochs=3)
    # an unfitted manifold is still cloned and trained per fit
    Linear(manifold=CountingVAE(latent_dim=2, hidden_sizes=(8,), epochs=1, n_centers=4, density_components=2,
                                random_state=0), n_points=3).fit(X)
    assert CountingVAE.n_fits == 2


# -- RNG: local generators only ---------------------------------------------------------------------
def test_realism_features_leaves_the_global_rng_alone(X, m):
    y = (X[:, 0] > 0).astype(int)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = RealismIndex(manifold=m, index="features", n_samples=50, max_iter=5, random_state=0).fit(X, y)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)  # a different global state must not change the result
    b = RealismIndex(manifold=m, index="features", n_samples=50, max_iter=5, random_state=0).fit(X, y)
    z = torch.as_tensor(np.random.RandomState(1).normal(size=(6, 2)), device=a.device_)
    for pa, pb in zip(a.feature_extractor_.parameters(), b.feature_extractor_.parameters()):
        assert torch.equal(pa, pb)
    assert torch.equal(a.realism_index_(z), b.realism_index_(z))


# -- memory: streamed pairwise distances -------------------------------------------------------------
def _all_pairs_at_once(est, Z, Y=None):
    """The pre-streaming computation: every pair in one call of the batch runner."""
    if Y is None:
        i, j = np.triu_indices(len(Z), k=1)
        D = np.zeros((len(Z), len(Z)))
        d = est._run_batches(Z[i], Z[j], keep_curves=False)[0]
        D[i, j] = d
        D[j, i] = d
        return D
    i, j = np.meshgrid(np.arange(len(Z)), np.arange(len(Y)), indexing="ij")
    return est._run_batches(Z[i.ravel()], Y[j.ravel()], keep_curves=False)[0].reshape(len(Z), len(Y))


@pytest.mark.parametrize("name", ["Linear", "Geodesic", "RealismIndex"])
def test_streamed_distances_are_bit_identical(m, X, name, tmp_path):
    est = INTERPOLATORS[name](m, batch_size=7).fit(X)
    Z = np.random.RandomState(2).normal(size=(9 if name != "Linear" else 40, 2))
    ref = _all_pairs_at_once(est, Z)
    D = est.pairwise_distances(Z, latent=True, chunk_size=10)  # chunks of 14 pairs: several per matrix
    assert np.array_equal(D, ref)
    out = np.lib.format.open_memmap(tmp_path / "D.npy", mode="w+", dtype=np.float64, shape=ref.shape)
    assert est.pairwise_distances(Z, latent=True, out=out, chunk_size=10) is out
    assert np.array_equal(np.load(tmp_path / "D.npy"), ref)
    Y = Z[:5] + 0.1
    assert np.array_equal(est.pairwise_distances(Z, Y, latent=True, chunk_size=3), _all_pairs_at_once(est, Z, Y))


def test_streamed_distances_bound_memory(m):
    """Extra NumPy memory stays at the chunk size, not at ~75 bytes per pair."""
    est = Linear(manifold=m).fit(m.inverse_transform(np.zeros((3, 2))))
    n = 700  # 244,650 pairs: all at once needs > 15 MB of pair data
    Z = np.random.RandomState(0).normal(size=(n, 2))
    out = np.empty((n, n))
    calls = []
    original = est._run_batches
    est._run_batches = lambda *a, **k: calls.append(len(a[0])) or original(*a, **k)
    tracemalloc.start()
    est.pairwise_distances(Z, latent=True, out=out)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert max(calls) <= 256 * 16 and len(calls) > 50
    assert peak < 4 * 2**20, peak
    i, j = np.triu_indices(n, 1)
    k = np.random.RandomState(1).choice(len(i), 50)
    assert np.allclose(out[i[k], j[k]], est.length(Z[i[k]], Z[j[k]], latent=True))
    assert np.array_equal(out, out.T) and np.all(np.diag(out) == 0)


def test_streamed_distances_warn_once(m, X):
    # max_iter=0: no pair can converge (the coarse-to-fine solver settles these easy
    # pairs within one iteration per level)
    est = Geodesic(manifold=m, max_iter=0, batch_size=4).fit(X)
    Z = np.random.RandomState(0).normal(size=(10, 2)) * 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.pairwise_distances(Z, latent=True, chunk_size=4)
    conv = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(conv) == 1
    assert "of 45 pairs did not converge" in str(conv[0].message) and "(row, column)" in str(conv[0].message)


# -- Torch threads ------------------------------------------------------------------------------------
def test_threads_setting_is_honoured(X):
    seen = []

    def spy(z):
        seen.append(torch.get_num_threads())
        return bump(z)

    before = torch.get_num_threads()
    with sk_geodesic.config_context(threads=2):
        man = make_manifold(spy)
        Geodesic(manifold=man).fit(X).path(X[0], X[1])
    assert seen and set(seen) == {2}
    assert torch.get_num_threads() == before
    seen.clear()
    with sk_geodesic.config_context(threads=None):
        Linear(manifold=man).fit(X).length(X[:2], X[2:4])
    assert set(seen) == {before}


def test_cli_threads_option(monkeypatch):
    import sk_geodesic.__main__ as cli

    seen = {}
    monkeypatch.setattr(cli, "_demo", lambda args: seen.setdefault("threads", torch.get_num_threads()) and 0)
    old = torch.get_num_threads()
    try:
        cli.main(["--threads", "2", "demo"])
        assert seen["threads"] == 2 and sk_geodesic.get_config()["threads"] == 2
    finally:
        sk_geodesic.set_config(threads=None)
        torch.set_num_threads(old)


def test_numpy_decoder_on_an_accelerator_says_to_use_the_cpu():
    # a NumPy decoder cannot take the tensors of device="auto" on a GPU machine; the error says
    # what to do (a "meta" tensor stands in for a CUDA one on this CPU-only machine)
    m = PretrainedManifold(lambda z: np.asarray(z) * 2.0, latent_dim=2)
    z = torch.zeros(3, 2, device="meta")
    with pytest.raises(ValueError, match=r"decoder failed .* on meta tensors because device='auto'.*device='cpu'"):
        m._call_piece("decoder", m.decoder, z)
    # on CPU tensors the same decoder is called normally
    assert np.allclose(m._call_piece("decoder", m.decoder, torch.ones(3, 2)), 2.0)


def test_user_modules_are_placed_not_mutated():
    # a user's log-density module is copied to the estimator's device/dtype when it is not
    # there already (CUDA in practice; dtype here), and the user's own module is left alone
    from sk_geodesic._utils import place_module

    mod = torch.nn.Linear(2, 1).double()
    placed = place_module(mod, torch.device("cpu"), torch.float32)
    assert placed is not mod and placed.weight.dtype == torch.float32 and not placed.weight.requires_grad
    assert mod.weight.dtype == torch.float64 and mod.weight.requires_grad
    assert place_module(placed, "cpu", torch.float32) is placed  # already in place: no copy
    fn = lambda z: z.sum(-1)  # noqa: E731
    assert place_module(fn, "cpu", torch.float32) is fn


# -- lengths measured when first read (Linear and the other solvers that do not measure) -------------
class _CountingDecoder:
    """The hardening bump decoder, counting the latent points it is asked to decode."""

    def __init__(self):
        self.points = 0

    def __call__(self, z):
        self.points += int(np.prod(z.shape[:-1]))
        return bump(z)


def test_linear_path_defers_the_dense_length_until_read(X):
    dec = _CountingDecoder()
    man = make_manifold(dec)
    est = Linear(manifold=man, n_points=9).fit(X)
    Z0, Z1 = np.random.RandomState(1).normal(size=(2, 5, 2))
    dec.points = 0
    p = est.path(Z0, Z1, latent=True)
    assert not p.measured
    assert dec.points <= 5 * 9  # the images only, not the dense measurement
    L = p.length
    assert p.measured and dec.points > 5 * 9 * 2
    np.testing.assert_allclose(L, est.length(Z0, Z1, latent=True), rtol=1e-12)
    E = p.energy
    assert np.all(L**2 <= E * (1 + 1e-12))
    # a solver that measures while solving fills the length at once
    assert Geodesic(manifold=man, max_iter=5).fit(X).path(Z0, Z1, latent=True).measured


def test_unmeasured_path_slices_and_pickles_with_its_own_lengths(X, m):
    est = Linear(manifold=m, n_points=9).fit(X)
    Z0, Z1 = np.random.RandomState(2).normal(size=(2, 6, 2))
    Z1[4] = Z0[4]  # identical endpoints: zero length
    full = est.length(Z0, Z1, latent=True)
    p = est.path(Z0, Z1, latent=True)
    part, one = p[1:4], p[4]
    assert not (part.measured or one.measured or p.measured)
    np.testing.assert_allclose(part.length, full[1:4], rtol=1e-12)
    assert one.length.shape == (1,) and one.length[0] == 0.0
    assert not p.measured  # measuring a slice leaves the parent alone
    q = pickle.loads(pickle.dumps(est.path(Z0, Z1, latent=True)))
    assert q.measured and q._measure is None
    np.testing.assert_allclose(q.length, full, rtol=1e-12)
    with pytest.raises(ValueError, match="measure function"):
        type(p)(p.latent, p.decoded, p.t, None, None, p.converged, p.n_iter)


def test_geodesic_path_decodes_its_images_when_first_read(X):
    # Geodesic measures its curves while solving; the images are only decoded on demand
    dec = _CountingDecoder()
    man = make_manifold(dec)
    est = Geodesic(manifold=man, n_points=9, max_iter=5).fit(X)
    Z0, Z1 = np.random.RandomState(3).normal(size=(2, 5, 2))
    p = est.path(Z0, Z1, latent=True)
    assert p.measured
    before = dec.points
    part = p[1:3]
    assert dec.points == before  # neither the path nor its slice has decoded yet
    expected = bump(torch.as_tensor(p.latent.reshape(-1, 2))).numpy().reshape(5, 9, 3)
    np.testing.assert_allclose(part.decoded, expected[1:3], rtol=1e-12)
    assert dec.points == before + 2 * 9  # the slice decoded its own two curves only
    q = pickle.loads(pickle.dumps(p))  # pickling decodes: the pickle holds the images
    assert dec.points == before + 2 * 9 + 5 * 9
    np.testing.assert_allclose(q.decoded, expected, rtol=1e-12)
    assert q.decoded.shape == (5, 9, 3)
    with pytest.raises(ValueError, match="decode function"):
        type(p)(p.latent, None, p.t, p.length, p.energy, p.converged, p.n_iter)
    # a path pickled before decoding was deferred held its images under "decoded"
    old_state = {k: v for k, v in q.__dict__.items() if k not in ("_decoded", "_decode")}
    old_state["decoded"] = q.decoded
    r = type(p).__new__(type(p))
    r.__setstate__(old_state)
    np.testing.assert_array_equal(r.decoded, q.decoded)


def test_torchscript_decoder_fits_solves_and_pickles(tmp_path):
    """A decoder saved with TorchScript and loaded back (``torch.jit.load``), as shipped
    models often are: the same geodesics as the eager module, and a pickle round trip."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.Tanh(), torch.nn.Linear(32, 20), torch.nn.Sigmoid())
    std = torch.nn.Sequential(torch.nn.Linear(2, 20), torch.nn.Softplus())
    torch.jit.save(torch.jit.script(net), tmp_path / "dec.pt")
    torch.jit.save(torch.jit.script(std), tmp_path / "std.pt")
    dec_ts, std_ts = torch.jit.load(tmp_path / "dec.pt"), torch.jit.load(tmp_path / "std.pt")
    X = np.zeros((2, 20))
    Z0, Z1 = np.random.RandomState(3).normal(size=(2, 4, 2))
    eager = Geodesic(manifold=PretrainedManifold(net, latent_dim=2, std_network=std).fit(X)).fit(X)
    man = PretrainedManifold(dec_ts, latent_dim=2, std_network=std_ts).fit(X)
    est = Geodesic(manifold=man).fit(X)
    expected = eager.length(Z0, Z1, latent=True)
    np.testing.assert_allclose(est.length(Z0, Z1, latent=True), expected, rtol=1e-5)
    assert all(p.requires_grad for p in dec_ts.parameters())  # the user's module is left alone
    assert not any(p.requires_grad for p in man.decoder_.parameters())
    back = pickle.loads(pickle.dumps(est))
    # a fitted graph start holds φ too: it pickles through the manifold
    codes = np.random.RandomState(4).normal(size=(30, 2))
    graph_est = Geodesic(manifold=man, init="graph").fit(man.inverse_transform(codes))
    np.testing.assert_allclose(pickle.loads(pickle.dumps(graph_est)).length(Z0, Z1, latent=True),
                               graph_est.length(Z0, Z1, latent=True), rtol=1e-6)
    assert isinstance(back.manifold.decoder_, torch.jit.ScriptModule)
    assert not any(p.requires_grad for p in back.manifold.decoder_.parameters())
    np.testing.assert_allclose(back.length(Z0, Z1, latent=True), expected, rtol=1e-5)
    np.testing.assert_allclose(back.manifold.inverse_transform(Z0), man.inverse_transform(Z0), rtol=1e-6)


def _dcgan_pieces(nz=3):
    torch.manual_seed(1)
    gen = torch.nn.Sequential(torch.nn.ConvTranspose2d(nz, 8, 4, 1, 0), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              torch.nn.ConvTranspose2d(8, 1, 4, 2, 1), torch.nn.Sigmoid())  # (N, nz, 1, 1) -> (N, 1, 8, 8)
    std = torch.nn.Sequential(torch.nn.ConvTranspose2d(nz, 1, 8, 1, 0), torch.nn.Softplus())
    enc = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 4, 2, 1), torch.nn.Tanh(), torch.nn.Conv2d(4, nz, 4, 1, 0))
    return gen, std, enc


def test_image_shaped_codes_and_inputs_match_flat_wrappers():
    """``latent_shape`` (DCGAN generators take (N, nz, 1, 1)) and ``input_shape``
    (convolutional encoders take images) give what hand-written reshaping wrappers give."""
    nz = 3
    gen, std, enc = _dcgan_pieces(nz)
    unflat_z = torch.nn.Unflatten(1, (nz, 1, 1))
    flat = PretrainedManifold(torch.nn.Sequential(unflat_z, gen), latent_dim=nz,
                              std_network=torch.nn.Sequential(unflat_z, std),
                              encoder=torch.nn.Sequential(torch.nn.Unflatten(1, (1, 8, 8)), enc))
    shaped = PretrainedManifold(gen, std_network=std, encoder=enc, latent_shape=(nz, 1, 1), input_shape="decoder")
    X = np.random.RandomState(0).rand(12, 64)
    flat.fit(X), shaped.fit(X)
    assert shaped.latent_dim_ == nz and shaped.latent_shape_ == (nz, 1, 1) and shaped.input_shape_ == (1, 8, 8)
    np.testing.assert_allclose(shaped.transform(X), flat.transform(X), rtol=1e-6)
    a, b = Geodesic(manifold=flat).fit(X), Geodesic(manifold=shaped).fit(X)
    np.testing.assert_allclose(b.length(X[:3], X[3:6]), a.length(X[:3], X[3:6]), rtol=1e-5)
    back = pickle.loads(pickle.dumps(shaped))
    np.testing.assert_allclose(back.inverse_transform(shaped.transform(X[:2])),
                               flat.inverse_transform(flat.transform(X[:2])), rtol=1e-6)
    explicit = PretrainedManifold(gen, encoder=enc, latent_shape=[nz, 1, 1], input_shape=(1, 8, 8)).fit(X)
    np.testing.assert_allclose(explicit.transform(X), flat.transform(X), rtol=1e-6)


def test_image_shaped_pieces_fail_with_the_parameter_to_pass():
    nz = 3
    gen, std, enc = _dcgan_pieces(nz)
    with pytest.raises(ValueError, match=r"latent_shape=\(3, 1, 1\)"):
        PretrainedManifold(gen).fit()
    with pytest.raises(ValueError, match=r"latent_shape=\(3, 1, 1\)"):
        PretrainedManifold(gen, latent_dim=nz).fit()
    with pytest.raises(ValueError, match="input_shape='decoder'"):
        PretrainedManifold(gen, encoder=enc, latent_shape=(nz, 1, 1)).fit()
    with pytest.raises(ValueError, match="latent_shape .* holds 6 values, but latent_dim=3"):
        PretrainedManifold(gen, latent_dim=nz, latent_shape=(nz, 2, 1)).fit()
    with pytest.raises(ValueError, match="input_shape .* holds 60 values"):
        PretrainedManifold(gen, encoder=enc, latent_shape=(nz, 1, 1), input_shape=(1, 6, 10)).fit()
    with pytest.raises(ValueError, match="tuple of positive ints"):
        PretrainedManifold(gen, latent_shape=(nz, 0)).fit()

    class MeanAndLogVar(torch.nn.Module):
        def forward(self, z):
            return z, z

    with pytest.raises(ValueError, match="needs a wrapper that returns the mean"):
        PretrainedManifold(MeanAndLogVar(), latent_dim=2).fit()
