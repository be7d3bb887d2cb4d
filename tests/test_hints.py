"""Point hints: the JSON file and its errors, hex colours against scikit-image, the sampler's distribution,
hints through the Python API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from chromalab.color.hints import HINT_COUNT_P, Hint, hex_to_ab, parse_hints, sample_hints
from chromalab.colorize.torch_backend import Colorizer
from chromalab.evaluation.metrics import rgb8_to_ab

CHROMALAB = Path(sys.executable).parent / "chromalab"


def test_hex_colors_are_their_lab_chroma() -> None:
    for hex_color in ("#3a7bd5", "ff0000", "#00FF7f", "#808080"):
        value = int(hex_color.lstrip("#"), 16)
        rgb = np.array([[[(value >> 16) & 255, (value >> 8) & 255, value & 255]]], dtype=np.float64) / 255
        np.testing.assert_allclose(hex_to_ab(hex_color), rgb2lab(rgb)[0, 0, 1:], atol=0.01)


def test_the_hints_file() -> None:
    text = json.dumps(
        {"hints": [{"x": 120, "y": 48, "color": "#3a7bd5"}, {"x": 0, "y": 99, "ab": [20, -35.5]}]}
    )
    first, second = parse_hints(text, (200, 100))
    assert (first.x, first.y) == (120, 48) and first.ab == pytest.approx(hex_to_ab("#3a7bd5"))
    assert second == Hint(0, 99, (20.0, -35.5))
    assert parse_hints('{"hints": []}', (10, 10)) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ('[{"x": 1}]', 'expected {"hints"'),
        (
            '{"hints": [{"x": 200, "y": 5, "color": "#000000"}]}',
            "hint 1: (200, 5) is outside the 200x100 photo",
        ),
        ('{"hints": [{"x": 1, "y": -1, "ab": [0, 0]}]}', "outside"),
        ('{"hints": [{"x": 1.5, "y": 1, "ab": [0, 0]}]}', "whole pixel numbers"),
        ('{"hints": [{"x": 1, "y": 1}]}', "not neither"),
        ('{"hints": [{"x": 1, "y": 1, "ab": [0, 0], "color": "#000000"}]}', "not both"),
        ('{"hints": [{"x": 1, "y": 1, "color": "blue"}]}', "hint 1: colour 'blue' is not an sRGB hex"),
        ('{"hints": [{"x": 1, "y": 1, "ab": [0]}]}', "two numbers"),
        ('{"hints": [{"x": 1, "y": 1, "ab": [300, 0]}]}', "two numbers within"),
        ('{"hints": [{"x": 1, "y": 1, "ab": [0, 0]}, 7]}', "hint 2: expected an object"),
        ('{"hints": [{"x": 1, "y": 1, "ab": [0, 0], "sid": 5}]}', "hint 1: unknown field 'sid'"),  # a typo
    ],
)
def test_bad_hints_files_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_hints(text, (200, 100))


def test_the_sampler_follows_zhang_2017() -> None:
    rng = np.random.default_rng(0)
    # a = row, b = column
    ab = np.stack(np.meshgrid(np.arange(64.0), np.arange(48.0)))[::-1].astype(np.float32)
    counts = [len(sample_hints(ab, rng)) for _ in range(4000)]
    assert np.mean(counts) == pytest.approx((1 - HINT_COUNT_P) / HINT_COUNT_P, rel=0.06)  # geometric mean: 7
    assert np.mean(np.array(counts) == 0) == pytest.approx(HINT_COUNT_P, abs=0.02)
    points = [hint for _ in range(300) for hint in sample_hints(ab, rng, count=5, patch=1)]
    xs, ys = np.array([h.x for h in points]), np.array([h.y for h in points])
    assert abs(xs.mean() - 32) < 1.5 and abs(ys.mean() - 24) < 1.5 and 12 < xs.std() < 17  # centre, sigma 16
    assert all(h.ab == (float(h.y), float(h.x)) for h in points)  # a 1-pixel patch: that pixel's ab
    wide = sample_hints(ab, np.random.default_rng(1), count=1, patch=3)[0]
    if 0 < wide.y < 47 and 0 < wide.x < 63:
        assert wide.ab == pytest.approx((wide.y, wide.x))  # a linear ramp's 3x3 mean is its centre


def test_hints_move_the_color_where_they_are_given(photo: np.ndarray) -> None:
    with pytest.warns(UserWarning, match="random weights"):
        colorizer = Colorizer.untrained("tiny", size=32)
    grey = Image.fromarray(photo).convert("L")
    plain = rgb8_to_ab(np.asarray(colorizer.colorize(grey)))
    hinted = rgb8_to_ab(
        np.asarray(
            colorizer.colorize(
                grey, hints=[{"x": 10, "y": 40, "color": "#2040ff"}, Hint(24, 6, (35.0, 25.0))]
            )
        )
    )
    assert hinted[1, 40, 10] < plain[1, 40, 10] - 20  # blue: b drops
    assert hinted[0, 6, 24] > plain[0, 6, 24] + 15  # red: a rises (L there is 48: in gamut)
    assert float(np.abs(hinted - plain)[:, 50:, 45:].mean()) < 5  # away from both: little change
    with pytest.raises(ValueError, match="outside"):
        colorizer.colorize(grey, hints=[{"x": 64, "y": 0, "ab": [0, 0]}])


def test_cli_hints(photo: np.ndarray, tmp_path: Path) -> None:
    grey = tmp_path / "photo.png"
    Image.fromarray(photo).convert("L").save(grey)
    hints = tmp_path / "hints.json"
    # saved as Windows Notepad saves UTF-8: with a byte-order mark, which is read as any other file
    hints.write_text(json.dumps({"hints": [{"x": 10, "y": 40, "color": "#2040ff"}]}), encoding="utf-8-sig")
    done = subprocess.run(
        [
            CHROMALAB,
            "colorize",
            str(grey),
            "--hints",
            str(hints),
            "--model",
            "none",
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ab = rgb8_to_ab(np.asarray(Image.open(tmp_path / "out" / "photo.png").convert("RGB")))
    assert ab[1, 40, 10] < -20  # blue where the hint is
    again = subprocess.run(done.args, capture_output=True, text=True, check=False)  # its output exists now
    assert again.returncode == 1 and again.stderr.strip().endswith("exists (pass --overwrite to replace it)")
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"hints": [{"x": 10, "y": 64, "color": "#2040ff"}]}))
    for bad, message in ((outside, "outside the 64x64 photo"), (tmp_path / "nope.json", "no such file")):
        done = subprocess.run(
            [CHROMALAB, "colorize", str(grey), "--hints", str(bad), "-o", str(tmp_path / "c")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert str(bad) in done.stderr and not (tmp_path / "c" / "photo.png").exists()
