"""Density-regularised geodesics on real MNIST VAEs: does DRG lift the path's worst point?

For each seed a default :class:`~sk_geodesic.manifolds.VAE` (2-D latent, float32, every
parameter at its default except ``random_state``) is fitted on ``--n-per-digit`` images
of each of the ten digits of :func:`~sk_geodesic.datasets.load_mnist`, and ``--n-pairs``
pairs of training codes with different labels are drawn (seeded). For each pair the
bench computes the ``Linear``, ``Geodesic()`` and ``DensityRegularizedGeodesic(mu=…)``
paths (default parameters otherwise) and evaluates them *densely*: every latent segment
is cut into 16 sub-segments and the log-density is taken at every sub-point, the two
endpoints of the curve excluded. Two log-densities are reported:

* latent: log p(z), the VAE's aggregate posterior (the Gaussian mixture on its codes);
* data:   log p(x) = log p(z) − ½ log det G(z), the data-space density of the decoded
          point (Kim & Zhang 2019; what DRG's regulariser integrates).

Per method it prints the median interior minimum, and for DRG the fraction of pairs
whose interior minimum is strictly above Geodesic's, above Linear's, and above both. A
*tunnelling step* is a segment whose dense interior dips more than 1 nat below the lower
of its two end nodes (a step jumping over a low-density region between two nodes); the
bench counts the curves with at least one.

Run ``PYTHONPATH=. python bench/bench_drg.py [--seeds 0 1 2] [--n-pairs 40] [--mu 0.1]``
(``--cache DIR`` keeps the fitted VAEs between runs).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import time
import warnings

import numpy as np
import torch

SUB = 16


def dense_profiles(vae, Z, sub=SUB):
    """Latent and data-space log-density at ``sub`` sub-points per segment (endpoints included).

    Returns ``{"latent": (B, (n−1)·sub+1), "data": ...}``.
    """
    from sk_geodesic.geometry import log_det_metric, subdivide

    Zt = torch.as_tensor(np.asarray(Z), dtype=vae.dtype_)
    logp = vae.latent_log_density()
    embed = vae.embedding_map()
    P = subdivide(Zt, sub)
    B, N, d = P.shape
    flat = P.reshape(-1, d)
    lat, dat = [], []
    for i in range(0, len(flat), 4096):
        c = flat[i : i + 4096]
        with torch.no_grad():
            lp = logp(c)
            lat.append(lp)
            dat.append(lp - 0.5 * log_det_metric(embed, c, eps=1e-10))
    return {"latent": torch.cat(lat).reshape(B, N).double().numpy(), "data": torch.cat(dat).reshape(B, N).double().numpy()}


def interior_min(v):
    """Minimum over the dense points strictly between the two endpoints."""
    return v[:, 1:-1].min(1)


def tunnelling_steps(v, sub=SUB, nats=1.0):
    """Per curve, the number of segments whose dense interior dips more than ``nats`` below
    the lower of its two nodes (a step that jumps over a low-density region)."""
    B, N = v.shape
    seg = v[:, :-1].reshape(B, -1, sub)  # sub-points 0..sub-1 of each segment (0 = its start node)
    ends = np.minimum(seg[:, :, 0], np.append(seg[:, 1:, 0], v[:, -1:], 1))
    return (seg[:, :, 1:].min(-1) < ends - nats).sum(1)


def cross_class_pairs(y, n_pairs, seed):
    rng = np.random.RandomState(seed)
    i0, i1 = [], []
    while len(i0) < n_pairs:
        a, b = rng.randint(len(y), size=2)
        if y[a] != y[b]:
            i0.append(a)
            i1.append(b)
    return np.array(i0), np.array(i1)


def fit_vae(X, seed, cache):
    from sk_geodesic.manifolds import VAE

    path = None if cache is None else os.path.join(cache, f"vae_seed{seed}_n{len(X)}.pkl")
    if path is not None and os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f), 0.0
    t = time.perf_counter()
    vae = VAE(random_state=seed).fit(X)
    dt = time.perf_counter() - t
    if path is not None:
        os.makedirs(cache, exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump(vae, f)
    return vae, dt


def run_seed(X, y, seed, n_pairs, methods, cache=None):
    from sk_geodesic.interpolation import Linear

    vae, t_fit = fit_vae(X, seed, cache)
    Z = vae.latent_train_
    i0, i1 = cross_class_pairs(y, n_pairs, seed)
    rows = {}
    for label, interp in [("Linear", Linear(manifold=vae))] + [(k, m(vae)) for k, m in methods]:
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            p = interp.fit(X[:10]).path(Z[i0], Z[i1], latent=True)
        dt = time.perf_counter() - t
        prof = dense_profiles(vae, p.latent)
        rows[label] = dict(
            time=dt,
            converged=float(np.mean(p.converged)),
            latent_min=interior_min(prof["latent"]),
            data_min=interior_min(prof["data"]),
            latent_tunnel=int(np.sum(tunnelling_steps(prof["latent"]) > 0)),
            data_tunnel=int(np.sum(tunnelling_steps(prof["data"]) > 0)),
            length=np.asarray(p.length, dtype=float),
            warnings=len(w),
        )
    return rows, t_fit


def summarise(rows, drg="DRG"):
    out = {}
    for kind in ("latent", "data"):
        d = rows[drg][f"{kind}_min"]
        g = rows["Geodesic"][f"{kind}_min"]
        lin = rows["Linear"][f"{kind}_min"]
        out[kind] = dict(
            above_geodesic=float(np.mean(d > g)),
            above_linear=float(np.mean(d > lin)),
            above_both=float(np.mean((d > g) & (d > lin))),
            median_min={k: float(np.median(r[f"{kind}_min"])) for k, r in rows.items()},
            tunnelling={k: int(r[f"{kind}_tunnel"]) for k, r in rows.items()},
        )
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-pairs", type=int, default=40)
    parser.add_argument("--n-per-digit", type=int, default=500)
    parser.add_argument("--mu", type=float, default=0.1)
    parser.add_argument("--drg-kwargs", default="{}", help="extra DensityRegularizedGeodesic parameters (JSON)")
    parser.add_argument("--cache", default=None, help="folder to keep fitted VAEs in")
    parser.add_argument("--json", default=None, help="write the per-pair results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from sk_geodesic.datasets import load_mnist
    from sk_geodesic.interpolation import DensityRegularizedGeodesic, Geodesic

    X, y = load_mnist(return_X_y=True, n_per_digit=args.n_per_digit)
    kw = json.loads(args.drg_kwargs)
    methods = [
        ("Geodesic", lambda m: Geodesic(manifold=m)),
        ("DRG", lambda m: DensityRegularizedGeodesic(manifold=m, mu=args.mu, **kw)),
    ]
    pooled = {}
    dump = {}
    for seed in args.seeds:
        rows, t_fit = run_seed(X, y, seed, args.n_pairs, methods, cache=args.cache)
        s = summarise(rows)
        print(f"seed {seed} (VAE fit {t_fit:.0f} s; " + ", ".join(
            f"{k} {r['time']:.0f} s conv {r['converged']:.2f}" for k, r in rows.items()) + ")", flush=True)
        for kind in ("latent", "data"):
            v = s[kind]
            print(f"  {kind:6s} interior min log p: DRG above both {v['above_both']:.2f}, above Geodesic "
                  f"{v['above_geodesic']:.2f}, above Linear {v['above_linear']:.2f}; median " + ", ".join(
                      f"{k} {m:.2f}" for k, m in v["median_min"].items()) + "; tunnelling " + ", ".join(
                      f"{k} {m}" for k, m in v["tunnelling"].items()), flush=True)
        for k, r in rows.items():
            pooled.setdefault(k, []).append(r)
        dump[seed] = {k: {a: (b.tolist() if isinstance(b, np.ndarray) else b) for a, b in r.items()} for k, r in rows.items()}
    cat = {k: {a: (np.concatenate([r[a] for r in rs]) if isinstance(rs[0][a], np.ndarray) else sum(r[a] for r in rs))
               for a in rs[0]} for k, rs in pooled.items()}
    s = summarise(cat)
    n = len(cat["Linear"]["latent_min"])
    print(f"all seeds ({n} pairs, mu={args.mu}, {kw or 'defaults'}):")
    for kind in ("latent", "data"):
        v = s[kind]
        print(f"  {kind:6s} DRG above both {v['above_both']:.3f}, above Geodesic {v['above_geodesic']:.3f}, above Linear "
              f"{v['above_linear']:.3f}; median interior min " + ", ".join(f"{k} {m:.2f}" for k, m in v["median_min"].items())
              + "; tunnelling steps " + ", ".join(f"{k} {m}/{n}" for k, m in v["tunnelling"].items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(summary=s, runs=dump), f)
    return s


if __name__ == "__main__":
    main()
