"""Colour from a reference photo: where the grey photo looks like a part of a colour photo the user gives (the
same place, uniform, car or person), that part's colour is carried over; elsewhere the automatic colours stay.

Both photos pass through the network's encoder (the reference as its lightness alone, so that both are seen
alike); each cell of the photo's 1/8 grid is compared with every cell of the reference's by the cosine of
their encoder features (the 1/8 and 1/16 maps, each unit length, side by side: the 1/16 map says what a thing
is, the 1/8 map where its edges are). A cell whose best match reaches ``MATCH_THRESHOLD`` takes the
reference's ab as a softmax-weighted mean over its closest cells (``ATTENTION_TEMPERATURE``), with a
confidence that rises from 0 at the threshold to 1 at ``MATCH_THRESHOLD + CONFIDENCE_SPAN``. The matched
colours go to a hint-capable network as dense hints (Zhang et al. 2017's hint map and mask), and then pull
its logits towards them by their confidence (``ReferenceColours.guide``: a log-likelihood over the bins, so
any temperature, and a video's stabiliser, see the guided answer; measured on kodak24 as good as blending the
decoded ab, +6.09 against +6.03 dB). No confident cell, or a reference with no colour: exactly the
automatic result. The threshold was chosen on kodak24 and cbsd68 (``bench/bench_reference.py``): a truth seen
mirrored and cropped matches on ~40 % of the cells, another photo of the set on ~2 %, random noise on ~0.5 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from chromalab.color.srgb8 import rgb8_to_lab
from chromalab.colorize.core import BaseColorizer, Prepared, network_view
from chromalab.images import open_image, resize_channel, resize_channels, split_alpha

MATCH_STRIDES = (8, 16)  # the encoder maps compared; the first is the grid the colours are carried on
MATCH_THRESHOLD = 0.65  # cosine of the best match below which a cell keeps its automatic colour
CONFIDENCE_SPAN = 0.1  # cosine above the threshold at which a match is trusted fully
ATTENTION_TEMPERATURE = 0.02  # softmax temperature over the cosines: a mean over a few close cells
GUIDE_SIGMA = 5.0  # Lab units: the width of a trusted reference colour's pull on the bins (soft-encoding's)
COLOURLESS_CHROMA = 5.0  # Lab units: a reference with no pixel more chromatic than this carries no colour
COLOURLESS_SHARE = 0.01  # ... or with fewer than this share of such pixels

ReferenceSource = Image.Image | np.ndarray | str | Path


class NoMatchingFeatures(ValueError):
    """The model's encoder does not show the feature maps a reference is matched with."""


@dataclass
class ReferenceColours:
    """The reference's colours carried onto the photo's view: on the grid of its first matching map."""

    ab: np.ndarray  # (2, h, w) float32, Lab units
    confidence: np.ndarray  # (h, w) float32 in [0, 1]; 0 where nothing matched (the automatic colour stays)

    @property
    def matched_share(self) -> float:
        """The share of the photo's cells that take some of the reference's colour."""
        return float((self.confidence > 0).mean())

    def hint_map(self, side: tuple[int, int]) -> np.ndarray:
        """The matched cells as a hint network's input at a view of ``side`` (S, S): (1, 3, S, S), ab and a
        mask of 1 on each confident cell, zeros elsewhere (``color.hints.hint_map``'s layout)."""
        height, width = side
        mask = _upscale_nearest(self.confidence > 0, (height, width)).astype(np.float32)
        ab = _upscale_nearest(self.ab, (height, width))
        return np.concatenate([ab * mask, mask[None]])[None].astype(np.float32)

    def guide(self, logits: np.ndarray, centres: np.ndarray) -> np.ndarray:
        """The network's logits (1, Q, h, w) over bins at ``centres`` (Q, 2) with the reference's colours
        added as a log-likelihood: -confidence |centre - ab|^2 / (2 GUIDE_SIGMA^2) for each bin, so that any
        decoding (any temperature, the video stabiliser's blends) leans to them where they are trusted."""
        logits = np.asarray(logits, dtype=np.float32)
        height, width = logits.shape[-2:]
        weight = resize_channel(self.confidence, (width, height)).reshape(1, -1)  # (1, h * w)
        ab = resize_channels(self.ab, (width, height)).reshape(2, -1)  # (2, h * w)
        distance = ((centres[:, :, None] - ab[None]) ** 2).sum(axis=1)  # (Q, h * w)
        pull = (-weight / (2.0 * GUIDE_SIGMA**2)) * distance
        return logits + pull.reshape(1, -1, height, width).astype(np.float32)

    def blend(self, ab_small: np.ndarray) -> np.ndarray:
        """ab (1, 2, h, w) of the network with the reference's colours mixed in by confidence."""
        height, width = ab_small.shape[-2:]
        weight = resize_channel(self.confidence, (width, height))
        ab = resize_channels(self.ab, (width, height))
        return (ab_small[0] * (1.0 - weight) + ab * weight)[None].astype(np.float32)


class Reference:
    """Colour photos to take colours from (one, or a film's keyframes pooled), read once for any number of
    photos: their ab and lightness, and their cells at each view side asked for (kept)."""

    def __init__(self, *sources: ReferenceSource) -> None:
        """``sources``: paths, PIL images or RGB arrays (H, W, 3) uint8; ``ImageError`` (a ``ValueError``) for
        a file that is not a usable photo."""
        self.paths = [Path(source) for source in sources if isinstance(source, (str, Path))]  # never outputs
        self.labs = [rgb8_to_lab(read_reference(source)) for source in sources]  # each (3, H, W)
        self.colourless = all(_colourless(lab[1:]) for lab in self.labs)  # also when there are none
        self._cells: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}  # (colorizer, side) -> cells

    @classmethod
    def pooled(cls, references: list[Reference]) -> Reference:
        """Several references as one: their photos' cells side by side."""
        pooled = cls()
        pooled.paths = [path for reference in references for path in reference.paths]
        pooled.labs = [lab for reference in references for lab in reference.labs]
        pooled.colourless = all(reference.colourless for reference in references)
        return pooled

    def cells(self, colorizer: BaseColorizer, side: int) -> tuple[np.ndarray, np.ndarray]:
        """(descriptors (C, N), ab (2, N)): every cell of every photo with colour (``_descriptors``) at a
        square view of ``side``, as ``colorizer`` sees a photo."""
        key = (id(colorizer), side)
        if key not in self._cells:
            descriptors, colours = [], []
            for lab in self.labs:
                if _colourless(lab[1:]):
                    continue  # a grey photo among them gives no colour, and takes no match
                maps = colorizer.encoder_maps(colorizer.encode(network_view(lab[0], side)))
                cells = _descriptors(_checked(maps))  # (C, h, w)
                height, width = cells.shape[1:]
                descriptors.append(cells.reshape(len(cells), -1))
                colours.append(resize_channels(lab[1:], (width, height)).reshape(2, -1))  # (2, h * w)
            self._cells[key] = (np.concatenate(descriptors, axis=1), np.concatenate(colours, axis=1))
        return self._cells[key]


def check_matchable(colorizer: BaseColorizer) -> None:
    """``NoMatchingFeatures`` unless ``colorizer``'s encoder shows the maps a reference is matched with (one
    small view through the encoder)."""
    _checked(colorizer.encoder_maps(colorizer.encode(np.zeros((1, 1, 64, 64), np.float32))))


def as_reference(reference: Reference | ReferenceSource | list[ReferenceSource]) -> Reference:
    """What ``colorize(reference=...)`` takes: a ``Reference``, one photo, or a list or tuple of photos."""
    if isinstance(reference, Reference):
        return reference
    return Reference(*reference) if isinstance(reference, (list, tuple)) else Reference(reference)


def read_reference(reference: ReferenceSource) -> np.ndarray:
    """A reference photo (a path, a PIL image or an RGB array (H, W, 3) uint8) as 8-bit RGB (H, W, 3),
    upright, its alpha dropped; ``ImageError`` for a file that is not a usable photo."""
    if isinstance(reference, np.ndarray):
        if reference.dtype != np.uint8 or reference.ndim != 3 or reference.shape[2] != 3:
            raise ValueError(
                f"a reference array must be RGB (H, W, 3) uint8, got {reference.dtype} {reference.shape}"
            )
        return reference
    image = open_image(reference) if isinstance(reference, (str, Path)) else reference
    base, _alpha = split_alpha(image)
    return np.asarray(base.convert("RGB"))


def match_reference(
    colorizer: BaseColorizer, photo_maps: dict[int, np.ndarray], reference: Reference, side: int
) -> ReferenceColours:
    """The reference's colours where its encoder features match the photo's: ``photo_maps`` are the photo's
    encoder maps (``BaseColorizer.encoder_maps``), ``side`` its view's side; the reference is seen at a
    square view of the same side, as the photo is."""
    photo_cells = _descriptors(_checked(photo_maps))  # (C, h, w)
    _, height, width = photo_cells.shape
    if reference.colourless:
        return _nothing_matched(height, width)
    reference_cells, reference_ab = reference.cells(colorizer, side)  # (C, N), (2, N)
    cosines = photo_cells.reshape(len(photo_cells), -1).T @ reference_cells  # (h * w, N)
    best = cosines.max(axis=1)  # (h * w,)
    attention = np.exp((cosines - best[:, None]) / ATTENTION_TEMPERATURE)
    attention /= attention.sum(axis=1, keepdims=True)
    carried = (attention @ reference_ab.T).T.reshape(2, height, width)
    confidence = np.clip((best - MATCH_THRESHOLD) / CONFIDENCE_SPAN, 0.0, 1.0).reshape(height, width)
    return ReferenceColours(carried.astype(np.float32), confidence.astype(np.float32))


def reference_output(
    colorizer: BaseColorizer, prepared: Prepared, reference: Reference, hint_map: np.ndarray | None
) -> tuple[Any, ReferenceColours]:
    """The network's answer for ``prepared`` given a reference (and the user's own ``hint_map``, drawn over
    the reference's), and the matched colours, for ``BaseColorizer.guided_output``.
    ``NoMatchingFeatures`` for a model whose encoder maps cannot be matched."""
    encoded = colorizer.encode(prepared.network_input)
    side = prepared.network_input.shape[-1]
    colours = match_reference(colorizer, colorizer.encoder_maps(encoded), reference, side)
    view = prepared.network_input.shape[-2:]
    return output_with_colours(colorizer, encoded, colours, hint_map, view), colours


def output_with_colours(
    colorizer: BaseColorizer,
    encoded: Any,
    colours: ReferenceColours,
    hint_map: np.ndarray | None,
    view: tuple[int, int],
) -> Any:
    """The network's answer from ``encode``'s features with matched ``colours`` as dense hints at a view of
    ``view`` (S, S), the user's ``hint_map`` drawn over them; a network without hint inputs gets neither.
    ``BaseColorizer.guided_output`` then pulls it towards the colours."""
    if not colorizer.takes_hints:
        return colorizer.hinted_output(encoded, hint_map)
    dense = colours.hint_map(view)
    if hint_map is not None:
        dense = np.where(hint_map[:, 2:3] > 0, hint_map, dense)  # the user's hints win where they are
    return colorizer.hinted_output(encoded, dense if dense[:, 2].any() else None)


def _checked(maps: dict[int, np.ndarray] | None) -> dict[int, np.ndarray]:
    if not maps or any(stride not in maps for stride in MATCH_STRIDES):
        raise NoMatchingFeatures(
            "colour from a reference needs a model whose encoder features can be matched, such as 'default'"
        )
    return maps


def _descriptors(maps: dict[int, np.ndarray]) -> np.ndarray:
    """One unit-length descriptor per cell of the first matching map: (C, h, w) float32, the unit-length
    maps of ``MATCH_STRIDES`` side by side, coarser ones repeated onto the first's grid."""
    height, width = maps[MATCH_STRIDES[0]].shape[-2:]
    parts = [_unit(_upscale_nearest(maps[stride][0], (height, width))) for stride in MATCH_STRIDES]
    return _unit(np.concatenate(parts))


def _unit(cells: np.ndarray) -> np.ndarray:
    """Each cell's feature vector (along axis 0) scaled to length 1 (a zero vector stays zero)."""
    cells = np.asarray(cells, dtype=np.float32)
    return cells / np.maximum(np.linalg.norm(cells, axis=0, keepdims=True), 1e-6)


def _upscale_nearest(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(..., h, w) -> (..., H, W): each cell repeated over the pixels it covers (any ratio)."""
    height, width = array.shape[-2:]
    rows = np.minimum(np.arange(shape[0]) * height // shape[0], height - 1)
    cols = np.minimum(np.arange(shape[1]) * width // shape[1], width - 1)
    return array[..., rows[:, None], cols[None, :]]


def _colourless(ab: np.ndarray) -> bool:
    """Whether a reference's ab (2, H, W) has (almost) no colour to give: a grey photo."""
    chroma = np.hypot(ab[0], ab[1])
    return float((chroma > COLOURLESS_CHROMA).mean()) < COLOURLESS_SHARE


def _nothing_matched(height: int, width: int) -> ReferenceColours:
    return ReferenceColours(np.zeros((2, height, width), np.float32), np.zeros((height, width), np.float32))
