"""What the web app's routes share: the server's state while it runs (made when the app starts, in ``app``,
taken down when it stops), the error a route answers with, the folder of the pages and the pace a request
body must keep."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from chromalab.serve.bodies import Pace

if TYPE_CHECKING:  # names for the annotations only (the catalogue's module loads torch)
    from chromalab.serve.bodies import Receiving
    from chromalab.serve.catalogue import Catalogue
    from chromalab.serve.newcomers import Newcomers
    from chromalab.serve.settings import ServeSettings
    from chromalab.serve.uploads import UploadStore
    from chromalab.serve.work import WorkPool
    from chromalab.study.storage import StudyStore

STATIC = Path(str(resources.files("chromalab.serve") / "static"))  # the pages, scripts and styles


class ApiError(Exception):
    """A refusal a route answers with: ``status`` and a one-line message, sent as JSON by ``app``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def pace(settings: ServeSettings) -> Pace:
    """The rate a request body must keep: ``body_min_kbps`` on average after ``body_grace_s``."""
    return Pace(settings.body_grace_s, settings.body_min_kbps * 1000)


@dataclass
class Server:
    """What the routes share; made when the app starts, taken down when it stops."""

    settings: ServeSettings
    catalogue: Catalogue
    pool: WorkPool
    store: UploadStore
    folder: Path  # the server's own temporary folder: the only place it writes (besides the study files)
    studies: dict[str, StudyStore]  # study name -> its open file
    receiving: Receiving  # request bodies being received at once, bounded
    newcomers: Newcomers  # new study participants per client, bounded
