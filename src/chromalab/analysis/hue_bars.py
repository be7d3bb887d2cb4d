"""Hue fidelity drawn: for each ``chromalab evaluate`` summary, the shares of the chromatic pixels in the five
named hue bands (``evaluation.hues.NAMED_BANDS``), the model's bars beside the truth's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from chromalab.analysis.figures import new_figure
from chromalab.evaluation.hues import NAMED_BANDS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# one sRGB colour per band, for the bars (the band's middle at Lab chroma ~50, L 60)
BAND_COLORS = {
    "violet_magenta": "#b05cb8",
    "red_orange": "#d8684a",
    "yellow": "#c9a634",
    "green": "#5f9f4f",
    "cyan_blue": "#3c8fc0",
}
WIDTH = 0.38  # of a bar, in band widths


@dataclass(frozen=True)
class HueShares:
    """The hue fidelity of one evaluation: band key -> share of the chromatic pixels, and the distance."""

    model: dict[str, float]
    truth: dict[str, float]
    tv: float  # total-variation distance of the 12-band histograms


def read_hue_shares(path: Path) -> HueShares:
    """The hue fidelity in an ``evaluate --json`` file; ValueError when it has none or no chromatic pixel."""
    try:
        metrics = json.loads(Path(path).read_text())["metrics"]
        model, truth = (
            {band.key: metrics[f"hue_{band.key}{suffix}"] for band in NAMED_BANDS} for suffix in ("", "_gt")
        )
        shares = HueShares(model, truth, metrics["hue_tv"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        raise ValueError(
            f"{path}: not the JSON of a 'chromalab evaluate --json' on photos (no hue shares in "
            "it; evaluations made before hue fidelity lack them)"
        ) from None
    if shares.tv is None:
        raise ValueError(f"{path}: no chromatic pixels to draw (a grey model or grey photos)")
    return shares


def hue_bars(evaluations: Sequence[tuple[str, HueShares]]) -> Figure:
    """One panel per (name, shares): per band, the model's bar (solid) beside the truth's (hatched)."""
    fig, axes = new_figure((1.2 + 4.2 * len(evaluations), 3.2), 1, len(evaluations))
    x = np.arange(len(NAMED_BANDS))
    colors = [BAND_COLORS[band.key] for band in NAMED_BANDS]
    for ax, (name, shares) in zip(axes[0], evaluations, strict=True):
        ax.bar(
            x - WIDTH / 2,
            [shares.model[band.key] for band in NAMED_BANDS],
            WIDTH,
            color=colors,
            label="model",
        )
        ax.bar(
            x + WIDTH / 2,
            [shares.truth[band.key] for band in NAMED_BANDS],
            WIDTH,
            color=colors,
            alpha=0.45,
            hatch="//",
            edgecolor="#333333",
            linewidth=0.5,
            label="truth",
        )
        ax.set_xticks(x, [band.label for band in NAMED_BANDS], fontsize=8)
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        ax.set_title(f"{name}\nhue distance (TV) {shares.tv:.3f}", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes[0, 0].set_ylabel("share of chromatic pixels (chroma > 10)", fontsize=8)
    fig.tight_layout()
    return fig
