"""Gradient-based inversion of a decoder: z* = argmin_z ‖f(z) − x‖² (+ prior term)."""

from __future__ import annotations

import torch


def invert_decoder(decode, X, Z0, n_steps=200, learning_rate=0.05, log_density=None, prior_weight=0.0):
    """Refine latent codes ``Z0`` so that ``decode(Z)`` matches ``X``.

    All rows are solved at once with Adam; ``prior_weight`` > 0 adds
    −prior_weight · log p(z) to keep codes in high-density latent regions.
    Returns the refined codes (no grad).
    """
    Z = Z0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([Z], lr=learning_rate)
    for _ in range(int(n_steps)):
        loss = (decode(Z) - X).pow(2).sum(-1)
        if prior_weight and log_density is not None:
            loss = loss - prior_weight * log_density(Z)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
    return Z.detach()


@torch.no_grad()
def best_of_candidates(decode, X, candidates, batch_size=1024):
    """For each row of X, the candidate code whose decoding is closest."""
    decoded = torch.cat([decode(candidates[i : i + batch_size]) for i in range(0, len(candidates), batch_size)])
    best = []
    for i in range(0, X.shape[0], 256):
        d2 = torch.cdist(X[i : i + 256], decoded)
        best.append(d2.argmin(dim=1))
    return candidates[torch.cat(best)]
