"""sRGB <-> Lab: kornia's test set (shape, exceptions, reference vs scikit-image, round trip, gradient)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.color import lab2rgb, rgb2lab

from chromalab.color.lab import (
    AB_SCALE,
    L_CENTER,
    L_SCALE,
    denormalize_ab,
    denormalize_l,
    grey_to_lightness,
    lab_to_rgb,
    lab_to_srgb8,
    normalize_ab,
    normalize_l,
    rgb_to_lab,
    rgb_to_lightness,
)

LAB_TOLERANCE = 0.05  # Lab units, float32 against scikit-image's float64
RGB_TOLERANCE = 1e-4  # sRGB in [0, 1]


def chw(array: np.ndarray) -> torch.Tensor:
    """(H, W, 3) numpy -> (3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(array, -1, -3))).float()


def hwc(tensor: torch.Tensor) -> np.ndarray:
    return np.moveaxis(tensor.detach().double().numpy(), -3, -1)


def random_rgb(n: int = 4096, seed: int = 0) -> np.ndarray:
    """(n, 1, 3) uniform random sRGB colours, with the cube's corners added."""
    rng = np.random.default_rng(seed)
    corners = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=np.float64)
    return np.concatenate([corners, rng.random((n, 3))])[:, None, :]


def random_lab(n: int = 4096, seed: int = 1) -> np.ndarray:
    """(n, 1, 3) Lab values over the whole box, most of them outside the sRGB gamut."""
    rng = np.random.default_rng(seed)
    lab = np.stack([rng.uniform(0, 100, n), rng.uniform(-128, 127, n), rng.uniform(-128, 127, n)], axis=-1)
    return lab[:, None, :]


def skimage_lab2rgb(lab: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "negative Z values clipped": expected for out-of-gamut Lab
        return lab2rgb(lab)


# -- shape and dtype -------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 3, 5, 7), (2, 4, 3, 1, 1)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_dtypes_are_kept(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    rgb = torch.rand(shape, dtype=dtype)
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape and lab.dtype == dtype
    back = lab_to_rgb(lab)
    assert back.shape == rgb.shape and back.dtype == dtype
    lightness = rgb_to_lightness(rgb)
    assert lightness.shape == (*shape[:-3], 1, *shape[-2:])


def test_lab_to_srgb8_shape() -> None:
    out = lab_to_srgb8(rgb_to_lab(torch.rand(3, 5, 7)))
    assert out.shape == (5, 7, 3) and out.dtype == torch.uint8


# -- exceptions ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", [rgb_to_lab, lab_to_rgb, rgb_to_lightness, lab_to_srgb8])
@pytest.mark.parametrize("shape", [(2, 4, 4), (1, 4, 4), (4, 4, 3), (3, 4), (3,)])
def test_wrong_channel_count_raises_value_error(function, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"expected \(\*, 3, H, W\)"):
        function(torch.rand(shape))


@pytest.mark.parametrize("function", [rgb_to_lab, lab_to_rgb, rgb_to_lightness, lab_to_srgb8])
@pytest.mark.parametrize("value", [np.zeros((3, 4, 4)), [[[0.5]]] * 3, 0.5])
def test_non_tensor_raises_type_error(function, value: object) -> None:
    with pytest.raises(TypeError, match="expected a torch.Tensor"):
        function(value)


def test_lab_to_srgb8_rejects_batches_clearly() -> None:
    with pytest.raises(ValueError):
        lab_to_srgb8(torch.zeros(2, 3, 4, 4))


# -- reference: scikit-image ------------------------------------------------------------------------------
def test_rgb_to_lab_matches_skimage_on_photos(photos: dict[str, np.ndarray]) -> None:
    for name, rgb8 in photos.items():
        rgb = rgb8 / 255.0
        ours = hwc(rgb_to_lab(chw(rgb)))
        error = np.abs(ours - rgb2lab(rgb)).max()
        assert error < LAB_TOLERANCE, f"{name}: max |Lab - skimage| = {error}"


def test_rgb_to_lab_matches_skimage_on_random_colors() -> None:
    rgb = random_rgb()
    ours = hwc(rgb_to_lab(chw(rgb)))
    assert np.abs(ours - rgb2lab(rgb)).max() < LAB_TOLERANCE


def test_rgb_to_lab_known_values() -> None:
    # sRGB primaries and white in Lab (D65), as listed by scikit-image / brucelindbloom.com
    rgb = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    expected = np.array(
        [
            [53.2408, 80.0925, 67.2032],
            [87.7347, -86.1827, 83.1793],
            [32.2970, 79.1875, -107.8602],
            [100, 0, 0],
            [0, 0, 0],
        ]
    )
    lab = hwc(rgb_to_lab(rgb.T[:, :, None]))[:, 0, :]
    np.testing.assert_allclose(lab, expected, atol=0.02)


def test_lab_to_rgb_matches_skimage_on_photos(photos: dict[str, np.ndarray]) -> None:
    for name, rgb8 in photos.items():
        lab = rgb2lab(rgb8 / 255.0)
        ours = hwc(lab_to_rgb(chw(lab)))
        error = np.abs(ours - skimage_lab2rgb(lab)).max()
        assert error < RGB_TOLERANCE, f"{name}: max |rgb - skimage| = {error}"


def test_lab_to_rgb_matches_skimage_out_of_gamut() -> None:
    lab = random_lab()
    ours = hwc(lab_to_rgb(chw(lab)))  # clipped, like scikit-image
    assert np.abs(ours - skimage_lab2rgb(lab)).max() < RGB_TOLERANCE


# -- round trip ----------------------------------------------------------------------------------------
def test_round_trip_on_photos_and_random_colors(photos: dict[str, np.ndarray]) -> None:
    for rgb in [*(p / 255.0 for p in photos.values()), random_rgb()]:
        back = lab_to_rgb(rgb_to_lab(chw(rgb)))
        assert np.abs(hwc(back) - rgb).max() < RGB_TOLERANCE


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=3, max_size=3))
def test_round_trip_any_color(color: list[float]) -> None:
    rgb = torch.tensor(color, dtype=torch.float64).view(3, 1, 1)
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-6)


# -- gradients -----------------------------------------------------------------------------------------
def test_gradcheck_rgb_to_lab() -> None:
    # away from the branch points (sRGB 0.04045, f(t) at (6/29)^3) where the derivative jumps
    rgb = (0.2 + 0.6 * torch.rand(1, 3, 2, 2, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(rgb_to_lab, (rgb,))
    assert torch.autograd.gradcheck(rgb_to_lightness, (rgb,))


def test_gradcheck_lab_to_rgb() -> None:
    lab = torch.cat(
        [
            30 + 40 * torch.rand(1, 1, 2, 2, dtype=torch.float64),
            40 * torch.rand(1, 2, 2, 2, dtype=torch.float64) - 20,
        ],
        dim=1,
    ).requires_grad_()  # mid-L, low chroma: inside the gamut, so clipping does not cut the gradient
    assert torch.autograd.gradcheck(lambda x: lab_to_rgb(x, clip=False), (lab,))


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_gradients_finite_at_black_and_white(value: float) -> None:
    rgb = torch.full((1, 3, 2, 2), value, requires_grad=True)
    rgb_to_lab(rgb).sum().backward()
    assert torch.isfinite(rgb.grad).all()
    lab = (
        torch.zeros(1, 3, 2, 2)
        if value == 0
        else torch.tensor([100.0, 0.0, 0.0]).view(1, 3, 1, 1).repeat(1, 1, 2, 2)
    )
    lab.requires_grad_()
    lab_to_rgb(lab, clip=False).sum().backward()
    assert torch.isfinite(lab.grad).all()


# -- lightness shortcuts ----------------------------------------------------------------------------------
def test_rgb_to_lightness_equals_l_of_rgb_to_lab(photos: dict[str, np.ndarray]) -> None:
    for rgb in [*(chw(p / 255.0) for p in photos.values()), chw(random_rgb())]:
        torch.testing.assert_close(rgb_to_lightness(rgb), rgb_to_lab(rgb)[..., :1, :, :], atol=1e-3, rtol=0)


def test_grey_to_lightness_equals_l_of_rgb_to_lab() -> None:
    grey = torch.cat([torch.arange(256) / 255.0, torch.rand(256)]).view(2, 256)  # (H, W)
    expected = rgb_to_lab(grey.expand(3, -1, -1))[0]
    torch.testing.assert_close(grey_to_lightness(grey), expected, atol=1e-3, rtol=0)
    # and scikit-image agrees on the 8-bit grey ramp
    ramp = np.repeat((np.arange(256) / 255.0)[None, :, None], 3, axis=-1)
    np.testing.assert_allclose(grey_to_lightness(grey[0]).numpy(), rgb2lab(ramp)[0, :, 0], atol=LAB_TOLERANCE)


# -- 8-bit output -----------------------------------------------------------------------------------------
def test_lab_to_srgb8_within_one_code_of_lab_to_rgb_in_gamut(photos: dict[str, np.ndarray]) -> None:
    for lab in [*(chw(rgb2lab(p / 255.0)) for p in photos.values()), chw(random_lab())]:
        unclipped = lab_to_rgb(lab, clip=False)
        in_gamut = ((unclipped >= 0) & (unclipped <= 1)).all(0)  # (H, W)
        expected = (unclipped.clamp(0, 1) * 255.0).round().permute(1, 2, 0).int()
        assert in_gamut.any()
        assert (lab_to_srgb8(lab).int() - expected)[in_gamut].abs().max() <= 1


def test_lab_to_srgb8_keeps_lightness_and_hue_out_of_gamut() -> None:
    lab = chw(random_lab()) * torch.tensor([1.0, 3.0, 3.0]).view(3, 1, 1)  # mostly far outside sRGB
    out = chw(rgb2lab(lab_to_srgb8(lab).numpy() / 255.0))
    assert (out[0] - lab[0]).abs().max() < 0.6  # 8-bit rounding only: chroma gave way, not lightness
    chroma = lab[1:].norm(dim=0)
    saturated = (chroma > 30) & (lab[0] > 10) & (lab[0] < 90)
    cosine = (out[1:] * lab[1:]).sum(0) / (out[1:].norm(dim=0) * chroma + 1e-9)
    assert cosine[saturated].median() > 0.9  # the hue roughly stays (exactly in linear RGB, not in Lab)


def test_lab_to_srgb8_recovers_8bit_photos(photos: dict[str, np.ndarray]) -> None:
    for rgb8 in photos.values():
        out = lab_to_srgb8(chw(rgb2lab(rgb8 / 255.0))).numpy()
        assert np.abs(out.astype(int) - rgb8).max() <= 1


@pytest.mark.parametrize(
    ("lab", "rgb"),
    [
        ((53.2408, 80.0925, 67.2032), (255, 0, 0)),
        ((87.7347, -86.1827, 83.1793), (0, 255, 0)),
        ((32.2970, 79.1875, -107.8602), (0, 0, 255)),
        ((100.0, 0.0, 0.0), (255, 255, 255)),
        ((0.0, 0.0, 0.0), (0, 0, 0)),
        ((53.585, 0.0, 0.0), (128, 128, 128)),
    ],
)
def test_lab_to_srgb8_known_colors(lab: tuple[float, ...], rgb: tuple[int, ...]) -> None:
    out = lab_to_srgb8(torch.tensor(lab).view(3, 1, 1))[0, 0].int()
    expected = np.round(skimage_lab2rgb(np.array(lab)[None, None])[0, 0] * 255).astype(int)
    assert np.abs(np.array(rgb) - expected).max() <= 1  # the table itself agrees with scikit-image
    assert (out - torch.tensor(rgb)).abs().max() <= 1, f"{lab} -> {out.tolist()}, expected {rgb}"


# -- normalisation ----------------------------------------------------------------------------------------
def test_normalisation_round_trip_and_range() -> None:
    lightness = torch.linspace(0, 100, 11)
    ab = torch.linspace(-128, 127, 11)
    torch.testing.assert_close(denormalize_l(normalize_l(lightness)), lightness)
    torch.testing.assert_close(denormalize_ab(normalize_ab(ab)), ab)
    assert normalize_l(torch.tensor(0.0)) == -0.5 and normalize_l(torch.tensor(100.0)) == 0.5
    assert normalize_l(torch.tensor(L_CENTER)) == 0 and normalize_ab(torch.tensor(AB_SCALE)) == 1
    assert L_SCALE == 100.0
