"""Throughput of ``Geodesic()`` (default parameters): geodesics per second and memory per pair.

For B ∈ {1, 16, 64, 256, 1024} pairs of encoded MNIST digits, on the 2-D and 8-D latent
MNIST VAEs of ``bench/_mnist_models.py`` (trained here; mean metric by default,
``--metric expected`` or ``both`` adds their steep-RBF-σ expected metric), with 2 torch
threads. Each (model, B) runs in a fresh subprocess so that its peak resident memory
(``ru_maxrss``) minus the memory after loading the model, divided by B, is the memory per
pair. ``Geodesic.pairwise_distances`` on 46 points (1035 pairs, solved in batches of
``batch_size=256``) is timed as well.

Usage::

    PYTHONPATH=. python bench/bench_throughput.py [--device cpu|cuda] [--threads 2] [--batch-sizes 1 16 64 256 1024]
        [--metric mean|expected|both]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _child(model_file, spec_index, B, threads, pairwise, device="cpu"):
    torch.set_num_threads(threads)
    cuda = device.startswith("cuda")
    from sk_geodesic.datasets import load_mnist
    from sk_geodesic.interpolation import Geodesic
    from sk_geodesic.manifolds import PretrainedManifold

    X, _ = load_mnist(return_X_y=True)
    m = torch.load(model_file, weights_only=False)[spec_index]
    man = PretrainedManifold(m["decoder"], latent_dim=m["latent_dim"], std_network=m["std"], encoder=m["encoder"],
                             device=device).fit(X[::5])
    # fitted as a user would, on training data (init="auto" builds its graph here, untimed)
    geo = Geodesic(manifold=man).fit(X[::5])
    rng = np.random.RandomState(0)
    codes = m["codes"].numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        geo.length(codes[:2], codes[2:4], latent=True)  # warm-up: lazy imports, first-call costs
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() // 1024
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if pairwise:
            Z = codes[rng.randint(0, len(codes), 46)]
            t = time.perf_counter()
            geo.pairwise_distances(Z, latent=True)
            el = time.perf_counter() - t
            B = 46 * 45 // 2
        else:
            idx = rng.randint(0, len(codes), (2, B))
            t = time.perf_counter()
            geo.length(codes[idx[0]], codes[idx[1]], latent=True)
            el = time.perf_counter() - t
    # the estimators return NumPy arrays, so the device work has finished when the call returns
    peak = torch.cuda.max_memory_allocated() // 1024 if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(B=B, seconds=el, rate=B / el, mem_per_pair_kib=max(peak - base, 0) / B)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", type=int, nargs="*", default=[1, 16, 64, 256, 1024])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (memory per pair: peak CUDA allocation)")
    ap.add_argument("--metric", choices=["mean", "expected", "both"], default="mean",
                    help="the decoders' mean metric, their expected metric (RBF σ, 100x far from the data), or both")
    ap.add_argument("--no-pairwise", action="store_true", help="skip the pairwise_distances row")
    ap.add_argument("--child", nargs=6)
    ap.add_argument("--models-file", help="reuse models saved by an earlier run (torch.save of make_models' list)")
    ap.add_argument("--write-docs", action="store_true", help="write docs/throughput_results.rst")
    args = ap.parse_args(argv)
    if args.child:
        f, i, B, th, pw, dev = args.child
        return _child(f, int(i), int(B), int(th), pw == "1", dev)
    from _mnist_models import make_models

    from sk_geodesic.datasets import load_mnist

    torch.set_num_threads(args.threads)
    X, _ = load_mnist(return_X_y=True)
    metrics = ["mean", "expected"] if args.metric == "both" else [args.metric]
    specs = [(d, arch, metric) for d, arch in ((2, "mlp-tanh"), (8, "mlp-softplus")) for metric in metrics]
    if args.models_file:
        models = [m for m in torch.load(args.models_file, weights_only=False) if m["metric"] in metrics]
    else:
        models = make_models(X, specs, epochs=args.epochs)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "models.pt")
        torch.save(models, f)
        for i, m in enumerate(models):
            for B in [*args.batch_sizes, *([] if args.no_pairwise else ["pairwise"])]:
                pw = B == "pairwise"
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", f, str(i),
                                      "0" if pw else str(B), str(args.threads), "1" if pw else "0", args.device],
                                     capture_output=True, text=True, check=True)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                r["model"] = m["name"]
                r["label"] = "pairwise_distances (46 points)" if pw else f"length(), B={B}"
                rows.append(r)
                print(f"{r['model']:24s} {r['label']:32s} {r['seconds']:8.2f}s {r['rate']:8.1f} geodesics/s "
                      f"{r['mem_per_pair_kib']:8.0f} KiB/pair", flush=True)
    if args.write_docs:
        _write_docs(rows, args)
    return rows


def _write_docs(rows, args):
    import platform

    head = ["model", "call", "seconds", "geodesics/s", "memory per pair (KiB)"]
    lines = [[r["model"], r["label"], f"{r['seconds']:.2f}", f"{r['rate']:.1f}", f"{r['mem_per_pair_kib']:.0f}"] for r in rows]
    w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(head)]
    sep = "  ".join("=" * x for x in w)
    table = [sep, "  ".join(h.ljust(x) for h, x in zip(head, w)), sep]
    table += ["  ".join(c.ljust(x) for c, x in zip(l, w)) for l in lines] + [sep]
    cuda = args.device.startswith("cuda")
    name = "throughput_results_cuda.rst" if cuda else "throughput_results.rst"
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", name)
    if cuda:
        where = f"GPU {torch.cuda.get_device_name()}, CUDA {torch.version.cuda}"
        mem = "the peak CUDA allocation above the loaded model"
    else:
        where = f"CPU {platform.machine()}, {os.cpu_count()} cores"
        mem = "the peak resident memory above the loaded model"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    metric_flag = "" if args.metric == "mean" else f" --metric {args.metric}"
    with open(path, "w") as f:
        f.write(f"Measured with ``PYTHONPATH=. python bench/bench_throughput.py --device {args.device} "
                f"--threads {args.threads}{metric_flag} --write-docs`` ({args.threads} torch threads, {where}, torch "
                f"{torch.__version__}, {args.epochs}-epoch models, seed 0, load average at the end "
                f"{load}). Memory per pair is {mem} divided by B (0 where the batch fits in memory "
                "already reserved).\n\n")
        f.write("\n".join(table) + "\n")
    print(f"wrote {os.path.abspath(path)}")


if __name__ == "__main__":
    main()
