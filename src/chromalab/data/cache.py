"""The cache format (written by ``chromalab.data.prepare``): layout, encodings, count tables; reading a
cache.

Layout of a cache folder (format ``chromalab-cache/1``)::

    cache.json          format, size, counts, classes, options, source fingerprints
    manifest.json       every kept photo (row, path, class, split, chroma) and every drop with its reason
    l.npy               uint8 (N, S, S)      round(L * 2.55): L in [0, 100] -> codes 0..255
    ab.npy              int8 (N, 2, S, S)    round(ab), clamped to [-128, 127]
    labels.npy          int16 (N,)           index into cache.json "classes"
    split.npy           uint8 (N,)           0 train, 1 val
    ab-counts.npy       int64 (256, 256)     train pixels per integer (a, b): [a + 128, b + 128]
    histogram10.npy     int64 (27, 27)       ``bins.ab_histogram(train ab, grid=10)`` (other grids:
    ``histogram_for``)
    prior-gamut_10.npy  float64 (Q,)         frequency of each gamut:10 bin over the train pixels

The stored ab values are integers, so the (256, 256) count table is a sufficient statistic of the train
colours: every bin set's ``nearest`` rounds ab to integers anyway, so a prior computed from the table is
exactly the prior of the stored pixels (``prior_for``), in milliseconds instead of a pass over the data;
likewise the ab histogram of any grid (``Cache.histogram_for``), and so ``data:G`` bins for any G.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chromalab.color.codes import AB_LIMITS, L_CODES_PER_UNIT, decode_l

if TYPE_CHECKING:
    import torch

    from chromalab.color.bins import Bins

CACHE_FORMAT = "chromalab-cache/1"
SPLITS = ("train", "val")  # split.npy stores the index into this tuple

INFO_FILE = "cache.json"
MANIFEST_FILE = "manifest.json"
L_FILE = "l.npy"
AB_FILE = "ab.npy"
LABELS_FILE = "labels.npy"
SPLIT_FILE = "split.npy"
COUNTS_FILE = "ab-counts.npy"
HISTOGRAM_GRID = 10
HISTOGRAM_FILE = f"histogram{HISTOGRAM_GRID}.npy"
DEFAULT_PRIOR_SPEC = "gamut:10"
# the arrays of a complete cache, besides cache.json (written last) and manifest.json
ARRAY_FILES = (L_FILE, AB_FILE, LABELS_FILE, SPLIT_FILE, COUNTS_FILE, HISTOGRAM_FILE)
# in cache.json
ENCODINGS = {
    "l_encoding": f"uint8 round(L * {L_CODES_PER_UNIT})",
    "ab_encoding": "int8 round(ab)",
}


def count_ab(ab: np.ndarray) -> np.ndarray:
    """(256, 256) int64 count table of stored ab (..., 2, H, W) int8: pixels of each (a, b) at [a + 128, b
    + 128]."""
    index = np.asarray(ab).astype(np.int32) - AB_LIMITS[0]
    flat = index[..., 0, :, :] * 256 + index[..., 1, :, :]
    return np.bincount(flat.ravel(), minlength=256 * 256).astype(np.int64).reshape(256, 256)


def write_count_tables(folder: Path, counts: np.ndarray) -> None:
    """Save the train pixels' count table (``count_ab``) and what derives from it: histogram, default
    prior."""
    from chromalab.color.bin_sets import make_bins

    np.save(folder / COUNTS_FILE, counts)
    np.save(folder / HISTOGRAM_FILE, histogram_from_counts(counts, grid=HISTOGRAM_GRID))
    _save_prior(
        folder / prior_file_name(DEFAULT_PRIOR_SPEC), prior_from_counts(counts, make_bins(DEFAULT_PRIOR_SPEC))
    )


def prior_file_name(spec: str) -> str:
    """``prior-<spec>.npy`` with every character other than letters, digits, '.', '-' replaced by '_'."""
    return "prior-" + re.sub(r"[^A-Za-z0-9.-]", "_", spec) + ".npy"


class Cache:
    """A prepared cache, opened read-only; the big arrays are memory maps (nothing is loaded up front).

    ``Cache(path)`` raises ``ValueError`` when ``path`` is not a complete cache of format ``CACHE_FORMAT``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.info = read_info(self.path)
        self.size: int = int(self.info["size"])
        self.class_names: list[str] = list(self.info["classes"])
        try:
            self.l = np.load(self.path / L_FILE, mmap_mode="r")  # (N, S, S) uint8
            self.ab = np.load(self.path / AB_FILE, mmap_mode="r")  # (N, 2, S, S) int8
            self.labels = np.load(self.path / LABELS_FILE)  # (N,) int16
            self.split = np.load(self.path / SPLIT_FILE)  # (N,) uint8, 0 train / 1 val
        except (OSError, ValueError) as error:
            raise ValueError(f"{self.path}: damaged cache ({error}); prepare it again") from None
        self._check_shapes()

    def _check_shapes(self) -> None:
        n, s = int(self.info["count"]), self.size
        expected = {
            L_FILE: (self.l, (n, s, s), np.uint8),
            AB_FILE: (self.ab, (n, 2, s, s), np.int8),
            LABELS_FILE: (self.labels, (n,), np.int16),
            SPLIT_FILE: (self.split, (n,), np.uint8),
        }
        for name, (array, shape, dtype) in expected.items():
            if array.shape != shape or array.dtype != dtype:
                raise ValueError(
                    f"{self.path / name}: expected {np.dtype(dtype).name} {shape}, "
                    f"found {array.dtype.name} {array.shape}; prepare the cache again"
                )

    def __len__(self) -> int:
        return self.l.shape[0]

    def __repr__(self) -> str:
        return f"Cache({str(self.path)!r}, N={len(self)}, size={self.size}, classes={len(self.class_names)})"

    def __reduce__(self) -> tuple[type, tuple[Path]]:
        # pickling (DataLoader workers, spawn) reopens the memory maps instead of copying the arrays
        return (Cache, (self.path,))

    def indices(self, split: str) -> np.ndarray:
        """Row indices (int64, ascending) of ``split``: "train", "val" or "all"."""
        if split == "all":
            return np.arange(len(self))
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}, all")
        return np.flatnonzero(self.split == SPLITS.index(split))

    @property
    def train_indices(self) -> np.ndarray:
        return self.indices("train")

    @property
    def val_indices(self) -> np.ndarray:
        return self.indices("val")

    @property
    def ab_counts(self) -> np.ndarray:
        """(256, 256) int64: train pixels with integer ab (a, b) at [a + 128, b + 128]."""
        return np.load(self.path / COUNTS_FILE)

    @property
    def histogram(self) -> np.ndarray:
        """(27, 27) int64: ``bins.ab_histogram(train ab, grid=10)``; what ``make_bins("data:10", ...)``
        takes."""
        return np.load(self.path / HISTOGRAM_FILE)

    def histogram_for(self, grid: int) -> np.ndarray:
        """(C, C) int64: ``bins.ab_histogram(train ab, grid=grid)``, exact, from the count table
        (milliseconds)."""
        return self.histogram if grid == HISTOGRAM_GRID else histogram_from_counts(self.ab_counts, grid=grid)

    def bins(self, spec: str) -> Bins:
        """``make_bins(spec)``; ``data:G`` bins get this cache's grid-G histogram, for any grid G."""
        from chromalab.color.bin_sets import make_bins

        data = re.fullmatch(r"data:(\d+)", spec)
        return make_bins(spec, histogram=self.histogram_for(int(data.group(1))) if data else self.histogram)

    @property
    def prior(self) -> torch.Tensor:
        """Prior over the default bins (gamut:10), float32 summing to 1."""
        from chromalab.color.bin_sets import make_bins

        return prior_for(self, make_bins(DEFAULT_PRIOR_SPEC))

    def lab(self, index: int) -> np.ndarray:
        """Row ``index`` decoded to Lab (3, S, S) float32."""
        return np.concatenate([decode_l(self.l[index])[None], self.ab[index].astype(np.float32)])


def read_info(path: Path) -> dict[str, Any]:
    """cache.json of ``path``, checked for the format; ``ValueError`` with the reason otherwise."""
    info_path = Path(path) / INFO_FILE
    if not info_path.is_file():
        raise ValueError(f"{path}: not a chromalab cache (no {INFO_FILE}); make one with 'chromalab prepare'")
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{info_path}: unreadable ({error})") from None
    found = info.get("format") if isinstance(info, dict) else None
    if found != CACHE_FORMAT:
        raise ValueError(
            f"{path}: cache format {found!r}, this chromalab reads {CACHE_FORMAT!r}; "
            "prepare the cache again with this version"
        )
    return info


# -- priors ------------------------------------------------------------------------------------------------
def prior_from_counts(counts: np.ndarray, bins: Bins) -> torch.Tensor:
    """Class frequencies (num_classes,) float32 of the pixels counted in a (256, 256) integer-ab table.

    Each integer ab goes to ``bins.nearest``; joint bins give one distribution, channel bins one per channel
    (each half sums to 1).
    """
    import torch

    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (256, 256):
        raise ValueError(f"ab counts must be (256, 256), got {counts.shape}")
    if counts.sum() <= 0:
        raise ValueError("no pixels counted: the prior needs at least one training image")
    values = _integer_ab()
    grid = torch.stack(torch.meshgrid(values, values, indexing="ij")).unsqueeze(0)  # (1, 2, 256, 256)
    nearest = bins.nearest(grid)[0].numpy()  # joint (256, 256); channels (2, 256, 256)
    per_group = bins.num_classes // bins.groups
    groups = [nearest] if bins.groups == 1 else list(nearest)
    parts = [np.bincount(g.reshape(-1), weights=counts.reshape(-1), minlength=per_group) for g in groups]
    prior = np.concatenate([p / p.sum() for p in parts])
    return torch.from_numpy(prior).float()


def _integer_ab() -> torch.Tensor:
    """The 256 integer values -128 ... 127 of a stored a or b (the rows and columns of the count table)."""
    import torch

    return torch.arange(AB_LIMITS[0], AB_LIMITS[1] + 1, dtype=torch.float32)


def histogram_from_counts(counts: np.ndarray, *, grid: int) -> np.ndarray:
    """The ``bins.ab_histogram(ab, grid=grid)`` of the pixels counted in a (256, 256) integer-ab table."""
    import torch

    from chromalab.color.bin_sets import ab_histogram

    values = _integer_ab()
    # the cell of each integer value, taken from ab_histogram itself so the two cannot disagree
    cell = np.array(
        [int(ab_histogram(torch.tensor([[[v]], [[0.0]]]), grid=grid).sum(1).argmax()) for v in values]
    )
    cells = ab_histogram(torch.zeros(2, 1, 1), grid=grid).shape[0]
    one_hot = np.zeros((256, cells), dtype=np.int64)
    one_hot[np.arange(256), cell] = 1
    return one_hot.T @ np.asarray(counts, dtype=np.int64) @ one_hot  # (C, C)


def prior_for(cache: Cache | str | Path, bins: Bins) -> torch.Tensor:
    """Prior (num_classes,) float32 of any bin set over the cache's train pixels; sums to 1 per group.

    Exact (see the module docstring). Saved beside the cache as ``prior-<spec>.npy`` for named bin sets;
    a saved prior is reused only when its length matches.
    """
    import torch

    cache = cache if isinstance(cache, Cache) else Cache(cache)
    named = re.fullmatch(r"(gamut|data|channels):\d+", bins.spec or "") is not None
    saved = cache.path / prior_file_name(bins.spec) if named else None
    if saved is not None and saved.is_file():
        prior = np.load(saved, allow_pickle=False)
        if prior.shape == (bins.num_classes,):
            return torch.from_numpy(prior).float()
    prior = prior_from_counts(cache.ab_counts, bins)
    if saved is not None:
        with contextlib.suppress(OSError):  # a read-only cache still gives its prior, only not remembered
            _save_prior(saved, prior)
    return prior


def _save_prior(path: Path, prior: torch.Tensor) -> None:
    np.save(path, prior.double().numpy())
