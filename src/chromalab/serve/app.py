"""The web app (FastAPI): what it serves and how it starts, fails and stops. The page (``static/``) uses
the same API as any other client.

``GET /api/health``; ``GET /api/models``; ``POST /api/colorize`` (multipart ``file``, optional
``temperature``, ``size``, ``format``, ``model`` -> the colorized image at the input's size); ``POST
/api/uploads`` (the network runs once; the upload is kept) then ``GET
/api/uploads/ID/preview?temperature=T`` (re-decoded and rendered without the network), ``PUT
/api/uploads/ID/hints`` (JSON ``{"hints": [...]}`` as ``--hints`` files have them: the decoder runs again),
``PUT /api/uploads/ID/reference`` (multipart ``file``: a colour photo whose colours go where it matches, ->
``{"matched_share": s}``; ``DELETE`` takes it away), ``GET /api/uploads/ID/palette?x=&y=`` (the network's
likeliest colours there), ``.../download``, ``DELETE /api/uploads/ID`` and ``GET /api/download.zip?ids=...``.
Errors are ``{"error": "..."}`` with 400 (bad field, not a readable image, a model that cannot match a
reference), 401 (token), 403 (a state-changing request from another site), 404, 408 (a body that came too
slowly), 413 (too many bytes or pixels), 415 (not an image at all), 421 (a Host name the server was not
started for: ``guard``) or 503 (the pool, or the slots for bodies being received, are full).
With ``--study``, the human studies' routes too (``study_routes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from chromalab.colorize.reference import NoMatchingFeatures
from chromalab.images import ImageError, ImageTooLarge, NotAnImage
from chromalab.serve.bodies import BodyError, Receiving
from chromalab.serve.catalogue import Catalogue
from chromalab.serve.forms import FormError
from chromalab.serve.guard import Guard
from chromalab.serve.newcomers import Newcomers
from chromalab.serve.routes import router
from chromalab.serve.server import STATIC, ApiError, Server
from chromalab.serve.settings import ServeSettings
from chromalab.serve.study_routes import router as study_router
from chromalab.serve.uploads import UploadStore
from chromalab.serve.work import Busy, WorkPool
from chromalab.study.storage import open_studies

TOKEN_COOKIE = "chromalab_token"
EXPIRY_INTERVAL_S = 30.0
# then the server's process id: a folder whose process is gone is left over
FOLDER_PREFIX = "chromalab-serve-"


def create_app(settings: ServeSettings) -> FastAPI:
    app = FastAPI(title="chromalab", lifespan=_lifespan(settings), docs_url=None, redoc_url=None)
    _errors(app)
    _token(app, settings.token)
    app.include_router(router)
    app.include_router(study_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, hosts=(settings.host, *settings.allow_hosts))  # outermost: before the token
    return app


def _lifespan(settings: ServeSettings) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        remove_left_over_folders()
        folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
        server = Server(
            settings,
            Catalogue(settings.model, settings.models_dir, engine=settings.engine, device=settings.device),
            WorkPool(workers=settings.workers, capacity=settings.queue),
            UploadStore(folder, max_bytes=int(settings.store_mb * 1e6), ttl=settings.upload_ttl_s),
            folder,
            {},
            Receiving(settings.receiving, per_client=settings.receiving_per_client),
            Newcomers(),
        )
        server.catalogue.colorizer(None)  # load the first model now: a bad one stops the start, not a request
        server.studies.update(open_studies(settings.studies))
        app.state.server = server
        expiry = asyncio.create_task(_expire(server.store))
        try:
            yield
        finally:
            expiry.cancel()
            server.pool.close()
            for store in server.studies.values():
                store.close()
            shutil.rmtree(folder, ignore_errors=True)
            server.catalogue.close()

    return lifespan


def remove_left_over_folders(parent: Path | None = None) -> list[Path]:
    """Remove the temporary folders of servers that were killed (kill -9: no time to remove their own):
    ours by name, whose process id is no running process. Returns them."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        pid = folder.name.removeprefix(FOLDER_PREFIX).split("-", 1)[0]
        if folder.is_dir() and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


async def _expire(store: UploadStore) -> None:
    while True:
        await asyncio.sleep(EXPIRY_INTERVAL_S)
        store.expire()


def _errors(app: FastAPI) -> None:
    """Every failure is ``{"error": "..."}`` with its status; a server error never shows a traceback."""
    statuses = {
        ApiError: None,
        FormError: None,
        BodyError: None,
        ImageTooLarge: 413,
        NotAnImage: 415,
        ImageError: 400,
        NoMatchingFeatures: 400,
        Busy: 503,
        RequestValidationError: 400,
        HTTPException: None,
    }

    def handler(status: int | None):
        async def handle(request: Request, error: Exception) -> JSONResponse:
            code = status or getattr(error, "status", None) or getattr(error, "status_code", 500)
            if isinstance(error, HTTPException):
                message = error.detail
            elif isinstance(error, RequestValidationError):
                message = validation_message(error)
            else:
                message = str(error)
            # a body refused before it was read whole: the connection cannot carry another request
            close = {"Connection": "close"} if code in (408, 413) else None
            return JSONResponse({"error": message or "error"}, status_code=code, headers=close)

        return handle

    for kind, status in statuses.items():
        app.add_exception_handler(kind, handler(status))

    async def unexpected(request: Request, error: Exception) -> JSONResponse:  # a bug: said in one line
        return JSONResponse({"error": f"internal error ({type(error).__name__})"}, status_code=500)

    app.add_exception_handler(Exception, unexpected)


def validation_message(error: RequestValidationError) -> str:
    """Which fields are missing or wrong, and why, in one line: never the route's source (FastAPI's own text
    names the file and line of the handler)."""
    parts = []
    for problem in error.errors():
        where = [
            str(part) for part in problem.get("loc", ()) if part not in ("query", "path", "body", "header")
        ]
        parts.append(f"{'.'.join(where) or 'request'}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _token(app: FastAPI, token: str | None) -> None:
    """With a token, every request carries it: header ``Authorization: Bearer T``, query ``?token=T`` (the
    page's address, which then sets a cookie for the page's own requests) or that cookie."""
    if token is None:
        return

    @app.middleware("http")
    async def require_token(request: Request, call_next: Callable) -> Response:
        given = {
            request.headers.get("authorization", "").removeprefix("Bearer "),
            request.query_params.get("token"),
            request.cookies.get(TOKEN_COOKIE),
        }
        if token not in given:
            return JSONResponse(
                {"error": "this server needs its token (?token=... or Authorization: Bearer ...)"},
                status_code=401,
            )
        response = await call_next(request)
        if request.query_params.get("token") == token:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response
