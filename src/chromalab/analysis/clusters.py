"""K-means clustering of images by their colour-bin histograms (Ling et al., section 6.1).

Each image becomes a normalised histogram over a bin set's classes (every pixel counted in its nearest bin,
``bins.nearest``); scikit-learn's KMeans groups the histograms into k clusters (seeded, so the same data
gives the same clusters); each cluster is drawn as its average histogram in the ab plane: every bin with a
non-zero share is a square coloured by Lab(50, a, b), its area proportional to the share.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from chromalab.analysis.ab_data import NoImagesError
from chromalab.analysis.ab_plane import (
    BIN_LIGHTNESS,
    ab_axes,
    bin_cells,
    cell_weights,
    draw_cells,
    lab_colors,
)
from chromalab.analysis.figures import new_figure
from chromalab.color.bins import Bins, ChannelBins

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MIN_SCALE = 0.2  # the rarest non-zero bin still shows as a square of 1/5 of the grid side


def bin_histogram(ab: torch.Tensor, bins: Bins) -> np.ndarray:
    """ab (2, H, W) -> the share of pixels in each class (num_classes,), float64.

    Joint bins sum to 1; channel bins give one distribution for a and one for b (each sums to 1).
    """
    if ab.dim() != 3 or ab.shape[0] != 2:
        raise ValueError(f"expected ab (2, H, W), got {tuple(ab.shape)}")
    nearest = bins.nearest(ab[None].float())[0]  # joint (H, W); channels (2, H, W)
    groups = [nearest] if bins.groups == 1 else list(nearest)
    per_group = bins.num_classes // bins.groups
    parts = [np.bincount(g.reshape(-1).numpy(), minlength=per_group).astype(np.float64) for g in groups]
    return np.concatenate([p / p.sum() for p in parts])


@dataclass
class Clusters:
    """The result of ``cluster_images``; clusters are numbered by size, largest first."""

    names: list[str]  # one per image
    labels: np.ndarray  # (n,) cluster of each image
    averages: np.ndarray  # (k, num_classes) mean histogram of each cluster
    bins: Bins

    @property
    def sizes(self) -> list[int]:
        return np.bincount(self.labels, minlength=len(self.averages)).tolist()

    def members(self, cluster: int) -> list[str]:
        return [name for name, label in zip(self.names, self.labels, strict=True) if label == cluster]


def cluster_images(
    images: Iterable[tuple[str, torch.Tensor]], bins: Bins, *, k: int, seed: int = 0
) -> Clusters:
    """Cluster (name, ab (2, H, W)) images into ``k`` groups by their bin histograms (KMeans, seeded)."""
    from sklearn.cluster import KMeans

    names, rows = [], []
    for name, ab in images:
        names.append(name)
        rows.append(bin_histogram(ab, bins))
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if not rows:
        raise NoImagesError("no readable images to cluster")
    if len(rows) < k:
        raise ValueError(f"{len(rows)} images cannot make {k} clusters; use a smaller --k or more images")
    histograms = np.stack(rows)  # (n, num_classes)
    raw = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(histograms)
    # renumber by size (largest first, ties by first member) so the figure does not depend on KMeans' order
    order = sorted(range(k), key=lambda c: (-int((raw == c).sum()), int(np.argmax(raw == c))))
    labels = np.argsort(order)[raw]
    averages = np.stack([histograms[labels == c].mean(0) for c in range(k)])
    return Clusters(names, labels, averages, bins)


def plot_clusters(clusters: Clusters, *, lightness: float = BIN_LIGHTNESS, title: str = "") -> Figure:
    """One panel per cluster: its average histogram as coloured bins in the ab plane (Ling et al. fig. 7)."""
    bins = clusters.bins
    centres, side = bin_cells(bins)
    colors = lab_colors(centres, lightness=lightness)
    k = len(clusters.averages)
    columns = min(k, 4)
    rows = -(-k // columns)
    fig, axes = new_figure((3.6 * columns, 3.8 * rows + 0.4), rows, columns)
    for cluster, ax in enumerate(axes.flat):
        if cluster >= k:
            ax.axis("off")
            continue
        share = cell_weights(bins, clusters.averages[cluster])
        used = share > 0
        # area proportional to the share relative to the cluster's most frequent bin
        scale = np.sqrt(share / share.max())
        draw_cells(ax, centres[used], side, colors[used], scale=np.maximum(scale[used], MIN_SCALE))
        ab_axes(ax, centres, side)
        top = centres[int(np.argmax(share))]
        size = clusters.sizes[cluster]
        ax.set_title(
            f"cluster {cluster + 1}: {size} image{'s' * (size != 1)}\n"
            f"{int(used.sum())} bins used, top ({top[0]:.0f}, {top[1]:.0f})",
            fontsize=9,
        )
        ax.tick_params(labelsize=7)
    grid = " (per-channel shares drawn as their product)" if isinstance(bins, ChannelBins) else ""
    fig.suptitle(
        f"{title}\naverage {bins.spec} histogram of each of {k} k-means clusters{grid}; "
        "square area ~ share of pixels",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
