"""Geodesic benchmark: sk_geodesic vs StochMan 0.3.0 on MNIST decoders trained here.

Honest by construction:

* the decoders are plain ``torch.nn.Sequential`` VAEs trained in this script
  (``bench/_mnist_models.py``, not the package's ``VAE`` class), two architectures
  (2-D latent: 256-tanh; 8-D latent: 128-512 softplus; ``--models relu``: a 512-512 ReLU
  MLP with 2-D and 8-D latents instead; ``--models conv``: a transposed-convolution
  decoder, mean metric, headline rows only), each under the mean metric and
  under the expected metric with an RBF σ network whose σ far from the data is 100×
  its median on the data;
* every curve is judged by one dense float64 evaluator (``bench/_evaluate.py``): the
  piecewise-linear latent curve at ≥ 16 sub-segments per segment and ≥ 1024 in all
  (StochMan's spline sampled at 512 parameter values, then the same);
* the reference length of a pair is the best of L-BFGS polishes of the subdivided
  energy started from the straight line and from every solver's output, and of the
  solvers' outputs themselves (so no method can beat the reference), with each pair's
  best curve then polished again as a polyline of 513 nodes (``--quick``; 1025 in
  full): under a steep σ a 65-node polyline is 0.5-1 % longer than the geodesic, so a
  reference at the solvers' own resolution would hide that;
* StochMan's default ``connecting_geodesic`` runs in the same process, same pairs,
  one torch thread; speed-ups are ratios of seconds taken side by side;
* the headline row is ``Geodesic()`` with default parameters; other settings are
  labelled (``second_order=False``: Gauss–Newton steps only, the solver before Newton
  steps were added; ``multi_start=False``: one graph start per pair, the default before
  round 6; ``max_points=None``: every pair returned at 65 nodes, the default before
  round 23).

Usage::

    PYTHONPATH=. python bench/bench_geodesic.py --quick --write-docs   # about an hour (3657 s in round 23)
    PYTHONPATH=. python bench/bench_geodesic.py --quick --models relu --seed 3 --write-docs
    PYTHONPATH=. python bench/bench_geodesic.py --quick --models conv --write-docs      # transposed convolutions
    PYTHONPATH=. python bench/bench_geodesic.py --write-docs           # full: longer training and reference

StochMan is a benchmark-only extra: ``pip install --no-deps stochman==0.3.0``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _evaluate import dense_length, float64_embed, lbfgs_polish, resample  # noqa: E402
from _mnist_models import make_models  # noqa: E402

from sk_geodesic.datasets import load_mnist  # noqa: E402
from sk_geodesic.interpolation import Geodesic, Linear  # noqa: E402
from sk_geodesic.manifolds import PretrainedManifold  # noqa: E402

SPECS = [(2, "mlp-tanh", "mean"), (2, "mlp-tanh", "expected"), (8, "mlp-softplus", "mean"), (8, "mlp-softplus", "expected")]
#: ``--models relu``: a third architecture (512-512 ReLU, piecewise-linear hidden layers),
#: where φ has kinks and the dense length converges only to first order.
RELU_SPECS = [(2, "mlp-relu", "mean"), (8, "mlp-relu", "mean"), (8, "mlp-relu", "expected")]
#: ``--models conv``: a transposed-convolution decoder (ELU), where a decoder pass costs
#: several times an MLP's of the same size; headline rows only (Linear, ``Geodesic()``,
#: StochMan), to keep the reference polish affordable.
CONV_SPECS = [(2, "conv-elu", "mean"), (8, "conv-elu", "mean")]
MODEL_SETS = {"default": SPECS, "relu": RELU_SPECS, "conv": CONV_SPECS}


def stochman_curves(embed, Z0, Z1):
    """StochMan 0.3.0 ``connecting_geodesic`` with its defaults; (seconds, (B, 512, d) samples)."""
    from stochman.manifold import EmbeddedManifold

    class _M(EmbeddedManifold):
        def embed(self, c, jacobian=False):
            # StochMan passes (B, N, d); the bench's decoders take rows (a convolutional
            # Sequential cannot take the extra axis)
            return embed(c.reshape(-1, c.shape[-1])).reshape(*c.shape[:-1], -1)

    t = time.perf_counter()
    curve, _ = _M().connecting_geodesic(Z0.clone(), Z1.clone())
    el = time.perf_counter() - t
    with torch.no_grad():
        Zs = curve(torch.linspace(0, 1, 512, dtype=Z0.dtype))
    return el, Zs.reshape(len(Z0), 512, -1)


def run(quick=True, seed=0, batch_sizes=(1, 16, 64), skip_stochman=False, log=print, specs=SPECS,
        headline_only=False):
    try:
        import stochman  # noqa: F401

        have_stochman = not skip_stochman
    except ImportError:
        have_stochman = False
        log("stochman not installed: pip install --no-deps stochman==0.3.0 (benchmark-only extra)")
    X, _ = load_mnist(return_X_y=True)
    t = time.perf_counter()
    models = make_models(X, specs, epochs=6 if quick else 20, seed=seed, verbose=True)
    log(f"models ready in {time.perf_counter() - t:.0f}s")
    Bmax = max(batch_sizes)
    rows = []
    for m in models:
        man = PretrainedManifold(m["decoder"], latent_dim=m["latent_dim"], std_network=m["std"],
                                 encoder=m["encoder"]).fit(X[::5])
        e64 = float64_embed(m)
        rng = np.random.RandomState(seed + 1)
        idx = rng.randint(0, len(m["codes"]), (2, Bmax))
        Z0, Z1 = m["codes"][idx[0]], m["codes"][idx[1]]
        methods = {
            "Linear": Linear(manifold=man).fit(X[::5]),
            "Geodesic() [defaults]": Geodesic(manifold=man).fit(X[::5]),
            "Geodesic(init='linear')": Geodesic(manifold=man, init="linear").fit(X[::5]),
            "Geodesic(second_order=False)": Geodesic(manifold=man, second_order=False).fit(X[::5]),
            "Geodesic(multi_start=False)": Geodesic(manifold=man, multi_start=False).fit(X[::5]),
            "Geodesic(max_points=None)": Geodesic(manifold=man, max_points=None).fit(X[::5]),
        }
        if headline_only:
            methods = {k: v for k, v in methods.items() if k in ("Linear", "Geodesic() [defaults]")}
        with warnings.catch_warnings():  # warm-up (lazy imports, first-call overheads), not timed
            warnings.simplefilter("ignore")
            for est in methods.values():
                est.path(Z0[:2].numpy(), Z1[:2].numpy(), latent=True)
            if have_stochman:
                stochman_curves(m["embed"], Z0[:1], Z1[:1])
        curves = {}  # (label, B) -> (seconds, latent curves for the dense evaluator, reported length or None)
        for B in batch_sizes:
            z0, z1 = Z0[:B].numpy(), Z1[:B].numpy()
            for label, est in methods.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t = time.perf_counter()
                    p = est.path(z0, z1, latent=True)
                    el = time.perf_counter() - t
                curves[label, B] = (el, torch.as_tensor(p.latent), p.length, p.fallback)
            if have_stochman:
                el, Zs = stochman_curves(m["embed"], Z0[:B], Z1[:B])
                curves["StochMan connecting_geodesic", B] = (el, Zs, None, None)
        # the reference: L-BFGS polishes from the straight line and from every output at B = Bmax
        t = time.perf_counter()
        cand_curves = [c[1] for (lab, B), c in curves.items() if B == Bmax]
        cands = [dense_length(e64, Zc) for Zc in cand_curves]
        starts = [torch.stack([Z0, Z1], 1)] + [c[1] for (lab, B), c in curves.items() if B == Bmax and lab != "Linear"]
        # 65 nodes hold the package's (default) curves exactly; 129 nodes (full mode) too,
        # at twice the resolution
        n_nodes, sub, iters = (65, 2, 60) if quick else (129, 4, 400)
        hi_nodes, hi_iters = (513, 40) if quick else (1025, 200)
        for Zs in starts:
            Zp = lbfgs_polish(m["embed"], Zs, n_nodes=n_nodes, sub=sub, iters=iters)
            cand_curves.append(Zp)
            cands.append(dense_length(e64, Zp))
        # A resolution-independent reference: under a steep σ a 65-node polyline is
        # 0.5-1 % longer than the geodesic (round 23), so the best curve of each pair is
        # polished again as a polyline of many more nodes than any solver returns.
        best = torch.stack(cands).argmin(0)
        top = torch.stack([resample_to(Zc, hi_nodes) for Zc in cand_curves])[best, torch.arange(Bmax)]
        Zhi = lbfgs_polish(m["embed"], top, n_nodes=hi_nodes, sub=1, iters=hi_iters)
        cands.append(dense_length(e64, Zhi))
        Lref = torch.stack(cands).min(0).values
        log(f"[{m['name']}] reference ({len(starts)} L-BFGS starts x {iters} iterations) in {time.perf_counter() - t:.0f}s")
        for B in batch_sizes:
            base = curves.get(("StochMan connecting_geodesic", B), (np.nan,))[0]
            for (label, BB), (el, Zc, Lrep, fb) in curves.items():
                if BB != B:
                    continue
                Ld = dense_length(e64, Zc)
                r = (Ld / Lref[:B]).numpy()
                faith = np.nan if Lrep is None else float(np.max(np.abs(Lrep / Ld.numpy() - 1)))
                rows.append(dict(model=m["name"], B=B, method=label, seconds=el, mean_ratio=float(r.mean()),
                                 max_ratio=float(r.max()), speedup=base / el if label != "Linear" else np.nan,
                                 faithful=faith, fallback=np.nan if fb is None else int(np.sum(fb))))
        log(format_table([r for r in rows if r["model"] == m["name"]]))
    return rows


def resample_to(Z, n):
    """Latent curves (B, m, d) at n nodes on their own polyline (the same polyline when
    n − 1 is a multiple of m − 1)."""
    return resample(torch.as_tensor(Z, dtype=torch.float32), n)


def format_table(rows, rst=False):
    head = ["model", "B", "method", "seconds", "length/ref mean", "length/ref max", "speed-up vs StochMan",
            "reported vs dense (max rel. err.)", "fallbacks"]
    lines = []
    for r in rows:
        lines.append([
            r["model"], str(r["B"]), r["method"], f"{r['seconds']:.3f}", f"{r['mean_ratio']:.5f}", f"{r['max_ratio']:.4f}",
            "" if np.isnan(r["speedup"]) else f"{r['speedup']:.2f}x",
            "" if np.isnan(r["faithful"]) else f"{r['faithful']:.1e}",
            "" if np.isnan(r["fallback"]) else str(r["fallback"]),
        ])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
    if rst:
        sep = "  ".join("=" * w for w in widths)
        out = [sep, "  ".join(h.ljust(w) for h, w in zip(head, widths)), sep]
        out += ["  ".join(c.ljust(w) for c, w in zip(l, widths)) for l in lines]
        return "\n".join(out + [sep])
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |", "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(l, widths)) + " |" for l in lines]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="6 training epochs, short reference polish")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 = comparable timings)")
    ap.add_argument("--batch-sizes", type=int, nargs="*", default=[1, 16, 64])
    ap.add_argument("--skip-stochman", action="store_true")
    ap.add_argument("--models", choices=sorted(MODEL_SETS), default="default",
                    help="default: tanh and softplus MLPs; relu: 512-512 ReLU MLPs (docs/bench_results_relu.rst); "
                         "conv: a transposed-convolution decoder, headline rows only (docs/bench_results_conv.rst)")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    rows = run(args.quick, args.seed, args.batch_sizes, args.skip_stochman, log=lambda s: print(s, flush=True),
               specs=MODEL_SETS[args.models], headline_only=args.models == "conv")
    print("\n" + format_table(rows))
    total = time.perf_counter() - t
    print(f"\ntotal {total:.0f}s, torch threads={args.threads}, torch {torch.__version__}")
    if args.write_docs:
        name = "bench_results.rst" if args.models == "default" else f"bench_results_{args.models}.rst"
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", name)
        cmd = ("PYTHONPATH=. python bench/bench_geodesic.py" + (" --quick" if args.quick else "")
               + (f" --models {args.models}" if args.models != "default" else "")
               + (f" --seed {args.seed}" if args.seed else "")
               + " --write-docs")
        with open(path, "w") as f:
            f.write(f"Measured with ``{cmd}`` (seed {args.seed}, torch threads={args.threads}, CPU, "
                    f"torch {torch.__version__}, {total:.0f} s in all). Seconds are wall-clock on a shared "
                    "machine; read the speed-up column (both solvers timed in the same process) rather than "
                    "absolute seconds.\n\n")
            f.write(format_table(rows, rst=True) + "\n")
        print(f"wrote {os.path.abspath(path)}")


if __name__ == "__main__":
    main()
