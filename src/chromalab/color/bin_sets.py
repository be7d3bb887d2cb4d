"""Which bin set a spec string names, and the grid arithmetic behind the gamut and data bins.

``make_bins("gamut:10")`` and the other specs of ``bin_index.BIN_SPECS``; ``gamut_bins`` (the shipped
tables of the cells 8-bit sRGB reaches), ``ab_histogram`` and ``bins_from_histogram`` (the cells a dataset
uses), and the rebuilding of a bin set from a model file (``bins_from_centres``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from chromalab.color.bin_index import load_centres_file, shipped_gamut_centres, split_spec
from chromalab.color.bins import Bins, ChannelBins, JointBins
from chromalab.color.lab import rgb_to_lab


def ab_histogram(ab: torch.Tensor, *, grid: int) -> torch.Tensor:
    """Counts (C, C) of ab values (..., 2, H, W) on a grid of cells centred at multiples of ``grid``."""
    cells = _grid_centres(grid)
    idx = (
        (ab.detach().float() / grid).round().clamp(cells[0] / grid, cells[-1] / grid) - cells[0] / grid
    ).long()
    flat = idx[..., 0, :, :] * len(cells) + idx[..., 1, :, :]
    return torch.bincount(flat.reshape(-1), minlength=len(cells) ** 2).reshape(len(cells), len(cells))


def _grid_centres(grid: int) -> np.ndarray:
    """Multiples of ``grid`` covering [-128, 127] (for grid 10: -130 ... 130)."""
    if grid < 2:
        raise ValueError(f"the ab grid must be at least 2, got {grid}")
    half = int(np.ceil(128 / grid))
    return np.arange(-half, half + 1) * grid


def _srgb_cells(cell_of: Callable[[torch.Tensor], torch.Tensor], cells: int) -> torch.Tensor:
    """Which of ``cells`` ab cells some 8-bit sRGB colour reaches; ``cell_of`` maps ab (2, P) -> cell ids
    (P,).

    Walks the 256**3 colours one red level at a time, so memory stays ~10 MB.
    """
    v = torch.arange(256, dtype=torch.float32) / 255
    gb = torch.stack(torch.meshgrid(v, v, indexing="ij")).reshape(2, -1, 1)  # (2, 65536, 1)
    used = torch.zeros(cells, dtype=torch.bool)
    for red in v:
        rgb = torch.cat([red.expand(1, gb.shape[1], 1), gb], dim=0)  # (3, 65536, 1)
        used[cell_of(rgb_to_lab(rgb)[1:, :, 0])] = True
    return used


@functools.lru_cache(maxsize=8)
def gamut_bins(grid: int) -> JointBins:
    """Centres of the grid cells that some 8-bit sRGB colour (at any L) reaches.

    grid 10: cells centred on multiples of 10 (Zhang et al.'s lattice) -> 261 bins, all among Zhang's 313
    (Zhang's hull is wider than sRGB). grid 16: cells [-128 + 16k, -112 + 16k) as in Ling et al. -> 114 bins.
    The tables of grids 10 and 16 ship with the package (computing one takes seconds); others are computed.
    """
    centres = shipped_gamut_centres(grid)
    return compute_gamut_bins(grid) if centres is None else JointBins(centres, spec=f"gamut:{grid}")


def compute_gamut_bins(grid: int) -> JointBins:
    """``gamut_bins`` from scratch: walk all 8-bit sRGB colours (a few seconds)."""
    if grid == 16:
        used = _srgb_cells(
            lambda ab: (torch.floor((ab + 128) / 16).long() * torch.tensor([[16], [1]])).sum(0), 256
        )
        cells = torch.nonzero(used.reshape(16, 16)).float()
        return JointBins(cells * 16 - 128 + 8, spec="gamut:16")
    if grid < 2:
        raise ValueError(f"gamut grid must be >= 2, got {grid}")
    side = len(_grid_centres(grid))
    used = _srgb_cells(
        lambda ab: ab_histogram(ab.view(2, -1, 1), grid=grid).reshape(-1).nonzero()[:, 0], side * side
    )
    return bins_from_histogram(used.reshape(side, side).long(), grid=grid, spec=f"gamut:{grid}")


def bins_from_histogram(
    counts: torch.Tensor | np.ndarray, *, grid: int, min_count: int = 1, spec: str = ""
) -> JointBins:
    """Bins of a (C, C) ab histogram (see ``ab_histogram``) with at least ``min_count`` pixels
    (Gustavsson)."""
    counts = torch.as_tensor(np.asarray(counts))
    cells = torch.as_tensor(_grid_centres(grid), dtype=torch.float32)
    if counts.shape != (len(cells), len(cells)):
        raise ValueError(
            f"histogram for grid {grid} must be {(len(cells), len(cells))}, got {tuple(counts.shape)}"
        )
    ia, ib = torch.nonzero(counts >= min_count, as_tuple=True)
    return JointBins(torch.stack([cells[ia], cells[ib]], dim=1), spec=spec or f"data:{grid}")


def make_bins(spec: str, *, histogram: torch.Tensor | np.ndarray | None = None) -> Bins:
    """Build a bin set from a spec string (see ``bin_index.BIN_SPECS``). ``data:G`` needs a grid-G
    ``histogram``."""
    kind, arg = split_spec(spec)
    if kind == "file":
        return JointBins(load_centres_file(Path(arg)), spec=spec)
    if kind == "gamut":
        return gamut_bins(int(arg))
    if kind == "channels":
        return ChannelBins(int(arg))
    if histogram is None:
        raise ValueError("data bins need a dataset's ab histogram (prepare a cache first)")
    return bins_from_histogram(histogram, grid=int(arg), spec=spec)


def bins_from_centres(spec: str, centres: torch.Tensor) -> Bins:
    """Rebuild a bin set stored in a checkpoint (spec + centres)."""
    if spec.startswith("channels:"):
        return ChannelBins(int(spec.split(":")[1]))
    return JointBins(centres, spec=spec)
