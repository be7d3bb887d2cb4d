"""Figures without pyplot: a figure on its own Agg canvas, a grid of photos, and writing a figure as a PNG
(atomically) or as bytes. Every figure of ``analysis`` (and ``experiment``) is made and saved here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chromalab.files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
PANEL = 2.2  # inches per image panel


def new_figure(figsize: tuple[float, float], rows: int = 1, columns: int = 1) -> tuple[Figure, np.ndarray]:
    """A figure on its own Agg canvas and its axes (rows, columns).

    No pyplot: nothing global changes (a notebook keeps its backend), and nothing needs closing.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, columns, squeeze=False)


JPEG_SUFFIXES = (".jpg", ".jpeg")
JPEG_QUALITY = 85  # photo sheets for docs: a tenth of the PNG's bytes, no visible loss at this scale


def save_figure(fig: Figure, path: Path) -> None:
    """Write ``fig`` atomically: a JPEG when ``path`` ends in .jpg or .jpeg (photo sheets), else a PNG."""
    if Path(path).suffix.lower() in JPEG_SUFFIXES:
        atomic_write(
            Path(path),
            lambda tmp: fig.savefig(
                tmp, format="jpeg", dpi=DPI, pil_kwargs={"quality": JPEG_QUALITY, "optimize": True}
            ),
        )
    else:
        atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def figure_png(fig: Figure) -> bytes:
    """The PNG bytes of ``fig`` (for embedding)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def image_grid(
    rows: Sequence[Sequence[np.ndarray]],
    *,
    columns: Sequence[str],
    row_names: Sequence[str] = (),
    title: str = "",
) -> Figure:
    """A grid of uint8 RGB images; column titles on the first row, row names on the left."""
    n_rows, n_cols = len(rows), len(columns)
    fig, axes = new_figure((PANEL * n_cols, PANEL * n_rows + 0.5), n_rows, n_cols)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            ax = axes[r, c]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(columns[c], fontsize=9)
            if c == 0 and r < len(row_names):
                ax.set_ylabel(row_names[r], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    # the title's own band
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()) if title else None)
    return fig
