"""Breaks of the VAE's ELBO, embedding and latent density."""

from . import Break

T = "tests/test_claims_manifolds.py"
T_EXACT = f"{T}::test_elbo_equals_log_evidence_with_exact_posterior"
T_ANY = f"{T}::test_elbo_matches_analytic_form_for_any_encoder"


def _elbo_affine(mp):
    from sk_geodesic.manifolds import VAE

    original = VAE.score_samples
    mp.setattr(VAE, "score_samples", lambda self, X, n_draws=8: -0.5 * original(self, X, n_draws=n_draws) + 1.0)


def _elbo_without_kl(mp):
    import numpy as np
    import torch

    from sk_geodesic.manifolds import VAE

    original = VAE.score_samples

    def score_samples(self, X, n_draws=8):
        with torch.no_grad():
            m, logvar = self.module_.encode(torch.as_tensor(np.asarray(X), dtype=self.dtype_))
            kl = 0.5 * (m.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).double().numpy()
        return original(self, X, n_draws=n_draws) + kl

    mp.setattr(VAE, "score_samples", score_samples)


def _nll_without_log_sigma(mp):
    import math

    import sk_geodesic.manifolds._vae as vae

    def nll(x, mean, std):
        return (0.5 * ((x - mean) / std).pow(2) + 0.5 * math.log(2 * math.pi)).sum(-1)

    mp.setattr(vae, "_gaussian_nll", nll)


def _embedding_mean_only(mp):
    from sk_geodesic.manifolds import VAE

    mp.setattr(VAE, "_embed", lambda self, z: self.module_.dec_mean(z))


def _latent_density_flat(mp):
    from sk_geodesic.manifolds import VAE

    mp.setattr(VAE, "_log_density", lambda self, z: 0.0 * z.sum(-1))


BREAKS = [
    Break(
        name="elbo_affine",
        description="VAE.score_samples returns −0.5·ELBO + 1",
        apply=_elbo_affine,
        tests=[T_EXACT],
    ),
    Break(
        name="elbo_without_kl",
        description="VAE.score_samples leaves out the KL term",
        apply=_elbo_without_kl,
        tests=[T_ANY],
    ),
    Break(
        name="gaussian_nll_without_log_sigma",
        description="the VAE's Gaussian negative log-likelihood drops Σ log σ",
        apply=_nll_without_log_sigma,
        tests=[T_EXACT],
    ),
    Break(
        name="embedding_mean_only",
        description="the VAE's embedding map drops σ(z) (mean-only metric)",
        apply=_embedding_mean_only,
        tests=["tests/test_manifolds.py::test_vae_embedding_is_mean_and_std"],
    ),
    Break(
        name="latent_density_flat",
        description="the VAE's latent log-density is constant",
        apply=_latent_density_flat,
        tests=["tests/test_manifolds.py::test_vae_outputs_and_density"],
    ),
]
