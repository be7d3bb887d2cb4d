"""Figures of the ab plane: bin sets, priors and a/b histograms (their data: ``ab_data``).

Every ``plot_*`` function is pure: data in, a matplotlib ``Figure`` out (``figures.new_figure``). The model
figures are in ``model_figures``, the k-means clustering of images by their bin histograms in ``clusters``.

Bins are drawn as squares of their grid size coloured by Lab(L = 50, a, b) rendered to sRGB with
``lab_to_srgb8`` (hue and L kept, chroma reduced just enough to fit the gamut), as in Ling et al. fig. 1 and
Gustavsson fig. 1a; axes are a (green -> red, horizontal) and b (blue -> yellow, vertical).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import torch

from chromalab.analysis.figures import new_figure
from chromalab.color.bins import Bins, ChannelBins
from chromalab.color.lab import lab_to_srgb8

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BIN_LIGHTNESS = 50.0  # Ling et al. fig. 1 and Gustavsson fig. 1a: RGB(a, b | L = 50)
AB_VALUES = np.arange(-128, 128)  # the integer ab values of a (256, 256) count table
EMPTY_GREY = 0.92  # bins of the set that hold no probability


# -- bins as squares in the ab plane -----------------------------------------------------------------------
def lab_colors(ab: np.ndarray, *, lightness: float = BIN_LIGHTNESS) -> np.ndarray:
    """ab points (n, 2) -> sRGB colours (n, 3) in [0, 1] of Lab(lightness, a, b), as the pipeline renders."""
    ab = torch.as_tensor(np.asarray(ab, dtype=np.float32)).reshape(-1, 2)
    lab = torch.cat([torch.full((ab.shape[0], 1), float(lightness)), ab], dim=1)  # (n, 3)
    return lab_to_srgb8(lab.T[:, :, None])[:, 0].numpy() / 255.0  # (3, n, 1) -> (n, 1, 3) -> (n, 3)


def bin_cells(bins: Bins) -> tuple[np.ndarray, float]:
    """The squares that picture a bin set: centres (n, 2) and their side in ab units.

    Joint bins: one square per bin, the side being the grid of the spec (gamut:G, data:G) or else the
    smallest distance between two centres (10 for Zhang's 313). Channel bins: the N x N product grid.
    """
    if isinstance(bins, ChannelBins):
        c = bins.centres_1d.numpy()
        a, b = np.meshgrid(c, c, indexing="ij")  # cell [i * N + j] is (a_i, b_j)
        return np.stack([a.ravel(), b.ravel()], axis=1), float(c[1] - c[0])
    centres = bins.centres.numpy()
    grid = re.fullmatch(r"(?:gamut|data):(\d+)", bins.spec or "")
    if grid:
        return centres, float(grid.group(1))
    distances = torch.cdist(bins.centres, bins.centres).fill_diagonal_(float("inf"))
    return centres, float(distances.min())


def cell_weights(bins: Bins, values: np.ndarray | torch.Tensor) -> np.ndarray:
    """Per-class values (num_classes,) -> per-square values matching ``bin_cells``.

    Channel bins hold one distribution per channel; a square (a_i, b_j) gets p_a(i) * p_b(j).
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.shape != (bins.num_classes,):
        raise ValueError(f"expected {bins.num_classes} values for {bins.spec}, got {values.shape[0]}")
    if isinstance(bins, ChannelBins):
        return np.outer(values[: bins.count], values[bins.count :]).ravel()
    return values


def draw_cells(
    ax, centres: np.ndarray, side: float, colors: np.ndarray, *, scale: np.ndarray | None = None
) -> None:
    """Fill a square per centre (n, 2) with its colour (n, 3|4); ``scale`` (n,) shrinks each square."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    scale = np.ones(len(centres)) if scale is None else scale
    squares = [
        Rectangle((a - side * s / 2, b - side * s / 2), side * s, side * s)
        for (a, b), s in zip(centres, scale, strict=True)
    ]
    # no antialiasing: neighbouring squares tile without seams and keep their exact colours
    ax.add_collection(PatchCollection(squares, facecolors=colors, edgecolors="none", antialiased=False))


def ab_axes(ax, centres: np.ndarray, side: float) -> None:
    low = min(-128.0, float(centres.min()) - side / 2)
    high = max(128.0, float(centres.max()) + side / 2)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xlabel("a (green - red)")
    ax.set_ylabel("b (blue - yellow)")


def bins_title(bins: Bins) -> str:
    """A figure's words for a bin set, e.g. ``gamut:10: Q = 261 bins``."""
    if isinstance(bins, ChannelBins):
        return (
            f"{bins.spec}: {bins.count} bins for a and {bins.count} for b, drawn as their {bins.count} x "
            f"{bins.count} product grid"
        )
    return f"{bins.spec}: Q = {bins.num_classes} bins"


def plot_bins(bins: Bins, *, lightness: float = BIN_LIGHTNESS) -> Figure:
    """The bin set in colour: each bin a square of its grid size, coloured by Lab(L, a, b) (Ling et al.,
    figure 1)."""
    centres, side = bin_cells(bins)
    fig, ((ax,),) = new_figure((6, 6))
    draw_cells(ax, centres, side, lab_colors(centres, lightness=lightness))
    ab_axes(ax, centres, side)
    ax.set_title(f"{bins_title(bins)}\nRGB(a, b | L = {lightness:g})", fontsize=10)
    fig.tight_layout()
    return fig


# -- priors as log-scale heat maps ---------------------------------------------------------------------------
def _log_probability(values: np.ndarray) -> np.ndarray:
    """Counts or frequencies -> log10 probability, NaN where zero (drawn as background)."""
    values = np.asarray(values, dtype=np.float64)
    total = values.sum()
    if not np.isfinite(total) or total <= 0 or (values < 0).any():
        raise ValueError("the prior is empty or not a distribution (no pixels counted?)")
    with np.errstate(divide="ignore"):
        return np.where(values > 0, np.log10(values / total), np.nan)


def plot_ab_counts(counts: np.ndarray, *, grid: int = 1, title: str = "") -> Figure:
    """A (C, C) ab histogram [a, b] as a log-scale heat map (Gustavsson fig. 1b).

    ``grid`` 1: a (256, 256) integer-ab count table (``Cache.ab_counts``), cells at -128 ... 127;
    ``grid`` G >= 2: ``bins.ab_histogram`` cells centred on multiples of G (``Cache.histogram`` is grid 10).
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"expected a square (C, C) ab histogram, got {counts.shape}")
    first = -128 if grid == 1 else -int(np.ceil(128 / grid)) * grid
    low, high = first - grid / 2, first + (counts.shape[0] - 1) * grid + grid / 2
    fig, ((ax,),) = new_figure((6.4, 5.6))
    # rows of ``counts`` are a: transpose so a runs along x and b along y
    shown = ax.imshow(
        _log_probability(counts).T,
        origin="lower",
        extent=(low, high, low, high),
        cmap="viridis",
        interpolation="nearest",
    )
    fig.colorbar(shown, ax=ax, label="log10 probability")
    ax.set_xlabel("a (green - red)")
    ax.set_ylabel("b (blue - yellow)")
    ax.set_facecolor("white")
    cells = "integer ab values" if grid == 1 else f"grid-{grid} cells"
    ax.set_title(
        f"{title}\nab distribution over {cells}, log scale ({int(counts.sum()):,} pixels)", fontsize=10
    )
    fig.tight_layout()
    return fig


def plot_bin_prior(bins: Bins, prior: np.ndarray | torch.Tensor, *, title: str = "") -> Figure:
    """A model's stored prior over its bins (Q,) as a log-scale heat map on the bins' squares."""
    import matplotlib
    from matplotlib import cm, colors

    centres, side = bin_cells(bins)
    logp = _log_probability(cell_weights(bins, prior))
    shown = np.isfinite(logp)
    if not shown.any():
        raise ValueError("the prior is zero everywhere")
    norm = colors.Normalize(vmin=float(logp[shown].min()), vmax=float(logp[shown].max()))
    cmap = matplotlib.colormaps["viridis"]
    fig, ((ax,),) = new_figure((6.4, 5.6))
    # the rest of the set
    draw_cells(ax, centres[~shown], side, np.full((int((~shown).sum()), 3), EMPTY_GREY))
    draw_cells(ax, centres[shown], side, cmap(norm(logp[shown])))
    ab_axes(ax, centres, side)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="log10 probability")
    what = "product of the per-channel priors" if isinstance(bins, ChannelBins) else "prior per bin"
    ax.set_title(f"{title}\n{bins_title(bins)}; {what}, log scale (grey: never seen)", fontsize=10)
    fig.tight_layout()
    return fig


# -- a and b histograms
# ---------------------------------------------------------------------------------------
def plot_channel_histograms(counts: np.ndarray, *, title: str = "", log: bool = False) -> Figure:
    """Per-channel a and b histograms (Agrawal and Sawhney fig. 9) from a (256, 256) integer-ab count
    table."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (256, 256):
        raise ValueError(f"expected a (256, 256) ab count table, got {counts.shape}")
    total = counts.sum()
    if total <= 0:
        raise ValueError("no pixels counted")
    fig, ((ax,),) = new_figure((7, 4))
    for values, name, color in ((counts.sum(1), "a", "tab:blue"), (counts.sum(0), "b", "tab:orange")):
        share = values / total
        mean = float((share * AB_VALUES).sum())
        ax.stairs(
            share,
            np.arange(-128.5, 128.0),
            fill=True,
            alpha=0.55,
            color=color,
            label=f"{name} (mean {mean:+.1f})",
        )
    if log:
        ax.set_yscale("log")
    ax.set_xlim(-128, 127)
    ax.set_xlabel("channel value (Lab units)")
    ax.set_ylabel("share of pixels")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title(f"{title}\na and b channel values of {int(total):,} pixels", fontsize=10)
    fig.tight_layout()
    return fig
