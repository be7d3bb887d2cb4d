"""Command line: ``chromalab COMMAND``. Thin: parses, calls the library, prints."""

from __future__ import annotations

from chromalab.cli import colorize, evaluate, models, prepare, train  # noqa: F401  (registers the commands)
from chromalab.cli.app import app


def main() -> None:
    app()
