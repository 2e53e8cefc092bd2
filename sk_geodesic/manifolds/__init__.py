"""Generative models as sklearn estimators exposing an embedding map and a log-density."""

from ._aeai import AEAI
from ._base import GenerativeManifold
from ._gan import GAN
from ._pretrained import PretrainedManifold
from ._vae import VAE

__all__ = ["GenerativeManifold", "VAE", "GAN", "AEAI", "PretrainedManifold"]
