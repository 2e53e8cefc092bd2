"""MNIST decoders for the geodesic bench, trained here without the package's VAE class.

Plain ``torch.nn.Sequential`` encoders/decoders (MLPs of three kinds, and a
transposed-convolution decoder), a Bernoulli VAE
objective, and for the expected metric an RBF precision network fitted afterwards
(Arvanitidis et al. 2018): β(z) = W v(z) + ζ with v_k(z) = exp(−‖z − c_k‖² / (2 h_k²)),
σ(z) = β(z)^{−1/2}. Centres are k-means centres of the training codes, bandwidths come
from each cluster's spread, W is fitted to the per-cluster residual variances, and ζ is
set so that σ far from the data is ``far_ratio`` (default 100) times the median σ on it.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

ARCHS = {
    # name: (hidden sizes, activation)
    "mlp-tanh": ((256,), nn.Tanh),
    "mlp-softplus": ((128, 512), nn.Softplus),
    "mlp-relu": ((512, 512), nn.ReLU),
    # an MLP encoder (784-256) and a transposed-convolution decoder (see _conv_decoder)
    "conv-elu": ((256,), nn.ELU),
}


def _conv_decoder(latent_dim, act):
    """latent → 32×7×7 → 16×14×14 → 1×28×28 (transposed convolutions), flattened, sigmoid."""
    return nn.Sequential(
        nn.Linear(latent_dim, 32 * 7 * 7), act(), nn.Unflatten(1, (32, 7, 7)),
        nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), act(),
        nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1), nn.Flatten(), nn.Sigmoid())


def _mlp(sizes, act, out_act=None):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    layers = layers[:-1]
    if out_act is not None:
        layers.append(out_act())
    return nn.Sequential(*layers)


class RBFStd(nn.Module):
    """σ(z) = (W v(z) + ζ)^{−1/2} with Gaussian RBF features v."""

    def __init__(self, centers, bandwidths, W, zeta):
        super().__init__()
        self.register_buffer("c", centers)
        self.register_buffer("g", 0.5 / bandwidths.pow(2))
        self.register_buffer("W", W)  # (K, D)
        self.register_buffer("zeta", torch.as_tensor(zeta, dtype=centers.dtype))

    def forward(self, z):
        d2 = (z.unsqueeze(-2) - self.c).pow(2).sum(-1)  # (..., K)
        v = torch.exp(-self.g * d2)
        return (v @ self.W + self.zeta).rsqrt()


class Concat(nn.Module):
    """φ(z) = concat(μ(z), σ(z)): the embedding of the expected metric."""

    def __init__(self, decoder, std):
        super().__init__()
        self.decoder, self.std = decoder, std

    def forward(self, z):
        return torch.cat([self.decoder(z), self.std(z)], -1)


class MeanHead(nn.Module):
    """The encoder mean: the first ``latent_dim`` outputs of the encoder net."""

    def __init__(self, net, latent_dim):
        super().__init__()
        self.net, self.latent_dim = net, latent_dim

    def forward(self, x):
        return self.net(x)[..., : self.latent_dim]


def train_vae(X, latent_dim, arch, seed=0, epochs=10, batch_size=128, verbose=True):
    """A Bernoulli VAE with plain Sequential nets; returns (encoder_mean, decoder, codes)."""
    hidden, act = ARCHS[arch]
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    D = X.shape[1]
    enc = _mlp([D, *hidden[::-1], 2 * latent_dim], act)
    dec = _conv_decoder(latent_dim, act) if arch.startswith("conv") else _mlp([latent_dim, *hidden, D], act, nn.Sigmoid)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    t = time.perf_counter()
    for ep in range(epochs):
        perm = torch.randperm(len(Xt), generator=g)
        for i in range(0, len(Xt), batch_size):
            x = Xt[perm[i : i + batch_size]]
            h = enc(x)
            mu, logvar = h[:, :latent_dim], h[:, latent_dim:].clamp(-10, 5)
            z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)
            p = dec(z).clamp(1e-6, 1 - 1e-6)
            rec = -(x * p.log() + (1 - x) * (1 - p).log()).sum(-1)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
            loss = (rec + kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p in [*enc.parameters(), *dec.parameters()]:
        p.requires_grad_(False)
    with torch.no_grad():
        codes = enc(Xt)[:, :latent_dim]
    if verbose:
        print(f"  trained {arch} VAE d={latent_dim} ({epochs} epochs) in {time.perf_counter() - t:.0f}s, last loss {loss.item():.1f}")
    encoder = MeanHead(enc, latent_dim)
    return encoder, dec, codes


def fit_rbf_std(X, decoder, codes, n_centers=32, far_ratio=100.0, seed=0, bandwidth_scale=1.0):
    """The RBF σ network of the expected metric (see module docstring)."""
    from sklearn.cluster import KMeans

    Z = codes.numpy().astype(np.float64)
    km = KMeans(n_centers, n_init=2, random_state=seed).fit(Z)
    C = km.cluster_centers_
    lab = km.labels_
    with torch.no_grad():
        res = (torch.as_tensor(X, dtype=torch.float32) - decoder(codes)).pow(2).numpy()
    K, D = n_centers, X.shape[1]
    h = np.zeros(K)
    var = np.zeros((K, D))
    for k in range(K):
        m = lab == k
        h[k] = bandwidth_scale * np.sqrt(((Z[m] - C[k]) ** 2).sum(-1).mean() / Z.shape[1])
        var[k] = res[m].mean(0) + 1e-4
    h = np.maximum(h, 1e-3)
    # W so that β at cluster k's members ≈ 1/var_k: regress with the RBF features (nonneg LSQ-lite)
    V = np.exp(-0.5 * ((Z[:, None, :] - C[None]) ** 2).sum(-1) / h[None] ** 2)  # (N, K)
    target = 1.0 / var[lab]  # (N, D)
    W, *_ = np.linalg.lstsq(V, target, rcond=None)
    W = np.maximum(W, 0.0)
    beta_data = V @ W  # precision on the training codes without ζ
    sigma_data = np.median(1.0 / np.sqrt(np.maximum(beta_data, 1e-12)))
    zeta = 1.0 / (far_ratio * sigma_data) ** 2
    return RBFStd(torch.as_tensor(C, dtype=torch.float32), torch.as_tensor(h, dtype=torch.float32),
                  torch.as_tensor(W, dtype=torch.float32), zeta)


def make_models(X, specs, epochs=10, seed=0, verbose=True):
    """``specs``: list of (latent_dim, arch, metric) with metric in {"mean", "expected"}.

    Returns a list of dicts: name, decoder, std (or None), embed, codes, encoder.
    """
    cache = {}
    out = []
    for d, arch, metric in specs:
        key = (d, arch)
        if key not in cache:
            cache[key] = train_vae(X, d, arch, seed=seed + d, epochs=epochs, verbose=verbose)
        enc, dec, codes = cache[key]
        std = fit_rbf_std(X, dec, codes, seed=seed) if metric == "expected" else None
        if std is None:
            embed = dec
        else:
            embed = Concat(dec, std)
        if std is not None and verbose:
            with torch.no_grad():
                s_on = std(codes).median().item()
                far = codes.abs().max() * 3
                s_far = std(torch.full((1, d), float(far))).median().item()
            print(f"  RBF σ: median on data {s_on:.3g}, far {s_far:.3g} ({s_far / s_on:.0f}x)")
        out.append(dict(name=f"d={d} {arch} {metric}", latent_dim=d, decoder=dec, std=std, embed=embed,
                        codes=codes, encoder=enc, metric=metric))
    return out
