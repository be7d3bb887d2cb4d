"""Figures of the ab plane: bin sets, priors and a/b histograms, plus the ab data they are drawn from.

Every ``plot_*`` function is pure: data in, a matplotlib ``Figure`` out (on an Agg canvas, no pyplot);
``save_figure`` writes one as a PNG atomically. The model figures (temperature sweep, comparison grids,
lightness-averaged view, activations, loss curves) are in ``analysis_models``, the k-means clustering of
images by their bin histograms in ``analysis_clusters``.

Bins are drawn as squares of their grid size coloured by Lab(L = 50, a, b) rendered to sRGB with
``lab_to_srgb8`` (hue and L kept, chroma reduced just enough to fit the gamut), as in seed 000 fig. 1 and
seed 001 fig. 1a; axes are a (green -> red, horizontal) and b (blue -> yellow, vertical).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from chromalab.color.bins import Bins, ChannelBins
from chromalab.color.lab import lab_to_srgb8

if TYPE_CHECKING:
    from matplotlib.figure import Figure

BIN_LIGHTNESS = 50.0  # seed 000 fig. 1 and seed 001 fig. 1a: RGB(a, b | L = 50)
AB_VALUES = np.arange(-128, 128)  # the integer ab values of a (256, 256) count table
MAX_SIDE = 256  # images are shrunk to this longest side before their colours are counted or drawn
DPI = 100
EMPTY_GREY = 0.92  # bins of the set that hold no probability


class NoImagesError(ValueError):
    """A folder (or cache) without a single usable photo; the CLI reports it as a failed input (exit 1)."""


def new_figure(figsize: tuple[float, float], rows: int = 1, columns: int = 1) -> tuple[Figure, np.ndarray]:
    """A figure on its own Agg canvas and its axes (rows, columns).

    No pyplot: nothing global changes (a notebook keeps its backend), and nothing needs closing.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, columns, squeeze=False)


def save_figure(fig: Figure, path: Path) -> None:
    """Write ``fig`` as a PNG atomically."""
    from chromalab.files import atomic_write

    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def figure_png(fig: Figure) -> bytes:
    """The PNG bytes of ``fig`` (for embedding)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


# -- bins as squares in the ab plane -----------------------------------------------------------------------
def lab_colours(ab: np.ndarray, *, lightness: float = BIN_LIGHTNESS) -> np.ndarray:
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


def draw_cells(ax, centres: np.ndarray, side: float, colours: np.ndarray, *, scale: np.ndarray | None = None) -> None:
    """Fill a square per centre (n, 2) with its colour (n, 3|4); ``scale`` (n,) shrinks each square."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    scale = np.ones(len(centres)) if scale is None else scale
    squares = [Rectangle((a - side * s / 2, b - side * s / 2), side * s, side * s)
               for (a, b), s in zip(centres, scale)]
    # no antialiasing: neighbouring squares tile without seams and keep their exact colours
    ax.add_collection(PatchCollection(squares, facecolors=colours, edgecolors="none", antialiased=False))


def ab_axes(ax, centres: np.ndarray, side: float) -> None:
    low = min(-128.0, float(centres.min()) - side / 2)
    high = max(128.0, float(centres.max()) + side / 2)
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal")
    ax.set_xlabel("a (green - red)")
    ax.set_ylabel("b (blue - yellow)")


def describe_bins(bins: Bins) -> str:
    if isinstance(bins, ChannelBins):
        return f"{bins.spec}: {bins.count} bins for a and {bins.count} for b, drawn as their {bins.count} x " \
               f"{bins.count} product grid"
    return f"{bins.spec}: Q = {bins.num_classes} bins"


def plot_bins(bins: Bins, *, lightness: float = BIN_LIGHTNESS) -> Figure:
    """The bin set in colour: each bin a square of its grid size, coloured by Lab(L, a, b) (seed 000 fig. 1)."""
    centres, side = bin_cells(bins)
    fig, ((ax,),) = new_figure((6, 6))
    draw_cells(ax, centres, side, lab_colours(centres, lightness=lightness))
    ab_axes(ax, centres, side)
    ax.set_title(f"{describe_bins(bins)}\nRGB(a, b | L = {lightness:g})", fontsize=10)
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
    """A (C, C) ab histogram [a, b] as a log-scale heat map (seed 001 fig. 1b).

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
    shown = ax.imshow(_log_probability(counts).T, origin="lower", extent=(low, high, low, high),
                      cmap="viridis", interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="log10 probability")
    ax.set_xlabel("a (green - red)")
    ax.set_ylabel("b (blue - yellow)")
    ax.set_facecolor("white")
    cells = "integer ab values" if grid == 1 else f"grid-{grid} cells"
    ax.set_title(f"{title}\nab distribution over {cells}, log scale ({int(counts.sum()):,} pixels)", fontsize=10)
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
    draw_cells(ax, centres[~shown], side, np.full((int((~shown).sum()), 3), EMPTY_GREY))  # the rest of the set
    draw_cells(ax, centres[shown], side, cmap(norm(logp[shown])))
    ab_axes(ax, centres, side)
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="log10 probability")
    what = "product of the per-channel priors" if isinstance(bins, ChannelBins) else "prior per bin"
    ax.set_title(f"{title}\n{describe_bins(bins)}; {what}, log scale (grey: never seen)", fontsize=10)
    fig.tight_layout()
    return fig


# -- a and b histograms ---------------------------------------------------------------------------------------
def plot_channel_histograms(counts: np.ndarray, *, title: str = "", log: bool = False) -> Figure:
    """Per-channel a and b histograms (seed 003 fig. 9) from a (256, 256) integer-ab count table."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (256, 256):
        raise ValueError(f"expected a (256, 256) ab count table, got {counts.shape}")
    total = counts.sum()
    if total <= 0:
        raise ValueError("no pixels counted")
    fig, ((ax,),) = new_figure((7, 4))
    for values, name, colour in ((counts.sum(1), "a", "tab:blue"), (counts.sum(0), "b", "tab:orange")):
        share = values / total
        mean = float((share * AB_VALUES).sum())
        ax.stairs(share, np.arange(-128.5, 128.0), fill=True, alpha=0.55, color=colour,
                  label=f"{name} (mean {mean:+.1f})")
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


# -- ab data: a prepared cache or a folder of photos ---------------------------------------------------------
def is_cache(path: Path) -> bool:
    from chromalab.data.cache import INFO_FILE

    return (Path(path) / INFO_FILE).is_file()


def load_rgb(path: Path, *, max_side: int = MAX_SIDE) -> np.ndarray:
    """A photo -> uint8 RGB (H, W, 3), alpha dropped, shrunk to ``max_side``. Raises ``ImageError``."""
    from PIL import Image

    from chromalab.images import open_image, split_alpha

    image = split_alpha(open_image(path))[0].convert("RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image).copy()


def rgb_to_ab(rgb: np.ndarray) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> ab (2, H, W) float32 in Lab units."""
    from chromalab.metrics import rgb8_to_ab

    return rgb8_to_ab(rgb)


def find_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursive and sorted; ValueError when there are none."""
    from chromalab.evaluate import find_images as find

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    paths = find(folder)
    if not paths:
        raise NoImagesError(f"{folder}: no images found in this folder")
    return paths


def iter_ab(source: Path, *, limit: int | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, ab (2, H, W)) of every photo of a cache (all rows) or an image folder (shrunk to MAX_SIDE).

    ``limit`` keeps that many, evenly spaced. Unreadable files are skipped (``find_images`` lists them).
    """
    from chromalab.images import ImageError

    if is_cache(source):
        from chromalab.data.cache import Cache

        cache = Cache(source)
        rows = spaced(np.arange(len(cache)), limit)
        for row in rows:
            yield f"row {row}", torch.from_numpy(cache.ab[row].astype(np.float32))
        return
    for path in spaced(find_images(source), limit):
        try:
            yield path.relative_to(source).as_posix(), rgb_to_ab(load_rgb(path))
        except (ImageError, OSError):
            continue


def spaced(items, limit: int | None):
    if limit is None or limit >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def ab_counts(ab: torch.Tensor) -> np.ndarray:
    """ab (2, H, W) -> (256, 256) int64 counts of the rounded values at [a + 128, b + 128]."""
    index = ab.round().clamp(-128, 127).long() + 128  # (2, H, W)
    flat = (index[0] * 256 + index[1]).reshape(-1)
    return torch.bincount(flat, minlength=256 * 256).reshape(256, 256).numpy()


def load_ab_counts(source: Path, *, limit: int | None = None) -> tuple[np.ndarray, str]:
    """(256, 256) integer-ab counts and a description: a cache's train pixels (exact, stored) or the pixels
    of every photo of a folder. ValueError / FileNotFoundError with a one-line reason."""
    source = Path(source)
    if is_cache(source):
        from chromalab.data.cache import Cache

        cache = Cache(source)
        return cache.ab_counts, f"{source.name}: train pixels of the cache"
    counts = np.zeros((256, 256), dtype=np.int64)
    images = 0
    for _, ab in iter_ab(source, limit=limit):
        counts += ab_counts(ab)
        images += 1
    if not images:
        raise NoImagesError(f"{source}: none of the images could be read")
    return counts, f"{source.name}: {images} photos"
