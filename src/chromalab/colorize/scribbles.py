"""Scribbles: colour strokes drawn over a photo on a transparent layer, read as the pixels they cover and
their colours (``spreading`` spreads them over the photo, Levin et al. 2004). No training, any model or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from chromalab.color.srgb8 import rgb8_to_lab
from chromalab.images import has_alpha, open_image

STROKE_ALPHA = 0.5  # a pixel is part of a stroke where the PNG is at least this opaque (soft edges are not)


@dataclass
class Strokes:
    """Scribbles at some resolution: where they are and their colour."""

    mask: np.ndarray  # (H, W) bool: stroke pixels
    ab: np.ndarray  # (H, W, 2) float32, Lab units; meaningful under ``mask`` only


def read_strokes(source: str | Path | Image.Image, size: tuple[int, int]) -> Strokes:
    """A colour-on-transparent PNG the size (W, H) of the photo -> ``Strokes`` (the colours' lightness is
    ignored: only their chroma is used). ValueError on a wrong size, no transparency or no stroke."""
    image = source if isinstance(source, Image.Image) else open_image(source)
    if image.size != tuple(size):
        raise ValueError(
            f"the scribbles are {image.size[0]}x{image.size[1]}, the photo {size[0]}x{size[1]}; "
            "draw them on a transparent layer the size of the photo"
        )
    if not has_alpha(image):
        raise ValueError(
            "the scribbles have no transparency: draw colour strokes on a transparent layer (PNG)"
        )
    rgba = np.asarray(image.convert("RGBA"))  # (H, W, 4) uint8
    mask = rgba[..., 3] >= STROKE_ALPHA * 255
    if not mask.any():
        raise ValueError("the scribbles are empty: no pixel is drawn")
    ab = np.zeros((*mask.shape, 2), dtype=np.float32)
    ab[mask] = rgb8_to_lab(rgba[mask, :3])[1:].T  # (N, 2)
    return Strokes(mask, ab)
