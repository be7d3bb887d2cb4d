"""Batches straight from the memory-mapped cache.

The cache stores L as uint8 and ab as int8, so a batch is a fancy-indexed copy and two casts: far faster
than a training step, which is why no worker processes are needed (the benchmark measures both).
The order of an epoch is a function of (seed, epoch) alone, so a resumed run sees the same batches.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from chromalab.color.codes import L_CODES_PER_UNIT
from chromalab.color.hints import hint_map, sample_hints


def epoch_order(indices: np.ndarray, *, seed: int, epoch: int, rank: int = 0, world: int = 1) -> np.ndarray:
    """This rank's shuffled share of ``indices`` for ``epoch`` (same length on every rank)."""
    order = np.random.default_rng([seed, epoch]).permutation(indices)
    share = len(order) // world
    return order[rank * share : (rank + 1) * share]


def batch_slices(count: int, batch_size: int) -> list[slice]:
    """Full batches only: every step sees ``batch_size`` images (BatchNorm, identical ranks)."""
    return [slice(start, start + batch_size) for start in range(0, count - batch_size + 1, batch_size)]


def load_batch(
    l_codes: np.ndarray, ab_codes: np.ndarray, indices: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cache rows -> (L (B, 1, S, S) in [0, 100], ab (B, 2, S, S) in Lab units), float32."""
    rows = np.sort(indices)  # sorted reads are sequential on the memory map
    lightness = (
        torch.from_numpy(np.ascontiguousarray(l_codes[rows])).float().div_(L_CODES_PER_UNIT).unsqueeze(1)
    )
    ab = torch.from_numpy(np.ascontiguousarray(ab_codes[rows])).float()
    return lightness, ab


def random_flip(
    lightness: torch.Tensor, ab: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror about half the images left-right (the only augmentation: colour must not change)."""
    mask = torch.rand(lightness.shape[0], generator=generator) < 0.5
    lightness, ab = lightness.clone(), ab.clone()
    lightness[mask] = lightness[mask].flip(-1)
    ab[mask] = ab[mask].flip(-1)
    return lightness, ab


def half_size(lightness: torch.Tensor, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L (B, 1, S, S) and ab (B, 2, S, S) -> (B, 1, S/2, S/2), (B, 2, S/2, S/2): means of 2x2 pixels (an
    area resize, as a photo shrunk to the network's view)."""
    return F.avg_pool2d(lightness, 2), F.avg_pool2d(ab, 2)


def hint_maps(ab: torch.Tensor, rng: np.random.Generator, *, no_hint_share: float) -> torch.Tensor:
    """Hint maps (B, 3, S, S) drawn from the true ab (B, 2, S, S) as Zhang et al. 2017 train
    (``sample_hints``), except that a ``no_hint_share`` of the images gets none, so that the network still
    colorizes on its own."""
    batch, _, height, width = ab.shape
    maps = np.zeros((batch, 3, height, width), dtype=np.float32)
    truth = ab.numpy()
    for index in range(batch):
        if rng.random() >= no_hint_share:
            maps[index] = hint_map(sample_hints(truth[index], rng), (width, height), (width, height))
    return torch.from_numpy(maps)
