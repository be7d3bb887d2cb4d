"""Whole 8-bit photos to and from CIE Lab without torch: the colour tables and the fused C kernels
(``_srgb8``).

``lab.py`` holds the batched, differentiable torch conversions (the reference the tests compare against);
this module is what the pipeline runs on full-resolution photos, and it imports only numpy, so the ONNX
path colorizes, scores and takes hints without loading torch. The colour constants live here; the transfer
curves below are written again in numpy to build the tables and for ``rgb8_to_lab``, the 8-bit colours of
scores, hex hints and scribbles (tests/test_srgb8.py checks them against ``lab.py``).
"""

from __future__ import annotations

import os

import numpy as np

from chromalab.color import _srgb8

# D65 reference white, as in scikit-image's default illuminant
WHITE_D65 = (0.95047, 1.0, 1.08883)
# linear sRGB -> XYZ (IEC 61966-2-1)
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
LUMINANCE_WEIGHTS = XYZ_FROM_RGB[1]  # relative luminance Y of linear sRGB

# CIE f(t): cube root above (6/29)^3, a line of slope 1 / (3 (6/29)^2) below
CIE_EPSILON = (6.0 / 29.0) ** 3
CIE_KAPPA = 1.0 / (3.0 * (6.0 / 29.0) ** 2)


def _srgb_to_linear(value: np.ndarray) -> np.ndarray:
    return np.where(value > 0.04045, ((np.maximum(value, 0.04045) + 0.055) / 1.055) ** 2.4, value / 12.92)


def _linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    return np.where(
        linear > 0.0031308, 1.055 * np.maximum(linear, 0.0031308) ** (1 / 2.4) - 0.055, linear * 12.92
    )


def _cie_f(t: np.ndarray) -> np.ndarray:
    return np.where(t > CIE_EPSILON, np.cbrt(np.maximum(t, CIE_EPSILON)), t * CIE_KAPPA + 4.0 / 29.0)


def _lightness_of_luminance(y: np.ndarray) -> np.ndarray:
    return 116.0 * _cie_f(y) - 16.0


# Output: linear light -> sRGB code through a 65536-entry table instead of a power per pixel; the table
# step (1.5e-5) is 20x finer than the darkest 8-bit step, so codes differ by at most 1.
ENCODE_TABLE = (np.clip(_linear_to_srgb(np.linspace(0.0, 1.0, 1 << 16)), 0, 1) * 255.0 + 0.5).astype(np.uint8)
# (3, 3) linear sRGB from XYZ / white: takes f^-1(fx, fy, fz) straight to linear RGB
RGB_FROM_F_INV = np.ascontiguousarray(np.linalg.inv(XYZ_FROM_RGB) * np.array(WHITE_D65), dtype=np.float32)

# Input: Y is a sum of three 256-entry tables in fixed point (Y * 65535, integers), and L(Y) is one more
# table of 196606 entries: at most 0.021 L units off the exact conversion (three roundings, darkest greys).
Y_STEPS = 65535
_LEVELS = np.arange(256) / 255.0
# (3, 256)
Y_CODES = np.round(LUMINANCE_WEIGHTS[:, None] * _srgb_to_linear(_LEVELS)[None] * Y_STEPS).astype(np.int32)
L_OF_Y_CODE = _lightness_of_luminance(np.arange(3 * Y_STEPS + 1) / Y_STEPS).astype(np.float32)
# (256,)
GREY_LUT = _lightness_of_luminance(_srgb_to_linear(_LEVELS) * LUMINANCE_WEIGHTS.sum()).astype(np.float32)


# (256,) linear light of each 8-bit code; (3, 3) XYZ / white from linear sRGB: what ``rgb8_to_lab`` runs
LINEAR_OF_CODE = _srgb_to_linear(_LEVELS).astype(np.float32)
_F_ARGUMENT_FROM_RGB = (XYZ_FROM_RGB / np.array(WHITE_D65)[:, None]).astype(np.float32)


def rgb8_to_lab(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB (..., 3), channels last as photos come -> Lab (3, ...) float32, channels first as
    ``lab.rgb_to_lab`` gives them (the same maths, in numpy; float32 throughout)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim < 1 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb8_to_lab: expected uint8 (..., 3), got {rgb.dtype} {rgb.shape}")
    linear = LINEAR_OF_CODE[rgb]  # (..., 3)
    fx, fy, fz = _cie_f(np.moveaxis(linear @ _F_ARGUMENT_FROM_RGB.T, -1, 0))  # each (...)
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]).astype(np.float32, copy=False)


def grey_rendering(lightness: np.ndarray) -> np.ndarray:
    """L (H, W) -> 8-bit grey RGB (H, W, 3) with R = G = B: the ab = 0 baseline.

    Each pixel gets the 8-bit grey whose lightness is nearest to L. (Rendering Lab (L, 0, 0) through the
    gamut fit is grey only up to one code value: the Lab matrix rounds the D65 white.)
    """
    lightness = np.asarray(lightness, dtype=np.float32)
    upper = np.clip(np.searchsorted(GREY_LUT, lightness), 1, 255)  # (H, W) in [1, 255]
    lower_closer = (lightness - GREY_LUT[upper - 1]) < (GREY_LUT[upper] - lightness)
    grey = (upper - lower_closer).astype(np.uint8)  # (H, W)
    return np.repeat(grey[..., None], 3, axis=2)


def default_threads() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def upsample_lab_to_srgb8(lightness: np.ndarray, ab: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """L (H, W) + ab (2, h, w), float32 -> uint8 sRGB (H, W, 3), ab upsampled bilinearly (half-pixel centres,
    as ``F.interpolate(mode="bilinear", align_corners=False)``) without ever holding the full-size ab.

    L is kept exactly: an out-of-gamut colour moves towards the grey of the same luminance, in linear light,
    just far enough to fit (hue and L kept, chroma gives way), instead of being clipped channel by channel.
    """
    lightness = np.ascontiguousarray(lightness, dtype=np.float32)
    ab = np.ascontiguousarray(ab, dtype=np.float32)
    if lightness.ndim != 2 or ab.ndim != 3 or ab.shape[0] != 2 or (lightness.size and not ab[0].size):
        raise ValueError(
            f"upsample_lab_to_srgb8: expected L (H, W) and ab (2, h, w), got {lightness.shape} and {ab.shape}"
        )
    out = np.empty((*lightness.shape, 3), dtype=np.uint8)
    _srgb8.upsample_lab_to_srgb8(
        lightness, ab, RGB_FROM_F_INV, ENCODE_TABLE, out, threads or default_threads()
    )
    return out


def rgb_lightness_u8(rgb: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> L (H, W) float32 with table lookups only (no power per pixel)."""
    rgb = np.ascontiguousarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb_lightness_u8: expected uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    lightness = np.empty(rgb.shape[:2], dtype=np.float32)
    _srgb8.rgb_lightness(rgb, Y_CODES, L_OF_Y_CODE, lightness, threads or default_threads())
    return lightness


def grey_lightness_u8(grey: np.ndarray, *, slice_pixels: int = 1 << 16) -> np.ndarray:
    """uint8 grey (H, W) -> L (H, W) float32 by table lookup.

    In slices (64k pixels): numpy turns the uint8 codes into a 64-bit index array first, which for a whole
    12 MP photo is a 96 MB temporary (51 ms for the lookup against 37 ms in slices, measured).
    """
    codes = np.ascontiguousarray(grey).reshape(-1)
    lightness = np.empty(codes.shape, dtype=np.float32)
    for start in range(0, codes.size, slice_pixels):
        np.take(GREY_LUT, codes[start : start + slice_pixels], out=lightness[start : start + slice_pixels])
    return lightness.reshape(grey.shape)


def grey_lightness(grey: np.ndarray) -> np.ndarray:
    """Grey values (H, W) in [0, 1] (16-bit or float photos) -> L (H, W) float32; a grey pixel has Y =
    linear(value)."""
    linear = _srgb_to_linear(np.clip(np.asarray(grey, dtype=np.float32), 0.0, 1.0))
    return _lightness_of_luminance(linear * float(LUMINANCE_WEIGHTS.sum())).astype(np.float32, copy=False)
