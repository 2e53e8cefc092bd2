"""Graph-geodesic vs Euclidean clustering of VAE latent codes ("Latent space oddity", Sec. 4).

Protocol of Arvanitidis, Hansen & Hauberg (2018): for each class triplet (~1000 images
per class) train one VAE with a 2-D latent space and an RBF variance network, then
cluster the same latent codes with Euclidean k-means and with k-medoids (FasterPAM)
under graph-geodesic distances (shortest paths on a neighbourhood graph of the codes,
edges weighted by their length under the VAE's expected metric). The protocol makes the
graph geodesics density-aware: edges weigh their squared length (distance = square root
of the least summed weight), and the medoids are chosen among the densest half of the
codes (``edge_power=2``, ``density_trim=0.5``; one setting for every data set).

    python examples/lso_clustering.py [--dataset mnist|fashion-mnist] [--seeds N] [--quick] [--out DIR]

is the same as ``python -m sk_geodesic lso ...``: it prints the Markdown table (F-measure,
ARI, NMI in %, mean ± std over seeds), a verdict only when the runs support one, and
writes the table, the per-run JSON and a figure (codes by cluster over log σ(z), with
geodesics between the medoids) to ``DIR``.
"""

from __future__ import annotations

import sys

from sk_geodesic.__main__ import main

if __name__ == "__main__":
    sys.exit(main(["lso", *sys.argv[1:]]))
