"""The pictures a participant sees: every photo of a pair resized to one display size and re-encoded the same
way, and the random-colours picture of the attention checks.

Display size: the longest side is ``DISPLAY_SIDE`` (256, Zhang et al. 2016's size; they cropped to 256x256,
here the aspect is kept), up or down. Both pictures of a trial get the truth's display size and the same JPEG
encoding (quality 95), so neither a size, a format (a JPEG truth beside a PNG colorization) nor a file's
compression history tells them apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from chromalab.color.srgb8 import rgb_lightness_u8, upsample_lab_to_srgb8
from chromalab.images import encode_image, open_rgb

DISPLAY_SIDE = 256
MAX_ASPECT_CHANGE = 0.02  # a method's picture may differ from the truth's aspect ratio by rounding, no more
# the attention check's colours: a coarse grid of random hues at a strong chroma, bilinearly spread over the
# photo's own lightness. Skin turns blue, sky turns magenta: obviously wrong, yet the same scene and shading.
RANDOM_GRID = 3  # (3 x 3) colour patches over the picture
RANDOM_CHROMA = (45.0, 70.0)  # ab radius, CIE Lab units


def display_size(width: int, height: int, side: int = DISPLAY_SIDE) -> tuple[int, int]:
    """(width, height) scaled so that the longer one is ``side``, the aspect kept (each at least 1)."""
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def shown_picture(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """The photo at ``path`` as shown: uint8 RGB (h, w, 3) at ``size`` (width, height), by default its own
    display size. Raises ``ImageError`` (unreadable) or ``ValueError`` (another aspect ratio than
    ``size``)."""
    image = Image.fromarray(open_rgb(path))
    if size is None:
        size = display_size(*image.size)
    own, wanted = image.width / image.height, size[0] / size[1]
    if abs(own - wanted) > MAX_ASPECT_CHANGE * wanted:
        raise ValueError(
            f"{image.width}x{image.height}, another aspect ratio than its truth's: not the same photo?"
        )
    return np.asarray(image.resize(size, Image.Resampling.LANCZOS))


def random_colors(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The attention check's picture: ``rgb``'s own lightness (uint8 (h, w, 3)) under random colours."""
    lightness = rgb_lightness_u8(rgb, threads=1)  # (h, w), L in [0, 100]
    hue = rng.uniform(0.0, 2 * np.pi, size=(RANDOM_GRID, RANDOM_GRID))
    chroma = rng.uniform(*RANDOM_CHROMA, size=(RANDOM_GRID, RANDOM_GRID))
    ab = np.stack([chroma * np.cos(hue), chroma * np.sin(hue)]).astype(np.float32)  # (2, grid, grid)
    return upsample_lab_to_srgb8(lightness, ab, threads=1)


def jpeg(rgb: np.ndarray) -> bytes:
    """A shown picture's bytes: the one encoding every picture of a study gets."""
    return encode_image(Image.fromarray(rgb), "JPEG")
