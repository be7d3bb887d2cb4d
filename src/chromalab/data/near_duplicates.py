"""Near-duplicate detection for ``chromalab prepare --exclude``: perceptual hashes of grey thumbnails,
confirmed by the thumbnails' correlation.

A photo's hash is the DCT hash of Zauner 2010 ("Implementation and Benchmarking of Perceptual Image Hash
Functions", the pHash family): the grey image shrunk to 32x32, its 2-D DCT-II, the 8x8 lowest frequencies
without the constant term compared with their median -> 63 bits. Two photos whose hashes differ in at most
``MAX_DISTANCE`` bits are candidates; they are the same photo (up to resizing, recompression, mild colour
changes or greying) when their 32x32 grey thumbnails also correlate at ``MIN_CORRELATION`` or more. The hash
alone is not enough for photos that are alike by design: of 10,000 aligned UTKFace faces, 593 fell within
8 bits of one of 1,000 others, with a median thumbnail correlation of 0.74 (different people).

Each photo gives two hashes, of the whole frame and of its centre square (what ``--resize crop`` keeps), and
two photos match when any pair of their hashes does: a square crop of a photo still meets the photo.
Only the grey thumbnail is hashed, so a colour photo and its black-and-white copy match too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.fft import dctn

THUMBNAIL = 32  # side of the grey thumbnail the DCT sees
LOW = 8  # the LOW x LOW lowest frequencies make the hash (less the DC term: 63 bits)
# Bits that may differ between two copies of one photo. Measured on the 110 photos of kodak24, mcmaster and
# cbsd68: a copy at half size, grey, JPEG q75, or its centre square at 128x128, is at most 4 bits from the
# photo (median 0); two different photos of those sets are at least 16 bits apart. 8 sits between.
MAX_DISTANCE = 8
# The same copies correlate with their photo at 0.992 or more; two different photos of those sets at most
# 0.895.
MIN_CORRELATION = 0.95
_POPCOUNT8 = np.array([v.bit_count() for v in range(256)], np.uint8)


def _thumbnail(grey: Image.Image) -> np.ndarray:
    return np.asarray(grey.resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX), dtype=np.uint8)


def _dct_hash(thumbnail: np.ndarray) -> int:
    # (63,), no DC term
    low = dctn(thumbnail.astype(np.float64), type=2, norm="ortho")[:LOW, :LOW].ravel()[1:]
    bits = low > np.median(low)
    return int(sum(1 << i for i, bit in enumerate(bits) if bit))


def photo_thumbnails(image: Image.Image) -> np.ndarray:
    """(2, 32, 32) uint8: grey thumbnails of the whole frame and of its centre square."""
    grey = image.convert("L")
    w, h = grey.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return np.stack([_thumbnail(grey), _thumbnail(grey.crop((left, top, left + side, top + side)))])


def _readable_thumbnails(path: Path) -> np.ndarray | None:
    """``photo_thumbnails`` of the photo at ``path``, None when it does not decode."""
    try:
        with Image.open(path) as image:
            image.draft("L", (2 * THUMBNAIL, 2 * THUMBNAIL))
            return photo_thumbnails(image)
    except Exception:  # noqa: BLE001  Pillow raises assorted errors for damaged files
        return None


def photo_hashes(image: Image.Image) -> tuple[int, int]:
    """(hash of the whole frame, hash of its centre square) of the image's grey version."""
    whole, square = photo_thumbnails(image)
    return _dct_hash(whole), _dct_hash(square)


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of thumbnail ``a`` (32, 32) with each of ``b`` (N, 32, 32): (N,) float."""
    x = a.astype(np.float64).ravel()
    y = b.reshape(len(b), -1).astype(np.float64)
    x, y = x - x.mean(), y - y.mean(axis=1, keepdims=True)
    return (y @ x) / np.maximum(np.linalg.norm(y, axis=1) * np.linalg.norm(x), 1e-9)


def hamming(a: np.ndarray, b: int) -> np.ndarray:
    """Bits by which each uint64 hash of ``a`` differs from ``b``: (N,) uint8."""
    xor = np.bitwise_xor(np.asarray(a, np.uint64), np.uint64(b))
    return _POPCOUNT8[xor.view(np.uint8)].reshape(-1, 8).sum(axis=1)


@dataclass(frozen=True)
class ExcludedPhotos:
    """The photos no training photo may match, two views each: ``hashes`` (2N,) uint64, ``thumbnails``
    (2N, 32, 32) uint8, ``names`` (2N,) paths."""

    hashes: np.ndarray
    thumbnails: np.ndarray
    names: tuple[str, ...]

    def save(self, path: Path) -> None:
        np.savez(path, hashes=self.hashes, thumbnails=self.thumbnails, names=np.array(self.names, dtype=str))

    @classmethod
    def load(cls, path: str | Path) -> ExcludedPhotos:
        with np.load(path, allow_pickle=False) as saved:
            return cls(saved["hashes"], saved["thumbnails"], tuple(str(n) for n in saved["names"]))

    def match(self, image: Image.Image) -> str | None:
        """The excluded photo ``image`` duplicates, or None."""
        if not len(self.hashes):
            return None
        for thumbnail in photo_thumbnails(image):
            candidates = np.flatnonzero(hamming(self.hashes, _dct_hash(thumbnail)) <= MAX_DISTANCE)
            if len(candidates):
                alike = correlation(thumbnail, self.thumbnails[candidates])
                if alike.max() >= MIN_CORRELATION:
                    return self.names[candidates[int(alike.argmax())]]
        return None


def hash_folders(
    folders: Sequence[Path], *, progress: Callable[[int, int], None] | None = None
) -> ExcludedPhotos:
    """Hash every image under ``folders`` (recursive); ``FileNotFoundError`` for a missing folder.

    A file that does not decode is skipped: it cannot be duplicated by a training photo that decodes.
    """
    from chromalab.images import IMAGE_SUFFIXES

    paths: list[Path] = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: no such folder (--exclude takes folders of photos)")
        paths += sorted(
            p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
    thumbnails: list[np.ndarray] = []
    names: list[str] = []
    for done, path in enumerate(paths, 1):
        views = _readable_thumbnails(path)
        if views is not None:
            thumbnails.append(views)
            names += [str(path)] * 2
        if progress is not None:
            progress(done, len(paths))
    views = np.concatenate(thumbnails) if thumbnails else np.zeros((0, THUMBNAIL, THUMBNAIL), np.uint8)
    return ExcludedPhotos(np.array([_dct_hash(t) for t in views], np.uint64), views, tuple(names))
