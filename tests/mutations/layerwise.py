"""Breaks of the layer-by-layer Jacobians (area ``layerwise``)."""

import torch

from . import Break

T = "tests/test_layerwise_jacobian.py::"


def _softplus_ignores_threshold(mp):
    import sk_geodesic.geometry.layerwise as jac

    derivative = jac._activation_derivative

    def deriv(module, a, y):
        if isinstance(module, torch.nn.Softplus):
            return torch.sigmoid(a * module.beta)
        return derivative(module, a, y)

    mp.setattr(jac, "_activation_derivative", deriv)


def _elu_as_relu(mp):
    import sk_geodesic.geometry.layerwise as jac

    derivative = jac._activation_derivative

    def deriv(module, a, y):
        if isinstance(module, torch.nn.ELU):
            return (a > 0).to(a.dtype)
        return derivative(module, a, y)

    mp.setattr(jac, "_activation_derivative", deriv)


def _conv_transpose_drops_output_padding(mp):
    import torch.nn.functional as F

    import sk_geodesic.geometry.layerwise as jac

    def conv_t(t, w, b, stride, padding, output_padding, groups, dilation):
        out = F.conv_transpose2d(t, w, b, stride, padding, 0, groups, dilation)
        pad = [0, output_padding[1], 0, output_padding[0]]
        return F.pad(out, pad)  # right size, but the extra row/column is zero instead of convolved

    mp.setitem(jac._CONV_T, torch.nn.ConvTranspose2d, conv_t)


def _batch_norm_ignores_weight(mp):
    import sk_geodesic.geometry.layerwise as jac

    layer = jac._layer

    def patched(module, h, T):
        if isinstance(module, jac._BATCH_NORM) and not module.training:
            return module(h), T * (module.running_var + module.eps).rsqrt().reshape(-1, *([1] * (h.dim() - 2)))
        return layer(module, h, T)

    mp.setattr(jac, "_layer", patched)


def _linear_keeps_bias(mp):
    import sk_geodesic.geometry.layerwise as jac

    layer = jac._layer

    def patched(module, h, T):
        if type(module) is torch.nn.Linear:
            return module(h), module(T)
        return layer(module, h, T)

    mp.setattr(jac, "_layer", patched)


def _solver_ignores_layerwise(mp):
    import sk_geodesic.geometry.solvers as solvers

    original = solvers._value_and_jacobian

    def value_and_jacobian(embed):  # the torch.func path whatever the embedding offers
        return original(getattr(embed, "embed", embed))

    mp.setattr(solvers, "_value_and_jacobian", value_and_jacobian)


def _plain_reduce(mp):
    from sk_geodesic.geometry.layerwise import LayerwiseEmbedding

    mp.setattr(LayerwiseEmbedding, "__reduce__",
               lambda self: (LayerwiseEmbedding, (self.embed, self.parts, self.latent_shape)))


BREAKS = [
    Break("plain_reduce", "a pickled φ takes its modules as they are, not through their manifold", _plain_reduce,
          ["tests/test_hardening.py::test_torchscript_decoder_fits_solves_and_pickles"]),
    Break("softplus_ignores_threshold", "Softplus's linear branch above the threshold is missed",
          _softplus_ignores_threshold, [T + "test_forward_jacobian_matches_torch_func"]),
    Break("elu_as_relu", "ELU's negative branch gets a zero derivative", _elu_as_relu,
          [T + "test_forward_jacobian_matches_torch_func"]),
    Break("conv_transpose_drops_output_padding", "transposed convolutions pad their tangents with zeros",
          _conv_transpose_drops_output_padding, [T + "test_forward_jacobian_matches_torch_func"]),
    Break("batch_norm_ignores_weight", "batch norm scales tangents without its affine weight",
          _batch_norm_ignores_weight, [T + "test_forward_jacobian_matches_torch_func"]),
    Break("linear_keeps_bias", "linear layers add their bias to the tangents", _linear_keeps_bias,
          [T + "test_forward_jacobian_matches_torch_func", T + "test_layerwise_embedding_is_phi_with_its_jacobian"]),
    Break("solver_ignores_layerwise", "the solver differentiates φ whole even where layer rules exist",
          _solver_ignores_layerwise, [T + "test_geodesic_solver_takes_the_layerwise_jacobians"]),
]


def _inplace_overwrites(mp):
    import sk_geodesic.geometry.layerwise as jac

    layer = jac._layer

    def patched(module, h, T):
        if isinstance(module, jac._ACTIVATIONS):  # the derivative from an input the layer may overwrite
            y = module(h)
            return y, T * jac._activation_derivative(module, h, y)
        return layer(module, h, T)

    mp.setattr(jac, "_layer", patched)


def _walks_subclasses(mp):
    import torch

    import sk_geodesic.geometry.layerwise as jac

    mp.setattr(jac, "_walkable", lambda module: isinstance(module, torch.nn.Sequential))


BREAKS += [
    Break("inplace_overwrites", "an in-place activation's derivative is taken from its overwritten input",
          _inplace_overwrites, [T + "test_forward_jacobian_matches_torch_func"]),
    Break("walks_subclasses", "a Sequential subclass with its own forward is walked layer by layer",
          _walks_subclasses, [T + "test_forward_jacobian_matches_torch_func"]),
]


def _tanh_curvature_sign(mp):
    import torch

    import sk_geodesic.geometry.layerwise as jac

    second = jac._activation_second_derivative

    def patched(module, a, y):
        out = second(module, a, y)
        return -out if isinstance(module, torch.nn.Tanh) else out

    mp.setattr(jac, "_activation_second_derivative", patched)


def _softplus_curvature_without_beta(mp):
    import torch

    import sk_geodesic.geometry.layerwise as jac

    second = jac._activation_second_derivative

    def patched(module, a, y):
        out = second(module, a, y)
        return out / module.beta if isinstance(module, torch.nn.Softplus) else out

    mp.setattr(jac, "_activation_second_derivative", patched)


BREAKS += [
    Break("tanh_curvature_sign", "tanh's second derivative with the wrong sign", _tanh_curvature_sign,
          [T + "test_layerwise_curvature_matches_forward_over_reverse"]),
    Break("softplus_curvature_without_beta", "Softplus's second derivative without its beta factor",
          _softplus_curvature_without_beta, [T + "test_layerwise_curvature_matches_forward_over_reverse"]),
]


BREAKS += [
    Break("conv_aeai_whole", "AEAI's convolutional decoder is differentiated whole (no layer rules)",
          lambda mp: mp.setattr("sk_geodesic.manifolds._aeai.AEAI._embedding_parts", lambda self: ([self.decoder_], None)),
          [T + "test_convolutional_aeai_decoder_goes_layer_by_layer"]),
]


def _chunks_repeat_the_first(mp):
    from sk_geodesic.geometry.layerwise import LayerwiseEmbedding

    parts = LayerwiseEmbedding._jacobian_parts
    first = {}

    def stale(self, Z, d):
        # every chunk after the first gets the first chunk's rows (a cached pass reused)
        if "out" in first and first["out"][0][0].shape[0] >= Z.shape[0]:
            n = Z.shape[0]
            return [(y[:n], J[:n], H) for y, J, H in first.pop("out")]
        out = parts(self, Z, d)
        first["out"] = out
        return out

    mp.setattr(LayerwiseEmbedding, "_jacobian_parts", stale)


def _forward_chunks_drop_the_rest(mp):
    import sk_geodesic.geometry.layerwise as layerwise

    def call(self, z):
        if z.dim() != 2 or z.shape[0] <= layerwise.FORWARD_CHUNK:
            return self.embed(z)
        c = layerwise.FORWARD_CHUNK
        out = [self.embed(z[i : i + c]) for i in range(0, z.shape[0] - c, c)]
        return torch.cat(out + [self.embed(z[-c:])])[: z.shape[0]]  # the tail re-taken from the wrong rows

    mp.setattr(layerwise.LayerwiseEmbedding, "__call__", call)


def _curvature_chunks_misaligned(mp):
    from sk_geodesic.geometry.layerwise import LayerwiseEmbedding

    parts = LayerwiseEmbedding._curvature_parts

    def shifted(self, Z, W, fallback, d):
        return parts(self, Z, W.roll(1, 0), fallback, d)  # rows with their neighbours' weights

    mp.setattr(LayerwiseEmbedding, "_curvature_parts", shifted)


BREAKS += [
    Break("jacobian_chunks_repeat_the_first", "chunked Jacobian passes return the first chunk's rows again",
          _chunks_repeat_the_first, [T + "test_large_batches_are_taken_in_chunks_with_the_same_results"]),
    Break("forward_chunks_misplace_the_tail", "chunked forward passes take the last chunk from the wrong rows",
          _forward_chunks_drop_the_rest, [T + "test_large_batches_are_taken_in_chunks_with_the_same_results"]),
    Break("curvature_chunks_misaligned", "chunked curvature passes pair rows with other rows' weights",
          _curvature_chunks_misaligned, [T + "test_large_batches_are_taken_in_chunks_with_the_same_results"]),
]
