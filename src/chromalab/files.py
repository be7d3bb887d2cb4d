"""Writing files so that a reader never sees half of one, sweeping the temporary files a killed writer left,
and reading JSON that users or clients send. The lowest stage, beside ``color``: every other stage may import
it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: the sweep goes by age alone
    fcntl = None

TEMP_SUFFIX = ".tmp"
# what atomic_write's mkstemp names look like: "." + the target's name + "." + 8 random characters + ".tmp"
OUR_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")
STARTED = time.time()  # this process's start (near enough: when chromalab.files was first imported)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``, so readers never see half a file. The temporary
    file is locked (``flock``) while it is written, so that ``sweep_stale_temps`` in another process leaves
    it alone however long the writing takes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    if fcntl is None:  # no lock to hold: the file is left for the writer alone
        os.close(fd)
        fd = None
    else:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a fresh file: no one else holds its lock
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp (or a writer that recreates the file) leaves 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if fd is not None:
            os.close(fd)  # and with it the lock


def atomic_write_text(path: Path, text: str) -> None:
    """``atomic_write`` of a UTF-8 text."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def sweep_stale_temps(folder: Path, *, before: float = STARTED) -> list[Path]:
    """Remove from ``folder`` (not its sub-folders) the temporary files of ``atomic_write`` that a killed
    process left: named as ours, last written before ``before`` (by default this process's start) and not
    locked, so a file that another running writer is filling is kept, however seldom it writes. Returns
    what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        try:
            old = (
                OUR_TEMP.match(entry.name)
                and entry.is_file(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_mtime < before
            )
            if old and _remove_unless_locked(entry.path):
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    return removed


def _remove_unless_locked(path: str) -> bool:
    """Remove ``path`` unless a writer holds its lock (checked and removed under the lock: no writer can take
    it between the two); whether it was removed."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(path)
        return True
    except BlockingIOError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def parse_json(text: str) -> object:
    """JSON text -> its value; ``ValueError`` saying why for text that is not JSON or nests too deeply (the
    decoder recurses: ``[[[[...`` a hundred thousand deep would otherwise be a RecursionError)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
