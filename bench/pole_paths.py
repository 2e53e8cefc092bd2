"""Interpolators compared in one trained pole-benchmark autoencoder's latent space.

Trains one :class:`~sk_geodesic.manifolds.AEAI` (default: the plain autoencoder, every
λ = 0, ``latent_dim=3``, MLP (256, 64), 100 epochs, seed 0; JSON overrides) on the pole
benchmark's 80 % split and scores several interpolators over the 80° azimuth intervals
(every ``--stride``-th start at each elevation): mean MSE of the in-between images against
the true ones and the median α-retrieval error, as ``examples/pole_benchmark.py`` scores
them. Used for the density-regularised rows of :ref:`pole_benchmark` (round 18)::

    python bench/pole_paths.py                                  # ~3.5 minutes, one thread
    python bench/pole_paths.py '{"density_components": 64}' --methods linear drg-latent
"""

import argparse
import json
import time
import warnings

import numpy as np
from pole_probe import _benchmark  # the benchmark module, loaded from examples/

BASE = dict(latent_dim=3, hidden_sizes=(256, 64), activation="elu", output_activation="sigmoid", epochs=100,
            batch_size=32, learning_rate=1e-3, random_state=0,
            lambda_adversarial=0.0, lambda_cycle=0.0, lambda_smoothness=0.0)


def interpolators(model, n_points):
    from sk_geodesic.interpolation import DensityRegularizedGeodesic, Geodesic, Linear

    return {
        "linear": lambda: Linear(manifold=model, n_points=n_points),
        "geodesic": lambda: Geodesic(manifold=model, n_points=n_points),
        "drg": lambda: DensityRegularizedGeodesic(manifold=model, n_points=n_points, mu=0.1),
        "drg-latent": lambda: DensityRegularizedGeodesic(manifold=model, n_points=n_points, mu=0.1, density="latent"),
        "drg-latent-mu1": lambda: DensityRegularizedGeodesic(manifold=model, n_points=n_points, mu=1.0,
                                                             density="latent"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("params", nargs="?", default="{}", help="AEAI constructor arguments as JSON")
    parser.add_argument("--stride", type=int, default=6, help="every stride-th start azimuth (1: all 576 intervals)")
    parser.add_argument("--methods", nargs="+", default=["linear", "geodesic", "drg", "drg-latent"])
    args = parser.parse_args(argv)
    import torch

    from sk_geodesic.manifolds import AEAI

    torch.set_num_threads(1)
    pb = _benchmark()
    X, params = pb.pole_data(np.arange(45, 81, 5.0), 5.0)
    train = np.random.RandomState(0).permutation(len(X))[: int(0.8 * len(X))]
    t = time.perf_counter()
    model = AEAI(**(BASE | json.loads(args.params))).fit(X[train])
    print(f"trained in {time.perf_counter() - t:.0f} s")
    idx = pb.intervals(params, "azimuth", 80, 5, start_stride=args.stride)
    K = idx.shape[1]
    alpha = np.linspace(0, 1, K)[1:-1]
    makers = interpolators(model, K)
    for name in args.methods:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decoded = makers[name]().fit(X[train]).path(X[idx[:, 0]], X[idx[:, -1]]).decoded.astype(np.float64)
        mse, alpha_hat, _, _ = pb.evaluate(decoded, idx, X, params, "azimuth")
        err = np.median(np.abs(alpha_hat[:, 1:-1] - alpha))
        print(f"{name:15s} MSE 80° {mse.mean():.5f}  median |α̂−α| {err:.4f}  ({len(idx)} intervals, "
              f"{time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
