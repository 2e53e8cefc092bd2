"""Jacobian diagnostics of VAE, GAN, DAE and AEAI on MNIST (poster 003, Figs. 4-5, Table 1).

For a decoder (embedding map) φ with Jacobian J = ∂φ/∂z, the poster of Ramirez, Gallego
& Puerta maps two scalars over the latent space: the magnitude of the metric,
det(JᵀJ), and the condition number κ(J) = σ_max/σ_min. This example trains four models
of equal size (784-128-32-2 encoders, 2-32-128-784 decoders / generators, sigmoid
outputs) on the same MNIST digits, with tanh and with sigmoid hidden activations:

* ``VAE``  -- Gaussian decoder, expected metric (φ = concat(μ, σ), RBF σ network);
* ``GAN``  -- non-saturating GAN; φ = generator;
* ``DAE``  -- :class:`~sk_geodesic.manifolds.AEAI` with every λ = 0 and ``noise=0.2``;
* ``AEAI`` -- :class:`~sk_geodesic.manifolds.AEAI` with the paper's λ.

It writes, in ``--out``:

* ``jacobian_gan_tanh.png`` (poster Fig. 4: GAN, tanh) and ``jacobian_vae_sigmoid.png``
  (poster Fig. 5: VAE, sigmoid): log det(JᵀJ) and log₁₀ κ(J) with the training codes;
* ``jacobian_overview_<activation>.png``: the same two maps for all four models;
* ``jacobian_table.md``: the measured Table 1 -- smoothness of log det(JᵀJ) over the
  grid (total variation between adjacent cells; mean gradient norm per unit of the
  box normalised to [0, 1]²) and conditioning (median / 95th percentile of κ(J) at the
  training codes and at grid points far from every code), see
  :func:`sk_geodesic.plotting.jacobian_summary`.

Run ``python examples/plot_jacobian_diagnostics.py [--quick] [--out DIR]`` (``--quick``:
fewer images and epochs, labelled QUICK in the table).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch


def build_models(activation, epochs, seed, learning_rate=1e-3):
    from sk_geodesic.manifolds import AEAI, GAN, VAE

    common = dict(latent_dim=2, activation=activation, output_activation="sigmoid", random_state=seed)
    ae = dict(hidden_sizes=(128, 32), epochs=epochs, batch_size=64, learning_rate=learning_rate, **common)
    return {
        "VAE": VAE(**ae, n_centers=32),
        "GAN": GAN(hidden_sizes=(32, 128), discriminator_sizes=(128, 32), epochs=4 * epochs, encoder_epochs=epochs,
                   batch_size=64, learning_rate=learning_rate, inversion_steps=50, n_candidates=128, **common),
        "DAE": AEAI(**ae, lambda_adversarial=0.0, lambda_cycle=0.0, lambda_smoothness=0.0, noise=0.2),
        # reconstruction-only warm-up: with tanh units the cycle term collapses an AEAI
        # started from scratch to a constant decoder on MNIST (docs/aeai.rst)
        "AEAI": AEAI(**ae, warmup_epochs=epochs // 2),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="sk_geodesic_output/")
    parser.add_argument("--quick", action="store_true", help="QUICK: fewer images and epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam step of every model")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sk_geodesic.datasets import load_mnist
    from sk_geodesic.plotting import jacobian_summary, plot_jacobian_diagnostics

    os.makedirs(args.out, exist_ok=True)
    quick = args.quick
    X, y = load_mnist(return_X_y=True, n_per_digit=30 if quick else 100)
    epochs = 3 if quick else 30
    res = args.resolution or (25 if quick else 60)
    label = "QUICK run (few images and epochs: not the measured table)" if quick else "full run"
    print(f"Jacobian diagnostics -- {label}: {len(X)} MNIST images, {epochs} epochs, grid {res}x{res}")
    rows, files = [], []
    for activation in ("tanh", "sigmoid"):
        models = build_models(activation, epochs, args.seed, args.learning_rate)
        fig, axes = plt.subplots(len(models), 2, figsize=(10, 4 * len(models)))
        for r, (name, model) in enumerate(models.items()):
            t0 = time.perf_counter()
            model.fit(X)
            seconds = time.perf_counter() - t0
            plot_jacobian_diagnostics(model, resolution=res, axes=axes[r], labels=y, title=f"{name} ({activation})")
            summary = jacobian_summary(model, resolution=res)
            # a collapsed decoder has a perfectly "smooth" metric: report how well it fits
            summary["recon_mse"] = float(np.mean((model.inverse_transform(model.transform(X)) - X) ** 2))
            rows.append((name, activation, summary, seconds))
            print(f"  {name:5s} {activation:8s} fit {seconds:5.1f} s  " + "  ".join(f"{k} {v:.3g}" for k, v in summary.items()),
                  flush=True)
            if (name, activation) in (("GAN", "tanh"), ("VAE", "sigmoid")):
                f2, a2 = plt.subplots(1, 2, figsize=(10, 4.2))
                plot_jacobian_diagnostics(model, resolution=res, axes=a2, labels=y, title=f"{name} ({activation})")
                f2.tight_layout()
                files.append(os.path.join(args.out, f"jacobian_{name.lower()}_{activation}.png"))
                f2.savefig(files[-1], dpi=100)
                plt.close(f2)
        fig.tight_layout()
        files.append(os.path.join(args.out, f"jacobian_overview_{activation}.png"))
        fig.savefig(files[-1], dpi=80)
        plt.close(fig)

    baseline = float(np.mean((X - X.mean(0)) ** 2))
    lines = [f"*{label}; seed {args.seed}, {len(X)} MNIST images, latent_dim 2, {epochs} epochs, learning rate "
             f"{args.learning_rate:g}, grid {res}×{res}. Reconstruction MSE of the mean image: {baseline:.4f}.*", "",
             "| model | activation | recon. MSE | TV of log det | mean ‖∇ log det‖ | κ on data (median) "
             "| κ on data (p95) | κ off data (median) | κ off data (p95) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, act, s, _ in rows:
        lines.append(f"| {name} | {act} | {s['recon_mse']:.4f} | {s['logdet_tv']:.3g} | {s['logdet_grad']:.3g} | {s['kappa_on_median']:.3g} | "
                     f"{s['kappa_on_p95']:.3g} | {s['kappa_off_median']:.3g} | {s['kappa_off_p95']:.3g} |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "jacobian_table.md"), "w") as fh:
        fh.write(table)
    print(table)
    return files


if __name__ == "__main__":
    main()
