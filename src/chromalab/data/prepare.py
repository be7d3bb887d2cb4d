"""Photo sources -> a training cache: filter grey/corrupt/small, resize, Lab, split, ab histogram and prior.

Sources (``parse_source``):

- a folder of images, searched recursively; an image's class is its top-level sub-folder under the root
  (``root/dogs/a/x.jpg`` -> ``dogs``), photos lying at the root get the root folder's name;
- a webdataset-style ``.tar`` shard whose members are images keyed by basename; the class is the member's
  ``<key>.cls`` text if present, else its top-level folder inside the tar, else the shard's name;
- 8-bit Lab arrays in the Kaggle "image colorization" layout (seed 004): ``L.npy:ab.npy`` with L (N, H, W)
  uint8 (OpenCV's L * 2.55) and ab (N, H, W, 2) uint8 (a + 128, b + 128), or a folder holding
  ``gray_scale.npy`` (at its root or one level down) and ``ab*.npy`` at its root, in ``ab/`` or ``ab/ab/``
  (concatenated in numeric order: ab1, ab2, ab3). The class is the folder's (or the L file's) name.

Work is done in chunks of photos, in worker processes; the output is written to a temporary folder next
to the cache and renamed into place at the end, so a cache is never half-written. The cache layout is in
``chromalab.data.cache``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import multiprocessing
import os
import re
import shutil
import tarfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from chromalab.data import cache as fmt

RESIZE_MODES = ("crop", "stretch", "pad")
DEFAULT_SIZE = 128
DEFAULT_VAL_FRACTION = 0.05
# Mean chroma sqrt(a^2 + b^2) of the stored ab below which a photo counts as grey. Measured on
# ../shared/data/train128 (22,927 photos): 661 (2.9%) are exactly grey (mean chroma < 0.25), then a thin
# tail: < 1: 3.4%, < 2: 4.3%, < 3: 5.7%, < 5: 10.8%. Contact sheets show that below 2 the photos are toned
# black-and-white scans or objects on white with no usable colour; between 2 and 3 most are real, muted
# colour photos (snow, clouds, silver appliances) whose near-neutral colours are legitimate targets.
DEFAULT_MIN_CHROMA = 2.0
PAD_LIGHTNESS = 50.0  # --resize pad letterboxes with neutral mid grey (L = 50, a = b = 0)
DROP_REASONS = ("corrupt", "too-small", "grey")
MANIFEST_FORMAT = "chromalab-manifest/1"
POOL_MIN_ITEMS = 256  # below this, starting worker processes costs more than it saves
# The Lab table of all 2^24 8-bit colours takes ~3 s to build; it pays off from ~2^26 pixels (4,000 photos
# of 128x128): a lookup is ~10x cheaper than rgb_to_lab's two powers per value.
LUT_MIN_PIXELS = 1 << 26
LUT_FILE = ".lab-lut.npy"


class PrepareError(ValueError):
    """Bad input data or an unwritable output; ``subject`` is the path concerned."""

    def __init__(self, subject: object, reason: str) -> None:
        super().__init__(f"{subject}: {reason}")
        self.subject, self.reason = subject, reason


@dataclass(frozen=True)
class Source:
    kind: str  # "folder" | "tar" | "npy"
    path: Path  # the folder, the tar file, or the L array
    role: str = "auto"  # "auto": split by fraction; "val": all validation (--val)
    ab_paths: tuple[Path, ...] = ()  # npy only


@dataclass
class Item:
    source: int  # index into the source list
    key: str  # relative path, tar member name, or row number
    label: str
    split: str = "train"


@dataclass
class PrepareReport:
    cache: Path
    up_to_date: bool
    seconds: float
    size: int
    candidates: int
    kept: dict[str, int]  # split -> photos
    drops: dict[str, int]  # reason -> photos
    classes: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> split -> photos


# -- sources --------------------------------------------------------------------------------------------
def parse_source(text: str, role: str = "auto") -> Source:
    """A command-line source -> ``Source``; ``FileNotFoundError`` when it does not exist."""
    path = Path(text)
    if path.is_dir():
        npy = _find_kaggle_arrays(path)
        return Source("npy", npy[0], role, npy[1]) if npy else Source("folder", path, role)
    if path.is_file():
        if tarfile.is_tarfile(path):
            return Source("tar", path, role)
        raise PrepareError(path, "not a folder, a tar shard or an L.npy:ab.npy pair")
    left, sep, right = text.rpartition(":")
    if sep and left.endswith(".npy") and right.endswith(".npy"):
        for part in (left, right):
            if not Path(part).is_file():
                raise FileNotFoundError(f"{part}: no such file")
        return Source("npy", Path(left), role, (Path(right),))
    raise FileNotFoundError(f"{text}: no such file or folder")


def _find_kaggle_arrays(root: Path) -> tuple[Path, tuple[Path, ...]] | None:
    grays = sorted(root.glob("gray_scale.npy")) + sorted(root.glob("*/gray_scale.npy"))
    for pattern in ("ab*.npy", "ab/ab*.npy", "ab/ab/ab*.npy"):
        abs_ = sorted(root.glob(pattern), key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])
        if grays and abs_:
            return grays[0], tuple(abs_)
    return None


def _walk(root: Path) -> list[str]:
    """Every file under ``root``, as sorted '/'-separated relative paths."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        found += [os.path.relpath(os.path.join(folder, n), root).replace(os.sep, "/") for n in sorted(names)]
    return found


def source_fingerprint(source: Source) -> str:
    """Hash of the (relative path, size, mtime) of every file of ``source``: cheap, no decoding, no torch."""
    if source.kind == "folder":
        stats = [_stat(source.path / rel, rel) for rel in _walk(source.path)]
    else:
        stats = [_stat(p, p.name) for p in (source.path, *source.ab_paths)]
    return hashlib.sha256(json.dumps(stats).encode()).hexdigest()


def _stat(path: Path, name: str) -> tuple[str, int, int]:
    st = path.stat()
    return name, st.st_size, st.st_mtime_ns


def _list_items(source: Source, index: int) -> list[Item]:
    """The candidate photos of ``source``; ``PrepareError`` when there are none."""
    from chromalab.images import IMAGE_SUFFIXES

    if source.kind == "npy":
        l_codes, _ = _npy_arrays(source)
        items = [Item(index, str(i), _npy_label(source)) for i in range(l_codes.shape[0])]
    elif source.kind == "tar":
        with tarfile.open(source.path) as tar:
            members = {m.name: m for m in tar.getmembers() if m.isfile()}
            classes = {n[:-4]: tar.extractfile(m).read().decode("utf-8", "replace").strip()  # type: ignore[union-attr]
                       for n, m in members.items() if n.endswith(".cls")}
        names = sorted(n for n in members if Path(n).suffix.lower() in IMAGE_SUFFIXES)
        items = [Item(index, n, classes.get(os.path.splitext(n)[0]) or _top_folder(n, source.path.stem)) for n in names]
    else:
        rels = [r for r in _walk(source.path) if os.path.splitext(r)[1].lower() in IMAGE_SUFFIXES]
        items = [Item(index, r, _top_folder(r, source.path.resolve().name)) for r in rels]
    if not items:
        raise PrepareError(source.path, f"no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return items


def _top_folder(relative: str, default: str) -> str:
    parts = relative.split("/")
    return parts[0] if len(parts) > 1 else default


def _npy_label(source: Source) -> str:
    folder = source.path.resolve().parent
    return folder.parent.name if folder.name == "l" else folder.name  # Kaggle: <root>/l/gray_scale.npy


def _npy_arrays(source: Source) -> tuple[np.ndarray, list[np.ndarray]]:
    """Memory-mapped L (N, H, W) and ab parts (n_i, H, W, 2), checked against each other."""
    try:
        l_codes = np.load(source.path, mmap_mode="r", allow_pickle=False)
        parts = [np.load(p, mmap_mode="r", allow_pickle=False) for p in source.ab_paths]
    except (OSError, ValueError) as error:
        raise PrepareError(source.path, f"cannot read the arrays ({error})") from None
    if l_codes.ndim != 3 or l_codes.dtype != np.uint8:
        raise PrepareError(source.path, f"L must be uint8 (N, H, W), got {l_codes.dtype} {l_codes.shape}")
    for path, ab in zip(source.ab_paths, parts):
        if ab.ndim != 4 or ab.shape[1:] != (*l_codes.shape[1:], 2) or ab.dtype != np.uint8:
            raise PrepareError(path, f"ab must be uint8 (N, {l_codes.shape[1]}, {l_codes.shape[2]}, 2) to match "
                                     f"L {l_codes.shape}, got {ab.dtype} {ab.shape}")
    total = sum(ab.shape[0] for ab in parts)
    if total != l_codes.shape[0]:
        raise PrepareError(source.path, f"{l_codes.shape[0]} L images but {total} ab images "
                                        f"in {', '.join(p.name for p in source.ab_paths)}")
    return l_codes, parts


def _display_path(source: Source, root: Path, key: str) -> str:
    """How the manifest names a photo: absolute file path, ``shard.tar/member`` or ``L.npy[row]``."""
    return f"{root}[{key}]" if source.kind == "npy" else f"{root}/{key}"


# -- one chunk of photos (runs in a worker process) ------------------------------------------------------
class _Drop(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass
class _Task:
    source: Source
    keys: list[str]
    train: list[bool]
    size: int
    resize: str
    min_chroma: float
    lut: str | None  # path of the Lab table, or None to call rgb_to_lab


@dataclass
class _Result:
    l: np.ndarray  # (k, S, S) uint8, kept photos only
    ab: np.ndarray  # (k, 2, S, S) int8
    outcomes: list[tuple[str | None, str, float]]  # per photo: (drop reason or None, detail, mean chroma)
    counts: np.ndarray  # (65536,) int64 integer-ab counts of the kept train photos


_OPEN: dict[str, object] = {}  # per process: open tar files, memory-mapped arrays, the Lab table


def _too_small(width: int, height: int, size: int, resize: str) -> bool:
    # crop and stretch need both sides >= S; pad only the longer one (the shorter one is padded)
    return (max(width, height) if resize == "pad" else min(width, height)) < size


def _fit(image: Image.Image, size: int, resize: str) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """Resize to (S, S) by ``resize``; also the (left, top, right, bottom) box the photo covers."""
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


def _decode(source: Source, key: str, size: int, resize: str) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One image -> RGB (S, S, 3) uint8 and its box; ``_Drop`` for corrupt and too-small files."""
    from chromalab.images import ImageError, check_size, orient, split_alpha

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(_member_bytes(source, key) if source.kind == "tar" else source.path / key)
            check_size(image.size)
            w, h = image.size
            if _too_small(w, h, size, resize):
                raise _Drop("too-small", f"{w}x{h} is smaller than {size}x{size}")
            scale = size / max(w, h) if resize == "pad" else 1.0  # JPEG DCT scaling: 3x faster decoding
            image.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)) if resize == "pad" else (size, size))
            image.load()
    except _Drop:
        raise
    except ImageError as error:
        raise _Drop("corrupt", str(error)) from None
    except Exception as error:  # noqa: BLE001  Pillow raises assorted errors for damaged files
        raise _Drop("corrupt", f"{type(error).__name__}: {error}") from None
    base, _ = split_alpha(orient(image))
    fitted, box = _fit(base.convert("RGB"), size, resize)
    return np.asarray(fitted), box


def _member_bytes(source: Source, key: str) -> io.BytesIO:
    tar = _OPEN.get(str(source.path))
    if tar is None:
        tar = _OPEN[str(source.path)] = tarfile.open(source.path)  # noqa: SIM115  kept open for the next members
    return io.BytesIO(tar.extractfile(key).read())  # type: ignore[union-attr]


def _rgb_to_codes(rgb: np.ndarray, lut_path: str | None) -> tuple[np.ndarray, np.ndarray]:
    """RGB (k, S, S, 3) uint8 -> L codes (k, S, S) uint8, ab (k, 2, S, S) int8."""
    if lut_path is not None:
        lut = _OPEN.get(lut_path)
        if lut is None:
            lut = _OPEN[lut_path] = np.load(lut_path, mmap_mode="r")
        rgb = rgb.astype(np.int32)
        codes = lut[(rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]].view(np.uint8)  # (k, S, S * 4): L a b 0
        codes = codes.reshape(*rgb.shape[:3], 4)
        return np.ascontiguousarray(codes[..., 0]), np.ascontiguousarray(codes[..., 1:3].view(np.int8).transpose(0, 3, 1, 2))
    import torch

    from chromalab.color.lab import rgb_to_lab

    _one_thread_in_workers()
    lab = rgb_to_lab(torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0).numpy()  # (k, 3, S, S)
    return fmt.encode_l(lab[:, 0]), fmt.encode_ab(lab[:, 1:])


def _npy_rows(task: _Task) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int] | None], list[_Drop | None]]:
    """Rows of an 8-bit Lab array source -> codes at (S, S); OpenCV's L code is already round(L * 2.55)."""
    l_all, parts = _OPEN.get(str(task.source.path)) or _OPEN.setdefault(str(task.source.path), _npy_arrays(task.source))
    starts = np.cumsum([0] + [p.shape[0] for p in parts])
    s, (h, w) = task.size, l_all.shape[1:]
    l_out = np.zeros((len(task.keys), s, s), np.uint8)
    ab_out = np.zeros((len(task.keys), 2, s, s), np.int8)
    boxes: list[tuple[int, int, int, int] | None] = []
    drops: list[_Drop | None] = []
    for i, key in enumerate(task.keys):
        row = int(key)
        part = int(np.searchsorted(starts, row, side="right")) - 1
        ab = parts[part][row - starts[part]].astype(np.float32) - 128.0  # (H, W, 2)
        if _too_small(w, h, s, task.resize):
            boxes.append(None)
            drops.append(_Drop("too-small", f"{w}x{h} is smaller than {s}x{s}"))
            continue
        planes = [l_all[row].astype(np.float32) / np.float32(fmt.L_CODES_PER_UNIT), ab[..., 0], ab[..., 1]]
        fitted = [_fit(Image.fromarray(p), s, task.resize) for p in planes]  # float32 -> mode "F"
        l_out[i] = fmt.encode_l(np.asarray(fitted[0][0]))
        ab_out[i] = fmt.encode_ab(np.stack([np.asarray(f[0]) for f in fitted[1:]]))
        boxes.append(fitted[0][1])
        drops.append(None)
    return l_out, ab_out, boxes, drops


def _process_chunk(task: _Task) -> _Result:
    """Decode, resize, convert and grey-check one chunk of photos of one source."""
    s = task.size
    if task.source.kind == "npy":
        l_codes, ab_codes, boxes, drops = _npy_rows(task)
    else:
        rgb = np.zeros((len(task.keys), s, s, 3), np.uint8)
        boxes, drops = [], []
        for i, key in enumerate(task.keys):
            try:
                rgb[i], box = _decode(task.source, key, s, task.resize)
                boxes.append(box)
                drops.append(None)
            except _Drop as drop:
                boxes.append(None)
                drops.append(drop)
        l_codes, ab_codes = _rgb_to_codes(rgb, task.lut)
    outcomes: list[tuple[str | None, str, float]] = []
    keep = np.zeros(len(task.keys), bool)
    for i, (box, drop) in enumerate(zip(boxes, drops)):
        if drop is not None:
            outcomes.append((drop.reason, drop.detail, float("nan")))
            continue
        left, top, right, bottom = box
        chroma = float(np.hypot(*ab_codes[i, :, top:bottom, left:right].astype(np.float32)).mean())
        if (left, top, right, bottom) != (0, 0, s, s):  # letterbox: neutral grey outside the photo
            inside = np.zeros((s, s), bool)
            inside[top:bottom, left:right] = True
            l_codes[i][~inside] = fmt.encode_l(np.float32(PAD_LIGHTNESS))
            ab_codes[i][:, ~inside] = 0
        if chroma < task.min_chroma:
            outcomes.append(("grey", f"mean chroma {chroma:.2f} < {task.min_chroma:g}", chroma))
        else:
            outcomes.append((None, "", chroma))
            keep[i] = True
    train = keep & np.asarray(task.train, bool)
    ab_train = ab_codes[train].astype(np.int32) + 128
    counts = np.bincount((ab_train[:, 0] * 256 + ab_train[:, 1]).ravel(), minlength=65536)
    return _Result(l_codes[keep], ab_codes[keep], outcomes, counts)


# -- the whole run ---------------------------------------------------------------------------------------
def build_lab_table(path: Path, map_fn: Callable = map) -> None:
    """Save the codes of every 8-bit RGB colour: uint32 (2^24,) at r << 16 | g << 8 | b, bytes L, a, b, 0.

    ``map_fn`` (``map`` or an executor's) runs the 16 slices; the table is ``rgb_to_lab`` itself, tabulated.
    """
    table = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32, shape=(1 << 24,))
    del table
    step = 1 << 20
    list(map_fn(_fill_lab_table, [(str(path), start, start + step) for start in range(0, 1 << 24, step)]))


def _one_thread_in_workers() -> None:
    import torch

    if multiprocessing.parent_process() is not None:
        torch.set_num_threads(1)  # one worker per core: intra-op threads would only fight each other


def _fill_lab_table(job: tuple[str, int, int]) -> None:
    import torch

    from chromalab.color.lab import rgb_to_lab

    path, start, stop = job
    _one_thread_in_workers()
    index = torch.arange(start, stop, dtype=torch.int32)
    rgb = torch.stack([(index >> 16) & 255, (index >> 8) & 255, index & 255]).float().div_(255.0)
    lab = rgb_to_lab(rgb.view(3, -1, 1))[:, :, 0].numpy()  # (3, stop - start)
    codes = np.zeros((stop - start, 4), np.uint8)
    codes[:, 0] = fmt.encode_l(lab[0])
    codes[:, 1:3] = fmt.encode_ab(lab[1:].T).view(np.uint8)
    table = np.load(path, mmap_mode="r+")
    table[start:stop] = codes.view(np.uint32)[:, 0]
    table.flush()


def _assign_splits(items: list[Item], sources: Sequence[Source], val_fraction: float, seed: int) -> None:
    """--val sources are all validation; the others give a seeded ``val_fraction`` of each class's candidates.

    Drawn before decoding, so a photo's split depends on the file list and the seed only, not on drops.
    """
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[Item]] = {}
    for item in items:
        if sources[item.source].role == "val":
            item.split = "val"
        else:
            by_class.setdefault(item.label, []).append(item)
    for label in sorted(by_class):
        members = by_class[label]
        for i in rng.permutation(len(members))[: round(len(members) * val_fraction)]:
            members[i].split = "val"


def _chunks(items: list[Item], size: int) -> list[list[Item]]:
    chunks: list[list[Item]] = []
    for item in items:
        if not chunks or len(chunks[-1]) >= size or chunks[-1][0].source != item.source:
            chunks.append([])
        chunks[-1].append(item)
    return chunks


@contextlib.contextmanager
def _mapper(workers: int) -> Iterator[Callable]:
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
        context.set_forkserver_preload(["chromalab.data.prepare", "chromalab.images"])
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        yield executor.map
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _truncate_npy(path: Path, rows: int) -> None:
    """Shrink an .npy file to its first ``rows`` rows in place (rewrite the header's shape, cut the data)."""
    with open(path, "r+b") as f:
        version = np.lib.format.read_magic(f)
        header_start = f.tell()
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(f)
        data_start = f.tell()
        new_shape = (rows, *shape[1:])
        header = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": new_shape})
        length_bytes = 2 if version == (1, 0) else 4
        room = data_start - header_start - length_bytes
        assert len(header) + 1 <= room, "the header only shrinks"
        f.seek(header_start + length_bytes)
        f.write((header.ljust(room - 1) + "\n").encode("latin1"))
        f.truncate(data_start + rows * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)


def _check_output(out: Path) -> None:
    """Refuse to write over anything that is not a chromalab cache (or an empty folder)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder")
    if out.is_dir() and not (out / fmt.INFO_FILE).is_file() and any(out.iterdir()):
        raise FileExistsError(f"{out}: not empty and not a chromalab cache (no {fmt.INFO_FILE}); refusing to overwrite it")


def _up_to_date(out: Path, fingerprint: str) -> dict | None:
    try:
        info = fmt.read_info(out)
    except ValueError:
        return None
    files = (fmt.L_FILE, fmt.AB_FILE, fmt.LABELS_FILE, fmt.SPLIT_FILE, fmt.COUNTS_FILE, fmt.HISTOGRAM_FILE)
    return info if info.get("fingerprint") == fingerprint and all((out / f).is_file() for f in files) else None


def _report(out: Path, info: dict, *, up_to_date: bool, seconds: float) -> PrepareReport:
    return PrepareReport(out, up_to_date, seconds, info["size"], info["candidates"], info["splits"], info["drops"],
                         info["class_counts"])


def prepare(
    sources: Sequence[str | Path],
    out: str | Path,
    *,
    size: int = DEFAULT_SIZE,
    resize: str = "crop",
    val_fraction: float | None = None,
    val_sources: Sequence[str | Path] = (),
    seed: int = 0,
    workers: int | None = None,
    min_chroma: float = DEFAULT_MIN_CHROMA,
    progress: Callable[[int, int], None] | None = None,
) -> PrepareReport:
    """Prepare ``sources`` into the cache folder ``out``; a no-op when ``out`` is up to date.

    ``val_fraction`` (default 0.05, or 0 with ``val_sources``) of each class goes to validation, drawn with
    ``seed``; ``val_sources`` are validation only. ``workers``: decoding processes (None: all cores, 0: this
    process). ``progress(done, total)`` is called after each chunk. Raises ``FileNotFoundError`` (missing
    source), ``FileExistsError`` (``out`` is something else), ``ValueError`` (bad option), ``PrepareError``.
    """
    start = time.perf_counter()
    if val_fraction is None:
        val_fraction = 0.0 if val_sources else DEFAULT_VAL_FRACTION
    elif val_sources and val_fraction > 0:
        raise ValueError("give either a validation fraction or validation sources, not both")
    _check_options(size, resize, val_fraction, min_chroma, workers)
    if not sources:
        raise ValueError("no sources given")
    parsed = [parse_source(str(s)) for s in sources] + [parse_source(str(s), "val") for s in val_sources]
    out = Path(out)
    _check_output(out)
    stats = [source_fingerprint(source) for source in parsed]
    options = {"format": fmt.CACHE_FORMAT, "size": size, "resize": resize, "val_fraction": val_fraction, "seed": seed,
               "min_chroma": min_chroma, "sources": [[s.kind, str(s.path.resolve()), s.role] for s in parsed]}
    fingerprint = hashlib.sha256(json.dumps([options, stats]).encode()).hexdigest()
    info = _up_to_date(out, fingerprint)
    if info is not None:
        return _report(out, info, up_to_date=True, seconds=time.perf_counter() - start)
    items = [item for index, source in enumerate(parsed) for item in _list_items(source, index)]
    _assign_splits(items, parsed, val_fraction, seed)
    build = _make_build_folder(out)
    try:
        info = _build(build, parsed, items, options, size=size, workers=workers, progress=progress)
        info |= {"fingerprint": fingerprint, "seconds": round(time.perf_counter() - start, 2),
                 "sources": [{"kind": s.kind, "path": str(s.path.resolve()), "role": s.role, "fingerprint": f}
                             for s, f in zip(parsed, stats)]}
        _write_json(build / fmt.INFO_FILE, info)  # last: a folder with cache.json is complete
        _replace(build, out)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return _report(out, info, up_to_date=False, seconds=time.perf_counter() - start)


def _check_options(size: int, resize: str, val_fraction: float, min_chroma: float, workers: int | None) -> None:
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {resize!r}; choose one of {', '.join(RESIZE_MODES)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"the validation fraction must be in [0, 1), got {val_fraction}")
    if min_chroma < 0:
        raise ValueError(f"the minimum chroma must be >= 0, got {min_chroma}")
    if workers is not None and workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")


def _make_build_folder(out: Path) -> Path:
    build = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir()
    except OSError as error:
        raise PrepareError(out, f"cannot write the cache here ({error.strerror or error})") from None
    return build


def _replace(build: Path, out: Path) -> None:
    """Move the finished build folder to ``out``, replacing an older cache there."""
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        build.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        build.rename(out)


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _build(build: Path, sources: list[Source], items: list[Item], options: dict, *, size: int,
           workers: int | None, progress: Callable[[int, int], None] | None) -> dict:
    """Process every item into ``build``; returns cache.json's content (without the fingerprint)."""
    n = len(items)
    if workers is None:
        workers = (os.cpu_count() or 1) if n >= POOL_MIN_ITEMS else 0
    lut = build / LUT_FILE if n * size * size >= LUT_MIN_PIXELS else None
    chunk = max(8, min(128, math.ceil(n / max(1, workers * 8))))
    tasks = [_Task(sources[c[0].source], [i.key for i in c], [i.split == "train" for i in c], size, options["resize"],
                   options["min_chroma"], str(lut) if lut else None) for c in _chunks(items, chunk)]
    l_out = np.lib.format.open_memmap(build / fmt.L_FILE, mode="w+", dtype=np.uint8, shape=(n, size, size))
    ab_out = np.lib.format.open_memmap(build / fmt.AB_FILE, mode="w+", dtype=np.int8, shape=(n, 2, size, size))
    counts = np.zeros(65536, np.int64)
    outcomes: list[tuple[str | None, str, float]] = []
    rows = 0
    try:
        with _mapper(workers) as map_fn:
            if lut is not None:
                build_lab_table(lut, map_fn)
            for result in map_fn(_process_chunk, tasks):
                k = len(result.l)
                l_out[rows : rows + k], ab_out[rows : rows + k] = result.l, result.ab
                rows += k
                counts += result.counts
                outcomes += result.outcomes
                if progress is not None:
                    progress(len(outcomes), n)
    except BrokenProcessPool:
        raise PrepareError(build.parent, "a decoding process died (out of memory?); try fewer --workers") from None
    l_out.flush()
    ab_out.flush()
    del l_out, ab_out
    if lut is not None:
        lut.unlink()
    kept = [item for item, outcome in zip(items, outcomes) if outcome[0] is None]
    drops = Counter(outcome[0] for outcome in outcomes if outcome[0] is not None)
    if not any(item.split == "train" for item in kept):
        found = ", ".join(f"{c} {r}" for r, c in sorted(drops.items())) or "none"
        what = "no usable photos" if not kept else "no training photos left (all kept photos are validation)"
        raise PrepareError(", ".join(str(s.path) for s in sources), f"{what}; dropped: {found}")
    for name in (fmt.L_FILE, fmt.AB_FILE):
        _truncate_npy(build / name, rows)
    return _write_tables(build, sources, items, outcomes, kept, counts, options=options)


def _write_tables(build: Path, sources: list[Source], items: list[Item], outcomes: list, kept: list[Item],
                  counts: np.ndarray, *, options: dict) -> dict:
    """labels, split, counts, histogram, prior, manifest; returns cache.json's content."""
    from chromalab.color.bins import make_bins

    classes = sorted({item.label for item in items})
    labels = np.array([classes.index(item.label) for item in kept], np.int16)
    split = np.array([fmt.SPLITS.index(item.split) for item in kept], np.uint8)
    np.save(build / fmt.LABELS_FILE, labels)
    np.save(build / fmt.SPLIT_FILE, split)
    counts = counts.reshape(256, 256)
    np.save(build / fmt.COUNTS_FILE, counts)
    np.save(build / fmt.HISTOGRAM_FILE, fmt.histogram_from_counts(counts, grid=fmt.HISTOGRAM_GRID))
    prior = fmt.prior_from_counts(counts, make_bins(fmt.DEFAULT_PRIOR_SPEC))
    np.save(build / fmt.prior_file_name(fmt.DEFAULT_PRIOR_SPEC), prior.double().numpy())
    manifest_kept, manifest_dropped = [], []
    roots = [source.path.resolve() for source in sources]
    for item, (reason, detail, chroma) in zip(items, outcomes):
        entry = {"path": _display_path(sources[item.source], roots[item.source], item.key), "class": item.label}
        if reason is None:
            manifest_kept.append({"row": len(manifest_kept), **entry, "split": item.split, "chroma": round(chroma, 2)})
        else:
            manifest_dropped.append({**entry, "split": item.split, "reason": reason, "detail": detail})
    with open(build / fmt.MANIFEST_FILE, "w", encoding="utf-8") as f:  # one photo per line: greppable, diffable
        f.write(f'{{"format": "{MANIFEST_FORMAT}",\n')
        for name, entries in (("kept", manifest_kept), ("dropped", manifest_dropped)):
            lines = ",\n".join(json.dumps(e, ensure_ascii=False) for e in entries)
            f.write(f'"{name}": [\n{lines}\n]' + (",\n" if name == "kept" else "\n}\n"))
    class_counts = {c: {s: 0 for s in fmt.SPLITS} for c in classes}
    for item in kept:
        class_counts[item.label][item.split] += 1
    drops = {reason: sum(1 for o in outcomes if o[0] == reason) for reason in DROP_REASONS}
    return {**options, "count": len(kept), "candidates": len(items), "splits": {s: int((split == i).sum())
            for i, s in enumerate(fmt.SPLITS)}, "drops": drops, "classes": classes, "class_counts": class_counts,
            "l_encoding": f"uint8 round(L * {fmt.L_CODES_PER_UNIT})", "ab_encoding": "int8 round(ab)",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
