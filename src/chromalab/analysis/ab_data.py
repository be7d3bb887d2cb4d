"""The ab values a figure is drawn from: every photo of a prepared cache or of a folder of photos, one at a
time, and their integer-ab count tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from chromalab.evaluation.metrics import rgb8_to_ab
from chromalab.images import ImageError, evenly_spaced, list_images, open_rgb

MAX_SIDE = 256  # images are shrunk to this longest side before their colours are counted or drawn


class NoImagesError(ValueError):
    """A folder (or cache) without a single usable photo; the CLI reports it as a failed input (exit 1)."""


def is_cache(path: Path) -> bool:
    from chromalab.data.cache import INFO_FILE

    return (Path(path) / INFO_FILE).is_file()


def load_rgb(path: Path) -> np.ndarray:
    """A photo as figures draw it: uint8 RGB (H, W, 3), alpha dropped, shrunk to ``MAX_SIDE``."""
    return open_rgb(path, max_side=MAX_SIDE)


def find_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursive and sorted; FileNotFoundError or NoImagesError when there
    are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    paths = list_images(folder)
    if not paths:
        raise NoImagesError(f"{folder}: no images found in this folder")
    return paths


def iter_ab(source: Path, *, limit: int | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, ab (2, H, W)) of every photo of a cache (all rows) or an image folder (shrunk to MAX_SIDE).

    ``limit`` keeps that many, evenly spaced. Unreadable files are skipped (``find_images`` lists them).
    """
    if is_cache(source):
        from chromalab.data.cache import Cache

        cache = Cache(source)
        rows = evenly_spaced(np.arange(len(cache)), limit)
        for row in rows:
            yield f"row {row}", torch.from_numpy(cache.ab[row].astype(np.float32))
        return
    for path in evenly_spaced(find_images(source), limit):
        try:
            yield path.relative_to(source).as_posix(), torch.from_numpy(rgb8_to_ab(load_rgb(path)))
        except (ImageError, OSError):
            continue


def ab_counts(ab: torch.Tensor) -> np.ndarray:
    """ab (2, H, W) -> (256, 256) int64 counts of the rounded values at [a + 128, b + 128]."""
    index = ab.round().clamp(-128, 127).long() + 128  # (2, H, W)
    flat = (index[0] * 256 + index[1]).reshape(-1)
    return torch.bincount(flat, minlength=256 * 256).reshape(256, 256).numpy()


def load_ab_counts(source: Path, *, limit: int | None = None) -> tuple[np.ndarray, str]:
    """(256, 256) integer-ab counts and a description: a cache's train pixels (exact, stored) or the pixels
    of every photo of a folder. ValueError / FileNotFoundError with a one-line reason."""
    source = Path(source)
    if is_cache(source):
        from chromalab.data.cache import Cache

        cache = Cache(source)
        return cache.ab_counts, f"{source.name}: train pixels of the cache"
    counts = np.zeros((256, 256), dtype=np.int64)
    images = 0
    for _, ab in iter_ab(source, limit=limit):
        counts += ab_counts(ab)
        images += 1
    if not images:
        raise NoImagesError(f"{source}: none of the images could be read")
    return counts, f"{source.name}: {images} photos"
