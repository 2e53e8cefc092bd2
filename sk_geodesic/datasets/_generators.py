"""Synthetic data sets and latent priors used in the latent-geometry papers."""

import math
import numbers
import sys

import numpy as np
from scipy.special import logsumexp
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_ring", "SemicircleMixture", "make_semicircle", "make_pole_shadow"]


def _check_positive_int(value, name, minimum=1):
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_real(value, name, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        bound = f"< {high}" if high_open else f"<= {high}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return value


# --------------------------------------------------------------------------
# Ring
# --------------------------------------------------------------------------


def make_ring(n_samples=1000, *, radius=1.0, width=0.1, random_state=None):
    """Generate a 2-D ring (annulus) with a hole in the middle.

    Points are drawn uniformly (with respect to area) in the annulus
    ``radius - width <= ||x|| <= radius + width``: ``width`` is the
    half-width of the band, so no point is closer than ``radius - width``
    to the origin.  This is the circular toy data set used, for example, by
    Kim & Zhang (2019, Fig. 2) to train a small 2-20-20-2 GAN whose latent
    space must wrap around the hole.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of points.

    radius : float, default=1.0
        Radius of the centre line of the ring, > 0.

    width : float, default=0.1
        Half-width of the band, ``0 <= width < radius``.  ``width=0`` gives
        points exactly on the circle.

    random_state : int, RandomState instance or None, default=None
        Seed or generator for reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, 2)
        The points.

    angle : ndarray of shape (n_samples,)
        Polar angle of each point, in radians in ``[0, 2*pi)``; the natural
        continuous "label" of the ring (returned like the ``y`` of
        :func:`sklearn.datasets.make_moons`).

    References
    ----------
    Kim & Zhang (2019), Fig. 2: the ring ("circular") data set, learned by a
    GAN with a 2-20-20-2 generator.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_geodesic.datasets import make_ring
    >>> X, angle = make_ring(500, radius=1.0, width=0.1, random_state=0)
    >>> X.shape, angle.shape
    ((500, 2), (500,))
    >>> r = np.linalg.norm(X, axis=1)
    >>> bool(r.min() >= 0.9 and r.max() <= 1.1)
    True
    """
    n_samples = _check_positive_int(n_samples, "n_samples")
    radius = _check_real(radius, "radius", low=0.0, low_open=True)
    width = _check_real(width, "width", low=0.0)
    if width >= radius:
        raise ValueError(
            f"width must be smaller than radius so that the ring has a hole; "
            f"got width={width} and radius={radius}"
        )
    rng = check_random_state(random_state)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n_samples)
    r_in, r_out = radius - width, radius + width
    # Inverse CDF of the radius for a density uniform in area.
    r = np.sqrt(rng.uniform(r_in**2, r_out**2, size=n_samples))
    X = np.column_stack([r * np.cos(angle), r * np.sin(angle)])
    angle = np.mod(angle, 2.0 * np.pi)
    return X, angle


# --------------------------------------------------------------------------
# Semicircle mixture (Struski et al.)
# --------------------------------------------------------------------------

_SEMICIRCLE_MEANS_2D = np.array([[2.0, 6.0], [0.0, 0.0], [2.0, -6.0]])
_SEMICIRCLE_COVS_2D = np.array(
    [
        [[5.0, 2.0], [2.0, 2.0]],
        [[1.0, 0.0], [0.0, 3.0]],
        [[5.0, -2.0], [-2.0, 2.0]],
    ]
)
_SEMICIRCLE_TAIL_VARIANCE = 0.5


def _torch_if_tensor(z):
    """Return the torch module if ``z`` is a torch tensor, else None.

    torch is only looked up in ``sys.modules``: a tensor cannot exist unless
    torch has been imported, so NumPy users never pay for importing it.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(z, torch.Tensor):
        return torch
    return None


class SemicircleMixture:
    """Three-Gaussian "semicircle" prior of Struski et al. (eq. 20).

    The density is

    .. math::

        p(z) = \\frac{1}{3} \\sum_{i=1}^{3} \\mathcal{N}(z; \\mu_i, \\Sigma_i),
        \\qquad z \\in \\mathbb{R}^{d},

    with :math:`\\mu_i = (\\tilde\\mu_i, 0, \\dots, 0)`,
    :math:`\\tilde\\mu_1 = (2, 6)`, :math:`\\tilde\\mu_2 = (0, 0)`,
    :math:`\\tilde\\mu_3 = (2, -6)`, and block-diagonal covariances
    :math:`\\Sigma_i = \\mathrm{diag}(M_{11}^{(i)}, M_{22})` where

    .. math::

        M_{11}^{(1)} = \\begin{pmatrix} 5 & 2 \\\\ 2 & 2 \\end{pmatrix},\\quad
        M_{11}^{(2)} = \\begin{pmatrix} 1 & 0 \\\\ 0 & 3 \\end{pmatrix},\\quad
        M_{11}^{(3)} = \\begin{pmatrix} 5 & -2 \\\\ -2 & 2 \\end{pmatrix}.

    The paper describes :math:`M_{22}` as "a 2-D array with 0.5 on the
    diagonal"; it is read here as :math:`0.5 I_{d-2}`, the diagonal block
    covering all the remaining ``d - 2`` coordinates, which is the only
    reading that yields a ``d``-dimensional covariance.  The three
    components lie along a bent, semicircle-like curve in the first two
    coordinates, so straight lines between samples of the outer components
    cross the low-density region between them.

    Parameters
    ----------
    n_dims : int, default=20
        Dimension ``d`` of the latent space, at least 2.

    Attributes
    ----------
    n_dims : int
        Dimension of the space.
    weights_ : ndarray of shape (3,)
        Mixture weights (all 1/3).
    means_ : ndarray of shape (3, n_dims)
        Component means.
    covariances_ : ndarray of shape (3, n_dims, n_dims)
        Component covariance matrices.

    See Also
    --------
    make_semicircle : Draw a labelled sample from this mixture.

    References
    ----------
    Ł. Struski, J. Tabor, I. Podolak, A. Nowak and K. Maziarz, "Realism Index:
    Interpolation in Generative Models With Arbitrary Prior",
    arXiv:1904.03445, eq. 20.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sk_geodesic.datasets import SemicircleMixture
    >>> prior = SemicircleMixture(n_dims=20)
    >>> Z = prior.sample(5, random_state=0)
    >>> Z.shape
    (5, 20)
    >>> prior.log_prob(Z).shape
    (5,)
    >>> z = torch.zeros(3, 20, dtype=torch.float64, requires_grad=True)
    >>> lp = prior.log_prob(z)
    >>> lp.sum().backward()
    >>> z.grad.shape
    torch.Size([3, 20])
    """

    def __init__(self, n_dims=20):
        self.n_dims = _check_positive_int(n_dims, "n_dims", minimum=2)
        d = self.n_dims
        self.weights_ = np.full(3, 1.0 / 3.0)
        self.means_ = np.zeros((3, d))
        self.means_[:, :2] = _SEMICIRCLE_MEANS_2D
        self.covariances_ = np.zeros((3, d, d))
        self.covariances_[:, :2, :2] = _SEMICIRCLE_COVS_2D
        idx = np.arange(2, d)
        self.covariances_[:, idx, idx] = _SEMICIRCLE_TAIL_VARIANCE
        chol = np.linalg.cholesky(self.covariances_)
        self._chol = chol
        # Inverse Cholesky factors: maha_k = || L_k^{-1} (z - mu_k) ||^2.
        self._prec_chol = np.linalg.inv(chol)
        log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        self._log_norm = np.log(self.weights_) - 0.5 * (d * np.log(2.0 * np.pi) + log_det)
        self._torch_cache = {}

    def __repr__(self):
        return f"{type(self).__name__}(n_dims={self.n_dims})"

    @property
    def n_components(self):
        """Number of mixture components (3)."""
        return 3

    def sample(self, n_samples=1, random_state=None, return_labels=False):
        """Draw samples from the mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.

        random_state : int, RandomState instance or None, default=None
            Seed or generator for reproducible output.

        return_labels : bool, default=False
            If True, also return the component of each sample.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_dims)
            The samples.

        labels : ndarray of shape (n_samples,)
            Component index (0, 1 or 2) of each sample; only if
            ``return_labels`` is True.
        """
        n_samples = _check_positive_int(n_samples, "n_samples")
        rng = check_random_state(random_state)
        labels = rng.choice(3, size=n_samples, p=self.weights_)
        eps = rng.standard_normal((n_samples, self.n_dims))
        Z = self.means_[labels] + np.einsum("nij,nj->ni", self._chol[labels], eps)
        if return_labels:
            return Z, labels
        return Z

    def _torch_params(self, torch, dtype, device):
        key = (dtype, str(device))
        params = self._torch_cache.get(key)
        if params is None:
            params = tuple(
                torch.as_tensor(a, dtype=dtype, device=device)
                for a in (self.means_, self._prec_chol, self._log_norm)
            )
            self._torch_cache[key] = params
        return params

    def log_prob(self, z):
        """Log-density of the mixture.

        Works with NumPy arrays and with torch tensors.  For a tensor the
        computation stays in torch (same dtype and device as ``z``) and is
        differentiable, so the method can serve as a latent log-density in
        gradient-based code.

        Parameters
        ----------
        z : array-like or torch.Tensor of shape (n_samples, n_dims) or (n_dims,)
            Points at which to evaluate the density.  Integer tensors are
            converted to the default floating dtype.

        Returns
        -------
        log_p : ndarray or torch.Tensor of shape (n_samples,)
            ``log p(z)``; a 0-d result for a single 1-D point.  A tensor if
            ``z`` is a tensor, otherwise an ndarray.
        """
        torch = _torch_if_tensor(z)
        if torch is not None:
            if not torch.is_floating_point(z):
                z = z.to(torch.get_default_dtype())
            self._check_shape(tuple(z.shape))
            means, prec_chol, log_norm = self._torch_params(torch, z.dtype, z.device)
            diff = z.unsqueeze(-2) - means  # (..., 3, d)
            y = torch.einsum("ked,...kd->...ke", prec_chol, diff)
            comp = log_norm - 0.5 * (y * y).sum(dim=-1)
            return torch.logsumexp(comp, dim=-1)
        z = np.asarray(z, dtype=np.float64)
        self._check_shape(z.shape)
        diff = z[..., None, :] - self.means_
        y = np.einsum("ked,...kd->...ke", self._prec_chol, diff)
        comp = self._log_norm - 0.5 * np.sum(y * y, axis=-1)
        return logsumexp(comp, axis=-1)

    def _check_shape(self, shape):
        if len(shape) not in (1, 2) or shape[-1] != self.n_dims:
            raise ValueError(
                f"z must have shape (n_samples, {self.n_dims}) or ({self.n_dims},), "
                f"got {shape}"
            )

    def score_samples(self, X):
        """Log-density of each sample, as a NumPy array (scikit-learn style)."""
        torch = _torch_if_tensor(X)
        if torch is not None:
            X = X.detach().cpu().numpy()
        return self.log_prob(np.asarray(X, dtype=np.float64))

    def __call__(self, z):
        """Alias of :meth:`log_prob`, so the object is a log-density callable."""
        return self.log_prob(z)


def make_semicircle(n_samples=1000, n_dims=20, random_state=None):
    """Sample the three-Gaussian "semicircle" prior of Struski et al.

    See :class:`SemicircleMixture` for the density (eq. 20 of the paper).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of samples.

    n_dims : int, default=20
        Dimension of the samples, at least 2.

    random_state : int, RandomState instance or None, default=None
        Seed or generator for reproducible output.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_dims)
        The samples.

    labels : ndarray of shape (n_samples,)
        Mixture component (0, 1 or 2) of each sample; component 0 is centred
        at (2, 6, 0, ...), 1 at the origin, 2 at (2, -6, 0, ...).

    See Also
    --------
    SemicircleMixture : The density, with a torch-compatible ``log_prob``.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_geodesic.datasets import make_semicircle
    >>> Z, labels = make_semicircle(300, random_state=0)
    >>> Z.shape
    (300, 20)
    >>> int(np.bincount(labels).sum())
    300
    """
    mixture = SemicircleMixture(n_dims=n_dims)
    return mixture.sample(n_samples, random_state=random_state, return_labels=True)


# --------------------------------------------------------------------------
# Pole and shadow images (Oring et al.)
# --------------------------------------------------------------------------

_AMBIENT = 0.15
_PLANE_ALBEDO = 0.8
_POLE_ALBEDO = 1.0

POLE_SHADOW_DESCR = """\
.. _pole_shadow_dataset:

Pole-and-shadow images
----------------------

**Data Set Characteristics:**

:Number of Instances: n_elevations x n_azimuths (default 8 x 72 = 576)
:Number of Attributes: image_size ** 2 grey levels (default 32 x 32)
:Parameters: light elevation (default 45 to 80 degrees, 5-degree steps) and
    azimuth (default 0 to 355 degrees, 5-degree steps), in ``params``
:Creator: synthetic, rendered by :func:`sk_geodesic.datasets.make_pole_shadow`

A vertical pole stands at the centre of a flat plane and is lit by a
directional light; the camera looks straight down (orthographic).  The top of
the pole appears as a small bright disc at the image centre and its cast
shadow as a dark band that starts at the pole and points away from the light
(direction azimuth + 180 degrees), with length
``pole_height / tan(elevation)`` pixels (cut at the image border).  Horizontal
surfaces are Lambertian (brightness ``albedo * (ambient + (1 - ambient) *
sin(elevation))``), the shadow receives only ambient light.  Edges are
anti-aliased by an exact-distance, one-pixel-wide coverage ramp, so the
images vary continuously with the two angles: the data lie on a smooth
2-D manifold (a cylinder, since the azimuth is periodic) in pixel space.

Azimuth 0 means light coming from the right of the image (+x), 90 from the
top; the elevation is measured from the plane.  Samples are ordered by
elevation, then azimuth.

This is a simplified re-creation of the synthetic data set of Oring, Yakhini
& Hel-Or (Sec. 4.1), not their original renders.

References
----------
A. Oring, Z. Yakhini and Y. Hel-Or, "Autoencoder Image Interpolation by
Shaping the Latent Space", ICML 2021 (arXiv:2008.01487).
"""


def _angles(values, name):
    try:
        arr = np.asarray(list(values), dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of angles in degrees") from None
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a non-empty 1-D sequence of finite angles")
    return arr


def make_pole_shadow(
    image_size=32,
    elevations=range(45, 81, 5),
    azimuths=range(0, 360, 5),
    *,
    pole_height=None,
    pole_radius=None,
    shading=True,
    return_X_y=False,
):
    """Render images of a pole and its shadow under a moving light.

    A vertical pole at the centre of a flat plane, seen from directly above,
    is lit by a directional light of elevation ``theta`` and azimuth ``phi``.
    The pole top is a small bright disc at the image centre; its shadow is a
    dark band pointing away from the light (direction ``phi + 180``) of
    length ``pole_height / tan(theta)`` pixels, cut at the image border.
    With the defaults this gives the 8 x 72 = 576 images of the synthetic
    data set of Oring et al. (2021, Sec. 4.1).  Edges are anti-aliased, so
    images change smoothly with the angles.

    Parameters
    ----------
    image_size : int, default=32
        Height and width of the square images, in pixels (>= 8).

    elevations : sequence of float, default=range(45, 81, 5)
        Light elevations in degrees above the plane, each in (0, 90].

    azimuths : sequence of float, default=range(0, 360, 5)
        Light azimuths in degrees, counter-clockwise from the +x axis (the
        right of the image); 90 is light from the top of the image.

    pole_height : float, default=None
        Pole height in pixels; ``None`` means ``0.4 * image_size``.  The
        shadow is ``pole_height`` pixels long at 45 degrees elevation.

    pole_radius : float, default=None
        Pole radius in pixels; ``None`` means ``image_size / 20``.  The
        shadow band is ``2 * pole_radius`` wide.

    shading : bool, default=True
        If True, lit horizontal surfaces get brighter as the light rises
        (Lambertian ``sin(elevation)`` factor); if False, their brightness
        does not depend on the light and only the shadow changes.

    return_X_y : bool, default=False
        If True, return ``(data, params)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_images, image_size ** 2)
            Flattened grey-level images, values in [0, 1].
        images : ndarray of shape (n_images, image_size, image_size)
            The same pixels as ``data`` (a view of it), as images.
        params : ndarray of shape (n_images, 2)
            ``(elevation, azimuth)`` of each image, in degrees.  Images are
            ordered by elevation, then azimuth.
        shadow_length : ndarray of shape (n_images,)
            ``pole_height / tan(elevation)``, in pixels, before clipping.
        feature_names : list of str
            ``"pixel_<row>_<col>"``.
        DESCR : str
            Description of the data set.

    (data, params) : tuple if ``return_X_y`` is True

    References
    ----------
    A. Oring, Z. Yakhini and Y. Hel-Or, "Autoencoder Image Interpolation by
    Shaping the Latent Space", ICML 2021 (arXiv:2008.01487), Sec. 4.1.

    Examples
    --------
    >>> from sk_geodesic.datasets import make_pole_shadow
    >>> shadows = make_pole_shadow()
    >>> shadows.data.shape, shadows.images.shape, shadows.params.shape
    ((576, 1024), (576, 32, 32), (576, 2))
    >>> shadows.params[:2]
    array([[45.,  0.],
           [45.,  5.]])
    >>> X, params = make_pole_shadow(image_size=16, elevations=[60],
    ...                              azimuths=[0, 90], return_X_y=True)
    >>> X.shape
    (2, 256)
    """
    image_size = _check_positive_int(image_size, "image_size", minimum=8)
    elev = _angles(elevations, "elevations")
    azim = _angles(azimuths, "azimuths")
    if np.any(elev <= 0) or np.any(elev > 90):
        raise ValueError(f"elevations must lie in (0, 90] degrees, got {elev.tolist()}")
    if pole_height is None:
        pole_height = 0.4 * image_size
    pole_height = _check_real(pole_height, "pole_height", low=0.0, low_open=True)
    if pole_radius is None:
        pole_radius = image_size / 20.0
    pole_radius = _check_real(pole_radius, "pole_radius", low=0.0, low_open=True)

    E, A = np.meshgrid(elev, azim, indexing="ij")
    params = np.column_stack([E.ravel(), A.ravel()])
    theta = np.deg2rad(params[:, 0])
    phi = np.deg2rad(params[:, 1])
    # cos(90 deg) is ~6e-17, not 0: the length is then ~1e-15 px, harmless.
    length = pole_height * np.cos(theta) / np.sin(theta)

    # Pixel centres, origin at the image centre, y pointing up.
    c = image_size / 2.0
    coords = np.arange(image_size) + 0.5 - c
    x = coords[None, None, :]
    y = -coords[None, :, None]

    # Shadow: capsule = points within pole_radius of the segment from the
    # pole base to length * u, u pointing away from the light.
    ux = -np.cos(phi)[:, None, None]
    uy = -np.sin(phi)[:, None, None]
    L = length[:, None, None]
    t = np.clip(x * ux + y * uy, 0.0, L)
    dist_shadow = np.hypot(x - t * ux, y - t * uy)
    dist_pole = np.hypot(x, y)

    # Exact-distance coverage with a one-pixel ramp (anti-aliasing).
    cover_shadow = np.clip(pole_radius - dist_shadow + 0.5, 0.0, 1.0)
    cover_pole = np.clip(pole_radius - dist_pole + 0.5, 0.0, 1.0)

    light = np.sin(theta)[:, None, None] if shading else 1.0
    direct = _AMBIENT + (1.0 - _AMBIENT) * light
    plane_lit = _PLANE_ALBEDO * direct
    plane_shadow = _PLANE_ALBEDO * _AMBIENT
    pole_top = _POLE_ALBEDO * direct
    img = plane_lit * (1.0 - cover_shadow) + plane_shadow * cover_shadow
    img = img * (1.0 - cover_pole) + pole_top * cover_pole
    img = np.clip(img, 0.0, 1.0)

    n_images = params.shape[0]
    data = np.ascontiguousarray(img.reshape(n_images, -1))
    if return_X_y:
        return data, params
    return Bunch(
        data=data,
        images=data.reshape(n_images, image_size, image_size),
        params=params,
        shadow_length=length,
        feature_names=[
            f"pixel_{i}_{j}" for i in range(image_size) for j in range(image_size)
        ],
        DESCR=POLE_SHADOW_DESCR,
    )
