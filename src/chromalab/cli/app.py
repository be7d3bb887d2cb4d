"""The typer application and the conventions every command shares.

Exit codes (DESIGN.md): 0 all done, 1 some inputs failed, 2 bad usage. Errors about one input are one line
on stderr, ``error: PATH: reason``; nothing a user types may end in a traceback. Commands import torch
inside their body so that ``chromalab --help`` stays instant.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="chromalab",
    help="Colorize grayscale photos; prepare data, train, evaluate and compare colorization models.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def report_error(subject: object, reason: object) -> None:
    """One line on stderr: ``error: SUBJECT: reason``."""
    print(f"error: {subject}: {reason}", file=sys.stderr, flush=True)


def usage_error(message: str) -> NoReturn:
    """Bad usage: one line on stderr and exit code 2."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(EXIT_USAGE)
