"""Do GEORCE-style control updates pay here? Measured against ``Geodesic()``.

GEORCE (Rygaard & Hauberg 2025) writes a curve of T + 1 nodes as controls
u_t = z_{t+1} − z_t and minimises the left-point energy E(u) = T Σ_t u_tᵀ G(z_t) u_t
subject to Σ_t u_t = z_T − z_0. Each iteration freezes G_t = G(z_t) and
ν_t = ∇_z [u_tᵀ G(z) u_t] at z_t, solves the stationarity conditions
2 G_s u_s + μ + Σ_{t>s} ν_t = 0 with the constraint in closed form (one d × d system per
node plus one for the multiplier μ), and moves the controls towards that solution by a
backtracking step. This script implements that update from those equations (no code of
the authors' was used; the update was checked afterwards against their public
implementation, which differs only in the line search, a 0.9 decay per try, and in
stopping on the gradient norm) in pure torch, batched over pairs, and runs it on the bench's
decoders (trained in ``_mnist_models.py`` without the package's VAE class; seed 0: 2-D
tanh and 8-D softplus MLPs, mean and expected metric with the steep RBF σ):

* ``GEORCE, left-point energy``: the method as published, backtracking on E(u);
* ``GEORCE, chord energy``: the same proposals, accepted only where they lower the chord
  energy ``Geodesic()`` minimises where it runs two starts (2 sub-segments per segment:
  φ also at every midpoint), so a step cannot gain by jumping a σ wall between two nodes.

Both run at 65 nodes (the finest level of ``Geodesic()``) from the same starts as
``Geodesic()`` (``Geodesic._initial_curves``: one start per pair under a mean metric; under
the expected metric the paths of a 10- and a 30-neighbour kNN graph, each replaced by the
straight segment where that is shorter; the better end of the two kept by the criterion),
to a relative energy change of 1e-4, a failed line search (12 tries, steps 1 to 2⁻¹¹;
"stalled") or 100 iterations. Every returned curve is
measured by the bench's float64 dense evaluator; the ratio column is relative to the
shortest curve any of the first three rows returned for that pair (not an L-BFGS reference:
this is a comparison of methods on equal terms, not an accuracy claim). A fourth row runs
the published variant coarse to fine, as ``Geodesic()`` does (17, 33, then 65 nodes, each
level from the last one resampled; iterations summed over the levels).

Run ``PYTHONPATH=. python bench/bench_georce.py`` (about five minutes, one thread).
Measured in round 16: see ``docs/benchmarks.rst`` ("GEORCE-style updates").
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch
from torch.func import jvp, vjp, vmap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _evaluate import dense_length, float64_embed, resample  # noqa: E402
from _mnist_models import make_models  # noqa: E402

from sk_geodesic.datasets import load_mnist  # noqa: E402
from sk_geodesic.geometry.curves import curve_energy  # noqa: E402
from sk_geodesic.interpolation import Geodesic  # noqa: E402
from sk_geodesic.manifolds import PretrainedManifold  # noqa: E402

SPECS = [(2, "mlp-tanh", "mean"), (2, "mlp-tanh", "expected"), (8, "mlp-softplus", "mean"),
         (8, "mlp-softplus", "expected")]
NODES = 65


def left_point_energy(embed, Z):
    """T Σ_t ‖J(z_t) u_t‖² per curve: the energy GEORCE minimises."""
    B, n, d = Z.shape
    U = (Z[:, 1:] - Z[:, :-1]).reshape(-1, d)
    Ju = jvp(embed, (Z[:, :-1].reshape(-1, d),), (U,))[1]
    return (n - 1) * Ju.pow(2).sum(-1).view(B, n - 1).sum(-1)


def chord_energy(embed, Z):
    """The package's discrete energy at 2 sub-segments per segment (what ``Geodesic`` minimises
    where it runs two starts)."""
    return curve_energy(embed, Z, 2)


def georce_proposal(embed, Z, ridge=1e-8):
    """The controls that solve GEORCE's linearised stationarity conditions at Z: (B, T, d)."""
    B, n, d = Z.shape
    T = n - 1
    U = Z[:, 1:] - Z[:, :-1]
    pts = Z[:, :-1].reshape(-1, d)
    eye = torch.eye(d, dtype=Z.dtype)
    J = vmap(lambda v: jvp(embed, (pts,), (v.expand_as(pts),))[1], out_dims=2)(eye)  # (B T, D, d)
    # the d × d algebra in float64 (float32 Jacobians): a σ saturated far from the data
    # leaves G nearly singular, and a float32 ridge of 1e-8 would vanish in it
    G = (J.transpose(1, 2) @ J).view(B, T, d, d).double()
    eye = eye.double()
    G = G + (ridge * G.diagonal(dim1=-2, dim2=-1).mean(-1)[..., None, None] + 1e-300) * eye
    # ν_t = ∇_z ‖J(z) u_t‖² at the interior nodes, the controls held fixed
    inner = Z[:, 1:-1].reshape(-1, d)
    y, pull = vjp(lambda z: jvp(embed, (z,), (U[:, 1:].reshape(-1, d),))[1], inner)
    nu = pull(2 * y)[0].view(B, T - 1, d)
    tail = torch.zeros(B, T, d, dtype=torch.float64)
    tail[:, :-1] = nu.double().flip(1).cumsum(1).flip(1)  # Σ_{t>s} ν_t
    Ginv = torch.linalg.inv(G)
    rhs = 2 * (Z[:, -1] - Z[:, 0]).double() + (Ginv @ tail.unsqueeze(-1)).squeeze(-1).sum(1)
    mu = -torch.linalg.solve(Ginv.sum(1), rhs)
    return (-0.5 * (Ginv @ (mu[:, None] + tail).unsqueeze(-1)).squeeze(-1)).to(Z.dtype)


def georce(embed, Z, criterion, max_iter=100, tol=1e-4, max_halvings=12):
    """GEORCE iterations with backtracking on ``criterion``.

    Returns the curves, the iterations per curve and the number of failed line searches.
    """
    Z = Z.clone()
    B = Z.shape[0]
    with torch.no_grad():
        E = criterion(embed, Z)
    active = torch.ones(B, dtype=torch.bool)
    n_iter = np.zeros(B, dtype=int)
    n_rejected = 0
    for _ in range(max_iter):
        idx = active.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        Za, E0 = Z[idx], E[idx]
        U = Za[:, 1:] - Za[:, :-1]
        step = georce_proposal(embed, Za).detach() - U
        alpha = torch.ones(len(idx), dtype=Z.dtype)
        accepted = torch.zeros(len(idx), dtype=torch.bool)
        Znew, Enew = Za.clone(), E0.clone()
        for _ in range(max_halvings):
            trial = torch.cat([Za[:, :1], Za[:, :1] + (U + alpha[:, None, None] * step).cumsum(1)], 1)
            trial[:, -1] = Za[:, -1]
            with torch.no_grad():
                Et = criterion(embed, trial)
            ok = (Et < E0) & ~accepted
            Znew[ok], Enew[ok] = trial[ok], Et[ok]
            accepted |= ok
            if accepted.all():
                break
            alpha = torch.where(accepted, alpha, 0.5 * alpha)
        n_rejected += int((~accepted).sum())
        Z[idx], E[idx] = Znew, Enew
        n_iter[idx.numpy()] += 1
        done = ~accepted | ((E0 - Enew) / E0 < tol)
        active[idx[done]] = False
    return Z, n_iter, n_rejected


def run_model(model, X, n_pairs, pair_seed):
    man = PretrainedManifold(model["decoder"], latent_dim=model["latent_dim"], std_network=model["std"],
                             encoder=model["encoder"]).fit(X)
    e64 = float64_embed(model)
    rng = np.random.RandomState(pair_seed)
    idx = rng.randint(0, len(model["codes"]), (2, n_pairs))
    Z0, Z1 = model["codes"][idx[0]].numpy(), model["codes"][idx[1]].numpy()
    est = Geodesic(manifold=man).fit(X)
    rows = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.path(Z0[:2], Z1[:2], latent=True)  # warm-up
        t = time.perf_counter()
        p = est.path(Z0, Z1, latent=True)
        rows["Geodesic() [defaults]"] = (time.perf_counter() - t, torch.as_tensor(p.latent), "")
    embed = est._geometry.embedding_map()
    variants = (("GEORCE, left-point energy", left_point_energy, (NODES,)),
                ("GEORCE, chord energy", chord_energy, (NODES,)),
                ("GEORCE, left-point, 17-33-65", left_point_energy, (17, 33, NODES)))
    for label, criterion, levels in variants:
        t = time.perf_counter()
        starts = est._initial_curves(Z0, Z1)
        starts = starts[None] if starts.ndim == 3 else starts
        results = []
        for s in starts:
            Z, iters, stalls = s, 0, 0
            for n in levels:  # coarse to fine: each level starts from the last, resampled
                Z, its, st = georce(embed, resample(Z, n), criterion)
                iters, stalls = iters + its, stalls + st
            results.append((Z, iters, stalls))
        with torch.no_grad():
            scores = torch.stack([criterion(embed, r[0]) for r in results])
        best = scores.argmin(0)
        Z = torch.stack([results[int(b)][0][i] for i, b in enumerate(best)])
        seconds = time.perf_counter() - t
        iters = np.concatenate([r[1] for r in results])
        rejected = sum(r[2] for r in results)
        rows[label] = (seconds, Z, f"{iters.mean():.1f} its/start, {rejected} stalled")
    lengths = {k: dense_length(e64, v[1]).numpy() for k, v in rows.items()}
    shortest = np.min(np.stack([lengths[k] for k in list(rows)[:3]]), 0)
    return {k: (v[0], lengths[k] / shortest, v[2]) for k, v in rows.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-pairs", type=int, default=16)
    ap.add_argument("--pair-seed", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, _ = load_mnist(return_X_y=True)
    t0 = time.perf_counter()
    print(f"{'model':26s} {'method':28s} {'seconds':>8s} {'mean ratio':>10s} {'max ratio':>9s}  notes")
    for model in make_models(X, SPECS, epochs=6, seed=0, verbose=False):
        for label, (seconds, ratio, note) in run_model(model, X[::5], args.n_pairs, args.pair_seed).items():
            print(f"{model['name']:26s} {label:28s} {seconds:8.2f} {ratio.mean():10.4f} {ratio.max():9.4f}  {note}",
                  flush=True)
    print(f"total {time.perf_counter() - t0:.0f}s, torch threads={args.threads}, {args.n_pairs} pairs per model; "
          "ratio = dense float64 length / shortest of the first three rows for that pair")


if __name__ == "__main__":
    main()
