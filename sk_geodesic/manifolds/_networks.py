"""Torch building blocks of the generative models (no sklearn here)."""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
}

#: Activations whose second derivative vanishes almost everywhere.
PIECEWISE_LINEAR = (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.Hardtanh)


def mlp(sizes, activation="tanh", out_activation=None):
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]``."""
    act = ACTIVATIONS[activation]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    if out_activation is not None:
        layers.append(ACTIVATIONS[out_activation]())
    return nn.Sequential(*layers)


def has_piecewise_linear_activation(module):
    """True when ``module`` contains ReLU-like layers (zero second derivatives)."""
    if not isinstance(module, nn.Module):
        return False
    return any(isinstance(m, PIECEWISE_LINEAR) for m in module.modules())


class RBFPrecision(nn.Module):
    """Inverse variance β(z) = Σ_k W_k exp(−λ_k ‖z − c_k‖²) + ζ of Arvanitidis et al. (2018).

    Far from every centre c_k, β → ζ, so σ(z) = β(z)^{-1/2} grows to ζ^{-1/2}; the
    expected metric then becomes large off the data and geodesics stay on it.
    W = exp(log_weight) stays positive, and Adam moves it multiplicatively, which
    matters because precisions span orders of magnitude.
    """

    def __init__(self, centers, bandwidths, n_outputs, zeta=1e-2, init_weight=1.0):
        super().__init__()
        self.register_buffer("centers", centers.clone())
        self.register_buffer("bandwidths", bandwidths.clone())
        init = torch.as_tensor(init_weight, dtype=centers.dtype).clamp_min(1e-6).log()
        self.log_weight = nn.Parameter(init.expand(centers.shape[0], n_outputs).clone())
        self.zeta = float(zeta)

    def activations(self, z):
        d2 = (z.unsqueeze(-2) - self.centers).pow(2).sum(-1)  # (..., K)
        return torch.exp(-self.bandwidths * d2)

    def forward(self, z):
        precision = self.activations(z) @ self.log_weight.exp() + self.zeta
        return precision.rsqrt()


class SoftplusStd(nn.Module):
    """σ(z) = softplus(MLP(z)) + floor: the plain learned standard-deviation network."""

    def __init__(self, sizes, activation="tanh", floor=1e-3):
        super().__init__()
        self.net = mlp(sizes, activation)
        self.floor = float(floor)

    def forward(self, z):
        return nn.functional.softplus(self.net(z)) + self.floor


class ConstantStd(nn.Module):
    """A learned, position-independent σ per output (zero Jacobian: adds nothing to G)."""

    def __init__(self, n_outputs, init=0.1):
        super().__init__()
        self.log_std = nn.Parameter(torch.full((n_outputs,), math.log(init)))

    def forward(self, z):
        return self.log_std.exp().expand(*z.shape[:-1], -1)
