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
    app()
