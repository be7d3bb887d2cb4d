"""Colour hints: "this point of the photo is this colour". What a hint is, the JSON file users write, and the
sampler that draws hints from a ground-truth photo (for training and for ``evaluate --hints``).

A hint is a pixel (x, y) of the input photo and an ab colour (Lab units); given as sRGB hex its lightness is
ignored, only its chroma is used. The file: ``{"hints": [{"x": 120, "y": 48, "color": "#3a7bd5"},
{"x": 10, "y": 20, "ab": [20, -35]}]}``; a hint may also say ``"side": 5``: the colour is the mean of the
5x5 patch around its point (1 by default: one pixel).

The sampler follows Zhang et al. 2017 ("Real-Time User-Guided Image Colorization with Learned Deep
Priors"): the number of hints from a geometric distribution (p = 1/8), positions from a Gaussian around
the centre (sigma a quarter of each side), each hint's value the mean ab of a square patch of side 1-9
pixels around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from chromalab.color.srgb8 import rgb8_to_lab
from chromalab.files import parse_json

HINT_COUNT_P = 1 / 8  # Zhang et al. 2017: P(N hints) = (1 - p)^N p, N = 0, 1, 2...
PATCH_SIDES = (1, 9)  # patch side drawn uniformly from this range (pixels)
CENTRE_SIGMA = 0.25  # positions ~ N(centre, (side / 4)^2), clipped to the photo
HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")
AB_LIMIT = 128.0
MAX_SIDE = 64  # pixels: a hint's patch (optional "side" in the file; 1 by default)


@dataclass(frozen=True)
class Hint:
    x: int  # column in the input photo, 0 = left
    y: int  # row, 0 = top
    ab: tuple[float, float]  # Lab units
    # the square patch of the photo the colour stands for (the sampler's patch; a click: one pixel)
    side: int = 1


def hex_to_ab(color: str) -> tuple[float, float]:
    """'#3a7bd5' -> its (a, b) in Lab; ValueError for anything but six hex digits."""
    match = HEX.match(color.strip()) if isinstance(color, str) else None
    if match is None:
        raise ValueError(f"colour {color!r} is not an sRGB hex colour like '#3a7bd5'")
    value = int(match.group(1), 16)
    rgb = np.array([(value >> 16) & 255, (value >> 8) & 255, value & 255], dtype=np.uint8)
    lab = rgb8_to_lab(rgb)  # (3,)
    return float(lab[1]), float(lab[2])


def parse_hints(text: str, size: tuple[int, int]) -> list[Hint]:
    """The hints file's text, for a photo of ``size`` (W, H) -> hints; ValueError naming the first problem."""
    document = parse_json(text)
    if not isinstance(document, dict) or not isinstance(document.get("hints"), list):
        raise ValueError(
            'expected {"hints": [{"x": ..., "y": ..., "color": "#rrggbb" or "ab": [a, b]}, ...]}'
        )  # noqa: TRY004 (bad input)
    return as_hints(document["hints"], size)


def as_hints(entries: list[Hint | dict], size: tuple[int, int]) -> list[Hint]:
    """Hints given as ``Hint`` or as the file's dicts, checked against a photo of ``size`` (W, H)."""
    return [_hint(entry, index, size) for index, entry in enumerate(entries)]


def check_point(x: object, y: object, size: tuple[int, int]) -> None:
    """ValueError unless (x, y) is a pixel of a photo of ``size`` (W, H)."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (x, y)):
        raise ValueError("x and y must be whole pixel numbers")
    if not (0 <= x < size[0] and 0 <= y < size[1]):
        raise ValueError(f"({x}, {y}) is outside the {size[0]}x{size[1]} photo")


HINT_FIELDS = frozenset({"x", "y", "color", "ab", "side"})


def _hint(entry: object, index: int, size: tuple[int, int]) -> Hint:
    where = f"hint {index + 1}"
    if isinstance(entry, Hint):
        entry = {"x": entry.x, "y": entry.y, "ab": list(entry.ab), "side": entry.side}
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object with x, y and color or ab")  # noqa: TRY004 (bad input)
    unknown = sorted(str(key) for key in entry if key not in HINT_FIELDS)
    if unknown:  # a misspelt "side" would otherwise be silently the default
        raise ValueError(f"{where}: unknown field {unknown[0]!r} (a hint has x, y, color or ab, and side)")
    x, y = entry.get("x"), entry.get("y")
    try:
        check_point(x, y, size)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if ("color" in entry) == ("ab" in entry):
        raise ValueError(
            f"{where}: give either color (sRGB hex) or ab, not {'both' if 'ab' in entry else 'neither'}"
        )
    side = entry.get("side", 1)
    if not (isinstance(side, int) and not isinstance(side, bool) and 1 <= side <= MAX_SIDE):
        raise ValueError(f"{where}: side must be a whole number of pixels from 1 to {MAX_SIDE}")
    if "color" in entry:
        try:
            return Hint(x, y, hex_to_ab(entry["color"]), side)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    ab = entry["ab"]
    if not (
        isinstance(ab, list)
        and len(ab) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= AB_LIMIT for v in ab)
    ):
        raise ValueError(f"{where}: ab must be two numbers within +-{AB_LIMIT:g}")
    return Hint(x, y, (float(ab[0]), float(ab[1])), side)


def sample_hints(
    ab: np.ndarray, rng: np.random.Generator, *, count: int | None = None, patch: int | None = None
) -> list[Hint]:
    """Hints drawn from a true ab image (2, H, W): ``count`` of them (None: geometric, p = 1/8), each the mean
    of a square patch of side ``patch`` (None: uniform in 1..9) around a point near the centre."""
    _, height, width = ab.shape
    if count is None:
        count = int(rng.geometric(HINT_COUNT_P)) - 1  # numpy's geometric counts trials: 1, 2, ...
    hints = []
    for _ in range(count):
        side = int(rng.integers(PATCH_SIDES[0], PATCH_SIDES[1] + 1)) if patch is None else patch
        y = int(np.clip(round(rng.normal(height / 2, CENTRE_SIGMA * height)), 0, height - 1))
        x = int(np.clip(round(rng.normal(width / 2, CENTRE_SIGMA * width)), 0, width - 1))
        top, left = max(0, y - side // 2), max(0, x - side // 2)
        mean = ab[:, top : top + side, left : left + side].reshape(2, -1).mean(axis=1)
        hints.append(Hint(x, y, (float(mean[0]), float(mean[1])), side))
    return hints


def hint_map(hints: list[Hint], photo_size: tuple[int, int], view_size: tuple[int, int]) -> np.ndarray:
    """The hints of a photo of ``photo_size`` (W, H) as a hint network's input at its view of ``view_size``
    (w, h): (3, h, w) float32, a and b (Lab units) over each hint's patch and a mask that is 1 there; zeros
    elsewhere. A patch keeps its share of the photo (at least one view pixel); a later hint covers an
    earlier."""
    (width, height), (view_width, view_height) = photo_size, view_size
    scale_x, scale_y = view_width / width, view_height / height
    drawn = np.zeros((3, view_height, view_width), dtype=np.float32)
    for hint in hints:
        side = max(1, round(hint.side * min(scale_x, scale_y)))
        column, row = min(int(hint.x * scale_x), view_width - 1), min(int(hint.y * scale_y), view_height - 1)
        top, left = max(0, row - side // 2), max(0, column - side // 2)
        drawn[:, top : top + side, left : left + side] = np.array([*hint.ab, 1.0], dtype=np.float32)[
            :, None, None
        ]
    return drawn
