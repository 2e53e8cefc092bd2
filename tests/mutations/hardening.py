"""Breaks of the input validation, memory bounds and settings of issue 9 (hardening)."""

import contextlib
import functools

from . import Break

T = "tests/test_hardening.py::"


def _no_finite_checks(mp):
    import sk_geodesic._utils as utils
    import sk_geodesic.interpolation._base as base
    import sk_geodesic.interpolation._realism as realism
    import sk_geodesic.manifolds._pretrained as pretrained

    noop = lambda *args, **kwargs: None  # noqa: E731
    for mod in (utils, base, realism, pretrained):
        mp.setattr(mod, "check_finite_output", noop)


def _no_length_check(mp):
    from sk_geodesic.interpolation._base import Interpolator

    mp.setattr(Interpolator, "_check_finite_lengths", lambda self, L, Z0, Z1: None)


def _no_device_hint(mp):
    from sk_geodesic.manifolds import PretrainedManifold

    def call_piece(self, name, fn, arg):  # the error without the device hint
        try:
            return fn(arg)
        except Exception as exc:
            raise ValueError(f"the {name} failed on a batch of shape {tuple(arg.shape)}: {exc}") from exc

    mp.setattr(PretrainedManifold, "_call_piece", call_piece)


def _no_piece_checks(mp):
    from sk_geodesic.manifolds import PretrainedManifold

    mp.setattr(PretrainedManifold, "_check_pieces", lambda self, probe, out, n_out: None)


def _no_user_log_density_check(mp):
    import sk_geodesic.interpolation._base as base

    mp.setattr(base, "check_log_density", lambda *args, **kwargs: None)


def _any_device_string(mp):
    from sk_geodesic._utils import DeviceOption

    mp.setattr(DeviceOption, "is_satisfied_by", lambda self, val: True)


def _no_positive_int_checks(mp):
    import sk_geodesic.manifolds._base as mbase
    import sk_geodesic.manifolds._vae as vae

    mp.setattr(mbase, "check_positive_int", lambda value, name: int(value))
    mp.setattr(vae, "check_positive_int", lambda value, name: int(value))


def _vae_one_row(mp):
    import sk_geodesic.manifolds._vae as vae

    original = vae.validate_data

    def validate(est, X, **kwargs):
        kwargs.pop("ensure_min_samples", None)
        return original(est, X, **kwargs)

    mp.setattr(vae, "validate_data", validate)


def _clone_drops_fit(mp):
    from sklearn.base import BaseEstimator

    from sk_geodesic.interpolation._base import Interpolator

    mp.setattr(Interpolator, "__sklearn_clone__", BaseEstimator.__sklearn_clone__)


def _pretrained_in_place(mp):
    from sk_geodesic.manifolds import PretrainedManifold

    def place(self, fn):
        import torch

        if isinstance(fn, torch.nn.Module):
            return fn.to(self.device_, self.dtype_).eval()
        return fn

    mp.setattr(PretrainedManifold, "_place", place)


def _no_dtype_cast(mp):
    from sk_geodesic.manifolds import PretrainedManifold

    mp.setattr(PretrainedManifold, "_decode", lambda self, z: self.decoder_(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], -1))


def _read_only_shared(mp):
    import numpy as np
    import torch

    from . import patch_everywhere

    def shared(X, device, dtype):
        if isinstance(X, torch.Tensor):
            return X.to(device=device, dtype=dtype)
        return torch.as_tensor(np.asarray(X), device=device, dtype=dtype)

    patch_everywhere(mp, "sk_geodesic._utils", "to_tensor", shared)


def _single_points_unbatched(mp):
    from sk_geodesic.manifolds import PretrainedManifold

    mp.setattr(PretrainedManifold, "_decode", lambda self, z: self.decoder_(z).reshape(*z.shape[:-1], -1).to(z.dtype))


def _names_ignored(mp):
    import numpy as np

    import sk_geodesic.interpolation._base as base

    original = base.validate_data

    def validate(est, X, **kwargs):
        if kwargs.get("reset") is False:
            X = np.asarray(X)  # drops the column names: no check, no warning
            kwargs["skip_check_array"] = False
        return original(est, X, **kwargs)

    mp.setattr(base, "validate_data", validate)


def _realism_keeps_last(mp):
    import sk_geodesic.interpolation._realism as realism

    mp.setattr(realism, "_keep_best", lambda best, best_f, current, f_now: (current, f_now))


def _global_rng(mp):
    import torch

    import sk_geodesic.interpolation._realism as realism

    original = realism._train_feature_extractor

    def seeded(X, y, seed, *args, **kwargs):
        torch.manual_seed(seed)
        return original(X, y, seed, *args, **kwargs)

    mp.setattr(realism, "_train_feature_extractor", seeded)


def _one_chunk(mp):
    from sk_geodesic.interpolation._base import Interpolator

    mp.setattr(Interpolator, "_chunk_pairs", lambda self, chunk_size: 10**12)


def _no_mirror(mp):
    import sk_geodesic.interpolation._base as base

    mp.setattr(base, "_mirror_upper", lambda D: None)


def _threads_ignored(mp):
    import sk_geodesic._utils as utils

    mp.setattr(utils, "torch_threads", lambda threads=None: contextlib.nullcontext())


BREAKS = [
    Break(
        name="no_device_hint",
        description="a user function that fails on accelerator tensors is not told to use device='cpu'",
        apply=_no_device_hint,
        tests=[T + "test_numpy_decoder_on_an_accelerator_says_to_use_the_cpu"],
    ),
    Break("no_finite_checks", "NaN/inf from decoders, encoders, log-densities are not detected",
          _no_finite_checks, [T + "test_nan_decoder_during_a_solve_is_named",
                              T + "test_nan_manifold_is_named_at_interpolator_fit"]),
    Break("no_length_check", "non-finite path lengths are returned silently", _no_length_check,
          [T + "test_nan_decoder_during_a_solve_is_named"]),
    Break("no_piece_checks", "PretrainedManifold.fit does not probe std_network/log_density/encoder",
          _no_piece_checks, [T + "test_pretrained_pieces_are_checked_at_fit"]),
    Break("no_user_log_density_check", "an interpolator's log_density of shape (N, 1) is not caught at fit",
          _no_user_log_density_check, [T + "test_user_log_density_shape_is_checked_at_fit"]),
    Break("any_device_string", "device='gpu' passes parameter validation", _any_device_string,
          [T + "test_bad_device_fails_parameter_validation"]),
    Break("no_positive_int_checks", "sample(-1) and score_samples(n_draws=0) are not validated",
          _no_positive_int_checks, [T + "test_sample_needs_a_positive_integer",
                                    T + "test_score_samples_needs_positive_draws"]),
    Break("vae_one_row", "VAE.fit trains on a single row", _vae_one_row,
          [T + "test_vae_fit_on_one_row_fails_before_training"]),
    Break("clone_drops_fit", "clone() of an interpolator drops its manifold's fit (re-training)",
          _clone_drops_fit, [T + "test_clone_and_grid_search_keep_a_fitted_manifold",
                             "tests/test_composition.py::test_unfrozen_fitted_manifold_is_kept_by_clone"]),
    Break("pretrained_in_place", "PretrainedManifold.fit converts the user's module in place",
          _pretrained_in_place, [T + "test_pretrained_fit_does_not_touch_the_users_module"]),
    Break("no_dtype_cast", "a float64 decoder under dtype='float32' is not cast", _no_dtype_cast,
          [T + "test_float64_callable_under_float32"]),
    Break("read_only_shared", "read-only arrays (joblib memory maps) reach torch uncopied, with its warning",
          _read_only_shared, [T + "test_read_only_input_is_used_without_warning"]),
    Break("single_points_unbatched", "single points reach a batch-only decoder unbatched",
          _single_points_unbatched, [T + "test_single_point_calls_reach_a_batch_only_decoder"]),
    Break("names_ignored", "interpolators ignore feature names", _names_ignored, [T + "test_feature_names"]),
    Break("realism_keeps_last", "RealismIndex returns its last Adam iterate, not the best curve",
          _realism_keeps_last, [T + "test_identical_and_tiny_gaps"]),
    Break("global_rng", "the default feature extractor reseeds Torch's global RNG", _global_rng,
          [T + "test_realism_features_leaves_the_global_rng_alone"]),
    Break("one_chunk", "pairwise_distances holds every pair at once", _one_chunk,
          [T + "test_streamed_distances_bound_memory"]),
    Break("no_mirror", "the symmetric matrix's lower triangle is left empty", _no_mirror,
          [T + "test_streamed_distances_are_bit_identical"]),
    Break("threads_ignored", "the threads setting is not applied", _threads_ignored,
          [T + "test_threads_setting_is_honoured"]),
]


def _path_measures_eagerly(mp):
    from sk_geodesic.interpolation._base import Interpolator

    solve_pairs = Interpolator._solve_pairs
    mp.setattr(Interpolator, "_solve_pairs",
               lambda self, Z0, Z1, keep_curves, return_extra=False, measure=True:
               solve_pairs(self, Z0, Z1, keep_curves, return_extra=return_extra, measure=True))


def _slice_reads_parent(attr, mp):
    """A slice of a lazy path computes ``attr`` ("_measure" or "_decode") from its parent's curves."""
    from sk_geodesic.interpolation._base import Path

    getitem = Path.__getitem__

    def sliced(self, i):
        out = getitem(self, i)
        if getattr(out, attr) is not None:
            parent = self
            setattr(out, attr, lambda Z: getattr(parent, attr)(parent.latent))
        return out

    mp.setattr(Path, "__getitem__", sliced)


_lazy_slice_measures_parent = functools.partial(_slice_reads_parent, "_measure")
_lazy_slice_decodes_parent = functools.partial(_slice_reads_parent, "_decode")


def _pickle_drops_lengths(mp):
    from sk_geodesic.interpolation._base import Path

    mp.setattr(Path, "__getstate__", lambda self: {**self.__dict__, "_measure": None})


def _path_decodes_eagerly(mp):
    from sk_geodesic.interpolation._base import Path

    init = Path.__init__

    def eager(self, *args, **kwargs):
        init(self, *args, **kwargs)
        _ = self.decoded

    mp.setattr(Path, "__init__", eager)


def _pickle_drops_images(mp):
    from sk_geodesic.interpolation._base import Path

    mp.setattr(Path, "__getstate__", lambda self: {**self.__dict__, "_decode": None})


BREAKS += [
    Break("path_measures_eagerly", "Linear.path measures every curve densely while building it",
          _path_measures_eagerly, [T + "test_linear_path_defers_the_dense_length_until_read"]),
    Break("lazy_slice_measures_parent", "a slice of an unmeasured path measures its parent's curves",
          _lazy_slice_measures_parent, [T + "test_unmeasured_path_slices_and_pickles_with_its_own_lengths"]),
    Break("pickle_drops_lengths", "a pickled unmeasured path loses its lengths", _pickle_drops_lengths,
          [T + "test_unmeasured_path_slices_and_pickles_with_its_own_lengths"]),
    Break("lazy_slice_decodes_parent", "a slice of an undecoded path decodes its parent's curves",
          _lazy_slice_decodes_parent, [T + "test_geodesic_path_decodes_its_images_when_first_read"]),
    Break("path_decodes_eagerly", "Geodesic.path decodes every curve while building the path",
          _path_decodes_eagerly, [T + "test_geodesic_path_decodes_its_images_when_first_read"]),
    Break("pickle_drops_images", "a pickled undecoded path loses its images", _pickle_drops_images,
          [T + "test_geodesic_path_decodes_its_images_when_first_read"]),
]


def _script_copy_with_grad(mp):
    import copy

    import sk_geodesic._utils as utils
    import sk_geodesic.manifolds._pretrained as pretrained

    def frozen_copy(module, device, dtype):  # the pre-round-22 copy: fails on TorchScript modules
        return copy.deepcopy(module).to(device, dtype).eval().requires_grad_(False)

    for mod in (utils, pretrained):
        mp.setattr(mod, "frozen_copy", frozen_copy)


def _script_not_pickled(mp):
    import copy

    import torch

    from sk_geodesic.manifolds._base import GenerativeManifold

    def getstate(self):  # the pre-round-22 state: every module deep-copied as it is
        state = dict(super(GenerativeManifold, self).__getstate__())
        for key, value in list(state.items()):
            if isinstance(value, torch.nn.Module):
                state[key] = copy.deepcopy(value).cpu()
        return state

    mp.setattr(GenerativeManifold, "__getstate__", getstate)


BREAKS += [
    Break("script_copy_with_grad", "a TorchScript decoder is copied as an eager module", _script_copy_with_grad,
          [T + "test_torchscript_decoder_fits_solves_and_pickles"]),
    Break("script_not_pickled", "TorchScript modules go into the pickle as they are", _script_not_pickled,
          [T + "test_torchscript_decoder_fits_solves_and_pickles"]),
]


def _sigma_flat_codes(mp):
    from sk_geodesic.manifolds import PretrainedManifold

    def sigma(self, z):  # σ given flat codes whatever latent_shape says
        return self.std_network_(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:-1], -1).to(z.dtype)

    mp.setattr(PretrainedManifold, "_sigma", sigma)


def _encoder_flat_rows(mp):
    from sk_geodesic.manifolds import PretrainedManifold

    encode = PretrainedManifold._encode

    def flat_encode(self, x):  # input_shape checked at fit, ignored by transform
        shape, self.input_shape_ = self.input_shape_, None
        try:
            return encode(self, x)
        finally:
            self.input_shape_ = shape

    mp.setattr(PretrainedManifold, "_encode", flat_encode)


BREAKS += [
    Break("sigma_flat_codes", "std_network gets flat codes when the decoder takes latent_shape", _sigma_flat_codes,
          [T + "test_image_shaped_codes_and_inputs_match_flat_wrappers"]),
    Break("encoder_flat_rows", "transform gives the encoder flat rows despite input_shape", _encoder_flat_rows,
          [T + "test_image_shaped_codes_and_inputs_match_flat_wrappers"]),
]
