"""Command line: ``chromalab COMMAND``. Thin: parses, calls the library, prints."""

from __future__ import annotations

from chromalab.cli import analyze, colorize, evaluate, models, prepare, report, semantic, train  # noqa: F401  (registers the commands)
from chromalab.cli.app import app


def main() -> None:
    app()
