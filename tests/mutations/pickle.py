"""Breaks of pickling generative manifolds (CUDA-trained models loading on CPU)."""

from . import Break

T_CUDA = "tests/test_claims_manifolds.py::test_cuda_trained_vae_unpickles_on_cpu"


def _state_moves_removed(mp):
    from sklearn.base import BaseEstimator

    from sk_geodesic.manifolds._base import GenerativeManifold

    mp.setattr(GenerativeManifold, "__getstate__", BaseEstimator.__getstate__)
    mp.setattr(GenerativeManifold, "__setstate__", BaseEstimator.__setstate__)


def _setstate_keeps_cuda(mp):
    from sklearn.base import BaseEstimator

    from sk_geodesic.manifolds._base import GenerativeManifold

    mp.setattr(GenerativeManifold, "__setstate__", BaseEstimator.__setstate__)


def _decoder_corrupted(mp):
    import torch

    from sk_geodesic.manifolds._base import GenerativeManifold

    original = GenerativeManifold.__setstate__

    def setstate(self, state):
        original(self, state)
        for value in list(vars(self).values()):
            if isinstance(value, torch.nn.Module):
                with torch.no_grad():
                    for p in value.parameters():
                        p.add_(1e-3)

    mp.setattr(GenerativeManifold, "__setstate__", setstate)


BREAKS = [
    Break(
        name="state_moves_removed",
        description="GenerativeManifold.__getstate__/__setstate__ tensor moves removed (sklearn's defaults)",
        apply=_state_moves_removed,
        tests=[T_CUDA],
    ),
    Break(
        name="setstate_keeps_cuda",
        description="__setstate__ keeps device_='cuda' on a machine without CUDA",
        apply=_setstate_keeps_cuda,
        tests=[T_CUDA],
    ),
    Break(
        name="decoder_corrupted_on_unpickle",
        description="__setstate__ shifts every network weight by 1e-3",
        apply=_decoder_corrupted,
        tests=[T_CUDA],
    ),
]
