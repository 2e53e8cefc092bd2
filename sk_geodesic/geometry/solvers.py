"""Batched minimisers of discrete curve objectives (pure Torch).

The workhorse is :func:`solve_energy`, a damped Gauss–Newton (Levenberg–Marquardt)
method for the discrete energy. Writing r_i = φ(z_{i+1}) − φ(z_i), the energy is a
sum of squares F = Σ‖r_i‖², whose Gauss–Newton matrix is block tridiagonal in the
interior points: diagonal blocks 2·G(z_k) and off-diagonal blocks −J_kᵀJ_{k+1}.
One step therefore costs one batched forward-mode Jacobian of φ at the interior
points and an O(n d³) block-tridiagonal solve per curve, and it converges in a
handful of iterations where first-order methods need hundreds of decoder passes.
Shao et al.'s update z_k ← z_k + η G_k⁻¹ J_kᵀ ẍ_k is the block-diagonal part of the
same system; keeping the off-diagonal coupling is what makes the step second order.

Every curve of the batch has its own damping and its own stopping test, and only
unconverged curves are evaluated, so easy pairs cost nothing once done.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import jvp, vmap

from .curves import embed_curve


@dataclass
class SolverResult:
    """Output of a curve solver.

    Attributes
    ----------
    Z : Tensor (B, n, d)
        Optimised latent curves (endpoints unchanged).
    objective : Tensor (B,)
        Final objective value per curve.
    converged : Tensor (B,) of bool
    n_iter : Tensor (B,) of int
        Iterations used by each curve.
    n_jacobian_points : int
        Points at which a Jacobian was evaluated (a cost measure).
    n_forward_points : int
        Points at which φ alone was evaluated (a cost measure).
    """

    Z: torch.Tensor
    objective: torch.Tensor
    converged: torch.Tensor
    n_iter: torch.Tensor
    n_jacobian_points: int = 0
    n_forward_points: int = 0


def block_tridiagonal_solve(diag, lower, rhs, dense_limit=384):
    """Solve a batch of symmetric positive-definite block-tridiagonal systems.

    Parameters
    ----------
    diag : Tensor (B, m, d, d)
        Diagonal blocks A_k.
    lower : Tensor (B, m-1, d, d)
        Sub-diagonal blocks L_k = H[k+1, k] (the super-diagonal is L_kᵀ).
    rhs : Tensor (B, m, d)

    Returns
    -------
    x : Tensor (B, m, d)
    """
    B, m, d, _ = diag.shape
    if m * d <= dense_limit:
        # Small systems: one dense batched Cholesky beats a Python loop over blocks.
        H = diag.new_zeros(B, m, m, d, d)
        k = torch.arange(m, device=diag.device)
        H[:, k, k] = diag
        H[:, k[1:], k[:-1]] = lower
        H[:, k[:-1], k[1:]] = lower.transpose(-1, -2)
        H = H.permute(0, 1, 3, 2, 4).reshape(B, m * d, m * d)
        C, info = torch.linalg.cholesky_ex(H)
        if bool((info > 0).any()):
            eps = 1e-6 * H.diagonal(dim1=-2, dim2=-1).abs().mean(-1).clamp_min(1e-12)
            C = torch.linalg.cholesky(H + eps[:, None, None] * torch.eye(m * d, dtype=H.dtype, device=H.device))
        return torch.cholesky_solve(rhs.reshape(B, m * d, 1), C).reshape(B, m, d)
    chols, ys = [], []
    S = diag[:, 0]
    y = rhs[:, 0].unsqueeze(-1)
    for k in range(m):
        if k > 0:
            Lk = lower[:, k - 1]
            # W = S_{k-1}^{-1} L_{k-1}ᵀ, via the previous Cholesky factor
            W = torch.cholesky_solve(Lk.transpose(-1, -2), chols[-1])
            S = diag[:, k] - Lk @ W
            y = rhs[:, k].unsqueeze(-1) - Lk @ torch.cholesky_solve(ys[-1], chols[-1])
        C, info = torch.linalg.cholesky_ex(S)
        if bool((info > 0).any()):
            # Numerically indefinite pivot: add a small multiple of its trace.
            eps = 1e-6 * S.diagonal(dim1=-2, dim2=-1).abs().sum(-1).clamp_min(1e-12)
            C = torch.linalg.cholesky(S + eps[:, None, None] * torch.eye(d, dtype=S.dtype, device=S.device))
        chols.append(C)
        ys.append(y)
    x = torch.cholesky_solve(ys[-1], chols[-1])
    out = [x]
    for k in range(m - 2, -1, -1):
        x = torch.cholesky_solve(ys[k] - lower[:, k].transpose(-1, -2) @ x, chols[k])
        out.append(x)
    return torch.stack(out[::-1], dim=1).squeeze(-1)


def _value_and_jacobian(embed):
    """(N, d) -> (J (N, D, d), φ (N, D)) by d batched JVPs.

    φ acts row by row, so a JVP with the tangent e_k in every row gives column k of
    every point's Jacobian at once; vmapping over the d tangents costs about one
    forward pass of a d-times larger batch.
    """

    def value_and_jacobian(Z):
        n, d = Z.shape
        basis = torch.eye(d, dtype=Z.dtype, device=Z.device).unsqueeze(1).expand(d, n, d)
        y, Jt = vmap(lambda t: jvp(embed, (Z,), (t,)), out_dims=(None, 0))(basis)
        return Jt.permute(1, 2, 0), y

    return value_and_jacobian


def _penalty_terms(point_penalty, Zi):
    """Value and gradient of Σ_k h(z_k) over interior points; Zi: (b, m, d)."""
    with torch.enable_grad():
        z = Zi.detach().requires_grad_(True)
        h = point_penalty(z.reshape(-1, z.shape[-1])).reshape(z.shape[:2])
        (g,) = torch.autograd.grad(h.sum(), z)
    return h.detach().sum(-1), g.detach()


def _stopping_scale(objective, energy):
    """Scale of the stopping tests: the energy part, never the (shiftable) objective."""
    return energy


@torch.no_grad()
def solve_energy(
    embed,
    Z,
    max_iter=100,
    tol=1e-6,
    point_penalty=None,
    penalty_weight=0.0,
    damping=1e-3,
    callback=None,
):
    """Minimise F(Z) = Σ‖φ(z_{i+1}) − φ(z_i)‖² + w·Σ_k h(z_k) over interior points.

    Parameters
    ----------
    embed : callable
        φ, ``(N, d) -> (N, D)``; must also accept a single point ``(d,)``.
    Z : Tensor (B, n, d)
        Initial curves; ``Z[:, 0]`` and ``Z[:, -1]`` stay fixed.
    max_iter : int
        Most Gauss–Newton iterations per curve.
    tol : float
        A curve has converged when an accepted step lowers its objective by less than
        ``tol`` times its current energy part Σ‖Δφ_i‖², or its gradient is negligible.
        The test never looks at the objective's value itself, so adding a constant to
        ``point_penalty`` (or a penalty that makes F negative) changes nothing.
    point_penalty : callable or None
        h, ``(N, d) -> (N,)``, summed over the interior points with weight
        ``penalty_weight``; enters through its gradient (the damping absorbs its
        curvature).
    penalty_weight : float or Tensor (B,)
        w, a scalar or one weight per curve.
    damping : float
        Initial Levenberg–Marquardt damping (relative to the diagonal blocks).
    callback : callable or None
        Called as ``callback(iteration, n_active)`` after each iteration.

    Returns
    -------
    SolverResult
        ``objective`` is F at the solution (for w = 0 the energy divided by n − 1).
    """
    Z = Z.detach().clone()
    B, n, d = Z.shape
    dev, dt = Z.device, Z.dtype
    converged = torch.zeros(B, dtype=torch.bool, device=dev)
    n_iter = torch.zeros(B, dtype=torch.long, device=dev)
    objective = torch.zeros(B, dtype=dt, device=dev)
    if n <= 2:
        X = embed_curve(embed, Z)
        objective = (X[:, 1:] - X[:, :-1]).pow(2).sum((-1, -2))
        return SolverResult(Z, objective, torch.ones(B, dtype=torch.bool, device=dev), n_iter, 0, B * n)

    w_pen = torch.as_tensor(penalty_weight, dtype=dt, device=dev).expand(B)
    use_penalty = point_penalty is not None and bool((w_pen > 0).any())
    value_jac = _value_and_jacobian(embed)
    lam = torch.full((B,), float(damping), dtype=dt, device=dev)
    eye = torch.eye(d, dtype=dt, device=dev)
    ends = embed(torch.cat([Z[:, 0], Z[:, -1]]))
    phi_start, phi_end = ends[:B], ends[B:]
    jac_points = 0
    fwd_points = 2 * B

    def objective_of(idx, Zi, Xi):
        """F for curves ``idx`` given interior points and their embeddings."""
        full = torch.cat([phi_start[idx, None], Xi, phi_end[idx, None]], dim=1)
        f = (full[:, 1:] - full[:, :-1]).pow(2).sum((-1, -2))
        if use_penalty:
            f = f + w_pen[idx] * point_penalty(Zi.reshape(-1, d)).reshape(Zi.shape[:2]).sum(-1).detach()
        return f

    active = torch.arange(B, device=dev)
    for it in range(int(max_iter)):
        if active.numel() == 0:
            break
        Zi = Z[active, 1:-1]  # (b, m, d)
        b, m = Zi.shape[:2]
        Jflat, Xflat = value_jac(Zi.reshape(b * m, d))
        jac_points += b * m
        J = Jflat.reshape(b, m, -1, d)
        Xi = Xflat.reshape(b, m, -1)
        full = torch.cat([phi_start[active, None], Xi, phi_end[active, None]], dim=1)
        r = full[:, 1:] - full[:, :-1]  # (b, m+1, D)
        f_now = r.pow(2).sum((-1, -2))
        # The energy part sets the scale of the stopping tests: the penalty may be
        # negative or shifted by any constant, and the solver must not care.
        e_now = f_now.clone()
        # ½∇F at interior point k: J_kᵀ(r_{k-1} − r_k)
        grad = torch.einsum("bmDd,bmD->bmd", J, r[:, :-1] - r[:, 1:])
        if use_penalty:
            h, gh = _penalty_terms(point_penalty, Zi)
            f_now = f_now + w_pen[active] * h
            grad = grad + 0.5 * w_pen[active][:, None, None] * gh
        G = J.transpose(-1, -2) @ J  # (b, m, d, d)
        A = 2.0 * G
        L = -(J[:, 1:].transpose(-1, -2) @ J[:, :-1])  # H[k+1,k] = −J_{k+1}ᵀJ_k
        scale = A.diagonal(dim1=-2, dim2=-1).mean(-1, keepdim=True).mean(-2, keepdim=True)  # (b,1,1)
        jitter = 1e-8 * scale.clamp_min(torch.finfo(dt).tiny)
        objective[active] = f_now
        gnorm = grad.flatten(1).norm(dim=-1)
        e_now = _stopping_scale(f_now, e_now)
        # Offset-invariant: a zero-energy curve is done only without a penalty, and the
        # gradient test is scaled by the energy part, never by F (which a constant shifts).
        done_now = gnorm <= 1e-12 * (1 + e_now)
        if not use_penalty:
            done_now = done_now | (e_now <= torch.finfo(dt).tiny)
        # Inner loop: raise damping until the step lowers the objective.
        accepted = torch.zeros(b, dtype=torch.bool, device=dev)
        rel_drop = torch.zeros(b, dtype=dt, device=dev)
        pending = ~done_now
        for _ in range(8):
            if not bool(pending.any()):
                break
            p = pending.nonzero().squeeze(-1)
            lam_p = lam[active[p]][:, None, None, None]
            Ap = A[p] + lam_p * (A[p] + jitter[p].unsqueeze(-1) * eye) + jitter[p].unsqueeze(-1) * eye
            step = -block_tridiagonal_solve(Ap, L[p], grad[p])
            Zc = Zi[p] + step
            Xc = embed(Zc.reshape(-1, d)).reshape(Zc.shape[0], m, -1)
            fwd_points += Zc.shape[0] * m
            f_new = objective_of(active[p], Zc, Xc)
            ok = torch.isfinite(f_new) & (f_new < f_now[p])
            good = p[ok]
            if good.numel():
                Z[active[good], 1:-1] = Zc[ok]
                objective[active[good]] = f_new[ok]
                rel_drop[good] = (f_now[good] - f_new[ok]) / e_now[good].clamp_min(torch.finfo(dt).tiny)
                accepted[good] = True
                lam[active[good]] = (lam[active[good]] / 3.0).clamp_min(1e-9)
            bad = p[~ok]
            lam[active[bad]] = lam[active[bad]] * 8.0
            pending = torch.zeros_like(pending)
            pending[bad] = True
        n_iter[active] += 1
        finished = done_now | (accepted & (rel_drop <= tol)) | (~accepted & ~done_now & (lam[active] > 1e8))
        # A curve whose damping blew up without progress sits at a (numerical) minimum.
        converged[active[finished]] = True
        active = active[~finished]
        if callback is not None:
            callback(it, int(active.numel()))
    return SolverResult(Z, objective, converged, n_iter, jac_points, fwd_points)


def solve_energy_multilevel(embed, Z, max_iter=100, tol=1e-6, min_points=9, **kwargs):
    """Coarse-to-fine :func:`solve_energy`: solve on a coarse curve, refine, repeat.

    The curve is first resampled to about ``min_points`` points, solved to a loose
    tolerance, then its resolution is doubled until it reaches ``Z.shape[1]``, where
    the final solve runs to ``tol``. Coarse levels are cheap and remove most of the
    error, so the expensive fine level starts close to its optimum.
    """
    from .curves import resample

    n = Z.shape[1]
    sizes = [n]
    while (sizes[-1] - 1) // 2 + 1 >= min_points:
        sizes.append((sizes[-1] - 1) // 2 + 1)
    sizes = sizes[::-1]
    jac = fwd = 0
    total_iter = torch.zeros(Z.shape[0], dtype=torch.long, device=Z.device)
    cur = resample(Z, sizes[0])
    for level, m in enumerate(sizes):
        if level > 0:
            cur = resample(cur, m)
        last = level == len(sizes) - 1
        res = solve_energy(embed, cur, max_iter=max_iter, tol=tol if last else max(tol, 1e-3), **kwargs)
        cur = res.Z
        jac += res.n_jacobian_points
        fwd += res.n_forward_points
        total_iter += res.n_iter
    return SolverResult(cur, res.objective, res.converged, total_iter, jac, fwd)
