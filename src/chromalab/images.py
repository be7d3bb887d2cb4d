"""Photos in and out: safe decoding of any source (a path, bytes, a binary stream) and any Pillow mode,
lightness extraction, listing and evenly spaced subsets of photo folders, atomic writing.

Every failure a user can cause (empty file, not an image, truncated data, decompression bomb) becomes an
``ImageError`` with a one-line reason; callers print it, they never show a traceback. The lowest stage
above ``color`` and ``files``: every other stage may import it.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from chromalab.color.srgb8 import grey_lightness, grey_lightness_u8, rgb_lightness_u8
from chromalab.files import atomic_write

# Refuse images above 120 megapixels before decoding: a 20000 x 20000 header would need gigabytes.
MAX_PIXELS = 120_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # Pillow warns above this and refuses above twice this; both are refused
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
# formats Pillow writes well; anything else is written as PNG
_WRITABLE = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
}


# a file's path, its bytes, or a readable binary stream (an upload)
ImageSource = str | Path | bytes | BinaryIO
T = TypeVar("T")


class ImageError(ValueError):
    """A user-facing problem with one image; ``str()`` is the one-line reason."""


class ImageTooLarge(ImageError):
    """More pixels than the limit allows (a decompression bomb guard)."""


class NotAnImage(ImageError):
    """Data that no image decoder recognises: another kind of file."""


@dataclass
class Lightness:
    """What the pipeline needs from an input image."""

    lightness: np.ndarray  # (H, W) float32, L in [0, 100] at the original resolution
    alpha: Image.Image | None  # the alpha channel to carry over, mode "L"


def open_image(source: ImageSource, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open, validate and fully decode ``source``, honouring EXIF orientation; first frame of animations.

    ``source`` is a path, the bytes of a file, or a binary stream (read from where it stands); the same
    guards hold for each: empty input, not an image (``NotAnImage``), truncated data, more than ``max_pixels``
    pixels (``ImageTooLarge``; never above ``MAX_PIXELS``), all refused before the pixels are decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(_readable(source))
            check_size(image.size, max_pixels=max_pixels)
            image.seek(0)
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(
            f"image too large to decode safely (limit {MAX_PIXELS // 1_000_000} megapixels)"
        ) from None
    except UnidentifiedImageError:
        raise NotAnImage("not an image Pillow can read") from None
    except IsADirectoryError:
        raise ImageError("is a directory") from None
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"truncated or corrupt image ({error})") from None
    return orient(image)


def _readable(source: ImageSource) -> Path | BinaryIO:
    """What ``Image.open`` takes for ``source``; ImageError when it holds no byte."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.stat().st_size == 0:
            raise ImageError("empty file (0 bytes)")
        return path
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    if not stream.seekable():  # Pillow seeks while it identifies the format
        stream = io.BytesIO(stream.read())
    start = stream.tell()
    if not stream.read(1):
        raise ImageError("empty file (0 bytes)")
    stream.seek(start)
    return stream


def open_rgb(source: ImageSource, *, max_side: int | None = None) -> np.ndarray:
    """A photo -> uint8 RGB (H, W, 3), alpha dropped, shrunk to ``max_side`` if given. Raises
    ``ImageError``."""
    image = split_alpha(open_image(source))[0].convert("RGB")
    if max_side is not None:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(image).copy()


def list_images(folder: Path, *, suffixes: frozenset[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files (or files of other ``suffixes``) under ``folder``, recursive, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def evenly_spaced(items: Sequence[T], limit: int | None) -> list[T]:
    """At most ``limit`` of ``items``, evenly spaced from the first to the last (all when ``limit`` is None).

    Rather than the first N: a subset of a class-per-folder set (or of a cache, sorted by class) still
    covers every class."""
    if limit is None or limit >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def check_size(size: tuple[int, int], *, max_pixels: int = MAX_PIXELS) -> None:
    width, height = size
    limit = min(max_pixels, MAX_PIXELS)
    if width * height > limit:
        raise ImageTooLarge(
            f"{width}x{height} is above the {limit / 1e6:g}-megapixel limit (decompression bomb guard)"
        )
    if width < 1 or height < 1:
        raise ImageError(f"empty image ({width}x{height})")


def orient(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, if any."""
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception:  # noqa: BLE001  a broken EXIF block must not lose the picture; Pillow raises assorted errors
        return image


def has_alpha(image: Image.Image) -> bool:
    """Whether ``image`` carries transparency: an alpha band, or a palette or single-colour transparency."""
    return "A" in image.getbands() or "transparency" in image.info


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """(image without alpha, alpha as mode "L" or None). Palette transparency counts as alpha."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("La", "RGBa"):  # premultiplied alpha: undo it first
        image = image.convert("LA" if image.mode == "La" else "RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        alpha = image.getchannel("A")
        base = image.convert("L" if image.mode == "LA" else "RGB")
        return base, alpha
    return image, None


def to_lightness(image: Image.Image) -> Lightness:
    """Any Pillow image -> L (H, W) at full resolution plus its alpha channel."""
    base, alpha = split_alpha(image)
    if base.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grey keeps its precision: scale to [0, 1] before the transfer curve
        lightness = grey_lightness(np.asarray(base, dtype=np.float32) / 65535.0)
    elif base.mode == "F":
        lightness = grey_lightness(np.asarray(base, dtype=np.float32))
    elif base.mode in ("1", "L"):
        lightness = grey_lightness_u8(np.asarray(base if base.mode == "L" else base.convert("L")))
    else:
        # CMYK, YCbCr, P, HSV ... -> RGB; an RGB image is not copied (convert costs 30 ms on 12 MP)
        rgb = np.asarray(base if base.mode == "RGB" else base.convert("RGB"))
        lightness = rgb_lightness_u8(rgb)
    return Lightness(np.ascontiguousarray(lightness, dtype=np.float32), alpha)


def resize_channel(channel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float channel (H, W) resized to ``size`` (w, h), antialiased bilinear (Pillow resamples float
    images): (h, w) float32."""
    image = Image.fromarray(np.asarray(channel, dtype=np.float32), mode="F")
    return np.array(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


def resize_channels(channels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Float channels (C, H, W), e.g. ab, each resized as ``resize_channel`` does: (C, h, w) float32."""
    return np.stack([resize_channel(channel, size) for channel in channels])


def output_path(source: Path, out_dir: Path, *, alpha: bool) -> Path:
    """Where the colorization of ``source`` goes: same name, PNG when the format can't hold the result."""
    suffix = source.suffix.lower()
    if alpha and suffix not in (".png", ".tif", ".tiff", ".webp"):
        suffix = ".png"
    if suffix not in _WRITABLE:
        suffix = ".png"
    return out_dir / (source.stem + suffix)


def save_image(image: Image.Image, path: Path) -> None:
    """Write atomically (temporary file + rename), in the format of the suffix (PNG for the rest)."""
    fmt = _WRITABLE.get(path.suffix.lower(), "PNG")
    atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **_encoder_options(fmt)))


def encode_image(image: Image.Image, fmt: str) -> bytes:
    """The bytes of ``image`` as a file of format ``fmt`` ("PNG", "JPEG"...), with ``save_image``'s
    settings."""
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # JPEG holds no alpha
    image.save(buffer, format=fmt, **_encoder_options(fmt))
    return buffer.getvalue()


def _encoder_options(fmt: str) -> dict[str, int]:
    """JPEG and WebP at quality 95; PNG at compression level 1 (~5x faster than the default, ~10% bigger)."""
    if fmt in ("JPEG", "WEBP"):
        return {"quality": 95}
    return {"compress_level": 1} if fmt == "PNG" else {}
