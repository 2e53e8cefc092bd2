"""The distributed path: GeodesicKMeans under joblib's Dask backend on a LocalCluster.

``distributed`` is in the ``test`` extra, so CI runs this file (it is not skipped
when the extra is installed). The data are large enough that pairwise distances are
split into several chunks, each of several batches sent to the Dask workers.
"""

import numpy as np
import pytest
import torch

from sk_geodesic.cluster import GeodesicKMeans
from sk_geodesic.interpolation import Linear
from sk_geodesic.manifolds import PretrainedManifold

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")

pytestmark = [pytest.mark.dask, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _bump(z):
    return torch.cat([z, 0.5 * torch.tanh(z[:, :1]) * z[:, 1:]], -1)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    Z = np.vstack([rng.normal(size=(150, 2)) * 0.6 + c for c in ([-1.5, 0], [1.5, 0], [0, 1.8])])
    man = PretrainedManifold(_bump, latent_dim=2, encoder=lambda x: x[:, :2], dtype="float64", random_state=0).fit()
    return man, man.inverse_transform(Z)


def test_geodesic_kmeans_on_dask_matches_local(data):
    man, X = data
    # geodesic: a medoid row of 450 pairs is 15 batches of 32, in chunks of 32*16 = 512 pairs;
    # graph: more than 128 Dijkstra sources at a time go out in chunks of 128
    interp = Linear(manifold=man, batch_size=32, n_points=9)
    kw = dict(interpolator=interp, n_neighbors=10, random_state=0, n_init=1, max_iter=2)
    per_mode = {"graph": {}, "geodesic": {"n_candidates": 4}}  # few swap candidates: few Dask round trips
    local = {d: GeodesicKMeans(3, distance=d, **kw, **per_mode[d]).fit(X) for d in per_mode}

    chunks = []
    original = Linear._run_batches

    def counting(self, Z0, Z1, keep_curves, **kw):
        chunks.append(len(Z0))
        return original(self, Z0, Z1, keep_curves, **kw)

    with distributed.LocalCluster(
        n_workers=3, threads_per_worker=1, processes=False, protocol="tcp://", dashboard_address=None,
        host="127.0.0.1",
    ) as cluster, distributed.Client(cluster) as client:
        remote, remote_transform = {}, {}
        for d in ("graph", "geodesic"):
            Linear._run_batches = counting
            try:
                with joblib.parallel_backend("dask"), distributed.get_task_stream(client) as stream:
                    remote[d] = GeodesicKMeans(3, distance=d, n_jobs=3, **kw, **per_mode[d]).fit(X)
                    remote_transform[d] = remote[d].transform(X[:20])
            finally:
                Linear._run_batches = original
            assert len(stream.data) > 0, d  # the work really ran on the Dask workers
            if d == "geodesic":
                # several chunks, each of several batches, crossed to Dask
                assert max(chunks) == 512 and len(chunks) >= 2 and len(stream.data) >= len(chunks)
    for d in ("graph", "geodesic"):
        assert np.array_equal(local[d].labels_, remote[d].labels_), d
        assert np.array_equal(local[d].medoid_indices_, remote[d].medoid_indices_), d
        assert local[d].inertia_ == pytest.approx(remote[d].inertia_, rel=1e-12)
        assert np.array_equal(local[d].transform(X[:20]), remote_transform[d])
    assert len(np.unique(local["geodesic"].labels_)) == 3
