"""Breaks of the AEAI estimator, the admissibility metrics and the Jacobian diagnostics
of issue 12 (the Jacobian diagnostics are in ``diagnostics.py``)."""

from . import Break


def _patch_everywhere(mp, module, name, value):
    """Patch ``name`` in its defining module and in the package that re-exports it."""
    import importlib

    mod = importlib.import_module(module)
    mp.setattr(mod, name, value)
    package = importlib.import_module(module.rsplit(".", 1)[0])
    if hasattr(package, name):
        mp.setattr(package, name, value)


def _smoothness_finite_difference_wrong(mp):
    import sk_geodesic.manifolds._aeai as m

    original = m.interpolation_losses

    def broken(*args, **kwargs):
        out = original(*args, **kwargs)
        if out["smoothness"] is not None:
            out["smoothness"] = out["smoothness"] * 0.5  # e.g. a dropped factor of the derivative
        return out

    _patch_everywhere(mp, "sk_geodesic.manifolds._aeai", "interpolation_losses", broken)


def _cycle_without_encoder(mp):
    import sk_geodesic.manifolds._aeai as m

    original = m.interpolation_losses

    def broken(*args, **kwargs):
        out = original(*args, **kwargs)
        if out["cycle"] is not None:
            out["cycle"] = out["cycle"].detach() * 0.0
        return out

    _patch_everywhere(mp, "sk_geodesic.manifolds._aeai", "interpolation_losses", broken)


def _warmup_ignored(mp):
    import sk_geodesic.manifolds._aeai as m

    original = m.AEAI._train

    def broken(self, *args, **kwargs):
        saved, self.warmup_epochs = self.warmup_epochs, 0  # the α-terms from the first epoch
        try:
            return original(self, *args, **kwargs)
        finally:
            self.warmup_epochs = saved

    mp.setattr(m.AEAI, "_train", broken)


def _n_init_keeps_last(mp):
    import sk_geodesic.manifolds._aeai as m

    mp.setattr(m, "_lower_loss", lambda loss, best_loss: True)  # every training replaces the kept one


def _n_init_keeps_highest(mp):
    import sk_geodesic.manifolds._aeai as m

    mp.setattr(m, "_lower_loss", lambda loss, best_loss: loss > best_loss)  # the comparison turned round


def _refine_moves_codes(mp):
    import sk_geodesic.manifolds._aeai as m

    def broken(self, data, gen, show):
        # the whole autoencoder trained on L_R in the refinement: the codes move
        self.refine_loss_curve_ = []
        params = [*self.encoder_.parameters(), *self.decoder_.parameters()]
        opt = m.torch.optim.Adam(params, lr=0.1 * self.learning_rate)
        for _ in range(self.refine_epochs):
            rec = (self.decoder_(self.encoder_(data)) - data).pow(2).sum(1)
            m._step(opt, rec.mean())
            self.refine_loss_curve_.append(float(rec.detach().mean()))

    mp.setattr(m.AEAI, "_refine_decoder", broken)


def _refine_without_steps(mp):
    import sk_geodesic.manifolds._aeai as m

    original = m.AEAI._refine_decoder

    def broken(self, data, gen, show):
        saved, self.learning_rate = self.learning_rate, 0.0  # a refinement that never moves
        try:
            return original(self, data, gen, show)
        finally:
            self.learning_rate = saved

    mp.setattr(m.AEAI, "_refine_decoder", broken)


def _cosine_schedule(mp, make):
    import torch

    original = torch.optim.lr_scheduler.CosineAnnealingLR
    mp.setattr(torch.optim.lr_scheduler, "CosineAnnealingLR", lambda opt, T_max: make(original, opt, T_max))


class _NoSchedule:
    def step(self):
        pass


def _cosine_ignored(mp):
    _cosine_schedule(mp, lambda original, opt, T_max: _NoSchedule())


def _cosine_autoencoder_only(mp):
    # the discriminator's Adam (betas (0.5, 0.999)) keeps the full step
    _cosine_schedule(mp, lambda original, opt, T_max: _NoSchedule() if opt.defaults["betas"][0] == 0.5
                     else original(opt, T_max=T_max))


def _cosine_horizon_off_by_one(mp):
    _cosine_schedule(mp, lambda original, opt, T_max: original(opt, T_max=T_max + 1))


def _noise_ignored(mp):
    import sk_geodesic.manifolds._aeai as m

    class Clean:
        def __init__(self, encoder, eps):
            self.encoder = encoder

        def __call__(self, x):
            return self.encoder(x)

    mp.setattr(m, "_NoisyFirstCall", Clean)


def _discriminator_always(mp):
    import sk_geodesic.manifolds._aeai as m

    original = m.AEAI._build_networks

    def broken(self, n_features, seed):
        lam = self.lambda_adversarial
        self.lambda_adversarial = 1e-2  # builds (and trains) D even when λ_A = 0
        try:
            return original(self, n_features, seed)
        finally:
            self.lambda_adversarial = lam

    mp.setattr(m.AEAI, "_build_networks", broken)


def _monotonicity_one_sided(mp):
    import numpy as np

    import sk_geodesic.metrics._admissibility as a

    def broken(path, x0=None, x1=None, tol=0.0):
        X = a._decoded(path)
        x0 = X[:, 0] if x0 is None else np.asarray(x0)
        d0 = np.linalg.norm(X - x0[:, None], axis=-1)
        return (np.diff(d0, axis=1) >= -tol).mean(1)  # forgets the approach to x_j

    _patch_everywhere(mp, "sk_geodesic.metrics._admissibility", "monotonicity", broken)


def _evenness_unnormalised(mp):
    import numpy as np

    import sk_geodesic.metrics._admissibility as a

    def broken(path):
        X = a._decoded(path)
        steps = np.linalg.norm(np.diff(X, axis=1), axis=-1)
        return steps.sum(1) ** 2 / np.maximum((steps**2).sum(1), 1e-300)  # missing (n − 1)

    _patch_everywhere(mp, "sk_geodesic.metrics._admissibility", "step_evenness", broken)


def _credibility_wrong_tail(mp):
    import numpy as np

    import sk_geodesic.metrics._admissibility as a

    original_quantile = np.quantile

    class NP:
        def __getattr__(self, name):
            return getattr(np, name)

        @staticmethod
        def quantile(v, q, *args, **kwargs):
            return original_quantile(v, 1 - q, *args, **kwargs)  # upper instead of lower tail

    mp.setattr(a, "np", NP())


def _alpha_from_wrong_neighbour(mp):
    import numpy as np

    import sk_geodesic.metrics._admissibility as a

    original = a.nearest_reference

    def broken(path, X_reference):
        idx = original(path, X_reference)
        return np.minimum(idx + 1, len(np.asarray(X_reference)) - 1)  # off by one

    mp.setattr(a, "nearest_reference", broken)


BREAKS = [
    Break("aeai_smoothness_scaled", "L_S is half the squared α-derivative", _smoothness_finite_difference_wrong,
          ["tests/test_aeai.py::test_interpolation_losses_match_direct_computation"]),
    Break("aeai_cycle_zero", "L_C never reaches the encoder", _cycle_without_encoder,
          ["tests/test_aeai.py::test_interpolation_losses_match_direct_computation"]),
    Break("aeai_warmup_ignored", "warmup_epochs > 0 still trains the α-terms from the start", _warmup_ignored,
          ["tests/test_aeai.py::test_warmup_epochs_train_the_reconstruction_only"]),
    Break("aeai_n_init_keeps_last", "n_init keeps the last training, not the lowest loss", _n_init_keeps_last,
          ["tests/test_aeai.py::test_n_init_keeps_the_training_of_lowest_final_loss"]),
    Break("aeai_n_init_keeps_highest", "n_init keeps the highest final loss", _n_init_keeps_highest,
          ["tests/test_aeai.py::test_n_init_keeps_the_training_of_lowest_final_loss"]),
    Break("aeai_refine_moves_codes", "refine_epochs train the encoder too", _refine_moves_codes,
          ["tests/test_aeai.py::test_refine_epochs_train_the_decoder_alone"]),
    Break("aeai_refine_without_steps", "refine_epochs take no step", _refine_without_steps,
          ["tests/test_aeai.py::test_refine_epochs_train_the_decoder_alone"]),
    Break("aeai_cosine_ignored", "lr_schedule='cosine' keeps the step constant", _cosine_ignored,
          ["tests/test_aeai.py::test_cosine_lr_schedule_steps_every_network_once_per_epoch"]),
    Break("aeai_cosine_autoencoder_only", "the cosine schedule leaves the discriminator's step alone",
          _cosine_autoencoder_only, ["tests/test_aeai.py::test_cosine_lr_schedule_steps_every_network_once_per_epoch"]),
    Break("aeai_cosine_horizon_off_by_one", "the cosine reaches 0 one epoch after the last", _cosine_horizon_off_by_one,
          ["tests/test_aeai.py::test_cosine_lr_schedule_steps_every_network_once_per_epoch"]),
    Break("aeai_noise_ignored", "noise > 0 trains a plain autoencoder", _noise_ignored,
          ["tests/test_aeai.py::test_noise_makes_a_denoising_autoencoder"]),
    Break("aeai_discriminator_at_lambda_zero", "λ = 0 still trains an adversarial term", _discriminator_always,
          ["tests/test_aeai.py::test_all_lambdas_zero_is_a_plain_autoencoder"]),
    Break("metric_monotonicity_one_sided", "monotonicity checks only the departure from x_i", _monotonicity_one_sided,
          ["tests/test_admissibility.py::test_monotonicity_counts_complying_steps"]),
    Break("metric_evenness_unnormalised", "evenness without the 1/(n−1) factor", _evenness_unnormalised,
          ["tests/test_admissibility.py::test_smoothness_on_known_step_lengths"]),
    Break("metric_credibility_upper_tail", "density credibility thresholds at the upper quantile", _credibility_wrong_tail,
          ["tests/test_admissibility.py::test_credibility_with_each_kind_of_judge"]),
    Break("metric_alpha_off_by_one", "α-retrieval reads the next reference image", _alpha_from_wrong_neighbour,
          ["tests/test_admissibility.py::test_alpha_retrieval_on_a_reference_grid"]),
]
