"""Data sets: real image data and the synthetic data of the latent-geometry papers.

Loaders
-------
load_mnist
    10,000 real MNIST digits embedded in the package (works offline).
load_fashion_mnist
    Fashion-MNIST read from local IDX files.
read_idx
    Reader for the IDX format of (Fashion-)MNIST.

Generators
----------
make_ring
    2-D ring (annulus) with a hole.
SemicircleMixture, make_semicircle
    Three-Gaussian "semicircle" latent prior and samples from it.
make_pole_shadow
    Images of a pole and its shadow under a moving light.
"""

from ._generators import SemicircleMixture, make_pole_shadow, make_ring, make_semicircle
from ._idx import read_idx
from ._mnist import load_fashion_mnist, load_mnist

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "read_idx",
    "make_ring",
    "make_semicircle",
    "SemicircleMixture",
    "make_pole_shadow",
]
