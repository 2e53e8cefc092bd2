"""Batched discrete curves (B, n, d): length, energy, resampling (pure Torch).

With Δφ_i = φ(z_{i+1}) − φ(z_i): length L = Σ‖Δφ_i‖ and energy
E = (n−1) Σ‖Δφ_i‖², so L² ≤ E with equality at constant speed.
"""

from __future__ import annotations

import warnings

import torch


def linear_curve(z0, z1, n_points):
    """Straight latent segments: (B, d), (B, d) → (B, n, d)."""
    t = torch.linspace(0.0, 1.0, n_points, dtype=z0.dtype, device=z0.device)
    return z0.unsqueeze(1) + t[None, :, None] * (z1 - z0).unsqueeze(1)


def embed_curve(embed, Z):
    """φ applied to every point of a batch of curves: (B, n, d) → (B, n, D)."""
    B, n, d = Z.shape
    return embed(Z.reshape(B * n, d)).reshape(B, n, -1)


#: Sub-segments per latent segment used for the lengths the estimators report: the
#: curve between two nodes is a straight latent segment, and its φ-length is measured
#: at this resolution and Richardson-extrapolated with the half resolution (the chord
#: sum's error is O(h²)); segments where that is not enough are refined (see
#: :func:`curve_length_energy`). Measured by ``bench/bench_geodesic.py`` against a
#: float64 evaluation at ≥ 512 sub-segments: 2 sub-segments agree to ≤ 3.1e-6 on smooth
#: MNIST decoders (mean and expected metric; 4 did to ≤ 2.2e-6 at twice the decoder
#: passes) and to ~1e-4 on ReLU ones (first-order kinks; 4: ≤ 9.8e-5).
LENGTH_SUBDIVISIONS = 2

#: Curves with few nodes are measured at more sub-segments per latent segment, so that
#: every curve gets at least this many in all: a long segment sampled at only 4 points
#: can step over a bump of φ that neither the 4- nor the 2-point chord sum sees (then
#: no Richardson correction flags it). Measured on 180 six-node density-regularised
#: paths of a 2-D MNIST VAE, against a float64 evaluation at 8192 sub-segments: 0.75 %
#: short at 4 per segment (20 in all), within 2e-6 at 32, 64 or 256 in all.
MIN_CURVE_SUBSEGMENTS = 64

_CHUNK_POINTS = 32768


def subdivide(Z, subdivisions):
    """Insert ``subdivisions − 1`` equally spaced points in every latent segment.

    (B, n, d) → (B, (n − 1)·subdivisions + 1, d); the curve (piecewise linear in latent
    space) is unchanged.
    """
    s = int(subdivisions)
    if s == 1:
        return Z
    B, n, d = Z.shape
    a = torch.arange(s, dtype=Z.dtype, device=Z.device) / s
    seg = Z[:, :-1, None] + a[None, None, :, None] * (Z[:, 1:, None] - Z[:, :-1, None])
    return torch.cat([seg.reshape(B, (n - 1) * s, d), Z[:, -1:]], 1)


def _sub_steps(embed, Z, subdivisions, half=False):
    """‖Δφ‖ over the sub-segments, (B, n−1, s), evaluated a few curves at a time.

    With ``half`` (s even) also each segment's length at s/2 sub-segments, (B, n−1),
    from every other sub-point of the same evaluation, and the largest ‖φ‖ on each
    segment, (B, n−1) (the scale of φ's rounding errors there).
    """
    B, n, d = Z.shape
    s = int(subdivisions)
    per_curve = (n - 1) * s + 1
    step = max(1, _CHUNK_POINTS // per_curve)
    out, halves, scales = [], [], []
    for i in range(0, B, step):
        X = embed_curve(embed, subdivide(Z[i : i + step], s))
        out.append((X[:, 1:] - X[:, :-1]).norm(dim=-1).reshape(-1, n - 1, s))
        if half:
            Xh = X[:, ::2]
            halves.append((Xh[:, 1:] - Xh[:, :-1]).norm(dim=-1).reshape(-1, n - 1, s // 2).sum(-1))
            norms = X.norm(dim=-1)
            scales.append(torch.maximum(norms[:, :-1].reshape(-1, n - 1, s).amax(-1), norms[:, s::s]))
    if not out:
        empty = Z.new_zeros(0, n - 1, s)
        return (empty, Z.new_zeros(0, n - 1), Z.new_zeros(0, n - 1)) if half else empty
    if half:
        return torch.cat(out), torch.cat(halves), torch.cat(scales)
    return torch.cat(out)


#: A segment whose Richardson correction exceeds this fraction of its length is not in
#: the asymptotic regime (a wall of φ between sub-points): it is measured again, finer.
RESOLVED_TOLERANCE = 1e-4

#: The finest sub-division adaptive refinement goes to.
MAX_SUBDIVISIONS = 512


def _richardson_segments(embed, Z, s):
    """Per-segment lengths (B, n−1), Richardson-extrapolated from s and s/2 sub-segments,
    their correction terms, ``steps`` (B, n−1, s) for the energy and the largest ‖φ‖
    on each segment (B, n−1)."""
    steps, half, scale = _sub_steps(embed, Z, s, half=True)
    Ls = steps.sum(-1)
    corr = (Ls - half) / 3.0
    return Ls + corr, corr, steps, scale


def _rounding_bias(L, scale, s):
    """The upward bias of a segment's length summed over s chords in φ's dtype.

    Each φ value carries a rounding error of about eps·‖φ‖ (measured: 0.2-0.5 eps·‖φ‖
    for float32 MLP and convolutional decoders against float64), and a chord of length
    Δ = L/s measured with an error vector of norm ν comes out about ν²/(2Δ) too long, so
    the s chords add s²ν²/(2L): finer sub-division *raises* the length once the chords
    approach the noise. On a flat stretch of a float32 decoder (chords ~1e-5 against
    ‖φ‖ ~ 14) refining to 512 sub-segments had made lengths 2.4-3.9x too long.
    """
    nu = torch.finfo(L.dtype).eps * scale
    bias = (s * nu).pow(2) / (2 * L.abs().clamp_min(torch.finfo(L.dtype).tiny))
    return torch.where(L.abs() > 0, bias, torch.zeros_like(bias))  # a zero-length segment's chords are exactly 0


#: :func:`curve_length_energy` warns when a curve's estimated rounding bias exceeds this
#: fraction of its length (the estimators promise 1e-3 of a float64 evaluation).
ROUNDING_WARN_FRACTION = 3e-4


def _warn_if_rounding_limited(L, bias, dtype):
    limited = (bias > ROUNDING_WARN_FRACTION * L.abs()) & (L.abs() > 0)
    if bool(limited.any()):
        worst = float((bias / L.abs().clamp_min(torch.finfo(L.dtype).tiny)).max())
        warnings.warn(
            f"{int(limited.sum())} of {L.numel()} curve lengths are near the resolution of {dtype}: φ changes "
            f"so little along them, against the size of its values, that rounding makes a length up to "
            f"{worst:.2%} too long; evaluate φ in float64 (dtype='float64' on the manifold) for exact lengths",
            RuntimeWarning, stacklevel=3)


def _refine_segments(embed, Z, seg_len, corr, s, scale=None):
    """Re-measure, at 4× finer sub-division (repeatedly), the segments whose Richardson
    correction says they are under-resolved; returns corrected (B, n−1) lengths.

    A segment is under-resolved when its correction exceeds :data:`RESOLVED_TOLERANCE`
    of the larger of its own length and its curve's mean segment length: short segments
    then need not be resolved beyond what they contribute to the curve's length, while
    the curve's total stays within about that tolerance. A segment is refined only while
    the finer measurement's rounding bias (:func:`_rounding_bias`, from ``scale``, the
    largest ‖φ‖ on it) stays within that tolerance too: beyond that its correction is
    rounding noise, which finer sub-division amplifies instead of removing.
    """
    seg_len = seg_len.clone()
    floor = (seg_len.sum(-1, keepdim=True) / seg_len.shape[-1]).abs()  # (B, 1): the mean segment length
    if scale is None:
        scale = torch.zeros_like(seg_len)

    def allowed(L, f):
        return RESOLVED_TOLERANCE * torch.maximum(L.abs(), f).clamp_min(torch.finfo(L.dtype).tiny)

    def unresolved(c, L, f, sc, s_next):
        return (c.abs() > allowed(L, f)) & (_rounding_bias(L, sc, s_next) <= allowed(L, f))

    bad = unresolved(corr, seg_len, floor, scale, 4 * s)
    while bool(bad.any()) and s < MAX_SUBDIVISIONS:
        s = min(4 * s, MAX_SUBDIVISIONS)
        b, i = bad.nonzero(as_tuple=True)
        ends = torch.stack([Z[b, i], Z[b, i + 1]], 1)  # each bad segment as a 2-node curve
        L, c, _, sc = _richardson_segments(embed, ends, s)
        seg_len[b, i] = L[:, 0]
        still = unresolved(c[:, 0], L[:, 0], floor[b, 0], sc[:, 0], 4 * s)
        bad = torch.zeros_like(bad)
        bad[b[still], i[still]] = True
    return seg_len


def segment_lengths(embed, Z, subdivisions=1):
    """φ-length of each latent segment: (B, n−1).

    With ``subdivisions > 1`` each straight latent segment is measured at that many
    sub-segments (the length of the piecewise-linear curve, not of its chords).
    """
    return _sub_steps(embed, Z, subdivisions).sum(-1)


def curve_length(embed, Z, subdivisions=1):
    """Length Σ‖Δφ‖ of each curve, its segments measured at ``subdivisions`` sub-segments: (B,).

    ``subdivisions=1`` is the discrete (chord) length of the nodes;
    ``subdivisions=LENGTH_SUBDIVISIONS`` the dense length the estimators report.
    """
    return _sub_steps(embed, Z, subdivisions).sum((-1, -2))


def curve_energy(embed, Z, subdivisions=1):
    """Discrete energy (N−1)Σ‖Δφ‖² of each curve over its N − 1 (sub-)segments: (B,)."""
    steps = _sub_steps(embed, Z, subdivisions)
    return steps.shape[1] * steps.shape[2] * steps.pow(2).sum((-1, -2))


def curve_length_energy(embed, Z, subdivisions=None, refine=True):
    """(length, energy) of each curve from one dense evaluation.

    Every latent segment is measured at ``subdivisions`` sub-segments (default
    :data:`LENGTH_SUBDIVISIONS`, more for curves of few nodes: at least
    :data:`MIN_CURVE_SUBSEGMENTS` per curve); for an even number the length is Richardson-
    extrapolated, L = L_s + (L_s − L_{s/2}) / 3, L_{s/2} using every other sub-point
    of the same evaluation. Segments where that correction exceeds
    :data:`RESOLVED_TOLERANCE` of their length (φ changes too fast between sub-points
    for the extrapolation to hold) are measured again at 4×, 16×, … finer sub-division
    until the correction is small (at most :data:`MAX_SUBDIVISIONS`); ``refine=False``
    skips that step (a cheaper estimate, for comparisons). The energy is
    (N − 1)Σ‖Δφ‖² over the N − 1 sub-segments of the first evaluation.
    """
    if subdivisions is None:
        n_seg = max(Z.shape[1] - 1, 1)
        s = max(LENGTH_SUBDIVISIONS, -(-MIN_CURVE_SUBSEGMENTS // n_seg))
        s += s % 2 if s > 1 else 0  # even, for the Richardson half-resolution
    else:
        s = int(subdivisions)
    if s % 2 == 0:
        seg, corr, steps, scale = _richardson_segments(embed, Z, s)
        L = (_refine_segments(embed, Z, seg, corr, s, scale) if refine else seg).sum(-1)
        _warn_if_rounding_limited(L, _rounding_bias(seg, scale, s).sum(-1), Z.dtype)
    else:
        steps = _sub_steps(embed, Z, s)
        L = steps.sum((-1, -2))
    return L, steps.shape[1] * steps.shape[2] * steps.pow(2).sum((-1, -2))


def resample(Z, n_points):
    """Piecewise-linear resampling of latent curves at ``n_points`` equal steps of t."""
    B, n, d = Z.shape
    if n == n_points:
        return Z
    s = torch.linspace(0.0, n - 1, n_points, dtype=Z.dtype, device=Z.device)
    i0 = s.floor().long().clamp(max=n - 2)
    w = (s - i0.to(Z.dtype))[None, :, None]
    return Z[:, i0] * (1 - w) + Z[:, i0 + 1] * w


def refine_cubic(Z, n_points):
    """Resample smooth latent curves at ``n_points`` equal steps of t, cubically.

    Each new point is the value at its parameter of the cubic through the four nearest
    nodes (local Lagrange interpolation in the node index, one-sided at the ends; the
    midpoint rule is (−z_{i−1} + 9z_i + 9z_{i+1} − z_{i+2}) / 16). The nodes of a solved
    geodesic sit on a smooth curve, so the cubic puts the new points on that curve to
    O(h⁴) where :func:`resample` cuts its chords, O(h²) off. Curves of fewer than four
    nodes are resampled linearly. When ``n_points − 1`` is a multiple of ``n − 1`` the
    old nodes are kept exactly.
    """
    B, n, d = Z.shape
    if n == n_points:
        return Z
    if n < 4:
        return resample(Z, n_points)
    s = torch.linspace(0.0, n - 1, n_points, dtype=Z.dtype, device=Z.device)
    return _cubic_at(Z, s.expand(B, n_points))


def _cubic_at(Z, s):
    """Z (B, n ≥ 4, d) evaluated at fractional node indices s (B, m) by the cubic through
    the four nearest nodes (one-sided at the ends); exact nodes where s hits them."""
    B, n, d = Z.shape
    # stencil k0..k0+3 around the segment of s, shifted inside [0, n − 1] at the ends
    k0 = (s.floor().long() - 1).clamp(0, n - 4)
    x = s - k0.to(Z.dtype)  # position of s in stencil coordinates 0..3
    nodes = torch.arange(4, dtype=Z.dtype, device=Z.device)
    w = torch.ones(*s.shape, 4, dtype=Z.dtype, device=Z.device)
    for j in range(4):
        for m in range(4):
            if m != j:
                w[..., j] = w[..., j] * (x - nodes[m]) / (nodes[j] - nodes[m])
    idx = k0[..., None] + torch.arange(4, device=Z.device)  # (B, m, 4)
    rows = torch.arange(B, device=Z.device)[:, None, None]
    out = (Z[rows, idx] * w[..., None]).sum(-2)
    # exact nodes where s hits them (no rounding drift), fixed endpoints
    on_node = (s - s.round()).abs() < 1e-9 * max(n - 1, 1)
    hit = s.round().long().clamp(0, n - 1)
    out = torch.where(on_node[..., None], Z[torch.arange(B, device=Z.device)[:, None], hit], out)
    return out


def reparametrize_constant_speed(embed, Z, subdivisions=1, cubic=False):
    """Move the interior points so consecutive φ-steps are (nearly) equal.

    The curve's φ-length is measured along its latent polyline at ``subdivisions``
    sub-segments per segment, and the new points are placed at equal fractions of that
    length: on the polyline (linear interpolation between the sub-points), or with
    ``cubic`` on the smooth curve through the nodes (the local cubic of
    :func:`refine_cubic`, O(h⁴) from a smooth curve the nodes sample where the polyline's
    chords are O(h²) off it; curves of fewer than four points stay linear).
    """
    B, n, d = Z.shape
    s = int(subdivisions)
    steps = _sub_steps(embed, Z, s).reshape(B, -1)  # (B, (n−1)s)
    P = subdivide(Z, s)  # (B, N, d): the points those steps join
    N = P.shape[1]
    cum = torch.cat([torch.zeros(B, 1, dtype=Z.dtype, device=Z.device), steps.cumsum(-1)], dim=-1)
    total = cum[:, -1:].clamp_min(torch.finfo(Z.dtype).tiny)
    cum = cum / total
    target = torch.linspace(0.0, 1.0, n, dtype=Z.dtype, device=Z.device).expand(B, n).contiguous()
    idx = torch.searchsorted(cum.contiguous(), target, right=True).clamp(1, N - 1) - 1
    c0 = cum.gather(1, idx)
    c1 = cum.gather(1, idx + 1)
    w = ((target - c0) / (c1 - c0).clamp_min(torch.finfo(Z.dtype).tiny)).clamp(0, 1)
    if cubic and n >= 4:
        out = _cubic_at(Z, (idx.to(Z.dtype) + w) / s)
    else:
        z0 = P.gather(1, idx.unsqueeze(-1).expand(B, n, d))
        z1 = P.gather(1, (idx + 1).unsqueeze(-1).expand(B, n, d))
        out = z0 + w.unsqueeze(-1) * (z1 - z0)
    out[:, 0], out[:, -1] = Z[:, 0], Z[:, -1]
    return out
