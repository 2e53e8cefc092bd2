"""Maps of the Jacobian diagnostics (log det JᵀJ and κ(J)) over a 2-D latent slice."""

from __future__ import annotations

import numpy as np


def jacobian_maps(manifold, extent=None, resolution=60, center=None, directions=None, through=None, padding=0.25):
    """Evaluate log det(JᵀJ), magnification and κ(J) of a fitted manifold on a 2-D grid.

    The grid lies in the plane z = c + a·u + b·v of the latent space. For
    ``latent_dim == 2`` the default plane is the latent space itself; for d > 2 it is
    the plane through the first two coordinate axes at ``center`` (default: the mean
    training code), or, with ``through`` (3 codes), the plane through those codes.

    Parameters
    ----------
    manifold : fitted GenerativeManifold
        Its embedding map φ is differentiated (for a VAE: the expected metric of
        concat(μ, σ)).
    extent : (a_min, a_max, b_min, b_max) or None
        Range of the plane coordinates; ``None``: the box of the training codes
        projected on the plane, padded by ``padding`` of its size on each side.
    resolution : int, default=60
    center : array-like (d,) or None
    directions : array-like (2, d) or None
    through : array-like (3, d) or None
    padding : float, default=0.25

    Returns
    -------
    dict with ``"log_det"``, ``"magnification"``, ``"condition_number"`` (arrays of
    shape (resolution, resolution), row = b, column = a), ``"extent"``, ``"codes"``
    (training codes projected on the plane, (n, 2)), ``"center"`` and ``"directions"``.
    """
    import torch

    from ..geometry import jacobian_diagnostics, latent_plane, plane_through

    dtype, device = manifold.dtype_, manifold.device_
    d = manifold.latent_dim_
    train = manifold.latent_reference_points()
    if through is not None:
        c, D, _ = plane_through(torch.as_tensor(np.asarray(through), dtype=torch.float64))
    else:
        if d < 2:
            raise ValueError("Jacobian maps need latent_dim >= 2")
        if center is None:
            center = np.zeros(d) if train is None else np.asarray(train).mean(0)
        c = torch.as_tensor(np.asarray(center), dtype=torch.float64)
        D = torch.eye(d, dtype=torch.float64)[:2] if directions is None else torch.as_tensor(np.asarray(directions), dtype=torch.float64)
    codes = None
    if train is not None:
        codes = ((torch.as_tensor(np.asarray(train), dtype=torch.float64) - c) @ D.T).numpy()
    if extent is None:
        if codes is None:
            raise ValueError("pass extent=: the manifold has no training codes")
        lo, hi = codes.min(0), codes.max(0)
        pad = padding * (hi - lo)
        extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    grid = latent_plane(c, extent, resolution, D).reshape(-1, d)
    with torch.no_grad():
        out = jacobian_diagnostics(manifold.embedding_map(), grid.to(device, dtype), chunk_size=512)
    res = {k: v.double().cpu().numpy().reshape(resolution, resolution) for k, v in out.items()}
    res.update(extent=tuple(float(e) for e in extent), codes=codes, center=c.numpy(), directions=D.numpy())
    return res


def plot_jacobian_diagnostics(manifold, extent=None, resolution=60, axes=None, labels=None, through=None, center=None,
                              directions=None, s=3, title=None):
    """Two heat maps over a latent slice: log det(JᵀJ) and log₁₀ κ(J), training codes on top.

    Reproduces the panels of the poster's Figs. 4-5 (Ramirez, Gallego & Puerta) for any
    fitted manifold; see :func:`jacobian_maps` for the slice (d > 2: a plane through
    ``center`` along ``directions``, or through three codes ``through``).

    Parameters
    ----------
    manifold : fitted GenerativeManifold
    extent, resolution, through, center, directions : see :func:`jacobian_maps`
    axes : pair of matplotlib Axes or None
    labels : array-like (n_train,) or None
        Colours for the overlaid training codes.
    s : float
        Marker size of the codes.
    title : str or None
        Prefix of the panel titles.

    Returns
    -------
    axes, maps : the two Axes and the dict of :func:`jacobian_maps`
    """
    import matplotlib.pyplot as plt

    maps = jacobian_maps(manifold, extent, resolution, center=center, directions=directions, through=through)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    ext = maps["extent"]
    panels = [
        (maps["log_det"], "log det(JᵀJ)", "viridis"),
        (np.log10(maps["condition_number"]), "log₁₀ κ(J)", "magma"),
    ]
    for ax, (val, name, cmap) in zip(axes, panels):
        im = ax.imshow(np.where(np.isfinite(val), val, np.nan), origin="lower", extent=ext, cmap=cmap, aspect="auto")
        ax.figure.colorbar(im, ax=ax)
        codes = maps["codes"]
        if codes is not None:
            if labels is None:
                ax.scatter(codes[:, 0], codes[:, 1], s=s, c="w", edgecolors="k", linewidths=0.2)
            else:
                ax.scatter(codes[:, 0], codes[:, 1], s=s, c=np.asarray(labels), cmap="tab10", linewidths=0)
        ax.set_xlim(ext[0], ext[1])
        ax.set_ylim(ext[2], ext[3])
        ax.set_title(name if title is None else f"{title}: {name}", fontsize="small")
        ax.set_xlabel("$a$ (plane coordinate)" if manifold.latent_dim_ > 2 or through is not None else "$z_1$")
        ax.set_ylabel("$b$" if manifold.latent_dim_ > 2 or through is not None else "$z_2$")
    return axes, maps


def jacobian_summary(manifold, resolution=60, away=0.05, padding=0.25):
    """The measured counterpart of the poster's Table 1 for one manifold.

    On the grid of :func:`jacobian_maps` (default slice, padded box of the codes):

    * smoothness of the metric's magnitude: total variation (mean absolute difference
      of log det(JᵀJ) between adjacent cells) and mean gradient norm of log det per unit
      of the *normalised* plane coordinate (the box scaled to [0, 1]²), so models with
      different latent scales compare;
    * conditioning on the data: median and 95th percentile of κ(J) at the training
      codes themselves;
    * conditioning away from the data: the same over grid points whose distance to the
      nearest training code exceeds ``away`` times the diagonal of the (padded) box.

    Returns
    -------
    dict of str to float
    """
    import torch
    from sklearn.neighbors import NearestNeighbors

    from ..geometry import grid_variation, jacobian_diagnostics

    maps = jacobian_maps(manifold, None, resolution, padding=padding)
    ext = maps["extent"]
    tv, _ = grid_variation(maps["log_det"])
    _, grad = grid_variation(maps["log_det"], spacing=1.0 / (resolution - 1))
    train = np.asarray(manifold.latent_reference_points())
    with torch.no_grad():
        on = jacobian_diagnostics(manifold.embedding_map(), torch.as_tensor(train, dtype=manifold.dtype_, device=manifold.device_))
    k_on = on["condition_number"].double().cpu().numpy()
    codes = maps["codes"]
    nn = NearestNeighbors(n_neighbors=1).fit(codes)
    diagonal = float(np.hypot(ext[1] - ext[0], ext[3] - ext[2]))
    a = np.linspace(ext[0], ext[1], resolution)
    b = np.linspace(ext[2], ext[3], resolution)
    A, B = np.meshgrid(a, b)
    dist = nn.kneighbors(np.c_[A.ravel(), B.ravel()], n_neighbors=1)[0][:, 0].reshape(resolution, resolution)
    far = dist > away * diagonal
    k_off = maps["condition_number"][far]
    q = lambda v, p: float(np.quantile(v[np.isfinite(v)], p)) if np.isfinite(v).any() else float("nan")
    return {
        "logdet_tv": tv,
        "logdet_grad": grad,
        "kappa_on_median": q(k_on, 0.5),
        "kappa_on_p95": q(k_on, 0.95),
        "kappa_off_median": q(k_off, 0.5),
        "kappa_off_p95": q(k_off, 0.95),
        "away_fraction": float(far.mean()),
    }
