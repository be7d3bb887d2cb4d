"""``CacheDataset``: items decoded from the cache, seeded flips, DataLoader use, pickling by path."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from chromalab.color.lab import denormalize_l
from chromalab.data.cache import Cache, decode_l
from chromalab.data.dataset import CacheDataset
from chromalab.data.prepare import prepare

SIZE = 24


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, np.ndarray]) -> Cache:
    """16 pieces (32x32) of four real photos in four classes, at 24x24, a quarter held out."""
    root = tmp_path_factory.mktemp("dataset") / "photos"
    for name in ("astronaut", "coffee", "chelsea", "china"):
        (root / name).mkdir(parents=True)
        rgb = photos[name]
        for i, (y, x) in enumerate(((0, 0), (0, 32), (16, 0), (16, 16))):
            Image.fromarray(rgb[y : y + 32, x : x + 32]).save(root / name / f"{i}.png")
    prepare([root], root.parent / "cache", size=SIZE, workers=0, val_fraction=0.25, seed=1)
    return Cache(root.parent / "cache")


def test_items_are_the_cache_rows_in_network_units(cache: Cache) -> None:
    data = CacheDataset(cache, "train")
    assert len(data) == len(cache.train_indices) == 12 and len(CacheDataset(cache, "val")) == 4
    l_norm, ab, label = data[3]
    assert l_norm.shape == (1, SIZE, SIZE) and ab.shape == (2, SIZE, SIZE) and isinstance(label, int)
    assert l_norm.dtype == ab.dtype == torch.float32
    row = cache.train_indices[3]
    assert torch.allclose(denormalize_l(l_norm)[0], torch.from_numpy(decode_l(cache.l[row])), atol=1e-4)
    assert torch.equal(ab, torch.from_numpy(cache.ab[row].astype(np.float32)))
    assert data.class_names[label] == cache.class_names[cache.labels[row]]
    assert l_norm.min() >= -0.5 and l_norm.max() <= 0.5
    assert torch.equal(data[-1][1], data[len(data) - 1][1])
    with pytest.raises(IndexError):
        data[len(data)]
    with pytest.raises(ValueError, match="unknown split"):
        CacheDataset(cache, "test")


def test_flips_are_seeded_per_epoch_and_mirror_l_and_ab_together(cache: Cache) -> None:
    plain = CacheDataset(cache, "all")
    flipping = CacheDataset(cache, "all", flip=True, seed=7)
    pattern = [flipping.flipped(i) for i in range(len(flipping))]
    assert 0 < sum(pattern) < len(pattern)
    assert pattern == [CacheDataset(cache, "all", flip=True, seed=7).flipped(i) for i in range(len(flipping))]
    for i, flipped in enumerate(pattern):
        l_norm, ab, _ = flipping[i]
        l_plain, ab_plain, _ = plain[i]
        expected = (l_plain.flip(-1), ab_plain.flip(-1)) if flipped else (l_plain, ab_plain)
        assert torch.equal(l_norm, expected[0]) and torch.equal(ab, expected[1])
    flipping.set_epoch(1)
    assert [flipping.flipped(i) for i in range(len(flipping))] != pattern
    assert not any(plain.flipped(i) for i in range(len(plain)))


def test_dataloader_batches_and_pickling_by_path(cache: Cache) -> None:
    data = CacheDataset(cache.path, "train", flip=True)
    l_batch, ab_batch, labels = next(iter(DataLoader(data, batch_size=5, shuffle=False)))
    assert (
        l_batch.shape == (5, 1, SIZE, SIZE) and ab_batch.shape == (5, 2, SIZE, SIZE) and labels.shape == (5,)
    )
    blob = pickle.dumps(data)
    assert len(blob) < 4096  # the memory maps are reopened, not copied
    clone = pickle.loads(blob)
    assert torch.equal(clone[2][1], data[2][1]) and isinstance(clone.cache.l, np.memmap)


def test_missing_cache_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a chromalab cache"):
        CacheDataset(tmp_path)
