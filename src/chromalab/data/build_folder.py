"""The files of a cache being built: the finished folder moved into place, JSON written, .npy files cut to the
rows that were kept. ``prepare`` builds in a private folder beside the cache and calls these at the end.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np


def replace_cache(build: Path, out: Path) -> None:
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


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def truncate_npy(path: Path, rows: int) -> None:
    """Shrink an .npy file to its first ``rows`` rows in place (rewrite the header's shape, cut the data)."""
    with open(path, "r+b") as f:
        version = np.lib.format.read_magic(f)
        header_start = f.tell()
        reader = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = reader(f)
        data_start = f.tell()
        new_shape = (rows, *shape[1:])
        header = repr(
            {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran, "shape": new_shape}
        )
        length_bytes = 2 if version == (1, 0) else 4
        room = data_start - header_start - length_bytes
        assert len(header) + 1 <= room, "the header only shrinks"
        f.seek(header_start + length_bytes)
        f.write((header.ljust(room - 1) + "\n").encode("latin1"))
        f.truncate(data_start + rows * int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)
