"""A clip through a colorizer, frame by frame as it streams (a few frames in memory, however long the clip):
each frame's lightness -> the network's view -> its answer, steadied along the flow -> decoded -> joined with
the frame's own full-resolution lightness, as for a photo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from chromalab.color.srgb8 import rgb_lightness_u8
from chromalab.colorize.core import BaseColorizer, Prepared
from chromalab.colorize.reference import ReferenceColours
from chromalab.files import atomic_write
from chromalab.images import Lightness
from chromalab.video.clips import DEFAULT_CRF, transcode
from chromalab.video.keyframes import ClipReferences
from chromalab.video.settings import NETWORK_EVERY, TEMPORAL
from chromalab.video.temporal import Stabiliser


class FramePainter:
    """``painter(rgb) -> rgb``: one frame (uint8 (H, W, 3), colour or grey) colorized; call it in frame order.
    ``network_every``: with ``temporal="flow"``, the network runs on every n-th frame (and after a scene cut);
    the frames between take the last answer moved along the flow."""

    def __init__(
        self,
        colorizer: BaseColorizer,
        *,
        temporal: str = "flow",
        network_every: int = NETWORK_EVERY,
        temperature: float | None = None,
        references: ClipReferences | None = None,
        on_frame: Callable[[], None] = lambda: None,
    ) -> None:
        """``references``: keyframes or a reference photo whose colours the clip takes
        (``video.keyframes``)."""
        if temporal not in TEMPORAL:
            raise ValueError(f"--temporal must be one of {', '.join(TEMPORAL)}, got {temporal!r}")
        if network_every < 1:
            raise ValueError(f"--network-every must be at least 1, got {network_every}")
        self.colorizer, self.temperature, self.on_frame = colorizer, temperature, on_frame
        self.stabiliser = Stabiliser() if temporal == "flow" else None
        self.network_every = network_every if temporal == "flow" else 1
        self.since_network = 0  # frames since the network last ran
        self.references = references
        self.index = 0  # of the next frame

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        source = Lightness(rgb_lightness_u8(rgb), None)
        prepared = self.colorizer.view(source)
        view = prepared.network_input[0, 0]
        keyframe_ab = self.references.keyframe_ab(self.index) if self.references is not None else None
        output = None
        if (
            self.stabiliser is not None
            and self.since_network + 1 < self.network_every
            and keyframe_ab is None
        ):
            output = self.stabiliser.carry(view)  # None at a scene cut: then the network looks
        if output is None:
            output = self._network_output(prepared, keyframe_ab)  # (1, Q | 2, h, w)
            if self.stabiliser is not None:
                if keyframe_ab is not None:
                    self.stabiliser.restart()  # the keyframe's colour, not a blend with what came before
                output = self.stabiliser.step(view, output)
            self.since_network = 0
        else:
            self.since_network += 1
        self.index += 1
        ab = self.colorizer.decode_output(output, temperature=self.temperature)
        # a keyframe's frame too: its colours at the network's grid, as its neighbours are rendered (its own
        # full-resolution ab would jump in and out of the clip; measured in bench/bench_reference.py)
        painted = np.asarray(self.colorizer.render(source, ab))
        self.on_frame()
        return painted

    def _network_output(self, prepared: Prepared, keyframe_ab: np.ndarray | None) -> Any:
        """The network's answer for this frame: guided by the references around it, and at a keyframe
        pulled to the keyframe's colours everywhere, so that the stabiliser carries them on."""
        reference = self.references.reference_for(self.index) if self.references is not None else None
        if reference is None:
            return self.colorizer.network_output(prepared.network_input)
        output = self.colorizer.reference_network_output(prepared, reference)
        centres = self.colorizer.bin_centres
        if keyframe_ab is None or centres is None:
            return output
        trusted = np.ones(keyframe_ab.shape[1:], np.float32)  # everywhere; guide brings both to the grid
        return ReferenceColours(keyframe_ab, trusted).guide(np.asarray(output), centres)


def colorize_clip(
    colorizer: BaseColorizer,
    source: Path,
    target: Path,
    *,
    temporal: str = "flow",
    network_every: int = NETWORK_EVERY,
    temperature: float | None = None,
    crf: int = DEFAULT_CRF,
    references: ClipReferences | None = None,
    on_frame: Callable[[], None] = lambda: None,
) -> int:
    """Write ``target`` (MP4): ``source`` colorized, same frames, size and rate, audio kept; returns the frame
    count. Written atomically: an interrupted run leaves nothing under ``target``."""
    painter = FramePainter(
        colorizer,
        temporal=temporal,
        network_every=network_every,
        temperature=temperature,
        references=references,
        on_frame=on_frame,
    )
    written: list[int] = []
    atomic_write(Path(target), lambda tmp: written.append(transcode(source, tmp, painter, crf=crf)))
    return written[0]
