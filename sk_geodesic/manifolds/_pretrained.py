"""Wrap a user's own pretrained Torch decoder as a fitted manifold (no training)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._utils import (
    DEVICE_CONSTRAINT,
    check_finite_output,
    frozen_copy,
    honour_threads,
    probe_points,
    resolve_device,
    resolve_dtype,
    seed_from,
    to_numpy,
    to_tensor,
)
from ._base import GenerativeManifold
from ._inversion import best_of_candidates, invert_decoder
from ._networks import has_piecewise_linear_activation


def _first_layer(module):
    """The first module with parameters of an ``nn.Module`` (None for plain callables)."""
    for m in module.modules() if isinstance(module, nn.Module) else []:
        if next(m.parameters(recurse=False), None) is not None:
            return m
    return None


def _shape_tuple(value, name):
    shape = tuple(int(v) for v in value)
    if not shape or min(shape) < 1 or any(int(v) != v for v in value):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {value!r}")
    return shape


def _infer_latent_dim(module):
    for m in module.modules() if isinstance(module, nn.Module) else []:
        if isinstance(m, nn.Linear):
            return m.in_features
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            break
    return None


class PretrainedManifold(GenerativeManifold):
    """A manifold from your own pretrained Torch decoder, with optional extras.

    Nothing is trained: ``fit`` only checks that the pieces fit together and encodes
    ``X`` as reference points for graph geodesics. This is the way to bring an existing
    VAE/GAN, or an analytic map with known geometry, to the interpolators.

    ``fit`` evaluates every piece at a few fixed probe points (the origin and seven
    standard-normal draws) and raises a ``ValueError`` naming the piece when the decoder
    or ``std_network`` returns NaN/inf or the wrong number of rows, the encoder returns
    codes of the wrong width, or ``log_density`` does not return one finite value per
    point (an ``(N, 1)`` output is accepted and flattened). Outputs of every callable are
    cast to ``dtype``, so a float64 callable works under ``dtype="float32"``.

    The modules you pass are never changed: ``fit`` works on deep copies (moved to
    ``device``/``dtype``, in eval mode, with gradients of their weights switched off),
    stored as ``decoder_``, ``encoder_``, ``std_network_`` and ``log_density_``. Plain
    callables are used as they are. TorchScript modules (``torch.jit.load`` of a saved
    model) work like any module: ``torch.func`` differentiates them, and a pickle of the
    manifold stores them with ``torch.jit.save``.

    Parameters
    ----------
    decoder : callable or torch.nn.Module
        z ↦ x, mapping ``(N, latent_dim)`` (or ``(N, *latent_shape)``) to ``(N, ...)``;
        outputs are flattened. It is always called with a batch (single points are
        passed as batches of one).
    latent_dim : int or None, default=None
        Inferred from ``latent_shape``, or else from the decoder's first ``nn.Linear``,
        when ``None``.
    encoder : callable, torch.nn.Module or None, default=None
        x ↦ z, mapping ``(N, n_features)`` (or ``(N, *input_shape)``) to codes with
        ``latent_dim`` values per row (an ``(N, C, 1, 1)`` output is flattened). Without
        one, ``transform`` inverts the decoder by gradient descent (best of
        ``n_candidates`` prior samples, then Adam).
    std_network : callable, torch.nn.Module or None, default=None
        z ↦ σ(z) of a Gaussian decoder, called like the decoder; when given, the
        embedding is concat(decoder(z), σ(z)) (the expected metric).
    latent_shape : tuple of int or None, default=None
        The shape (without the batch axis) in which ``decoder`` and ``std_network`` take
        codes, e.g. ``(100, 1, 1)`` for a DCGAN generator, whose first layer is a
        transposed convolution. ``None``: ``(latent_dim,)``. The interpolators still see
        flat codes of ``latent_dim`` = the product of this shape.
    input_shape : tuple of int, "decoder" or None, default=None
        The shape (without the batch axis) in which ``encoder`` takes data rows, e.g.
        ``(1, 28, 28)`` for a convolutional encoder; ``"decoder"``: the shape of the
        decoder's output. ``None``: flat rows ``(n_features,)``. ``X`` itself is always
        given flat, one row per sample.
    log_density : callable or None, default=None
        z ↦ log p(z), a differentiable Torch callable ``(N, d) -> (N,)``.
    prior : {"normal", None}, default="normal"
        Latent distribution used by ``sample`` and by inversion start points.
    n_candidates : int, default=512
    inversion_steps : int, default=300
    device : str, default="auto"
    dtype : {"float32", "float64"}, default="float32"
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    latent_dim_ : int
    latent_shape_ : tuple of int
        The shape in which the decoder takes codes (``(latent_dim,)`` by default).
    input_shape_ : tuple of int or None
        The shape in which the encoder takes data rows (None: flat).
    n_features_in_ : int
    latent_train_ : ndarray of shape (n_samples, latent_dim)
        Codes of the data given to ``fit``.
    decoder_, encoder_, std_network_, log_density_ : callable or None
        The pieces in use (copies of the modules passed in).

    Examples
    --------
    >>> import torch
    >>> from sk_geodesic.manifolds import PretrainedManifold
    >>> def sphere(z):
    ...     u, v = z[..., 0], z[..., 1]
    ...     return torch.stack([u.cos() * v.cos(), u.sin() * v.cos(), v.sin()], -1)
    >>> m = PretrainedManifold(sphere, latent_dim=2, dtype="float64").fit()
    >>> m.inverse_transform([[0.0, 0.0]])
    array([[1., 0., 0.]])
    """

    _parameter_constraints: dict = {
        "decoder": [callable],
        "latent_dim": [None, Interval(Integral, 1, None, closed="left")],
        "encoder": [None, callable],
        "std_network": [None, callable],
        "latent_shape": [None, tuple, list],
        "input_shape": [None, StrOptions({"decoder"}), tuple, list],
        "log_density": [None, callable],
        "prior": [None, StrOptions({"normal"})],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
        "inversion_steps": [Interval(Integral, 0, None, closed="left")],
        "device": DEVICE_CONSTRAINT,
        "dtype": [StrOptions({"float32", "float64"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        decoder,
        latent_dim=None,
        encoder=None,
        std_network=None,
        log_density=None,
        prior="normal",
        latent_shape=None,
        input_shape=None,
        n_candidates=512,
        inversion_steps=300,
        device="auto",
        dtype="float32",
        random_state=None,
    ):
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.std_network = std_network
        self.log_density = log_density
        self.prior = prior
        self.latent_shape = latent_shape
        self.input_shape = input_shape
        self.n_candidates = n_candidates
        self.inversion_steps = inversion_steps
        self.device = device
        self.dtype = dtype
        self.random_state = random_state

    @honour_threads
    def fit(self, X=None, y=None):
        """Check the decoder and, if ``X`` is given, encode it as reference points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or None
        y : ignored

        Returns
        -------
        self : PretrainedManifold
        """
        self._validate_params()
        self.device_ = resolve_device(self.device)
        self.dtype_ = resolve_dtype(self.dtype)
        latent_shape = None if self.latent_shape is None else _shape_tuple(self.latent_shape, "latent_shape")
        latent_dim = self.latent_dim
        if latent_dim is None:
            latent_dim = int(np.prod(latent_shape)) if latent_shape is not None else _infer_latent_dim(self.decoder)
        if latent_dim is None:
            first = _first_layer(self.decoder)
            hint = ""
            if isinstance(first, (nn.ConvTranspose2d, nn.Conv2d)):
                hint = f" (a generator that takes codes as (N, C, 1, 1) needs latent_shape=({first.in_channels}, 1, 1))"
            raise ValueError(f"could not infer latent_dim from the decoder; pass latent_dim=...{hint}")
        if latent_shape is not None and int(np.prod(latent_shape)) != int(latent_dim):
            raise ValueError(f"latent_shape {latent_shape} holds {int(np.prod(latent_shape))} values, "
                             f"but latent_dim={latent_dim}")
        self.latent_dim_ = int(latent_dim)
        self.latent_shape_ = latent_shape if latent_shape is not None else (self.latent_dim_,)
        self.decoder_ = self._place(self.decoder)
        self.encoder_ = self._place(self.encoder)
        self.std_network_ = self._place(self.std_network)
        self.log_density_ = self._place(self.log_density)
        probe = probe_points(self.latent_dim_, dtype=self.dtype_, device=self.device_)
        n_probe = probe.shape[0]
        out = self._call_piece("decoder", self.decoder_, probe.reshape(n_probe, *self.latent_shape_))
        if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != n_probe:
            several = isinstance(out, (tuple, list)) or hasattr(out, "mean") and not isinstance(out, torch.Tensor)
            raise ValueError(
                "the decoder must map a batch (N, latent_dim) to a tensor with N rows; "
                f"got {type(out).__name__} of shape {tuple(getattr(out, 'shape', ()))} for N={n_probe}"
                + (" (a decoder that returns several outputs or a distribution, e.g. (mean, log-variance), "
                   "needs a wrapper that returns the mean; pass σ as std_network)" if several else "")
            )
        check_finite_output(out, probe, "the decoder", "at fit, on probe points")
        n_out = int(np.prod(out.shape[1:]))
        self.output_shape_ = tuple(out.shape[1:])
        self.input_shape_ = self._resolve_input_shape(n_out)
        if X is not None:
            X = validate_data(self, X, dtype=[np.float64, np.float32])
            if X.shape[1] != n_out:
                raise ValueError(
                    f"X has {X.shape[1]} features but the decoder outputs {n_out} values per "
                    f"latent point (shape {self.output_shape_}); they must match."
                )
        else:
            self.n_features_in_ = n_out
        self._check_pieces(probe, out, n_out)
        self.piecewise_linear_ = has_piecewise_linear_activation(self.decoder)
        self.latent_train_ = None if X is None else self.transform(X).astype(np.float64)
        return self

    def _resolve_input_shape(self, n_out):
        """The encoder's input shape without the batch axis, or None for flat rows."""
        if self.input_shape is None:
            return None
        shape = self.output_shape_ if self.input_shape == "decoder" else _shape_tuple(self.input_shape, "input_shape")
        if int(np.prod(shape)) != n_out:
            raise ValueError(f"input_shape {shape} holds {int(np.prod(shape))} values, but the decoder "
                             f"outputs {n_out} per latent point (shape {self.output_shape_})")
        return shape

    def _encoder_input(self, x):
        return x if self.input_shape_ is None else x.reshape(x.shape[0], *self.input_shape_)

    def _check_pieces(self, probe, out, n_out):
        """std_network, log_density and encoder: shapes and finiteness at the probe points."""
        n_probe = probe.shape[0]
        if self.std_network_ is not None:
            s = self._call_piece("std_network", self.std_network_, probe.reshape(n_probe, *self.latent_shape_))
            if not isinstance(s, torch.Tensor) or s.dim() < 1 or s.shape[0] != n_probe or int(np.prod(s.shape[1:])) != n_out:
                raise ValueError(
                    f"std_network must map (N, latent_dim) to N rows of {n_out} values (the decoder's "
                    f"output size); got shape {tuple(getattr(s, 'shape', ()))} for N={n_probe}"
                )
            check_finite_output(s, probe, "std_network", "at fit, on probe points")
        if self.log_density_ is not None:
            lp = self._call_piece("log_density", self.log_density_, probe)
            if not isinstance(lp, torch.Tensor) or tuple(lp.shape) not in {(n_probe,), (n_probe, 1)}:
                raise ValueError(
                    "log_density must map (N, latent_dim) to a tensor of shape (N,); got "
                    f"{type(lp).__name__} of shape {tuple(getattr(lp, 'shape', ()))} for N={n_probe}"
                )
            check_finite_output(lp, probe, "log_density", "at fit, on probe points")
        if self.encoder_ is not None:
            with torch.no_grad():
                x = out.reshape(n_probe, -1).to(self.dtype_)
            z = self._call_piece("encoder", self.encoder_, self._encoder_input(x))
            if not isinstance(z, torch.Tensor) or z.dim() < 1 or z.shape[0] != n_probe or int(np.prod(z.shape[1:])) != self.latent_dim_:
                raise ValueError(
                    f"the encoder must map (N, n_features) to codes of shape (N, {self.latent_dim_}) "
                    f"(latent_dim); got shape {tuple(getattr(z, 'shape', ()))} for N={n_probe}"
                )
            check_finite_output(z, x, "the encoder", "at fit, on decoded probe points")

    def _call_piece(self, name, fn, arg):
        try:
            with torch.no_grad():
                return fn(arg)
        except Exception as exc:  # the user's callable: say which piece broke
            hint = ""
            if arg.device.type != "cpu" and not isinstance(fn, nn.Module):
                # device="auto" picked the GPU; a NumPy (or CPU-only) function cannot take its tensors
                hint = (f" (it was called on {arg.device} tensors because device={self.device!r}; "
                        "a function that needs NumPy arrays or CPU tensors needs device='cpu')")
            elif arg.dim() == 2 and isinstance(_first_layer(fn), (nn.Conv2d, nn.ConvTranspose2d)):
                # a convolutional first layer given flat rows: say which shape parameter fits
                channels = _first_layer(fn).in_channels
                hint = (f" (its first layer is a {type(_first_layer(fn)).__name__} and takes (N, C, H, W) "
                        + (f"batches: for codes as (N, {channels}, 1, 1) pass latent_shape=({channels}, 1, 1))"
                           if name in ("decoder", "std_network")
                           else "batches: pass input_shape='decoder' or the image shape, e.g. (1, 28, 28))"))
            raise ValueError(f"the {name} failed on a batch of shape {tuple(arg.shape)}: {exc}{hint}") from exc

    def _place(self, fn):
        """A copy of a user module on the manifold's device/dtype, in eval mode."""
        if isinstance(fn, nn.Module):
            return frozen_copy(fn, self.device_, self.dtype_)
        return fn

    # The user's callables always see a batch (N, latent_dim): single points (as the
    # geometry core's vmapped Jacobians pass them) and curves (B, n, d) are reshaped.
    def _decode(self, z):
        out = self.decoder_(z.reshape(-1, *self.latent_shape_))
        return out.reshape(*z.shape[:-1], -1).to(z.dtype)

    def _embed(self, z):
        x = self._decode(z)
        if self.std_network_ is None:
            return x
        return torch.cat([x, self._sigma(z)], dim=-1)

    def _embedding_parts(self):
        # layer-by-layer Jacobians need modules; plain callables are differentiated whole
        pieces = [self.decoder_, self.std_network_]
        if not all(p is None or isinstance(p, nn.Module) for p in pieces):
            return None
        return pieces, self.latent_shape_

    def metric_has_variance(self):
        """``True`` when a ``std_network`` was given (φ = [decoder(z), σ(z)])."""
        check_is_fitted(self)
        return self.std_network_ is not None

    def variance_map(self):
        """``(σ, columns)`` of the ``std_network`` (the columns after the decoder's), or ``None``."""
        check_is_fitted(self)
        if self.std_network_ is None:
            return None
        return self._sigma, slice(int(np.prod(self.output_shape_)), None)

    def _sigma(self, z):
        return self.std_network_(z.reshape(-1, *self.latent_shape_)).reshape(*z.shape[:-1], -1).to(z.dtype)

    @property
    def _log_density(self):
        if self.log_density_ is None:
            return None
        return self._flat_log_density

    def _flat_log_density(self, z):
        return self.log_density_(z.reshape(-1, z.shape[-1])).reshape(z.shape[:-1]).to(z.dtype)

    def _encode(self, x):
        if self.encoder_ is not None:
            return self.encoder_(self._encoder_input(x)).reshape(x.shape[0], -1).to(x.dtype)
        gen = torch.Generator().manual_seed(seed_from(self.random_state))
        cand = self._sample_latent(self.n_candidates, gen).to(self.device_, self.dtype_)
        z0 = best_of_candidates(self._decode, x, cand)
        with torch.enable_grad():
            return invert_decoder(self._decode, x, z0, n_steps=self.inversion_steps)

    @honour_threads
    def transform(self, X):
        check_is_fitted(self)
        X = self._validate_X(X)
        Z = to_numpy(self._encode(to_tensor(X, self.device_, self.dtype_)))
        return Z.astype(X.dtype, copy=False)

    def __setstate__(self, state):
        # pickled before latent_shape / input_shape existed: flat codes and rows
        state.setdefault("latent_shape", None)
        state.setdefault("input_shape", None)
        if "latent_dim_" in state:
            state.setdefault("latent_shape_", (state["latent_dim_"],))
            state.setdefault("input_shape_", None)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags
