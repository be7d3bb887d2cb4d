"""Optical flow between two frames (OpenCV's DIS, fast on a CPU), where it can be trusted (forward-backward
check), and warping by it. Shared by the temporal stabiliser and the warping-error metric."""

from __future__ import annotations

import cv2
import numpy as np

MANY_CHANNELS = 128  # cv2.remap takes at most this many at once; beyond 4 it places samples to 1/32 pixel
# (within 0.13 of exact bilinear on unit noise moved 3 pixels: ample for the stabiliser's 261 logits, 8x
# faster
# than 4 at a time)
CONSISTENCY = (0.01, 0.5)  # |fw + bw|^2 < 0.01 (|fw|^2 + |bw|^2) + 0.5: Sundaram et al. 2010's occlusion test


def _dis(preset: int) -> cv2.DISOpticalFlow:
    return cv2.DISOpticalFlow_create(preset)


_FAST = _dis(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
_MEDIUM = _dis(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def flow(source: np.ndarray, target: np.ndarray, *, accurate: bool = False) -> np.ndarray:
    """Flow from ``target`` back to ``source``: for each pixel of ``target`` (H, W), the offset (dx, dy) at
    which it is found in ``source``: (H, W, 2) float32. Frames are uint8 grey (H, W)."""
    method = _MEDIUM if accurate else _FAST
    return method.calc(np.ascontiguousarray(target), np.ascontiguousarray(source), None)


def warp(image: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``image`` (H, W[, C]), any number of channels, seen from the other frame: out[y, x] = image[y + dy,
    x + dx] (bilinear, edges repeated). ``offsets`` (H, W, 2) as ``flow`` returns them."""
    height, width = offsets.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    map_x, map_y = grid_x + offsets[..., 0], grid_y + offsets[..., 1]

    def remap(part: np.ndarray) -> np.ndarray:
        moved = cv2.remap(
            np.ascontiguousarray(part), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return moved.reshape(*moved.shape[:2], -1)

    if image.ndim == 2 or image.shape[2] <= 4:
        return remap(image).reshape(image.shape)
    return np.concatenate(
        [remap(image[..., i : i + MANY_CHANNELS]) for i in range(0, image.shape[2], MANY_CHANNELS)], axis=2
    )


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) bool: where following ``backward`` (target -> source) then ``forward`` (source -> target) comes
    back to the start, i.e. the pixel is seen in both frames (not occluded, flow not lost)."""
    returned = warp(forward, backward)  # the forward flow at the place each target pixel came from
    loop = backward + returned
    scale, slack = CONSISTENCY
    return (loop**2).sum(-1) < scale * ((backward**2).sum(-1) + (returned**2).sum(-1)) + slack
