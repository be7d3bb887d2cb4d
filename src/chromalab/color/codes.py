"""Lab stored in 8 bits, as the training cache holds it and the video stabiliser compares frames: L as uint8
codes (OpenCV's 8-bit Lab convention), ab as int8 Lab units. Numpy only."""

from __future__ import annotations

import numpy as np

L_CODES_PER_UNIT = 2.55  # uint8 L code = round(L * 2.55), OpenCV's 8-bit Lab convention (step 0.39 L units)
AB_LIMITS = (-128, 127)  # int8 range of the stored ab


def encode_l(lightness: np.ndarray) -> np.ndarray:
    """L in [0, 100] (any shape) -> uint8 codes."""
    return np.clip(np.rint(np.asarray(lightness, dtype=np.float32) * L_CODES_PER_UNIT), 0, 255).astype(
        np.uint8
    )


def decode_l(codes: np.ndarray) -> np.ndarray:
    """uint8 codes -> L in [0, 100], float32."""
    return np.asarray(codes, dtype=np.float32) / np.float32(L_CODES_PER_UNIT)


def encode_ab(ab: np.ndarray) -> np.ndarray:
    """ab in Lab units (any shape) -> int8."""
    return np.clip(np.rint(np.asarray(ab, dtype=np.float32)), *AB_LIMITS).astype(np.int8)
