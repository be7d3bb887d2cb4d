"""The web app's routes; ``app.create_app`` mounts them. See ``app`` for the API in one place."""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from chromalab.colorize.batch import unique
from chromalab.colorize.options import check_size, check_temperature
from chromalab.serve import rendering
from chromalab.serve.bodies import chunks, read_body
from chromalab.serve.forms import Form, read_form
from chromalab.serve.server import STATIC, ApiError, Server, pace
from chromalab.serve.uploads import Upload, attachment, safe_stem

if TYPE_CHECKING:
    from chromalab.colorize.core import BaseColorizer

router = APIRouter()
# a hint is about 50 bytes of JSON: twice that, with room to spare
MAX_HINTS_BYTES = 64 * rendering.MAX_HINTS * 2
MAX_ZIP_IDS = 100  # photos in one zip: a page's worth; each is rendered in turn, at full resolution


def _server(request: Request) -> Server:
    return request.app.state.server


async def _form(request: Request) -> tuple[Form, bytes]:
    """The request's form and its ``file`` (400 without one), received in one of the server's few slots."""
    server = _server(request)
    async with server.receiving.slot(request.client.host if request.client else ""):
        form = await read_form(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            chunks(request, max_bytes=server.settings.max_bytes, pace=pace(server.settings)),
            max_bytes=server.settings.max_bytes,
        )
    if "file" not in form.files:
        raise ApiError(400, "no file: send the photo as the multipart field 'file'")
    return form, form.files["file"]


def _number(fields: dict[str, str], name: str, kind: type, check: Callable[[Any], Any]) -> float | int | None:
    """A form or query field as ``kind``, checked; None when absent; 400 when bad."""
    raw = fields.get(name)
    if raw in (None, ""):
        return None
    try:
        return check(kind(raw))
    except ValueError as error:
        raise ApiError(400, f"{name}: {error}") from None


def _options(fields: dict[str, str], max_size: int) -> dict[str, object]:
    fmt = fields.get("format", "png").lower()
    if fmt not in rendering.FORMATS:
        raise ApiError(400, f"format must be png or jpeg, got {fmt!r}")

    def size(value: int) -> int:
        if check_size(value) > max_size:
            raise ValueError(
                f"at most {max_size} on this server (GET /api/models gives each model's size), got {value}"
            )
        return value

    return {
        "temperature": _number(fields, "temperature", float, check_temperature),
        "size": _number(fields, "size", int, size),
        "fmt": rendering.FORMATS[fmt],
    }


def _query(request: Request) -> dict[str, object]:
    return _options(dict(request.query_params), _server(request).settings.max_size)


def _colorizer(server: Server, name: str | None) -> BaseColorizer:
    try:
        return server.catalogue.colorizer(name)
    except (ValueError, FileNotFoundError) as error:
        raise ApiError(400, str(error)) from None


def _still_kept(server: Server, upload_ids: list[str]) -> list[Upload]:
    """The uploads of ``upload_ids`` that the store still keeps, in order (each marked as used)."""
    kept = []
    for upload_id in upload_ids:
        with contextlib.suppress(KeyError):
            kept.append(server.store.get(upload_id))
    return kept


def _upload(server: Server, upload_id: str) -> Upload:
    try:
        return server.store.get(upload_id)
    except KeyError:
        raise ApiError(404, f"no upload {upload_id!r} (expired, or never made)") from None


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@router.get("/api/health")
async def health(request: Request) -> dict[str, object]:
    server = _server(request)
    return {
        "status": "ok",
        "models": server.catalogue.names,
        "uploads": len(server.store),
        "in_work": server.pool.taken,
        "capacity": server.pool.capacity,
        "receiving": server.receiving.taken,
    }


@router.get("/api/models")
async def models(request: Request) -> list[dict[str, object]]:
    server = _server(request)
    return [await server.pool.run(server.catalogue.about, name) for name in server.catalogue.names]


@router.post("/api/colorize")
async def colorize(request: Request) -> Response:
    server = _server(request)
    form, data = await _form(request)
    options = _options(form.fields, server.settings.max_size)
    colorizer = _colorizer(server, form.fields.get("model"))
    body = await server.pool.run(
        rendering.colorize_bytes,
        colorizer,
        data,
        max_pixels=server.settings.max_pixels,
        temperature=options["temperature"],
        size=options["size"],
        fmt=options["fmt"],
    )
    return Response(body, media_type=rendering.MEDIA_TYPES[options["fmt"]])


@router.post("/api/uploads")
async def upload(request: Request) -> dict[str, object]:
    server = _server(request)
    form, data = await _form(request)
    name = form.fields.get("model") or server.catalogue.first
    colorizer = _colorizer(server, name)
    kept = await server.pool.run(
        rendering.analyse,
        colorizer,
        data,
        model=name,
        filename=safe_stem(form.filenames.get("file")),
        original=server.store.original_path(),
        max_pixels=server.settings.max_pixels,
        size=_options(form.fields, server.settings.max_size)["size"],
        preview_side=server.settings.preview_side,
    )
    server.store.add(kept)
    return {
        "id": kept.id,
        "name": kept.name,
        "width": kept.width,
        "height": kept.height,
        "model": name,
        "classification": bool(colorizer.description.get("bins")),
        "temperature": colorizer.temperature,
    }


@router.get("/api/uploads/{upload_id}/preview")
async def preview(request: Request, upload_id: str, grey: bool = False) -> Response:
    server = _server(request)
    kept = _upload(server, upload_id)
    temperature = _query(request)["temperature"]
    body = await server.pool.run(rendering.preview, kept, temperature=temperature, grey=grey)
    return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=600"})


@router.put("/api/uploads/{upload_id}/hints")
async def hints(request: Request, upload_id: str) -> dict[str, object]:
    """Replace the upload's colour hints: JSON ``{"hints": [{"x": .., "y": .., "color": "#rrggbb" | "ab":
    [a, b]}]}`` in photo pixels (``color.hints``); the previews and downloads that follow have them."""
    server = _server(request)
    kept = _upload(server, upload_id)
    # refused past the limit
    body = await read_body(request, max_bytes=MAX_HINTS_BYTES, pace=pace(server.settings))
    try:
        entries = rendering.hint_entries(body.decode("utf-8", errors="replace"))
        stored = await server.pool.run(rendering.set_hints, kept, entries)
    except ValueError as error:
        raise ApiError(400, f"hints: {error}") from None
    server.store.refit()  # the first hints of an upload make it larger
    return {"hints": stored, "inside": kept.session.encoded is not None}


@router.put("/api/uploads/{upload_id}/reference")
async def reference(request: Request, upload_id: str) -> dict[str, object]:
    """Colour from a reference photo (multipart ``file``, read as photo uploads are): its colours where it
    matches the upload (``colorize.reference``), in the previews, downloads and hints that follow."""
    server = _server(request)
    kept = _upload(server, upload_id)
    _, data = await _form(request)
    share = await server.pool.run(rendering.set_reference, kept, data, max_pixels=server.settings.max_pixels)
    return {"matched_share": round(share, 3)}


@router.delete("/api/uploads/{upload_id}/reference")
async def forget_reference(request: Request, upload_id: str) -> dict[str, bool]:
    """The upload's automatic colours again (its hints stay)."""
    server = _server(request)
    kept = _upload(server, upload_id)
    had = kept.session.colours is not None
    await server.pool.run(kept.session.set_reference, None)
    return {"removed": had}


@router.get("/api/uploads/{upload_id}/palette")
async def palette(request: Request, upload_id: str, x: int, y: int) -> dict[str, object]:
    """The network's most likely colours at pixel (x, y) of the upload, given its hints so far."""
    server = _server(request)
    kept = _upload(server, upload_id)
    try:
        colors = await server.pool.run(kept.session.palette, x, y)
    except ValueError as error:
        raise ApiError(400, f"palette: {error}") from None
    return {"colors": colors}


@router.get("/api/uploads/{upload_id}/download")
async def download(request: Request, upload_id: str) -> Response:
    server = _server(request)
    options = _query(request)
    filename, body = await _full_resolution(server, _upload(server, upload_id), options)
    return Response(
        body,
        media_type=rendering.MEDIA_TYPES[options["fmt"]],
        headers={"Content-Disposition": attachment(filename)},
    )


@router.delete("/api/uploads/{upload_id}")
async def forget(request: Request, upload_id: str) -> dict[str, bool]:
    return {"removed": _server(request).store.remove(upload_id)}


@router.get("/api/download.zip")
async def download_all(request: Request, ids: str) -> StreamingResponse:
    """Every upload of ``ids`` (comma-separated, each once, at most ``MAX_ZIP_IDS``) that the store still
    keeps, at full resolution, in one zip streamed as its photos are rendered: one photo in memory at a time,
    however many are asked for. The header ``X-Missing-Uploads`` counts the ids no longer kept (expired or
    pushed out); 404 when none is."""
    server = _server(request)
    options = _query(request)
    # each id once, in order
    wanted = list(dict.fromkeys(upload_id for upload_id in ids.split(",") if upload_id))
    if len(wanted) > MAX_ZIP_IDS:
        raise ApiError(400, f"ids: at most {MAX_ZIP_IDS} uploads in one zip, got {len(wanted)}")
    kept = _still_kept(server, wanted)
    if not kept:
        raise ApiError(404, "none of these uploads is kept any more (expired, or never made)")
    return StreamingResponse(
        _zipped(server, kept, options),
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="colorized.zip"',
            "X-Missing-Uploads": str(len(wanted) - len(kept)),
        },
    )


class _Sink:
    """A write-only file for ``zipfile`` (which then writes sizes after each member's data, needing no seek):
    what was written since the last ``take``."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


async def _zipped(server: Server, kept: list[Upload], options: dict[str, object]) -> AsyncIterator[bytes]:
    sink, names = _Sink(), set()
    with zipfile.ZipFile(sink, "w") as archive:
        for one in kept:
            filename, body = await _full_resolution(server, one, options)
            archive.writestr(unique(Path(filename), names).name, body)  # photo-2.png beside photo.png
            yield sink.take()
    yield sink.take()  # the central directory


async def _full_resolution(server: Server, upload: Upload, options: dict[str, object]) -> tuple[str, bytes]:
    """(download name, encoded image) of an upload at full resolution, in the pool."""
    body = await server.pool.run(
        rendering.full_resolution,
        upload,
        temperature=options["temperature"],
        fmt=options["fmt"],
        max_pixels=server.settings.max_pixels,
    )
    return f"{upload.name}-colour{rendering.SUFFIXES[options['fmt']]}", body
