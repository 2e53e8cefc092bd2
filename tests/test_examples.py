"""Run every example's ``main`` with ``--quick`` and check that its figures exist."""

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


@pytest.mark.parametrize("name", CASES)
def test_example_runs(name, tmp_path):
    import matplotlib.pyplot as plt

    outs = _load(name).main(["--quick", "--out", str(tmp_path)])
    plt.close("all")
    for fname in EXPECTED[name]:
        assert (tmp_path / fname).is_file(), fname
    assert outs and all(Path(o).is_file() and Path(o).suffix == ".png" for o in outs)
    if name == "plot_mnist_regularized":
        assert list(tmp_path.glob("mnist_regularized_strips_*.png"))
