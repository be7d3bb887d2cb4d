"""Photo sources -> a training cache: filter grey/corrupt/small, resize, Lab, split, ab histogram and prior.

The run itself: check the options, skip an up-to-date cache, list the candidates (``chromalab.data.sources``,
where the kinds of source are described), draw the split, decode them in chunks in worker processes
(``chromalab.data.workers``), then write the cache (layout in ``chromalab.data.cache``) and the manifest.
The output is written to a temporary folder next to the cache and renamed into place at the end, so a
cache is never half-written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chromalab.data import cache as fmt
from chromalab.data.build_folder import replace_cache, truncate_npy, write_json
from chromalab.data.near_duplicates import hash_folders
from chromalab.data.sources import (
    Item,
    PrepareError,
    Source,
    display_path,
    list_items,
    parse_source,
    source_fingerprint,
)
from chromalab.data.workers import (  # noqa: F401  some only re-exported: importable here as before the split
    _OPEN,
    DROP_REASONS,
    PAD_LIGHTNESS,
    RESIZE_MODES,
    Task,
    _fill_lab_table,
    _rgb_to_codes,
    build_lab_table,
    process_chunk,
    worker_map,
)

DEFAULT_SIZE = 128
DEFAULT_VAL_FRACTION = 0.05
# Mean chroma sqrt(a^2 + b^2) of the stored ab below which a photo counts as grey. Measured on
# ../shared/data/train128 (22,927 photos): 661 (2.9%) are exactly grey (mean chroma < 0.25), then a thin
# tail: < 1: 3.4%, < 2: 4.3%, < 3: 5.7%, < 5: 10.8%. Contact sheets show that below 2 the photos are toned
# black-and-white scans or objects on white with no usable colour; between 2 and 3 most are real, muted
# colour photos (snow, clouds, silver appliances) whose near-neutral colours are legitimate targets.
DEFAULT_MIN_CHROMA = 2.0
MANIFEST_FORMAT = "chromalab-manifest/1"
POOL_MIN_ITEMS = 256  # below this, starting worker processes costs more than it saves
# The Lab table of all 2^24 8-bit colours takes ~3 s to build; it pays off from ~2^26 pixels (4,000 photos
# of 128x128): a lookup is ~10x cheaper than rgb_to_lab's two powers per value.
LUT_MIN_PIXELS = 1 << 26
LUT_FILE = ".lab-lut.npy"
EXCLUDED_FILE = ".excluded-hashes.npz"  # the --exclude photos' hashes, read by the workers


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
    min_side: int | None = None,
    exclude: Sequence[str | Path] = (),
    progress: Callable[[int, int], None] | None = None,
) -> PrepareReport:
    """Prepare ``sources`` into the cache folder ``out``; a no-op when ``out`` is up to date.

    ``val_fraction`` (default 0.05, or 0 with ``val_sources``) of each class goes to validation, drawn with
    ``seed``; ``val_sources`` are validation only. ``workers``: decoding processes (None: all cores, 0:
    this process). ``min_side`` (default ``size``): photos whose fitting side is at least this but below
    ``size`` are enlarged to it, smaller ones dropped. ``exclude``: folders of photos never to train on
    (evaluation sets); a candidate that is a near-duplicate of one of them (``near_duplicates``) is
    dropped, whatever its split. ``progress(done, total)`` is called after each chunk. Raises
    ``FileNotFoundError`` (missing source), ``FileExistsError`` (``out`` is something else), ``ValueError``
    (bad option), ``PrepareError``.
    """
    start = time.perf_counter()
    val_fraction = _val_fraction(val_fraction, val_sources)
    min_side = size if min_side is None else min_side
    _check_options(size, resize, val_fraction, min_chroma, workers)
    if not 8 <= min_side <= size:
        raise ValueError(f"the minimum side must be between 8 and the size {size}, got {min_side}")
    if not sources:
        raise ValueError("no sources given")
    parsed = [parse_source(str(s)) for s in sources] + [parse_source(str(s), "val") for s in val_sources]
    out = Path(out)
    _check_output(out)
    excluded_folders = [parse_source(str(folder)) for folder in exclude]
    stats = [source_fingerprint(source) for source in parsed + excluded_folders]
    options = {
        "format": fmt.CACHE_FORMAT,
        "size": size,
        "resize": resize,
        "val_fraction": val_fraction,
        "seed": seed,
        "min_chroma": min_chroma,
        "min_side": min_side,
        "sources": [[s.kind, str(s.path.resolve()), s.role] for s in parsed],
        "exclude": [str(folder.path.resolve()) for folder in excluded_folders],
    }
    fingerprint = hashlib.sha256(json.dumps([options, stats]).encode()).hexdigest()
    info = _up_to_date(out, fingerprint)
    if info is not None:
        return _report(out, info, up_to_date=True, seconds=time.perf_counter() - start)
    items = [item for index, source in enumerate(parsed) for item in list_items(source, index)]
    _assign_splits(items, parsed, val_fraction, seed)
    build = _make_build_folder(out)
    try:
        info = _build(build, parsed, items, options, workers=workers, progress=progress)
        info |= {
            "fingerprint": fingerprint,
            "seconds": round(time.perf_counter() - start, 2),
            "sources": [
                {"kind": s.kind, "path": str(s.path.resolve()), "role": s.role, "fingerprint": f}
                # stats: the sources, then the excluded folders
                for s, f in zip(parsed, stats[: len(parsed)], strict=True)
            ],
        }
        write_json(build / fmt.INFO_FILE, info)  # last: a folder with cache.json is complete
        replace_cache(build, out)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return _report(out, info, up_to_date=False, seconds=time.perf_counter() - start)


def _val_fraction(val_fraction: float | None, val_sources: Sequence[str | Path]) -> float:
    """The default: 0.05, or 0 with validation sources; a fraction and validation sources exclude each
    other."""
    if val_fraction is None:
        return 0.0 if val_sources else DEFAULT_VAL_FRACTION
    if val_sources and val_fraction > 0:
        raise ValueError("give either a validation fraction or validation sources, not both")
    return val_fraction


def _check_options(
    size: int, resize: str, val_fraction: float, min_chroma: float, workers: int | None
) -> None:
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


def _check_output(out: Path) -> None:
    """Refuse to write over anything that is not a chromalab cache (or an empty folder)."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder")
    if out.is_dir() and not (out / fmt.INFO_FILE).is_file() and any(out.iterdir()):
        raise FileExistsError(
            f"{out}: not empty and not a chromalab cache (no {fmt.INFO_FILE}); refusing to overwrite it"
        )


def _up_to_date(out: Path, fingerprint: str) -> dict | None:
    try:
        info = fmt.read_info(out)
    except ValueError:
        return None
    return (
        info
        if info.get("fingerprint") == fingerprint and all((out / f).is_file() for f in fmt.ARRAY_FILES)
        else None
    )


def _report(out: Path, info: dict, *, up_to_date: bool, seconds: float) -> PrepareReport:
    return PrepareReport(
        out,
        up_to_date,
        seconds,
        info["size"],
        info["candidates"],
        info["splits"],
        info["drops"],
        info["class_counts"],
    )


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


# -- the build folder --------------------------------------------------------------------------------------
def _make_build_folder(out: Path) -> Path:
    build = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir()
    except OSError as error:
        raise PrepareError(out, f"cannot write the cache here ({error.strerror or error})") from None
    return build


# -- decoding into the build folder ------------------------------------------------------------------------
def _tasks(
    sources: list[Source],
    items: list[Item],
    options: dict,
    lut: Path | None,
    excluded: Path | None,
    workers: int,
) -> list[Task]:
    """Chunks of consecutive items of one source: about 8 per worker, 8 to 128 photos each."""
    chunk = max(8, min(128, math.ceil(len(items) / max(1, workers * 8))))
    chunks: list[list[Item]] = []
    for item in items:
        if not chunks or len(chunks[-1]) >= chunk or chunks[-1][0].source != item.source:
            chunks.append([])
        chunks[-1].append(item)
    return [
        Task(
            sources[c[0].source],
            [i.key for i in c],
            [i.split == "train" for i in c],
            options["size"],
            options["resize"],
            options["min_chroma"],
            str(lut) if lut else None,
            options["min_side"],
            str(excluded) if excluded else None,
        )
        for c in chunks
    ]


def _build(
    build: Path,
    sources: list[Source],
    items: list[Item],
    options: dict,
    *,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> dict:
    """Process every item into ``build``; returns cache.json's content (without the fingerprint)."""
    n, size = len(items), options["size"]
    if workers is None:
        workers = (os.cpu_count() or 1) if n >= POOL_MIN_ITEMS else 0
    lut = build / LUT_FILE if n * size * size >= LUT_MIN_PIXELS else None
    excluded = build / EXCLUDED_FILE if options["exclude"] else None
    if excluded is not None:
        hash_folders([Path(folder) for folder in options["exclude"]]).save(excluded)
    l_out = np.lib.format.open_memmap(build / fmt.L_FILE, mode="w+", dtype=np.uint8, shape=(n, size, size))
    ab_out = np.lib.format.open_memmap(
        build / fmt.AB_FILE, mode="w+", dtype=np.int8, shape=(n, 2, size, size)
    )
    counts = np.zeros((256, 256), np.int64)
    outcomes: list[tuple[str | None, str, float]] = []
    rows = 0
    try:
        with worker_map(workers) as map_fn:
            if lut is not None:
                build_lab_table(lut, map_fn)
            for result in map_fn(process_chunk, _tasks(sources, items, options, lut, excluded, workers)):
                k = len(result.l_codes)
                l_out[rows : rows + k], ab_out[rows : rows + k] = result.l_codes, result.ab_codes
                rows += k
                counts += result.counts
                outcomes += result.outcomes
                if progress is not None:
                    progress(len(outcomes), n)
    except BrokenProcessPool:
        raise PrepareError(
            build.parent, "a decoding process died (out of memory?); try fewer --workers"
        ) from None
    l_out.flush()
    ab_out.flush()
    del l_out, ab_out
    for scratch in (lut, excluded):
        if scratch is not None:
            scratch.unlink()
    kept = [item for item, outcome in zip(items, outcomes, strict=True) if outcome[0] is None]
    drops = {reason: sum(1 for o in outcomes if o[0] == reason) for reason in DROP_REASONS}
    if not any(item.split == "train" for item in kept):
        found = ", ".join(f"{c} {r}" for r, c in sorted(drops.items()) if c) or "none"
        what = "no usable photos" if not kept else "no training photos left (all kept photos are validation)"
        raise PrepareError(", ".join(str(s.path) for s in sources), f"{what}; dropped: {found}")
    for name in (fmt.L_FILE, fmt.AB_FILE):
        truncate_npy(build / name, rows)
    fmt.write_count_tables(build, counts)
    _write_manifest(build / fmt.MANIFEST_FILE, sources, items, outcomes)
    return _write_rows_and_info(build, items, kept, drops, options)


# -- the tables --------------------------------------------------------------------------------------------
def _write_rows_and_info(
    build: Path, items: list[Item], kept: list[Item], drops: dict[str, int], options: dict
) -> dict:
    """labels.npy and split.npy of the kept rows; returns cache.json's content (without the sources)."""
    classes = sorted({item.label for item in items})
    labels = np.array([classes.index(item.label) for item in kept], np.int16)
    split = np.array([fmt.SPLITS.index(item.split) for item in kept], np.uint8)
    np.save(build / fmt.LABELS_FILE, labels)
    np.save(build / fmt.SPLIT_FILE, split)
    class_counts = {c: {s: 0 for s in fmt.SPLITS} for c in classes}
    for item in kept:
        class_counts[item.label][item.split] += 1
    return {
        **options,
        "count": len(kept),
        "candidates": len(items),
        "splits": {s: int((split == i).sum()) for i, s in enumerate(fmt.SPLITS)},
        "drops": drops,
        "classes": classes,
        "class_counts": class_counts,
        **fmt.ENCODINGS,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _write_manifest(path: Path, sources: list[Source], items: list[Item], outcomes: list) -> None:
    """Every kept photo (row, path, class, split, chroma) and every drop (path, class, split, reason,
    detail)."""
    kept, dropped = [], []
    roots = [source.path.resolve() for source in sources]
    for item, (reason, detail, chroma) in zip(items, outcomes, strict=True):
        entry = {
            "path": display_path(sources[item.source], roots[item.source], item.key),
            "class": item.label,
        }
        if reason is None:
            kept.append({"row": len(kept), **entry, "split": item.split, "chroma": round(chroma, 2)})
        else:
            dropped.append({**entry, "split": item.split, "reason": reason, "detail": detail})
    with open(path, "w", encoding="utf-8") as f:  # one photo per line: greppable, diffable
        f.write(f'{{"format": "{MANIFEST_FORMAT}",\n')
        for name, entries in (("kept", kept), ("dropped", dropped)):
            lines = ",\n".join(json.dumps(e, ensure_ascii=False) for e in entries)
            f.write(f'"{name}": [\n{lines}\n]' + (",\n" if name == "kept" else "\n}\n"))
