"""Interpolation that maximises the realism index of the path (Struski et al.)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._utils import check_finite_output, place_module, probe_points, seed_from
from ..geometry.realism import (
    ChiSquareRealismIndex,
    GaussianFeatureLogLikelihood,
    GMMCDF1D,
    KDECDF1D,
    ScoreRealismIndex,
    realism_energy,
    straighten_segments,
)
from ..geometry.solvers import solve_energy_multilevel
from ._base import Interpolator


class _MLPFeatures(torch.nn.Module):
    """Penultimate layer of a small tanh MLP classifier."""

    def __init__(self, n_in, n_classes, hidden=64, n_features=32):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, n_features), torch.nn.Tanh()
        )
        self.head = torch.nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.body(x)


def _train_feature_extractor(X, y, seed, dtype, device, epochs=30):
    classes, yi = np.unique(y, return_inverse=True)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG: restore it
        net = _MLPFeatures(X.shape[1], len(classes))
    with torch.no_grad():  # Torch's default Linear initialisation, from the local generator
        for layer in net.modules():
            if isinstance(layer, torch.nn.Linear):
                bound = 1.0 / np.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=gen)
                layer.bias.uniform_(-bound, bound, generator=gen)
    net = net.to(device, dtype)
    Xt = torch.as_tensor(X, dtype=dtype, device=device)
    yt = torch.as_tensor(yi, device=device)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    with torch.enable_grad():
        for _ in range(epochs):
            perm = torch.randperm(len(Xt), generator=gen)
            for s in range(0, len(Xt), 128):
                b = perm[s : s + 128]
                loss = torch.nn.functional.cross_entropy(net.head(net(Xt[b])), yt[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return net.eval().requires_grad_(False)


def _keep_best(best, best_f, current, f_now):
    """Per pair, the curve of lowest (finite) objective so far: (curves, objectives)."""
    improved = torch.isfinite(f_now) & (f_now < best_f)
    if not bool(improved.any()):
        return best, best_f
    return torch.where(improved.to(current.device)[:, None, None], current, best), torch.where(improved, f_now, best_f)


class RealismIndex(Interpolator):
    """Interpolation along realistic latent regions: the realism-index geodesic.

    Struski et al. define a realism index ri(z) = P(f(X) ≤ f(z)) ∈ [0, 1] of a score
    f (X drawn from the latent distribution), rescale it to
    ri_ε = ε + (1 − 2ε)·ri, and minimise their eq. 19,

    .. math::

        \\sum_i \\log^2\\frac{ri_\\varepsilon(z_i) + ri_\\varepsilon(z_{i+1})}{2}
        \\, \\|\\varphi(z_{i+1}) - \\varphi(z_i)\\|^2,

    an energy under the metric log²(ri_ε)·G, whose length is −log of the path
    realism (eq. 12). Curves start linear and are optimised by Adam on all interior
    points of all pairs at once, alternated every ``segment_every`` steps with the
    random-segment step of §4 (each pair draws i < j and straightens z_i…z_j if
    that lowers its objective). With ε = 0.5 the weights are constant and the
    problem is the plain energy: it is then solved exactly as :class:`Geodesic`.

    Adam's steps have a fixed size in latent units, so each pair returns the curve of
    lowest objective met during the optimisation (at worst its initial curve): endpoints
    a tiny gap apart get a path of about the gap's length. The global Torch RNG is never
    used: the default feature extractor is initialised and trained from a local
    generator seeded by ``random_state``.

    Parameters
    ----------
    manifold : GenerativeManifold, FrozenEstimator or None, default=None
    epsilon : float in (0, 0.5], default=0.1
    index : {"auto", "normal", "density", "features"} or callable, default="auto"
        How ri is built:

        * ``"normal"`` -- for a N(0, I) prior, ri(z) = 1 − F_χ²_D(‖z‖²) in closed form
          (the paper's asymptotic formula is
          :class:`~sk_geodesic.geometry.realism.ChiSquareRealismIndex` with
          ``asymptotic=True``);
        * ``"density"`` -- f = the latent density (``log_density`` or the
          manifold's); the CDF of log f(X) is estimated from ``n_samples`` draws of
          the manifold's latent distribution (or of ``log_density.sample(n,
          random_state)`` when the given ``log_density`` has such a method, e.g.
          :class:`~sk_geodesic.datasets.SemicircleMixture`), smoothed by
          ``cdf_estimator``;
        * ``"features"`` -- FID-style: f(z) = N(I(G(z)); μ_T, Σ_T), I a feature
          extractor, μ_T/Σ_T the mean/covariance of the training features. I is
          ``feature_extractor`` when given, else the 32-unit penultimate (tanh)
          layer of a 2-layer MLP classifier trained on ``(X, y)`` in ``fit`` (``y``
          required). The CDF of log f is estimated from decoded latent samples;
        * a callable z ↦ ri(z) ∈ [0, 1] (Torch, ``(N, d) -> (N,)``);
        * ``"auto"`` -- ``"density"`` when a log-density is available, else
          ``"features"``.
    log_density : callable or None, default=None
        Latent log-density for ``index="density"`` (default: the manifold's).
    feature_extractor : torch.nn.Module, callable or None, default=None
    cdf_estimator : {"kde", "gmm"}, default="kde"
        1-D smoother of log f(X): a Gaussian KDE (sklearn ``KernelDensity``, Scott
        bandwidth; CDF = mean Φ((x − x_i)/h)) or a 5-component ``GaussianMixture``.
    n_samples : int, default=2000
        Latent draws for the CDF estimate.
    n_points : int, default=35
    max_iter : int, default=300
        Adam steps per pair.
    tol : float, default=1e-4
        A pair has converged when its objective fell by less than ``tol`` (relative)
        over the last 20 steps.
    learning_rate : float, default=0.02
    segment_every : int, default=5
        Adam steps between random-segment steps (0 disables them).
    init : {"linear", "graph"}, default="linear"
    n_neighbors : int, default=10
    device : str, default="auto"
    batch_size : int, default=256
    n_jobs : int or None, default=None
    random_state : int, RandomState instance or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    manifold_ : GenerativeManifold
    index_ : str
        The index construction used.
    realism_index_ : callable
        ri: ``(N, d) -> (N,)`` (unrescaled), a Torch callable.
    feature_extractor_ : torch.nn.Module or None
    latent_dim_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import torch
    >>> from sk_geodesic.manifolds import PretrainedManifold
    >>> from sk_geodesic.interpolation import RealismIndex
    >>> f = lambda z: torch.cat([z, torch.tanh(z[:, :1])], -1)
    >>> m = PretrainedManifold(f, latent_dim=2, dtype="float64").fit()
    >>> ri = RealismIndex(manifold=m, index="normal", max_iter=50).fit(m.sample(5, random_state=0)[0])
    >>> ri.path([-3.0, 0.1], [3.0, 0.0], latent=True).latent.shape
    (1, 35, 2)
    """

    _parameter_constraints: dict = {
        **Interpolator._parameter_constraints,
        "epsilon": [Interval(Real, 0, 0.5, closed="right")],
        "index": [StrOptions({"auto", "normal", "density", "features"}), callable],
        "log_density": [None, callable],
        "feature_extractor": [None, callable],
        "cdf_estimator": [StrOptions({"kde", "gmm"})],
        "n_samples": [Interval(Integral, 10, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "segment_every": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        manifold=None,
        epsilon=0.1,
        index="auto",
        log_density=None,
        feature_extractor=None,
        cdf_estimator="kde",
        n_samples=2000,
        n_points=35,
        max_iter=300,
        tol=1e-4,
        learning_rate=0.02,
        segment_every=5,
        init="linear",
        n_neighbors=10,
        device="auto",
        batch_size=256,
        n_jobs=None,
        random_state=None,
        verbose=False,
    ):
        self.manifold = manifold
        self.epsilon = epsilon
        self.index = index
        self.log_density = log_density
        self.feature_extractor = feature_extractor
        self.cdf_estimator = cdf_estimator
        self.n_samples = n_samples
        self.n_points = n_points
        self.max_iter = max_iter
        self.tol = tol
        self.learning_rate = learning_rate
        self.segment_every = segment_every
        self.init = init
        self.n_neighbors = n_neighbors
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _fit_extra(self, X, y):
        m = self._geometry
        if self.log_density is not None:
            log_density = place_module(self.log_density, self.device_, self.dtype_)
        else:
            log_density = m.latent_log_density()
        index = self.index
        if index == "auto":
            index = "density" if log_density is not None else "features"
        self.feature_extractor_ = None
        seed = seed_from(self.random_state)
        if callable(index):
            self._check_index_callable(index)
            self.index_ = "callable"
            self.realism_index_ = index
            return
        self.index_ = index
        if index == "normal":
            self.realism_index_ = ChiSquareRealismIndex()
            return
        if index == "density":
            if log_density is None:
                raise ValueError(
                    "index='density' needs a latent log-density, but the manifold provides none; "
                    "pass log_density= or use index='normal'/'features'."
                )
            score = log_density
        else:
            extractor = self.feature_extractor
            if extractor is None:
                if y is None:
                    raise ValueError(
                        "index='features' needs a feature_extractor or labels y in fit(X, y) to train "
                        "the default MLP feature extractor."
                    )
                extractor = _train_feature_extractor(X, np.asarray(y), seed, self.dtype_, self.device_)
            self.feature_extractor_ = extractor
            with torch.no_grad():
                F = extractor(torch.as_tensor(X, dtype=self.dtype_, device=self.device_)).double()
            mean = F.mean(0)
            C = torch.cov(F.T).reshape(F.shape[1], F.shape[1])
            C = C + 1e-4 * (C.diagonal().mean() + 1e-12) * torch.eye(C.shape[0], dtype=C.dtype, device=C.device)
            W = torch.linalg.inv(torch.linalg.cholesky(C))
            score = GaussianFeatureLogLikelihood(
                m.decoding_map(), extractor, mean.to(self.dtype_), W.to(self.dtype_)
            )
        sampler = getattr(self.log_density, "sample", None) if index == "density" else None
        if sampler is not None:
            Zs = np.asarray(sampler(self.n_samples, random_state=seed))
        else:
            _, Zs = m.sample(self.n_samples, random_state=seed)
        with torch.no_grad():
            ls = score(torch.as_tensor(Zs, dtype=self.dtype_, device=self.device_)).double().cpu().numpy()
        ls = ls[np.isfinite(ls)].reshape(-1, 1)
        if self.cdf_estimator == "kde":
            from sklearn.neighbors import KernelDensity

            kde = KernelDensity(bandwidth="scott").fit(ls)
            cdf = KDECDF1D(torch.as_tensor(ls[:, 0], dtype=self.dtype_), kde.bandwidth_)
        else:
            from sklearn.mixture import GaussianMixture

            gmm = GaussianMixture(n_components=5, random_state=seed).fit(ls)
            cdf = GMMCDF1D(
                torch.as_tensor(gmm.weights_, dtype=self.dtype_),
                torch.as_tensor(gmm.means_[:, 0], dtype=self.dtype_),
                torch.as_tensor(np.sqrt(gmm.covariances_.reshape(-1)), dtype=self.dtype_),
            )
        self.realism_index_ = ScoreRealismIndex(score, cdf.to(self.device_))

    def _check_index_callable(self, index):
        Z = probe_points(self.latent_dim_, dtype=self.dtype_, device=self.device_)
        try:
            with torch.no_grad():
                r = index(Z)
        except Exception as exc:  # the user's callable: say which piece broke
            raise ValueError(f"the realism index callable failed on a batch of shape {tuple(Z.shape)}: {exc}") from exc
        if not isinstance(r, torch.Tensor) or tuple(r.shape) != (Z.shape[0],):
            raise ValueError(
                "a callable index must map (N, latent_dim) to a Torch tensor of shape (N,) with values in "
                f"[0, 1]; got {type(r).__name__} of shape {tuple(getattr(r, 'shape', ()))} for N={Z.shape[0]}."
            )
        check_finite_output(r, Z, "the realism index callable", "at fit, on probe points")
        if bool(((r < 0) | (r > 1)).any()):
            raise ValueError(
                f"a callable index must return values in [0, 1]; got values in [{float(r.min()):.4g}, "
                f"{float(r.max()):.4g}] at the probe points."
            )

    def _objective(self, Z):
        return realism_energy(self._geometry.embedding_map(), self.realism_index_, Z, self.epsilon)

    def _solve(self, Z):
        embed = self._geometry.embedding_map()
        if self.epsilon == 0.5:
            res = solve_energy_multilevel(embed, Z, max_iter=max(self.max_iter, 1), tol=1e-6)
            return res.Z, res.converged, res.n_iter
        B = Z.shape[0]
        gen = torch.Generator().manual_seed(seed_from(self.random_state))
        ends0, ends1 = Z[:, :1].detach(), Z[:, -1:].detach()
        inner = Z[:, 1:-1].detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([inner], lr=self.learning_rate)
        history = []
        n_iter = torch.zeros(B, dtype=torch.long)
        converged = torch.zeros(B, dtype=torch.bool)
        full = lambda I: torch.cat([ends0, I, ends1], dim=1)
        # Adam's steps have a fixed size in latent units, whatever the pair's scale: keep,
        # per pair, the best curve seen (at worst the initial one), so endpoints a tiny
        # gap apart never get a path far longer than the gap.
        with torch.no_grad():
            best_f = self._objective(full(inner)).cpu()
            best = inner.detach().clone()
        with torch.enable_grad():
            for it in range(int(self.max_iter)):
                f = self._objective(full(inner))
                opt.zero_grad()
                f.sum().backward()
                # freeze converged pairs
                inner.grad[converged.to(inner.device)] = 0.0
                opt.step()
                n_iter[~converged] += 1
                if self.segment_every and (it + 1) % self.segment_every == 0:
                    with torch.no_grad():
                        Zs, _ = straighten_segments(self._objective, full(inner), 1, generator=gen)
                        inner.copy_(Zs[:, 1:-1])
                with torch.no_grad():
                    f_now = self._objective(full(inner)).cpu()
                    history.append(f_now)
                    best, best_f = _keep_best(best, best_f, inner.detach(), f_now)
                if len(history) > 20:
                    old, new = history[-21], history[-1]
                    converged |= (old - new) <= self.tol * old.abs().clamp_min(1e-12)
                    if bool(converged.all()):
                        break
        return full(best).detach(), converged, n_iter
