"""Variational auto-encoder with a Gaussian decoder and an expected-metric embedding."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._utils import DEVICE_CONSTRAINT, check_positive_int, honour_threads, resolve_device, resolve_dtype, seed_from, to_numpy, to_tensor, torch_generator  # noqa: E501
from ..geometry.density import GaussianMixtureLogDensity
from ._base import GenerativeManifold
from ._networks import ACTIVATIONS, ConstantStd, RBFPrecision, SoftplusStd, mlp
from ._training import progress, train_loop


class _VAEModule(nn.Module):
    def __init__(self, n_features, latent_dim, hidden, activation, out_activation):
        super().__init__()
        self.encoder = mlp([n_features, *hidden], activation)
        self.enc_act = ACTIVATIONS[activation]()
        self.enc_mean = nn.Linear(hidden[-1], latent_dim)
        self.enc_logvar = nn.Linear(hidden[-1], latent_dim)
        self.dec_mean = mlp([latent_dim, *reversed(hidden), n_features], activation, out_activation)
        self.dec_std = ConstantStd(n_features)

    def encode(self, x):
        h = self.enc_act(self.encoder(x))
        return self.enc_mean(h), self.enc_logvar(h).clamp(-12.0, 8.0)


def _gaussian_nll(x, mean, std):
    return (0.5 * ((x - mean) / std).pow(2) + std.log() + 0.5 * math.log(2 * math.pi)).sum(-1)


class VAE(GenerativeManifold):
    """Variational auto-encoder whose latent space carries the expected pullback metric.

    The decoder is Gaussian, x | z ~ N(μ(z), diag σ²(z)). The embedding map given to
    the geometry core is φ(z) = concat(μ(z), σ(z)), whose pullback is the expected
    metric J_μᵀJ_μ + J_σᵀJ_σ of Arvanitidis et al. (2018). With
    ``std_network="rbf"`` (default) σ comes from their RBF precision network, so σ
    grows away from the training codes and geodesics avoid empty latent regions.

    Training has two phases: (1) encoder, mean decoder and a global σ maximise the
    ELBO; (2) the σ network is fitted with everything else frozen.

    Parameters
    ----------
    latent_dim : int, default=2
    hidden_sizes : tuple of int, default=(256, 128)
        Encoder widths; the decoder uses them reversed.
    activation : {"tanh", "softplus", "elu", "sigmoid", "relu", "leaky_relu"}, default="tanh"
        Smooth activations are recommended: geodesics need second derivatives.
    output_activation : {None, "sigmoid"}, default=None
        Activation of the decoded mean (``"sigmoid"`` for data in [0, 1]).
    std_network : {"rbf", "mlp", "constant"}, default="rbf"
    n_centers : int, default=64
        Number of RBF centres (k-means on the encoded training data): centres at the
        scale of small groups of codes.
    rbf_scale : float, default=1.0
        Multiplies each k-means cluster's spread (mean distance of its codes to the
        centre) in its RBF bandwidth, λ_k = ½ (rbf_scale · spread_k)⁻². At 1 a kernel
        covers its own cluster, so the precision falls — and σ rises — in the gaps
        *between* groups of codes, not only far outside all of them; larger values
        give wider kernels that fill those gaps (2.0 was the default before 0.2).
    max_std : float, default=10.0
        σ far from the data for the RBF network (ζ = max_std⁻²), well above σ on the
        data (≈ 0.1 for MNIST pixels) so the expected metric rises steeply off the
        data (1.0 was the default before 0.2).
    beta : float, default=1.0
        Weight of the KL term.
    density_components : int, default=10
        Components of the Gaussian mixture fitted to the encoded training data, used as
        the latent log-density (aggregate posterior).
    epochs : int, default=50
    std_epochs : int or None, default=None
        Epochs of the σ phase (``None``: ``max(1, epochs // 2)``).
    batch_size : int, default=128
    learning_rate : float, default=1e-3
    device : str, default="auto"
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState instance or None, default=None
    verbose : bool or int, default=False

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained networks.
    std_module_ : torch.nn.Module
        The σ network.
    latent_dim_ : int
    latent_train_ : ndarray of shape (n_samples, latent_dim)
        Encoder means of the training data.
    density_ : sklearn.mixture.GaussianMixture
        Aggregate-posterior model of ``latent_train_``.
    loss_curve_ : list of float
        Mean negative ELBO per epoch (both phases).
    n_features_in_ : int

    Examples
    --------
    >>> from sk_geodesic.datasets import load_mnist
    >>> from sk_geodesic.manifolds import VAE
    >>> X, y = load_mnist(return_X_y=True, digits=[0, 1], n_per_digit=100)
    >>> vae = VAE(latent_dim=2, epochs=2, random_state=0).fit(X)
    >>> vae.transform(X[:3]).shape
    (3, 2)
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "output_activation": [None, StrOptions({"sigmoid", "tanh"})],
        "std_network": [StrOptions({"rbf", "mlp", "constant"})],
        "n_centers": [Interval(Integral, 1, None, closed="left")],
        "rbf_scale": [Interval(Real, 0, None, closed="neither")],
        "max_std": [Interval(Real, 0, None, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "density_components": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "std_epochs": [None, Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "device": DEVICE_CONSTRAINT,
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        latent_dim=2,
        hidden_sizes=(256, 128),
        activation="tanh",
        output_activation=None,
        std_network="rbf",
        n_centers=64,
        rbf_scale=1.0,
        max_std=10.0,
        beta=1.0,
        density_components=10,
        epochs=50,
        std_epochs=None,
        batch_size=128,
        learning_rate=1e-3,
        device="auto",
        dtype="float32",
        random_state=None,
        verbose=False,
    ):
        self.latent_dim = latent_dim
        self.hidden_sizes = hidden_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.std_network = std_network
        self.n_centers = n_centers
        self.rbf_scale = rbf_scale
        self.max_std = max_std
        self.beta = beta
        self.density_components = density_components
        self.epochs = epochs
        self.std_epochs = std_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # -- training ------------------------------------------------------------------------
    @honour_threads
    def fit(self, X, y=None):
        """Train the VAE on ``X`` (rows are flattened data points).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : VAE
        """
        self._validate_params()
        # at least two rows: the latent density and the σ network are fitted to the codes
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        hidden = tuple(int(h) for h in np.atleast_1d(self.hidden_sizes))
        if not hidden or min(hidden) < 1:
            raise ValueError(f"hidden_sizes must be a non-empty tuple of positive ints, got {self.hidden_sizes!r}")
        self.device_ = resolve_device(self.device)
        self.dtype_ = resolve_dtype(self.dtype)
        self.latent_dim_ = int(self.latent_dim)
        rng_seed = seed_from(self.random_state)
        gen = torch.Generator().manual_seed(rng_seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(rng_seed)  # parameter initialisation only
            module = _VAEModule(X.shape[1], self.latent_dim_, hidden, self.activation, self.output_activation)
        module = module.to(self.device_, self.dtype_)
        data = to_tensor(X, self.device_, self.dtype_)
        self.loss_curve_ = []
        n_std = self.std_epochs if self.std_epochs is not None else max(1, self.epochs // 2)
        show = progress(self.verbose, self.epochs + (n_std if self.std_network != "constant" else 0), "VAE")

        def elbo_loss(x, noise):
            mean, logvar = module.encode(x)
            z = mean + (0.5 * logvar).exp() * noise
            nll = _gaussian_nll(x, module.dec_mean(z), module.dec_std(z))
            kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
            return (nll + self.beta * kl).mean()

        opt = torch.optim.Adam(module.parameters(), lr=self.learning_rate)
        train_loop(data, self.latent_dim_, elbo_loss, opt, self.epochs, self.batch_size, gen, show, self.loss_curve_)

        with torch.no_grad():
            Z = module.encode(data)[0]
        self.latent_train_ = to_numpy(Z).astype(np.float64)

        with torch.no_grad():
            sigma0 = module.dec_std(torch.zeros(1, self.latent_dim_, device=self.device_, dtype=self.dtype_))[0]
        std_module = self._build_std(module, X.shape[1], hidden, rng_seed, sigma0)
        if std_module is not module.dec_std:
            for p in module.parameters():
                p.requires_grad_(False)

            def std_loss(x, noise):
                mean, logvar = module.encode(x)
                z = mean + (0.5 * logvar).exp() * noise
                return _gaussian_nll(x, module.dec_mean(z), std_module(z)).mean()

            opt = torch.optim.Adam(std_module.parameters(), lr=max(self.learning_rate, 1e-2))
            train_loop(data, self.latent_dim_, std_loss, opt, n_std, self.batch_size, gen, show, self.loss_curve_)
            for p in module.parameters():
                p.requires_grad_(True)
        show.close()
        module.dec_std = std_module
        module.eval()
        # The geometry only differentiates with respect to z: frozen weights keep
        # forward passes from building autograd graphs.
        module.requires_grad_(False)
        self.module_ = module
        self.std_module_ = std_module
        self._fit_density(rng_seed)
        return self

    def _build_std(self, module, n_features, hidden, seed, sigma0):
        if self.std_network == "constant":
            return module.dec_std
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            if self.std_network == "mlp":
                net = SoftplusStd([self.latent_dim_, *reversed(hidden), n_features], self.activation)
            else:
                net = self._rbf_network(n_features, seed, sigma0)
        return net.to(self.device_, self.dtype_)

    def _rbf_network(self, n_features, seed, sigma0):
        from sklearn.cluster import KMeans

        Z = self.latent_train_
        k = int(min(self.n_centers, len(np.unique(Z, axis=0))))
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(Z)
        centers = km.cluster_centers_
        spread = np.array(
            [np.linalg.norm(Z[km.labels_ == j] - centers[j], axis=1).mean() if np.any(km.labels_ == j) else 0.0 for j in range(k)]
        )
        spread = np.where(spread > 0, spread, max(float(spread.max()), 1e-3)) * self.rbf_scale
        bandwidths = 0.5 / spread**2
        t = lambda a: torch.as_tensor(a, dtype=torch.float64)
        zeta = 1.0 / self.max_std**2
        net = RBFPrecision(t(centers), t(bandwidths), n_features, zeta=zeta)
        # Start where phase 1 ended: precision ≈ 1/σ² of the global σ on the data.
        with torch.no_grad():
            mass = net.activations(t(Z)).sum(-1).mean().clamp_min(1e-6)
            sigma = sigma0.detach().cpu().double()
            target = (sigma.pow(-2) - zeta).clamp_min(1e-3) / mass
            net.log_weight.copy_(target.log().expand_as(net.log_weight))
        return net

    def _fit_density(self, seed):
        from sklearn.mixture import GaussianMixture

        Z = self.latent_train_
        k = int(min(self.density_components, len(np.unique(Z, axis=0))))
        gmm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(Z)
        self.density_ = gmm
        self.log_density_module_ = GaussianMixtureLogDensity.from_sklearn(gmm, self.dtype_, self.device_)

    # -- the callables of the geometry core ------------------------------------------------
    def _encode(self, x):
        return self.module_.encode(x)[0]

    def _decode(self, z):
        return self.module_.dec_mean(z)

    def _embed(self, z):
        return torch.cat([self.module_.dec_mean(z), self.module_.dec_std(z)], dim=-1)

    def _embedding_parts(self):
        return [self.module_.dec_mean, self.module_.dec_std], None

    def metric_has_variance(self):
        """Whether σ(z) varies with z: φ = [μ(z), σ(z)] is the expected metric.

        ``False`` for ``std_network="constant"``: a σ that does not depend on z adds
        nothing to the metric, which is then the decoder mean's.
        """
        check_is_fitted(self)
        return self.std_network != "constant"

    def variance_map(self):
        """``(σ, slice(n_features_in_, None))``: the decoder's σ network and its columns of φ.

        ``None`` for ``std_network="constant"`` (see :meth:`metric_has_variance`).
        """
        if not self.metric_has_variance():
            return None
        return self.module_.dec_std, slice(self.n_features_in_, None)

    def _log_density(self, z):
        return self.log_density_module_(z)

    def decoded_std(self, Z):
        """σ(z) of the Gaussian decoder at latent codes ``Z`` (n_samples, n_features)."""
        check_is_fitted(self)
        Z = self._validate_Z(Z)
        return self._batched(self.module_.dec_std, Z).astype(Z.dtype, copy=False)

    @honour_threads
    def score_samples(self, X, n_draws=8):
        """Evidence lower bound (ELBO) of each sample, a Monte-Carlo estimate.

        Every sample uses the same ``n_draws`` standard-normal draws (from a generator
        seeded by ``random_state``), so scores are reproducible and do not depend on
        the order or batching of the rows.
        """
        check_is_fitted(self)
        n_draws = check_positive_int(n_draws, "n_draws")
        X = self._validate_X(X)
        gen = torch.Generator().manual_seed(seed_from(self.random_state))
        noise = torch.randn(n_draws, 1, self.latent_dim_, generator=gen, dtype=self.dtype_).to(self.device_)
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], 1024):
                x = to_tensor(X[start : start + 1024], self.device_, self.dtype_)
                mean, logvar = self.module_.encode(x)
                z = mean + (0.5 * logvar).exp() * noise  # (n_draws, N, d)
                # sums over pixels in float64: float32 sums drift with the batch layout
                x64, mean64, logvar64 = x.double(), mean.double(), logvar.double()
                nll = _gaussian_nll(x64, self.module_.dec_mean(z).double(), self.module_.dec_std(z).double()).mean(0)
                kl = 0.5 * (mean64.pow(2) + logvar64.exp() - 1.0 - logvar64).sum(-1)
                out.append(to_numpy(-(nll + kl)))
        return np.concatenate(out).astype(np.float64)

    def score(self, X, y=None):
        """Mean ELBO of ``X`` (higher is better)."""
        return float(np.mean(self.score_samples(X)))

    def reconstruction_error(self, X):
        """Mean squared error between ``X`` and the decoded mean of its encoding."""
        Z = self.transform(X)
        return float(np.mean((self.inverse_transform(Z) - np.asarray(X, dtype=Z.dtype)) ** 2))
