"""Colour from a reference photo (``colorize.reference``), on the bundled default and real photos: a reference
that is the truth gives the truth's colours where it matches; one with no colour, random noise or another
subject leaves the automatic colours; the command line's bad references are one line, exit 2, nothing
written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from chromalab.colorize.loading import load_colorizer
from chromalab.colorize.reference import (
    Reference,
    ReferenceColours,
    _upscale_nearest,
    check_matchable,
    match_reference,
)
from chromalab.evaluation.metrics import psnr

SIDE = 256  # the photos' longest side: the default's 256-pixel view, a 32x32 grid of cells


def _photo(name: str) -> np.ndarray:
    image = Image.fromarray(getattr(skimage.data, name)())
    image.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image.convert("RGB")).copy()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return _photo("astronaut")


@pytest.fixture(scope="module")
def onnx_default() -> object:
    return load_colorizer("default", engine="onnx", threads=1)


def _matched(colorizer: object, photo: np.ndarray, reference: Reference) -> ReferenceColours:
    prepared = colorizer.prepare(photo)
    maps = colorizer.encoder_maps(colorizer.encode(prepared.network_input))
    return match_reference(colorizer, maps, reference, prepared.network_input.shape[-1])


def test_the_truth_as_reference_gives_its_colours_where_it_matches(onnx_default, astronaut) -> None:
    mirrored = np.ascontiguousarray(astronaut[:, ::-1][20:230, 10:240])  # seen differently, as in the bench
    automatic = np.asarray(onnx_default.colorize(astronaut))
    guided = np.asarray(onnx_default.colorize(astronaut, reference=mirrored))
    colours = _matched(onnx_default, astronaut, Reference(mirrored))
    assert colours.matched_share > 0.3
    # the automatic default is ~20 dB from the truth here; the matched colours bring it close
    assert psnr(guided, astronaut) > psnr(automatic, astronaut) + 3.0
    # on the cells matched with full confidence, the carried ab is the truth's (Lab units; the truth's cell
    # means against the attention's blend of a few mirrored cells: well under the 20+ of a wrong colour)
    from chromalab.color.srgb8 import rgb8_to_lab
    from chromalab.images import resize_channel

    height, width = colours.confidence.shape
    truth_ab = np.stack([resize_channel(c, (width, height)) for c in rgb8_to_lab(astronaut)[1:]])
    sure = colours.confidence >= 1.0
    assert sure.sum() > 50
    assert float(np.median(np.hypot(*(colours.ab - truth_ab))[sure])) < 8.0


@pytest.mark.parametrize("kind", ["grey", "flat", "noise"])
def test_a_reference_without_matching_colour_leaves_the_automatic_result(
    onnx_default, astronaut, kind: str
) -> None:
    rng = np.random.default_rng(0)
    reference = {
        "grey": np.asarray(Image.fromarray(astronaut).convert("L").convert("RGB")),
        "flat": np.full((100, 300, 3), (200, 40, 40), np.uint8),  # all red, nothing in it to match
        "noise": rng.integers(0, 256, (120, 90, 3), dtype=np.uint8),
    }[kind]
    automatic = np.asarray(onnx_default.colorize(astronaut))
    guided = np.asarray(onnx_default.colorize(astronaut, reference=reference))
    assert abs(psnr(guided, astronaut) - psnr(automatic, astronaut)) < 1.0
    if kind == "grey":  # no colour to give: not one cell takes any, the very same output
        assert _matched(onnx_default, astronaut, Reference(reference)).matched_share == 0.0
        assert np.array_equal(guided, automatic)


def test_several_references_as_a_list_are_pooled(onnx_default, astronaut, tmp_path: Path) -> None:
    """``reference=[path, image]``: both photos pooled, as ``Reference.pooled`` makes them."""
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    Image.fromarray(mirrored).save(tmp_path / "mirrored.png")
    other = Image.fromarray(_photo("chelsea"))
    from_list = np.asarray(onnx_default.colorize(astronaut, reference=[tmp_path / "mirrored.png", other]))
    pooled = Reference.pooled([Reference(mirrored), Reference(other)])
    assert np.array_equal(from_list, np.asarray(onnx_default.colorize(astronaut, reference=pooled)))


def test_references_of_any_size_and_shape(onnx_default, astronaut) -> None:
    for shape in ((17, 400, 3), (600, 31, 3), (1, 1, 3)):
        reference = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
        result = onnx_default.colorize(astronaut, reference=reference)
        assert result.size == (astronaut.shape[1], astronaut.shape[0])


def test_both_engines_carry_the_same_colours(onnx_default, astronaut) -> None:
    pytest.importorskip("torch")
    torch_default = load_colorizer("default", engine="torch", threads=1)
    reference = _photo("chelsea")  # another subject: the few cells it matches must agree too
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    for given in (mirrored, reference):
        onnx_rgb = np.asarray(onnx_default.colorize(astronaut, reference=given)).astype(int)
        torch_rgb = np.asarray(torch_default.colorize(astronaut, reference=given)).astype(int)
        # float32 in two runtimes: a cosine at the threshold may fall either side; 2 codes on 99 %
        assert np.mean(np.abs(onnx_rgb - torch_rgb) <= 2) > 0.99


def test_a_model_without_encoder_maps_is_refused() -> None:
    pytest.importorskip("torch")  # fast-v1 ships as safetensors alone
    from chromalab.colorize.reference import NoMatchingFeatures

    with pytest.raises(NoMatchingFeatures, match="encoder features"):
        check_matchable(load_colorizer("fast-v1", engine="torch", threads=1))


def test_hint_map_and_blend_by_hand() -> None:
    ab = np.array([[[10.0, 20.0]], [[-5.0, 0.0]]], np.float32)  # (2, 1, 2): two cells
    colours = ReferenceColours(ab, np.array([[1.0, 0.0]], np.float32))
    hint_map = colours.hint_map((2, 4))  # each cell covers 2x2 view pixels
    assert hint_map.shape == (1, 3, 2, 4)
    assert np.array_equal(hint_map[0, 2], [[1, 1, 0, 0], [1, 1, 0, 0]])  # the mask: the confident cell
    assert np.array_equal(hint_map[0, 0], [[10, 10, 0, 0], [10, 10, 0, 0]])
    network = np.full((1, 2, 1, 2), 3.0, np.float32)
    blended = colours.blend(network)
    assert np.allclose(blended[0, :, 0, 0], [10.0, -5.0]) and np.allclose(blended[0, :, 0, 1], 3.0)
    assert np.array_equal(_upscale_nearest(np.arange(3)[None], (1, 6)), [[0, 0, 1, 1, 2, 2]])


def test_cli_reference(cli, astronaut, tmp_path: Path) -> None:
    Image.fromarray(astronaut).convert("L").save(tmp_path / "old.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(tmp_path / "colour.jpg")
    code, out, err = cli("colorize", "old.png", "--reference", "colour.jpg", "-o", "out", cwd=tmp_path)
    assert code == 0, err
    guided = np.asarray(Image.open(tmp_path / "out" / "old.png").convert("RGB"))
    assert psnr(guided, astronaut) > 24.0  # the automatic colours are ~20 dB from the truth here


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--reference", "missing.jpg"], "--reference missing.jpg: no such file"),
        (["--reference", "broken.jpg"], "broken.jpg: not an image"),
        (["--reference", "colour.jpg", "--model", "fast-v1"], "encoder features can be matched"),
        (["--reference", "colour.jpg", "--model", "none", "--hints", "hints.json"], "needs a model"),
        (["--reference", "colour.jpg", "--cluster", "local"], "not on a --cluster"),
    ],
)
def test_cli_bad_references_write_nothing(
    cli, astronaut, tmp_path: Path, extra: list[str], message: str
) -> None:
    Image.fromarray(astronaut).convert("L").save(tmp_path / "old.png")
    Image.fromarray(astronaut).save(tmp_path / "colour.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not a photo")
    (tmp_path / "hints.json").write_text('{"hints": []}')
    code, _, err = cli("colorize", "old.png", *extra, "-o", "out", cwd=tmp_path)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
