"""Figure helpers. Each takes an ``ax`` (or creates a figure) and returns what it drew on."""

from __future__ import annotations

import numpy as np


def _axes(ax, figsize=(5, 5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_latent_scatter(Z, labels=None, ax=None, s=4, cmap="tab10", legend=True):
    """Scatter of 2-D latent codes coloured by label."""
    ax = _axes(ax)
    Z = np.asarray(Z)
    if labels is None:
        ax.scatter(Z[:, 0], Z[:, 1], s=s, c="0.3", linewidths=0)
    else:
        labels = np.asarray(labels)
        import matplotlib.pyplot as plt

        colors = plt.get_cmap(cmap)
        for k, lab in enumerate(np.unique(labels)):
            m = labels == lab
            ax.scatter(Z[m, 0], Z[m, 1], s=s, color=colors(k % 10), label=str(lab), linewidths=0)
        if legend:
            ax.legend(markerscale=3, fontsize="small", loc="best", framealpha=0.85, edgecolor="none")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return ax


def plot_magnification(manifold, extent, ax=None, resolution=120, log=True, cmap="magma"):
    """Heat map of the magnification factor sqrt(det G(z)) over a 2-D latent box.

    ``extent`` is (z1_min, z1_max, z2_min, z2_max).
    """
    import torch

    from ..geometry import log_det_metric
    from ..geometry.metric import metric_in_chunks

    ax = _axes(ax)
    x = np.linspace(extent[0], extent[1], resolution)
    y = np.linspace(extent[2], extent[3], resolution)
    grid = np.stack(np.meshgrid(x, y), -1).reshape(-1, 2)
    Z = torch.as_tensor(grid, dtype=manifold.dtype_, device=manifold.device_)
    with torch.no_grad():
        logdet = metric_in_chunks(log_det_metric, manifold.embedding_map(), Z, 1024)
    val = (0.5 * logdet).cpu().numpy().reshape(resolution, resolution)
    if not log:
        val = np.exp(val)
    im = ax.imshow(val, origin="lower", extent=extent, cmap=cmap, aspect="auto")
    ax.figure.colorbar(im, ax=ax, label="log magnification  ½ log det G" if log else "sqrt(det G)")
    return ax


def plot_latent_paths(paths, ax=None, labels=None, colors=None, lw=1.5):
    """Draw latent curves (a list of ``Path`` results, or arrays (B, n, 2))."""
    ax = _axes(ax)
    for k, p in enumerate(paths):
        Z = getattr(p, "latent", p)
        c = None if colors is None else colors[k]
        for b in range(Z.shape[0]):
            ax.plot(Z[b, :, 0], Z[b, :, 1], color=c, lw=lw, label=(labels[k] if labels and b == 0 else None))
            ax.plot(Z[b, [0, -1], 0], Z[b, [0, -1], 1], "o", color=c or "k", ms=3)
    if labels:
        ax.legend(fontsize="small", framealpha=0.85, edgecolor="none")  # readable over dark maps
    return ax


def plot_image_strips(rows, image_shape=(28, 28), row_labels=None, n_images=10, fig=None, cmap="gray"):
    """One row of decoded images per path: ``rows`` is a list of arrays (n_points, n_features)."""
    import matplotlib.pyplot as plt

    n_rows = len(rows)
    if fig is None:
        fig = plt.figure(figsize=(n_images * 0.8 + 1.5, n_rows * 0.85 + 0.3))
    axes = fig.subplots(n_rows, n_images, squeeze=False)
    for r, decoded in enumerate(rows):
        decoded = np.asarray(decoded)
        idx = np.linspace(0, len(decoded) - 1, n_images).round().astype(int)
        for c, i in enumerate(idx):
            ax = axes[r, c]
            ax.imshow(decoded[i].reshape(image_shape), cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        if row_labels is not None:
            axes[r, 0].set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize="small")
    return fig


def latent_extent(Z, pad=0.15, q=0.5):
    """A box (z1_min, z1_max, z2_min, z2_max) around 2-D codes, padded by ``pad`` of its size."""
    Z = np.asarray(Z)
    lo, hi = np.percentile(Z, [q, 100 - q], axis=0)
    p = pad * (hi - lo)
    return (lo[0] - p[0], hi[0] + p[0], lo[1] - p[1], hi[1] + p[1])


def plot_std_map(manifold, extent=None, codes=None, labels=None, ax=None, resolution=120, quantity="std",
                 cmap="viridis", s=2):
    """Diagnostic map of a VAE's decoder variance (or magnification) with the codes on it.

    Shows where σ(z) rises: on the data it should be small, and it should rise both
    far outside the codes *and in the gaps between groups of codes* — the variance
    calibration that makes geodesics detour around empty regions.

    Parameters
    ----------
    manifold : fitted VAE (anything with ``decoded_std``) or, for ``quantity="magnification"``,
        any fitted manifold.
    extent : tuple or None
        (z1_min, z1_max, z2_min, z2_max); ``None``: around ``codes`` (or the training codes).
    codes : array-like of shape (n, 2) or None
        Latent codes to overlay (``None``: ``manifold.latent_train_`` when present).
    labels : array-like of shape (n,) or None
        Colours of the codes.
    quantity : {"std", "magnification"}
        ``"std"``: log10 of the mean σ(z) over outputs; ``"magnification"``:
        ½ log det G(z) of the expected metric.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _axes(ax, figsize=(6, 5))
    m = getattr(manifold, "estimator", manifold)
    if codes is None:
        codes = getattr(m, "latent_train_", None)
    if extent is None:
        extent = latent_extent(codes)
    if quantity == "magnification":
        plot_magnification(m, extent, ax=ax, resolution=resolution, cmap=cmap)
    else:
        x = np.linspace(extent[0], extent[1], resolution)
        y = np.linspace(extent[2], extent[3], resolution)
        grid = np.stack(np.meshgrid(x, y), -1).reshape(-1, 2)
        val = np.log10(m.decoded_std(grid).mean(axis=1)).reshape(resolution, resolution)
        im = ax.imshow(val, origin="lower", extent=extent, cmap=cmap, aspect="auto")
        ax.figure.colorbar(im, ax=ax, label="log10 mean σ(z)")
    if codes is not None:
        codes = np.asarray(codes)
        if labels is None:
            ax.scatter(codes[:, 0], codes[:, 1], s=s, c="w", edgecolors="none", alpha=0.6)
        else:
            ax.scatter(codes[:, 0], codes[:, 1], s=s, c=np.asarray(labels), cmap="tab10", vmin=0, vmax=9,
                       edgecolors="none", alpha=0.7)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return ax
