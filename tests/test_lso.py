"""lso_experiment on any data, the ``lso`` CLI and the demo, in seconds-long configurations."""

import json
import os
import re

import numpy as np
import pytest

from sk_geodesic.cluster import f_measure, load_lso_data, lso_experiment, lso_verdict
from sk_geodesic.cluster._experiment import lso_markdown

TINY_VAE = dict(epochs=3, hidden_sizes=(32,), n_centers=8)


def test_lso_experiment_on_custom_data_reports_its_clusterings():
    from sklearn.metrics import adjusted_rand_score

    X, y = load_lso_data("mnist", classes=[0, 1, 7], n_per_class=50)
    y = y + 10  # any label values
    res = lso_experiment([(10, 17)], seeds=[0, 1], X=X, y=y, vae_params=TINY_VAE, return_models=True)
    assert len(res["runs"]) == 2
    m = res["models"][(10, 17)]
    assert set(np.unique(m["y"])) == {10, 17} and len(m["y"]) == 100
    run = res["runs"][0]
    # the scores are those of the returned clusterings (seed 0 is the kept model)
    assert run["geodesic_f"] == pytest.approx(100 * f_measure(m["y"], m["geodesic"].labels_))
    assert run["euclidean_f"] == pytest.approx(100 * f_measure(m["y"], m["kmeans"].labels_))
    assert run["geodesic_ari"] == pytest.approx(100 * adjusted_rand_score(m["y"], m["geodesic"].labels_))
    assert run["geodesic_inertia"] == pytest.approx(m["geodesic"].inertia_)
    # KMeans and GeodesicKMeans cluster the same codes
    assert m["geodesic"].interpolator_.manifold_.estimator is m["vae"]
    s = res["summary"][0]
    vals = [r["geodesic_f"] for r in res["runs"]]
    assert s["geodesic_f"] == pytest.approx((np.mean(vals), np.std(vals)))
    with pytest.raises(ValueError, match="do not occur"):
        lso_experiment([(0, 99)], seeds=[0], X=X, y=y, vae_params=TINY_VAE)


def test_markdown_single_seed_has_no_spread_and_verdict_needs_evidence():
    runs = [dict(dataset="mnist", classes=(0, 1, 2), seed=0, n_samples=9, geodesic_f=90.0, euclidean_f=80.0,
                 geodesic_ari=1.0, euclidean_ari=1.0, geodesic_nmi=1.0, euclidean_nmi=1.0)]
    from sk_geodesic.cluster._experiment import _summarise

    table = lso_markdown(_summarise(runs))
    assert "±" not in table and "| 90.0 | 80.0 | 94.3 / 77.6 |" in table
    assert lso_verdict(runs) is None  # one seed: no verdict
    two = runs + [dict(runs[0], seed=1, geodesic_f=91.0, euclidean_f=79.0)]
    assert "±" in lso_markdown(_summarise(two))
    assert lso_verdict(two).startswith("Verdict: graph-geodesic k-medoids beats")
    mixed = runs + [dict(runs[0], seed=1, geodesic_f=70.0, euclidean_f=85.0)]
    assert lso_verdict(mixed) is None


def test_lso_cli_table_rows_are_the_returned_runs(tmp_path, capsys):
    from sk_geodesic.__main__ import main

    out = tmp_path / "lso"
    rc = main(["lso", "--classes", "0", "1", "--seeds", "2", "--n-per-class", "40", "--epochs", "2", "--out",
               str(out), "--fast-figures"])
    assert rc == 0
    printed = capsys.readouterr().out
    runs = json.load(open(out / "lso_mnist_runs.json"))
    assert [r["seed"] for r in runs] == [0, 1]
    g = np.array([r["geodesic_f"] for r in runs])
    e = np.array([r["euclidean_f"] for r in runs])
    row = f"| mnist | 0,1 | 80 | 2 | {g.mean():.1f} ± {g.std():.1f} | {e.mean():.1f} ± {e.std():.1f} |"
    assert row in printed and row in open(out / "lso_mnist_table.md").read()
    for r in runs:  # the per-seed lines printed while running
        assert f"seed {r['seed']}: F graph geodesic {r['geodesic_f']:.1f} vs Euclidean {r['euclidean_f']:.1f}" in printed
    assert os.path.getsize(out / "lso_mnist_clusters.png") > 10_000


def test_fashion_preset_reads_idx_files(tmp_path, monkeypatch):
    try:
        X, y = load_lso_data("fashion-mnist", classes=[0, 8], n_per_class=5)
    except (FileNotFoundError, OSError):
        pytest.skip("Fashion-MNIST IDX files not installed")
    assert X.shape == (10, 784) and sorted(set(y.tolist())) == [0, 8]
    assert 0.0 <= X.min() and X.max() <= 1.0


def test_demo_runs_and_prints_its_numbers(tmp_path, capsys):
    from sk_geodesic.__main__ import main

    rc = main(["demo", "--out", str(tmp_path), "--epochs", "2", "--n-per-digit", "30", "--seeds", "1",
               "--cluster-n-per-digit", "40", "--cluster-epochs", "2", "--fast-figures"])
    assert rc == 0
    printed = capsys.readouterr().out
    # one seed: an honest label, no spread, no verdict
    assert "1 seed" in printed and "No verdict" in printed
    table = open(tmp_path / "demo_lso_table.md").read()
    runs = json.load(open(tmp_path / "demo_lso_runs.json"))
    assert len(runs) == 3 and "±" not in table.split("\n\n", 1)[1]
    for r in runs:
        cls = ",".join(map(str, r["classes"]))
        assert re.search(rf"\| mnist \| {cls} \| \d+ \| 1 \| {r['geodesic_f']:.1f} \| {r['euclidean_f']:.1f} \|", table)
    # the geodesic/straight length ratios printed are those of the paths
    found = re.findall(r"straight-line length ([0-9.]+), geodesic length ([0-9.]+) \(ratio ([0-9.]+)\)", printed)
    assert len(found) == 4
    for lin, geo, ratio in found:
        assert float(ratio) == pytest.approx(float(geo) / float(lin), abs=0.01)
    for name in ("demo_interpolations.png", "demo_latent.png", "demo_lso_clusters.png"):
        assert os.path.getsize(tmp_path / name) > 10_000


def test_lso_protocol_uses_density_trimmed_power_graph_geodesics():
    import math

    from sk_geodesic.cluster._experiment import LSO_DENSITY_TRIM, LSO_EDGE_POWER

    assert (LSO_EDGE_POWER, LSO_DENSITY_TRIM) == (2.0, 0.5)
    X, y = load_lso_data("mnist", classes=[0, 1], n_per_class=40)
    res = lso_experiment([(0, 1)], seeds=[0], X=X, y=y, vae_params=TINY_VAE, return_models=True)
    assert res["settings"]["edge_power"] == 2.0 and res["settings"]["density_trim"] == 0.5
    g = res["models"][(0, 1)]["geodesic"]
    assert g.graph_.edge_power == 2.0
    assert len(g.core_sample_indices_) == math.ceil(0.5 * len(X))
    # the medoids are among the densest half of the codes under the VAE's own latent density
    logp = res["models"][(0, 1)]["vae"].density_.score_samples(res["models"][(0, 1)]["vae"].latent_train_)
    assert np.all(logp[g.medoid_indices_] >= np.median(logp) - 1e-6)


@pytest.mark.slow
def test_lso_headline_reaches_the_paper_on_each_triplet():
    # the full protocol (~1000 digits/class, 30 epochs), the paper's three triplets, 3 seeds
    from sk_geodesic.cluster._experiment import LSO_PAPER_F

    res = lso_experiment(seeds=[0, 1, 2])
    for row in res["summary"]:
        assert row["geodesic_f"][0] >= LSO_PAPER_F[tuple(row["classes"])][0], row
    gains = [r["geodesic_f"] - r["euclidean_f"] for r in res["runs"]]
    assert np.mean(gains) >= 5
