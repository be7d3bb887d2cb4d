"""Colour for a clip from colour images: a film's keyframes (``--keyframes DIR``, ``000120.png`` = frame 120,
counted from 0) or one reference for every shot (``--reference``).

A keyframe fixes its own frame's colour (the network's answer pulled to the keyframe's ab everywhere, so
the frame takes the keyframe's colours at the network's grid, rendered as every frame is) and restarts the
stabiliser from it, so the frames after it carry its colour along the flow (``video.temporal``); every frame
the network sees is also matched against the keyframes on either side of it (``colorize.reference``, the two
pooled), which carries their colours backwards as well as forwards and into shots without a keyframe, where
they match.
"""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path

import numpy as np

from chromalab.colorize.reference import Reference, ReferenceSource, read_reference
from chromalab.images import IMAGE_SUFFIXES


class KeyframeError(ValueError):
    """A keyframe folder that does not fit its clip (names, frame indices, sizes)."""


class ClipReferences:
    """What colours each frame of a clip, by frame index: ``reference_for(i)`` to match against, and
    ``keyframe_ab(i)``, the ab (2, H, W) that fixes frame i (None for a frame without a keyframe)."""

    def __init__(
        self, keyframes: dict[int, ReferenceSource] | None = None, *, reference: Reference | None = None
    ):
        """``keyframes``: colour images by frame index; or ``reference``: one reference for every frame."""
        self.reference = reference
        self.indices = sorted(keyframes or {})
        self.keyframes = {index: Reference(image) for index, image in (keyframes or {}).items()}
        self._pools: dict[tuple[int, ...], Reference] = {}

    @classmethod
    def from_folder(
        cls, folder: Path, *, frame_count: int | None, frame_size: tuple[int, int]
    ) -> ClipReferences:
        """The keyframes in ``folder`` for a clip of ``frame_count`` frames (None: unknown) of ``frame_size``
        (W, H); ``KeyframeError`` naming the first that does not fit."""
        named = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
        if not named:
            raise KeyframeError(f"{folder}: no keyframe images (name them by frame index: 000120.png)")
        keyframes: dict[int, np.ndarray] = {}
        for path in named:
            if not path.stem.isdigit():
                raise KeyframeError(f"{path}: a keyframe is named by its frame index, e.g. 000120.png")
            index = int(path.stem)
            if index in keyframes:
                raise KeyframeError(f"{path}: a second keyframe for frame {index}")
            if frame_count is not None and index >= frame_count:
                raise KeyframeError(f"{path}: frame {index} is beyond the clip's {frame_count} frames")
            rgb = read_reference(path)
            if (rgb.shape[1], rgb.shape[0]) != frame_size:
                raise KeyframeError(
                    f"{path}: {rgb.shape[1]}x{rgb.shape[0]}, but the clip's frames are "
                    f"{frame_size[0]}x{frame_size[1]}"
                )
            keyframes[index] = rgb
        return cls(keyframes)

    @property
    def paths(self) -> list[Path]:
        return self.reference.paths if self.reference is not None else []

    def keyframe_ab(self, index: int) -> np.ndarray | None:
        keyframe = self.keyframes.get(index)
        return None if keyframe is None else keyframe.labs[0][1:]

    def reference_for(self, index: int) -> Reference | None:
        """The keyframes at or before and after frame ``index`` pooled (kept for the frames between them), or
        the one reference."""
        if self.reference is not None or not self.indices:
            return self.reference
        after = bisect_right(self.indices, index)
        around = tuple(self.indices[max(0, after - 1) : after + 1])
        if around not in self._pools:
            self._pools = {around: Reference.pooled([self.keyframes[i] for i in around])}  # one pair kept
        return self._pools[around]
