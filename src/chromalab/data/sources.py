"""Photo sources of ``chromalab prepare``: what a command-line source is, its candidate photos, its
fingerprint.

Sources (``parse_source``):

- a folder of images, searched recursively; an image's class is its top-level sub-folder under the root
  (``root/dogs/a/x.jpg`` -> ``dogs``), photos lying at the root get the root folder's name;
- a webdataset-style ``.tar`` shard whose members are images keyed by basename; the class is the member's
  ``<key>.cls`` text if present, else its top-level folder inside the tar, else the shard's name;
- 8-bit Lab arrays in the Kaggle "image colorization" layout (Santiago and Sieving): ``L.npy:ab.npy`` with L
(N, H, W)
  uint8 (OpenCV's L * 2.55) and ab (N, H, W, 2) uint8 (a + 128, b + 128), or a folder holding
  ``gray_scale.npy`` (at its root or one level down) and ``ab*.npy`` at its root, in ``ab/`` or ``ab/ab/``
  (concatenated in numeric order: ab1, ab2, ab3). The class is the folder's (or the L file's) name.

Nothing here decodes a photo (``chromalab.data.workers`` does) or imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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
    greys = sorted(root.glob("gray_scale.npy")) + sorted(root.glob("*/gray_scale.npy"))
    for pattern in ("ab*.npy", "ab/ab*.npy", "ab/ab/ab*.npy"):
        abs_ = sorted(
            root.glob(pattern),
            key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)],
        )
        if greys and abs_:
            return greys[0], tuple(abs_)
    return None


def _walk(root: Path) -> list[str]:
    """Every regular file under ``root`` (or link to one), as sorted '/'-separated relative paths: a pipe
    would block its reader for good, and a link to nothing has nothing to read."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        found += [
            os.path.relpath(os.path.join(folder, n), root).replace(os.sep, "/")
            for n in sorted(names)
            if os.path.isfile(os.path.join(folder, n))
        ]
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


def list_items(source: Source, index: int) -> list[Item]:
    """The candidate photos of ``source`` (number ``index`` of the run); ``PrepareError`` when there are
    none."""
    from chromalab.images import IMAGE_SUFFIXES

    if source.kind == "npy":
        l_codes, _ = npy_arrays(source)
        items = [Item(index, str(i), _npy_label(source)) for i in range(l_codes.shape[0])]
    elif source.kind == "tar":
        try:
            with tarfile.open(source.path) as tar:
                members = {m.name: m for m in tar.getmembers() if m.isfile()}
                classes = {
                    n[:-4]: tar.extractfile(m).read().decode("utf-8", "replace").strip()  # type: ignore[union-attr]
                    for n, m in members.items()
                    if n.endswith(".cls")
                }
        except (tarfile.TarError, OSError) as error:  # cut off, or damaged past its first header
            raise PrepareError(source.path, f"unreadable tar shard ({error})") from None
        names = sorted(n for n in members if Path(n).suffix.lower() in IMAGE_SUFFIXES)
        items = [
            Item(index, n, classes.get(os.path.splitext(n)[0]) or _top_folder(n, source.path.stem))
            for n in names
        ]
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


def npy_arrays(source: Source) -> tuple[np.ndarray, list[np.ndarray]]:
    """Memory-mapped L (N, H, W) and ab parts (n_i, H, W, 2) of an npy source, checked against each other."""
    try:
        l_codes = np.load(source.path, mmap_mode="r", allow_pickle=False)
        parts = [np.load(p, mmap_mode="r", allow_pickle=False) for p in source.ab_paths]
    except (OSError, ValueError) as error:
        raise PrepareError(source.path, f"cannot read the arrays ({error})") from None
    if l_codes.ndim != 3 or l_codes.dtype != np.uint8:
        raise PrepareError(source.path, f"L must be uint8 (N, H, W), got {l_codes.dtype} {l_codes.shape}")
    for path, ab in zip(source.ab_paths, parts, strict=True):
        if ab.ndim != 4 or ab.shape[1:] != (*l_codes.shape[1:], 2) or ab.dtype != np.uint8:
            raise PrepareError(
                path,
                f"ab must be uint8 (N, {l_codes.shape[1]}, {l_codes.shape[2]}, 2) to match "
                f"L {l_codes.shape}, got {ab.dtype} {ab.shape}",
            )
    total = sum(ab.shape[0] for ab in parts)
    if total != l_codes.shape[0]:
        raise PrepareError(
            source.path,
            f"{l_codes.shape[0]} L images but {total} ab images "
            f"in {', '.join(p.name for p in source.ab_paths)}",
        )
    return l_codes, parts


def display_path(source: Source, root: Path, key: str) -> str:
    """How the manifest names a photo: absolute file path, ``shard.tar/member`` or ``L.npy[row]``."""
    return f"{root}[{key}]" if source.kind == "npy" else f"{root}/{key}"
