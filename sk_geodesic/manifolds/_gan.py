"""Generative adversarial network with a learned, inversion-refined encoder."""

from __future__ import annotations

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import validate_data
from torch import nn

from .._utils import DEVICE_CONSTRAINT, honour_threads, resolve_device, resolve_dtype, seed_from, to_numpy, to_tensor
from ..geometry.density import StandardNormalLogDensity
from ._base import GenerativeManifold
from ._inversion import best_of_candidates, invert_decoder
from ._networks import ACTIVATIONS, has_piecewise_linear_activation, mlp
from ._training import progress

_IMAGE_SIDE = 28
_IMAGE_FEATURES = _IMAGE_SIDE * _IMAGE_SIDE


# -- networks ---------------------------------------------------------------------------
class _ConvGenerator(nn.Module):
    """z ↦ 28×28 image (flattened): linear to 7×7 maps, then two ×2 transposed convolutions."""

    def __init__(self, latent_dim, activation, out_activation, width=32):
        super().__init__()
        self.width = width
        act = ACTIVATIONS[activation]
        self.fc = nn.Sequential(nn.Linear(latent_dim, width * 7 * 7), act())
        layers = [
            nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1),  # 7 -> 14
            act(),
            nn.ConvTranspose2d(width // 2, 1, 4, stride=2, padding=1),  # 14 -> 28
        ]
        if out_activation is not None:
            layers.append(ACTIVATIONS[out_activation]())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z):
        batch = z.shape[:-1]
        h = self.fc(z.reshape(-1, z.shape[-1])).reshape(-1, self.width, 7, 7)
        return self.deconv(h).reshape(*batch, _IMAGE_FEATURES)


class _ConvCritic(nn.Module):
    """Flattened 28×28 image ↦ ``n_outputs`` values: two stride-2 convolutions and a linear head.

    Used as the discriminator (``n_outputs=1``) and as the encoder (``n_outputs=latent_dim``).
    """

    def __init__(self, n_outputs, activation="leaky_relu", width=32):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.conv = nn.Sequential(
            nn.Conv2d(1, width // 2, 4, stride=2, padding=1),  # 28 -> 14
            act(),
            nn.Conv2d(width // 2, width, 4, stride=2, padding=1),  # 14 -> 7
            act(),
        )
        self.head = nn.Linear(width * 7 * 7, n_outputs)

    def forward(self, x):
        h = self.conv(x.reshape(-1, 1, _IMAGE_SIDE, _IMAGE_SIDE))
        return self.head(h.flatten(1))


class _PriorLogDensity(nn.Module):
    """A user prior's ``log_prob`` (or the prior itself, if callable) as a Torch callable."""

    def __init__(self, prior):
        super().__init__()
        self.prior = prior

    def forward(self, z):
        fn = getattr(self.prior, "log_prob", None) or self.prior
        out = fn(z)
        if not isinstance(out, torch.Tensor):
            out = torch.as_tensor(np.asarray(out), device=z.device)
        return out.to(z.dtype)


def _sizes(value, name):
    sizes = tuple(int(h) for h in np.atleast_1d(value))
    if not sizes or min(sizes) < 1:
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {value!r}")
    return sizes


class GAN(GenerativeManifold):
    """Generative adversarial network whose generator defines the latent geometry.

    The generator G: z ↦ x is a deterministic decoder, so the embedding map given to the
    geometry core is G itself and the metric is the pullback G(z) = J_Gᵀ J_G. The latent
    log-density is the prior's. Training has two phases: (1) generator and discriminator
    play the GAN game; (2) an encoder E: x ↦ z is fitted by regression on generated
    pairs (z ~ prior, x = G(z)). ``transform`` starts from E(x) (or from the best of
    ``n_candidates`` prior samples, whichever decodes closer to x) and refines it by
    gradient-based inversion, argmin_z ‖G(z) − x‖² − ``prior_weight`` · log p(z).

    Parameters
    ----------
    latent_dim : int, default=2
    hidden_sizes : tuple of int, default=(64, 64)
        Widths of the generator's hidden layers (``architecture="mlp"``). The encoder
        uses them reversed.
    discriminator_sizes : tuple of int or None, default=None
        Widths of the discriminator's hidden layers (``None``: ``hidden_sizes``).
    activation : {"tanh", "softplus", "elu", "sigmoid", "relu", "leaky_relu"}, default="tanh"
        Activation of the generator and the encoder. Smooth activations are
        recommended: geodesics need second derivatives. The discriminator (and, with
        ``architecture="conv"``, the encoder) always uses leaky ReLU.
    output_activation : {None, "sigmoid", "tanh"}, default=None
        Activation of the generator's output (``"sigmoid"`` for data in [0, 1]).
    architecture : {"mlp", "conv"}, default="mlp"
        ``"conv"`` is a small DCGAN-style generator/discriminator pair for flattened
        28×28 images (``n_features == 784``); ``hidden_sizes`` and
        ``discriminator_sizes`` are then unused.
    prior : "normal" or object, default="normal"
        Latent distribution. ``"normal"`` is N(0, I). Otherwise an object with a
        ``sample(n_samples, random_state)`` method returning an array of shape
        ``(n_samples, latent_dim)`` and a differentiable Torch log-density, either as a
        ``log_prob(z)`` method or by being callable, mapping ``(N, latent_dim)`` to
        ``(N,)`` (for example :class:`sk_geodesic.datasets.SemicircleMixture`).
    loss : {"bce", "wgan-gp"}, default="bce"
        ``"bce"``: the non-saturating GAN loss (reliable on the 2-D ring in a few
        thousand steps); ``"wgan-gp"``: Wasserstein loss with a gradient penalty of
        weight 10 -- use ``n_critic=5`` and many more epochs with it.
    epochs : int, default=200
        Passes over the training data by the discriminator.
    batch_size : int, default=128
    learning_rate : float, default=1e-3
        Adam step size of the generator, the discriminator and the encoder.
    n_critic : int, default=1
        Discriminator steps per generator step.
    encoder_epochs : int, default=50
        Epochs of encoder regression, each on ``n_samples`` freshly generated pairs.
    inversion_steps : int, default=100
        Adam steps of the inversion refinement in ``transform`` (0: encoder only).
    n_candidates : int, default=256
        Prior samples tried as alternative starting points of the inversion.
    prior_weight : float, default=1e-3
        Weight of −log p(z) in the inversion objective.
    device : str, default="auto"
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState instance or None, default=None
        Seeds parameter initialisation, minibatches, prior draws and the inversion
        start points; the global Torch RNG is left alone.
    verbose : bool or int, default=False

    Attributes
    ----------
    generator_ : torch.nn.Module
        G: z ↦ x (flattened).
    discriminator_ : torch.nn.Module
    encoder_ : torch.nn.Module
        E: x ↦ z, the start point of the inversion.
    prior_ : object or None
        The user's prior (``None`` for ``"normal"``).
    log_density_module_ : torch.nn.Module
        log p(z) of the prior.
    latent_dim_ : int
    latent_train_ : ndarray of shape (n_samples, latent_dim)
        ``transform`` of the training data.
    discriminator_loss_curve_ : list of float
        Mean discriminator loss per epoch.
    generator_loss_curve_ : list of float
        Mean generator loss per epoch.
    encoder_loss_curve_ : list of float
        Mean squared latent error of the encoder per epoch.
    piecewise_linear_ : bool
        Whether the generator has ReLU-like activations (piecewise-constant metric).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sk_geodesic.manifolds import GAN
    >>> rng = np.random.default_rng(0)
    >>> angle = rng.uniform(0, 2 * np.pi, 500)
    >>> X = np.c_[np.cos(angle), np.sin(angle)] * (1 + 0.1 * rng.normal(size=(500, 1)))
    >>> gan = GAN(epochs=5, encoder_epochs=5, random_state=0).fit(X)
    >>> gan.transform(X[:3]).shape
    (3, 2)
    >>> Xs, Zs = gan.sample(4, random_state=0)
    >>> Xs.shape, Zs.shape
    ((4, 2), (4, 2))
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_sizes": ["array-like"],
        "discriminator_sizes": [None, "array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "output_activation": [None, StrOptions({"sigmoid", "tanh"})],
        "architecture": [StrOptions({"mlp", "conv"})],
        "prior": [StrOptions({"normal"}), HasMethods(["sample"])],
        "loss": [StrOptions({"bce", "wgan-gp"})],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "n_critic": [Interval(Integral, 1, None, closed="left")],
        "encoder_epochs": [Interval(Integral, 0, None, closed="left")],
        "inversion_steps": [Interval(Integral, 0, None, closed="left")],
        "n_candidates": [Interval(Integral, 0, None, closed="left")],
        "prior_weight": [Interval(Real, 0, None, closed="left")],
        "device": DEVICE_CONSTRAINT,
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        latent_dim=2,
        hidden_sizes=(64, 64),
        discriminator_sizes=None,
        activation="tanh",
        output_activation=None,
        architecture="mlp",
        prior="normal",
        loss="bce",
        epochs=200,
        batch_size=128,
        learning_rate=1e-3,
        n_critic=1,
        encoder_epochs=50,
        inversion_steps=100,
        n_candidates=256,
        prior_weight=1e-3,
        device="auto",
        dtype="float32",
        random_state=None,
        verbose=False,
    ):
        self.latent_dim = latent_dim
        self.hidden_sizes = hidden_sizes
        self.discriminator_sizes = discriminator_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.architecture = architecture
        self.prior = prior
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.n_critic = n_critic
        self.encoder_epochs = encoder_epochs
        self.inversion_steps = inversion_steps
        self.n_candidates = n_candidates
        self.prior_weight = prior_weight
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    # -- set-up ------------------------------------------------------------------------------
    def _check_prior(self):
        if isinstance(self.prior, str):
            return None, StandardNormalLogDensity()
        prior = self.prior
        if not (callable(getattr(prior, "log_prob", None)) or callable(prior)):
            raise ValueError(
                "a user prior needs a differentiable log-density: a log_prob(z) method or "
                f"being callable; {type(prior).__name__} has neither."
            )
        try:
            probe = np.asarray(prior.sample(2, random_state=0), dtype=np.float64)
        except Exception as exc:  # the user's object: say which piece broke
            raise ValueError(f"prior.sample(2, random_state=0) failed: {exc}") from exc
        if probe.ndim != 2 or probe.shape != (2, self.latent_dim_):
            raise ValueError(
                f"the prior draws samples of shape {probe.shape[1:]} but latent_dim="
                f"{self.latent_dim_}; prior.sample(n_samples, random_state) must return an "
                f"array of shape (n_samples, {self.latent_dim_})."
            )
        prior = copy.deepcopy(prior)
        if isinstance(prior, nn.Module):
            prior = prior.to(self.device_, self.dtype_)
        log_density = _PriorLogDensity(prior)
        z = torch.as_tensor(probe, device=self.device_, dtype=self.dtype_)
        try:
            out = log_density(z)
        except Exception as exc:
            raise ValueError(f"the prior's log-density failed on a batch of shape {tuple(z.shape)}: {exc}") from exc
        if out.shape != (2,):
            raise ValueError(
                f"the prior's log-density must map (N, latent_dim) to (N,); got shape {tuple(out.shape)} for N=2"
            )
        return prior, log_density

    def _build_networks(self, n_features, seed):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # parameter initialisation only
            if self.architecture == "conv":
                if n_features != _IMAGE_FEATURES:
                    raise ValueError(
                        f'architecture="conv" is for flattened 28x28 images (784 features); X has '
                        f'{n_features} features. Use architecture="mlp" for other data.'
                    )
                generator = _ConvGenerator(self.latent_dim_, self.activation, self.output_activation)
                discriminator = _ConvCritic(1, "leaky_relu")
                encoder = _ConvCritic(self.latent_dim_, "leaky_relu")
            else:
                hidden = _sizes(self.hidden_sizes, "hidden_sizes")
                disc = hidden
                if self.discriminator_sizes is not None:
                    disc = _sizes(self.discriminator_sizes, "discriminator_sizes")
                generator = mlp([self.latent_dim_, *hidden, n_features], self.activation, self.output_activation)
                discriminator = mlp([n_features, *disc, 1], "leaky_relu")
                encoder = mlp([n_features, *reversed(hidden), self.latent_dim_], self.activation)
        return [m.to(self.device_, self.dtype_) for m in (generator, discriminator, encoder)]

    # -- training ----------------------------------------------------------------------------
    @honour_threads
    def fit(self, X, y=None):
        """Train the GAN on ``X``, then its encoder on generated pairs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : GAN
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self.device_ = resolve_device(self.device)
        self.dtype_ = resolve_dtype(self.dtype)
        self.latent_dim_ = int(self.latent_dim)
        self.prior_, self.log_density_module_ = self._check_prior()
        rng_seed = seed_from(self.random_state)
        gen = torch.Generator().manual_seed(rng_seed)
        generator, discriminator, encoder = self._build_networks(X.shape[1], rng_seed)
        self.generator_, self.discriminator_, self.encoder_ = generator, discriminator, encoder
        data = to_tensor(X, self.device_, self.dtype_)

        show = progress(self.verbose, self.epochs + self.encoder_epochs, "GAN")
        self._train_gan(data, gen, show)
        self._train_encoder(X.shape[0], gen, show)
        show.close()
        for module in (generator, discriminator, encoder):
            module.eval()
            for p in module.parameters():
                p.requires_grad_(False)
        self.piecewise_linear_ = has_piecewise_linear_activation(generator)
        self._inversion_seed = rng_seed + 1
        self.latent_train_ = self.transform(X).astype(np.float64)
        return self

    def _prior_batch(self, n, gen):
        return self._sample_latent(n, gen).to(self.device_, self.dtype_)

    def _train_gan(self, data, gen, show):
        G, D = self.generator_, self.discriminator_
        betas = (0.5, 0.9) if self.loss == "wgan-gp" else (0.5, 0.999)
        opt_g = torch.optim.Adam(G.parameters(), lr=self.learning_rate, betas=betas)
        opt_d = torch.optim.Adam(D.parameters(), lr=self.learning_rate, betas=betas)
        softplus = nn.functional.softplus
        n = data.shape[0]
        batch_size = min(int(self.batch_size), n)
        self.discriminator_loss_curve_, self.generator_loss_curve_ = [], []
        step = 0
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=gen).to(data.device)
            d_total, g_total, g_count, count = 0.0, 0.0, 0, 0
            for start in range(0, n, batch_size):
                real = data[order[start : start + batch_size]]
                with torch.no_grad():
                    fake = G(self._prior_batch(real.shape[0], gen))
                d_real, d_fake = D(real), D(fake)
                if self.loss == "bce":
                    d_loss = softplus(-d_real).mean() + softplus(d_fake).mean()
                else:
                    mix = torch.rand((real.shape[0], 1), generator=gen, dtype=data.dtype).to(data.device)
                    between = (mix * real + (1 - mix) * fake).requires_grad_(True)
                    grad = torch.autograd.grad(D(between).sum(), between, create_graph=True)[0]
                    penalty = (grad.norm(dim=1) - 1.0).pow(2).mean()
                    d_loss = d_fake.mean() - d_real.mean() + 10.0 * penalty
                _step(opt_d, d_loss)
                d_total += float(d_loss.detach()) * real.shape[0]
                count += real.shape[0]
                step += 1
                if step % self.n_critic == 0:
                    score = D(G(self._prior_batch(batch_size, gen)))
                    g_loss = softplus(-score).mean() if self.loss == "bce" else -score.mean()
                    _step(opt_g, g_loss)
                    g_total += float(g_loss.detach())
                    g_count += 1
            self.discriminator_loss_curve_.append(d_total / count)
            self.generator_loss_curve_.append(g_total / g_count if g_count else float("nan"))
            show.update(1)
            show.set_postfix(d_loss=f"{self.discriminator_loss_curve_[-1]:.4g}")

    def _train_encoder(self, n, gen, show):
        G, E = self.generator_, self.encoder_
        opt = torch.optim.Adam(E.parameters(), lr=self.learning_rate)
        batch_size = min(int(self.batch_size), n)
        self.encoder_loss_curve_ = []
        for _ in range(self.encoder_epochs):
            total = 0.0
            for start in range(0, n, batch_size):
                m = min(batch_size, n - start)
                z = self._prior_batch(m, gen)
                with torch.no_grad():
                    x = G(z)
                loss = (E(x) - z).pow(2).sum(-1).mean()
                _step(opt, loss)
                total += float(loss.detach()) * m
            self.encoder_loss_curve_.append(total / n)
            show.update(1)
            show.set_postfix(encoder_loss=f"{self.encoder_loss_curve_[-1]:.4g}")

    # -- the callables of the geometry core ------------------------------------------------
    def _decode(self, z):
        return self.generator_(z).reshape(*z.shape[:-1], -1)

    def _embed(self, z):
        return self._decode(z)

    def _embedding_parts(self):
        return [self.generator_], None

    def _log_density(self, z):
        return self.log_density_module_(z)

    def _sample_latent(self, n, generator):
        if self.prior_ is None:
            return torch.randn(n, self.latent_dim_, generator=generator, dtype=self.dtype_)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        Z = np.asarray(self.prior_.sample(n, random_state=seed))
        return torch.as_tensor(Z, dtype=self.dtype_).reshape(n, self.latent_dim_)

    def _encode(self, x):
        with torch.no_grad():
            z0 = self.encoder_(x)
            if self.n_candidates > 0:
                gen = torch.Generator().manual_seed(self._inversion_seed)
                cand = self._prior_batch(int(self.n_candidates), gen)
                zc = best_of_candidates(self._decode, x, cand)
                err0 = (self._decode(z0) - x).pow(2).sum(-1)
                errc = (self._decode(zc) - x).pow(2).sum(-1)
                z0 = torch.where((errc < err0).unsqueeze(-1), zc, z0)
        if self.inversion_steps == 0:
            return z0
        with torch.enable_grad():
            return invert_decoder(
                self._decode,
                x,
                z0,
                n_steps=self.inversion_steps,
                log_density=self._log_density,
                prior_weight=self.prior_weight,
            )


def _step(optimizer, loss):
    if not torch.isfinite(loss):
        raise FloatingPointError("training diverged (non-finite loss); lower learning_rate or rescale the data")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
