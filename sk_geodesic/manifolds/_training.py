"""Minibatch training loop shared by the generative models."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix(self, **kw):
        pass

    def close(self):
        pass


def progress(verbose, total, desc):
    """A tqdm bar when ``verbose`` is truthy, else a silent stand-in."""
    if not verbose:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="epoch", leave=True)


def train_loop(data, latent_dim, loss_fn, optimizer, epochs, batch_size, generator, bar, history):
    """Run ``epochs`` of Adam-style minibatch steps on ``loss_fn(x, noise)``.

    Shuffling and reparameterisation noise come from ``generator`` so training is
    reproducible without touching the global RNG.
    """
    n = data.shape[0]
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(data.device)
        total, count = 0.0, 0
        for start in range(0, n, batch_size):
            x = data[order[start : start + batch_size]]
            noise = torch.randn((x.shape[0], latent_dim), generator=generator, dtype=data.dtype).to(data.device)
            loss = loss_fn(x, noise)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    "training diverged (non-finite loss); lower learning_rate or rescale the data"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * x.shape[0]
            count += x.shape[0]
        history.append(total / count)
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]:.4g}")
