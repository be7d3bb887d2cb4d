"""Decoding in numpy: the network's scores over ab bins -> one colour per pixel, by the methods of
``decoding`` (mode, mean, annealed mean, mode-hue).

Torch-free, so that the ONNX backend decodes a graph's logits without importing torch;
``bins.JointBins.decode`` and ``bins.ChannelBins.decode`` hand their tensors here, so both backends decode
with this one code.

Shapes: logits (B, Q, H, W) for Q joint bins, (B, 2N, H, W) for N bins per channel (a's N, then b's N);
centres (Q, 2) or (N,); the colour (B, 2, H, W) in Lab units, float32.
"""

from __future__ import annotations

import numpy as np

from chromalab.color.decoding import (
    DECODE_METHODS,
    DEFAULT_TEMPERATURE,
    MODE_BELOW,
    MODE_HUE_MIN_CHROMA,
    MODE_HUE_RADIUS,
)


def check_method(method: str) -> str:
    if method not in DECODE_METHODS:
        raise ValueError(f"unknown decode method {method!r}; choose one of {', '.join(DECODE_METHODS)}")
    return method


def decode_joint(
    logits: np.ndarray,
    centres: np.ndarray,
    *,
    method: str = "annealed",
    temperature: float = DEFAULT_TEMPERATURE,
    near_mode: np.ndarray | None = None,
) -> np.ndarray:
    """logits (B, Q, H, W) -> ab (B, 2, H, W). ``near_mode`` (Q, Q) bool, ``mode_neighbourhoods(centres)``,
    is what mode-hue needs (made here when not given; a caller decoding often keeps it)."""
    centres = np.asarray(centres, dtype=np.float32)
    scores = _bins_last(logits)  # (B, H, W, Q)
    if _is_mode(check_method(method), temperature):
        ab = centres[scores.argmax(-1)]  # (B, H, W, 2)
    else:
        weights = _softmax(scores, _temperature(method, temperature))  # (B, H, W, Q)
        ab = weights @ centres
        if method == "mode-hue":
            near = mode_neighbourhoods(centres) if near_mode is None else near_mode
            ab = _in_mode_hue(ab, weights, near[scores.argmax(-1)], centres)
    return np.ascontiguousarray(ab.transpose(0, 3, 1, 2))


def decode_channels(
    logits: np.ndarray,
    centres: np.ndarray,
    *,
    method: str = "annealed",
    temperature: float = DEFAULT_TEMPERATURE,
) -> np.ndarray:
    """logits (B, 2N, H, W), a softmax over each half -> ab (B, 2, H, W); centres (N,), the same for a and
    b."""
    if check_method(method) == "mode-hue":
        raise ValueError("mode-hue decodes joint ab bins; per-channel bins have no hue of their own mode")
    centres = np.asarray(centres, dtype=np.float32)
    count = len(centres)
    channels = []
    for half in (logits[:, :count], logits[:, count:]):
        scores = _bins_last(half)  # (B, H, W, N)
        if _is_mode(method, temperature):
            channels.append(centres[scores.argmax(-1)])
        else:
            channels.append(_softmax(scores, _temperature(method, temperature)) @ centres)
    return np.stack(channels, axis=1)


def annealed_weights(logits: np.ndarray, temperature: float) -> np.ndarray:
    """logits (B, Q, H, W) -> the annealed distribution over the bins, (B, H, W, Q) float32, bins last: what
    the annealed mean averages the centres with (for a decoding of one's own)."""
    return _softmax(_bins_last(logits), temperature)


def mode_neighbourhoods(centres: np.ndarray) -> np.ndarray:
    """(Q, Q) bool: row q is True at the bins within ``MODE_HUE_RADIUS`` of bin q (q itself included)."""
    centres = np.asarray(centres, dtype=np.float32)
    distance = np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=-1)
    return distance <= MODE_HUE_RADIUS


def _is_mode(method: str, temperature: float) -> bool:
    return method == "mode" or (method != "mean" and float(temperature) <= MODE_BELOW)


def _temperature(method: str, temperature: float) -> float:
    return 1.0 if method == "mean" else float(temperature)


def _bins_last(logits: np.ndarray) -> np.ndarray:
    """(B, Q, H, W) -> (B, H, W, Q), contiguous float32: the softmax then runs over contiguous memory. A
    network's channels-last output is already laid out so, and costs no copy."""
    return np.ascontiguousarray(np.asarray(logits, dtype=np.float32).transpose(0, 2, 3, 1))


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """The annealed distribution, Zhang et al. 2016 eq. 5: softmax(log z / T) == softmax(logits / T), over
    the last axis (a new array; ``scores`` is left as it was)."""
    weights = scores / np.float32(temperature)
    weights -= weights.max(axis=-1, keepdims=True)
    np.exp(weights, out=weights)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights


def _in_mode_hue(ab: np.ndarray, weights: np.ndarray, near: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """ab (..., 2) turned to the hue of the weighted mean of the bins near each pixel's mode, keeping its
    chroma; weights (..., Q) of the annealed mean, near (..., Q) bool (the mode's neighbourhood)."""
    weights_near = weights * near  # (..., Q)
    around = weights_near @ centres  # (..., 2), not normalised: only its direction is used
    around_chroma = np.linalg.norm(around, axis=-1, keepdims=True) / weights_near.sum(-1, keepdims=True)
    hue = np.where(around_chroma >= MODE_HUE_MIN_CHROMA, around, ab)  # a grey neighbourhood: ab's own hue
    length = np.maximum(np.linalg.norm(hue, axis=-1, keepdims=True), np.float32(1e-6))
    return (hue / length * np.linalg.norm(ab, axis=-1, keepdims=True)).astype(np.float32)
