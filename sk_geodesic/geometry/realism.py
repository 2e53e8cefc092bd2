"""Realism indices (Struski et al.) and path objectives built on them (pure Torch).

A realism index ri: Z → [0, 1] turns a score f (higher = more realistic) into the
probability ri(z) = P(f(X) ≤ f(z)) of a random latent draw X being *less* realistic
than z. Every index here is a differentiable Torch callable ``(N, d) -> (N,)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_SQRT2 = math.sqrt(2.0)


def rescale_index(ri, epsilon):
    """ri_ε = ε + (1 − 2ε)·ri, which maps [0, 1] into [ε, 1 − ε]."""
    return epsilon + (1.0 - 2.0 * epsilon) * ri


def normal_cdf(x):
    """Φ(x), the standard normal CDF."""
    return 0.5 * (1.0 + torch.erf(x / _SQRT2))


class ChiSquareRealismIndex(nn.Module):
    """Realism index of the N(0, I_D) prior: ri(z) = 1 − F_χ²_D(‖z‖²).

    Computed exactly (and differentiably in z) as the regularised upper incomplete
    gamma function Q(D/2, ‖z‖²/2). With ``asymptotic=True`` the paper's large-D
    approximation ri(z) ≈ ½ + ½ erf(sqrt(D − ½) − ‖z‖) (Struski et al., eq. 6) is
    used instead.
    """

    def __init__(self, asymptotic=False):
        super().__init__()
        self.asymptotic = asymptotic

    def forward(self, z):
        D = z.shape[-1]
        r2 = z.pow(2).sum(-1)
        if self.asymptotic:
            return 0.5 + 0.5 * torch.erf(math.sqrt(D - 0.5) - r2.clamp_min(1e-30).sqrt())
        a = torch.full_like(r2, 0.5 * D)
        return torch.special.gammaincc(a, 0.5 * r2)


class KDECDF1D(nn.Module):
    """CDF of a 1-D Gaussian kernel density estimate: mean_i Φ((x − x_i)/h)."""

    def __init__(self, samples, bandwidth):
        super().__init__()
        self.register_buffer("samples", torch.as_tensor(samples).reshape(-1).clone())
        self.bandwidth = float(bandwidth)

    def forward(self, x):
        s = self.samples.to(x.dtype)
        return normal_cdf((x.unsqueeze(-1) - s) / self.bandwidth).mean(-1)


class GMMCDF1D(nn.Module):
    """CDF of a 1-D Gaussian mixture: Σ_k w_k Φ((x − m_k)/s_k)."""

    def __init__(self, weights, means, stds):
        super().__init__()
        self.register_buffer("weights", torch.as_tensor(weights).reshape(-1).clone())
        self.register_buffer("means", torch.as_tensor(means).reshape(-1).clone())
        self.register_buffer("stds", torch.as_tensor(stds).reshape(-1).clone())

    def forward(self, x):
        x = x.unsqueeze(-1)
        return (self.weights.to(x.dtype) * normal_cdf((x - self.means.to(x.dtype)) / self.stds.to(x.dtype))).sum(-1)


class ScoreRealismIndex(nn.Module):
    """ri(z) = cdf(score(z)), a score (e.g. log f) pushed through an estimated CDF.

    Parameters
    ----------
    score : callable
        z ↦ log f(z), ``(N, d) -> (N,)``.
    cdf : callable
        The (smoothed) CDF of ``log f(X)`` over samples X of the latent distribution.
    """

    def __init__(self, score, cdf):
        super().__init__()
        self.score = score
        self.cdf = cdf

    def forward(self, z):
        return self.cdf(self.score(z)).clamp(0.0, 1.0)


class GaussianFeatureLogLikelihood(nn.Module):
    """FID-style score log N(I(G(z)); μ_T, Σ_T) (up to a constant).

    Parameters
    ----------
    decoder : callable
        z ↦ x (flattened decoded mean).
    extractor : callable
        x ↦ features ``(N, k)``.
    mean : Tensor (k,)
    precision_chol : Tensor (k, k)
        A matrix W with Wᵀ W = Σ_T⁻¹ (e.g. the inverse Cholesky factor).
    """

    def __init__(self, decoder, extractor, mean, precision_chol):
        super().__init__()
        self.decoder = decoder
        self.extractor = extractor
        self.register_buffer("mean", mean.clone())
        self.register_buffer("precision_chol", precision_chol.clone())

    def forward(self, z):
        feats = self.extractor(self.decoder(z))
        w = (feats - self.mean.to(feats.dtype)) @ self.precision_chol.to(feats.dtype).T
        return -0.5 * w.pow(2).sum(-1)


def segment_realism(ri_points):
    """(ri(z_i) + ri(z_{i+1})) / 2 for each segment: (B, n) → (B, n − 1)."""
    return 0.5 * (ri_points[:, 1:] + ri_points[:, :-1])


def realism_energy(embed, ri, Z, epsilon):
    """Struski et al. eq. 19: Σ_i log²((ri_ε(z_i) + ri_ε(z_{i+1}))/2)·‖Δφ_i‖², (B,)."""
    B, n, d = Z.shape
    flat = Z.reshape(B * n, d)
    X = embed(flat).reshape(B, n, -1)
    r = rescale_index(ri(flat).reshape(B, n), epsilon)
    w = torch.log(segment_realism(r)).pow(2)
    return (w * (X[:, 1:] - X[:, :-1]).pow(2).sum(-1)).sum(-1)


def path_realism(embed, ri, Z, epsilon=0.0, normalize=False):
    """Realism of discrete curves, Struski et al. eq. 12, (B,).

    ri(γ) = exp(Σ_i log((ri_ε(z_i) + ri_ε(z_{i+1}))/2)·‖Δφ_i‖). With
    ``normalize=True`` the exponent is divided by the length Σ‖Δφ_i‖ (a
    length-weighted geometric mean of the index, in [0, 1] and independent of
    the path's length).
    """
    B, n, d = Z.shape
    flat = Z.reshape(B * n, d)
    X = embed(flat).reshape(B, n, -1)
    r = rescale_index(ri(flat).reshape(B, n), epsilon)
    seg = (X[:, 1:] - X[:, :-1]).norm(dim=-1)
    logr = torch.log(segment_realism(r).clamp_min(torch.finfo(Z.dtype).tiny))
    expo = (logr * seg).sum(-1)
    if normalize:
        expo = expo / seg.sum(-1).clamp_min(torch.finfo(Z.dtype).tiny)
    return torch.exp(expo)


def straighten_segments(objective_of, Z, n_trials, generator=None):
    """Random-segment step of Struski et al. §4, batched over curves.

    For each trial, every curve draws its own pair i < j (j ≥ i + 2); the points
    strictly between are replaced by the straight latent segment from z_i to z_j when
    that lowers the curve's objective.

    Parameters
    ----------
    objective_of : callable
        Z (B, n, d) → objective (B,).
    Z : Tensor (B, n, d)
    n_trials : int

    Returns
    -------
    Z : Tensor (B, n, d), objective : Tensor (B,)
    """
    B, n, d = Z.shape
    Z = Z.clone()
    f = objective_of(Z)
    if n < 3:
        return Z, f
    idx = torch.arange(n, device=Z.device)
    rows = torch.arange(B, device=Z.device)
    for _ in range(int(n_trials)):
        a = torch.randint(0, n, (B,), generator=generator).to(Z.device)
        b = torch.randint(0, n, (B,), generator=generator).to(Z.device)
        i, j = torch.minimum(a, b), torch.maximum(a, b)
        ok = (j - i) >= 2
        if not bool(ok.any()):
            continue
        span = (j - i).clamp_min(1).to(Z.dtype)
        w = ((idx[None, :] - i[:, None]).to(Z.dtype) / span[:, None]).clamp(0, 1)  # (B, n)
        zi, zj = Z[rows, i], Z[rows, j]
        straight = zi[:, None] + w[..., None] * (zj - zi)[:, None]
        inside = ((idx[None, :] > i[:, None]) & (idx[None, :] < j[:, None]) & ok[:, None])[..., None]
        cand = torch.where(inside, straight, Z)
        f_new = objective_of(cand)
        better = (f_new < f) & ok
        Z = torch.where(better[:, None, None], cand, Z)
        f = torch.where(better, f_new, f)
    return Z, f
