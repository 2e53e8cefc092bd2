"""Pullback metric G(z) = J_φ(z)ᵀ J_φ(z) and its scalar diagnostics (pure Torch)."""

from __future__ import annotations

import torch
from torch.func import jacfwd, vmap


def jacobian(embed, Z):
    """Batched Jacobian of φ at ``Z`` (N, d) → (N, D, d), by forward-mode AD.

    Forward mode costs d Jacobian-vector products, cheap when d ≪ D (latent spaces). An
    embedding with its own ``value_and_jacobian``
    (:class:`~sk_geodesic.geometry.LayerwiseEmbedding`) carries the d tangents
    through its layers instead (the same numbers, fewer passes).
    """
    layerwise = getattr(embed, "value_and_jacobian", None)
    if layerwise is not None and Z.dim() == 2:
        return layerwise(Z)[0]
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


# -- Jacobian diagnostics (Ramirez, Gallego & Puerta, "On the geometry of deep generative
#    models"): the magnitude of the metric and the conditioning of the Jacobian ------------
def jacobian_diagnostics(embed, Z, chunk_size=1024):
    """log det(JᵀJ), magnification and κ(J) at ``Z`` (N, d) from one Jacobian per point.

    With σ_1 ≥ … ≥ σ_d the singular values of J = ∂φ/∂z (D × d, D ≥ d):

    * ``log_det``: log det(JᵀJ) = 2 Σ log σ_k (−inf where J is rank deficient);
    * ``magnification``: sqrt(det JᵀJ) = Π σ_k, the local volume change;
    * ``condition_number``: κ(J) = σ_1 / σ_d (≥ 1; inf where σ_d = 0). κ(JᵀJ) = κ(J)².

    Returns
    -------
    dict of str to Tensor (N,)
    """
    outs = {"log_det": [], "magnification": [], "condition_number": []}
    for i in range(0, Z.shape[0], chunk_size):
        s = torch.linalg.svdvals(jacobian(embed, Z[i : i + chunk_size]))
        log_det = 2.0 * torch.log(s).sum(-1)
        outs["log_det"].append(log_det)
        outs["magnification"].append(torch.exp(0.5 * log_det))
        outs["condition_number"].append(s[..., 0] / s[..., -1])
    return {k: torch.cat(v) for k, v in outs.items()}


def latent_plane(center, extent, resolution=50, directions=None):
    """Codes on a 2-D grid through ``center`` (d,): z = c + a·u + b·v.

    Parameters
    ----------
    center : Tensor (d,)
    extent : (a_min, a_max, b_min, b_max)
        Ranges of the plane coordinates a, b.
    resolution : int
        Grid points per axis.
    directions : Tensor (2, d) or None
        u and v; ``None`` uses the first two coordinate axes.

    Returns
    -------
    Z : Tensor (resolution, resolution, d)
        Row r, column c holds a = a_c, b = b_r (image layout, b increasing upwards with
        ``origin="lower"``).
    """
    center = torch.as_tensor(center)
    d = center.shape[-1]
    if directions is None:
        directions = torch.eye(d, dtype=center.dtype, device=center.device)[:2]
        if d < 2:
            raise ValueError("a latent plane needs latent_dim >= 2")
    directions = torch.as_tensor(directions, dtype=center.dtype, device=center.device)
    a = torch.linspace(extent[0], extent[1], resolution, dtype=center.dtype, device=center.device)
    b = torch.linspace(extent[2], extent[3], resolution, dtype=center.dtype, device=center.device)
    B, A = torch.meshgrid(b, a, indexing="ij")
    return center + A[..., None] * directions[0] + B[..., None] * directions[1]


def plane_through(codes):
    """Centre and orthonormal directions of the plane through three codes (3, d).

    Returns ``(center, directions, coords)``: the first code is the centre, the
    directions (2, d) span the plane (Gram–Schmidt), and ``coords`` (3, 2) are the
    plane coordinates of the three codes.
    """
    codes = torch.as_tensor(codes)
    if codes.shape[0] != 3:
        raise ValueError("plane_through needs exactly three codes")
    c = codes[0]
    u = codes[1] - c
    u = u / u.norm()
    w = codes[2] - c
    v = w - (w @ u) * u
    if v.norm() <= 100 * torch.finfo(v.dtype).eps * max(1.0, float(w.norm())):
        raise ValueError("the three codes are collinear")
    v = v / v.norm()
    D = torch.stack([u, v])
    return c, D, (codes - c) @ D.T


def grid_variation(values, spacing=1.0):
    """Roughness of a scalar field sampled on a 2-D grid (R, C).

    Returns ``(total_variation, mean_gradient_norm)``: the mean absolute difference
    between horizontally and vertically adjacent cells, and the mean norm of the
    central-difference gradient divided by ``spacing`` (in field units per unit of the
    plane coordinate). Non-finite cells are ignored.
    """
    V = torch.as_tensor(values, dtype=torch.float64)
    dx = (V[:, 1:] - V[:, :-1]).abs()
    dy = (V[1:, :] - V[:-1, :]).abs()
    diffs = torch.cat([dx.reshape(-1), dy.reshape(-1)])
    tv = diffs[torch.isfinite(diffs)].mean()
    gy, gx = torch.gradient(V, spacing=float(spacing))
    g = torch.sqrt(gx**2 + gy**2)
    return float(tv), float(g[torch.isfinite(g)].mean())
