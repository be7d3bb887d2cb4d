"""Command line: ``chromalab COMMAND``. Thin: parses, calls the library, prints."""

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
    train,
)
from chromalab.cli.app import app


def main() -> None:
    app()
