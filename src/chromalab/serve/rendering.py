"""The work behind each request, run in the pool: decode, network, re-decode at a temperature, render, encode.
Everything goes through the colorizer's own steps (``view`` -> network -> ``render``), so a photo from the web
app is the photo ``chromalab colorize`` makes with the same model, size and temperature."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from chromalab.color.hints import as_hints
from chromalab.color.srgb8 import grey_rendering
from chromalab.colorize.core import BaseColorizer
from chromalab.colorize.hint_session import HintSession
from chromalab.colorize.reference import Reference
from chromalab.files import parse_json
from chromalab.images import ImageError, Lightness, encode_image, open_image, resize_channel, to_lightness
from chromalab.serve.uploads import Upload

PREVIEW_FORMAT = "JPEG"
FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG"}  # what a client may ask for -> Pillow's name
SUFFIXES = {"PNG": ".png", "JPEG": ".jpg"}
# hints on one photo, at most: a person clicks a few to a few tens (bench_hints measures up to 100, where the
# PSNR curve flattens); each hint keeps a response of the working size (0.5 MB) and enters every solve, so
# 600 made one preview take 39 s and 0.6 GB, and evicted the other uploads
MAX_HINTS = 100
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


def colorize_bytes(
    colorizer: BaseColorizer,
    data: bytes,
    *,
    max_pixels: int,
    temperature: float | None,
    size: int | None,
    fmt: str,
) -> bytes:
    """An uploaded file -> its colorization at the input's own size, encoded as ``fmt``."""
    image = open_image(data, max_pixels=max_pixels)
    return encode_image(colorizer.colorize(image, temperature=temperature, size=size), fmt)


def analyse(
    colorizer: BaseColorizer,
    data: bytes,
    *,
    model: str,
    filename: str,
    original: Path,
    max_pixels: int,
    size: int | None,
    preview_side: int,
) -> Upload:
    """Run the network once on an uploaded file and keep what later renderings need."""
    source = to_lightness(open_image(data, max_pixels=max_pixels))
    session = HintSession(colorizer, source, size=size)
    original.write_bytes(data)
    height, width = source.lightness.shape
    return Upload(model, filename, width, height, session, shrink(source, preview_side), original)


def shrink(source: Lightness, side: int) -> Lightness:
    """L (and alpha) with the longest side at most ``side`` (antialiased bilinear), for previews."""
    height, width = source.lightness.shape
    scale = side / max(height, width)
    if scale >= 1:
        return source
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    alpha = None if source.alpha is None else source.alpha.resize(size, Image.Resampling.BILINEAR)
    return Lightness(resize_channel(source.lightness, size), alpha)


def preview(upload: Upload, *, temperature: float | None, grey: bool = False) -> bytes:
    """The preview of an upload as JPEG: its colorization at ``temperature`` (decoded again from the kept
    network output, no network), or the grey photo the network sees."""
    if grey:
        return encode_image(Image.fromarray(grey_rendering(upload.preview.lightness)), PREVIEW_FORMAT)
    return encode_image(
        upload.session.colorize(temperature=temperature, source=upload.preview), PREVIEW_FORMAT
    )


def full_resolution(upload: Upload, *, temperature: float | None, fmt: str, max_pixels: int) -> bytes:
    """The upload's colorization at its own size and ``temperature``, encoded as ``fmt``."""
    source = to_lightness(open_image(upload.original, max_pixels=max_pixels))
    return encode_image(upload.session.colorize(temperature=temperature, source=source), fmt)


def hint_entries(text: str) -> list:
    """The hints of a request's JSON ``text``, written as ``--hints`` files are (``ValueError`` saying what is
    wrong: not JSON, nested too deeply, not ``{"hints": [...]}``, more than ``MAX_HINTS``)."""
    document = parse_json(text)
    if not isinstance(document, dict) or not isinstance(document.get("hints"), list):
        raise ValueError(
            'expected {"hints": [{"x": ..., "y": ..., "color": "#rrggbb" or "ab": [a, b]}, ...]}'
        )  # noqa: TRY004 (bad input)
    if len(document["hints"]) > MAX_HINTS:
        raise ValueError(f"at most {MAX_HINTS} hints on one photo, got {len(document['hints'])}")
    return document["hints"]


def set_hints(upload: Upload, entries: list) -> list[dict]:
    """Give the upload the hints ``entries`` (``hint_entries``; ``ValueError`` naming the first bad one);
    returns them as stored."""
    upload.session.set_hints(as_hints(entries, upload.session.size))
    return [{"x": h.x, "y": h.y, "ab": [round(v, 2) for v in h.ab]} for h in upload.session.hints]


def set_reference(upload: Upload, data: bytes, *, max_pixels: int) -> float:
    """Give the upload the colour photo ``data`` as its reference (``colorize.reference``: matched once, then
    in every preview, download and hint change); returns the share of the photo's cells that matched. A file
    that is not a usable photo raises its ``ImageError`` (its kind: its status) and a model that cannot
    match ``NoMatchingFeatures``; the upload is then as it was."""
    try:
        image = open_image(data, max_pixels=max_pixels)
    except ImageError as error:
        raise type(error)(f"reference: {error}") from None
    return upload.session.set_reference(Reference(image)).matched_share
