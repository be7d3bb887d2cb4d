"""The fused C kernels (``chromalab.color._srgb8``) against the torch reference: F.interpolate +
lab_to_rgb."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data
from skimage.color import rgb2lab

from chromalab.color import _srgb8
from chromalab.color.lab import (
    LUMINANCE_WEIGHTS,
    join_lightness,
    lab_to_rgb,
    lab_to_srgb8,
    linear_to_srgb,
    rgb_to_lightness,
    srgb_to_linear,
)
from chromalab.color.srgb8 import ENCODE_TABLE as _ENCODE_TABLE
from chromalab.color.srgb8 import L_OF_Y_CODE as _L_OF_Y_CODE
from chromalab.color.srgb8 import RGB_FROM_F_INV as _RGB_FROM_F_INV
from chromalab.color.srgb8 import Y_CODES as _Y_CODES
from chromalab.color.srgb8 import rgb_lightness_u8

# torch's AVX2 / AVX512 kernels are compiled with FMA contraction, which the C kernel reproduces bit for bit
TORCH_FMA_KERNELS = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def upsampled(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The reference route: full-size ab by F.interpolate, joined with L -> Lab (3, H, W)."""
    full = F.interpolate(ab[None], size=tuple(lightness.shape), mode="bilinear", align_corners=False)[0]
    return torch.cat([lightness[None], full])


def codes(lab: torch.Tensor) -> torch.Tensor:
    """lab_to_rgb rounded to 8 bits, (H, W, 3) int."""
    return (lab_to_rgb(lab) * 255.0).round().permute(1, 2, 0).int()


def in_gamut(lab: torch.Tensor) -> torch.Tensor:
    unclipped = lab_to_rgb(lab, clip=False)
    return ((unclipped >= 0) & (unclipped <= 1)).all(0)  # (H, W)


def photo_lab(name: str) -> torch.Tensor:
    """A real photo (scikit-image) as Lab (3, H, W) float32."""
    rgb = getattr(data, name)()
    return torch.from_numpy(np.moveaxis(rgb2lab(rgb), -1, 0).copy()).float()


def kernel(lightness: torch.Tensor, ab: torch.Tensor, threads: int) -> torch.Tensor:
    out = torch.empty(*lightness.shape, 3, dtype=torch.uint8)
    _srgb8.upsample_lab_to_srgb8(
        lightness.numpy(), ab.numpy(), _RGB_FROM_F_INV, _ENCODE_TABLE, out.numpy(), threads
    )
    return out


# -- against the reference ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_real_photos_match_interpolate_and_lab_to_rgb(name: str) -> None:
    lab = photo_lab(name)
    lightness, ab_small = lab[0], F.avg_pool2d(lab[1:][None], 4)[0]  # ab at 1/4, as a network predicts it
    reference = upsampled(lightness, ab_small)
    out = join_lightness(lightness, ab_small)
    assert out.shape == (*lightness.shape, 3) and out.dtype == torch.uint8
    inside = in_gamut(reference)
    assert inside.float().mean() > 0.9
    assert (out.int() - codes(reference))[inside].abs().max() <= 1
    if TORCH_FMA_KERNELS:
        assert torch.equal(out, lab_to_srgb8(reference))


@pytest.mark.parametrize(
    ("small", "size"),
    [
        ((8, 8), (32, 32)),  # H + W <= 128: torch's channels-last kernel
        ((16, 16), (100, 28)),
        ((16, 16), (100, 29)),  # H + W > 128: its generic kernel
        ((64, 48), (300, 400)),
        ((7, 5), (23, 3)),  # odd sizes
        ((3, 3), (101, 67)),
        ((10, 10), (3, 7)),  # H, W below h, w: interpolate's downsampling, no antialias
        ((40, 30), (97, 13)),
        ((1, 1), (5, 9)),
        ((3, 4), (1, 1)),
    ],
)
def test_upsampling_is_interpolate_bilinear(small: tuple[int, int], size: tuple[int, int]) -> None:
    generator = torch.Generator().manual_seed(sum(small + size))
    lightness = torch.rand(size, generator=generator) * 100
    ab = torch.randn(2, *small, generator=generator) * 25
    out, expected = join_lightness(lightness, ab), lab_to_srgb8(upsampled(lightness, ab))
    assert (out.int() - expected.int()).abs().max() <= 1
    if TORCH_FMA_KERNELS:
        assert torch.equal(out, expected)


def test_one_ab_value_colors_everything_alike() -> None:
    lightness = torch.full((6, 11), 60.0)
    out = join_lightness(lightness, torch.tensor([20.0, -30.0]).view(2, 1, 1)).int()
    assert (out - out[0, 0]).abs().max() <= 1
    assert (out[0, 0] - codes(torch.tensor([60.0, 20.0, -30.0]).view(3, 1, 1))[0, 0]).abs().max() <= 1


def test_scale_one_is_the_identity() -> None:
    """Equal sizes mix no neighbours: permuting rows and columns permutes the output the same way."""
    lab = photo_lab("coffee")[:, :64, :80]
    rows, columns = torch.randperm(64), torch.randperm(80)
    out = lab_to_srgb8(lab)
    assert torch.equal(lab_to_srgb8(lab[:, rows][:, :, columns]), out[rows][:, columns])


# -- hand cases --------------------------------------------------------------------------------------------
def test_grey_white_and_black() -> None:
    lightness = torch.linspace(0, 100, 101).view(1, 101)
    grey = join_lightness(lightness, torch.zeros(2, 1, 1)).int()[0]  # (101, 3)
    assert (grey.amax(1) - grey.amin(1)).max() <= 1  # R = G = B up to the matrix's rounding of the white
    assert grey[0].tolist() == [0, 0, 0] and grey[-1].tolist() == [255, 255, 255]
    assert (grey[:, 1].diff() >= 0).all()


def test_nan_and_infinity_give_some_color_not_a_crash() -> None:
    lightness = torch.tensor([[float("nan"), float("inf"), -float("inf"), 50.0]])
    ab = torch.tensor([float("nan"), float("inf"), 1e30, -1e30]).view(2, 1, 2)
    assert join_lightness(lightness, ab).shape == (1, 4, 3)


# -- out of gamut ------------------------------------------------------------------------------------------
def test_out_of_gamut_keeps_luminance_and_hue() -> None:
    generator = torch.Generator().manual_seed(3)
    lightness = torch.rand(64, 64, generator=generator) * 80 + 10
    ab = torch.randn(2, 8, 8, generator=generator) * 90  # mostly far outside sRGB
    lab = upsampled(lightness, ab)
    outside = ~in_gamut(lab)
    assert outside.float().mean() > 0.5
    out = join_lightness(lightness, ab).permute(2, 0, 1).float() / 255  # (3, H, W)
    assert (rgb_to_lightness(out)[0] - lightness)[outside].abs().max() < 0.6  # 8-bit rounding only
    # luminance within one code value of the grey's, and the colour on the line from that grey: same hue
    wanted = srgb_to_linear(lab_to_rgb(lab, clip=False))  # linear RGB before the fit
    luminance = torch.einsum("c,chw->hw", LUMINANCE_WEIGHTS, wanted).clamp(0, 1)
    got = srgb_to_linear(out)
    got_luminance = torch.einsum("c,chw->hw", LUMINANCE_WEIGHTS, got)
    assert ((linear_to_srgb(got_luminance) - linear_to_srgb(luminance)) * 255)[outside].abs().max() <= 1
    offset_got, offset_wanted = got - luminance, wanted - luminance
    cosine = (offset_got * offset_wanted).sum(0) / (
        offset_got.norm(dim=0) * offset_wanted.norm(dim=0) + 1e-12
    )
    colorful = outside & (offset_got.norm(dim=0) > 0.1)  # 8-bit rounding blurs the direction of near-greys
    assert colorful.sum() > 1000 and cosine[colorful].min() > 0.99


# -- threads -----------------------------------------------------------------------------------------------
def test_threads_give_identical_results() -> None:
    lab = photo_lab("astronaut")
    ab = F.avg_pool2d(lab[1:][None], 8)[0].contiguous()
    one = kernel(lab[0], ab, 1)
    for threads in (2, 3, 7, 1000, 0, -5):  # clamped to [1, min(64, H)]
        assert torch.equal(kernel(lab[0], ab, threads), one)
    rgb = data.coffee()
    lightness = [torch.empty(rgb.shape[:2]) for _ in range(2)]
    for threads, out in zip((1, 2), lightness, strict=True):
        _srgb8.rgb_lightness(rgb, _Y_CODES, _L_OF_Y_CODE, out.numpy(), threads)
    assert torch.equal(lightness[0], lightness[1])


# -- bad input: a Python exception, never a crash ----------------------------------------------------------
def test_python_wrapper_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match="expected a torch.Tensor"):
        join_lightness(np.zeros((4, 4), np.float32), torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match=r"expected L \(H, W\)"):
        join_lightness(torch.zeros(1, 4, 4), torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match=r"ab \(2, h, w\)"):
        join_lightness(torch.zeros(4, 4), torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match="h, w >= 1"):
        join_lightness(torch.zeros(4, 4), torch.zeros(2, 0, 2))


def test_python_wrapper_converts_dtype_and_layout() -> None:
    lab = photo_lab("coffee")[:, :40, :50]
    expected = lab_to_srgb8(lab)
    assert torch.equal(lab_to_srgb8(lab.double()), expected)
    assert torch.equal(lab_to_srgb8(lab.transpose(1, 2).contiguous().transpose(1, 2)), expected)  # strided
    assert join_lightness(torch.zeros(0, 5), torch.zeros(2, 0, 5)).shape == (0, 5, 3)


GOOD = {
    "lightness": np.zeros((4, 6), np.float32),
    "ab": np.zeros((2, 2, 3), np.float32),
    "matrix": _RGB_FROM_F_INV,
    "table": _ENCODE_TABLE,
    "out": np.zeros((4, 6, 3), np.uint8),
}


@pytest.mark.parametrize(
    ("name", "value", "error", "message"),
    [
        ("lightness", np.zeros((4, 6), np.float64), TypeError, "lightness: expected struct format 'f'"),
        ("lightness", np.zeros((6, 4), np.float32).T, ValueError, "lightness: must be C-contiguous"),
        ("lightness", np.zeros((1, 4, 6), np.float32), ValueError, "lightness: expected 2 dimensions"),
        ("lightness", [[0.0] * 6] * 4, TypeError, "bytes-like object"),
        ("lightness", None, TypeError, "bytes-like object"),
        ("ab", np.zeros((3, 2, 3), np.float32), ValueError, r"ab \(2, h, w\)"),
        ("ab", np.zeros((2, 0, 3), np.float32), ValueError, "h, w >= 1"),
        ("ab", np.zeros((2, 2, 6), np.float32)[:, :, ::2], ValueError, "ab: must be C-contiguous"),
        ("ab", np.zeros((2, 2, 3), np.int32), TypeError, "ab: expected struct format"),
        ("matrix", np.zeros((3, 2), np.float32), ValueError, r"matrix \(3, 3\)"),
        ("table", np.zeros(1, np.uint8), ValueError, "2 <= n"),
        ("table", np.zeros(256, np.float32), TypeError, "table: expected struct format 'B'"),
        ("out", np.zeros((4, 5, 3), np.uint8), ValueError, r"out \(H, W, 3\)"),
        ("out", np.zeros((4, 6, 3), np.uint8).view(np.int8), TypeError, "out: expected struct format 'B'"),
        ("out", bytes(72), ValueError, "out: expected 3 dimensions"),
    ],
)
def test_kernel_rejects_bad_buffers(name: str, value: object, error: type, message: str) -> None:
    arguments = {**GOOD, name: value}
    with pytest.raises(error, match=message):
        _srgb8.upsample_lab_to_srgb8(*arguments.values(), 2)


def test_kernel_rejects_read_only_output_and_wrong_argument_count() -> None:
    read_only = np.zeros((4, 6, 3), np.uint8)
    read_only.setflags(write=False)
    with pytest.raises(ValueError, match="out: must be writable"):
        _srgb8.upsample_lab_to_srgb8(*{**GOOD, "out": read_only}.values(), 2)
    with pytest.raises(TypeError, match="expected 6 arguments"):
        _srgb8.upsample_lab_to_srgb8(*GOOD.values())
    with pytest.raises(TypeError):
        _srgb8.upsample_lab_to_srgb8(*GOOD.values(), "two")


# -- lightness of 8-bit RGB --------------------------------------------------------------------------------
def test_rgb_lightness_is_the_table_formula_and_close_to_exact() -> None:
    rgb = data.astronaut()
    expected = _L_OF_Y_CODE[_Y_CODES[0][rgb[..., 0]] + _Y_CODES[1][rgb[..., 1]] + _Y_CODES[2][rgb[..., 2]]]
    lightness = torch.from_numpy(rgb_lightness_u8(rgb))
    assert lightness.dtype == torch.float32 and np.array_equal(lightness.numpy(), expected)
    exact = rgb_to_lightness(torch.from_numpy(rgb).permute(2, 0, 1).double() / 255)[0]
    assert (lightness.double() - exact).abs().max() < 0.021  # 3 x 0.5 / 65535 in Y, 903 L per Y near black
    # a strided view is fine
    assert torch.equal(torch.from_numpy(rgb_lightness_u8(rgb[:, ::-1])), lightness.flip(1))


def test_rgb_lightness_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="expected uint8 \\(H, W, 3\\)"):
        rgb_lightness_u8(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="expected uint8 \\(H, W, 3\\)"):
        rgb_lightness_u8(np.zeros((4, 4), np.uint8))
    rgb, out = np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="y_codes must be >= 0"):
        _srgb8.rgb_lightness(rgb, _Y_CODES * 4, _L_OF_Y_CODE, out, 1)  # sums past the end of l_of_y
    with pytest.raises(ValueError, match="y_codes must be >= 0"):
        _srgb8.rgb_lightness(rgb, -_Y_CODES, _L_OF_Y_CODE, out, 1)
    with pytest.raises(ValueError, match=r"y_codes \(3, 256\)"):
        _srgb8.rgb_lightness(rgb, _Y_CODES[:, :128].copy(), _L_OF_Y_CODE, out, 1)
    with pytest.raises(ValueError, match=r"out \(H, W\)"):
        _srgb8.rgb_lightness(rgb, _Y_CODES, _L_OF_Y_CODE, np.zeros((5, 4), np.float32), 1)
    with pytest.raises(TypeError, match="y_codes: expected struct format 'i'"):
        _srgb8.rgb_lightness(rgb, _Y_CODES.astype(np.int64), _L_OF_Y_CODE, out, 1)


# -- the numpy tables against the torch reference of lab.py
# ---------------------------------------------------
def test_tables_agree_with_the_torch_conversions() -> None:
    from chromalab.color import srgb8
    from chromalab.color.lab import grey_to_lightness, luminance_to_lightness

    steps = torch.linspace(0.0, 1.0, len(srgb8.ENCODE_TABLE), dtype=torch.float64)
    reference = (linear_to_srgb(steps).clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()
    assert np.abs(srgb8.ENCODE_TABLE.astype(int) - reference).max() <= 1
    assert (reference != srgb8.ENCODE_TABLE).mean() < 1e-3
    levels = torch.arange(256, dtype=torch.float64) / 255
    np.testing.assert_allclose(srgb8.GREY_LUT, grey_to_lightness(levels).numpy(), atol=1e-4)
    np.testing.assert_allclose(
        srgb8.grey_lightness(levels.numpy()), grey_to_lightness(levels).numpy(), atol=1e-4
    )
    codes = torch.arange(0, 3 * srgb8.Y_STEPS + 1, 997, dtype=torch.float64)
    np.testing.assert_allclose(
        srgb8.L_OF_Y_CODE[codes.long().numpy()],
        luminance_to_lightness(codes / srgb8.Y_STEPS).numpy(),
        atol=1e-4,
    )
    expected_y = (LUMINANCE_WEIGHTS.double()[:, None] * srgb_to_linear(levels)[None]).numpy() * srgb8.Y_STEPS
    assert np.abs(srgb8.Y_CODES - expected_y).max() <= 0.5 + 1e-9
