"""Hue fidelity (``evaluation.hues``): hand-computed angles, bands and distances, and scikit-image's Lab.
``evaluate``'s pooled hue numbers are tested with the other set numbers (test_evaluate.py)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

from chromalab.evaluation import hues
from chromalab.evaluation.metrics import rgb8_to_ab


def ab_at(angles_degrees: list[float], chroma: float = 30.0) -> np.ndarray:
    """One row of pixels (2, 1, N) at these hue angles and ``chroma``."""
    theta = np.radians(angles_degrees)
    return np.stack([chroma * np.cos(theta), chroma * np.sin(theta)])[:, None, :]


def test_hue_counts_by_hand() -> None:
    ab = np.concatenate([ab_at([0.0, 90.5, 180.0, -90.0, -0.4]), ab_at([45.0], chroma=9.9)], axis=2)
    counts = hues.hue_counts(ab)
    assert counts.shape == (360,) and counts.sum() == 5  # the pixel of chroma 9.9 has no hue
    assert counts[[0, 90, 180, 270, 359]].tolist() == [1, 1, 1, 1, 1]  # -90 is 270, -0.4 is 359.6


def test_named_bands_cover_the_circle_once_and_take_their_colors() -> None:
    covered = np.concatenate([np.arange(band.start, band.end) % 360 for band in hues.NAMED_BANDS])
    assert sorted(covered.tolist()) == list(range(360))
    # sRGB colours, each in the band its name says; sRGB's primary blue (hue -54) is violet in Lab terms
    # cyan, sky blue (-125), steel blue (-97)
    named = {
        "violet_magenta": [(255, 0, 255), (128, 0, 255), (0, 0, 255)],
        "red_orange": [(255, 0, 0), (255, 128, 0)],
        "yellow": [(255, 255, 0)],
        "green": [(0, 255, 0), (0, 128, 0)],
        "cyan_blue": [(0, 255, 255), (135, 206, 235), (70, 130, 180)],
    }
    for band, colors in named.items():
        shares = hues.named_shares(hues.hue_counts(rgb8_to_ab(np.array([colors], np.uint8))))
        assert shares[band] == 1.0, (band, shares)


def test_tv_distance_by_hand() -> None:
    one_band = hues.hue_counts(ab_at([10.0, 20.0]))  # both in band [0, 30)
    two_bands = hues.hue_counts(ab_at([10.0, 40.0]))  # half in [0, 30), half in [30, 60)
    assert hues.tv_distance(one_band, one_band) == 0.0
    assert hues.tv_distance(one_band, two_bands) == pytest.approx(0.5)
    assert hues.tv_distance(one_band, hues.hue_counts(ab_at([200.0]))) == pytest.approx(1.0)
    assert hues.tv_distance(np.zeros(360), one_band) is None  # a grey rendering has no hues


def test_hue_counts_agree_with_scikit_image(photos: dict[str, np.ndarray]) -> None:
    for name, rgb in photos.items():
        lab = rgb2lab(rgb)  # (H, W, 3), D65
        a, b = lab[..., 1].ravel(), lab[..., 2].ravel()
        chromatic = np.hypot(a, b) > hues.CHROMATIC
        expected = np.bincount(
            np.floor(np.degrees(np.arctan2(b[chromatic], a[chromatic])) % 360).astype(int), minlength=360
        )
        ours = hues.hue_counts(rgb8_to_ab(rgb))
        # float32 against float64 Lab: a pixel within ~1e-4 of a degree edge or of chroma 10 may fall either
        # way
        assert np.abs(ours - expected).sum() <= max(2, rgb.shape[0] * rgb.shape[1] // 1000), name
