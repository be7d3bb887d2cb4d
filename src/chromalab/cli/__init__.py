"""Command line: ``chromalab COMMAND``, one file per command, plus ``app`` (the conventions they share). Thin:
parses, calls the library, prints; logic that a web page or a script would also need lives in the stages
below, which it may all import. Nothing imports it but ``__main__`` and the console script."""

from __future__ import annotations

from chromalab.cli import (  # noqa: F401  (registers the commands)
    analyze,
    colorize,
    evaluate,
    experiment,
    export,
    models,
    prepare,
    report,
    semantic,
    serve,
    study,
    train,
)
from chromalab.cli.app import app


def main() -> None:
    """The console script: SIGTERM stops a command as Ctrl-C does, so its half-written files are removed."""
    import signal

    signal.signal(signal.SIGTERM, _terminated)
    app()


def _terminated(signum: int, frame: object) -> None:
    import sys

    print("error: terminated (SIGTERM); files being written were removed", file=sys.stderr, flush=True)
    raise SystemExit(128 + signum)
