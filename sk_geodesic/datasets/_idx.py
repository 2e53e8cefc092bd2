"""Reader for the IDX file format used by MNIST and Fashion-MNIST."""

import gzip
import os

import numpy as np

__all__ = ["read_idx"]

# IDX type code -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    with open(path, "rb") as f:
        head = f.read(2)
    opener = gzip.open if head == _GZIP_MAGIC else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (EOFError, OSError, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc


def read_idx(path):
    """Read an array stored in the IDX format.

    The IDX format (used by MNIST and Fashion-MNIST) is a 4-byte magic number
    ``0x00 0x00 <type code> <number of dimensions>``, followed by one
    big-endian 32-bit unsigned integer per dimension, followed by the values
    in C order, big-endian.  Type codes are ``0x08`` (uint8), ``0x09``
    (int8), ``0x0B`` (int16), ``0x0C`` (int32), ``0x0D`` (float32) and
    ``0x0E`` (float64).

    Parameters
    ----------
    path : str or path-like
        File to read.  Gzip-compressed files (such as
        ``train-images-idx3-ubyte.gz``) are detected from their content and
        decompressed on the fly, whatever their name.

    Returns
    -------
    array : ndarray
        Array with the dimensions stored in the file, in native byte order.

    Raises
    ------
    ValueError
        If the magic number is invalid, the type code is unknown, or the file
        is truncated or has trailing bytes.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sk_geodesic.datasets import read_idx
    >>> labels = np.array([3, 1, 4], dtype=np.uint8)
    >>> raw = bytes([0, 0, 0x08, 1]) + (3).to_bytes(4, "big") + labels.tobytes()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "labels-idx1-ubyte")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(raw)
    ...     read_idx(path)
    array([3, 1, 4], dtype=uint8)
    """
    path = os.fspath(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise ValueError(
            f"{path}: file too short ({len(buf)} bytes) to hold an IDX magic number"
        )
    zero0, zero1, code, ndim = buf[0], buf[1], buf[2], buf[3]
    if zero0 != 0 or zero1 != 0 or code not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{buf[:4].hex()} "
            "(expected 0x0000TTNN with type code TT in "
            f"{{{', '.join(f'0x{c:02x}' for c in _IDX_DTYPES)}}} "
            "and NN the number of dimensions); is this an IDX file?"
        )
    header_size = 4 + 4 * ndim
    if len(buf) < header_size:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions announced but only "
            f"{len(buf)} bytes in the file"
        )
    shape = tuple(
        int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    available = len(buf) - header_size
    if available < expected:
        raise ValueError(
            f"{path}: truncated IDX file: shape {shape} of {dtype.name} needs "
            f"{expected} bytes of data, found {available}"
        )
    if available > expected:
        raise ValueError(
            f"{path}: {available - expected} unexpected trailing bytes after the "
            f"IDX data of shape {shape}"
        )
    array = np.frombuffer(buf, dtype=dtype, count=expected // dtype.itemsize,
                          offset=header_size)
    return array.reshape(shape).astype(dtype.newbyteorder("="))
