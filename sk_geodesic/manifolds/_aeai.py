"""Autoencoder Adversarial Interpolation (AEAI): an autoencoder whose latent space is
shaped for linear interpolation (Oring, Yakhini & Hel-Or, 2021).

With every λ at zero it is a plain autoencoder, and with ``noise > 0`` a denoising
autoencoder (the poster's DAE): one estimator, three models.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._utils import DEVICE_CONSTRAINT, honour_threads, resolve_device, resolve_dtype, seed_from, to_numpy, to_tensor
from ..geometry.density import GaussianMixtureLogDensity
from ._base import GenerativeManifold
from ._networks import ACTIVATIONS, has_piecewise_linear_activation, mlp
from ._training import progress


# -- small convolutional networks for square grey-level images -----------------------------
def _image_side(n_features):
    side = int(round(math.sqrt(n_features)))
    if side * side != n_features or side % 4 or side < 8:
        raise ValueError(
            f'architecture="conv" needs flattened square images whose side is a multiple of 4 '
            f"(e.g. 28x28 or 32x32); X has {n_features} features."
        )
    return side


class _ConvEncoder(nn.Module):
    """Flattened side×side image ↦ ``n_outputs``: two stride-2 convolutions, a linear head."""

    def __init__(self, side, n_outputs, activation, width=16):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.side = side
        self.conv = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),
            act(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            act(),
        )
        self.head = nn.Linear(2 * width * (side // 4) ** 2, n_outputs)

    def forward(self, x):
        batch = x.shape[:-1]
        h = self.conv(x.reshape(-1, 1, self.side, self.side))
        return self.head(h.flatten(1)).reshape(*batch, -1)


class _ConvDecoder(nn.Module):
    """z ↦ flattened side×side image: a linear layer to (side/4)² maps, two ×2 up-convolutions."""

    def __init__(self, side, latent_dim, activation, out_activation, width=16):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.side, self.width = side, width
        self.fc = nn.Sequential(nn.Linear(latent_dim, 2 * width * (side // 4) ** 2), act())
        layers = [
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            act(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),
        ]
        if out_activation is not None:
            layers.append(ACTIVATIONS[out_activation]())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z):
        batch = z.shape[:-1]
        q = self.side // 4
        h = self.fc(z.reshape(-1, z.shape[-1])).reshape(-1, 2 * self.width, q, q)
        return self.deconv(h).reshape(*batch, self.side * self.side)


def _sizes(value, name):
    sizes = tuple(int(h) for h in np.atleast_1d(value))
    if not sizes or min(sizes) < 1:
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {value!r}")
    return sizes


def interpolation_losses(encoder, decoder, x_i, x_j, alpha, need_cycle=True, need_smooth=True):
    """The decoded interpolants and the per-pair AEAI terms (pure Torch).

    Parameters
    ----------
    encoder, decoder : callables ``(N, D) -> (N, d)`` and ``(N, d) -> (N, D)``
    x_i, x_j : Tensor (B, D)
        The pairs.
    alpha : Tensor (B, K)
        The K = M + 1 interpolation parameters of each pair.

    Returns
    -------
    dict with ``z_i``, ``z_j`` (B, d), ``x_hat`` (B, K, D) decoded interpolants g(z(α)),
    ``reconstruction`` (B,) ‖x_i − g(f(x_i))‖² + ‖x_j − g(f(x_j))‖²,
    ``cycle`` (B,) Σ_α ‖z(α) − f(g(z(α)))‖² and
    ``smoothness`` (B,) Σ_α ‖∂g(z(α))/∂α‖², the derivative taken by forward-mode AD
    along the latent direction z_j − z_i (∂z(α)/∂α = z_j − z_i). Entries not requested
    are ``None``.
    """
    B, K = alpha.shape
    z = encoder(torch.cat([x_i, x_j], 0))
    z_i, z_j = z[:B], z[B:]
    rec = decoder(z)
    reconstruction = (rec[:B] - x_i).pow(2).sum(-1) + (rec[B:] - x_j).pow(2).sum(-1)
    a = alpha.unsqueeze(-1)
    z_a = ((1 - a) * z_i.unsqueeze(1) + a * z_j.unsqueeze(1)).reshape(B * K, -1)
    direction = (z_j - z_i).unsqueeze(1).expand(B, K, -1).reshape(B * K, -1)
    if need_smooth:
        x_hat, dx = torch.func.jvp(decoder, (z_a,), (direction,))
        smoothness = dx.pow(2).sum(-1).reshape(B, K).sum(-1)
    else:
        x_hat, smoothness = decoder(z_a), None
    cycle = None
    if need_cycle:
        cycle = (encoder(x_hat) - z_a).pow(2).sum(-1).reshape(B, K).sum(-1)
    return {
        "z_i": z_i,
        "z_j": z_j,
        "x_hat": x_hat.reshape(B, K, -1),
        "reconstruction": reconstruction,
        "cycle": cycle,
        "smoothness": smoothness,
    }


class AEAI(GenerativeManifold):
    """Autoencoder whose latent space is shaped for linear interpolation (AEAI).

    An encoder f, a decoder g and a discriminator D are trained on pairs of training
    images (x_i, x_j). For each pair, K = ``n_alpha`` (the paper's M + 1) values α are
    drawn uniformly in [0, 1] and the latent interpolants z(α) = (1 − α) f(x_i) + α f(x_j)
    are decoded, x̂(α) = g(z(α)). The loss of a pair is (Oring et al., eq. 1)

        L = L_R + λ_A L_A + λ_C L_C + λ_S L_S

    * L_R = ‖x_i − g(f(x_i))‖² + ‖x_j − g(f(x_j))‖² (boundary conditions);
    * L_A = Σ_α −log D(x̂(α)) (credibility: interpolants must fool D, which is trained
      in alternation with the standard GAN loss on training images vs interpolants);
    * L_C = Σ_α ‖z(α) − f(x̂(α))‖² (cycle consistency through the encoder). Measured in
      units of the batch's latent variance (a constant during each step), so that
      shrinking the latent scale cannot make it vanish -- an implementation choice the
      paper leaves open;
    * L_S = Σ_α ‖∂x̂(α)/∂α‖² (smoothness), by forward-mode AD of g along z_j − z_i.

    Squared norms are sums over pixels (latent coordinates). L_A, L_C and L_S are
    averaged over the K values of α (the paper sums them; averaging keeps the meaning of
    λ independent of ``n_alpha``: the paper's sum equals K times this λ), and every term
    is averaged over pairs. With
    ``lambda_adversarial = lambda_cycle = lambda_smoothness = 0`` this is a plain
    autoencoder (no discriminator is trained); ``noise > 0`` corrupts the encoder's input
    with Gaussian noise of that standard deviation during training (denoising
    autoencoder) while the targets stay clean.

    The decoder is deterministic: the embedding map given to the geometry core is g and
    the metric is G(z) = J_gᵀ J_g. The latent log-density is a Gaussian mixture fitted to
    the training codes (used by density-regularised interpolators and ``sample``).

    Parameters
    ----------
    latent_dim : int, default=8
        Best matched to the data's generating factors, an angle counting as two: the
        plain autoencoder interpolates the pole images (elevation, azimuth) linearly with
        0.58 times the 80° error at ``latent_dim=3`` that it has at 8 (measured, three
        seeds; see :ref:`pole_benchmark`).
    hidden_sizes : tuple of int, default=(256, 64)
        Encoder widths (``architecture="mlp"``); the decoder uses them reversed.
    discriminator_sizes : tuple of int or None, default=None
        Widths of an MLP discriminator (``None``: ``hidden_sizes``).
    discriminator : {"auto", "mlp", "conv"}, default="auto"
        Kind of discriminator. ``"auto"``: convolutional for flattened square images
        whose side is a multiple of 4 (at least 16), else an MLP. An MLP discriminator
        fails to tell pole images from their cross-dissolves (measured: its loss stays
        at 2 log 2 for 600 steps, where the convolutional one falls to 0.64), and then
        the adversarial term does nothing.
    activation : {"tanh", "softplus", "elu", "sigmoid", "relu", "leaky_relu"}, default="elu"
        Activation of encoder and decoder. Avoid ReLU-like ones: the smoothness loss and
        geodesics differentiate the decoder. ELU is the default because a tanh MLP
        autoencoder stalls at the mean image on the pole data set (measured: 60 epochs,
        reconstruction MSE 0.0099 with tanh vs 0.0014 with ELU and a sigmoid output).
        The discriminator always uses leaky ReLU.
    output_activation : {None, "sigmoid", "tanh"}, default=None
        Activation of the decoded output (``"sigmoid"`` for images in [0, 1]).
    architecture : {"mlp", "conv"}, default="mlp"
        ``"conv"``: two stride-2 convolutions (16 and 32 maps) and a linear layer in
        encoder and discriminator, the mirror image in the decoder, for flattened
        square images whose side is a multiple of 4 (28×28, 32×32, ...).
    lambda_adversarial, lambda_cycle, lambda_smoothness : float, default=1e-2, 1e-2, 1e-1
        λ_A, λ_C, λ_S (the values the paper found by grid search).
    n_alpha : int, default=8
        Interpolation parameters α per pair (M + 1).
    noise : float, default=0.0
        Standard deviation of the Gaussian corruption of the encoder's input.
    density_components : int, default=10
        Components of the Gaussian mixture fitted to the training codes.
    epochs : int, default=100
        Passes over the training data (each image starts one pair per pass).
    warmup_epochs : int, default=0
        The first ``warmup_epochs`` passes train the reconstruction loss L_R alone (no
        discriminator step, no α-terms); the full loss follows. 0 (the paper's schedule)
        trains the full loss from the start. With ``warmup_epochs >= epochs`` the result
        is the plain autoencoder of the same seed. See :ref:`pole_benchmark` for what it
        changed there (nothing good on the pole data).
    refine_epochs : int, default=0
        Passes of a last phase that trains the decoder alone on the reconstruction loss,
        with the encoder, and so every code, frozen, at a tenth of ``learning_rate``
        (a fresh Adam). The smoothness term pulls decoded paths short and so blurs the
        decoder everywhere, at the codes too; this phase makes the images sharp again at
        the codes without moving them, and the decoder between them follows. 0 (the
        paper's schedule) skips it. On the pole benchmark (wide MLP, ``latent_dim=3``,
        seeds 0–2) 10 epochs lowered the 80° interpolation MSE of AEAI from 0.00200 to
        0.00161 on average (0.00204 over 16 seeds, 0.00166 over 8 with 600 epochs), and
        left a plain autoencoder's unchanged (0.00262 → 0.00260, seed 0): see
        :ref:`pole_benchmark`.
    n_init : int, default=1
        Independent trainings; the one whose final training loss (``loss_curve_[-1]``,
        the objective itself, no held-out data or ground truth) is lowest is kept, as
        :class:`sklearn.cluster.KMeans` keeps its lowest inertia. Training *i* uses the
        seed of ``random_state + i`` (for an integer ``random_state``; successive draws
        from it otherwise), so ``n_init=1`` is the single training and the kept one is
        the single training with ``random_state + best_init_``.
        The decoder refinement (``refine_epochs``) runs once, on the kept training.
        Costs ``n_init`` trainings. On the pole benchmark (wide MLP, ``latent_dim=3``,
        ``refine_epochs=10``) 3 of 16 seeds ended in a poor optimum (80° MSE 0.0029-0.0030
        against 0.0014-0.0021), and exactly those 3 had the highest final loss (4.64-4.83
        against 4.25-4.57 for the others): see :ref:`pole_benchmark`.
    batch_size : int, default=64
        Pairs per step.
    learning_rate : float, default=1e-3
        Adam step size of all networks.
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` lowers the step size of every network (autoencoder and
        discriminator) from ``learning_rate`` to 0 along a half cosine over the
        ``epochs``, once per epoch (the refinement keeps its own constant step);
        ``"constant"`` keeps it (the paper's schedule). On the pole benchmark (wide
        MLP, ``latent_dim=3``, ``refine_epochs=10``, 300 epochs, seeds 0-3, CPU) the
        cosine schedule was better on no seed at 80° (mean 0.00180 against 0.00169): see
        :ref:`pole_benchmark`.
    device : str, default="auto"
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, pairing, α draws and noise; the global Torch RNG is left alone.
    verbose : bool or int, default=False
        Progress bar (tqdm) over epochs.

    Attributes
    ----------
    encoder_ : torch.nn.Module
    decoder_ : torch.nn.Module
    discriminator_ : torch.nn.Module or None
        ``None`` when ``lambda_adversarial == 0`` (no adversarial game is played).
    latent_dim_ : int
    latent_train_ : ndarray of shape (n_samples, latent_dim)
        Codes of the training data.
    density_ : sklearn.mixture.GaussianMixture
    loss_curve_ : list of float
        Mean total loss L per pair, per epoch.
    refine_loss_curve_ : list of float
        Mean reconstruction loss ‖x − g(f(x))‖² per image, per epoch of the decoder
        refinement (empty with ``refine_epochs=0``).
    init_losses_ : ndarray of shape (n_init,)
        Final training loss of each training (``loss_curve_[-1]`` of each).
    best_init_ : int
        Index of the kept training (an integer ``random_state`` plus this reproduces it).
    loss_components_ : dict of str to list of float
        Per-epoch means of ``"reconstruction"``, ``"adversarial"``, ``"cycle"``,
        ``"smoothness"`` (unweighted) and ``"discriminator"`` (D's own loss); a term whose
        λ is zero is not computed and reads NaN.
    piecewise_linear_ : bool
    n_features_in_ : int

    Examples
    --------
    >>> from sk_geodesic.datasets import make_pole_shadow
    >>> from sk_geodesic.manifolds import AEAI
    >>> X = make_pole_shadow(image_size=16, elevations=[60], azimuths=range(0, 360, 10)).data
    >>> ae = AEAI(latent_dim=2, hidden_sizes=(32,), epochs=3, random_state=0).fit(X)
    >>> ae.transform(X[:3]).shape
    (3, 2)
    >>> sorted(ae.loss_components_)
    ['adversarial', 'cycle', 'discriminator', 'reconstruction', 'smoothness']
    >>> plain = AEAI(lambda_adversarial=0, lambda_cycle=0, lambda_smoothness=0, epochs=1).fit(X)
    >>> plain.discriminator_ is None
    True
    """

    _parameter_constraints: dict = {
        "latent_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_sizes": ["array-like"],
        "discriminator_sizes": [None, "array-like"],
        "discriminator": [StrOptions({"auto", "mlp", "conv"})],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "output_activation": [None, StrOptions({"sigmoid", "tanh"})],
        "architecture": [StrOptions({"mlp", "conv"})],
        "lambda_adversarial": [Interval(Real, 0, None, closed="left")],
        "lambda_cycle": [Interval(Real, 0, None, closed="left")],
        "lambda_smoothness": [Interval(Real, 0, None, closed="left")],
        "n_alpha": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "density_components": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "refine_epochs": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "device": DEVICE_CONSTRAINT,
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        latent_dim=8,
        hidden_sizes=(256, 64),
        discriminator_sizes=None,
        discriminator="auto",
        activation="elu",
        output_activation=None,
        architecture="mlp",
        lambda_adversarial=1e-2,
        lambda_cycle=1e-2,
        lambda_smoothness=1e-1,
        n_alpha=8,
        noise=0.0,
        density_components=10,
        epochs=100,
        warmup_epochs=0,
        refine_epochs=0,
        n_init=1,
        batch_size=64,
        learning_rate=1e-3,
        lr_schedule="constant",
        device="auto",
        dtype="float32",
        random_state=None,
        verbose=False,
    ):
        self.latent_dim = latent_dim
        self.hidden_sizes = hidden_sizes
        self.discriminator_sizes = discriminator_sizes
        self.discriminator = discriminator
        self.activation = activation
        self.output_activation = output_activation
        self.architecture = architecture
        self.lambda_adversarial = lambda_adversarial
        self.lambda_cycle = lambda_cycle
        self.lambda_smoothness = lambda_smoothness
        self.n_alpha = n_alpha
        self.noise = noise
        self.density_components = density_components
        self.epochs = epochs
        self.warmup_epochs = warmup_epochs
        self.refine_epochs = refine_epochs
        self.n_init = n_init
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def __setstate__(self, state):
        # models pickled before ``warmup_epochs`` / ``refine_epochs`` existed were trained
        # without a warm-up and without a refinement
        state.setdefault("warmup_epochs", 0)
        state.setdefault("refine_epochs", 0)
        state.setdefault("n_init", 1)
        state.setdefault("lr_schedule", "constant")
        if "loss_curve_" in state:
            state.setdefault("refine_loss_curve_", [])
            state.setdefault("init_losses_", np.array([state["loss_curve_"][-1]]))
            state.setdefault("best_init_", 0)
        super().__setstate__(state)

    # -- set-up ----------------------------------------------------------------------------------
    def _build_networks(self, n_features, seed):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # parameter initialisation only
            if self.architecture == "conv":
                side = _image_side(n_features)
                encoder = _ConvEncoder(side, self.latent_dim_, self.activation)
                decoder = _ConvDecoder(side, self.latent_dim_, self.activation, self.output_activation)
            else:
                hidden = _sizes(self.hidden_sizes, "hidden_sizes")
                encoder = mlp([n_features, *hidden, self.latent_dim_], self.activation)
                decoder = mlp([self.latent_dim_, *reversed(hidden), n_features], self.activation, self.output_activation)
                disc = None
            kind = self.discriminator
            if kind == "auto":
                side = int(round(math.sqrt(n_features)))
                square = side * side == n_features and side % 4 == 0 and side >= 16
                kind = "conv" if self.architecture == "conv" or square else "mlp"
            if kind == "conv":
                disc = _ConvEncoder(_image_side(n_features), 1, "leaky_relu")
            else:
                hidden = _sizes(self.hidden_sizes, "hidden_sizes")
                dsizes = hidden if self.discriminator_sizes is None else _sizes(self.discriminator_sizes, "discriminator_sizes")
                disc = mlp([n_features, *dsizes, 1], "leaky_relu")
        if self.lambda_adversarial == 0:
            disc = None
        return [None if m is None else m.to(self.device_, self.dtype_) for m in (encoder, decoder, disc)]

    # -- training --------------------------------------------------------------------------------
    @honour_threads
    def fit(self, X, y=None):
        """Train encoder, decoder (and discriminator) on pairs of rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : AEAI
        """
        self._validate_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self.device_ = resolve_device(self.device)
        self.dtype_ = resolve_dtype(self.dtype)
        self.latent_dim_ = int(self.latent_dim)
        data = to_tensor(X, self.device_, self.dtype_)
        n_init = int(self.n_init)
        seeds = _init_seeds(self.random_state, n_init)
        show = progress(self.verbose, n_init * self.epochs + self.refine_epochs, "AEAI")
        losses, best = [], None
        for i, run_seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(run_seed)
            self.encoder_, self.decoder_, self.discriminator_ = self._build_networks(X.shape[1], run_seed)
            self._train(data, gen, show)
            losses.append(self.loss_curve_[-1])
            if best is None or _lower_loss(losses[-1], losses[best[0]]):
                # the generator goes with the networks: the refinement then continues the
                # kept training's random stream, as it would have alone
                best = (i, run_seed, gen, self.encoder_, self.decoder_, self.discriminator_, self.loss_curve_,
                        self.loss_components_)
        self.best_init_, seed, gen, self.encoder_, self.decoder_, self.discriminator_ = best[:6]
        self.loss_curve_, self.loss_components_ = best[6:]
        self.init_losses_ = np.asarray(losses, dtype=np.float64)
        self._refine_decoder(data, gen, show)
        show.close()
        for module in (self.encoder_, self.decoder_, self.discriminator_):
            if module is not None:
                module.eval()
                module.requires_grad_(False)
        self.piecewise_linear_ = has_piecewise_linear_activation(self.decoder_)
        with torch.no_grad():
            self.latent_train_ = to_numpy(self.encoder_(data)).astype(np.float64)
        self._fit_density(seed)
        return self

    def _train(self, data, gen, show):
        E, G, D = self.encoder_, self.decoder_, self.discriminator_
        lam_a, lam_c, lam_s = float(self.lambda_adversarial), float(self.lambda_cycle), float(self.lambda_smoothness)
        opt = torch.optim.Adam([*E.parameters(), *G.parameters()], lr=self.learning_rate)
        opt_d = torch.optim.Adam(D.parameters(), lr=self.learning_rate, betas=(0.5, 0.999)) if D is not None else None
        schedules = []
        if self.lr_schedule == "cosine":
            schedules = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=self.epochs) for o in (opt, opt_d) if o is not None]
        softplus = nn.functional.softplus
        n = data.shape[0]
        batch_size = min(int(self.batch_size), n)
        K = int(self.n_alpha)
        names = ("reconstruction", "adversarial", "cycle", "smoothness", "discriminator")
        self.loss_curve_ = []
        self.loss_components_ = {k: [] for k in names}
        nan = float("nan")
        warmup = int(self.warmup_epochs)
        for epoch in range(self.epochs):
            on = epoch >= warmup  # warm-up epochs train L_R only (no discriminator step)
            order = torch.randperm(n, generator=gen).to(data.device)
            partner = torch.randperm(n, generator=gen).to(data.device)
            sums = dict.fromkeys(("total", *names), 0.0)
            count = 0
            for start in range(0, n, batch_size):
                x_i = data[order[start : start + batch_size]]
                x_j = data[partner[start : start + batch_size]]
                B = x_i.shape[0]
                alpha = torch.rand((B, K), generator=gen, dtype=data.dtype).to(data.device)
                enc = E
                if self.noise > 0:
                    eps = torch.randn((2 * B, data.shape[1]), generator=gen, dtype=data.dtype).to(data.device)
                    enc = _NoisyFirstCall(E, eps * float(self.noise))
                out = interpolation_losses(enc, G, x_i, x_j, alpha, need_cycle=on and lam_c > 0, need_smooth=on and lam_s > 0)
                loss = out["reconstruction"].mean()
                terms = {"reconstruction": float(out["reconstruction"].detach().mean())}
                x_hat = out["x_hat"].reshape(B * K, -1)
                if D is not None and on:
                    # discriminator step: training images (real) vs interpolants (fake)
                    d_loss = softplus(-D(x_i)).mean() + softplus(D(x_hat.detach())).mean()
                    _step(opt_d, d_loss)
                    terms["discriminator"] = float(d_loss.detach())
                    adv = softplus(-D(x_hat)).reshape(B, K).mean(-1).mean()
                    loss = loss + lam_a * adv
                    terms["adversarial"] = float(adv.detach())
                if out["cycle"] is not None:
                    scale = torch.cat([out["z_i"], out["z_j"]]).detach().var(0).sum().clamp_min(1e-12)
                    cyc = out["cycle"].mean() / (K * scale)
                    loss = loss + lam_c * cyc
                    terms["cycle"] = float(cyc.detach())
                if out["smoothness"] is not None:
                    smooth = out["smoothness"].mean() / K
                    loss = loss + lam_s * smooth
                    terms["smoothness"] = float(smooth.detach())
                _step(opt, loss)
                sums["total"] += float(loss.detach()) * B
                for k in names:
                    sums[k] += terms.get(k, nan) * B
                count += B
            self.loss_curve_.append(sums["total"] / count)
            for k in names:
                self.loss_components_[k].append(sums[k] / count)
            with warnings.catch_warnings():
                # during warm-up epochs the discriminator takes no step, and torch warns
                # that its schedule moves first: intended, the schedule counts epochs
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
                for schedule in schedules:
                    schedule.step()
            show.update(1)
            show.set_postfix(loss=f"{self.loss_curve_[-1]:.4g}")

    def _refine_decoder(self, data, gen, show):
        """The decoder alone on L_R, codes frozen (see ``refine_epochs``)."""
        self.refine_loss_curve_ = []
        if self.refine_epochs == 0:
            return
        E, G = self.encoder_, self.decoder_
        with torch.no_grad():
            codes = E(data)  # clean codes, also for a denoising autoencoder
        opt = torch.optim.Adam(G.parameters(), lr=0.1 * self.learning_rate)
        n = data.shape[0]
        batch_size = min(int(self.batch_size), n)
        for _ in range(self.refine_epochs):
            order = torch.randperm(n, generator=gen).to(data.device)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                rec = (G(codes[idx]) - data[idx]).pow(2).sum(1)
                _step(opt, rec.mean())
                total += float(rec.detach().sum())
            self.refine_loss_curve_.append(total / n)
            show.update(1)
            show.set_postfix(refine=f"{self.refine_loss_curve_[-1]:.4g}")

    def _fit_density(self, seed):
        from sklearn.mixture import GaussianMixture

        Z = self.latent_train_
        k = int(min(self.density_components, len(np.unique(Z, axis=0))))
        gmm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(Z)
        self.density_ = gmm
        self.log_density_module_ = GaussianMixtureLogDensity.from_sklearn(gmm, self.dtype_, self.device_)

    # -- the callables of the geometry core ------------------------------------------------------
    def _encode(self, x):
        return self.encoder_(x)

    def _decode(self, z):
        return self.decoder_(z)

    def _embed(self, z):
        return self.decoder_(z)

    def _embedding_parts(self):
        decoder = self.decoder_
        if isinstance(decoder, _ConvDecoder):
            # the same layers as one Sequential (shared modules), so that Jacobians go layer by layer
            q = decoder.side // 4
            decoder = nn.Sequential(decoder.fc, nn.Unflatten(1, (2 * decoder.width, q, q)), decoder.deconv,
                                    nn.Flatten())
        return [decoder], None

    def _log_density(self, z):
        return self.log_density_module_(z)

    def _sample_latent(self, n, generator):
        """Draws from the Gaussian mixture of the training codes, with ``generator``."""
        gmm = self.density_
        weights = torch.as_tensor(gmm.weights_, dtype=torch.float64)
        comp = torch.multinomial(weights, n, replacement=True, generator=generator) if n else torch.zeros(0, dtype=torch.long)
        chol = torch.linalg.cholesky(torch.as_tensor(gmm.covariances_, dtype=torch.float64))
        eps = torch.randn(n, self.latent_dim_, generator=generator, dtype=torch.float64)
        means = torch.as_tensor(gmm.means_, dtype=torch.float64)
        Z = means[comp] + (chol[comp] @ eps.unsqueeze(-1)).squeeze(-1)
        return Z.to(self.dtype_)

    def score_samples(self, X):
        """Negative squared reconstruction error ‖x − g(f(x))‖² of each row (higher is better)."""
        check_is_fitted(self)
        X = self._validate_X(X)
        Xr = self._batched(lambda x: self._decode(self._encode(x)), X)
        return -((Xr.astype(np.float64) - X) ** 2).sum(1)

    def score(self, X, y=None):
        """Mean of :meth:`score_samples` (higher is better)."""
        return float(np.mean(self.score_samples(X)))

    def reconstruction_error(self, X):
        """Mean squared error (per feature) between ``X`` and its reconstruction."""
        X = self._validate_X(X)
        return float(np.mean(-self.score_samples(X)) / X.shape[1])


def _init_seeds(random_state, n_init):
    """One seed per training of ``n_init``; the first is the single training's seed.

    With an integer ``random_state`` r, training i gets the seed of ``random_state=r + i``,
    so any of them can be reproduced alone; otherwise successive draws from it.
    """
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        return [seed_from((int(random_state) + i) % 2**32) for i in range(n_init)]  # RandomState takes < 2**32
    rng = check_random_state(random_state)
    return [seed_from(rng) for _ in range(n_init)]


def _lower_loss(loss, best_loss):
    """Whether a training with final loss ``loss`` beats the best so far (``n_init``).

    A diverged (NaN) training is kept only if every training diverged.
    """
    return loss < best_loss or (math.isnan(best_loss) and not math.isnan(loss))


class _NoisyFirstCall:
    """The encoder, with ``eps`` added to its input on the first call only (the clean
    pair); later calls (the cycle term on decoded interpolants) see no corruption."""

    def __init__(self, encoder, eps):
        self.encoder, self.eps, self.used = encoder, eps, False

    def __call__(self, x):
        if not self.used:
            self.used = True
            return self.encoder(x + self.eps)
        return self.encoder(x)


def _step(optimizer, loss):
    if not torch.isfinite(loss):
        raise FloatingPointError("training diverged (non-finite loss); lower learning_rate or rescale the data")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
