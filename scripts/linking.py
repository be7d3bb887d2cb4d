"""The one file operation the data scripts share (imported by scripts run from this folder)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (its folders made), or a copy where a link cannot be made
    (another file system)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
