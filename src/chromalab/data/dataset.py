"""A torch ``Dataset`` over a prepared cache: one photo as (normalised L, ab in Lab units, class label).

The training engine batches straight from the memory maps (``chromalab.training.batches``); this class is
for everything that wants the standard ``Dataset`` / ``DataLoader`` interface. Augmentation is a random
left-right flip only: colour statistics must not change. Whether an item is flipped is a function of
(seed, epoch, index) alone, so results do not depend on DataLoader workers or the order of access.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from chromalab.color.lab import normalize_l
from chromalab.data.cache import Cache, decode_l


class CacheDataset(Dataset):
    """Items ``(l_norm (1, S, S) float32, ab (2, S, S) float32, label int)`` of one split of a cache.

    ``split``: "train", "val" or "all". ``flip``: mirror half of the items left-right, seeded by ``seed``
    and the epoch set with ``set_epoch``. Pickles by path (DataLoader workers reopen the memory maps).
    """

    def __init__(
        self, cache: Cache | str | Path, split: str = "train", *, flip: bool = False, seed: int = 0
    ) -> None:
        self.cache = cache if isinstance(cache, Cache) else Cache(cache)
        self.split = split
        self.rows = self.cache.indices(split)  # (N,) cache rows of this split
        self.flip = flip
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """A new flip pattern per epoch (call it before each epoch, as with DistributedSampler)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def flipped(self, index: int) -> bool:
        """Whether item ``index`` is mirrored in the current epoch."""
        return self.flip and bool(np.random.default_rng([self.seed, self.epoch, index]).random() < 0.5)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} {self.split} items")
        index %= len(self)
        row = self.rows[index]
        lightness = decode_l(self.cache.l[row])[None]  # (1, S, S) L in [0, 100]
        ab = self.cache.ab[row].astype(np.float32)  # (2, S, S)
        if self.flipped(index):
            lightness, ab = lightness[..., ::-1], ab[..., ::-1]
        l_norm = normalize_l(torch.from_numpy(np.ascontiguousarray(lightness)))
        return l_norm, torch.from_numpy(np.ascontiguousarray(ab)), int(self.cache.labels[row])

    @property
    def class_names(self) -> list[str]:
        return self.cache.class_names
