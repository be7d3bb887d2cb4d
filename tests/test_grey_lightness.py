"""``grey_lightness_u8``: the sliced table lookup behind ``to_lightness`` for grey photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from chromalab.color.lab import grey_to_lightness
from chromalab.color.srgb8 import grey_lightness_u8
from chromalab.images import to_lightness


@pytest.mark.parametrize("slice_pixels", [1, 7, 64, 1 << 16])
def test_sliced_lookup_is_the_exact_conversion(slice_pixels: int) -> None:
    codes = np.random.default_rng(0).integers(0, 256, size=(13, 17), dtype=np.uint8)  # 221 pixels: odd slices
    codes[0, :4] = (0, 1, 254, 255)
    expected = grey_to_lightness(torch.from_numpy(codes).float() / 255.0).numpy()
    lightness = grey_lightness_u8(codes, slice_pixels=slice_pixels)
    assert lightness.dtype == np.float32 and lightness.shape == codes.shape
    np.testing.assert_allclose(lightness, expected, atol=1e-4)


def test_images_read_without_a_conversion_copy_match_converted_ones(photo: np.ndarray) -> None:
    """L and RGB images are read as they are (no ``convert`` copy): the same L as through a conversion."""
    grey = Image.fromarray(photo).convert("L")
    through_rgb = to_lightness(grey.convert("P")).lightness  # RGB tables: within 0.021 L of the exact value
    np.testing.assert_allclose(to_lightness(grey).lightness, through_rgb, atol=0.03)
    rgb = Image.fromarray(photo)
    np.testing.assert_array_equal(to_lightness(rgb).lightness, to_lightness(rgb.convert("RGBX")).lightness)
    bilevel = grey.convert("1")
    np.testing.assert_array_equal(
        to_lightness(bilevel).lightness, to_lightness(bilevel.convert("L")).lightness
    )
