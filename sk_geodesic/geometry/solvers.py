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

import warnings
from dataclasses import dataclass, fields

import torch
from torch.func import jvp, vmap

from .curves import embed_curve, subdivide


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
    initial_objective : Tensor (B,) or None
        The objective of the initial curves.
    n_solved : Tensor (B,) of int or None
        Nodes of the polyline whose energy was last minimised for each curve
        (:func:`solve_energy_multilevel` with ``resolution_tol``: fewer than ``Z`` has
        where a coarser level was already resolved and ``Z`` is its cubic refinement).
    seen_length : Tensor (B,) or None
        Length of that polyline at the solver's own sample points (the chords of its
        sub-divided segments): what the minimised energy saw of the curve. Kept from the
        solver's own φ evaluations of each curve's current nodes, so it costs nothing
        (``None`` only from results built elsewhere).
    n_respaced : Tensor (B,) of int or None
        Times each curve's nodes were re-spaced along it (``respace_tol`` of
        :func:`solve_energy`).
    initial_seen_length : Tensor (B,) or None
        ``seen_length`` of the initial curves (:func:`solve_energy`).
    last_gain : Tensor (B,) or None
        How much the last level a curve was solved at shortened it, relative
        (:func:`solve_energy_multilevel` with ``resolution_tol``; NaN where not measured):
        above ``resolution_tol`` the curve was not resolved by its nodes.
    """

    Z: torch.Tensor
    objective: torch.Tensor
    converged: torch.Tensor
    n_iter: torch.Tensor
    n_jacobian_points: int = 0
    n_forward_points: int = 0
    initial_objective: torch.Tensor | None = None
    n_solved: torch.Tensor | None = None
    seen_length: torch.Tensor | None = None
    n_respaced: torch.Tensor | None = None
    initial_seen_length: torch.Tensor | None = None
    last_gain: torch.Tensor | None = None


def _robust_cholesky(H):
    """Cholesky factors of a batch of SPD matrices; numerically indefinite ones get a
    growing multiple of their mean diagonal added until they factor."""
    C, info = torch.linalg.cholesky_ex(H)
    bad = info > 0
    if not bool(bad.any()):
        return C
    eye = torch.eye(H.shape[-1], dtype=H.dtype, device=H.device)
    base = H.diagonal(dim1=-2, dim2=-1).abs().mean(-1).clamp_min(torch.finfo(H.dtype).tiny)
    rel = 1e-8 if H.dtype == torch.float64 else 1e-5
    while bool(bad.any()):
        idx = bad.nonzero().squeeze(-1)
        Cb, info_b = torch.linalg.cholesky_ex(H[idx] + (rel * base[idx])[:, None, None] * eye)
        C[idx] = Cb
        bad = torch.zeros_like(bad)
        bad[idx[info_b > 0]] = True
        rel *= 100.0
        if rel > 1e6:
            raise torch.linalg.LinAlgError("matrix could not be regularised to positive definite")
    return C


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
        C = _robust_cholesky(H)
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
        C = _robust_cholesky(S)
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
    forward pass of a d-times larger batch. An embedding with its own
    ``value_and_jacobian`` (:class:`~sk_geodesic.geometry.LayerwiseEmbedding`,
    what the manifolds of module decoders hand out) is used as it is.
    """

    layerwise = getattr(embed, "value_and_jacobian", None)
    if layerwise is not None:  # e.g. a LayerwiseEmbedding: tangents carried layer by layer
        return layerwise

    def value_and_jacobian(Z):
        n, d = Z.shape
        basis = torch.eye(d, dtype=Z.dtype, device=Z.device).unsqueeze(1).expand(d, n, d)
        y, Jt = vmap(lambda t: jvp(embed, (Z,), (t,)), out_dims=(None, 0))(basis)
        return Jt.permute(1, 2, 0), y

    return value_and_jacobian


def _value_jacobian_and_curvature(embed, curvature_part=None):
    """(N, d), (N, D) -> (φ (N, D), J (N, D, d), H (N, d, d)) with H_p = ∇²(φ · w_p).

    One forward-over-reverse pass: the JVP, along e_k, of z ↦ (φ(z), J(z)ᵀw) gives
    column k of every J and of every curvature block ∂(Jᵀw)/∂z at once (about 2–3
    Jacobian passes of work, instead of a Jacobian pass plus a separate Hessian pass).

    With ``curvature_part = (ψ, columns)``, where ψ(z) = φ(z)[:, columns], H is the
    curvature of that part alone, ∇²(ψ · w_p[columns]): a Jacobian pass of φ plus a
    forward-over-reverse pass of ψ, cheaper where ψ is a small network beside a large one.
    """
    from torch.func import vjp

    if curvature_part is not None:
        part, columns = curvature_part
        value_and_jacobian = _value_and_jacobian(embed)
        part_curvature = _value_jacobian_and_curvature(part)

        def value_jacobian_and_part_curvature(Z, W):
            J, y = value_and_jacobian(Z)
            return y, J, part_curvature(Z, W[:, columns])[2]

        return value_jacobian_and_part_curvature

    layerwise = getattr(embed, "value_jacobian_and_curvature", None)
    if layerwise is not None:  # a LayerwiseEmbedding: second derivatives from the tangents, parts without rules generic
        return lambda Z, W: layerwise(Z, W, lambda fn, X, Wp: _value_jacobian_and_curvature(fn)(X, Wp))

    def value_jacobian_and_curvature(Z, W):
        n, d = Z.shape

        def value_and_pullback(z):
            y, pullback = vjp(embed, z)
            return y, pullback(W)[0]

        basis = torch.eye(d, dtype=Z.dtype, device=Z.device).unsqueeze(1).expand(d, n, d)
        with torch.enable_grad():
            y, (Jt, Ht) = vmap(lambda t: jvp(value_and_pullback, (Z,), (t,)), out_dims=((None, None), 0))(basis)
        H = Ht.permute(1, 2, 0)
        return y[0], Jt.permute(1, 2, 0), 0.5 * (H + H.transpose(-1, -2))

    return value_jacobian_and_curvature


def _curvature_blocks(H, s):
    """The second-order part of the energy's Hessian in the interior nodes.

    H : (b, N−2, d, d), the blocks ∇²(φ · w_p) at the interior sub-points, with
    w_p = r_{p−1} − r_p (the derivative of ½F in φ(p)). Sub-point j of segment i,
    p = (1 − a_j) z_i + a_j z_{i+1}, adds (1 − a_j)² H_p to node i's block, a_j² H_p to
    node i+1's and a_j(1 − a_j) H_p to the block between them. Returns (diag (b, m, d, d),
    lower (b, m − 1, d, d)) for the m = n − 2 interior nodes.
    """
    b, _, d, _ = H.shape
    zero = H.new_zeros(b, 1, d, d)
    per_segment = torch.cat([zero, H], 1)  # sub-points 0..N−2, i.e. the start of every sub-segment
    n = per_segment.shape[1] // s + 1
    per_segment = per_segment.reshape(b, n - 1, s, d, d)
    a = _segment_weights(s, H.dtype, H.device)[:-1][:, None, None]
    to_start = ((1 - a) ** 2 * per_segment).sum(2)  # (b, n−1, d, d): onto node i
    to_end = (a**2 * per_segment).sum(2)  # onto node i + 1
    between = (a * (1 - a) * per_segment).sum(2)
    return to_start[:, 1:] + to_end[:, :-1], between[:, 1:-1]


def _model_decrease(diag, lower, grad, step):
    """Decrease of F predicted by the quadratic model ½F + gᵀΔ + ½ΔᵀHΔ (times 2): (b,)."""
    quad = (step.unsqueeze(-2) @ diag @ step.unsqueeze(-1)).sum((-1, -2, -3))
    quad = quad + 2 * (step[:, 1:].unsqueeze(-2) @ lower @ step[:, :-1].unsqueeze(-1)).sum((-1, -2, -3))
    return -2 * (grad * step).sum((-1, -2)) - quad


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


def _damped_system(A, lam, scale, jitter, eye):
    """Diagonal blocks of the Levenberg system H + (λ·scale + jitter)·I."""
    return A + (lam * scale + jitter) * eye


def _segment_weights(s, dtype, device):
    """a_j = j/s for j = 0..s: sub-point j of segment i is (1 − a_j) z_i + a_j z_{i+1}."""
    return torch.arange(s + 1, dtype=dtype, device=device) / s


def _subdivide(Z, s):
    """(b, n, d) → (b, (n−1)s+1, d): s − 1 equally spaced points inserted in each segment."""
    return subdivide(Z, s)


def _consecutive_products(Jt, b):
    """J_{p+1}ᵀ J_p for consecutive points p of each of ``b`` curves: (b, P−1, d, d).

    Jt : (b·P, d, D), the transposed Jacobians of b curves of P points each, curve by
    curve. One ``bmm`` over the flat batch; the products that straddle two curves are
    computed and dropped.
    """
    M, d, _ = Jt.shape
    flat = torch.bmm(Jt[1:], Jt[:-1].transpose(1, 2))
    return torch.cat([flat, flat.new_zeros(1, d, d)]).reshape(b, M // b, d, d)[:, :-1]


def _node_system(Jin, r, s):
    """Gauss–Newton system of ½Σ‖r‖² in the interior *nodes* of sub-divided curves.

    Jin : (b, N−2, D, d) Jacobians at the interior sub-points of the N = (n−1)s+1
    sub-points (the endpoints are fixed, so their Jacobians never enter: J_0 = J_{N−1}
    = 0 below). r : (b, N−1, D) sub-segment residuals.
    Sub-point j of segment i is (1 − a_j) z_i + a_j z_{i+1}, so residual (i, j)
    depends on z_i through U = (1−a_{j+1})J_{j+1} − (1−a_j)J_j and on z_{i+1} through
    V = a_{j+1}J_{j+1} − a_jJ_j. Returns (diag (b, m, d, d), lower (b, m−1, d, d),
    grad (b, m, d)) for the m = n − 2 interior nodes; with s = 1 these are the
    classical blocks 2G_k, −J_{k+1}ᵀJ_k and J_kᵀ(r_{k−1} − r_k).
    """
    b, Nin, D, d = Jin.shape
    N = Nin + 2
    n = (N - 1) // s + 1
    a = _segment_weights(s, Jin.dtype, Jin.device)
    # Every product the system needs comes from the D-long contractions below, each
    # done once: the metric G_p = J_pᵀJ_p per sub-point (shared by the two sub-segments
    # that meet there), the cross term J_{p+1}ᵀJ_p and J_pᵀr on both sides of p. These
    # passes over J dominate the cost of a step (D is the decoder's output size), and on
    # a CPU they are bound by memory traffic: J is never copied. The contractions are
    # 3-D ``bmm`` calls over the flat batch of M = b·(N−2) points, which take J
    # as it comes from a Jacobian pass (tangent-major, (d, M, D) in memory) without a
    # copy; a 4-D ``matmul`` on sliced views would copy J first (measured: 2.3x slower
    # in all at 64 curves × 7 points, 8-D latent, D = 784).
    M = b * Nin
    Jt = Jin.reshape(M, D, d).transpose(1, 2)  # (M, d, D)
    G = torch.bmm(Jt, Jt.transpose(1, 2)).reshape(b, Nin, d, d)
    Cin = _consecutive_products(Jt, b)  # (b, N−3, d, d): J_{p+1}ᵀ J_p between interior sub-points
    R = torch.stack([r[:, 1:], r[:, :-1]], -1).reshape(M, D, 2)
    Jr = torch.bmm(Jt, R).reshape(b, Nin, d, 2)  # J_pᵀ r_p, J_pᵀ r_{p−1}
    zero = G.new_zeros(b, 1, d, d)
    zero_v = G.new_zeros(b, 1, d)
    Gfull = torch.cat([zero, G, zero], 1)  # (b, N, d, d), zero at the fixed endpoints
    G0 = Gfull[:, :-1].reshape(b, n - 1, s, d, d)  # G_j (start of sub-segment)
    G1 = Gfull[:, 1:].reshape(b, n - 1, s, d, d)  # G_{j+1}
    C = torch.cat([zero, Cin, zero], 1)  # (b, N−1, d, d)
    Jr_prev = torch.cat([zero_v, Jr[..., 0]], 1)  # (b, N−1, d): J_kᵀ r_k
    Jr_next = torch.cat([Jr[..., 1], zero_v], 1)  # J_{k+1}ᵀ r_k
    C = C.reshape(b, n - 1, s, d, d)
    Ct = C.transpose(-1, -2)
    a0, a1 = a[:-1], a[1:]
    u0, u1 = (1 - a0)[:, None, None], (1 - a1)[:, None, None]
    v0, v1 = a0[:, None, None], a1[:, None, None]
    UU = (u1 * u1 * G1 + u0 * u0 * G0 - u1 * u0 * (C + Ct)).sum(2)  # (b, n-1, d, d)
    VV = (v1 * v1 * G1 + v0 * v0 * G0 - v1 * v0 * (C + Ct)).sum(2)
    VU = (v1 * u1 * G1 + v0 * u0 * G0 - v1 * u0 * C - v0 * u1 * Ct).sum(2)  # H[i+1, i]
    Jr1 = Jr_next.reshape(b, n - 1, s, d)
    Jr0 = Jr_prev.reshape(b, n - 1, s, d)
    gU = (u1[..., 0] * Jr1 - u0[..., 0] * Jr0).sum(2)  # Uᵀ r summed over the segment
    gV = (v1[..., 0] * Jr1 - v0[..., 0] * Jr0).sum(2)
    # interior node k (1..n-2) is the end (V) of segment k-1 and the start (U) of segment k
    diag = VV[:, :-1] + UU[:, 1:]
    lower = VU[:, 1:-1]
    grad = gV[:, :-1] + gU[:, 1:]
    return diag, lower, grad


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
    subdivisions=1,
    newton_after=None,
    respace_tol=None,
    curvature_part=None,
):
    """Minimise F(Z) = Σ‖φ(p_{k+1}) − φ(p_k)‖² + w·Σ_k h(z_k) over interior nodes.

    The p_k are the nodes of Z with ``subdivisions − 1`` equally spaced points
    inserted in every latent segment: F is the energy of the piecewise-linear latent
    curve sampled ``subdivisions`` times per segment. With ``subdivisions > 1`` a node
    step cannot hide a ridge of φ between two nodes (the sub-points see it), so the
    solver minimises (a quadrature of) the energy of the curve it returns, not of its
    nodes alone; the Gauss–Newton matrix stays block tridiagonal in the nodes.

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
        ``tol`` times its current energy part Σ‖Δφ‖², or its gradient is negligible.
        The test never looks at the objective's value itself, so adding a constant to
        ``point_penalty`` (or a penalty that makes F negative) changes nothing.
    point_penalty : callable or None
        h, ``(N, d) -> (N,)``, summed over the interior nodes with weight
        ``penalty_weight``; enters through its gradient (the damping absorbs its
        curvature).
    penalty_weight : float or Tensor (B,)
        w, a scalar or one weight per curve.
    damping : float
        Initial Levenberg damping λ, relative to the mean diagonal of the Gauss–Newton
        matrix (the step solves (H + λ·mean diag(H)·I) Δ = −g).
    callback : callable or None
        Called as ``callback(iteration, n_active)`` after each iteration.
    subdivisions : int, default=1
        Sub-segments per latent segment in the energy (1: the classical node energy).
    newton_after : int or None, default=None
        From this iteration on, curves still unconverged take Newton steps: the
        Gauss–Newton matrix plus the second-order term Σ_p ∇²(φ(p) · w_p) of the
        energy's Hessian, still block tridiagonal. Where φ bends sharply (a steep
        decoder variance) Gauss–Newton only converges linearly and crawls; the exact
        Hessian restores fast local convergence. ``None``: Gauss–Newton throughout.
        Needs φ twice differentiable by ``torch.func``; if that fails, the solve goes on
        with Gauss–Newton (and warns once).
    respace_tol : float or None, default=None
        Re-space a curve's nodes once its seen length Σ‖r‖ (the chords at its sample
        points) has changed by at most ``respace_tol`` relative in each of
        :data:`RESPACE_CALM_STEPS` consecutive accepted steps that each lowered the energy
        by at most :data:`RESPACE_ENERGY_FACTOR` × ``respace_tol``: the nodes are moved
        to equal steps of that length on the cubic through them
        (:func:`~sk_geodesic.geometry.reparametrize_constant_speed` with ``cubic=True``),
        kept where this lowers F. Near a minimum the energy keeps falling while the nodes re-space along
        a curve whose length has settled; Gauss–Newton moves them slowly along the curve
        (a nearly flat direction of the energy), the Newton step there is rarely trusted,
        and a pair can spend tens of iterations that change its length by less than
        1e-4. The energy test still decides convergence. Ignored with a
        ``point_penalty``. ``None``: never re-space.
    curvature_part : tuple (callable, slice) or None, default=None
        ``(ψ, columns)`` with ψ(z) = φ(z)[:, columns]: the Newton steps add the
        second-order term of these columns of φ only (Gauss–Newton's for the others).
        Where φ = [μ, σ] and σ's steep walls make Gauss–Newton crawl, the curvature of
        σ, a small network, is what the Newton step needs; that of the decoder mean
        costs a forward-over-reverse pass through the large network. ``None``: all of φ.

    Returns
    -------
    SolverResult
        ``objective`` is F at the solution.
    """
    from .curves import reparametrize_constant_speed

    Z = Z.detach().clone()
    B, n, d = Z.shape
    s = int(subdivisions)
    if s < 1:
        raise ValueError(f"subdivisions must be >= 1, got {subdivisions}")
    dev, dt = Z.device, Z.dtype
    converged = torch.zeros(B, dtype=torch.bool, device=dev)
    n_iter = torch.zeros(B, dtype=torch.long, device=dev)
    objective = torch.zeros(B, dtype=dt, device=dev)
    if n <= 2:
        X = embed_curve(embed, _subdivide(Z, s))
        chords = (X[:, 1:] - X[:, :-1]).norm(dim=-1)
        objective = chords.pow(2).sum(-1)
        return SolverResult(Z, objective, torch.ones(B, dtype=torch.bool, device=dev), n_iter, 0, B * X.shape[1],
                            initial_objective=objective, seen_length=chords.sum(-1),
                            initial_seen_length=chords.sum(-1))

    w_pen = torch.as_tensor(penalty_weight, dtype=dt, device=dev).expand(B)
    use_penalty = point_penalty is not None and bool((w_pen > 0).any())
    value_jac = _value_and_jacobian(embed)
    newton = newton_after is not None
    value_jac_curv = _value_jacobian_and_curvature(embed, curvature_part) if newton else None
    lam = torch.full((B,), float(damping), dtype=dt, device=dev)
    eye = torch.eye(d, dtype=torch.float64, device=dev)
    ends = embed(torch.cat([Z[:, 0], Z[:, -1]]))
    phi_start, phi_end = ends[:B], ends[B:]
    jac_points = 0
    fwd_points = 2 * B

    def embed_inner(P):
        """φ at the sub-points strictly between the endpoints, (b, N, d) → (b, N−2, D)."""
        inner = P[:, 1:-1]
        return embed(inner.reshape(-1, d)).reshape(inner.shape[0], inner.shape[1], -1)

    def residuals(idx, X):
        """Sub-segment residuals r (b, N−1, D) of curves ``idx`` from φ at their interior sub-points X."""
        full = torch.cat([phi_start[idx, None], X, phi_end[idx, None]], dim=1)
        return full[:, 1:] - full[:, :-1]

    def objective_of(idx, Zc):
        """F, the seen length Σ‖r‖ and the φ evaluations for curves ``idx`` with nodes ``Zc`` (b, n, d)."""
        X = embed_inner(_subdivide(Zc, s))
        chords = residuals(idx, X).norm(dim=-1)
        f = chords.pow(2).sum(-1)
        if use_penalty:
            f = f + w_pen[idx] * point_penalty(Zc[:, 1:-1].reshape(-1, d)).reshape(Zc.shape[0], n - 2).sum(-1).detach()
        return f, chords.sum(-1), X.shape[1]

    active = torch.arange(B, device=dev)
    seen = torch.zeros(B, dtype=dt, device=dev)  # Σ‖r‖ of each curve's current nodes
    use_respacing = respace_tol is not None and not use_penalty
    calm = torch.zeros(B, dtype=torch.long, device=dev)  # consecutive steps that left Σ‖r‖ still
    n_respaced = torch.zeros(B, dtype=torch.long, device=dev)
    for it in range(int(max_iter)):
        if active.numel() == 0:
            break
        Zfull = Z[active]
        Zi = Zfull[:, 1:-1]  # (b, m, d)
        b, m = Zi.shape[:2]
        P = _subdivide(Zfull, s)
        Pin = P[:, 1:-1]
        Nin = Pin.shape[1]
        curvature = None
        if newton and it >= newton_after:
            # φ first (cheap), so that the curvature pass knows the weights w_p
            r = residuals(active, embed_inner(P))
            try:
                _, Jflat, Hflat = value_jac_curv(Pin.reshape(b * Nin, d), (r[:, :-1] - r[:, 1:]).reshape(b * Nin, -1))
                curvature = Hflat.reshape(b, Nin, d, d)
            except (RuntimeError, NotImplementedError, TypeError) as exc:
                newton = False
                warnings.warn(f"Newton steps need φ twice differentiable by torch.func ({exc}); "
                              "continuing with Gauss-Newton steps", RuntimeWarning, stacklevel=2)
        if curvature is None:
            Jflat, Xflat = value_jac(Pin.reshape(b * Nin, d))
            r = residuals(active, Xflat.reshape(b, Nin, -1))
        jac_points += b * Nin
        Jin = Jflat.reshape(b, Nin, -1, d)
        f_now = r.pow(2).sum((-1, -2))
        if it == 0:  # afterwards kept current by the accepted steps
            seen[active] = r.norm(dim=-1).sum(-1)
            initial_seen = seen.clone()
        seen_before = seen[active].clone() if use_respacing else None
        # The energy part sets the scale of the stopping tests: the penalty may be
        # negative or shifted by any constant, and the solver must not care.
        e_now = f_now.clone()
        A, L, grad = _node_system(Jin, r, s)
        A, L, grad = A.double(), L.double(), grad.double()
        # damping scale from the Gauss–Newton part, which is positive semi-definite
        scale = A.diagonal(dim1=-2, dim2=-1).mean(-1, keepdim=True).mean(-2, keepdim=True)  # (b,1,1)
        if curvature is not None:
            # The exact Hessian is rarely positive definite (the direction that slides nodes
            # along the curve is nearly flat) and, far from a minimum, strongly indefinite:
            # its step, made definite by the damping and the robust Cholesky, is tried
            # beside the Gauss–Newton step and taken only where it is lower and trusted
            # (below); otherwise the iteration is a Gauss–Newton one.
            dA, dL = _curvature_blocks(curvature.double(), s)
            A_newton, L_newton = A + dA, L + dL
        if use_penalty:
            h, gh = _penalty_terms(point_penalty, Zi)
            f_now = f_now + w_pen[active] * h
            grad = grad + 0.5 * w_pen[active].double()[:, None, None] * gh.double()
        jitter = 1e-8 * scale.clamp_min(1e-300)
        objective[active] = f_now
        if it == 0:
            initial_objective = f_now.clone()
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
            lam_p = lam[active[p]].double()[:, None, None, None]
            # Levenberg damping, λ·(mean diagonal)·I: as λ grows the step turns into a short
            # gradient step at *every* node. Marquardt's λ·diag(A) would leave nodes where φ
            # is flat (σ saturated far from the data, A ≈ 0) with long steps that keep
            # failing, so the whole curve crept (measured: 8-D expected metric, 100
            # iterations from 1.2-2.7x the optimum, now within 1-3 %).
            def try_step(diag, lower):
                """The damped step of one system for the pending curves: (step, curves, F)."""
                Ap = _damped_system(diag[p], lam_p, scale[p].unsqueeze(-1), jitter[p].unsqueeze(-1), eye)
                # the small d×d algebra runs in float64 whatever φ's dtype (float32
                # Jacobians, float64 accumulation of the normal equations)
                step = -block_tridiagonal_solve(Ap, lower[p], grad[p])
                Zc = Zfull[p].clone()
                Zc[:, 1:-1] += step.to(dt)
                f, length, npts = objective_of(active[p], Zc)
                return step, Zc, f, length, Zc.shape[0] * npts

            step64, Zc, f_new, len_new, n_fwd = try_step(A, L)
            fwd_points += n_fwd
            if curvature is not None:
                step_n, Zn, f_n, len_n, n_fwd = try_step(A_newton, L_newton)
                fwd_points += n_fwd
                # The Newton step counts only if it gains at least a tenth of what its own
                # model and the Gauss–Newton model promised: where the Hessian is indefinite
                # the damped Newton step is short, wins by a sliver where the Gauss–Newton
                # step overshoots, keeps the damping down and stalls the curve (measured: a
                # straight line through a steep wall stayed at energy 320, Gauss–Newton
                # alone reached 0.19).
                gain = (f_now[p] - f_n).double()
                promised = torch.maximum(_model_decrease(A_newton[p], L_newton[p], grad[p], step_n),
                                         _model_decrease(A[p], L[p], grad[p], step64))
                trusted = torch.isfinite(f_n) & (gain >= 0.1 * promised)
                better = trusted & ~(f_n >= f_new)  # also where the Gauss–Newton value is NaN
                Zc = torch.where(better[:, None, None], Zn, Zc)
                f_new = torch.where(better, f_n, f_new)
                len_new = torch.where(better, len_n, len_new)
            ok = torch.isfinite(f_new) & (f_new < f_now[p])
            good = p[ok]
            if good.numel():
                Z[active[good]] = Zc[ok]
                objective[active[good]] = f_new[ok]
                seen[active[good]] = len_new[ok]
                rel_drop[good] = (f_now[good] - f_new[ok]) / e_now[good].clamp_min(torch.finfo(dt).tiny)
                accepted[good] = True
                lam[active[good]] = (lam[active[good]] / 3.0).clamp_min(1e-9)
            bad = p[~ok]
            lam[active[bad]] = lam[active[bad]] * 8.0
            pending = torch.zeros_like(pending)
            pending[bad] = True
        n_iter[active] += 1
        finished = done_now | (accepted & (rel_drop <= tol)) | (~accepted & ~done_now & (lam[active] > 1e8))
        if use_respacing:
            # The length has settled while the energy still falls a little: the nodes are
            # re-spacing along the curve, which Gauss–Newton does slowly. Re-space them
            # directly (equal steps of the seen length, on the smooth curve through the
            # nodes: on the polyline's chords they would sit O(h²) off it) and keep that
            # where it lowers F; the energy test still decides convergence.
            change = (seen[active] - seen_before).abs() / seen_before.clamp_min(torch.finfo(dt).tiny)
            still = accepted & (change <= float(respace_tol)) & (rel_drop <= RESPACE_ENERGY_FACTOR * float(respace_tol))
            calm[active] = torch.where(still, calm[active] + 1, torch.zeros_like(calm[active]))
            crawl = (~finished & (calm[active] >= RESPACE_CALM_STEPS)).nonzero().squeeze(-1)
            if crawl.numel():
                idx = active[crawl]
                Zr = reparametrize_constant_speed(embed, Z[idx], s, cubic=True)
                f_r, len_r, npts = objective_of(idx, Zr)
                fwd_points += Zr.shape[0] * (npts + (Zr.shape[1] - 1) * s + 1)
                lower = torch.isfinite(f_r) & (f_r < objective[idx])
                Z[idx[lower]], objective[idx[lower]], seen[idx[lower]] = Zr[lower], f_r[lower], len_r[lower]
                n_respaced[idx[lower]] += 1
                calm[idx] = 0
        # A curve whose damping blew up without progress sits at a (numerical) minimum.
        converged[active[finished]] = True
        active = active[~finished]
        if callback is not None:
            callback(it, int(active.numel()))
    if max_iter < 1:
        initial_objective, seen, _ = objective_of(torch.arange(B, device=dev), Z)
        initial_seen = seen
    return SolverResult(Z, objective, converged, n_iter, jac_points, fwd_points, initial_objective=initial_objective,
                        seen_length=seen, n_respaced=n_respaced, initial_seen_length=initial_seen)


def solve_energy_multilevel(embed, Z, max_iter=100, tol=1e-6, min_points=9, subdivisions=2, newton_after=None,
                            resolution_tol=None, respace_tol=None, max_points=None, **kwargs):
    """Coarse-to-fine :func:`solve_energy`: solve on a coarse curve, refine, repeat.

    The curve is first resampled to about ``min_points`` points, solved to a loose
    tolerance, then its resolution is doubled until it reaches ``Z.shape[1]``, where
    the final solve runs to ``tol``. Each level starts from the cubic refinement
    (:func:`~sk_geodesic.geometry.refine_cubic`) of the previous level's
    solution, which lies on the smooth curve those nodes sample instead of on its
    chords. Coarse levels are cheap and remove most of the error, so the expensive fine
    level starts close to its optimum. Every level minimises the energy of its
    piecewise-linear curve at ``subdivisions`` sub-segments per segment (see
    :func:`solve_energy`); ``newton_after`` and ``respace_tol`` apply to the levels of
    ``Z.shape[1]`` nodes and more only (the coarse levels stop at a loose tolerance,
    where Gauss–Newton suffices).

    ``resolution_tol`` (None: off) stops a curve early once its resolution suffices:
    when a level after the first lowers the objective of its start (the cubic
    refinement of the coarser solution) by at most ``resolution_tol`` relative, the
    coarser solution already resolved the curve, finer levels would move it by less
    still, and the curve returned is this level's solution cubically refined to
    ``Z.shape[1]`` nodes. Where φ has walls that coarse curves cannot follow (a steep
    decoder variance) every level moves the curve and all levels are solved as before.

    ``max_points`` (None: ``Z.shape[1]``; needs ``resolution_tol``) lets the same test
    go on past ``Z.shape[1]`` nodes: a curve that the level of ``Z.shape[1]`` nodes still
    moved by more than ``resolution_tol`` is not resolved by that many nodes, and is
    solved again at twice the resolution (2n − 1 nodes, 4n − 3, …) up to ``max_points``.
    A latent polyline of n nodes is longer than the geodesic it approximates by O(1/n²),
    with a constant set by how sharply the geodesic turns in latent space: under a
    steep decoder variance, where geodesics bend around the walls of σ, 65 nodes were
    measured 0.5-0.7 % longer than the continuous geodesic on MNIST decoders (see
    :class:`~sk_geodesic.interpolation.Geodesic`'s ``max_points``). Every curve is returned
    with the largest number of nodes any of them reached (the others cubically refined).
    """
    from .curves import refine_cubic, resample

    B, n, d = Z.shape
    sizes = [n]
    while (sizes[-1] - 1) // 2 + 1 >= min_points:
        sizes.append((sizes[-1] - 1) // 2 + 1)
    sizes = sizes[::-1]
    finest = len(sizes) - 1  # the level of n nodes
    if max_points is not None and resolution_tol is not None:
        while 2 * (sizes[-1] - 1) + 1 <= int(max_points):
            sizes.append(2 * (sizes[-1] - 1) + 1)
    s = int(subdivisions)
    jac = fwd = 0
    dev = Z.device
    total_iter = torch.zeros(B, dtype=torch.long, device=dev)
    out_obj = torch.zeros(B, dtype=Z.dtype, device=dev)
    out_conv = torch.zeros(B, dtype=torch.bool, device=dev)
    n_solved = torch.full((B,), n, dtype=torch.long, device=dev)
    seen = torch.zeros(B, dtype=Z.dtype, device=dev)
    first_obj = None
    finished = []  # (curves, their solved nodes) per level a group of curves stopped at
    last_gain = torch.full((B,), float("nan"), dtype=Z.dtype, device=dev)
    idx = torch.arange(B, device=dev)  # curves still being refined
    cur = resample(Z, sizes[0])
    for level, m in enumerate(sizes):
        if level > 0:
            cur = refine_cubic(cur, m)
        fine = level >= finest
        last = level == len(sizes) - 1
        res = solve_energy(embed, cur, max_iter=max_iter, tol=tol if fine else max(tol, COARSE_LEVEL_TOL),
                           subdivisions=s, newton_after=newton_after if fine else None,
                           respace_tol=respace_tol if fine else None, **kwargs)
        cur = res.Z
        jac += res.n_jacobian_points
        fwd += res.n_forward_points
        total_iter[idx] += res.n_iter
        if level == 0:
            first_obj = res.initial_objective.clone()
        if resolution_tol is not None and level > 0:
            if fine:
                gain = _length_gain(res)
                last_gain[idx] = gain
            else:
                tiny = torch.finfo(Z.dtype).tiny
                gain = (res.initial_objective - res.objective) / res.objective.abs().clamp_min(tiny)
            done = last | (res.converged & (gain <= float(resolution_tol)))
        else:
            done = torch.full((len(idx),), fine, dtype=torch.bool, device=dev)
        if bool(done.any()):
            ids = idx[done]
            finished.append((ids, cur[done]))
            out_obj[ids], out_conv[ids], n_solved[ids] = res.objective[done], res.converged[done], m
            seen[ids] = res.seen_length[done]
            idx, cur = idx[~done], cur[~done]
            if idx.numel() == 0:
                break
    n_out = max(n, max(Zd.shape[1] for _, Zd in finished))
    out_Z = Z.new_empty(B, n_out, d)
    for ids, Zd in finished:
        out_Z[ids] = refine_cubic(Zd, n_out)
    return SolverResult(out_Z, out_obj, out_conv, total_iter, jac, fwd, initial_objective=first_obj,
                        n_solved=n_solved, seen_length=seen, last_gain=last_gain)


def _length_gain(res):
    """How much a solve shortened its curves, relative: (B,).

    Where φ has kinks (a ReLU decoder) the energy keeps falling as nodes re-space along a
    curve whose length has settled; whether finer polylines are needed is a question
    about the length (measured on the bench's 2-D ReLU decoder, 64 pairs: by the energy,
    pairs went on to 257 nodes and the call took 1.6x as long, for lengths 2e-5 shorter).
    """
    tiny = torch.finfo(res.seen_length.dtype).tiny
    return (res.initial_seen_length - res.seen_length) / res.seen_length.clamp_min(tiny)


#: The loosest ``tol`` of the levels below the finest in :func:`solve_energy_multilevel`
#: (they stop at ``max(tol, COARSE_LEVEL_TOL)``): the next level starts from their solution.
COARSE_LEVEL_TOL = 1e-3

#: A solved curve whose dense length exceeds the length seen by the solver's own
#: sub-points by more than this fraction has tunnelled through a wall of φ.
TUNNEL_TOLERANCE = 1e-2

#: Gauss–Newton iterations at the finest level before :func:`solve_geodesic` switches
#: the pairs still unconverged to Newton steps (see ``newton_after`` in
#: :func:`solve_energy`). Measured by ``bench/bench_geodesic.py --quick`` on its 8-D
#: MNIST decoder under the expected metric (steep RBF variance), 16 pairs, one thread:
#: Gauss–Newton alone ended 0.30 % above the reference length on average (1.3 % at
#: worst), with Newton steps after 2 iterations 0.05 % (0.45 %), both in 24 s. Pairs
#: that converge within 2 iterations (all of them there under the mean metric) never
#: pay for the curvature pass.
NEWTON_AFTER = 2

#: Consecutive calm steps (each leaving the seen length within ``respace_tol``, relative)
#: after which :func:`solve_energy` re-spaces a curve's nodes (see ``respace_tol``).
RESPACE_CALM_STEPS = 2

#: A step is calm for ``respace_tol`` only if it also lowered the energy by at most this
#: many times ``respace_tol`` (relative): near a saddle of the length (a curve straight
#: through a wall, about to slide off it) the length changes little while the energy falls
#: by percents per step; in the re-spacing crawl near a minimum it falls by less than 1e-3.
RESPACE_ENERGY_FACTOR = 10

#: Default ``resolution_tol`` of :class:`~sk_geodesic.interpolation.Geodesic` (see
#: :func:`solve_energy_multilevel`).
RESOLUTION_TOL = 3e-4

#: Default ``max_points`` of :class:`~sk_geodesic.interpolation.Geodesic` (see
#: :func:`solve_energy_multilevel`): four times the resolution of its 65 default nodes.
MAX_POINTS = 257

#: Nodes of the straight segment (a subset of its ``n`` nodes) whose chords first bound its
#: length from below in the straight-line fallback of :func:`solve_geodesic` (then all its
#: nodes).
LINE_BOUND_POINTS = 17

#: The most sub-divisions the tunnelling guard of :func:`solve_geodesic` goes to.
MAX_SOLVER_SUBDIVISIONS = 8


#: Nodes at which :func:`solve_geodesic_multistart` compares its starts: coarse enough
#: to be cheap (two levels, 9 and 17 nodes), fine enough to tell which basin of the
#: energy a start has fallen into.
MULTISTART_SELECT_POINTS = 17


@dataclass
class GeodesicResult:
    """Output of :func:`solve_geodesic`.

    Attributes
    ----------
    Z : Tensor (B, n, d)
        The returned curves (the straight line where ``fallback``).
    length, energy : Tensor (B,)
        Dense length and energy of the returned piecewise-linear curves
        (``length_subdivisions`` sub-segments per latent segment).
    converged : Tensor (B,) of bool
    n_iter : Tensor (B,) of int
    fallback : Tensor (B,) of bool
        The solved curve was densely longer than the straight latent segment, which is
        returned instead.
    line_length : Tensor (B,)
        Dense length of the straight latent segment where it was measured: NaN where
        the segment's chord length at (a subset of) its nodes, a lower bound, already
        reached the solved curve's length.
    start : Tensor (B,) of int or None
        Index of the initial curve kept per pair (:func:`solve_geodesic_multistart`).
    n_solved : Tensor (B,) of int or None
        Nodes of the polyline whose energy was last minimised (see
        :func:`solve_energy_multilevel`'s ``resolution_tol``).
    last_gain : Tensor (B,) or None
        How much the last level solved shortened each curve, relative (see
        :class:`SolverResult`).
    """

    Z: torch.Tensor
    length: torch.Tensor
    energy: torch.Tensor
    converged: torch.Tensor
    n_iter: torch.Tensor
    fallback: torch.Tensor
    line_length: torch.Tensor
    start: torch.Tensor | None = None
    n_solved: torch.Tensor | None = None
    last_gain: torch.Tensor | None = None


def _last_gain(res):
    if res.last_gain is not None:
        return res.last_gain.clone()
    return torch.full((res.Z.shape[0],), float("nan"), dtype=res.Z.dtype, device=res.Z.device)


@torch.no_grad()
def solve_geodesic(
    embed,
    Z,
    max_iter=100,
    tol=1e-4,
    subdivisions=2,
    coarse_to_fine=True,
    min_points=9,
    length_subdivisions=None,
    fallback=True,
    newton_after=NEWTON_AFTER,
    resolution_tol=None,
    respace_tol=None,
    curvature_part=None,
    max_points=None,
):
    """Faithful geodesics: minimise the sub-divided energy, report dense lengths.

    1. :func:`solve_energy_multilevel` (or :func:`solve_energy`) minimises the energy
       of the piecewise-linear curve sampled ``subdivisions`` times per segment;
    2. the returned curve's length is measured densely (``length_subdivisions``
       sub-segments per latent segment, refined where φ is steep); where it exceeds
       the length seen at the solver's own sub-points by more than
       :data:`TUNNEL_TOLERANCE` (a wall of φ stepped over between them), the pair is
       solved again from its initial curve with twice the sub-division (up to
       :data:`MAX_SOLVER_SUBDIVISIONS`);
    3. with ``fallback``, a curve densely longer than the straight latent segment
       (also measured densely, with the same number of points) is replaced by it.

    ``newton_after`` (default :data:`NEWTON_AFTER`; ``None``: Gauss–Newton only) is
    passed to the finest level of every solve (see :func:`solve_energy`). ``resolution_tol``
    (default ``None``; :class:`~sk_geodesic.interpolation.Geodesic` passes
    :data:`RESOLUTION_TOL`) lets a pair stop at the first level after the coarsest
    that no longer moves it (see :func:`solve_energy_multilevel`); the tunnelling guard
    then compares the dense length of the returned (refined) curve with what that
    level's solve saw, and ``GeodesicResult.n_solved`` says at how many nodes each pair
    was solved. ``respace_tol`` (default ``None``; :class:`~sk_geodesic.interpolation.Geodesic`
    passes its ``tol``) re-spaces the nodes of curves whose length has settled at the
    finest level of each solve (see :func:`solve_energy`). ``curvature_part`` restricts the
    Newton steps' second-order term to some columns of φ (see :func:`solve_energy`).
    ``max_points`` (default ``None``; :class:`~sk_geodesic.interpolation.Geodesic` passes
    :data:`MAX_POINTS`) lets pairs that the level of ``Z.shape[1]`` nodes still shortens
    by more than ``resolution_tol`` be solved at finer levels, up to ``max_points`` nodes
    (see :func:`solve_energy_multilevel`); the returned curves then have more nodes than
    ``Z``.

    Returns
    -------
    GeodesicResult
    """
    from .curves import curve_length_energy, refine_cubic

    ls = None if length_subdivisions is None else int(length_subdivisions)  # None: curve_length_energy's default

    def solve(Zinit, s):
        if coarse_to_fine:
            return solve_energy_multilevel(embed, Zinit, max_iter=max_iter, tol=tol, min_points=min_points,
                                           subdivisions=s, newton_after=newton_after, resolution_tol=resolution_tol,
                                           respace_tol=respace_tol, curvature_part=curvature_part,
                                           max_points=max_points)
        return solve_energy(embed, Zinit, max_iter=max_iter, tol=tol, subdivisions=s, newton_after=newton_after,
                            respace_tol=respace_tol, curvature_part=curvature_part)

    s = int(subdivisions)
    res = solve(Z, s)
    Zs, converged, n_iter = res.Z.clone(), res.converged.clone(), res.n_iter.clone()
    n_solved = _nodes_solved(res)
    last_gain = _last_gain(res)
    seen = res.seen_length.clone()  # what the minimised energy saw: chords at its sample points
    L, E = curve_length_energy(embed, Zs, ls)
    # Tunnelling guard: the minimised energy samples each segment at s points; where the
    # dense length of the result exceeds what those samples see, the solver has stepped
    # over a wall of φ between them. Such pairs are solved again from their initial
    # curves with twice the sub-division, until the samples see the wall.
    # Only re-solved pairs are checked again: a curve that passed at s also passes at 2s,
    # since finer samples of the same polyline see at least as much (triangle inequality).
    check = torch.arange(Zs.shape[0], device=Zs.device)
    while Zs.shape[1] > 2 and check.numel():
        check = check[L[check] > (1.0 + TUNNEL_TOLERANCE) * seen[check]]
        if not check.numel() or s >= MAX_SOLVER_SUBDIVISIONS:
            break
        s *= 2
        r2 = solve(Z[check], s)
        if r2.Z.shape[1] > Zs.shape[1]:  # finer levels (max_points) reached by the re-solve: one node count
            keep = torch.ones(Zs.shape[0], dtype=torch.bool, device=Zs.device)
            keep[check] = False
            Zs = refine_cubic(Zs, r2.Z.shape[1])
            L[keep], E[keep] = curve_length_energy(embed, Zs[keep], ls)
        Z2 = refine_cubic(r2.Z, Zs.shape[1])  # the same curves where the node counts agree
        L2, E2 = curve_length_energy(embed, Z2, ls)
        Zs[check], L[check], E[check] = Z2, L2, E2
        seen[check] = r2.seen_length
        converged[check] = r2.converged
        n_iter[check] += r2.n_iter
        n_solved[check] = _nodes_solved(r2)
        last_gain[check] = _last_gain(r2)
    if fallback and Zs.shape[1] > 2:
        Zs, L, E, fb, L_line = _fall_back_to_line(embed, Zs, L, E, ls)
    else:
        fb = torch.zeros(Zs.shape[0], dtype=torch.bool, device=Zs.device)
        L_line = torch.full_like(L, float("nan"))
    return GeodesicResult(Zs, L, E, converged, n_iter, fb, L_line, n_solved=n_solved, last_gain=last_gain)


def _nodes_solved(res):
    """Per curve, the nodes of the polyline whose energy ``res`` minimised: (B,)."""
    if res.n_solved is not None:
        return res.n_solved.clone()
    return torch.full((res.Z.shape[0],), res.Z.shape[1], dtype=torch.long, device=res.Z.device)


def _fall_back_to_line(embed, Z, L, E, length_subdivisions):
    """Replace curves densely longer than their straight latent segment by that segment.

    Returns (Z, L, E, fallback, line_length); ``line_length`` is NaN where the segment
    was not measured densely (see :class:`GeodesicResult`).
    """
    from .curves import curve_length, curve_length_energy, linear_curve

    Z, L, E = Z.clone(), L.clone(), E.clone()
    fb = torch.zeros(Z.shape[0], dtype=torch.bool, device=Z.device)
    L_line = torch.full_like(L, float("nan"))
    line = linear_curve(Z[:, 0], Z[:, -1], Z.shape[1])
    # Chord sums only grow when a polyline in φ is refined (triangle inequality), so the
    # segment's chords at a subset of its nodes (which the dense measurement samples too)
    # bound its dense length from below: a segment at least that long needs no dense
    # measurement (the decision is the same, and on a kinked φ, e.g. a ReLU decoder, the
    # dense measurement is the costly part). Most solved curves are clearly shorter than
    # their segment's chords at a coarse subset of nodes.
    n = Z.shape[1]
    coarse = torch.linspace(0, n - 1, min(LINE_BOUND_POINTS, n), device=Z.device).round().long().unique()
    near = torch.arange(Z.shape[0], device=Z.device)[curve_length(embed, line[:, coarse], 1) < L]
    if near.numel():
        # The segment is the same curve at any number of collinear nodes: measured as a
        # polyline of half the nodes at twice the sub-division, it is sampled at its n
        # nodes and the midpoints between them are not needed (half the decoder passes;
        # the Richardson correction and refinement keep it as faithful).
        half = (n - 1) // 2 + 1 if n > 3 and (n - 1) % 2 == 0 else n
        ls = length_subdivisions if length_subdivisions is None or half == n else 2 * int(length_subdivisions)
        seg = linear_curve(Z[near, 0], Z[near, -1], half)
        L_near, E_near = curve_length_energy(embed, seg, ls)
        L_line[near] = L_near
        shorter = L_near < L[near]
        take = near[shorter]
        fb[take] = True
        Z[take], L[take], E[take] = line[take], L_near[shorter], E_near[shorter]
    return Z, L, E, fb, L_line


@torch.no_grad()
def solve_geodesic_multistart(embed, starts, select_points=None, tol=1e-4, subdivisions=2,
                              min_points=9, refine_subdivisions=None, **kwargs):
    """:func:`solve_geodesic` from the best of several initial curves per pair.

    Where φ has walls (a steep decoder variance), the energy has several basins and the
    initial curve decides which one a local solver ends in. Each start is solved
    coarse-to-fine up to ``select_points`` nodes at a loose tolerance (10⁻³); per pair,
    the curve of least dense length there is refined to the full resolution by
    :func:`solve_geodesic` (its levels from ``select_points`` nodes up, the tunnelling
    guard and the straight-line fallback included). Pairs whose starts coincide are
    solved once, by :func:`solve_geodesic` from the start.

    The refinement minimises the energy at ``refine_subdivisions`` sub-segments per
    segment (default: twice ``subdivisions``). Several starts are used where φ has walls,
    and there a solve at ``subdivisions`` mostly ends with nodes on either side of a
    wall, which the tunnelling guard of :func:`solve_geodesic` then solves again at
    twice the sub-division: measured on the bench's 8-D MNIST decoder under the
    expected metric (16 pairs), 12 of 16 pairs were solved twice. Starting at twice the
    sub-division skips the first, wasted solve.

    Parameters
    ----------
    embed : callable
    starts : Tensor (S, B, n, d)
        ``S`` initial curves for each of ``B`` pairs (same endpoints).
    select_points : int or None
        Nodes at which the starts are compared (None: :data:`MULTISTART_SELECT_POINTS`).
    tol, subdivisions, min_points, **kwargs
        As in :func:`solve_geodesic`; ``subdivisions`` applies to the comparison of the
        starts.
    refine_subdivisions : int or None
        Sub-segments per segment of the refinement (None: ``2 * subdivisions``).

    Returns
    -------
    GeodesicResult
        With ``start``, the index of the start kept per pair.
    """
    from .curves import curve_length_energy, refine_cubic, resample

    S, B, n, d = starts.shape
    if select_points is None:
        select_points = MULTISTART_SELECT_POINTS
    rs = 2 * int(subdivisions) if refine_subdivisions is None else int(refine_subdivisions)
    if S == 1 or n <= select_points:
        res = solve_geodesic(embed, starts[0], tol=tol, subdivisions=rs, min_points=min_points, **kwargs)
        res.start = torch.zeros(B, dtype=torch.long, device=starts.device)
        return res
    # pairs whose starts all coincide (e.g. every graph gave the straight segment) are
    # solved once, as by solve_geodesic
    same = (starts == starts[:1]).flatten(2).all(-1).all(0)
    if bool(same.all()):
        return solve_geodesic_multistart(embed, starts[:1], select_points, tol, subdivisions, min_points, rs, **kwargs)
    if bool(same.any()):
        parts = [(same, solve_geodesic_multistart(embed, starts[:1, same], select_points, tol, subdivisions,
                                                  min_points, rs, **kwargs)),
                 (~same, solve_geodesic_multistart(embed, starts[:, ~same], select_points, tol, subdivisions,
                                                   min_points, rs, **kwargs))]
        n_max = max(r.Z.shape[1] for _, r in parts)
        for _, r in parts:  # finer levels (max_points) reached in one part: one node count
            if r.Z.shape[1] < n_max:
                r.Z = refine_cubic(r.Z, n_max)
                r.length, r.energy = curve_length_energy(embed, r.Z, kwargs.get("length_subdivisions"))
        merged = {}
        for name in (f.name for f in fields(GeodesicResult)):
            first = getattr(parts[0][1], name)
            out = torch.empty((B, *first.shape[1:]), dtype=first.dtype, device=first.device)
            for mask, r in parts:
                out[mask] = getattr(r, name)
            merged[name] = out
        return GeodesicResult(**merged)
    coarse, lengths = [], []
    for Zs in starts:
        r = solve_energy_multilevel(embed, resample(Zs, select_points), tol=max(tol, 1e-3), min_points=min_points,
                                    subdivisions=subdivisions)
        coarse.append(r.Z)
        # the comparison needs no refinement: where the two lengths differ by less than
        # the Richardson estimate's error, either start is as good
        lengths.append(curve_length_energy(embed, r.Z, refine=False)[0])
    best = torch.stack(lengths).argmin(0)
    chosen = torch.stack(coarse)[best, torch.arange(B, device=starts.device)]
    res = solve_geodesic(embed, resample(chosen, n), tol=tol, subdivisions=rs, min_points=select_points, **kwargs)
    res.start = best
    return res
