"""What the web app's routes share while it runs: made when the app starts (``app``), taken down when it
stops, and typed here so that the routes can name it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the annotations only: study_routes imports routes, which imports this
    from chromalab.serve.bodies import Receiving
    from chromalab.serve.catalogue import Catalogue
    from chromalab.serve.settings import ServeSettings
    from chromalab.serve.study_routes import Newcomers
    from chromalab.serve.uploads import UploadStore
    from chromalab.serve.work import WorkPool
    from chromalab.study.storage import StudyStore


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
