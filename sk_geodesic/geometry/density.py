"""Latent log-densities and realism indices as differentiable Torch callables."""

from __future__ import annotations

import math

import torch
from torch import nn


class GaussianMixtureLogDensity(nn.Module):
    """log p(z) of a full-covariance Gaussian mixture, differentiable in ``z``.

    Parameters
    ----------
    weights : Tensor (K,)
    means : Tensor (K, d)
    covariances : Tensor (K, d, d)
    """

    def __init__(self, weights, means, covariances):
        super().__init__()
        chol = torch.linalg.cholesky(covariances)
        self.register_buffer("log_weights", torch.log(weights))
        self.register_buffer("means", means.clone())
        # L^{-1}: whitening; log|Σ|^{1/2} = Σ log diag L
        self.register_buffer("inv_chol", torch.linalg.inv(chol))
        self.register_buffer("half_logdet", torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1))

    def forward(self, z):
        single = z.dim() == 1
        if single:
            z = z.unsqueeze(0)
        diff = z.unsqueeze(-2) - self.means  # (N, K, d)
        white = torch.einsum("kij,nkj->nki", self.inv_chol, diff)
        d = z.shape[-1]
        comp = -0.5 * white.pow(2).sum(-1) - self.half_logdet - 0.5 * d * math.log(2 * math.pi)
        out = torch.logsumexp(comp + self.log_weights, dim=-1)
        return out[0] if single else out

    @classmethod
    def from_sklearn(cls, gmm, dtype=torch.float32, device="cpu"):
        """Build from a fitted :class:`sklearn.mixture.GaussianMixture`."""
        import numpy as np

        cov = gmm.covariances_
        d = gmm.means_.shape[1]
        kind = gmm.covariance_type
        if kind == "full":
            full = cov
        elif kind == "tied":
            full = np.repeat(cov[None], gmm.n_components, axis=0)
        elif kind == "diag":
            full = np.stack([np.diag(c) for c in cov])
        else:  # spherical
            full = np.stack([c * np.eye(d) for c in cov])
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float64)
        return cls(t(gmm.weights_), t(gmm.means_), t(full)).to(device=device, dtype=dtype)


class StandardNormalLogDensity(nn.Module):
    """log N(z; 0, I)."""

    def forward(self, z):
        d = z.shape[-1]
        return -0.5 * z.pow(2).sum(-1) - 0.5 * d * math.log(2 * math.pi)
