"""Scribbles and point hints spread by Levin et al. 2004's system (``colorize.spreading``): the solver against
hand-solved cases, hints as sources (the equations they satisfy, the responses kept between edits, agreement
with fixed hint pixels), the strokes file and its errors, the CLI end to end."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from skimage.color import rgb2lab

from chromalab.color.hints import Hint
from chromalab.color.srgb8 import rgb_lightness_u8
from chromalab.colorize.core import as_lightness, render
from chromalab.colorize.scribbles import Strokes, read_strokes
from chromalab.colorize.spreading import EDGE_SCALE, PRIOR_LEAK, Spreading, affinity, propagate, spread
from chromalab.evaluation.metrics import rgb8_to_ab

CHROMALAB = Path(sys.executable).parent / "chromalab"


def _strokes(shape: tuple[int, int], marks: dict[tuple[int, int], tuple[float, float]]) -> Strokes:
    mask, ab = np.zeros(shape, bool), np.zeros((*shape, 2), np.float32)
    for (y, x), color in marks.items():
        mask[y, x], ab[y, x] = True, color
    return Strokes(mask, ab)


def test_even_lightness_interpolates_between_strokes_linearly() -> None:
    """1 x 5, flat L: every free pixel is the mean of its two neighbours, so the colour runs linearly."""
    ab = propagate(np.full((1, 5), 50.0), _strokes((1, 5), {(0, 0): (0.0, 0.0), (0, 4): (100.0, -20.0)}))
    np.testing.assert_allclose(ab[0], [[0, 0], [25, -5], [50, -10], [75, -15], [100, -20]], atol=1e-4)


def test_one_free_pixel_takes_the_weighted_mean_of_its_neighbours() -> None:
    """1 x 3, L = 20, 30, 60: the middle's window variance and weights, worked out by hand."""
    # the 3x3 window of the middle pixel of a 1-row image (edge-padded): three rows of (20, 30, 60)
    variance = np.var([0.2, 0.3, 0.6] * 3)
    left, right = (math.exp(-((0.3 - level) ** 2) / (EDGE_SCALE * variance)) for level in (0.2, 0.6))
    expected = (left * 10.0 + right * 40.0) / (left + right)
    ab = propagate(
        np.array([[20.0, 30.0, 60.0]]), _strokes((1, 3), {(0, 0): (10.0, 0.0), (0, 2): (40.0, 0.0)})
    )
    assert ab[0, 1, 0] == pytest.approx(expected, abs=1e-4) and ab[0, 1, 0] < 25  # nearer the similar left


def test_an_edge_stops_the_color() -> None:
    lightness = np.full((24, 24), 30.0)
    lightness[:, 12:] = 70.0  # two flat regions
    marks = {
        **{(y, 3): (60.0, 40.0) for y in range(4, 20)},
        **{(y, 20): (-10.0, -50.0) for y in range(4, 20)},
    }
    ab = propagate(lightness, _strokes((24, 24), marks))  # a stroke down the middle of each region
    np.testing.assert_allclose(ab[:, :12].mean(axis=(0, 1)), [60, 40], atol=3)
    np.testing.assert_allclose(ab[:, 12:].mean(axis=(0, 1)), [-10, -50], atol=3)
    flat = propagate(np.full((24, 24), 30.0), _strokes((24, 24), marks))  # no edge: the colours meet halfway
    assert abs(flat[:, 11:13, 0].mean() - 25.0) < 5


def test_with_a_prior_the_color_fades_to_the_models() -> None:
    """1 x 1000, flat L, a stroke at the left end: (1 + mu) U(r) = (U(r-1) + U(r+1)) / 2 (+ mu P) is solved by
    U(r) - P = (80 - P) q^r with q + 1/q = 2 (1 + mu)."""
    prior = np.zeros((1, 1000, 2), np.float32)
    prior[..., 1] = 30.0
    ab = propagate(np.full((1, 1000), 50.0), _strokes((1, 1000), {(0, 0): (80.0, 30.0)}), prior)
    q = (1 + PRIOR_LEAK) - math.sqrt((1 + PRIOR_LEAK) ** 2 - 1)
    for r in (0, 10, 50, 200):
        assert ab[0, r, 0] == pytest.approx(80.0 * q**r, rel=1e-3), r
    # far away: the model's colour
    assert abs(ab[0, -1, 0]) < 0.1 and ab[0, -1, 1] == pytest.approx(30.0, abs=0.01)


def test_a_hint_on_a_strip_makes_its_disc_its_color_and_fades_as_worked_out() -> None:
    """1 x 400, flat L, no model colour (prior 0), a hint at the left end: its disc (pixels 0-2) averages the
    hint's colour exactly, and beyond it the free rows give U(r + 1) = q U(r), q as for the leak above."""
    spreading = Spreading(np.full((1, 400), 50.0), leak=PRIOR_LEAK)
    ab = spreading.solve(np.zeros((1, 400, 2)), {(0, 0): (60.0, -30.0)})[0]  # (400, 2)
    np.testing.assert_allclose(ab[:3].mean(axis=0), [60.0, -30.0], atol=1e-4)
    q = (1 + PRIOR_LEAK) - math.sqrt((1 + PRIOR_LEAK) ** 2 - 1)
    for r in (3, 20, 100):
        assert ab[r + 1, 0] / ab[r, 0] == pytest.approx(q, rel=1e-4), r


@pytest.mark.filterwarnings("error")
def test_a_one_pixel_photo_takes_its_hint() -> None:
    """No neighbours at all: the pixel is its own disc, and it is the hint's colour (no division by zero)."""
    ab = spread(as_lightness(np.full((1, 1), 0.5, np.float32)), hints=[Hint(0, 0, (40.0, -20.0))])
    np.testing.assert_allclose(ab[0, :, 0, 0], [40.0, -20.0], atol=1e-3)


def test_hints_are_sources_on_their_discs_and_nothing_else(photo: np.ndarray) -> None:
    """On a real photo's L with a model colour beneath: A U - b is a sum of one constant per hint disc (its
    strength; two of the discs overlap), zero elsewhere, and each disc's mean is its hint's colour."""
    lightness = rgb2lab(photo)[..., 0]  # (64, 64)
    prior = np.stack(np.meshgrid(np.linspace(-20, 20, 64), np.linspace(10, 40, 64)), axis=-1)  # (64, 64, 2)
    placed = {
        (10, 12): (50.0, 20.0),
        (40, 30): (-30.0, -40.0),
        (41, 33): (-25.0, -35.0),
        (60, 62): (5.0, 70.0),
    }
    spreading = Spreading(lightness, leak=PRIOR_LEAK)
    ab = spreading.solve(prior, placed).reshape(-1, 2).astype(np.float64)
    system = (1 + PRIOR_LEAK) * np.eye(64 * 64) - affinity(lightness).toarray()
    residual = system @ ab - PRIOR_LEAK * prior.reshape(-1, 2)  # (n, 2)
    discs = np.zeros((64 * 64, len(placed)))  # (n, k): g_i
    for i, (centre, color) in enumerate(placed.items()):
        discs[spreading._disc(centre), i] = 1.0
        np.testing.assert_allclose(ab[discs[:, i] > 0].mean(axis=0), color, atol=1e-3)
    strengths = np.linalg.lstsq(discs, residual, rcond=None)[0]  # (k, 2)
    assert np.abs(discs @ strengths - residual).max() < 1e-3  # float32 output of a float64 solve
    assert np.abs(strengths).min() > 0.01  # every hint pushes


def test_moving_one_hint_solves_only_its_response(photo: np.ndarray) -> None:
    """The web app's edit: with the system factorised, dragging one of five hints costs one new response,
    and the answer is the one a fresh system gives."""
    lightness = as_lightness(Image.fromarray(photo).convert("L"))
    hints = [Hint(5 + 11 * i, 8 + 9 * i, (10.0 * i - 20, 30.0 - 10 * i)) for i in range(5)]
    prior_ab = np.full((1, 2, 16, 16), 12.0, np.float32)
    spreading = Spreading.for_photo(lightness)
    spreading.spread(hints, prior_ab)
    solved: list[int] = []
    solve = spreading.solver.solve
    spreading.solver = type(
        "Counting", (), {"solve": lambda self, b: (solved.append(b.shape[1]), solve(b))[1]}
    )()
    moved = [*hints[:-1], Hint(50, 20, hints[-1].ab)]
    again = spreading.spread(moved, prior_ab)
    assert solved == [3]  # one pass: the model's colours (a and b) and the moved hint's response
    np.testing.assert_allclose(again, Spreading.for_photo(lightness).spread(moved, prior_ab), atol=1e-4)


def test_point_hints_agree_with_fixing_their_pixels(photo: np.ndarray) -> None:
    """Sources making a disc's mean the hint's colour against Levin's fixed pixels (the disc set to it):
    they differ by under 5% of the colour the hints bring (measured 4%: a source lets its disc vary about
    the mean), and by at most a fifth of the strongest hint anywhere."""
    lightness = rgb2lab(photo)[..., 0]
    prior = np.zeros((64, 64, 2))
    placed = {(10, 12): (50.0, 20.0), (40, 30): (-30.0, -40.0), (55, 5): (5.0, 70.0)}
    spreading = Spreading(lightness, leak=PRIOR_LEAK)
    as_sources = spreading.solve(prior, placed)
    mask, ab = np.zeros((64, 64), bool), np.zeros((64, 64, 2), np.float32)
    for centre, color in placed.items():
        rows, cols = np.unravel_index(spreading._disc(centre), (64, 64))
        mask[rows, cols], ab[rows, cols] = True, color
    as_pixels = propagate(lightness, Strokes(mask, ab), prior)
    difference = np.abs(as_sources - as_pixels)
    brought = np.abs(as_pixels - prior).mean()  # 13 Lab units
    assert difference.mean() < 0.05 * brought and difference.max() < 70 / 5, (difference.mean(), brought)


def _strokes_png(path: Path, size: tuple[int, int], lines: list[tuple[tuple, tuple]]) -> Path:
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for (start, end), color in lines:
        draw.line([start, end], fill=(*color, 255), width=5)
    layer.save(path)
    return path


def test_strokes_file_and_its_errors(tmp_path: Path) -> None:
    good = _strokes_png(tmp_path / "s.png", (40, 30), [(((5, 5), (30, 5)), (200, 30, 30))])
    strokes = read_strokes(good, (40, 30))
    assert strokes.mask.sum() > 50 and strokes.ab[strokes.mask][:, 0].min() > 40  # red: a >> 0
    with pytest.raises(ValueError, match="the photo 41x30"):
        read_strokes(good, (41, 30))
    Image.new("RGB", (40, 30), "red").save(tmp_path / "opaque.png")
    with pytest.raises(ValueError, match="no transparency"):
        read_strokes(tmp_path / "opaque.png", (40, 30))
    Image.new("RGBA", (40, 30), (255, 0, 0, 0)).save(tmp_path / "empty.png")
    with pytest.raises(ValueError, match="empty"):
        read_strokes(tmp_path / "empty.png", (40, 30))


def test_scribbles_color_a_real_photo_and_keep_its_lightness(photo: np.ndarray, tmp_path: Path) -> None:
    grey = Image.fromarray(photo).convert("L")
    strokes = _strokes_png(tmp_path / "s.png", grey.size, [(((10, 50), (50, 55)), (40, 80, 220))])
    lightness = as_lightness(grey)
    out = np.asarray(render(lightness, spread(lightness, scribbles=strokes)))  # no model
    assert out.shape == (*grey.size[::-1], 3)
    near = rgb8_to_ab(out)[:, 48:58, 10:50].mean(axis=(1, 2))  # under the blue stroke
    assert near[1] < -20  # b << 0: blue
    kept = rgb_lightness_u8(out) - rgb_lightness_u8(np.asarray(grey.convert("RGB")))  # CIE L, both
    assert np.abs(kept).mean() < 1.0  # L kept (up to 8-bit rounding and a little gamut clipping)


def test_cli_scribbles_with_and_without_a_model(photo: np.ndarray, tmp_path: Path) -> None:
    grey = tmp_path / "photo.png"
    Image.fromarray(photo).convert("L").save(grey)
    strokes = _strokes_png(
        tmp_path / "s.png", (photo.shape[1], photo.shape[0]), [(((5, 5), (40, 8)), (220, 200, 30))]
    )
    for model, out in (("tiny", tmp_path / "a"), ("none", tmp_path / "b")):
        done = subprocess.run(
            [
                CHROMALAB,
                "colorize",
                str(grey),
                "--scribbles",
                str(strokes),
                "--model",
                model,
                "--size",
                "32",
                "-o",
                str(out),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert Image.open(out / "photo.png").size == (photo.shape[1], photo.shape[0])
    wrong = _strokes_png(tmp_path / "w.png", (10, 10), [(((1, 1), (5, 5)), (0, 0, 255))])
    for args, message in (
        (["--scribbles", str(wrong)], "the scribbles are 10x10"),
        (["--scribbles", str(tmp_path / "missing.png")], "no such file"),
        (["--model", "none"], "--hints or --scribbles only"),
        (["--scribbles", str(strokes), str(grey)], "one photo per call"),
    ):
        done = subprocess.run(
            [CHROMALAB, "colorize", str(grey), *args, "-o", str(tmp_path / "c")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert not (tmp_path / "c" / "photo.png").exists()
