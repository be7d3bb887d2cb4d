"""``chromalab serve``: the web app on this computer (FastAPI + uvicorn)."""

from __future__ import annotations

import ipaddress
import signal
import sys
from pathlib import Path

import typer

from chromalab.cli.app import EXIT_OK, app, usage_error
from chromalab.cli.shared_options import device_option, engine_option


@app.command()
def serve(
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on; loopback by default (this computer only)."
    ),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    model: str = typer.Option(
        "default",
        "--model",
        "-m",
        help="The model offered first: a bundled one ('default', 'fast-v1') or a .safetensors file.",
    ),
    engine: str = engine_option(),
    device: str = device_option(),
    models_dir: Path = typer.Option(
        None,
        "--models-dir",
        help="A folder of .safetensors model files to offer as well (NAME.md beside one is its 'about').",
    ),
    max_upload_mb: float = typer.Option(
        50.0,
        "--max-upload-mb",
        min=0.001,
        help="Largest request; larger ones are refused while they stream (413).",
    ),
    max_megapixels: float = typer.Option(
        None,
        "--max-megapixels",
        min=0.001,
        help="Largest photo in megapixels, read "
        "from its header before decoding (413); default and most: what any "
        "chromalab command opens (120).",
    ),
    token: str = typer.Option(
        None,
        "--token",
        help="Require this token on every request (?token=... in the page's "
        "address, or Authorization: Bearer ...); use it with --host 0.0.0.0.",
    ),
    workers: int = typer.Option(2, "--workers", min=1, max=64, help="Photos in the network at once."),
    queue: int = typer.Option(64, "--queue", min=1, help="Photos in work or waiting at once; more get 503."),
    studies: list[Path] = typer.Option(
        [], "--study", help="Run this study (made by 'chromalab study create') at /study/NAME (repeatable)."
    ),
    allow_hosts: list[str] = typer.Option(
        [],
        "--allow-host",
        help="Also answer to this host name (repeatable): the "
        "name other computers use for this one. Loopback names, IP addresses and "
        "--host are always accepted; other names are refused (DNS rebinding).",
    ),
) -> None:
    """Colorize in the browser: drop photos, move the temperature, download. Works offline."""
    import uvicorn

    from chromalab.images import MAX_PIXELS
    from chromalab.serve.app import create_app
    from chromalab.serve.connections import protocol_with_header_timeout
    from chromalab.serve.settings import ServeSettings

    if token is not None and not token.strip():
        usage_error("--token must not be empty (an empty token would let every request in)")

    if max_megapixels is None or max_megapixels > MAX_PIXELS / 1e6:
        max_megapixels = MAX_PIXELS / 1e6

    if models_dir is not None and not models_dir.is_dir():
        usage_error(f"--models-dir {models_dir}: no such folder")
    from chromalab.colorize.options import bundled_names

    if model not in bundled_names() and not Path(model).is_file():
        usage_error(f"--model {model}: no such model file")
    names = _check_studies(studies)
    if not _loopback(host):
        print(
            f"warning: --host {host} lets other computers reach this server"
            + ("" if token else "; pass --token to keep them out"),
            file=sys.stderr,
        )
    try:
        settings = ServeSettings(
            model=model,
            engine=engine,
            device=device,
            models_dir=models_dir,
            max_upload_mb=max_upload_mb,
            max_megapixels=max_megapixels,
            token=token,
            workers=workers,
            queue=queue,
            studies=tuple(studies),
            host=host,
            allow_hosts=tuple(allow_hosts),
        )
    except ValueError as error:
        usage_error(str(error))
    from chromalab.colorize.loading import backend_for, torch_installed, torch_missing

    if backend_for(model, engine) == "torch" and not torch_installed():
        usage_error(torch_missing(model))
    shown = "localhost" if _loopback(host) else host
    query = "?token=" + token if token else ""
    print(f"chromalab: http://{shown}:{port}/{query}  (Ctrl-C stops it)", flush=True)
    for name in names:
        print(f"study {name}: http://{shown}:{port}/study/{name}{query}", flush=True)
    web_app = create_app(settings)
    # uvicorn catches SIGTERM (docker stop, systemd), stops gracefully and raises it again: a stop asked
    # for, as Ctrl-C is, so it ends the command with exit 0 instead of the console script's error line
    signal.signal(signal.SIGTERM, _stopped)
    uvicorn.run(
        web_app,
        host=host,
        port=port,
        log_level="warning",
        http=protocol_with_header_timeout(settings.header_timeout_s),
        limit_concurrency=settings.connections,
    )


def _stopped(signum: int, frame: object) -> None:
    raise typer.Exit(EXIT_OK)


def _check_studies(paths: list[Path]) -> list[str]:
    """The names of the studies in ``paths``, or exit 2 for a file that is none (or two of one name)."""
    from chromalab.study.storage import StudyFileError, open_studies

    try:
        studies = open_studies(tuple(paths))
    except StudyFileError as error:
        usage_error(f"--study: {error}")
    for store in studies.values():
        store.close()
    return list(studies)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
