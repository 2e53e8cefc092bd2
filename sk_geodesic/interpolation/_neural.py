"""Curves parametrised by a small neural network (Ramirez, Gallego & Puerta 2020)."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval
from torch.func import jvp

from .._utils import seed_from
from ..geometry import curve_length, linear_curve
from ..manifolds._networks import has_piecewise_linear_activation
from ._base import Interpolator


def _curve_and_velocity(params, z0, z1, t):
    """g(t) and g′(t) for B curves at shared times t (n,): each (B, n, d).

    g(t) = (1−t) z0 + t z1 + t(1−t) ψ(t), ψ(t) = W2 tanh(w1 t + b1) + b2.
    """
    w1, b1, W2, b2 = params
    tt = t[None, :, None]  # (1, n, 1)
    pre = tt * w1[:, None, :] + b1[:, None, :]  # (B, n, H)
    a = torch.tanh(pre)
    psi = torch.einsum("bdh,bnh->bnd", W2, a) + b2[:, None, :]
    dpsi = torch.einsum("bdh,bnh->bnd", W2, (1 - a.pow(2)) * w1[:, None, :])
    delta = (z1 - z0)[:, None, :]
    g = z0[:, None, :] + tt * delta + tt * (1 - tt) * psi
    dg = delta + (1 - 2 * tt) * psi + tt * (1 - tt) * dpsi
    return g, dg


class NeuralCurve(Interpolator):
    """Latent curves g(t) = (1−t)z0 + t z1 + t(1−t)ψ(t; θ) trained to minimise energy.

    ψ is a one-hidden-layer tanh MLP R → R^d per pair, so the endpoints hold by
    construction and the curve is smooth. Every pair has its own parameters, stored
    as batched tensors (B, …) and trained together with Adam on the loss
    (1/n) Σ_i ‖J_φ(g(t_i)) g′(t_i)‖², evaluated with one forward-mode JVP
    (``torch.func.jvp``) of φ at all n training times of all pairs; g′ is analytic.
    ψ starts at zero (the straight segment). :meth:`path` samples the trained curve
    at ``n_points`` equally spaced t. A pair whose trained curve comes out longer
    (discrete length at ``n_points``) than its initial straight segment keeps the
    straight segment, which the network can represent (ψ = 0).

    A UserWarning is emitted at ``fit`` when the manifold's networks use
    piecewise-linear activations (ReLU-like): their second derivatives vanish, so
    the metric is piecewise constant and the training signal poor.

    Parameters
    ----------
    manifold : GenerativeManifold, FrozenEstimator or None, default=None
    hidden_size : int, default=16
        Width of ψ's hidden layer.
    n_train_points : int, default=32
        Equally spaced t at which the loss is evaluated.
    learning_rate : float, default=0.01
    n_points : int, default=35
        Points returned by :meth:`path`.
    max_iter : int, default=500
        Adam steps.
    tol : float, default=1e-4
        A pair has converged when its loss fell by less than ``tol`` (relative) over
        the last 20 steps.
    init : {"linear"}, default="linear"
        Only the straight segment (ψ = 0) is supported as a start.
    n_neighbors : int, default=10
        Unused (kept for the common interface).
    device : str, default="auto"
    batch_size : int, default=256
    n_jobs : int or None, default=None
    random_state : int, RandomState instance or None, default=None
    verbose : bool, default=False

    Attributes
    ----------
    manifold_ : GenerativeManifold
    latent_dim_ : int
    n_features_in_ : int

    Examples
    --------
    >>> import torch
    >>> from sk_geodesic.manifolds import PretrainedManifold
    >>> from sk_geodesic.interpolation import NeuralCurve
    >>> def sphere(z):
    ...     u, v = z[..., 0], z[..., 1]
    ...     return torch.stack([u.cos() * v.cos(), u.sin() * v.cos(), v.sin()], -1)
    >>> m = PretrainedManifold(sphere, latent_dim=2, dtype="float64").fit()
    >>> nc = NeuralCurve(manifold=m, random_state=0).fit(m.sample(5, random_state=0)[0])
    >>> p = nc.path([0.0, 0.5], [2.0, 0.5], latent=True)
    >>> round(float(p.length[0]), 2)  # great circle: 1.662
    1.66
    """

    _parameter_constraints: dict = {
        **Interpolator._parameter_constraints,
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "n_train_points": [Interval(Integral, 3, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        manifold=None,
        hidden_size=16,
        n_train_points=32,
        learning_rate=0.01,
        n_points=35,
        max_iter=500,
        tol=1e-4,
        init="linear",
        n_neighbors=10,
        device="auto",
        batch_size=256,
        n_jobs=None,
        random_state=None,
        verbose=False,
    ):
        self.manifold = manifold
        self.hidden_size = hidden_size
        self.n_train_points = n_train_points
        self.learning_rate = learning_rate
        self.n_points = n_points
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.n_neighbors = n_neighbors
        self.device = device
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _check_params_at_fit(self):
        if self.init != "linear":
            raise ValueError(f"NeuralCurve supports only init='linear', got init={self.init!r}.")
        m = self._geometry
        modules = [v for v in vars(m).values() if isinstance(v, torch.nn.Module)]
        if any(has_piecewise_linear_activation(mod) for mod in modules):
            warnings.warn(
                "the manifold's networks use piecewise-linear activations (ReLU-like): their second "
                "derivatives vanish, so the metric is piecewise constant and neural curves train poorly; "
                "prefer smooth activations (tanh, softplus).",
                UserWarning,
                stacklevel=3,
            )

    def _solve(self, Z):
        embed = self._geometry.embedding_map()
        B, n, d = Z.shape
        z0, z1 = Z[:, 0].detach(), Z[:, -1].detach()
        dt, dev = Z.dtype, Z.device
        gen = torch.Generator().manual_seed(seed_from(self.random_state))
        H = self.hidden_size
        w1 = (torch.randn(B, H, generator=gen, dtype=dt) * 2.0).to(dev).requires_grad_(True)
        b1 = (torch.randn(B, H, generator=gen, dtype=dt)).to(dev).requires_grad_(True)
        W2 = torch.zeros(B, d, H, dtype=dt, device=dev, requires_grad=True)
        b2 = torch.zeros(B, d, dtype=dt, device=dev, requires_grad=True)
        params = [w1, b1, W2, b2]
        opt = torch.optim.Adam(params, lr=self.learning_rate)
        t = torch.linspace(0.0, 1.0, self.n_train_points, dtype=dt, device=dev)
        history = []
        converged = torch.zeros(B, dtype=torch.bool)
        n_iter = torch.zeros(B, dtype=torch.long)
        with torch.enable_grad():
            for it in range(int(self.max_iter)):
                g, dg = _curve_and_velocity(params, z0, z1, t)
                _, v = jvp(embed, (g.reshape(-1, d),), (dg.reshape(-1, d),))
                loss = v.reshape(B, self.n_train_points, -1).pow(2).sum(-1).mean(-1)  # (B,)
                opt.zero_grad()
                loss.sum().backward()
                opt.step()
                n_iter[~converged] += 1
                history.append(loss.detach().cpu())
                if len(history) > 20:
                    old, new = history[-21], history[-1]
                    converged |= (old - new).abs() <= self.tol * old.abs().clamp_min(1e-12)
                    if bool(converged.all()):
                        break
        ts = torch.linspace(0.0, 1.0, self.n_points, dtype=dt, device=dev)
        with torch.no_grad():
            out, _ = _curve_and_velocity([p.detach() for p in params], z0, z1, ts)
            out[:, 0], out[:, -1] = z0, z1
            lin = linear_curve(z0, z1, self.n_points)
            worse = curve_length(embed, out) > curve_length(embed, lin)
            out = torch.where(worse[:, None, None], lin, out)
        return out, converged.to(dev), n_iter.to(dev)
