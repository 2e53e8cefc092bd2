"""Peak memory of ``Interpolator.pairwise_distances`` beyond its output matrix.

Every configuration runs in a fresh subprocess. The child fits ``Linear`` on a
``PretrainedManifold`` (a Torch ``nn.Linear(2, 3)`` decoder with Torch's default
initialisation under seed 0, float64), resets the kernel's peak-RSS counter
(``/proc/self/clear_refs``), calls ``pairwise_distances`` on ``n`` random points and
reports

* ``extra_rss_mb``: peak RSS during the call − RSS before it − the output matrix
  (n² float64), i.e. everything the call kept besides its result (Torch's tensors
  included);
* ``tracemalloc_peak_mb``: peak of the Python/NumPy allocations traced during the call
  (Torch's own allocations are not traced), output included;
* the SHA-256 of the matrix, to show results are bit-identical between runs and
  between the streamed and the all-pairs-at-once (``--legacy``) computation.

``--legacy`` computes the same matrix the way the package did before streaming: all
i < j pairs, their endpoints and every per-pair result in memory at once, one call of
the batch runner.

Usage::

    PYTHONPATH=. python bench/bench_memory.py                     # n = 3000, streamed vs legacy
    PYTHONPATH=. python bench/bench_memory.py --n 20000 --batch-size 8192 --n-points 5 --repeats 1 --no-legacy
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time


def _rss_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(args):
    import resource
    import tracemalloc

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from sk_geodesic.interpolation import Linear
    from sk_geodesic.manifolds import PretrainedManifold

    torch.manual_seed(0)
    decoder = torch.nn.Linear(2, 3).double()
    m = PretrainedManifold(decoder, latent_dim=2, dtype="float64", random_state=0).fit()
    Z = np.random.RandomState(0).normal(size=(args.n, 2))
    lin = Linear(manifold=m, batch_size=args.batch_size, n_points=args.n_points).fit(m.inverse_transform(Z[:50]))
    out = None
    if args.memmap:
        out = np.lib.format.open_memmap(args.memmap, mode="w+", dtype=np.float64, shape=(args.n, args.n))

    def legacy():
        i, j = np.triu_indices(args.n, k=1)
        D = np.zeros((args.n, args.n))
        d = lin._run_batches(Z[i], Z[j], keep_curves=False)[0]
        D[i, j] = d
        D[j, i] = d
        return D

    try:  # reset the peak-RSS counter (VmHWM) so the fit's peak does not count
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        hwm = "VmHWM"
    except OSError:
        hwm = None
    before = _rss_kb("VmRSS")
    tracemalloc.start()
    t0 = time.perf_counter()
    D = legacy() if args.legacy else lin.pairwise_distances(Z, latent=True, out=out)
    seconds = time.perf_counter() - t0
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = _rss_kb(hwm) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out_bytes = 0 if args.memmap else args.n * args.n * 8
    digest = hashlib.sha256(np.ascontiguousarray(D).tobytes()).hexdigest()[:16]
    print(
        json.dumps(
            {
                "n": args.n,
                "mode": "legacy" if args.legacy else ("streamed+memmap" if args.memmap else "streamed"),
                "batch_size": args.batch_size,
                "n_points": args.n_points,
                "pairs": args.n * (args.n - 1) // 2,
                "seconds": round(seconds, 1),
                "output_mb": round(args.n * args.n * 8 / 2**20, 1),
                "extra_rss_mb": round((peak - before) / 1024 - out_bytes / 2**20, 1),
                "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
                "sha256": digest,
                "D01": float(D[0, 1]),
            }
        )
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-points", type=int, default=35)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="streamed runs (to compare their hashes)")
    parser.add_argument("--no-legacy", action="store_true", help="skip the all-pairs-at-once run")
    parser.add_argument("--memmap", default=None, help="also run with a numpy.memmap output at this path")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--legacy", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)
    base = [sys.executable, __file__, "--child", "--n", str(args.n), "--batch-size", str(args.batch_size),
            "--n-points", str(args.n_points), "--threads", str(args.threads)]
    runs = [base] * args.repeats
    if args.memmap:
        runs.append(base + ["--memmap", args.memmap])
    if not args.no_legacy:
        runs.append(base + ["--legacy"])
    rows = []
    for cmd in runs:
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
        if res.returncode:
            sys.stderr.write(res.stderr)
            raise SystemExit(res.returncode)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    if args.memmap and os.path.exists(args.memmap):
        os.remove(args.memmap)
    print("\n| n | mode | batch_size | n_points | pairs | seconds | output MB | extra RSS MB | tracemalloc peak MB | sha256 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r['mode']} | {r['batch_size']} | {r['n_points']} | {r['pairs']} | {r['seconds']} | {r['output_mb']} | "
              f"{r['extra_rss_mb']} | {r['tracemalloc_peak_mb']} | {r['sha256']} |")
    hashes = {r["sha256"] for r in rows}
    print(f"\nbit-identical across all runs: {len(hashes) == 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
