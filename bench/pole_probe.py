"""One pole-benchmark model, scored at 80°, with its error taken apart.

Trains one :class:`~sk_geodesic.manifolds.AEAI` (any constructor arguments, as JSON) on the
pole benchmark's 80 % split and interpolates linearly over **every** 80° azimuth interval
(all 576 starts). Besides the benchmark's numbers (mean and spread of the MSE of the 15
in-between images against the true ones, median α-retrieval error) it prints where that
error comes from:

* ``realism``   -- MSE between each interpolant and its nearest data-set image: how far
  the interpolants are from *some* real image (blur, artefacts);
* ``misplaced`` -- MSE between that nearest image and the true image at that α: what the
  interpolation would cost if every interpolant were sharp but stayed where it lands;
* ``floor``     -- reconstruction MSE of the true in-between images, g(f(x)): the error
  of an ideal path through this latent space, one that passes through the true codes
  (over all 80° intervals every image is an in-between image equally often, so this is
  also the reconstruction MSE of the whole data set);
* the mean MSE per elevation (long shadows at low sun move most per 5° of azimuth).

Usage (one Torch thread on the 2-core machine, another job beside it: 10-16 minutes for
the first, under a minute for the second)::

    python bench/pole_probe.py '{"latent_dim": 3, "hidden_sizes": [512, 128]}'
    python bench/pole_probe.py '{"latent_dim": 3, "lambda_adversarial": 0, "lambda_cycle": 0, "lambda_smoothness": 0}'

The defaults below are the benchmark's network and budget (MLP 1024-256-64-d, ELU, sigmoid
output, 300 epochs, batch 32, Adam 1e-3, seed 0); the JSON overrides them.
"""

import argparse
import importlib.util
import json
import pickle
import time
from pathlib import Path

import numpy as np

BASE = dict(latent_dim=8, hidden_sizes=(256, 64), activation="elu", output_activation="sigmoid",
            epochs=300, batch_size=32, learning_rate=1e-3, random_state=0)


def _benchmark():
    path = Path(__file__).resolve().parents[1] / "examples" / "pole_benchmark.py"
    spec = importlib.util.spec_from_file_location("_pole_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(model, X, params, X_train, pb, length=80.0, step=5.0):
    """The 80° numbers of ``model`` and the decomposition described in the module docstring."""
    from sk_geodesic.interpolation import Linear
    from sk_geodesic.metrics import nearest_reference

    idx = pb.intervals(params, "azimuth", length, step)
    K = idx.shape[1]
    decoded = Linear(manifold=model, n_points=K).fit(X_train).path(X[idx[:, 0]], X[idx[:, -1]]).decoded
    decoded = decoded.astype(np.float64)
    mse, alpha_hat, _, _ = pb.evaluate(decoded, idx, X, params, "azimuth")
    inner = decoded[:, 1:-1]
    near = nearest_reference(inner, X)
    truth = X[idx[:, 1:-1]]
    realism = ((inner - X[near]) ** 2).mean(-1)
    misplaced = ((X[near] - truth) ** 2).mean(-1)
    rec = model.inverse_transform(model.transform(X))
    floor = ((rec - X) ** 2).mean(-1)[idx[:, 1:-1]]
    alpha = np.linspace(0, 1, K)[1:-1]
    by_elevation = {float(e): float(mse[params[idx[:, 0], 0] == e].mean()) for e in np.unique(params[idx[:, 0], 0])}
    return {
        "mse80": float(mse.mean()),
        "spread": float(mse.mean(1).std()),
        "alpha_median_error": float(np.median(np.abs(alpha_hat[:, 1:-1] - alpha))),
        "realism": float(realism.mean()),
        "misplaced": float(misplaced.mean()),
        "floor": float(floor.mean()),
        "mse_by_elevation": by_elevation,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("params", nargs="?", default="{}", help="AEAI constructor arguments as JSON")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the 80/20 split (the benchmark's: 0)")
    parser.add_argument("--elevations", type=float, nargs=2, default=(45, 80), metavar=("MIN", "MAX"),
                        help="sun elevations, 5° apart (the benchmark's 45-80; other light ranges: e.g. 20 55)")
    parser.add_argument("--model", default=None, help="score this pickled, fitted AEAI instead of training one")
    args = parser.parse_args(argv)

    import torch

    from sk_geodesic.manifolds import AEAI

    torch.set_num_threads(1)
    pb = _benchmark()
    X, params = pb.pole_data(np.arange(args.elevations[0], args.elevations[1] + 1e-9, 5.0), 5.0)
    train = np.random.RandomState(args.split_seed).permutation(len(X))[: int(0.8 * len(X))]
    start = time.perf_counter()
    if args.model:
        with open(args.model, "rb") as f:
            model = pickle.load(f)
    else:
        model = AEAI(**(BASE | json.loads(args.params))).fit(X[train])
    seconds = time.perf_counter() - start
    result = score(model, X, params, X[train], pb)
    result.update(seconds=round(seconds), elevations=list(args.elevations), params=model.get_params() if args.model else json.loads(args.params),
                  # the training objective at the end (no ground truth in it): can it pick among seeds?
                  loss_final=model.loss_curve_[-1],
                  loss_components_final={k: v[-1] for k, v in model.loss_components_.items()},
                  refine_loss_final=model.refine_loss_curve_[-1] if model.refine_loss_curve_ else None,
                  init_losses=model.init_losses_.tolist(), best_init=model.best_init_)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
