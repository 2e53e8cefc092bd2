"""Small helpers shared by the estimators: devices, dtypes, generators, tensors,
Torch threads and checks of user callables."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Options

_DTYPES = {"float32": torch.float32, "float64": torch.float64}

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


class DeviceOption(Options):
    """Parameter constraint of ``device``: "auto", "cpu", "cuda", "cuda:N", "mps" or a ``torch.device``."""

    def __init__(self):
        super().__init__(object, {"auto", "cpu", "cuda", "mps"})

    def is_satisfied_by(self, val):
        return isinstance(val, torch.device) or (isinstance(val, str) and bool(_DEVICE_RE.match(val)))

    def __str__(self):
        return "a str among {'auto', 'cpu', 'cuda', 'cuda:N', 'mps'} or a torch.device"


#: the constraint list for every estimator's ``device`` parameter
DEVICE_CONSTRAINT = [DeviceOption()]


def resolve_device(device="auto"):
    """Turn ``"auto"`` / ``"cpu"`` / ``"cuda"`` / a ``torch.device`` into a device."""
    if isinstance(device, torch.device):
        return device
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not (isinstance(device, str) and _DEVICE_RE.match(device)):
        raise ValueError(
            f"device must be one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device; got {device!r}."
        )
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
    X = np.asarray(X)
    if not X.flags.writeable:
        # read-only input (e.g. joblib's memory-mapped arguments in a parallel GridSearchCV):
        # torch cannot share it safely and warns, so convert it into a copy of its own
        return torch.tensor(X, device=device, dtype=dtype)
    return torch.as_tensor(X, device=device, dtype=dtype)


def place_module(fn, device, dtype):
    """A user callable ready for tensors on ``device``/``dtype``.

    A :class:`torch.nn.Module` whose tensors live elsewhere (e.g. a density fitted on
    the CPU, used by an estimator on CUDA) is copied there, in eval mode and without
    weight gradients; one already in place, and any plain function, is returned as is.
    """
    if not isinstance(fn, torch.nn.Module):
        return fn
    want = torch.device(device)

    def in_place(t):  # "cuda" and "cuda:0" name the same device here
        same = t.device.type == want.type and (want.index is None or t.device.index == want.index)
        return same and (not t.is_floating_point() or t.dtype == dtype)

    if all(in_place(t) for t in [*fn.parameters(), *fn.buffers()]):
        return fn
    return frozen_copy(fn, device, dtype)


def frozen_copy(module, device, dtype):
    """A deep copy of ``module`` on ``device``/``dtype``, in eval mode, weights without gradients.

    Also for TorchScript modules (``torch.jit.load``/``torch.jit.script``), which
    ``torch.func`` differentiates like any module: copied outside ``no_grad`` their
    parameters come back as non-leaf clones, and ``ScriptModule.requires_grad_`` is not
    supported, so the copy is made under ``no_grad`` and frozen parameter by parameter.
    """
    import copy

    with torch.no_grad():
        out = copy.deepcopy(module).to(device, dtype).eval()
    for p in out.parameters():
        p.requires_grad_(False)
    return out


def to_numpy(t):
    return t.detach().cpu().numpy()


def like_input(t, X):
    """Return ``t`` as a Torch tensor if ``X`` was one, else as NumPy."""
    if isinstance(X, torch.Tensor):
        return t.detach().to(X.device)
    return to_numpy(t)


# -- Torch threads ------------------------------------------------------------------------
_CONFIG = {"threads": None}
_CONFIG_LOCK = threading.Lock()


def _env_threads():
    value = os.environ.get("SK_GEODESIC_THREADS", "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"SK_GEODESIC_THREADS must be a positive integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"SK_GEODESIC_THREADS must be a positive integer, got {value!r}")
    return n


def check_positive_int(value, name):
    """Raise a ``ValueError`` naming ``name`` unless ``value`` is an integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _check_threads(threads):
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be None or a positive integer, got {threads!r}")
    return int(threads)


def get_config():
    """The package's global settings, as a dict (currently ``{"threads": ...}``).

    ``threads`` is the number of Torch intra-op threads every estimator method runs
    with; ``None`` (default) leaves Torch's own setting alone. The environment variable
    ``SK_GEODESIC_THREADS`` gives its default value.
    """
    threads = _CONFIG["threads"]
    return {"threads": threads if threads is not None else _env_threads()}


def set_config(threads=None):
    """Set the package's global settings.

    Parameters
    ----------
    threads : int or None, default=None
        Torch intra-op threads used while an estimator of this package fits,
        transforms, samples or computes paths and distances (``torch.set_num_threads``
        inside the call, the previous value restored after it). ``None`` leaves Torch's
        setting alone (unless ``SK_GEODESIC_THREADS`` is set). On a machine shared with
        other work, or when running several processes, set it to the cores you may use
        per process (often 1): Torch's default, one thread per core, oversubscribes
        shared cores and can run several times slower.

    Examples
    --------
    >>> import sk_geodesic
    >>> sk_geodesic.set_config(threads=1)
    >>> sk_geodesic.get_config()["threads"]
    1
    >>> sk_geodesic.set_config(threads=None)
    """
    with _CONFIG_LOCK:
        _CONFIG["threads"] = _check_threads(threads)


@contextlib.contextmanager
def config_context(threads=None):
    """Temporarily change the package's settings (see :func:`set_config`).

    Examples
    --------
    >>> import sk_geodesic
    >>> with sk_geodesic.config_context(threads=1):
    ...     sk_geodesic.get_config()["threads"]
    1
    """
    old = _CONFIG["threads"]
    set_config(threads=threads)
    try:
        yield
    finally:
        with _CONFIG_LOCK:
            _CONFIG["threads"] = old


@contextlib.contextmanager
def torch_threads(threads=None):
    """Run a block with ``threads`` Torch intra-op threads, restoring the old count.

    ``None`` uses the package setting (:func:`set_config`); if that is ``None`` too,
    nothing changes.
    """
    n = _check_threads(threads) if threads is not None else get_config()["threads"]
    if n is None or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def honour_threads(method):
    """Decorator: run an estimator method under :func:`torch_threads`."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with torch_threads():
            return method(*args, **kwargs)

    return wrapper


# -- checks of user callables -------------------------------------------------------------
def check_finite_output(out, Z, what, context=""):
    """Raise a clear ``ValueError`` when ``out`` (rows for the points ``Z``) is not finite.

    Parameters
    ----------
    out : Tensor (N, ...)
        Values of a map at the latent points ``Z``.
    Z : Tensor (N, d)
    what : str
        Which map, e.g. "the manifold's embedding map".
    context : str
        Where it happened, e.g. "at fit, on probe points".
    """
    if not isinstance(out, torch.Tensor):
        return
    with torch.no_grad():
        flat = out.reshape(out.shape[0], -1) if out.dim() > 0 else out.reshape(1, 1)
        bad = ~torch.isfinite(flat).all(-1)
        if not bool(bad.any()):
            return
        idx = bad.nonzero().reshape(-1)
        Zf = torch.as_tensor(Z).reshape(-1, torch.as_tensor(Z).shape[-1]) if torch.as_tensor(Z).dim() else None
        first = Zf[idx[0]].detach().cpu().double().numpy() if Zf is not None and len(Zf) > int(idx[0]) else None
    where = f" {context}" if context else ""
    raise ValueError(
        f"{what} returned NaN or inf{where} at {int(idx.numel())} of {flat.shape[0]} latent points "
        f"{'' if first is None else '(first at z=' + np.array2string(first, precision=4, threshold=8) + ')'}; geodesics need a map that is "
        "finite everywhere on the latent space: check the decoder (e.g. overflowing exp/log, division "
        "by zero, a diverged training)."
    )


def probe_points(latent_dim, n=8, seed=0, dtype=torch.float64, device="cpu"):
    """A few fixed latent points: the origin and ``n - 1`` draws of N(0, 0.25 I)."""
    gen = torch.Generator().manual_seed(seed)
    Z = 0.5 * torch.randn(n, latent_dim, generator=gen, dtype=torch.float64)
    Z[0] = 0.0
    return Z.to(device=device, dtype=dtype)


def check_manifold_finite(manifold, Z, context):
    """Evaluate a fitted manifold's φ, decoder and log p at latent points ``Z``.

    Raises a ``ValueError`` naming the map that returns NaN/inf (or, for log p, the
    wrong shape). Works with any object offering ``embedding_map``, ``decoding_map``
    and ``latent_log_density``.
    """
    name = type(manifold).__name__
    with torch.no_grad():
        check_finite_output(manifold.decoding_map()(Z), Z, f"the decoder of {name}", context)
        check_finite_output(manifold.embedding_map()(Z), Z, f"the embedding map of {name}", context)
        log_density = manifold.latent_log_density()
        if log_density is not None:
            check_log_density(log_density, Z, f"the latent log-density of {name}", context)


def check_log_density(log_density, Z, what, context):
    """A log-density must map ``(N, d)`` to ``N`` finite values (shape ``(N,)``)."""
    try:
        with torch.no_grad():
            out = log_density(Z)
    except Exception as exc:  # a user's callable: say which piece broke
        raise ValueError(f"{what} failed on a batch of shape {tuple(Z.shape)} ({context}): {exc}") from exc
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (Z.shape[0],):
        raise ValueError(
            f"{what} must map (N, latent_dim) to a Torch tensor of shape (N,); got "
            f"{type(out).__name__} of shape {tuple(getattr(out, 'shape', ()))} for N={Z.shape[0]} "
            f"({context}). If it returns (N, 1), squeeze the last axis."
        )
    check_finite_output(out, Z, what, context)
