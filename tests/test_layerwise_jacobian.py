"""Layer-by-layer forward-mode Jacobians against torch.func's, on a zoo of decoders."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import jacfwd, vmap

from sk_geodesic.geometry.layerwise import LayerwiseEmbedding, forward_jacobian


class Custom(nn.Module):
    """No rule: differentiated whole by torch.func."""

    def forward(self, h):
        return torch.sin(h) * h.sum(-1, keepdim=True)


class Residual(nn.Sequential):
    """A Sequential whose forward adds a skip connection: walking its layers would miss it."""

    def forward(self, h):
        return super().forward(h) + h


def _bn(module, channels, seed):
    g = torch.Generator().manual_seed(seed)
    module.running_mean.copy_(torch.randn(channels, generator=g, dtype=torch.float64))
    module.running_var.copy_(torch.rand(channels, generator=g, dtype=torch.float64) + 0.5)
    if module.weight is not None:
        module.weight.data.copy_(torch.randn(channels, generator=g, dtype=torch.float64))
    return module


def _zoo():
    torch.manual_seed(0)
    d = 3
    return {
        "mlp activations": (nn.Sequential(
            nn.Linear(d, 16), nn.Tanh(), nn.Linear(16, 16), nn.Softplus(beta=2.0, threshold=1.0),
            nn.Linear(16, 16), nn.ELU(alpha=0.5), nn.Linear(16, 16), nn.LeakyReLU(0.3), nn.Linear(16, 16), nn.SiLU(),
            nn.Linear(16, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 12), nn.Sigmoid()), (d,)),
        "nested, batch norm, custom": (nn.Sequential(
            nn.Sequential(nn.Linear(d, 10), _bn(nn.BatchNorm1d(10), 10, 1)), nn.Tanh(), Custom(),
            nn.Sequential(nn.Identity(), nn.Linear(10, 6), _bn(nn.BatchNorm1d(6, affine=False), 6, 2))), (d,)),
        "dcgan generator": (nn.Sequential(
            nn.ConvTranspose2d(d, 8, 3, 1, 0), _bn(nn.BatchNorm2d(8), 8, 3), nn.ReLU(),
            nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1, dilation=1), nn.ELU(),
            nn.ConvTranspose2d(4, 4, 3, stride=1, padding=2, groups=2, dilation=2), nn.Tanh(),
            nn.Conv2d(4, 2, 3, stride=2, padding=1), nn.Flatten(), nn.Linear(2 * 3 * 3, 7)), (d, 1, 1)),
        "conv1d and unflatten": (nn.Sequential(
            nn.Linear(d, 24), nn.Unflatten(1, (3, 8)), nn.Conv1d(3, 4, 3, padding=1, dilation=1, groups=1),
            nn.Softplus(), nn.Conv1d(4, 2, 2, stride=2), nn.Flatten()), (d,)),
        "not a sequential": (Custom(), (d,)),
        "in-place activations": (nn.Sequential(
            nn.Linear(d, 12), nn.SiLU(inplace=True), nn.Linear(12, 12), nn.ELU(inplace=True), nn.Linear(12, 12),
            nn.LeakyReLU(0.2, inplace=True), nn.Linear(12, 12), nn.ReLU(inplace=True), nn.Linear(12, 5)), (d,)),
        "sequential subclass with a skip": (Residual(nn.Linear(d, d), nn.Tanh(), nn.Linear(d, d)), (d,)),
    }


@pytest.mark.parametrize("name", list(_zoo()))
def test_forward_jacobian_matches_torch_func(name):
    module, shape = _zoo()[name]
    module = module.double().eval()
    g = torch.Generator().manual_seed(1)
    Z = torch.randn(9, *shape, generator=g, dtype=torch.float64)
    Z[0] = 0.0  # kinks of ReLU-like layers sit at exact zeros for some units here
    with torch.no_grad():
        y, T = forward_jacobian(module, Z)
    np.testing.assert_allclose(y.numpy(), module(Z).detach().numpy(), rtol=1e-12, atol=1e-12)
    d = int(np.prod(shape))
    flat = lambda z: module(z.reshape(1, *shape)).reshape(-1)  # noqa: E731
    J = vmap(jacfwd(flat))(Z.reshape(-1, d)).detach()  # (N, D, d)
    np.testing.assert_allclose(T.reshape(d, 9, -1).permute(1, 2, 0).numpy(), J.numpy(), rtol=1e-10, atol=1e-12)


def test_layerwise_embedding_is_phi_with_its_jacobian():
    torch.manual_seed(2)
    dec = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 5)).double()
    std = Custom().double()

    def embed(z):
        return torch.cat([dec(z), std(z)], -1)

    phi = LayerwiseEmbedding(embed, [dec, std])
    Z = torch.randn(6, 2, dtype=torch.float64)
    with torch.no_grad():
        J, y = phi.value_and_jacobian(Z)
    np.testing.assert_allclose(y.numpy(), embed(Z).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(J.numpy(), vmap(jacfwd(embed))(Z).detach().numpy(), rtol=1e-10, atol=1e-12)
    assert torch.equal(phi(Z), embed(Z))


def test_manifolds_hand_out_layerwise_embeddings():
    from sk_geodesic.manifolds import VAE, PretrainedManifold

    dec = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 5))
    m = PretrainedManifold(dec, latent_dim=2).fit()
    assert isinstance(m.embedding_map(), LayerwiseEmbedding)
    plain = PretrainedManifold(lambda z: torch.cat([z, z.sin()], -1), latent_dim=2).fit()
    assert not hasattr(plain.embedding_map(), "value_and_jacobian")
    X = np.random.RandomState(0).rand(40, 5)
    vae = VAE(latent_dim=2, hidden_sizes=(8,), epochs=1, random_state=0).fit(X)
    phi = vae.embedding_map()
    Z = torch.randn(4, 2)
    with torch.no_grad():
        J, y = phi.value_and_jacobian(Z)
    np.testing.assert_allclose(J.numpy(), vmap(jacfwd(vae._embed))(Z).detach().numpy(), rtol=1e-4, atol=1e-6)


def test_geodesic_solver_takes_the_layerwise_jacobians():
    from sk_geodesic.interpolation import Geodesic
    from sk_geodesic.manifolds import PretrainedManifold

    torch.manual_seed(3)
    dec = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 6))
    m = PretrainedManifold(dec, latent_dim=2, dtype="float64").fit()
    calls = []
    original = LayerwiseEmbedding.value_and_jacobian

    def counting(self, Z):
        calls.append(Z.shape[0])
        return original(self, Z)

    Z0, Z1 = np.random.RandomState(0).normal(size=(2, 3, 2))
    LayerwiseEmbedding.value_and_jacobian = counting
    try:
        L = Geodesic(manifold=m, init="linear").fit(np.zeros((1, 6))).length(Z0, Z1, latent=True)
    finally:
        LayerwiseEmbedding.value_and_jacobian = original
    assert calls
    dec64 = m.decoder_  # the manifold's float64 copy, called as a plain function: torch.func differentiates it whole
    ref = Geodesic(manifold=PretrainedManifold(lambda z: dec64(z), latent_dim=2, dtype="float64").fit(),
                   init="linear").fit(np.zeros((1, 6))).length(Z0, Z1, latent=True)
    np.testing.assert_allclose(L, ref, rtol=1e-9)


def test_geometry_jacobian_stays_the_function():
    """The layer rules live in ``geometry.layerwise``: a submodule named ``jacobian`` would
    replace the public function ``geometry.jacobian`` once imported."""
    import sk_geodesic.geometry as geometry
    from sk_geodesic.manifolds import PretrainedManifold

    PretrainedManifold(nn.Sequential(nn.Linear(2, 3)), latent_dim=2).fit().embedding_map()
    assert geometry.jacobian.__module__ == "sk_geodesic.geometry.metric"
    J = geometry.jacobian(lambda z: torch.stack([z[..., 0] * 2, z[..., 1]], -1), torch.zeros(3, 2))
    assert J.shape == (3, 2, 2) and float(J[0, 0, 0]) == 2.0


@pytest.mark.parametrize("name", list(_zoo()))
def test_layerwise_curvature_matches_forward_over_reverse(name):
    """H = ∇²(φ · w) per row from the Jacobian pass's tangents and one backward pass, against
    the solver's generic forward-over-reverse pass (layers without rules: generic per part)."""
    from sk_geodesic.geometry.solvers import _value_jacobian_and_curvature

    module, shape = _zoo()[name]
    module = module.double().eval()
    d = int(np.prod(shape))

    def flat(z):
        return module(z.reshape(z.shape[0], *shape)).reshape(z.shape[0], -1)

    g = torch.Generator().manual_seed(5)
    Z = torch.randn(7, d, generator=g, dtype=torch.float64)
    W = torch.randn(7, flat(Z).shape[1], generator=g, dtype=torch.float64)
    with torch.no_grad():
        y0, J0, H0 = _value_jacobian_and_curvature(flat)(Z, W)
        y1, J1, H1 = _value_jacobian_and_curvature(LayerwiseEmbedding(flat, [module], shape))(Z, W)
    np.testing.assert_allclose(y1.numpy(), y0.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(J1.numpy(), J0.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H1.numpy(), H0.detach().numpy(), rtol=1e-9, atol=1e-9 * float(H0.abs().max()))
    assert float(H0.abs().max()) > 0 or name == "not a sequential"


def test_convolutional_aeai_decoder_goes_layer_by_layer():
    """AEAI's convolutional decoder is a custom module; its layers are handed out as one
    Sequential (the same modules), with φ and J equal to the decoder's own."""
    from sk_geodesic.manifolds import AEAI

    X = np.random.RandomState(0).rand(24, 64)
    est = AEAI(latent_dim=3, architecture="conv", epochs=1, batch_size=8, dtype="float64", random_state=0).fit(X)
    phi = est.embedding_map()
    (part,), _ = est._embedding_parts()
    assert isinstance(part, nn.Sequential) and all(p1 is p2 for p1, p2 in zip(part.parameters(), est.decoder_.parameters()))
    Z = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        J, y = phi.value_and_jacobian(Z)
    np.testing.assert_allclose(y.numpy(), est.decoder_(Z).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(J.numpy(), vmap(jacfwd(est.decoder_))(Z).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_large_batches_are_taken_in_chunks_with_the_same_results(monkeypatch):
    """φ, J and the curvature of 11 rows, taken 4 (Jacobians) and 5 (values) rows at a time,
    equal those of each row alone (a chunk misplaced or dropped would change some rows)."""
    import sk_geodesic.geometry.layerwise as layerwise
    from sk_geodesic.geometry.solvers import _value_jacobian_and_curvature

    module, shape = _zoo()["dcgan generator"]
    module = module.double().eval().requires_grad_(False)
    d = int(np.prod(shape))

    def flat(z):
        return module(z.reshape(z.shape[0], *shape)).reshape(z.shape[0], -1)

    phi = LayerwiseEmbedding(flat, [module], shape)
    g = torch.Generator().manual_seed(7)
    Z = torch.randn(11, d, generator=g, dtype=torch.float64)
    W = torch.randn(11, flat(Z).shape[1], generator=g, dtype=torch.float64)
    with torch.no_grad():
        rows = [phi.value_and_jacobian(Z[i : i + 1]) for i in range(11)]
        curv = [_value_jacobian_and_curvature(phi)(Z[i : i + 1], W[i : i + 1]) for i in range(11)]
        monkeypatch.setattr(layerwise, "JACOBIAN_CHUNK", 4)
        monkeypatch.setattr(layerwise, "FORWARD_CHUNK", 5)
        J, y = phi.value_and_jacobian(Z)
        y2, J2, H2 = _value_jacobian_and_curvature(phi)(Z, W)
        values = phi(Z)
    np.testing.assert_allclose(J.numpy(), torch.cat([r[0] for r in rows]).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y.numpy(), torch.cat([r[1] for r in rows]).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(values.numpy(), flat(Z).numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(J2.numpy(), J.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(H2.numpy(), torch.cat([c[2] for c in curv]).numpy(), rtol=1e-10, atol=1e-12)
    assert J.shape == (11, flat(Z).shape[1], d) and H2.shape == (11, d, d)
