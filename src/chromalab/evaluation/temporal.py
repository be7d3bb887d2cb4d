"""Temporal consistency of a clip, computed as it streams (a few frames kept):

- CDC, the colour distribution consistency of ColorMNet (ECCV 2024, after Liu et al. 2021): the Jensen-Shannon
  divergence (natural log) of the per-channel 256-bin RGB histograms of frames t and t + g, averaged over the
  three channels and over t, then over the gaps g = 1, 2, 4. Lower is steadier.
- The warping error of Lai et al. 2018: the mean squared RGB difference (values in [0, 1], summed over the
  channels) between frame t and frame t - 1 warped to it along the optical flow of the GROUND TRUTH, over the
  pixels the flow sees in both frames (forward-backward check), averaged over t.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chromalab.video.flow import flow, reliable, warp

CDC_GAPS = (1, 2, 4)


def rgb_histograms(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> (3, 256) float64, each row a distribution."""
    counts = np.stack([np.bincount(rgb[..., c].reshape(-1), minlength=256) for c in range(3)]).astype(
        np.float64
    )
    return counts / counts.sum(axis=1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (nats) of distributions along the last axis."""
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, a * np.log(a / m), 0.0).sum(-1)

    return 0.5 * kl(p) + 0.5 * kl(q)


@dataclass
class TemporalScores:
    """One clip's frames, added in order: ``add(frame, truth)``; then ``summary()``. The flow is the
    truth's."""

    histograms: list[np.ndarray] = field(default_factory=list)  # (3, 256) per frame
    warp_errors: list[float] = field(default_factory=list)
    previous: np.ndarray | None = None  # the last frame added, float [0, 1] (H, W, 3)

    def add(self, rgb: np.ndarray, motion: tuple[np.ndarray, np.ndarray] | None) -> None:
        """``motion``: (the truth's flow from this frame back to the previous one, where it is reliable) or
        None for the first frame."""
        self.histograms.append(rgb_histograms(rgb))
        frame = rgb.astype(np.float32) / 255.0
        if motion is not None and self.previous is not None:
            backward, seen = motion
            difference = ((frame - warp(self.previous, backward)) ** 2).sum(-1)  # (H, W)
            self.warp_errors.append(float(difference[seen].mean()) if seen.any() else 0.0)
        self.previous = frame

    def summary(self) -> dict[str, float | None]:
        gaps = [
            np.mean(
                [
                    js_divergence(a, b).mean()
                    for a, b in zip(self.histograms, self.histograms[g:], strict=False)
                ]
            )
            for g in CDC_GAPS
            if len(self.histograms) > g
        ]
        return {
            "cdc": float(np.mean(gaps)) if gaps else None,
            "warping_error": float(np.mean(self.warp_errors)) if self.warp_errors else None,
        }


def truth_motion(previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flow of the ground truth from ``current`` back to ``previous`` (uint8 RGB frames) and where it
    holds."""
    grey_prev, grey_now = (np.asarray(f.mean(-1), dtype=np.uint8) for f in (previous, current))
    backward = flow(grey_prev, grey_now, accurate=True)
    return backward, reliable(backward, flow(grey_now, grey_prev, accurate=True))
