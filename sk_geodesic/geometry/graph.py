"""Graph geodesics (Chen et al. 2019): kNN graph in latent space, φ-length edge weights,
shortest paths with :mod:`scipy.sparse.csgraph`.

Cheap approximate geodesic distances, and good initial curves for the exact solvers.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from .curves import curve_length, linear_curve, resample


class DisconnectedGraphError(ValueError):
    """Raised when two points that must be joined lie in different graph components."""


def _weighted_length(embed, Z, segment_factor):
    """Σ_i c_i ‖φ(z_{i+1}) − φ(z_i)‖ with per-segment factors c = segment_factor(Z), (B,)."""
    X = embed(Z.reshape(-1, Z.shape[-1])).reshape(Z.shape[0], Z.shape[1], -1)
    seg = (X[:, 1:] - X[:, :-1]).norm(dim=-1)
    return (segment_factor(Z) * seg).sum(-1)


def _edge_lengths(embed, Za, Zb, n_edge_points, chunk_size, dtype, device, fixed_shape=False, segment_factor=None):
    """φ-lengths of straight segments ``Za[i]``–``Zb[i]``.

    ``fixed_shape=True`` pads every chunk to ``chunk_size`` rows, so each edge goes
    through φ in a batch of the same shape whatever else is evaluated with it: its
    length is then bitwise independent of the other edges (BLAS kernels may change
    their summation order with the batch size).
    """
    out = []
    with torch.no_grad():
        for i in range(0, len(Za), chunk_size):
            za, zb = Za[i : i + chunk_size], Zb[i : i + chunk_size]
            m = len(za)
            if fixed_shape and m < chunk_size:
                za = np.concatenate([za, np.repeat(za[-1:], chunk_size - m, axis=0)])
                zb = np.concatenate([zb, np.repeat(zb[-1:], chunk_size - m, axis=0)])
            a = torch.as_tensor(za, dtype=dtype, device=device)
            b = torch.as_tensor(zb, dtype=dtype, device=device)
            C = linear_curve(a, b, n_edge_points)
            L = curve_length(embed, C) if segment_factor is None else _weighted_length(embed, C, segment_factor)
            out.append(L.detach().cpu().numpy()[:m])
    return np.concatenate(out) if out else np.zeros(0)


def knn_edges(Z_from, Z_to, n_neighbors, exclude_self=False):
    """Indices (i, j) of the ``n_neighbors`` Euclidean nearest ``Z_to`` rows of each ``Z_from`` row."""
    tree = cKDTree(Z_to)
    k = min(n_neighbors + int(exclude_self), len(Z_to))
    _, idx = tree.query(Z_from, k=k)
    idx = idx.reshape(len(Z_from), k)
    rows = np.repeat(np.arange(len(Z_from)), k)
    cols = idx.ravel()
    if exclude_self:
        keep = rows != cols
        rows, cols = rows[keep], cols[keep]
    return rows, cols


class LatentGraph:
    """A kNN graph over latent points with φ-length edge weights.

    Parameters
    ----------
    embed : callable
        φ, ``(N, d) -> (N, D)``.
    nodes : ndarray (N, d)
        Latent reference points (e.g. the encoded training data).
    n_neighbors : int
    n_edge_points : int
        Points on each straight edge at which φ is evaluated for its length.
    dtype, device : torch dtype and device of φ.
    chunk_size : int
        Edges evaluated per batch.
    mutual : bool
        Keep an edge only when each end is among the other's ``n_neighbors`` nearest
        nodes, plus the edges of a minimum spanning tree of the (φ-weighted) kNN
        graph, so the graph is connected whenever the kNN graph is. Points in sparse
        regions then keep few links, and fewer edges bridge low-density gaps.
    segment_factor : callable or None
        ``(E, n_edge_points, d) -> (E, n_edge_points − 1)`` non-negative weights of the
        steps of each edge: its weight is then Σ c_i ‖Δφ_i‖, the length under a
        conformally rescaled metric (an interpolator's own objective, e.g. the
        density penalty or the realism index); ``None``: plain φ-length.
    edge_power : float, default=1.0
        Edges (node–node and query–node) weigh ``length ** edge_power``. With a power
        p > 1 a shortest path's cost Σ ℓ_e^p is the *power-weighted* path cost
        (Alamgir & von Luxburg 2012; Hwang, Damelin & Hero 2016): many short hops
        through densely sampled codes cost less than one long hop across a sparse
        gap, so distances shrink inside dense groups and grow across gaps between
        them. Its p-th root is again a path metric (:func:`power_root`).
    """

    def __init__(
        self, embed, nodes, n_neighbors=10, n_edge_points=4, dtype=torch.float32, device="cpu", chunk_size=4096,
        mutual=False, segment_factor=None, edge_power=1.0,
    ):
        self.embed = embed
        self.edge_power = float(edge_power)
        if not self.edge_power >= 1.0:
            raise ValueError(f"edge_power must be >= 1, got {edge_power!r}")
        self.nodes = np.asarray(nodes, dtype=np.float64)
        self.n_neighbors = int(n_neighbors)
        self.n_edge_points = int(n_edge_points)
        self.mutual = bool(mutual)
        self.segment_factor = segment_factor
        self.dtype, self.device, self.chunk_size = dtype, device, int(chunk_size)
        rows, cols = knn_edges(self.nodes, self.nodes, self.n_neighbors, exclude_self=True)
        directed = np.stack([rows, cols], 1)
        # undirected: keep each pair once
        pairs, counts = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
        w = self._lengths(self.nodes[pairs[:, 0]], self.nodes[pairs[:, 1]])
        if self.mutual and len(pairs):
            from scipy.sparse.csgraph import minimum_spanning_tree

            N = len(self.nodes)
            A = sp.coo_matrix((w, (pairs[:, 0], pairs[:, 1])), shape=(N, N)).tocsr()
            T = minimum_spanning_tree(A + A.T).tocoo()
            tree = set(zip(np.minimum(T.row, T.col).tolist(), np.maximum(T.row, T.col).tolist()))
            in_tree = np.array([(a, b) in tree for a, b in pairs.tolist()], dtype=bool)
            # a pair listed by both ends is a mutual neighbourhood
            keep = (counts >= 2) | in_tree
            pairs, w = pairs[keep], w[keep]
        self.edges, self.weights = pairs, w

    def _lengths(self, Za, Zb, fixed_shape=False):
        chunk = 64 if fixed_shape else self.chunk_size
        w = _edge_lengths(
            self.embed, Za, Zb, self.n_edge_points, chunk, self.dtype, self.device, fixed_shape,
            getattr(self, "segment_factor", None),
        )
        return self._weights(w)

    def _weights(self, lengths):
        """Edge weights from φ-lengths: floored (zero-length edges, from duplicate points,
        would vanish from a sparse matrix) and raised to ``edge_power``."""
        w = np.maximum(lengths, 1e-12)
        p = getattr(self, "edge_power", 1.0)
        return w if p == 1.0 else np.maximum(w**p, 1e-300)

    def with_queries(self, Q):
        """Adjacency (csr) of the graph with query points ``Q`` appended as new nodes."""
        Q = np.asarray(Q, dtype=np.float64)
        N, q = len(self.nodes), len(Q)
        rows, cols, w = [self.edges[:, 0]], [self.edges[:, 1]], [self.weights]
        if q:
            qr, qc = knn_edges(Q, self.nodes, self.n_neighbors)
            rows.append(qr + N)
            cols.append(qc)
            w.append(self._lengths(Q[qr], self.nodes[qc]))
        r, c, w = np.concatenate(rows), np.concatenate(cols), np.concatenate(w)
        A = sp.coo_matrix((w, (r, c)), shape=(N + q, N + q)).tocsr()
        return A.maximum(A.T).tocsr(), np.vstack([self.nodes, Q]) if q else self.nodes

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_adjacency_cache", None)  # rebuilt on demand
        state.pop("_node_embedding_cache", None)
        return state

    def adjacency(self):
        """Symmetric adjacency (csr, ``(N, N)``) of the node–node edges; built once."""
        A = getattr(self, "_adjacency_cache", None)
        if A is None:
            A = self.with_queries(np.zeros((0, self.nodes.shape[1])))[0]
            self._adjacency_cache = A
        return A

    def _node_embedding(self):
        """φ at the nodes, ``(N, D)``; computed once (the end points of every query edge)."""
        X = getattr(self, "_node_embedding_cache", None)
        if X is None:
            with torch.no_grad():
                Z = torch.as_tensor(self.nodes, dtype=self.dtype, device=self.device)
                X = torch.cat([self.embed(Z[i : i + self.chunk_size]) for i in range(0, len(Z), self.chunk_size)])
            self._node_embedding_cache = X
        return X

    def _query_edge_lengths(self, Q, rows, cols):
        """Weights of the edges ``Q[rows[e]]`` – ``nodes[cols[e]]``, as :meth:`_lengths`
        measures them, with φ evaluated once per query point and taken from
        :meth:`_node_embedding` at the nodes (half the decoder passes of measuring
        every edge from scratch at 4 points per edge)."""
        if getattr(self, "segment_factor", None) is not None or self.n_edge_points < 3 or not len(rows):
            return self._lengths(Q[rows], self.nodes[cols]) if len(rows) else np.zeros(0)
        k = self.n_edge_points
        t = torch.linspace(0.0, 1.0, k, dtype=self.dtype, device=self.device)[1:-1]
        out = []
        with torch.no_grad():
            Qt = torch.as_tensor(Q, dtype=self.dtype, device=self.device)
            Nt = torch.as_tensor(self.nodes, dtype=self.dtype, device=self.device)
            XQ = self.embed(Qt)
            XN = self._node_embedding()
            per_chunk = max(1, self.chunk_size // (k - 2))
            for i in range(0, len(rows), per_chunk):
                r = torch.as_tensor(rows[i : i + per_chunk], device=self.device)
                c = torch.as_tensor(cols[i : i + per_chunk], device=self.device)
                za, zb = Qt[r], Nt[c]
                inner = za[:, None] + t[None, :, None] * (zb - za)[:, None]
                Xi = self.embed(inner.reshape(-1, za.shape[1])).reshape(len(r), k - 2, -1)
                X = torch.cat([XQ[r][:, None], Xi, XN[c][:, None]], 1)
                out.append((X[:, 1:] - X[:, :-1]).norm(dim=-1).sum(-1).cpu().numpy())
        return self._weights(np.concatenate(out).astype(np.float64))

    def pair_paths(self, Z0, Z1, n_points, limit=None):
        """Shortest graph paths from each ``Z0[b]`` to ``Z1[b]``, independent of the other pairs.

        Each start is joined to its ``n_neighbors`` nearest nodes by edges that only leave
        it, each end by edges that only enter it, so a path runs start → nodes → end and
        never through another pair's end point: a pair gets the same path alone as in
        any batch (with undirected query edges, one pair's end point could be a shortcut
        for another).

        ``limit`` (array (B,) or None): search each pair's path only up to this graph
        length (Dijkstra stops there); a pair with no shorter path gets ``ok=False``. A
        caller that only wants paths shorter than, say, the straight segment saves most
        of the search.

        Returns
        -------
        curves : ndarray (B, n_points, d)
            The paths resampled evenly in graph length (straight segments where
            ``ok`` is False).
        lengths : ndarray (B,)
            Graph lengths (``inf`` where no path joins the pair).
        ok : ndarray (B,) bool
        """
        Z0 = np.asarray(Z0, dtype=np.float64)
        Z1 = np.asarray(Z1, dtype=np.float64)
        N, B = len(self.nodes), len(Z0)
        base = self.adjacency().tocoo()
        r0, c0 = knn_edges(Z0, self.nodes, self.n_neighbors)
        r1, c1 = knn_edges(Z1, self.nodes, self.n_neighbors)
        w = self._query_edge_lengths(np.vstack([Z0, Z1]), np.concatenate([r0, B + r1]), np.concatenate([c0, c1]))
        rows = np.concatenate([base.row, N + r0, c1])  # start b is node N + b, end b is N + B + b
        cols = np.concatenate([base.col, c0, N + B + r1])
        A = sp.coo_matrix((np.concatenate([base.data, w]), (rows, cols)), shape=(N + 2 * B, N + 2 * B)).tocsr()
        if limit is None:
            dist, pred = dijkstra(A, directed=True, indices=N + np.arange(B), return_predecessors=True)
        else:
            dist = np.empty((B, A.shape[0]))
            pred = np.empty((B, A.shape[0]), dtype=np.int32)
            radii = np.broadcast_to(np.asarray(limit, dtype=np.float64), (B,))
            radii = np.where(np.isnan(radii), np.inf, radii)  # no usable bound: search everything
            for b, radius in enumerate(radii):
                dist[b], pred[b] = dijkstra(A, directed=True, indices=N + b, return_predecessors=True, limit=radius)
        nodes = np.vstack([self.nodes, Z0, Z1])
        return _curves_from_predecessors(dist, pred, np.arange(B), N + np.arange(B), N + B + np.arange(B),
                                         nodes, n_points)

    def n_components(self):
        return connected_components(self.adjacency(), directed=False)[0]


def shortest_paths(A, sources, targets=None):
    """Graph distances from ``sources`` (and predecessors) with Dijkstra."""
    sources = np.asarray(sources)
    unique, inverse = np.unique(sources, return_inverse=True)
    dist, pred = dijkstra(A, directed=False, indices=unique, return_predecessors=True)
    return dist, pred, inverse


def check_connected(A, pairs_i, pairs_j, what="points"):
    """Raise :class:`DisconnectedGraphError` if any pair lies in different components."""
    n_comp, labels = connected_components(A, directed=False)
    bad = labels[pairs_i] != labels[pairs_j]
    if np.any(bad):
        raise DisconnectedGraphError(
            f"the kNN graph has {n_comp} connected components and {int(bad.sum())} pair(s) of "
            f"{what} lie in different ones, so no graph path joins them; increase n_neighbors "
            "or add reference points between the clusters."
        )
    return labels


def graph_curves(A, nodes, sources, targets, n_points):
    """Latent curves along the shortest graph paths, resampled to ``n_points``.

    Returns (curves (B, n_points, d) ndarray, graph lengths (B,), ok (B,) bool).
    A pair with no connecting path gets its straight segment and ``ok=False``.
    """
    dist, pred, inverse = shortest_paths(A, sources)
    return _curves_from_predecessors(dist, pred, inverse, sources, targets, nodes, n_points)


def _curves_from_predecessors(dist, pred, rows, sources, targets, nodes, n_points):
    """The paths ``sources[b]`` → ``targets[b]`` of a Dijkstra run (row ``rows[b]`` of
    ``dist``/``pred``), resampled evenly in graph length; see :func:`graph_curves`."""
    B = len(sources)
    d = nodes.shape[1]
    curves = np.empty((B, n_points, d))
    lengths = np.empty(B)
    ok = np.ones(B, dtype=bool)
    for b in range(B):
        row = rows[b]
        s, t = sources[b], targets[b]
        lengths[b] = dist[row, t]
        if not np.isfinite(dist[row, t]):
            ok[b] = False
            curves[b] = np.linspace(nodes[s], nodes[t], n_points)
            continue
        seq = [t]
        while seq[-1] != s:
            seq.append(pred[row, seq[-1]])
        seq = seq[::-1]
        poly = nodes[seq]
        if len(poly) == 1:
            curves[b] = np.repeat(poly, n_points, axis=0)
            continue
        # resample the polyline evenly in graph (φ) arc length; along a shortest path the
        # arc length to each node is its Dijkstra distance from the source
        cum = dist[row, seq] - dist[row, s]
        cum /= max(cum[-1], 1e-300)
        tt = np.linspace(0.0, 1.0, n_points)
        curves[b] = np.stack([np.interp(tt, cum, poly[:, j]) for j in range(d)], axis=1)
    return curves, lengths, ok


# -- multi-source distances (used by sk_geodesic.cluster) ----------------------------------------


def _dijkstra_rows(A, sources):
    return dijkstra(A, directed=False, indices=np.asarray(sources, dtype=np.intp))


def multi_source_distances(A, sources, n_jobs=None, chunk_size=128, dtype=np.float64):
    """Shortest-path distances from each of ``sources`` to every node of ``A``.

    Sources are split into chunks of ``chunk_size``; with ``n_jobs`` other than
    ``None``/1 the chunks run through :class:`sklearn.utils.parallel.Parallel` with no
    fixed backend, so ``joblib.parallel_backend("dask")`` sends them to a Dask cluster.

    Parameters
    ----------
    A : sparse matrix of shape (N, N)
        Symmetric adjacency with positive edge weights.
    sources : array-like of int
        Source nodes (repeats allowed).
    n_jobs : int or None
    chunk_size : int
    dtype : numpy dtype of the result (``float32`` halves the memory of large blocks).

    Returns
    -------
    D : ndarray of shape (len(sources), N)
        ``inf`` where a node is unreachable.
    """
    from sklearn.utils.parallel import Parallel, delayed

    sources = np.asarray(sources, dtype=np.intp).ravel()
    N = A.shape[0]
    if len(sources) == 0:
        return np.zeros((0, N), dtype=dtype)
    chunks = [sources[i : i + chunk_size] for i in range(0, len(sources), chunk_size)]
    if n_jobs in (None, 1) or len(chunks) == 1:
        parts = [_dijkstra_rows(A, c) for c in chunks]
    else:
        parts = Parallel(n_jobs=n_jobs)(delayed(_dijkstra_rows)(A, c) for c in chunks)
    return np.vstack([np.asarray(p, dtype=dtype).reshape(-1, N) for p in parts])


def all_pairs_distances(A, n_jobs=None, chunk_size=128, dtype=np.float64):
    """All-pairs shortest-path distances, ``(N, N)``; see :func:`multi_source_distances`."""
    return multi_source_distances(A, np.arange(A.shape[0]), n_jobs=n_jobs, chunk_size=chunk_size, dtype=dtype)


def query_distances(graph, sources, Q, n_jobs=None, chunk_size=128):
    """Graph distances from nodes ``sources`` of ``graph`` to new latent points ``Q``.

    Each query is joined to its ``graph.n_neighbors`` nearest nodes by φ-length edges
    and is a *sink*: paths end at it and never pass through it (nor through another
    query), so a query's distance is ``min_j D[source, j] + w(q, j)`` over its
    neighbours j and does not depend on the other queries given with it.

    Returns
    -------
    D : ndarray of shape (len(sources), len(Q))
    """
    Q = np.asarray(Q, dtype=np.float64)
    D = multi_source_distances(graph.adjacency(), sources, n_jobs=n_jobs, chunk_size=chunk_size)
    if not len(Q):
        return np.zeros((D.shape[0], 0))
    qr, qc = knn_edges(Q, graph.nodes, graph.n_neighbors)
    k = len(qr) // len(Q)
    w = graph._lengths(Q[qr], graph.nodes[qc], fixed_shape=True)
    return (D[:, qc] + w[None, :]).reshape(D.shape[0], len(Q), k).min(axis=2)
