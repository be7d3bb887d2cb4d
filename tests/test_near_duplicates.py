"""Perceptual hashes of ``prepare --exclude`` (``data/near_duplicates.py``) on real photos: copies of a
photo (smaller, grey, recompressed, its centre square) stay within ``MAX_DISTANCE`` bits, different photos
do not."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from chromalab.data.near_duplicates import (
    MAX_DISTANCE,
    MIN_CORRELATION,
    ExcludedPhotos,
    correlation,
    hamming,
    hash_folders,
    photo_hashes,
    photo_thumbnails,
)

NAMES = ("astronaut", "coffee", "chelsea", "rocket", "camera")


@pytest.fixture(scope="module")
def originals() -> dict[str, Image.Image]:
    return {name: Image.fromarray(getattr(data, name)()) for name in NAMES}


def copies(image: Image.Image) -> list[Image.Image]:
    w, h = image.size
    side = min(w, h)
    buffer = io.BytesIO()
    image.convert("L").resize((w // 2, h // 2), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=60)
    buffer.seek(0)
    square = image.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2)).resize((96, 96))
    return [Image.open(buffer), square]


def distance(a: Image.Image, b: Image.Image) -> int:
    ours = np.array(photo_hashes(a), np.uint64)
    return min(int(hamming(ours, theirs).min()) for theirs in photo_hashes(b))


def test_hamming_counts_differing_bits() -> None:
    assert hamming(np.array([0, 1, 2**64 - 1], np.uint64), 0).tolist() == [0, 1, 64]
    assert hamming(np.array([0b1011], np.uint64), 0b0110).tolist() == [3]


def alike(a: Image.Image, b: Image.Image) -> float:
    theirs = photo_thumbnails(b)
    return max(float(correlation(own, theirs).max()) for own in photo_thumbnails(a))


def test_copies_match_and_different_photos_do_not(originals: dict[str, Image.Image]) -> None:
    for name, image in originals.items():
        for copy in copies(image):
            assert distance(image, copy) <= MAX_DISTANCE and alike(image, copy) >= MIN_CORRELATION, name
    for a in NAMES:
        for b in NAMES:
            if a < b:
                assert distance(originals[a], originals[b]) > MAX_DISTANCE, (a, b)
                assert alike(originals[a], originals[b]) < MIN_CORRELATION, (a, b)


def test_a_hash_match_alone_is_not_a_duplicate(originals: dict[str, Image.Image]) -> None:
    """A photo whose hash equals an excluded one's but whose thumbnail does not correlate is kept (aligned
    " "faces)."""
    own = photo_thumbnails(originals["chelsea"])
    other = photo_thumbnails(originals["camera"])
    same_hashes = np.array(photo_hashes(originals["chelsea"]), np.uint64)
    forged = ExcludedPhotos(same_hashes, other, ("camera.png", "camera.png"))
    assert forged.match(originals["chelsea"]) is None
    assert ExcludedPhotos(same_hashes, own, ("chelsea.png",) * 2).match(originals["chelsea"]) == "chelsea.png"


def test_excluded_photos_name_the_match_and_survive_saving(
    originals: dict[str, Image.Image], tmp_path: Path
) -> None:
    folder = tmp_path / "eval" / "sub"
    folder.mkdir(parents=True)
    originals["coffee"].save(folder / "coffee.png")
    originals["rocket"].save(tmp_path / "eval" / "rocket.jpg", quality=90)
    (tmp_path / "eval" / "broken.png").write_bytes(b"not a png")
    excluded = hash_folders([tmp_path / "eval"])
    assert len(excluded.hashes) == 4  # two photos, two hashes each; the broken file is skipped
    excluded.save(tmp_path / "hashes.npz")
    loaded = ExcludedPhotos.load(tmp_path / "hashes.npz")
    assert loaded.names == excluded.names and np.array_equal(loaded.hashes, excluded.hashes)
    assert np.array_equal(loaded.thumbnails, excluded.thumbnails)
    assert loaded.match(copies(originals["coffee"])[0]) == str(folder / "coffee.png")
    assert loaded.match(originals["chelsea"]) is None
    assert (
        ExcludedPhotos(np.zeros(0, np.uint64), np.zeros((0, 32, 32), np.uint8), ()).match(
            originals["chelsea"]
        )
        is None
    )
