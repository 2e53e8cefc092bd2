"""Graph starts of the interpolators: each pair's path is its own, whatever else is in the batch."""

import numpy as np
import torch

from sk_geodesic.geometry.graph import LatentGraph
from sk_geodesic.interpolation import Geodesic
from sk_geodesic.manifolds import PretrainedManifold


def _u_nodes(step=0.1):
    """Codes along a U: two arms x = 0 and x = 2 from y = 0 to 4, joined at the bottom."""
    y = np.arange(0.0, 4.0 + 1e-9, step)
    x = np.arange(step, 2.0 - 1e-9, step)
    return np.vstack([np.c_[np.zeros_like(y), y], np.c_[x, np.zeros_like(x)], np.c_[np.full_like(y, 2.0), y]])


# pair A joins the tips of the U; pair B has an end point in the gap between the tips,
# whose nearest codes lie on both arms (the only short way across is through that point)
TIPS = (np.array([[0.0, 4.05]]), np.array([[2.0, 4.05]]))
GAP = (np.array([[1.0, 4.0]]), np.array([[1.0, 0.5]]))
AROUND_THE_U = 0.05 + 4.0 + 2.0 + 4.0 + 0.05  # less the two corners the kNN edges cut (0.06 each)
ACROSS_THE_GAP = 0.05 + 1.0 + 1.0 + 0.05


def test_pair_paths_do_not_pass_through_other_pairs_end_points():
    g = LatentGraph(lambda z: z, _u_nodes(), n_neighbors=3, dtype=torch.float64)
    curves_alone, L_alone, ok_alone = g.pair_paths(*TIPS, 65)
    Z0, Z1 = np.vstack([TIPS[0], GAP[0]]), np.vstack([TIPS[1], GAP[1]])
    curves, L, ok = g.pair_paths(Z0, Z1, 65)
    assert ok_alone.all() and ok.all()
    # the graph length of the U (the embedding is the identity: edges measure Euclidean length)
    assert AROUND_THE_U - 0.13 < L_alone[0] <= AROUND_THE_U + 1e-9
    np.testing.assert_allclose(L[0], L_alone[0], rtol=1e-12)
    np.testing.assert_allclose(curves[0], curves_alone[0], atol=1e-12)
    # the path runs down the arm and back up: it reaches the bottom of the U
    assert curves[0][:, 1].min() < 0.05
    # a limit below the path's length finds no path; above it, the same path
    _, L_lim, ok_lim = g.pair_paths(*TIPS, 65, limit=np.array([5.0]))
    assert not ok_lim[0] and not np.isfinite(L_lim[0])
    _, L_lim, ok_lim = g.pair_paths(*TIPS, 65, limit=np.array([AROUND_THE_U + 0.1]))
    assert ok_lim[0] and L_lim[0] == L_alone[0]
    # the shortcut exists: with undirected query edges the path would cross the gap
    A, _ = g.with_queries(np.vstack([TIPS[0], GAP[0], TIPS[1], GAP[1]]))
    from scipy.sparse.csgraph import dijkstra

    N = len(g.nodes)
    assert dijkstra(A, directed=False, indices=N)[N + 2] < ACROSS_THE_GAP + 1e-6


def test_pair_paths_reuse_node_embeddings_exactly():
    # the cached node embeddings give the same edge weights as measuring every edge afresh
    rng = np.random.RandomState(0)
    W = torch.as_tensor(rng.normal(size=(2, 5)))
    g = LatentGraph(lambda z: torch.tanh(z @ W), rng.normal(size=(200, 2)), n_neighbors=6, dtype=torch.float64)
    Q = rng.normal(size=(7, 2))
    rows = np.repeat(np.arange(7), 6)
    cols = rng.randint(0, 200, 42)
    np.testing.assert_allclose(g._query_edge_lengths(Q, rows, cols), g._lengths(Q[rows], g.nodes[cols]), rtol=1e-12)


def test_geodesic_graph_start_is_the_same_alone_and_in_a_batch():
    nodes = _u_nodes()
    man = PretrainedManifold(torch.nn.Identity(), latent_dim=2, encoder=torch.nn.Identity(), dtype="float64").fit()
    geo = Geodesic(manifold=man, init="graph", n_neighbors=3, n_points=33).fit(nodes)
    alone = geo._initial_curves(*TIPS)
    batch = geo._initial_curves(np.vstack([TIPS[0], GAP[0]]), np.vstack([TIPS[1], GAP[1]]))
    torch.testing.assert_close(batch[0], alone[0])
    assert float(alone[0][:, 1].min()) < 0.05


def test_mnist_graph_starts_are_the_same_alone_and_in_a_batch(mnist_vae, mnist_small):
    # On a real VAE a pair's graph start used to depend on the other pairs' end points
    # (they were nodes of one undirected graph): with this VAE (trained on 0, 1, 7) and
    # pairs of other digits, whose codes fall between the training codes, 49 of 64 pairs
    # had another graph path in the batch than alone, up to 33 % shorter.
    from sklearn.frozen import FrozenEstimator

    from sk_geodesic.datasets import load_mnist

    X, _ = mnist_small
    geo = Geodesic(manifold=FrozenEstimator(mnist_vae), init="graph", n_points=17).fit(X)
    X_new, _ = load_mnist(return_X_y=True, digits=[2, 3, 4, 5, 6, 8, 9], n_per_digit=20)
    Z = mnist_vae.transform(X_new)
    rng = np.random.RandomState(0)
    i, j = rng.randint(0, len(Z), 64), rng.randint(0, len(Z), 64)
    batch = geo._initial_curves(Z[i], Z[j])
    # each call gives (1, n, d), or (2, 1, n, d) with two starts (this VAE's σ: multi_start)
    alone = torch.stack([geo._initial_curves(Z[i[k : k + 1]], Z[j[k : k + 1]]) for k in range(len(i))], dim=-3)
    alone = alone.reshape(batch.shape)
    # equal up to float32 rounding of the edge weights (a near-tie could flip; none does here)
    torch.testing.assert_close(batch, alone, atol=1e-4, rtol=0)
