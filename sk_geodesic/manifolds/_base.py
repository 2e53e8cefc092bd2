"""The ``GenerativeManifold`` base: what every wrapped generative model offers.

A fitted manifold exposes three Torch callables to the geometry core:

* :meth:`GenerativeManifold.embedding_map` -- φ: Z → R^D whose Euclidean pullback
  φᵀφ is the Riemannian metric of the latent space;
* :meth:`GenerativeManifold.decoding_map` -- z ↦ decoded mean (data space, flattened);
* :meth:`GenerativeManifold.latent_log_density` -- log p(z), or ``None``.

Everything else (``transform``, ``inverse_transform``, ``sample``) is the sklearn face.
"""

from __future__ import annotations

import copy
import io

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._utils import check_positive_int, honour_threads, to_numpy, to_tensor


def _is_torch_state(value):
    return isinstance(value, (torch.nn.Module, torch.Tensor))


class _ScriptModuleBytes:
    """A TorchScript module inside a pickle (pickle cannot take one; ``torch.jit.save`` can)."""

    def __init__(self, module):
        buffer = io.BytesIO()
        torch.jit.save(module, buffer)
        self.data = buffer.getvalue()
        # torch.jit.load gives parameters that require gradients; the fitted copies had none
        self.frozen = not any(p.requires_grad for p in module.parameters())

    def load(self, device):
        module = torch.jit.load(io.BytesIO(self.data), map_location=device)
        if self.frozen:
            for p in module.parameters():
                p.requires_grad_(False)
        return module


class GenerativeManifold(TransformerMixin, BaseEstimator):
    """Base class of the estimators that wrap a generative model.

    Subclasses set, in ``fit``: ``latent_dim_``, ``n_features_in_``, ``device_``,
    ``dtype_`` and implement ``_encode`` / ``_decode`` / ``_embed`` (Torch → Torch),
    and optionally ``_log_density`` and ``_sample``.
    """

    # -- what the geometry core uses -------------------------------------------------
    def embedding_map(self):
        """The embedding map φ as a Torch callable ``(..., d) -> (..., D)``.

        φ works on a batch ``(N, d)`` and on a single point ``(d,)`` (so it can be
        vmapped); its Euclidean pullback is the metric G(z) = J_φ(z)ᵀ J_φ(z).
        """
        check_is_fitted(self)
        parts = self._embedding_parts()
        if parts is None:
            return self._embed
        from ..geometry.layerwise import LayerwiseEmbedding

        modules, latent_shape = parts
        return LayerwiseEmbedding(self._embed, modules, latent_shape)

    def _embedding_parts(self):
        """``(modules, latent_shape)`` whose flattened outputs, concatenated, are φ, for
        Jacobians carried layer by layer (:class:`~sk_geodesic.geometry.LayerwiseEmbedding`);
        ``None``: φ is differentiated whole by ``torch.func``."""
        return None

    def decoding_map(self):
        """The decoded mean z ↦ x as a Torch callable ``(..., d) -> (..., n_features)``."""
        check_is_fitted(self)
        return self._decode

    def latent_log_density(self):
        """log p(z) as a Torch callable ``(N, d) -> (N,)``, or ``None`` if unknown."""
        check_is_fitted(self)
        return getattr(self, "_log_density", None)

    def metric_has_variance(self):
        """Whether φ includes the decoder's standard deviation (the expected metric).

        Where it does, σ rises off the data in walls that give the curve energy several
        basins; :class:`~sk_geodesic.interpolation.Geodesic` (``multi_start="auto"``)
        then solves every pair from two starts. The base class says ``False`` (φ is a
        decoder mean); manifolds whose φ carries σ override it.
        """
        check_is_fitted(self)
        return False

    def variance_map(self):
        """σ(z), the part of φ = [μ(z), σ(z)] that carries the decoder's variance, or ``None``.

        Returns ``(σ, columns)``: a Torch callable ``(N, d) -> (N, D_σ)`` and the slice of
        φ's columns it fills, so that ``σ(z) == φ(z)[:, columns]``. With
        ``Geodesic(second_order="variance")`` the solver's Newton steps take the
        second-order term of this part only (``curvature_part`` of
        :func:`~sk_geodesic.geometry.solve_energy`): the steep walls of σ are what
        Gauss–Newton cannot follow, and σ is the cheaper network to differentiate twice.
        ``None`` (the base class, and any φ without σ): the Newton steps use all of φ.
        """
        check_is_fitted(self)
        return None

    def latent_reference_points(self):
        """Latent codes of the training data (for graph geodesics), or ``None``."""
        check_is_fitted(self)
        return getattr(self, "latent_train_", None)

    # -- sklearn face -------------------------------------------------------------------
    def _validate_X(self, X):
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32])

    def _validate_Z(self, Z):
        from sklearn.utils import check_array

        Z = check_array(Z, dtype=[np.float64, np.float32])
        if Z.shape[1] != self.latent_dim_:
            raise ValueError(
                f"Z has {Z.shape[1]} features, but {type(self).__name__} has a "
                f"{self.latent_dim_}-dimensional latent space."
            )
        return Z

    @torch.no_grad()
    def _batched(self, fn, A, batch_size=4096):
        out = []
        for start in range(0, A.shape[0], batch_size):
            a = to_tensor(A[start : start + batch_size], self.device_, self.dtype_)
            out.append(to_numpy(fn(a)))
        return np.concatenate(out, axis=0)

    @honour_threads
    def transform(self, X):
        """Encode data to latent codes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
        """
        check_is_fitted(self)
        X = self._validate_X(X)
        return self._batched(self._encode, X).astype(X.dtype, copy=False)

    @honour_threads
    def inverse_transform(self, Z):
        """Decode latent codes to the decoded mean in data space.

        Parameters
        ----------
        Z : array-like of shape (n_samples, latent_dim)

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        Z = self._validate_Z(Z)
        return self._batched(self._decode, Z).astype(Z.dtype, copy=False)

    @honour_threads
    def sample(self, n_samples=1, random_state=None):
        """Draw latent codes from the model's latent distribution and decode them.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples, at least 1.
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        Z : ndarray of shape (n_samples, latent_dim)
        """
        check_is_fitted(self)
        n_samples = check_positive_int(n_samples, "n_samples")
        from .._utils import torch_generator

        gen = torch_generator(random_state, "cpu")
        with torch.no_grad():
            Z = self._sample_latent(int(n_samples), gen)
            X = self._decode(Z.to(self.device_, self.dtype_))
        return to_numpy(X), to_numpy(Z)

    def _sample_latent(self, n, generator):
        return torch.randn(n, self.latent_dim_, generator=generator, dtype=self.dtype_)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self)
        name = type(self).__name__.lower()
        return np.asarray([f"{name}{i}" for i in range(self.latent_dim_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags

    # -- pickling: CUDA-trained models load on CPU-only machines ----------------------
    def __getstate__(self):
        state = dict(super().__getstate__())
        for key, value in list(state.items()):
            if isinstance(value, torch.jit.ScriptModule):
                state[key] = _ScriptModuleBytes(value)  # e.g. a decoder from torch.jit.load
            elif _is_torch_state(value):
                moved = copy.deepcopy(value).cpu() if isinstance(value, torch.nn.Module) else value.detach().cpu()
                state[key] = moved
        return state

    def __setstate__(self, state):
        # A model saved on CUDA comes back on the CPU when no GPU is present.
        device = state.get("device_")
        if isinstance(device, torch.device) and device.type == "cuda" and not torch.cuda.is_available():
            device = torch.device("cpu")
            state["device_"] = device
        for key, value in list(state.items()):
            if isinstance(value, _ScriptModuleBytes):
                state[key] = value.load(device if isinstance(device, torch.device) else "cpu")
        if isinstance(device, torch.device):
            for key, value in list(state.items()):
                if _is_torch_state(value):
                    state[key] = value.to(device)
        super().__setstate__(state)
