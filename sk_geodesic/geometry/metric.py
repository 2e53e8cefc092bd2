"""Pullback metric G(z) = J_φ(z)ᵀ J_φ(z) and its scalar diagnostics (pure Torch)."""

from __future__ import annotations

import torch
from torch.func import jacfwd, vmap


def jacobian(embed, Z):
    """Batched Jacobian of φ at ``Z`` (N, d) → (N, D, d), by forward-mode AD.

    Forward mode costs d Jacobian-vector products, cheap when d ≪ D (latent spaces).
    """
    return vmap(jacfwd(embed))(Z)


def metric_tensor(embed, Z):
    """G(z) = JᵀJ for each row of ``Z``: (N, d, d)."""
    J = jacobian(embed, Z)
    return J.transpose(-1, -2) @ J


def log_det_metric(embed, Z, eps=0.0):
    """log det G(z), (N,), via a Cholesky factor (``eps`` adds eps·I first)."""
    G = metric_tensor(embed, Z)
    if eps:
        G = G + eps * torch.eye(G.shape[-1], dtype=G.dtype, device=G.device)
    L, info = torch.linalg.cholesky_ex(G)
    logdet = 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    # Singular metric (info > 0): fall back to slogdet, which returns -inf there.
    bad = info > 0
    if bad.any():
        logdet = torch.where(bad, torch.linalg.slogdet(G)[1], logdet)
    return logdet


def magnification_factor(embed, Z):
    """sqrt(det G(z)): local volume change of the decoder, (N,)."""
    return torch.exp(0.5 * log_det_metric(embed, Z))


def condition_number(embed, Z):
    """Condition number of the Jacobian, σ_max / σ_min, (N,)."""
    s = torch.linalg.svdvals(jacobian(embed, Z))
    return s[..., 0] / s[..., -1]


def metric_in_chunks(fn, embed, Z, chunk_size=2048):
    """Apply one of the functions above to ``Z`` in chunks to bound memory."""
    return torch.cat([fn(embed, Z[i : i + chunk_size]) for i in range(0, Z.shape[0], chunk_size)])
