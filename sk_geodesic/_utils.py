"""Small helpers shared by the estimators: devices, dtypes, generators, tensors."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device="auto"):
    """Turn ``"auto"`` / ``"cpu"`` / ``"cuda"`` / a ``torch.device`` into a device."""
    if isinstance(device, torch.device):
        return device
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available on this machine; "
            "use device='auto' or device='cpu'."
        )
    return dev


def resolve_dtype(dtype="float32"):
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype)]
    except KeyError:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None


def torch_generator(random_state, device="cpu"):
    """A local ``torch.Generator`` seeded from a sklearn ``random_state``.

    The global torch RNG is never touched, so estimators stay reproducible and
    independent of each other.
    """
    rng = check_random_state(random_state)
    seed = int(rng.randint(0, 2**31 - 1))
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def seed_from(random_state):
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def to_tensor(X, device, dtype):
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=dtype)
    return torch.as_tensor(np.asarray(X), device=device, dtype=dtype)


def to_numpy(t):
    return t.detach().cpu().numpy()


def like_input(t, X):
    """Return ``t`` as a Torch tensor if ``X`` was one, else as NumPy."""
    if isinstance(X, torch.Tensor):
        return t.detach().to(X.device)
    return to_numpy(t)
