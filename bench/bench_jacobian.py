"""Jacobian passes: layer-by-layer tangents (``forward_jacobian``) against ``vmap(jvp)``,
and the Newton steps' curvature passes (J and ∇²(φ · w)) layerwise against forward-over-reverse.

The decoders are the geodesic bench's (plain ``nn.Sequential`` MNIST VAEs trained here,
``bench/_mnist_models.py``: 2-D tanh, 8-D softplus, and the 8-D softplus decoder with
its RBF σ under the expected metric, whose σ network has no layer rules and goes through
``torch.func``), and an untrained DCGAN-style generator (transposed convolutions,
batch norm in eval mode, ReLU; only the cost is compared there). Each row times one
Jacobian pass at N points, median of ``--repeats`` runs, one torch thread, both ways in
the same process, and checks that they agree.

Usage::

    PYTHONPATH=. python bench/bench_jacobian.py            # about a minute
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _mnist_models import make_models  # noqa: E402

from sk_geodesic.datasets import load_mnist  # noqa: E402
from sk_geodesic.geometry import LayerwiseEmbedding  # noqa: E402
from sk_geodesic.geometry.solvers import _value_and_jacobian, _value_jacobian_and_curvature  # noqa: E402


def dcgan(nz=8):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.ConvTranspose2d(nz, 32, 7, 1, 0), nn.BatchNorm2d(32), nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 4, 2, 1), nn.Sigmoid()).eval().requires_grad_(False)


def timed(fn, repeats):
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, _ = load_mnist(return_X_y=True)
    specs = [(2, "mlp-tanh", "mean"), (8, "mlp-softplus", "mean"), (8, "mlp-softplus", "expected")]
    cases = []
    for m in make_models(X, specs, epochs=6, seed=0, verbose=False):
        parts = [m["decoder"]] + ([m["std"]] if m["std"] is not None else [])
        cases.append((m["name"], m["latent_dim"], LayerwiseEmbedding(m["embed"], parts)))
    gen = dcgan()
    unflat = nn.Unflatten(1, (8, 1, 1))
    cases.append(("DCGAN generator d=8 (untrained)", 8,
                  LayerwiseEmbedding(lambda z: gen(unflat(z.reshape(-1, 8))).flatten(1), [gen], (8, 1, 1))))
    print(f"one Jacobian pass at {args.points} points, median of {args.repeats}, torch threads={args.threads}")
    print(f"{'decoder':34s} {'forward':>9s} {'vmap(jvp)':>10s} {'layerwise':>10s} {'speed-up':>9s} "
          f"{'max |ΔJ|/max|J|':>16s} {'curv. generic':>14s} {'layerwise':>10s} {'speed-up':>9s} {'max |ΔH|/max|H|':>16s}")
    g = torch.Generator().manual_seed(1)
    for name, d, phi in cases:
        Z = 0.5 * torch.randn(args.points, d, generator=g)
        with torch.no_grad():
            t_fwd = timed(lambda: phi(Z), args.repeats)
            vmap_jvp = _value_and_jacobian(phi.embed)  # the generic torch.func pass (a plain callable)
            t_vm = timed(lambda: vmap_jvp(Z), args.repeats)
            t_lw = timed(lambda: phi.value_and_jacobian(Z), args.repeats)
            J0, _ = vmap_jvp(Z)
            J1, _ = phi.value_and_jacobian(Z)
        err = float((J0 - J1).abs().max() / J0.abs().max())
        # the Newton pass: J and H = ∇²(φ · w) per point, for random weights w
        W = torch.randn(J0.shape[0], J0.shape[1], generator=g)
        generic, layerwise = _value_jacobian_and_curvature(phi.embed), _value_jacobian_and_curvature(phi)
        with torch.no_grad():
            t_cg = timed(lambda: generic(Z, W), args.repeats)
            t_cl = timed(lambda: layerwise(Z, W), args.repeats)
            H0, H1 = generic(Z, W)[2].detach(), layerwise(Z, W)[2]
        err_h = float((H0 - H1).abs().max() / H0.abs().max())
        print(f"{name:34s} {t_fwd * 1e3:7.1f}ms {t_vm * 1e3:8.1f}ms {t_lw * 1e3:8.1f}ms {t_vm / t_lw:8.2f}x {err:16.1e} "
              f"{t_cg * 1e3:12.1f}ms {t_cl * 1e3:8.1f}ms {t_cg / t_cl:8.2f}x {err_h:16.1e}")


if __name__ == "__main__":
    main()
