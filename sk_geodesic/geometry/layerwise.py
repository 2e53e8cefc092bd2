"""Forward-mode Jacobians of feed-forward networks, layer by layer (pure Torch).

``torch.func`` gives any network's Jacobian as ``vmap(jvp(...))`` over the d latent
directions. For the layers decoders are made of, carrying the d tangents through the
network by hand is cheaper: a linear or convolutional layer maps the tangents with its
weights alone (one GEMM or convolution over the d·N stacked tangents, no bias), an
elementwise activation multiplies them by its derivative, computed once from the
primal. That is about the cost of d + 1 forward passes; ``vmap(jvp)`` measured
1.4-2x more on the benchmark's MLP decoders and a DCGAN-style generator (one thread,
1000 points). Layers without a rule here go through ``vmap(jvp)`` one by one, so any
``nn.Sequential`` gets exact Jacobians, and other modules are differentiated whole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import jvp, vmap

_CONV = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}
_CONV_T = {nn.ConvTranspose1d: F.conv_transpose1d, nn.ConvTranspose2d: F.conv_transpose2d,
           nn.ConvTranspose3d: F.conv_transpose3d}
_BATCH_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_RESHAPES = (nn.Flatten, nn.Unflatten, nn.Identity)
_ACTIVATIONS = (nn.Tanh, nn.Sigmoid, nn.Softplus, nn.ReLU, nn.LeakyReLU, nn.ELU, nn.SiLU)
_PIECEWISE_LINEAR = (nn.ReLU, nn.LeakyReLU)


def _activation_derivative(module, a, y):
    """dy/da of an elementwise activation y = module(a) (one of ``_ACTIVATIONS``).

    At kinks the derivative follows Torch's own convention (ReLU: 0 at 0, LeakyReLU and
    ELU: the negative branch at 0), so the Jacobians equal ``torch.func``'s.
    """
    if isinstance(module, nn.Tanh):
        return 1 - y * y
    if isinstance(module, nn.Sigmoid):
        return y * (1 - y)
    if isinstance(module, nn.Softplus):
        ba = a * module.beta
        return torch.where(ba > module.threshold, torch.ones_like(a), torch.sigmoid(ba))
    if isinstance(module, nn.ReLU):
        return (a > 0).to(a.dtype)
    if isinstance(module, nn.LeakyReLU):
        return torch.where(a > 0, torch.ones_like(a), torch.full_like(a, module.negative_slope))
    if isinstance(module, nn.ELU):
        return torch.where(a > 0, torch.ones_like(a), y + module.alpha)
    if isinstance(module, nn.SiLU):
        s = torch.sigmoid(a)
        return s * (1 + a * (1 - s))
    raise TypeError(f"no derivative rule for {type(module).__name__}")


def _walkable(module):
    """An ``nn.Sequential`` whose forward is Sequential's own (a subclass may add a skip
    connection in its forward: that one is differentiated whole)."""
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def _stacked(fn, T):
    """Apply a per-item map to tangents T (k, N, ...) as one batch of k·N items."""
    out = fn(T.reshape(-1, *T.shape[2:]))
    return out.reshape(T.shape[0], T.shape[1], *out.shape[1:])


def _has_linear_rule(module):
    """Whether :func:`_linear_tangent` has a rule for ``module``."""
    if isinstance(module, nn.Dropout):
        return not module.training
    if isinstance(module, _RESHAPES) or type(module) is nn.Linear:
        return True
    if type(module) in _CONV or type(module) in _CONV_T:
        return module.padding_mode == "zeros"
    return isinstance(module, _BATCH_NORM) and not module.training and module.running_var is not None


def _channels_last(t):
    """2-D convolutions of the stacked tangents in channels-last layout: the same
    numbers, 10-37 % faster Jacobians of the convolutional decoders measured (oneDNN,
    one thread; 1.2-1.5x on the transposed convolutions alone)."""
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def _linear_tangent(module, T):
    """The tangents T (k, N, ...) mapped by a layer that is linear in its input up to a
    constant (no bias in tangents), or None where there is no such rule."""
    if not _has_linear_rule(module):
        return None
    if isinstance(module, (nn.Dropout, *_RESHAPES)):
        return _stacked(module, T)
    if type(module) is nn.Linear:
        return T @ module.weight.T
    conv = _CONV.get(type(module))
    if conv is not None:
        return _stacked(lambda t: conv(_channels_last(t), module.weight, None, module.stride, module.padding,
                                       module.dilation, module.groups), T)
    conv_t = _CONV_T.get(type(module))
    if conv_t is not None:
        return _stacked(lambda t: conv_t(_channels_last(t), module.weight, None, module.stride, module.padding,
                                         module.output_padding, module.groups, module.dilation), T)
    scale = (module.running_var + module.eps).rsqrt()  # batch norm in eval mode
    if module.weight is not None:
        scale = scale * module.weight
    return T * scale.reshape(-1, *([1] * (T.dim() - 3)))


def _layer(module, h, T):
    """(module(h), its tangents) for tangents T (k, N, ...) of h (N, ...)."""
    if _walkable(module):
        for child in module:
            h, T = _layer(child, h, T)
        return h, T
    T_out = _linear_tangent(module, T)
    if T_out is not None:
        return module(h), T_out
    if isinstance(module, _ACTIVATIONS):
        # an in-place activation would overwrite h, which its derivative needs
        y = module(h.clone() if getattr(module, "inplace", False) else h)
        return y, T * _activation_derivative(module, h, y)
    # no rule: differentiate this layer with torch.func
    y, T = vmap(lambda t: jvp(module, (h,), (t,)), out_dims=(None, 0))(T)
    return y, T


def _coordinate_basis(Z):
    """Tangents (d, N, ...) of the rows of Z (N, ...) along their d coordinates."""
    N, d = Z.shape[0], Z[0].numel()
    return torch.eye(d, dtype=Z.dtype, device=Z.device).reshape(d, 1, *Z.shape[1:]).expand(d, N, *Z.shape[1:])


def _leaves(module):
    """The layers of nested walkable Sequentials, in order."""
    if _walkable(module):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def _activation_second_derivative(module, a, y):
    """d²y/da² of an elementwise activation (zero for the piecewise-linear ones)."""
    if isinstance(module, nn.Tanh):
        return -2 * y * (1 - y * y)
    if isinstance(module, nn.Sigmoid):
        return y * (1 - y) * (1 - 2 * y)
    if isinstance(module, nn.Softplus):
        ba = a * module.beta
        s = torch.sigmoid(ba)
        return torch.where(ba > module.threshold, torch.zeros_like(a), module.beta * s * (1 - s))
    if isinstance(module, (nn.ReLU, nn.LeakyReLU)):
        return torch.zeros_like(a)
    if isinstance(module, nn.ELU):
        return torch.where(a > 0, torch.zeros_like(a), y + module.alpha)
    if isinstance(module, nn.SiLU):
        s = torch.sigmoid(a)
        return s * (1 - s) * (2 + a * (1 - 2 * s))
    raise TypeError(f"no second-derivative rule for {type(module).__name__}")


def forward_jacobian_and_curvature(module, Z, W):
    """``(module(Z), T, H)`` with T as in :func:`forward_jacobian` and H (N, d, d) the
    Hessian of z ↦ module(z) · w at each row (w the matching row of ``W``), or ``None``
    when ``module`` has a layer without rules here.

    For a network of linear maps and elementwise activations σ_l the Hessian of wᵀφ is
    Σ_l Σ_u λ_lu σ_l''(a_lu) t_lu t_luᵀ, with a_l the activation's input, t_lu ∈ R^d
    the tangents of unit u of a_l and λ_l = ∂(wᵀφ)/∂σ_l(a_l) (one backward pass): the
    tangents of the Jacobian pass are reused, so the curvature costs a backward pass and
    N·d²·(units) products instead of a forward-over-reverse pass of d tangents.
    """
    leaves = _leaves(module)
    for leaf in leaves:
        if not (isinstance(leaf, _ACTIVATIONS) or _has_linear_rule(leaf)):
            return None
    N = Z.shape[0]
    d = Z[0].numel()
    T = _coordinate_basis(Z)
    saved, outputs = [], []
    with torch.enable_grad():
        h = Z.detach().requires_grad_(True)
        for leaf in leaves:
            if isinstance(leaf, _ACTIVATIONS):
                a = h.clone() if getattr(leaf, "inplace", False) else h
                y = leaf(a)
                a0, y0 = h.detach(), y.detach()
                if not isinstance(leaf, _PIECEWISE_LINEAR):  # zero second derivative: nothing to add
                    saved.append((T, _activation_second_derivative(leaf, a0, y0)))
                    outputs.append(y)
                T = T * _activation_derivative(leaf, a0, y0)
            else:
                with torch.no_grad():
                    T = _linear_tangent(leaf, T)
                y = leaf(h)
            h = y
        w = W[:, : h[0].numel()].reshape(h.shape).to(h.dtype)  # W may run on into later parts' columns
        adjoints = torch.autograd.grad(h, outputs, grad_outputs=w, allow_unused=True) if outputs else []
    H = Z.new_zeros(N, d, d)
    for (T_in, second), lam in zip(saved, adjoints):
        if lam is None:
            continue
        c = (lam.detach() * second).reshape(1, N, -1)
        Tf = T_in.reshape(d, N, -1)
        H = H + torch.einsum("knu,lnu->nkl", Tf * c, Tf)
    return h.detach(), T, H


def forward_jacobian(module, Z):
    """A network's output and its tangents along every latent coordinate.

    ``nn.Sequential`` containers are walked layer by layer: rules for linear,
    convolutional (zero padding), transposed convolutional, batch-norm (eval mode),
    reshaping, dropout (eval mode) and elementwise activation layers (Tanh, Sigmoid,
    Softplus, ReLU, LeakyReLU, ELU, SiLU), ``torch.func`` for any other layer; any other
    module or callable is differentiated whole by ``vmap(jvp)``.

    Parameters
    ----------
    module : callable or torch.nn.Module
        Maps a batch ``(N, ...)`` to ``(N, ...)``.
    Z : Tensor of shape (N, ...)
        The inputs; their d = ``Z[0].numel()`` entries are the coordinates.

    Returns
    -------
    y : Tensor
        ``module(Z)``.
    T : Tensor of shape (d, N, ...)
        ``T[k]`` (shaped like ``y``) is the Jacobian of each output row times the k-th coordinate direction.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sk_geodesic.geometry import forward_jacobian
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh()).double()
    >>> y, T = forward_jacobian(net, torch.zeros(1, 2, dtype=torch.float64))
    >>> J = torch.func.jacfwd(lambda z: net(z[None])[0])(torch.zeros(2, dtype=torch.float64))
    >>> torch.allclose(T[:, 0].T, J)
    True
    """
    basis = _coordinate_basis(Z)
    if _walkable(module):
        return _layer(module, Z, basis)
    y, T = vmap(lambda t: jvp(module, (Z,), (t,)), out_dims=(None, 0))(basis)
    return y, T


#: Rows per Jacobian pass of :class:`LayerwiseEmbedding` on the CPU (larger batches are
#: taken in chunks; on an accelerator every pass takes all rows at once). Measured per point, one thread, chunks of 64 / 256 / 2048 rows: an 8-D MLP
#: decoder (8-128-512-784) 85 / 86 / 102 µs, an 8-D transposed-convolution decoder
#: 297 / 303 / 531 µs, a DCGAN-style generator 322 / 310 / 566 µs: the d stacked tangents
#: of a large batch outgrow the caches.
JACOBIAN_CHUNK = 256

#: Rows per forward pass of :class:`LayerwiseEmbedding` on the CPU (the same measurement: 1024 /
#: 8192 rows, 9.8 / 13.4 µs per point on the MLP, 37-42 / 79-97 µs on the
#: convolutional decoders).
FORWARD_CHUNK = 1024


def _chunk_rows(Z):
    """Rows per Jacobian pass: :data:`JACOBIAN_CHUNK` on the CPU, all of them on an
    accelerator (whose kernels want large batches)."""
    return JACOBIAN_CHUNK if Z.device.type == "cpu" else max(Z.shape[0], 1)


class LayerwiseEmbedding:
    """φ(z) = [part_1(z), part_2(z), …] (each flattened) with layer-by-layer Jacobians.

    Called, it is ``embed`` (the model's own φ, which it must equal); its
    :meth:`value_and_jacobian` takes the parts through :func:`forward_jacobian`. The
    manifolds of module decoders hand one out as their
    :meth:`~sk_geodesic.manifolds.GenerativeManifold.embedding_map`, and the solver and
    :func:`~sk_geodesic.geometry.jacobian` use it for every Jacobian pass of φ.

    Parameters
    ----------
    embed : callable
        φ, ``(..., d) -> (..., D)``.
    parts : list of callables or torch.nn.Module (None entries are skipped)
        Whose flattened outputs, concatenated, are φ.
    latent_shape : tuple of int or None, default=None
        The shape (without the batch axis) in which the parts take codes.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sk_geodesic.geometry import LayerwiseEmbedding, metric_tensor
    >>> mean = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 4))
    >>> std = nn.Sequential(nn.Linear(2, 4), nn.Softplus())
    >>> phi = LayerwiseEmbedding(lambda z: torch.cat([mean(z), std(z)], -1), [mean, std])
    >>> J, value = phi.value_and_jacobian(torch.zeros(5, 2))
    >>> J.shape, value.shape, metric_tensor(phi, torch.zeros(5, 2)).shape
    (torch.Size([5, 8, 2]), torch.Size([5, 8]), torch.Size([5, 2, 2]))
    """

    def __init__(self, embed, parts, latent_shape=None):
        self.embed = embed
        self.parts = [p for p in parts if p is not None]
        self.latent_shape = latent_shape

    def __call__(self, z):
        if z.dim() != 2 or z.shape[0] <= FORWARD_CHUNK or z.device.type != "cpu":
            return self.embed(z)
        return torch.cat([self.embed(z[i : i + FORWARD_CHUNK]) for i in range(0, z.shape[0], FORWARD_CHUNK)])

    def __reduce__(self):
        # φ of a model object (a bound method of an owner offering ``_embedding_parts``,
        # as the manifolds do) is rebuilt from its owner, so that a pickle takes the
        # modules through the owner's own pickling (e.g. TorchScript modules)
        owner = getattr(self.embed, "__self__", None)
        if owner is not None and hasattr(owner, "_embedding_parts"):
            return _from_owner, (owner, self.embed.__func__.__name__)
        return LayerwiseEmbedding, (self.embed, self.parts, self.latent_shape)

    def _shape(self, d):
        return (d,) if self.latent_shape is None else tuple(self.latent_shape)

    def value_and_jacobian(self, Z):
        """``(J, φ)`` at the rows of ``Z`` (N, d): J of shape (N, D, d), φ of shape (N, D).

        Taken :data:`JACOBIAN_CHUNK` rows at a time; every part of every chunk is
        written into one tensor in tangent-major layout (J is a view of it), with no
        concatenation of parts or chunks.
        """
        d = Z.shape[1]
        y, J, _ = self._chunked(Z, lambda rows: self._jacobian_parts(Z[rows], d))
        return J, y

    def _jacobian_parts(self, Z, d):
        """[(φ_part (n, D_part), J_part (n, D_part, d), None)] for each part at rows ``Z``
        (J_part a view of the tangent-major tangents)."""
        n = Z.shape[0]
        X = Z.reshape(n, *self._shape(d))
        out = []
        for part in self.parts:
            y, T = forward_jacobian(part, X)
            out.append((y.reshape(n, -1).to(Z.dtype), T.reshape(d, n, -1).to(Z.dtype).permute(1, 2, 0), None))
        return out

    def value_jacobian_and_curvature(self, Z, W, fallback):
        """``(φ, J, H)`` at the rows of ``Z`` with H the Hessian of φ · w per row; parts
        without rules for second derivatives go through ``fallback(fn, X, W_part)``
        (a generic pass returning ``(φ_part, J_part, H_part)`` for the flattened part).
        Taken :data:`JACOBIAN_CHUNK` rows at a time, written as in :meth:`value_and_jacobian`."""
        d = Z.shape[1]
        y, J, H = self._chunked(Z, lambda rows: self._curvature_parts(Z[rows], W[rows], fallback, d))
        return y, J, 0.5 * (H + H.transpose(-1, -2))

    def _chunked(self, Z, parts_at):
        """``(φ, J, H)`` of all rows of ``Z`` from ``parts_at(rows)`` (a list of
        ``(φ_part, J_part, H_part or None)`` per part), chunk by chunk, each part written
        into its columns of one tangent-major tensor; H summed over the parts (None when
        the parts give none). One part in one chunk is returned as it is."""
        N, d = Z.shape
        c = _chunk_rows(Z)
        chunk = parts_at(slice(0, c))
        if len(chunk) == 1 and N <= c:
            return chunk[0]
        D = sum(y.shape[1] for y, _, _ in chunk)
        y_all, T_all = Z.new_empty(N, D), Z.new_empty(d, N, D)
        H_all = None if chunk[0][2] is None else Z.new_zeros(N, d, d)
        for i in range(0, N, c):
            rows = slice(i, i + c)
            if i:
                chunk = parts_at(rows)
            start = 0
            for y, J, H in chunk:
                cols = slice(start, start + y.shape[1])
                T_all[:, rows, cols], y_all[rows, cols] = J.permute(2, 0, 1), y
                if H_all is not None:
                    H_all[rows] += H
                start = cols.stop
        return y_all, T_all.permute(1, 2, 0), H_all

    def _curvature_parts(self, Z, W, fallback, d):
        """[(φ_part (n, D_part), J_part (n, D_part, d), H_part (n, d, d))] for each part."""
        N = Z.shape[0]
        shape = self._shape(d)
        X = Z.reshape(N, *shape)
        out, start = [], 0
        for part in self.parts:
            res = forward_jacobian_and_curvature(part, X, W[:, start:]) if isinstance(part, nn.Module) else None
            if res is None:
                def flat(z, part=part):
                    return part(z.reshape(z.shape[0], *shape)).reshape(z.shape[0], -1).to(z.dtype)

                D_part = flat(Z[:1]).shape[1]
                y, J, Hp = (t.detach() for t in fallback(flat, Z, W[:, start:start + D_part]))
            else:
                y, T, Hp = res
                y = y.reshape(N, -1).to(Z.dtype)
                D_part = y.shape[1]
                J = T.reshape(d, N, -1).to(Z.dtype).permute(1, 2, 0)
            out.append((y, J, Hp))
            start += D_part
        return out


def _from_owner(owner, name):
    parts, latent_shape = owner._embedding_parts()
    return LayerwiseEmbedding(getattr(owner, name), parts, latent_shape)
