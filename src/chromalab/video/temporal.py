"""Colour that stays put from frame to frame: the network's bin probabilities are carried along the optical
flow and blended with each new frame's own, where the flow can be trusted; a scene cut starts afresh.

Blending is geometric (a weighted mean of the network's logits), so agreeing frames keep a sharp
distribution: the stability is not bought by averaging colours away. Logits are log-probabilities up to a
constant per pixel (per channel group for per-channel bins), which the weighted mean keeps so and decoding
ignores (a softmax), so nothing is renormalised; for a regression model the same mean blends ab. Works at the
network's output grid (h, w), with the flow measured on the network's own view of L (S x S) and brought down
to that grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from chromalab.color.codes import decode_l, encode_l
from chromalab.video.flow import flow, reliable, warp

KEEP = 0.9  # weight of the carried history where the flow is reliable (about ten frames of memory)
DOUBTFUL = 0.5  # share of that weight kept where the flow fails its check: colour regions outlast the detail
# (KEEP, DOUBTFUL) measured on the shared clips against 0.8 / 0 and 0.9 / 1 (README, Videos;
# bench/bench_video.py)
CUT = 12.0  # mean |delta L| between two views (Lab units) above which a new scene starts
LOST = 0.6  # share of unreliable flow above which a new scene starts too


@dataclass
class Carried:
    view: np.ndarray  # the previous network view, L as uint8 grey (S, S)
    state: np.ndarray  # (h, w, C) float32: the blended logits over the bins, or ab for a regression model


class Stabiliser:
    """``step(view, output)`` for each frame in order; returns the output to decode, same shape as given. Or,
    for a frame the network did not see, ``carry(view)``: the history alone, moved along the flow."""

    def __init__(self, *, keep: float = KEEP) -> None:
        self.keep = keep
        self.carried: Carried | None = None

    def restart(self) -> None:
        """Forget the history: the next ``step`` starts afresh, as at a scene cut."""
        self.carried = None

    def step(self, view: np.ndarray, output: Any) -> np.ndarray:
        """``view``: L (S, S) in [0, 100], what the network saw; ``output``: its answer (1, C, h, w), an array
        or a tensor (either backend's)."""
        grey = encode_l(view)  # (S, S) uint8, as the cache stores L
        state = np.ascontiguousarray(np.asarray(output[0], dtype=np.float32).transpose(1, 2, 0))  # (h, w, C)
        history = self._history(grey, state.shape[:2])
        if history is not None:
            weight, offsets = history
            state = weight * warp(self.carried.state, offsets) + (1.0 - weight) * state  # geometric mean
        self.carried = Carried(grey, state)
        return _as_output(state)

    def carry(self, view: np.ndarray) -> np.ndarray | None:
        """The previous frame's answer moved to ``view`` along the flow, as ``step`` returns it; None when
        there is nothing to carry (first frame, a scene cut, flow lost): the network must see this frame."""
        grey = encode_l(view)
        grid = self.carried.state.shape[:2] if self.carried is not None else (0, 0)
        history = self._history(grey, grid)
        if history is None:
            return None
        self.carried = Carried(grey, warp(self.carried.state, history[1]))
        return _as_output(self.carried.state)

    def _history(self, grey: np.ndarray, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
        """(weight of the history (h, w, 1), the flow at the grid (h, w, 2)) for this frame; None at the first
        frame and at a scene cut."""
        if self.carried is None or self.carried.state.shape[:2] != grid:
            return None
        previous = self.carried.view
        if np.abs(decode_l(grey) - decode_l(previous)).mean() > CUT:
            return None
        backward, forward = flow(previous, grey), flow(grey, previous)
        trusted = reliable(backward, forward).astype(np.float32)
        if trusted.mean() < 1.0 - LOST:
            return None
        height, width = grid
        scale = np.array([width / grey.shape[1], height / grey.shape[0]], dtype=np.float32)
        offsets = cv2.resize(backward, (width, height), interpolation=cv2.INTER_AREA) * scale
        # share of reliable pixels
        trusted = cv2.resize(trusted, (width, height), interpolation=cv2.INTER_AREA)
        return self.keep * np.maximum(trusted, DOUBTFUL)[..., None], offsets


def _as_output(state: np.ndarray) -> np.ndarray:
    """(h, w, C) -> (1, C, h, w), as the network answers, without a copy: the memory stays channels-last, as
    the network's own output is and as decoding wants it (bins last: 1.2 ms against 4.0 with a copy)."""
    return state.transpose(2, 0, 1)[None]
