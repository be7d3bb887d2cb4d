"""Scribbles: colour strokes drawn over a photo spread to the pixels around them that have a similar
lightness (Levin, Lischinski and Weiss 2004, "Colorization using Optimization"). No training, any model or
none.

Each unknown colour U(r) (a and b alike) should equal the weighted mean of its eight neighbours',
w_rs ~ exp(-(L_r - L_s)^2 / (EDGE_SCALE sigma_r^2)) with sigma_r^2 the variance of L in r's 3x3 window
(Levin's affinity: colour flows along even lightness and stops at edges); stroke pixels are fixed. That is one
sparse linear system per channel. Given a model's colours ``prior``, every free row also leaks towards
them, (1 + mu) U(r) - sum_s w_rs U(s) = mu P(r): over even lightness a stroke's colour fades by a factor
e every sqrt(3 / (8 mu)) pixels (the eight weights make (3/8) of a Laplacian), and the model's colour
stays elsewhere. Without a model, the strokes' colours fill the photo.

Solved at a working resolution (longest side ``WORKING_SIDE``); ``spread`` returns ab at that size, which
``core.render`` upsamples onto the photo's full-resolution L, as every colorization here is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy import sparse
from scipy.sparse.linalg import splu

from chromalab.color.hints import Hint, as_hints
from chromalab.color.lab import rgb_to_lab
from chromalab.images import Lightness, has_alpha, open_image

WORKING_SIDE = 256  # pixels: ~65k unknowns, one sparse LU in well under a second
STROKE_ALPHA = 0.5  # a pixel is part of a stroke where the PNG is at least this opaque (soft edges are not)
PRIOR_LEAK = 1e-4  # mu: with a model, a stroke's colour fades by e over ~60 working pixels of even lightness
HINT_RADIUS = 2.0  # working pixels: a point hint is a disc this large
EDGE_SCALE = 0.6  # the paper prints 2; with 2, 14% of a stroke's colour crossed a step of 40 L (0.6: 0.2%)
MIN_VARIANCE = 1e-4  # (L / 100)^2: a flat window still separates lightness steps of a few units
NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


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
        raise ValueError(f"the scribbles are {image.size[0]}x{image.size[1]}, the photo {size[0]}x{size[1]}; "
                         "draw them on a transparent layer the size of the photo")
    if not has_alpha(image):
        raise ValueError("the scribbles have no transparency: draw colour strokes on a transparent layer (PNG)")
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0  # (H, W, 4)
    mask = rgba[..., 3] >= STROKE_ALPHA
    if not mask.any():
        raise ValueError("the scribbles are empty: no pixel is drawn")
    ab = np.zeros((*mask.shape, 2), dtype=np.float32)
    drawn = torch.from_numpy(rgba[mask, :3].T.copy())[:, :, None]  # (3, N, 1)
    ab[mask] = rgb_to_lab(drawn)[1:, :, 0].T.numpy()
    return Strokes(mask, ab)


def given_strokes(source: Lightness, *, hints: list[Hint | dict] | None = None,
                  scribbles: str | Path | Image.Image | None = None) -> Strokes:
    """What the user gave for a photo, as strokes: the scribbles file, the point hints, or both (hints on top)."""
    height, width = source.lightness.shape
    given = [] if scribbles is None else [read_strokes(scribbles, (width, height))]
    if hints:
        given.append(strokes_from_hints(as_hints(hints, (width, height)), (width, height)))
    if not given:
        raise ValueError("no hints and no scribbles given")
    return given[0] if len(given) == 1 else merge_strokes(*given)


def strokes_from_hints(hints: list[Hint], size: tuple[int, int]) -> Strokes:
    """Point hints on a photo of ``size`` (W, H) -> strokes: a disc of its colour around each point, of radius
    ``HINT_RADIUS`` working pixels (a one-pixel constraint barely reaches its neighbours in two dimensions)."""
    width, height = size
    radius = HINT_RADIUS / working_scale(size)
    mask, ab = np.zeros((height, width), bool), np.zeros((height, width, 2), np.float32)
    reach = int(np.ceil(radius))
    for hint in hints:
        top, left = max(0, hint.y - reach), max(0, hint.x - reach)
        rows, cols = np.ogrid[top:min(height, hint.y + reach + 1), left:min(width, hint.x + reach + 1)]
        disc = (rows - hint.y) ** 2 + (cols - hint.x) ** 2 <= radius**2  # (h', w') around the point
        mask[top:top + disc.shape[0], left:left + disc.shape[1]] |= disc
        ab[top:top + disc.shape[0], left:left + disc.shape[1]][disc] = hint.ab
    return Strokes(mask, ab)


def merge_strokes(first: Strokes, second: Strokes) -> Strokes:
    """Both sets of strokes; where they overlap, ``second`` wins."""
    return Strokes(first.mask | second.mask, np.where(second.mask[..., None], second.ab, first.ab))


def shrink_strokes(strokes: Strokes, size: tuple[int, int]) -> Strokes:
    """``strokes`` at (w, h): a working pixel is a stroke where most of it was, coloured by the mean there."""
    weight = _resize(strokes.mask.astype(np.float32), size)  # (h, w): share of stroke pixels
    ab = np.stack([_resize(strokes.ab[..., c] * strokes.mask, size) for c in range(2)], axis=-1)
    mask = weight >= 0.5
    ab[mask] /= weight[mask][:, None]
    return Strokes(mask, ab)


def affinity(lightness: np.ndarray) -> sparse.csr_matrix:
    """L (h, w) -> W (n, n), n = h * w: each row the normalised weights of a pixel's eight neighbours."""
    h, w = lightness.shape
    unit = lightness.astype(np.float64) / 100.0  # (h, w): L in [0, 1]
    level = np.pad(unit, 1, mode="edge")  # (h + 2, w + 2)
    windows = np.stack([level[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in [(0, 0), *NEIGHBOURS]])
    variance = np.maximum(windows.var(axis=0), MIN_VARIANCE)  # (h, w): sigma_r^2
    index = np.arange(h * w).reshape(h, w)
    rows, cols, weights = [], [], []
    for dy, dx in NEIGHBOURS:
        ys, xs = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
        moved = (slice(ys.start + dy, ys.stop + dy), slice(xs.start + dx, xs.stop + dx))
        step = unit[ys, xs] - unit[moved]
        rows.append(index[ys, xs].ravel())
        cols.append(index[moved].ravel())
        weights.append(np.exp(-step.ravel() ** 2 / (EDGE_SCALE * variance[ys, xs].ravel())) + 1e-12)  # > 0: connected
    matrix = sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                               shape=(h * w, h * w))
    return sparse.diags(1.0 / np.asarray(matrix.sum(axis=1)).ravel()) @ matrix


def propagate(lightness: np.ndarray, strokes: Strokes, prior: np.ndarray | None = None) -> np.ndarray:
    """L (h, w) and strokes at the same size -> ab (h, w, 2): the strokes' colours spread (Levin et al.),
    leaking towards ``prior`` (h, w, 2) where given."""
    h, w = lightness.shape
    n = h * w
    free = ~strokes.mask.ravel()
    leak = PRIOR_LEAK if prior is not None else 0.0
    system = sparse.diags(np.where(free, 1.0 + leak, 1.0)) - sparse.diags(free.astype(np.float64)) @ affinity(lightness)
    solver = splu(system.tocsc())
    ab = np.empty((n, 2))
    for c in range(2):
        given = np.where(free, 0.0, strokes.ab[..., c].ravel())
        if prior is not None:
            given += np.where(free, leak * prior[..., c].ravel(), 0.0)
        ab[:, c] = solver.solve(given)
    return ab.reshape(h, w, 2).astype(np.float32)


def working_scale(size: tuple[int, int]) -> float:
    """Working size / photo size for a photo of ``size`` (W, H): its longest side at most ``WORKING_SIDE``."""
    return min(1.0, WORKING_SIDE / max(size))


def spread(source: Lightness, strokes: Strokes, prior_ab: Any = None) -> np.ndarray:
    """A photo's full-resolution L and its strokes -> ab (1, 2, h, w) at the working size, ready for
    ``core.render``; ``prior_ab`` (1, 2, h', w') is a model's colour at any resolution (None: the strokes alone)."""
    height, width = source.lightness.shape
    scale = working_scale((width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # (w, h) working
    prior = None if prior_ab is None else np.stack([_resize(np.asarray(prior_ab)[0, c], size) for c in range(2)], -1)
    ab = propagate(_resize(source.lightness, size), shrink_strokes(strokes, size), prior)  # (h, w, 2)
    return np.ascontiguousarray(ab.transpose(2, 0, 1))[None]


def _resize(channel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float channel (H, W) resized to (w, h), antialiased."""
    image = Image.fromarray(np.asarray(channel, dtype=np.float32), mode="F")
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
