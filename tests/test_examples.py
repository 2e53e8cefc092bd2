"""Run every example's ``main`` with ``--quick``: its figures exist and its printed
numbers show the effect the example is about (measured values in the comments)."""

import importlib.util
import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPECTED = {
    "plot_ring_density": ["ring_density.png"],
    "plot_semicircle_realism": ["semicircle_paths.png", "semicircle_ri.png"],
    "plot_mnist_regularized": ["mnist_regularized_nll.png"],
    "plot_mnist_geodesics": ["mnist_geodesic_strips.png", "mnist_geodesic_latent.png"],
}

# each takes < 10 s on one core with --quick, so none is marked slow
CASES = list(EXPECTED)


def _rows(text, n_numbers):
    """Table rows of the example's printout: (label words, last ``n_numbers`` floats)."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) <= n_numbers:
            continue
        try:
            nums = [float(x) for x in parts[-n_numbers:]]
        except ValueError:
            continue
        rows.append((parts[:-n_numbers], nums))
    return rows


def check_ring_density(out):
    # method, length, min log p(x), mean log p(x); measured: Linear 2.024 / −13.6,
    # Geodesic 2.024 / −13.6 (the chord through the hole), DensityReg 2.678 / −2.0
    rows = {words[0]: nums for words, nums in _rows(out, 3)}
    lin, geo, reg = rows["Linear"], rows["Geodesic"], rows["DensityReg"]
    assert geo[0] <= lin[0] + 1e-3
    assert reg[1] > geo[1] + 5.0 and reg[2] > geo[2] + 2.0, (reg, geo)
    assert 1.1 * geo[0] < reg[0] < 2.0 * geo[0], (reg, geo)


def check_semicircle_realism(out):
    # pair, method, length, min ri, mean ri, realism; measured: mean ri 0.45/0.16 (Linear)
    # vs 0.71/0.84 (RealismIndex), realism 0.375/0.062 vs 0.845/0.900
    rows = {(words[0], words[1]): nums for words, nums in _rows(out, 4)}
    for pair in ("0", "1"):
        lin, ri = rows[(pair, "Linear")], rows[(pair, "RealismIndex")]
        assert ri[2] > lin[2] + 0.2 and ri[3] > lin[3] + 0.3, (ri, lin)
        assert ri[1] >= lin[1] - 1e-3
        assert lin[0] < ri[0] < 1.6 * lin[0]


def check_mnist_regularized(out):
    # pair, method, length, max −log p(x), mean −log p(x); measured 0->7 (DRG penalising
    # the path's worst point, a soft maximum of −log p(x)): GeodReg 19.99 / 10.72 / 6.99,
    # Geod 14.56 / 10.94 / 6.43, StraightZ 22.85 / 11.11 / 7.69
    rows = {words[1]: nums for words, nums in _rows(out, 3) if len(words) == 2}
    reg, geo, lin = rows["GeodReg"], rows["Geod"], rows["StraightZ"]
    assert geo[0] < 0.997 * lin[0], (geo, lin)
    assert reg[1] < geo[1] - 0.1 and reg[1] < lin[1] - 0.1, (reg, geo, lin)
    assert geo[2] < lin[2] - 0.2, (geo, lin)


def check_mnist_geodesics(out):
    # pair, Linear length, Geodesic length, ratio; measured ratios 0.965 and 0.988
    ratios = [nums[2] for words, nums in _rows(out, 3) if len(words) == 1 and "->" in words[0]]
    assert len(ratios) == 2
    assert max(ratios) < 0.995 and min(ratios) < 0.98, ratios


CHECKS = {
    "plot_ring_density": check_ring_density,
    "plot_semicircle_realism": check_semicircle_realism,
    "plot_mnist_regularized": check_mnist_regularized,
    "plot_mnist_geodesics": check_mnist_geodesics,
}


@pytest.mark.parametrize("name", CASES)
def test_example_runs(name, tmp_path, capsys):
    import matplotlib.pyplot as plt

    outs = _load(name).main(["--quick", "--out", str(tmp_path)])
    plt.close("all")
    printed = capsys.readouterr().out
    CHECKS[name](printed)
    for fname in EXPECTED[name]:
        assert (tmp_path / fname).is_file(), fname
    assert outs and all(Path(o).is_file() and Path(o).suffix == ".png" for o in outs)
    if name == "plot_mnist_regularized":
        assert list(tmp_path.glob("mnist_regularized_strips_*.png"))
