"""The work of a prepare run's worker processes: one chunk of photos of one source -> cache rows (L and ab
codes); the Lab table.

Images are decoded (JPEG draft mode), oriented, stripped of alpha, fitted to (S, S) by ``--resize`` and
converted by ``rgb_to_lab`` or, for big runs, its tabulation over the 2^24 8-bit colours
(``build_lab_table``); 8-bit Lab arrays are fitted as float L, a, b planes. Each photo ends kept or dropped
(``DROP_REASONS``); the encodings and the integer-ab counts are ``chromalab.data.cache``'s.
"""

from __future__ import annotations

import contextlib
import io
import math
import multiprocessing
import tarfile
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from chromalab.color.codes import decode_l, encode_ab, encode_l
from chromalab.data import cache as fmt
from chromalab.data.near_duplicates import ExcludedPhotos
from chromalab.data.sources import Source, npy_arrays

if TYPE_CHECKING:
    import torch

RESIZE_MODES = ("crop", "stretch", "pad")
PAD_LIGHTNESS = 50.0  # --resize pad letterboxes with neutral mid grey (L = 50, a = b = 0)
DROP_REASONS = ("corrupt", "too-small", "grey", "near-duplicate")

Box = tuple[int, int, int, int]  # (left, top, right, bottom) of the (S, S) image that the photo covers


class _Drop(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass
class Task:
    source: Source
    keys: list[str]
    train: list[bool]
    size: int
    resize: str
    min_chroma: float
    lut: str | None  # path of the Lab table, or None to call rgb_to_lab
    min_side: int = 0  # smallest side kept (photos between it and ``size`` are enlarged); 0: ``size``
    excluded: str | None = None  # path of the saved ``near_duplicates.ExcludedPhotos``, or None


@dataclass
class Result:
    l_codes: np.ndarray  # (k, S, S) uint8 codes of L, kept photos only
    ab_codes: np.ndarray  # (k, 2, S, S) int8
    outcomes: list[tuple[str | None, str, float]]  # per photo: (drop reason or None, detail, mean chroma)
    counts: np.ndarray  # (256, 256) int64 integer-ab counts of the kept train photos (``cache.count_ab``)


_OPEN: dict[str, Any] = {}  # per process: open tar files, memory-mapped arrays, the Lab table


def _opened(key: str, open_fn: Callable[[], Any]) -> Any:
    """``open_fn()``, called once per process and ``key``; the handle stays open for the next chunks."""
    if key not in _OPEN:
        _OPEN[key] = open_fn()
    return _OPEN[key]


def _check_fits(width: int, height: int, size: int, resize: str, min_side: int = 0) -> None:
    """``_Drop`` unless the photo fills (S, S), enlarged from at least ``min_side`` (0: S): crop and stretch
    need both sides >= it, pad the longer one."""
    least = min_side or size
    if (max(width, height) if resize == "pad" else min(width, height)) < least:
        raise _Drop("too-small", f"{width}x{height} is smaller than {least}x{least}")


def _fit(image: Image.Image, size: int, resize: str) -> tuple[Image.Image, Box]:
    """Resize to (S, S) by ``resize``; also the box the photo covers."""
    w, h = image.size
    lanczos = Image.Resampling.LANCZOS
    if resize == "stretch":
        return image.resize((size, size), lanczos, reducing_gap=3.0), (0, 0, size, size)
    if resize == "crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        box = (left, top, left + side, top + side)
        return image.resize((size, size), lanczos, box=box, reducing_gap=3.0), (0, 0, size, size)
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = Image.new(image.mode, (size, size))
    left, top = (size - nw) // 2, (size - nh) // 2
    canvas.paste(image.resize((nw, nh), lanczos, reducing_gap=3.0), (left, top))
    return canvas, (left, top, left + nw, top + nh)


def _decode(task: Task, key: str) -> tuple[np.ndarray, Box]:
    """One image -> RGB (S, S, 3) uint8 and its box; ``_Drop`` for corrupt, too-small and excluded files."""
    from chromalab.images import ImageError, check_size, orient, split_alpha

    source, size, resize = task.source, task.size, task.resize
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(_member_bytes(source, key) if source.kind == "tar" else source.path / key)
            check_size(image.size)
            w, h = image.size
            _check_fits(w, h, size, resize, task.min_side)
            scale = size / max(w, h) if resize == "pad" else 1.0  # JPEG DCT scaling: 3x faster decoding
            image.draft(
                "RGB", (math.ceil(w * scale), math.ceil(h * scale)) if resize == "pad" else (size, size)
            )
            image.load()
    except _Drop:
        raise
    except ImageError as error:
        raise _Drop("corrupt", str(error)) from None
    except Exception as error:  # noqa: BLE001  Pillow raises assorted errors for damaged files
        raise _Drop("corrupt", f"{type(error).__name__}: {error}") from None
    base, _ = split_alpha(orient(image))
    if task.excluded is not None:
        excluded = _opened(task.excluded, lambda: ExcludedPhotos.load(task.excluded))
        twin = excluded.match(base)
        if twin is not None:
            raise _Drop("near-duplicate", f"the excluded photo {twin}")
    fitted, box = _fit(base.convert("RGB"), size, resize)
    return np.asarray(fitted), box


def _member_bytes(source: Source, key: str) -> io.BytesIO:
    tar = _opened(str(source.path), lambda: tarfile.open(source.path))  # noqa: SIM115  kept open
    return io.BytesIO(tar.extractfile(key).read())


def _lab_codes(rgb: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """RGB in [0, 1] (*, 3, H, W) float -> ``rgb_to_lab`` as L codes (*, H, W) uint8 and ab (*, 2, H, W)
    int8."""
    from chromalab.color.lab import rgb_to_lab

    lab = rgb_to_lab(rgb).numpy()
    return encode_l(lab[..., 0, :, :]), encode_ab(lab[..., 1:, :, :])


def _rgb_to_codes(rgb: np.ndarray, lut_path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """RGB (k, S, S, 3) uint8 -> L codes (k, S, S) uint8, ab (k, 2, S, S) int8."""
    if lut_path is not None:
        lut = _opened(lut_path, lambda: np.load(lut_path, mmap_mode="r"))
        rgb = rgb.astype(np.int32)
        # (k, S, S * 4): L a b 0
        codes = lut[(rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]].view(np.uint8)
        codes = codes.reshape(*rgb.shape[:3], 4)
        return np.ascontiguousarray(codes[..., 0]), np.ascontiguousarray(
            codes[..., 1:3].view(np.int8).transpose(0, 3, 1, 2)
        )
    import torch

    return _lab_codes(torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0)


Rows = tuple[np.ndarray, np.ndarray, list[Box | None], list[_Drop | None]]  # L codes, ab codes, boxes, drops


def _image_rows(task: Task) -> Rows:
    """Image files or tar members -> codes at (S, S)."""
    s = task.size
    rgb = np.zeros((len(task.keys), s, s, 3), np.uint8)
    boxes: list[Box | None] = []
    drops: list[_Drop | None] = []
    for i, key in enumerate(task.keys):
        try:
            rgb[i], box = _decode(task, key)
            boxes.append(box)
            drops.append(None)
        except _Drop as drop:
            boxes.append(None)
            drops.append(drop)
    l_codes, ab_codes = _rgb_to_codes(rgb, task.lut)
    return l_codes, ab_codes, boxes, drops


def _npy_rows(task: Task) -> Rows:
    """Rows of an 8-bit Lab array source -> codes at (S, S); OpenCV's L code is already round(L * 2.55)."""
    l_all, parts = _opened(str(task.source.path), lambda: npy_arrays(task.source))
    starts = np.cumsum([0] + [p.shape[0] for p in parts])
    s, (h, w) = task.size, l_all.shape[1:]
    l_out = np.zeros((len(task.keys), s, s), np.uint8)
    ab_out = np.zeros((len(task.keys), 2, s, s), np.int8)
    boxes: list[Box | None] = []
    drops: list[_Drop | None] = []
    for i, key in enumerate(task.keys):
        row = int(key)
        part = int(np.searchsorted(starts, row, side="right")) - 1
        ab = parts[part][row - starts[part]].astype(np.float32) - 128.0  # (H, W, 2), stored as a + 128
        try:
            _check_fits(w, h, s, task.resize, task.min_side)
        except _Drop as drop:
            boxes.append(None)
            drops.append(drop)
            continue
        planes = [decode_l(l_all[row]), ab[..., 0], ab[..., 1]]
        fitted = [_fit(Image.fromarray(p), s, task.resize) for p in planes]  # float32 -> mode "F"
        l_out[i] = encode_l(np.asarray(fitted[0][0]))
        ab_out[i] = encode_ab(np.stack([np.asarray(f[0]) for f in fitted[1:]]))
        boxes.append(fitted[0][1])
        drops.append(None)
    return l_out, ab_out, boxes, drops


def process_chunk(task: Task) -> Result:
    """Decode, resize, convert and grey-check one chunk of photos of one source."""
    s = task.size
    l_codes, ab_codes, boxes, drops = _npy_rows(task) if task.source.kind == "npy" else _image_rows(task)
    outcomes: list[tuple[str | None, str, float]] = []
    keep = np.zeros(len(task.keys), bool)
    for i, (box, drop) in enumerate(zip(boxes, drops, strict=True)):
        if drop is not None:
            outcomes.append((drop.reason, drop.detail, float("nan")))
            continue
        assert box is not None, "a kept photo has a box"
        left, top, right, bottom = box
        chroma = float(np.hypot(*ab_codes[i, :, top:bottom, left:right].astype(np.float32)).mean())
        if box != (0, 0, s, s):  # letterbox: neutral grey outside the photo
            inside = np.zeros((s, s), bool)
            inside[top:bottom, left:right] = True
            l_codes[i][~inside] = encode_l(np.float32(PAD_LIGHTNESS))
            ab_codes[i][:, ~inside] = 0
        if chroma < task.min_chroma:
            outcomes.append(("grey", f"mean chroma {chroma:.2f} < {task.min_chroma:g}", chroma))
        else:
            outcomes.append((None, "", chroma))
            keep[i] = True
    train = keep & np.asarray(task.train, bool)
    return Result(l_codes[keep], ab_codes[keep], outcomes, fmt.count_ab(ab_codes[train]))


@contextlib.contextmanager
def worker_map(workers: int) -> Iterator[Callable]:
    """An ordered ``map`` over ``workers`` processes (0: the builtin ``map`` in this process)."""
    if workers == 0:
        try:
            yield map
        finally:
            for handle in _OPEN.values():
                if isinstance(handle, tarfile.TarFile):
                    handle.close()
            _OPEN.clear()
        return
    methods = multiprocessing.get_all_start_methods()
    # forkserver: workers fork from a clean server (no threads, no torch ops run), which imported torch once
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload(["chromalab.data.workers", "chromalab.images"])
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_one_torch_thread)
    try:
        yield executor.map
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _one_torch_thread() -> None:
    """Worker initializer: one worker per core, so intra-op threads would only fight each other.

    It must run before the worker's first torch op: a parallel region in a forked worker can hang in libgomp
    (seen: ``torch.arange`` of 2^20 values in ``_fill_lab_table`` waiting forever in ``gomp_team_end``).
    """
    import torch

    torch.set_num_threads(1)


# -- the Lab table ------------------------------------------------------------------------------------------
def build_lab_table(path: Path, map_fn: Callable = map) -> None:
    """Save the codes of every 8-bit RGB colour: uint32 (2^24,) at r << 16 | g << 8 | b, bytes L, a, b, 0.

    ``map_fn`` (``map`` or an executor's) runs the 16 slices; the table is ``rgb_to_lab`` itself, tabulated.
    """
    table = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=(1 << 24,))
    del table
    step = 1 << 20
    list(map_fn(_fill_lab_table, [(str(path), start, start + step) for start in range(0, 1 << 24, step)]))


def _fill_lab_table(job: tuple[str, int, int]) -> None:
    import torch

    path, start, stop = job
    index = torch.arange(start, stop, dtype=torch.int32)
    rgb = torch.stack([(index >> 16) & 255, (index >> 8) & 255, index & 255]).float().div_(255.0)
    l_codes, ab_codes = _lab_codes(rgb.view(3, -1, 1))  # (n, 1), (2, n, 1)
    codes = np.zeros((stop - start, 4), np.uint8)
    codes[:, 0] = l_codes[:, 0]
    codes[:, 1:3] = ab_codes[:, :, 0].T.view(np.uint8)
    table = np.load(path, mmap_mode="r+")
    table[start:stop] = codes.view(np.uint32)[:, 0]
    table.flush()
