"""Image files in: every Pillow mode, EXIF orientation, alpha, and every kind of bad file, from a path, from
bytes and from a binary stream alike."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from chromalab.images import (
    ImageError,
    open_image,
    output_path,
    save_image,
    split_alpha,
    to_lightness,
)

L_TOLERANCE = 0.05  # Lab units against scikit-image


def reference_lightness(rgb8: np.ndarray) -> np.ndarray:
    return rgb2lab(rgb8 / 255.0)[..., 0]


@pytest.fixture(scope="module")
def rgb(photos: dict[str, np.ndarray]) -> np.ndarray:
    return photos["coffee"]  # 64 x 43: not square, so width and height cannot be swapped unnoticed


# -- every Pillow mode --------------------------------------------------------------------------------
MODES = ["1", "L", "LA", "P", "P+transparency", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]


def image_in_mode(rgb: np.ndarray, mode: str) -> tuple[Image.Image, np.ndarray]:
    """(image in ``mode``, the L it should give (H, W)) built from a real photo."""
    base = Image.fromarray(rgb)
    grey = np.asarray(base.convert("L"))
    grey_l = reference_lightness(np.repeat(grey[..., None], 3, axis=-1))
    if mode == "P+transparency":
        image = base.convert("P")
        image.info["transparency"] = 0
        return image, reference_lightness(np.asarray(image.convert("RGB")))
    if mode in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK"):
        image = base.convert(mode)
        expected = grey_l if mode in ("L", "LA") else reference_lightness(np.asarray(image.convert("RGB")))
        return image, expected
    ramp = grey.astype(np.float64) / 255.0  # exact grey levels in [0, 1]
    expected = reference_lightness(np.repeat(ramp[..., None] * 255, 3, axis=-1))
    if mode == "I;16":
        return Image.fromarray((ramp * 65535).round().astype(np.uint16)), expected
    if mode == "I":  # 32-bit integer images hold 16-bit data (what Pillow gives for 16-bit PGM / PNG)
        return Image.fromarray((ramp * 65535).round().astype(np.int32)), expected
    assert mode == "F"
    return Image.fromarray(ramp.astype(np.float32)), expected


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_gives_lightness_of_the_right_size(rgb: np.ndarray, mode: str) -> None:
    image, expected = image_in_mode(rgb, mode)
    assert image.mode == mode.split("+")[0]
    result = to_lightness(image)
    height, width = rgb.shape[:2]
    assert result.lightness.shape == (height, width) and result.lightness.dtype == np.float32
    assert np.isfinite(result.lightness).all()
    np.testing.assert_allclose(result.lightness, expected, atol=L_TOLERANCE)
    has_alpha = mode in ("LA", "RGBA", "P+transparency")
    assert (result.alpha is not None) == has_alpha
    if has_alpha:
        assert result.alpha.mode == "L" and result.alpha.size == (width, height)


@pytest.mark.parametrize("mode", ["La", "RGBa"])
def test_premultiplied_alpha_modes(rgb: np.ndarray, mode: str) -> None:
    image = Image.fromarray(rgb).convert("RGBA" if mode == "RGBa" else "LA").convert(mode)
    result = to_lightness(image)
    assert result.lightness.shape == rgb.shape[:2] and result.alpha is not None


def test_alpha_is_kept(rgb: np.ndarray, tmp_path: Path) -> None:
    height, width = rgb.shape[:2]
    alpha = (np.arange(width)[None, :] * 255 // (width - 1)).repeat(height, 0).astype(np.uint8)
    image = Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA")
    image.save(tmp_path / "a.png")
    for source in (image, open_image(tmp_path / "a.png")):
        result = to_lightness(source)
        np.testing.assert_array_equal(np.asarray(result.alpha), alpha)
        np.testing.assert_allclose(result.lightness, reference_lightness(rgb), atol=L_TOLERANCE)
    base, kept = split_alpha(Image.fromarray(rgb))
    assert kept is None and base.mode == "RGB"


# -- EXIF orientation -------------------------------------------------------------------------------------
def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    array = np.zeros((20, 40, 3), dtype=np.uint8)  # 40 wide, 20 high; left half white
    array[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    Image.fromarray(array).save(path, exif=exif, quality=95)
    assert Image.open(path).size == (40, 20)
    image = open_image(path)
    assert image.size == (20, 40)  # transposed
    pixels = np.asarray(image.convert("L")).astype(int)
    assert pixels[:18].mean() > 240 and pixels[22:].mean() < 15  # the left half is now on top


def test_broken_exif_does_not_lose_the_picture(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 99  # not a valid orientation
    path = tmp_path / "odd.jpg"
    Image.new("RGB", (30, 20), "white").save(path, exif=exif)
    assert open_image(path).size == (30, 20)


# -- good but unusual files ------------------------------------------------------------------------------
def test_one_pixel_image(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1), (200, 30, 30)).save(path)
    result = to_lightness(open_image(path))
    assert result.lightness.shape == (1, 1)
    np.testing.assert_allclose(
        result.lightness, reference_lightness(np.array([[[200, 30, 30]]], np.uint8)), atol=L_TOLERANCE
    )


def test_sixteen_bit_png_keeps_precision(tmp_path: Path) -> None:
    values = np.linspace(0, 65535, 40 * 30).round().astype(np.uint16).reshape(30, 40)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    image = open_image(path)
    assert image.mode.startswith("I") and image.size == (40, 30)
    expected = reference_lightness(np.repeat(values[..., None] / 65535.0 * 255.0, 3, axis=-1))
    lightness = to_lightness(image).lightness
    np.testing.assert_allclose(lightness, expected, atol=L_TOLERANCE)
    assert len(np.unique(lightness)) > 1000  # not squeezed through 8 bits


def test_cmyk_jpeg(rgb: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb).convert("CMYK").save(path, quality=95)
    image = open_image(path)
    assert image.mode == "CMYK" and image.size == (rgb.shape[1], rgb.shape[0])
    lightness = to_lightness(image).lightness
    assert np.abs(lightness - reference_lightness(rgb)).mean() < 3  # JPEG-lossy, but the same picture


def test_palette_png_with_transparency(rgb: np.ndarray, tmp_path: Path) -> None:
    image = Image.fromarray(rgb).convert("P")
    transparent = int(np.asarray(image)[0, 0])
    path = tmp_path / "palette.png"
    image.save(path, transparency=transparent)
    opened = open_image(path)
    assert opened.mode == "P" and "transparency" in opened.info
    result = to_lightness(opened)
    alpha = np.asarray(result.alpha)
    np.testing.assert_array_equal(alpha == 0, np.asarray(image) == transparent)


def test_animated_gif_gives_the_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (30, 20), color) for color in ("white", "black", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert Image.open(path).n_frames == 3
    lightness = to_lightness(open_image(path)).lightness
    assert lightness.shape == (20, 30) and lightness.min() > 99  # white: the first frame


# -- bad files: one clear ImageError each ----------------------------------------------------------------
def truncated_jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).resize((256, 256)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()[: buffer.tell() // 2]


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.jpg", lambda rgb, png: b"", "empty file"),
        ("truncated.jpg", lambda rgb, png: truncated_jpeg(rgb), "truncated or corrupt"),
        ("notes.jpg", lambda rgb, png: b"these are my holiday notes, not a photo\n", "not an image"),
        ("bomb.png", lambda rgb, png: png(20000, 20000, color_type=2), "too large"),
        ("zero.png", lambda rgb, png: png(0, 10), ""),
    ],
)
@pytest.mark.parametrize("kind", ["path", "bytes", "stream", "unseekable stream"])
def test_bad_files_raise_image_error(
    rgb: np.ndarray, png, tmp_path: Path, name: str, make, reason: str, kind: str
) -> None:
    path = tmp_path / name
    path.write_bytes(make(rgb, png))
    with pytest.raises(ImageError) as error:
        open_image(as_source(path, kind))
    message = str(error.value)
    assert reason in message and "\n" not in message


class Unseekable(io.RawIOBase):
    """A binary stream that cannot seek, like a socket or a pipe."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        chunk = self.data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def as_source(path: Path, kind: str) -> object:
    """The file at ``path`` as ``open_image`` may receive it: its path, its bytes, or a stream of them."""
    data = path.read_bytes()
    return {"path": path, "bytes": data, "stream": io.BytesIO(data), "unseekable stream": Unseekable(data)}[
        kind
    ]


@pytest.mark.parametrize("kind", ["bytes", "stream", "unseekable stream"])
def test_bytes_and_streams_open_as_the_file_does(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(path, exif=exif, quality=95)
    from_file, from_source = open_image(path), open_image(as_source(path, kind))
    assert from_source.size == from_file.size == (20, 30)  # EXIF honoured: width and height swapped
    np.testing.assert_array_equal(np.asarray(from_source), np.asarray(from_file))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        open_image(tmp_path / "nothing.jpg")
    with pytest.raises(ImageError, match="is a directory"):
        open_image(tmp_path)


def test_huge_header_is_refused_quickly_with_bounded_memory(png, tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png(20000, 20000, color_type=2))  # 1.2 GB of RGB if it were decoded
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too large"):
        open_image(path)
    assert time.perf_counter() - start < 1.0
    # peak memory, measured in a fresh process: ru_maxrss (KiB on Linux) before and after the attempt
    script = (
        "import resource, sys\n"
        "from chromalab.images import ImageError, open_image\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n    open_image(sys.argv[1])\nexcept ImageError:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    grown_kib = int(
        subprocess.run(
            [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
        ).stdout
    )
    assert grown_kib < 50_000, f"peak memory grew by {grown_kib} KiB"


def test_images_under_the_120_megapixel_limit_open(png, tmp_path: Path) -> None:
    side = 9500  # 90.25 MP, 1-bit: 11 MB of rows, a few kB compressed
    path = tmp_path / "large.png"
    path.write_bytes(png(side, side, bit_depth=1, rows=(b"\0" + b"\xff" * ((side + 7) // 8)) * side))
    assert open_image(path).size == (side, side)


# -- writing ---------------------------------------------------------------------------------------------
def test_output_path_picks_a_format_that_holds_the_result(tmp_path: Path) -> None:
    assert output_path(Path("a/b.JPG"), tmp_path, alpha=False) == tmp_path / "b.jpg"
    assert output_path(Path("b.jpg"), tmp_path, alpha=True) == tmp_path / "b.png"
    assert output_path(Path("b.gif"), tmp_path, alpha=False) == tmp_path / "b.png"
    assert output_path(Path("b.tif"), tmp_path, alpha=True) == tmp_path / "b.tif"


def test_save_image_is_atomic(rgb: np.ndarray, tmp_path: Path) -> None:
    for name in ("out.jpg", "out.png"):
        save_image(Image.fromarray(rgb), tmp_path / name)
        assert open_image(tmp_path / name).size == (rgb.shape[1], rgb.shape[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jpg", "out.png"]
