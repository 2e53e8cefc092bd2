"""Batched discrete curves (B, n, d): length, energy, resampling (pure Torch).

With Δφ_i = φ(z_{i+1}) − φ(z_i): length L = Σ‖Δφ_i‖ and energy
E = (n−1) Σ‖Δφ_i‖², so L² ≤ E with equality at constant speed.
"""

from __future__ import annotations

import torch


def linear_curve(z0, z1, n_points):
    """Straight latent segments: (B, d), (B, d) → (B, n, d)."""
    t = torch.linspace(0.0, 1.0, n_points, dtype=z0.dtype, device=z0.device)
    return z0.unsqueeze(1) + t[None, :, None] * (z1 - z0).unsqueeze(1)


def embed_curve(embed, Z):
    """φ applied to every point of a batch of curves: (B, n, d) → (B, n, D)."""
    B, n, d = Z.shape
    return embed(Z.reshape(B * n, d)).reshape(B, n, -1)


def segment_lengths(embed, Z):
    """‖Δφ_i‖ for each segment: (B, n−1)."""
    X = embed_curve(embed, Z)
    return (X[:, 1:] - X[:, :-1]).norm(dim=-1)


def curve_length(embed, Z):
    """Discrete length Σ‖Δφ_i‖ of each curve: (B,)."""
    return segment_lengths(embed, Z).sum(-1)


def curve_energy(embed, Z):
    """Discrete energy (n−1)Σ‖Δφ_i‖² of each curve: (B,)."""
    X = embed_curve(embed, Z)
    return (Z.shape[1] - 1) * (X[:, 1:] - X[:, :-1]).pow(2).sum((-1, -2))


def resample(Z, n_points):
    """Piecewise-linear resampling of latent curves at ``n_points`` equal steps of t."""
    B, n, d = Z.shape
    if n == n_points:
        return Z
    s = torch.linspace(0.0, n - 1, n_points, dtype=Z.dtype, device=Z.device)
    i0 = s.floor().long().clamp(max=n - 2)
    w = (s - i0.to(Z.dtype))[None, :, None]
    return Z[:, i0] * (1 - w) + Z[:, i0 + 1] * w


def reparametrize_constant_speed(embed, Z):
    """Move the interior points so consecutive φ-steps are (nearly) equal.

    The curve is treated as piecewise linear in latent space, with φ-lengths
    measured on its current segments.
    """
    B, n, d = Z.shape
    seg = segment_lengths(embed, Z)
    cum = torch.cat([torch.zeros(B, 1, dtype=Z.dtype, device=Z.device), seg.cumsum(-1)], dim=-1)
    total = cum[:, -1:].clamp_min(torch.finfo(Z.dtype).tiny)
    cum = cum / total
    target = torch.linspace(0.0, 1.0, n, dtype=Z.dtype, device=Z.device).expand(B, n).contiguous()
    idx = torch.searchsorted(cum.contiguous(), target, right=True).clamp(1, n - 1) - 1
    c0 = cum.gather(1, idx)
    c1 = cum.gather(1, idx + 1)
    w = ((target - c0) / (c1 - c0).clamp_min(torch.finfo(Z.dtype).tiny)).clamp(0, 1).unsqueeze(-1)
    z0 = Z.gather(1, idx.unsqueeze(-1).expand(B, n, d))
    z1 = Z.gather(1, (idx + 1).unsqueeze(-1).expand(B, n, d))
    out = z0 + w * (z1 - z0)
    out[:, 0], out[:, -1] = Z[:, 0], Z[:, -1]
    return out
