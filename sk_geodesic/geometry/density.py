"""Latent log-densities and realism indices as differentiable Torch callables."""

from __future__ import annotations

import math

import torch
from torch import nn

from .metric import log_det_metric


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


# -- the density-regularised curve objective (Kim & Zhang 2019) and its solver ------------------


def soft_maximum(h, temperature):
    """τ · log mean_j exp(h_j / τ) over the last axis: a smooth maximum of ``h``.

    It lies between the mean (τ → ∞) and the maximum (τ → 0) of ``h``, and a constant
    added to ``h`` comes out unchanged.

    Parameters
    ----------
    h : Tensor (..., N)
    temperature : float or None
        τ > 0, in the units of ``h``; ``None`` (or ``inf``) returns the mean, the
        quadrature of ∫ h dt.

    Returns
    -------
    Tensor (...)

    Examples
    --------
    >>> import torch
    >>> from sk_geodesic.geometry import soft_maximum
    >>> h = torch.tensor([0.0, 0.0, 10.0])
    >>> float(soft_maximum(h, None)), round(float(soft_maximum(h, 1.0)), 3)
    (3.3333332538604736, 8.901)
    """
    if temperature is None or math.isinf(temperature):
        return h.mean(-1)
    tau = float(temperature)
    return tau * (torch.logsumexp(h / tau, dim=-1) - math.log(h.shape[-1]))


def data_space_penalty(embed, log_density, eps=1e-10):
    """h(z) = −log p(z) + ½ log det G(z): the negative data-space log-density −log p(x(z)).

    Parameters
    ----------
    embed : callable
        φ, ``(N, d) -> (N, D)``; G = J_φᵀ J_φ.
    log_density : callable
        log p(z), ``(N, d) -> (N,)``, differentiable.
    eps : float, default=1e-10
        Added to the diagonal of G before the log-determinant.

    Returns
    -------
    callable
        ``(N, d) -> (N,)``, differentiable in z (Kim & Zhang 2019's penalty).
    """
    def h(z):
        with torch.enable_grad():
            return -log_density(z) + 0.5 * log_det_metric(embed, z, eps=eps)

    return h


def latent_space_penalty(log_density):
    """h(z) = −log p(z): the negative latent log-density.

    Parameters
    ----------
    log_density : callable
        log p(z), ``(N, d) -> (N,)``, differentiable.

    Returns
    -------
    callable
        ``(N, d) -> (N,)``.
    """

    def h(z):
        with torch.enable_grad():
            return -log_density(z)

    return h


class RegularizedCurveObjective:
    """F(Z) = ½ E_s(Z) / L₀² + w · S_τ[h](Z) for a batch of curves with fixed endpoints.

    * E_s: the energy of the piecewise-linear latent curve with ``subdivisions`` − 1
      points inserted in every segment, (N − 1) Σ_j ‖φ̃(p_{j+1}) − φ̃(p_j)‖² over its N
      sub-points, in the lifted embedding φ̃ = (φ, κ h) (``kappa=None``: φ̃ = φ). At
      constant speed E_s = L², so the first term is ½ (L / L₀)² with L₀ the length of
      the straight latent segment: invariant to the scale of φ.
    * S_τ[h]: the soft maximum (:func:`soft_maximum`) of h over the N − 2 interior
      sub-points. τ = ``None`` gives the mean of h, the quadrature of Kim & Zhang's
      ∫ h dt; a finite τ (in nats) weighs the worst (least dense) stretch of the curve,
      and the sub-points see what happens between two nodes.

    Parameters
    ----------
    embed : callable
        φ, ``(N, d) -> (N, D)``.
    h : callable
        The penalty, ``(N, d) -> (N,)``, differentiable
        (:func:`data_space_penalty`, :func:`latent_space_penalty`).
    z0, z1 : Tensor (B, d)
        The fixed endpoints.
    mu : float
        w, the weight of S_τ.
    temperature : float or None
    subdivisions : int
    L0 : Tensor (B,) or None
        Length scale; default the φ-length of the straight segment.
    kappa : Tensor (B,) or None
        Lift of the embedding by the penalty.
    """

    def __init__(self, embed, h, z0, z1, mu, temperature=1.0, subdivisions=4, L0=None, kappa=None):
        self.embed, self.h = embed, h
        self.kappa = kappa
        self.mu, self.temperature, self.s = float(mu), temperature, int(subdivisions)
        self.z0, self.z1 = z0, z1
        if L0 is None:
            from .curves import curve_length, linear_curve

            with torch.no_grad():
                L0 = curve_length(embed, linear_curve(z0, z1, 2), subdivisions=self.s)
        with torch.no_grad():
            self.phi0 = embed(z0)
            self.phi1 = embed(z1)
            if kappa is not None:
                self.phi0 = torch.cat([self.phi0, (kappa * h(z0))[:, None]], -1)
                self.phi1 = torch.cat([self.phi1, (kappa * h(z1))[:, None]], -1)
        self.L0 = L0

    def curves(self, inner, idx):
        """Full curves (b, n, d) from interior nodes ``inner`` (b, n − 2, d) of curves ``idx``."""
        return torch.cat([self.z0[idx, None], inner, self.z1[idx, None]], 1)

    def terms(self, inner, idx):
        """(energy part ½E_s/L₀², penalty S_τ) of the curves with interior nodes ``inner`` (b, n−2, d)."""
        from .curves import subdivide

        Z = self.curves(inner, idx)
        P = subdivide(Z, self.s)
        b, N, d = P.shape
        flat = P[:, 1:-1].reshape(-1, d)
        X = self.embed(flat).reshape(b, N - 2, -1)
        hv = self.h(flat).reshape(b, N - 2)
        if self.kappa is not None:
            X = torch.cat([X, (self.kappa[idx, None] * hv)[..., None]], -1)
        full = torch.cat([self.phi0[idx, None], X, self.phi1[idx, None]], 1)
        E = (N - 1) * (full[:, 1:] - full[:, :-1]).pow(2).sum((-1, -2))
        L0 = self.L0[idx]
        return 0.5 * E / L0.pow(2), soft_maximum(hv, self.temperature)

    def value(self, inner, idx, grad=False):
        """F and its energy part for curves ``idx``; with ``grad`` also dF/d(inner), flattened (b, (n−2)·d)."""
        if not grad:
            with torch.no_grad():
                e, p = self.terms(inner, idx)
            return e + self.mu * p, e
        with torch.enable_grad():
            x = inner.detach().requires_grad_(True)
            e, p = self.terms(x, idx)
            f = e + self.mu * p
            (g,) = torch.autograd.grad(f.sum(), x)
        return f.detach(), e.detach(), g.detach().reshape(g.shape[0], -1)


@torch.no_grad()
def minimize_curves_lbfgs(objective, Z, max_iter=200, tol=1e-6, history=20, max_backtrack=20):
    """Batched L-BFGS on the interior nodes of curves ``Z`` (B, n, d), one problem per curve.

    Every curve keeps its own history, step and Armijo backtracking, so curves never
    wait for or disturb each other. A curve has converged when two successive accepted
    steps lower F by less than ``tol`` times its energy part (never F itself, which the
    penalty may shift), or when no step along the (reset) steepest-descent direction
    lowers F (a numerical minimum).

    Parameters
    ----------
    objective : RegularizedCurveObjective
        Anything with ``value(inner, idx, grad)`` returning F, its energy part and
        (with ``grad``) dF/d(inner) for the curves ``idx``.
    Z : Tensor (B, n, d)
        Initial curves; the endpoints stay fixed.
    max_iter : int, default=200
    tol : float, default=1e-6
    history : int, default=20
        Curvature pairs kept per curve.
    max_backtrack : int, default=20
        Step shortenings (×0.3) tried per iteration.

    Returns
    -------
    Z : Tensor (B, n, d)
    F : Tensor (B,)
    converged : Tensor (B,) of bool
    n_iter : Tensor (B,) of int
    """
    B, n, d = Z.shape
    dev, dt = Z.device, Z.dtype
    x = Z[:, 1:-1].reshape(B, -1).clone()
    P = x.shape[1]
    shape = lambda v: v.reshape(v.shape[0], n - 2, d)
    all_idx = torch.arange(B, device=dev)
    f, e, g = objective.value(shape(x), all_idx, grad=True)
    M = int(history)
    S = torch.zeros(B, M, P, dtype=dt, device=dev)
    Y = torch.zeros_like(S)
    rho = torch.zeros(B, M, dtype=dt, device=dev)
    count = torch.zeros(B, dtype=torch.long, device=dev)
    # first step: at most a tenth of the endpoint distance per node
    span = (Z[:, -1] - Z[:, 0]).norm(dim=-1).clamp_min(torch.finfo(dt).eps)
    gmax = shape(g).norm(dim=-1).amax(-1).clamp_min(torch.finfo(dt).tiny)
    gamma0 = 0.1 * span / gmax
    gamma = gamma0.clone()
    small = torch.zeros(B, dtype=torch.long, device=dev)
    converged = torch.zeros(B, dtype=torch.bool, device=dev)
    n_iter = torch.zeros(B, dtype=torch.long, device=dev)
    active = all_idx.clone()
    for _ in range(int(max_iter)):
        if active.numel() == 0:
            break
        a = active
        b = a.numel()
        q = g[a].clone()
        k = count[a]
        alphas = []
        for j in range(M):
            slot = (k - 1 - j) % M
            valid = (j < k.clamp(max=M)).to(dt)
            s_j = S[a, slot]
            y_j = Y[a, slot]
            r_j = rho[a, slot] * valid
            al = r_j * (s_j * q).sum(-1)
            q -= al[:, None] * y_j
            alphas.append((al, s_j, y_j, r_j))
        r = gamma[a][:, None] * q
        for al, s_j, y_j, r_j in reversed(alphas):
            be = r_j * (y_j * r).sum(-1)
            r += s_j * (al - be)[:, None]
        dirn = -r
        gd = (g[a] * dirn).sum(-1)
        bad = ~(gd < 0) | ~torch.isfinite(gd)
        if bool(bad.any()):  # not a descent direction: restart from steepest descent
            dirn[bad] = -gamma0[a[bad], None] * g[a[bad]]
            gd[bad] = (g[a[bad]] * dirn[bad]).sum(-1)
            count[a[bad]] = 0
        t = torch.ones(b, dtype=dt, device=dev)
        accepted = torch.zeros(b, dtype=torch.bool, device=dev)
        pending = torch.ones(b, dtype=torch.bool, device=dev)
        f_old = f[a].clone()
        for _ls in range(int(max_backtrack)):
            p = pending.nonzero().squeeze(-1)
            if p.numel() == 0:
                break
            x_try = x[a[p]] + t[p, None] * dirn[p]
            f_try, e_try, g_try = objective.value(shape(x_try), a[p], grad=True)
            ok = torch.isfinite(f_try) & (f_try <= f_old[p] + 1e-4 * t[p] * gd[p])
            if bool(ok.any()):
                good = p[ok]
                ag = a[good]
                s_new = x_try[ok] - x[ag]
                y_new = g_try[ok] - g[ag]
                sy = (s_new * y_new).sum(-1)
                yy = (y_new * y_new).sum(-1)
                keep = sy > 1e-10 * yy.sqrt() * s_new.norm(dim=-1)
                if bool(keep.any()):
                    ak = ag[keep]
                    slot = count[ak] % M
                    S[ak, slot] = s_new[keep]
                    Y[ak, slot] = y_new[keep]
                    rho[ak, slot] = 1.0 / sy[keep]
                    count[ak] += 1
                    gamma[ak] = sy[keep] / yy[keep].clamp_min(torch.finfo(dt).tiny)
                x[ag] = x_try[ok]
                f[ag], e[ag], g[ag] = f_try[ok], e_try[ok], g_try[ok]
                accepted[good] = True
            pending[p] = ~ok
            t[p[~ok]] *= 0.3
        n_iter[a] += 1
        drop = (f_old - f[a]) / e[a].abs().clamp_min(torch.finfo(dt).tiny)
        small[a] = torch.where(accepted & (drop <= tol), small[a] + 1, torch.zeros_like(small[a]))
        fresh = count[a] == 0
        stuck = ~accepted & fresh  # even steepest descent fails: a numerical minimum
        reset = ~accepted & ~fresh  # a stale quasi-Newton model: restart it
        count[a[reset]] = 0
        gnorm = g[a].norm(dim=-1)
        finished = (small[a] >= 2) | stuck | (gnorm <= 1e-12 * (1 + e[a].abs()))
        converged[a[finished]] = True
        active = a[~finished]
    return torch.cat([Z[:, :1], shape(x), Z[:, -1:]], 1), f, converged, n_iter
