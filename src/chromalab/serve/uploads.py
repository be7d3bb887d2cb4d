"""What the server keeps of each upload, bounded: the network's output at view resolution (so that a new
temperature only decodes and renders again, without the network; with the encoder's features, so that new
hints run only the decoder: ``colorize.hint_session``), a preview-sized lightness, and the
original bytes in the server's own temporary folder (for the full-resolution download). Least recently used
uploads go first when the store passes its byte budget; unused ones expire."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from chromalab.colorize.hint_session import HintSession
from chromalab.images import Lightness

SAFE_NAME = re.compile(r"[^\w.() -]+")  # \w: the letters and digits of every script (фото, 写真)


@dataclass
class Upload:
    model: str
    name: str  # a safe file stem for downloads, from the client's name (never used as a path)
    width: int
    height: int
    session: HintSession  # the network's answer (its hints, and the encoder's features for new ones)
    preview: Lightness  # L (h', w') with the longest side at most the preview side, and its alpha
    original: Path  # the uploaded bytes, in the store's folder
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    used: float = field(default_factory=time.monotonic)

    @property
    def nbytes(self) -> int:
        """Memory held: the session's answers and factors, the photo's full-resolution lightness and view
        (kept for the spreading and the palette), and the preview."""
        prepared = self.session.prepared
        preview = 0 if self.preview is prepared.source else lightness_bytes(self.preview)
        return (
            self.session.nbytes + lightness_bytes(prepared.source) + prepared.network_input.nbytes + preview
        )


def lightness_bytes(source: Lightness) -> int:
    alpha = 0 if source.alpha is None else source.alpha.width * source.alpha.height
    return source.lightness.nbytes + alpha


def safe_stem(filename: str | None) -> str:
    """A download name from whatever the client called its file: letters and digits (of any script) and a
    few signs only; no path, quote, control or line-break character."""
    stem = Path(filename or "photo").stem
    return SAFE_NAME.sub("_", stem).strip(" .")[:80] or "photo"


def attachment(filename: str) -> str:
    """The Content-Disposition of a download named ``filename`` (a ``safe_stem`` and a suffix): the name
    itself for every browser (RFC 6266's filename*, UTF-8), and its ASCII letters for old clients."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class UploadStore:
    """Uploads by id; at most ``max_bytes`` of outputs and previews; each dropped ``ttl`` seconds after its
    last use. Thread-safe. The originals live in ``folder`` and are deleted with their upload."""

    def __init__(self, folder: Path, *, max_bytes: int, ttl: float) -> None:
        self.folder = Path(folder)
        self.max_bytes, self.ttl = max_bytes, ttl
        self._uploads: OrderedDict[str, Upload] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def original_path(self) -> Path:
        """A fresh file name in the store's folder."""
        return self.folder / f"{secrets.token_hex(8)}.upload"

    def add(self, upload: Upload) -> None:
        with self._lock:
            self._uploads[upload.id] = upload
            self._shrink()

    def refit(self) -> None:
        """Drop the least recently used uploads until the store is within ``max_bytes`` again (after an upload
        grew: its hint editor keeps the photo's factorised spreading system)."""
        with self._lock:
            self._shrink()

    def get(self, upload_id: str) -> Upload:
        """The upload, marked as used; KeyError when there is none (or no more)."""
        with self._lock:
            upload = self._uploads[upload_id]
            upload.used = time.monotonic()
            self._uploads.move_to_end(upload_id)
            return upload

    def remove(self, upload_id: str) -> bool:
        with self._lock:
            upload = self._uploads.pop(upload_id, None)
        if upload is not None:
            upload.original.unlink(missing_ok=True)
        return upload is not None

    def expire(self) -> int:
        """Drop the uploads unused for ``ttl`` seconds; returns how many."""
        limit = time.monotonic() - self.ttl
        with self._lock:
            old = [key for key, upload in self._uploads.items() if upload.used < limit]
        return sum(self.remove(key) for key in old)

    def __len__(self) -> int:
        return len(self._uploads)

    @property
    def nbytes(self) -> int:
        return sum(upload.nbytes for upload in self._uploads.values())

    def _shrink(self) -> None:
        total = self.nbytes
        while len(self._uploads) > 1 and total > self.max_bytes:
            _, upload = self._uploads.popitem(last=False)
            upload.original.unlink(missing_ok=True)
            total -= upload.nbytes
