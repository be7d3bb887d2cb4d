"""Which bin a colour falls in, in numpy: the lookups behind ``bins.JointBins`` and ``bins.ChannelBins``,
and ``BinIndex``, a bin set as scoring sees it (no torch: ``chromalab evaluate`` runs on onnxruntime alone).

Spec strings (``BIN_SPECS``) are read here too, so that a bin set's centres come from one place whichever
engine asks: ``gamut:G`` from the shipped tables, ``channels:N``, ``file:PATH``; ``data:G`` needs a
dataset's histogram (``bin_sets.make_bins``).

Shapes: joint centres (Q, 2), per-channel centres (N,); ab (..., 2, H, W) in Lab units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BIN_SPECS = {
    "gamut:10": "grid-10 centres (multiples of 10) whose cell an 8-bit sRGB colour reaches (261 bins)",
    "gamut:16": "grid 16 over [-128, 127], cells no 8-bit sRGB colour reaches excluded (Ling et al.)",
    "data:G": "grid-G centres that a dataset's ab histogram actually uses (Gustavsson); needs a prior",
    "channels:N": "N equal bins over [-100, 100] for a and for b independently (Agrawal and Sawhney)",
    "file:PATH": "a .npy of (Q, 2) centres, e.g. Zhang's pts_in_hull.npy",
}
AB_RANGE = (-128, 127)  # integer ab values the neighbour table covers
CHANNEL_RANGE = (-100.0, 100.0)  # per-channel bins span this, in equal widths
GAMUT_TABLES = Path(__file__).with_name("tables")  # gamut-G.npy: compute_gamut_bins(G) saved, a test checks
_TABLE_ROWS = 4096  # integer ab colours per block of the brute-force table (4096 x Q float64: 10 MB at Q 313)


def split_spec(spec: str) -> tuple[str, str]:
    """'gamut:10' -> ('gamut', '10'); ValueError naming the problem for an unknown kind or a bad number."""
    kind, _, arg = spec.partition(":")
    if kind == "file":
        return kind, arg
    if kind not in ("gamut", "channels", "data"):
        raise ValueError(f"unknown bin spec {spec!r}; known: {', '.join(BIN_SPECS)}")
    if not arg.strip().lstrip("+-").isdigit():
        raise ValueError(f"bad bin spec {spec!r}: {arg!r} is not a number")
    return kind, arg


def shipped_gamut_centres(grid: int) -> np.ndarray | None:
    """(Q, 2) float32 centres of ``gamut:grid`` from the tables that ship (grids 10 and 16), else None."""
    table = GAMUT_TABLES / f"gamut-{grid}.npy"
    return np.load(table, allow_pickle=False).astype(np.float32) if table.is_file() else None


def load_centres_file(path: Path) -> np.ndarray:
    """(Q, 2) float32 centres from a .npy file (never unpickles); ValueError saying why not."""
    try:
        centres = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read bin centres from {path}: {error}") from None
    return check_joint_centres(centres)


CENTRE_LIMIT = 128.0  # |a|, |b| of any colour Lab can hold in sRGB, and of what the cache stores


def check_joint_centres(centres: np.ndarray) -> np.ndarray:
    """(Q, 2) float32 ab centres: Q >= 2 distinct, finite points within +-``CENTRE_LIMIT``; ValueError."""
    centres = np.asarray(centres, dtype=np.float32)
    if centres.ndim != 2 or centres.shape[1] != 2 or centres.shape[0] < 2:
        raise ValueError(f"bin centres must be (Q, 2) with Q >= 2, got {tuple(centres.shape)}")
    if not np.isfinite(centres).all() or np.abs(centres).max() > CENTRE_LIMIT:
        raise ValueError(f"bin centres must be finite ab values within +-{CENTRE_LIMIT:g}")
    if len(np.unique(centres, axis=0)) != len(centres):
        raise ValueError("bin centres must be distinct: two bins share a centre")
    return centres


def channel_edges(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` equal bins over ``CHANNEL_RANGE``: (edges (count + 1,), centres (count,)), float32."""
    if count < 2:
        raise ValueError(f"channels:N needs N >= 2, got {count}")
    low, high = CHANNEL_RANGE
    width = (high - low) / count
    edges = np.linspace(low, high, count + 1).astype(np.float32)
    return edges, np.linspace(low + width / 2, high - width / 2, count).astype(np.float32)


def neighbour_table(centres: np.ndarray, k: int) -> np.ndarray:
    """(256, 256, k) int64: the ``k`` bins nearest to every integer ab in ``AB_RANGE``, nearest first; exact
    distances, ties to the lower index (brute force in blocks, under a second at Q = 313)."""
    centres = np.asarray(centres, dtype=np.float64)
    k = min(k, len(centres))
    grid = np.arange(AB_RANGE[0], AB_RANGE[1] + 1, dtype=np.float64)
    ab = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)  # (65536, 2)
    table = np.empty((len(ab), k), dtype=np.int64)
    for start in range(0, len(ab), _TABLE_ROWS):
        block = ab[start : start + _TABLE_ROWS]
        d2 = ((block[:, None, :] - centres[None]) ** 2).sum(-1)  # (rows, Q)
        table[start : start + len(block)] = np.argsort(d2, axis=-1, kind="stable")[:, :k]  # stable: ties
    return table.reshape(256, 256, k)


def table_index(ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ab (..., 2, H, W) -> the neighbour table's row and column (..., H, W) each: ab rounded to integer
    Lab units (at most 0.71 off, far below the bin spacing) and clamped to ``AB_RANGE``."""
    cells = np.clip(np.rint(ab), *AB_RANGE).astype(np.int64) - AB_RANGE[0]
    return cells[..., 0, :, :], cells[..., 1, :, :]


class NotShipped(ValueError):
    """A bin set that has to be computed (with torch) rather than read from the package."""


@dataclass
class BinIndex:
    """A bin set as scoring sees it: its spec, its centres ((Q, 2) joint, (N,) per channel) and the bin of
    any colour (``nearest``), in numpy."""

    spec: str
    centres: np.ndarray
    _table: np.ndarray | None = None  # (256, 256, 1), made on first use

    @property
    def per_channel(self) -> bool:
        return self.spec.startswith("channels:")

    @property
    def num_classes(self) -> int:
        return 2 * len(self.centres) if self.per_channel else len(self.centres)

    @classmethod
    def from_spec(cls, spec: str) -> BinIndex:
        """The bin set a spec names (``BIN_SPECS``); ValueError for a bad spec, ``NotShipped`` for a gamut
        grid other than the shipped 10 and 16 (``bin_sets.make_bins`` computes those, with torch)."""
        kind, arg = split_spec(spec)
        if kind == "file":
            return cls(spec, load_centres_file(Path(arg)))
        if kind == "channels":
            return cls(spec, channel_edges(int(arg))[1])
        if kind == "data":
            raise ValueError("data bins need a dataset's ab histogram (prepare a cache first)")
        centres = shipped_gamut_centres(int(arg))
        if centres is None:
            raise NotShipped(f"{spec}: only the gamut grids 10 and 16 ship; others are computed with torch")
        return cls(spec, centres)

    @classmethod
    def of(cls, bins: object) -> BinIndex:
        """The scoring view of a torch bin set (``bins.JointBins`` or ``bins.ChannelBins``)."""
        centres = bins.centres_1d if bins.spec.startswith("channels:") else bins.centres
        return cls(bins.spec, centres.numpy())

    def describe(self) -> str:
        """``gamut:10 (Q=261)``, or ``channels:10``."""
        return self.spec if self.per_channel else f"{self.spec} (Q={self.num_classes})"

    def nearest(self, ab: np.ndarray) -> np.ndarray:
        """ab (..., 2, H, W) -> bin of each pixel: (..., H, W) joint, (..., 2, H, W) per channel."""
        ab = np.asarray(ab, dtype=np.float32)
        if self.per_channel:
            edges, _ = channel_edges(len(self.centres))
            return np.searchsorted(edges[1:-1], ab, side="left")
        if self._table is None:
            self._table = neighbour_table(self.centres, 1)
        row, column = table_index(ab)
        return self._table[row, column, 0]
