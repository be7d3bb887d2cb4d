"""Hue fidelity: which hues a colorization gives its chromatic pixels, against the truth's.

A pixel is chromatic when its Lab chroma sqrt(a^2 + b^2) exceeds ``CHROMATIC`` (below it the hue angle is
noise); its hue is the Lab hue angle atan2(b, a) in degrees. Counts are kept per whole degree
(``hue_counts``: 360 columns, column k = hues in [k, k + 1)), so a set can pool its pixels exactly and any
band edges on whole degrees can be read off afterwards:

- ``NAMED_BANDS``: five bands a reader recognises (violet+magenta, red/orange, yellow, green, cyan/blue), the
  shares that show a colorizer's typical failure (a violet cast where the truth is yellow and green);
- ``tv_distance``: the total-variation distance 1/2 sum |p - q| between the two ``HISTOGRAM_BANDS``-band
  histograms (30 degrees each), 0 when the hues are distributed as the truth's, 1 when they never meet.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

CHROMATIC = 10.0  # Lab chroma above which a pixel has a hue
HISTOGRAM_BANDS = 12  # bands of 30 degrees, from 0 degrees (the +a axis)


class HueBand(NamedTuple):
    """Hues in [start, end) degrees on the circle (start may be negative: the band crosses 0)."""

    key: str  # in the JSON keys: hue_<key>
    label: str
    start: int
    end: int


# Together they cover the circle once. Lab hue angles of typical colours: red ~40, orange ~60, yellow ~95,
# green ~140, cyan ~-164, sky blue -125, steel blue -97, violet ~-50, magenta ~-32. sRGB's saturated primary
# blue sits at -54, with the violets: the blues of photos (sky, water, denim) are at -80 to -130.
NAMED_BANDS = (
    HueBand("violet_magenta", "violet+magenta", -75, 20),
    HueBand("red_orange", "red/orange", 20, 70),
    HueBand("yellow", "yellow", 70, 115),
    HueBand("green", "green", 115, 180),
    HueBand("cyan_blue", "cyan/blue", 180, 285),
)
DEGREES = 360


def hue_counts(ab: np.ndarray) -> np.ndarray:
    """ab (2, H, W) in Lab units -> chromatic pixels per whole degree of hue: (360,) int64, column k = [k,
    k+1)."""
    a, b = np.asarray(ab, dtype=np.float64).reshape(2, -1)
    chromatic = np.hypot(a, b) > CHROMATIC
    degrees = np.degrees(np.arctan2(b[chromatic], a[chromatic])) % DEGREES  # [0, 360)
    columns = np.minimum(np.floor(degrees).astype(np.int64), DEGREES - 1)  # 359.99999 % 360 may round to 360
    return np.bincount(columns, minlength=DEGREES).astype(np.int64)


def band_counts(counts: np.ndarray, start: int, end: int) -> int:
    """Pixels of ``counts`` (360,) with hue in [start, end) degrees; the band may cross 0 (start < 0)."""
    return int(np.asarray(counts)[np.arange(start, end) % DEGREES].sum())


def named_shares(counts: np.ndarray) -> dict[str, float | None]:
    """The share of the chromatic pixels in each of ``NAMED_BANDS``; None for all when there are none."""
    total = int(np.sum(counts))
    return {
        band.key: band_counts(counts, band.start, band.end) / total if total else None for band in NAMED_BANDS
    }


def histogram(counts: np.ndarray) -> np.ndarray:
    """``counts`` (360,) -> the share of the chromatic pixels in each 30-degree band: (12,), summing to 1."""
    bands = np.asarray(counts, dtype=np.float64).reshape(HISTOGRAM_BANDS, -1).sum(axis=1)
    return bands / bands.sum()


def tv_distance(counts: np.ndarray, true_counts: np.ndarray) -> float | None:
    """Total-variation distance between the 12-band hue histograms of ``counts`` and ``true_counts``, in
    [0, 1]; None when either has no chromatic pixel (a grey rendering has no hues to compare)."""
    if not np.sum(counts) or not np.sum(true_counts):
        return None
    return float(0.5 * np.abs(histogram(counts) - histogram(true_counts)).sum())


def hue_summary(counts: np.ndarray, true_counts: np.ndarray, pixels: int) -> dict[str, float | None]:
    """The JSON keys of hue fidelity, of ``pixels`` pixels in all: ``chromatic`` and ``chromatic_gt`` (the
    share of the pixels that are chromatic), ``hue_<band>`` and ``hue_<band>_gt`` (shares of the chromatic
    ones), and ``hue_tv``."""
    ours, truth = named_shares(counts), named_shares(true_counts)
    out: dict[str, float | None] = {
        "chromatic": np.sum(counts) / pixels,
        "chromatic_gt": np.sum(true_counts) / pixels,
    }
    for band in NAMED_BANDS:
        out[f"hue_{band.key}"], out[f"hue_{band.key}_gt"] = ours[band.key], truth[band.key]
    out["hue_tv"] = tv_distance(counts, true_counts)
    return {key: None if value is None else float(value) for key, value in out.items()}
