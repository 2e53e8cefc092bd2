"""When does a second start help? The evidence behind ``Geodesic(multi_start="auto")``.

For MNIST decoders trained here without the package's VAE class (the models of
``bench_geodesic.py``: 2-D tanh and 8-D softplus MLPs, seed 0, and 2-D / 8-D ReLU MLPs,
seed 3; each under the mean metric, and the 8-D ones and the 2-D tanh one also under the expected metric
with a steep RBF σ), 64 pairs of encoded digits get the two graph starts of
``Geodesic(multi_start=True)``. Both starts are solved to 17 nodes as
:func:`~sk_geodesic.geometry.solve_geodesic_multistart` does, and the script counts the
pairs whose starts differ and those where the second start ends more than 0.1 % shorter
(Richardson-extrapolated length at 4 sub-segments per segment).

Run ``PYTHONPATH=. python bench/bench_multistart.py`` (a few minutes, one thread).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _mnist_models import make_models  # noqa: E402

from sk_geodesic.datasets import load_mnist  # noqa: E402
from sk_geodesic.geometry.curves import curve_length_energy, resample  # noqa: E402
from sk_geodesic.geometry.solvers import MULTISTART_SELECT_POINTS, solve_energy_multilevel  # noqa: E402
from sk_geodesic.interpolation import Geodesic  # noqa: E402
from sk_geodesic.manifolds import PretrainedManifold  # noqa: E402

MODELS = [
    (0, [(2, "mlp-tanh", "mean"), (2, "mlp-tanh", "expected"), (8, "mlp-softplus", "mean"),
         (8, "mlp-softplus", "expected")]),
    (3, [(2, "mlp-relu", "mean"), (8, "mlp-relu", "mean"), (8, "mlp-relu", "expected")]),
]


def second_start_gain(model, X, n_pairs=64, pair_seed=1):
    """(pairs whose starts differ, pairs where start 2 is > 0.1 % shorter, their mean gain)."""
    man = PretrainedManifold(model["decoder"], latent_dim=model["latent_dim"], std_network=model["std"],
                             encoder=model["encoder"]).fit(X)
    geo = Geodesic(manifold=man, multi_start=True).fit(X)
    embed = geo._geometry.embedding_map()
    rng = np.random.RandomState(pair_seed)
    idx = rng.randint(0, len(model["codes"]), (2, n_pairs))
    Z0, Z1 = model["codes"][idx[0]].numpy(), model["codes"][idx[1]].numpy()
    with torch.no_grad():
        starts = geo._initial_curves(Z0, Z1)
        lengths = []
        for start in starts:
            r = solve_energy_multilevel(embed, resample(start, MULTISTART_SELECT_POINTS), tol=1e-3, min_points=9,
                                        subdivisions=1)
            lengths.append(curve_length_energy(embed, r.Z, refine=False)[0])
    differ = ~(starts[0] == starts[1]).flatten(1).all(-1)
    gain = (lengths[0] - lengths[1]) / lengths[0]
    wins = differ & (gain > 1e-3)
    return int(differ.sum()), int(wins.sum()), float(gain[wins].mean()) if bool(wins.any()) else 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, _ = load_mnist(return_X_y=True)
    t = time.perf_counter()
    print(f"{'model':36s} {'starts differ':>13s} {'start 2 shorter':>15s} {'mean gain':>9s}")
    for seed, specs in MODELS:
        for m in make_models(X, specs, epochs=6, seed=seed, verbose=False):
            differ, wins, gain = second_start_gain(m, X[::5])
            print(f"{m['name'] + f' (seed {seed})':36s} {differ:13d} {wins:15d} {100 * gain:8.2f}%", flush=True)
    print(f"total {time.perf_counter() - t:.0f}s, torch threads={args.threads}")


if __name__ == "__main__":
    main()
