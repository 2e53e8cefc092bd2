"""The common dense float64 evaluator and the converged L-BFGS reference of the bench."""

from __future__ import annotations

import copy
import math

import torch


def float64_embed(model):
    """A float64 copy of a bench model's embedding φ (decoder, and σ net when present)."""
    dec = copy.deepcopy(model["decoder"]).double()
    std = None if model["std"] is None else copy.deepcopy(model["std"]).double()
    if std is None:
        return dec
    return lambda z: torch.cat([dec(z), std(z)], -1)


def subdivide(Z, s):
    """Insert s − 1 equally spaced points in every latent segment: (B, n, d) → (B, (n−1)s+1, d)."""
    B, n, d = Z.shape
    a = torch.arange(s, dtype=Z.dtype, device=Z.device) / s
    seg = Z[:, :-1, None] + a[None, None, :, None] * (Z[:, 1:, None] - Z[:, :-1, None])
    return torch.cat([seg.reshape(B, (n - 1) * s, d), Z[:, -1:]], 1)


def _segment_lengths64(embed64, A, Bp, s, chunk):
    """float64 φ-lengths of the straight latent segments A[i]–Bp[i] at s and s/2 steps."""
    t = torch.arange(s + 1, dtype=torch.float64) / s
    out, half = [], []
    per = max(1, chunk // (s + 1))
    for i in range(0, len(A), per):
        P = A[i : i + per, None] + t[None, :, None] * (Bp[i : i + per, None] - A[i : i + per, None])
        m, N, d = P.shape
        X = embed64(P.reshape(-1, d)).reshape(m, N, -1)
        out.append((X[:, 1:] - X[:, :-1]).norm(dim=-1).sum(-1))
        Xh = X[:, ::2]
        half.append((Xh[:, 1:] - Xh[:, :-1]).norm(dim=-1).sum(-1))
    return torch.cat(out), torch.cat(half)


@torch.no_grad()
def dense_length(embed64, Z, min_segments=512, chunk=65536, rtol=1e-4, max_sub=4096):
    """φ-length of the piecewise-linear latent curves Z, in float64.

    Every latent segment is measured at ≥ 16 sub-segments (≥ ``min_segments`` per curve);
    a segment whose chord sum changes by more than ``rtol`` relative between s/2 and s
    sub-segments (a steep wall of φ between sub-points) is measured again at 4× finer
    sub-division, up to ``max_sub``. The chord sums' O(h²) error is then removed by
    Richardson extrapolation, L_s + (L_s − L_{s/2})/3 (error far below ``rtol``).
    """
    Z = torch.as_tensor(Z).double()
    B, n, d = Z.shape
    s = max(16, math.ceil(min_segments / (n - 1)))
    s += s % 2
    A, Bp = Z[:, :-1].reshape(-1, d), Z[:, 1:].reshape(-1, d)
    L, Lh = _segment_lengths64(embed64, A, Bp, s, chunk)
    bad = (L - Lh).abs() > rtol * L.abs().clamp_min(1e-300)
    while bool(bad.any()) and s < max_sub:
        s = min(4 * s, max_sub)
        idx = bad.nonzero().squeeze(-1)
        Lb, Lhb = _segment_lengths64(embed64, A[idx], Bp[idx], s, chunk)
        L[idx], Lh[idx] = Lb, Lhb
        bad = torch.zeros_like(bad)
        bad[idx[(Lb - Lhb).abs() > rtol * Lb.abs().clamp_min(1e-300)]] = True
    L = L + (L - Lh) / 3.0
    return L.reshape(B, n - 1).sum(-1)


def lbfgs_polish(embed, Z, n_nodes=65, sub=4, iters=300, dtype=torch.float32):
    """Polish curves by L-BFGS on the energy of their ``sub``-times subdivided polyline.

    All pairs are optimised jointly (the objective is the sum of each pair's energy
    divided by its initial energy, so every pair weighs the same); the curves are first
    resampled to ``n_nodes`` nodes (the same piecewise-linear curve when ``n_nodes − 1``
    is a multiple of the original segment count). Returns the polished nodes.
    """
    Z = resample(torch.as_tensor(Z, dtype=dtype), n_nodes)
    z0, z1 = Z[:, :1], Z[:, -1:]
    inner = Z[:, 1:-1].clone().requires_grad_(True)

    def energy():
        P = subdivide(torch.cat([z0, inner, z1], 1), sub)
        B, N, d = P.shape
        X = embed(P.reshape(-1, d)).reshape(B, N, -1)
        return (X[:, 1:] - X[:, :-1]).pow(2).sum((-1, -2)) * (N - 1)

    with torch.no_grad():
        e0 = energy().clamp_min(1e-30)
    opt = torch.optim.LBFGS([inner], lr=1, max_iter=iters, history_size=20, tolerance_grad=0,
                            tolerance_change=0, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        e = (energy() / e0).sum()
        e.backward()
        return e

    opt.step(closure)
    return torch.cat([z0, inner.detach(), z1], 1)


def resample(Z, n):
    """Piecewise-linear resampling at n equal steps of the node index."""
    B, m, d = Z.shape
    if m == n:
        return Z
    s = torch.linspace(0.0, m - 1, n, dtype=Z.dtype)
    i0 = s.floor().long().clamp(max=m - 2)
    w = (s - i0.to(Z.dtype))[None, :, None]
    return Z[:, i0] * (1 - w) + Z[:, i0 + 1] * w
