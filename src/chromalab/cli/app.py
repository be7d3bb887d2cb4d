"""The typer application and the conventions every command shares.

Exit codes (docs/design.md): 0 all done, 1 some inputs failed, 2 bad usage. Errors about one input are one
line on stderr, ``error: PATH: reason``; nothing a user types may end in a traceback. Commands import torch
inside their body so that ``chromalab --help`` stays instant.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

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
# the commands that prepare data, train, export or look inside networks: they run on torch, which the base
# install leaves out (colorize, serve, study, evaluate and models run on onnxruntime alone)
TORCH_COMMANDS = frozenset({"analyze", "experiment", "export", "prepare", "report", "semantic", "train"})


def _show_version(shown: bool) -> None:
    if shown:
        from chromalab import __version__

        print(f"chromalab {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _check_torch(
    context: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print chromalab's version and exit."
    ),
) -> None:
    # a command of TORCH_COMMANDS without torch: one line saying what to install, exit 2
    from chromalab.colorize.loading import TRAIN_EXTRA, torch_installed

    command = context.invoked_subcommand
    if command in TORCH_COMMANDS and not torch_installed():
        usage_error(f"chromalab {command} needs torch, which this install leaves out: {TRAIN_EXTRA}")


if TYPE_CHECKING:
    from chromalab.colorize.core import BaseColorizer


def report_error(subject: object, reason: object) -> None:
    """One line on stderr: ``error: SUBJECT: reason``."""
    print(f"error: {subject}: {reason}", file=sys.stderr, flush=True)


def usage_error(message: str) -> NoReturn:
    """Bad usage: one line on stderr and exit code 2."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(EXIT_USAGE)


def model_file_of(path: Path) -> Path:
    """``path``, or a run folder's model file when ``path`` is a run folder (what ``chromalab train -o RUN``
    leaves in it)."""
    from chromalab.training.run_folder import FINAL_MODEL

    return path / FINAL_MODEL if path.is_dir() and (path / FINAL_MODEL).is_file() else path


def refuse_replacing_inputs(
    outputs: list[Path | None], inputs: list[Path], *, read_whole: bool = False
) -> None:
    """Exit 2 (one line, nothing written) when an output would replace one of the command's inputs: an
    input file itself, or an existing file inside an input folder that the command reads: a photo or clip
    (what a folder search reads), or any file with ``read_whole`` (a prepared cache)."""
    from chromalab.images import IMAGE_SUFFIXES
    from chromalab.video.kinds import VIDEO_SUFFIXES

    readable = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    for output in outputs:
        if output is None or not output.is_file():
            continue
        target = output.resolve()
        for source in inputs:
            folder = source.resolve()
            inside = source.is_dir() and target.is_relative_to(folder)
            if target == folder or (inside and (read_whole or target.suffix.lower() in readable)):
                usage_error(f"{output}: is an input of this command; choose another output file")


@contextmanager
def progress(label: str, total: int | None, *, rate_of: str | None = None) -> Iterator[Callable[[], None]]:
    """A transient progress bar on stderr, on a terminal only and for two or more items (rich is imported only
    then); yields the function that advances it. ``rate_of`` adds a column of items per second."""
    if not sys.stderr.isatty() or (total is not None and total < 2):
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    speed = [TextColumn(f"{{task.speed}} {rate_of}/s")] if rate_of else []
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        *speed,
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def open_colorizer(
    model: str,
    *,
    engine: str = "auto",
    show_warnings: bool = False,
    **options: object,
) -> BaseColorizer:
    """``--model`` on the backend ``engine`` picks (``colorize.loading``), or exit 2 with the reason. A
    registered name gives an untrained network: it warns so, on stderr with ``show_warnings``, silently
    otherwise; a ``--device`` that falls back to the CPU always says so."""
    from chromalab.colorize.loading import load_colorizer

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            colorizer = load_colorizer(model, engine=engine, **options)
    except ImportError as error:
        usage_error(str(error))
    except (FileNotFoundError, ValueError) as error:
        usage_error(f"--model {model}: {error}")
    from chromalab.colorize.options import DeviceFallback

    for warning in caught:
        if show_warnings or issubclass(warning.category, DeviceFallback):
            print(f"warning: {warning.message}", file=sys.stderr)
    return colorizer


def json_text(summary: dict) -> str:
    """A summary as the JSON files of ``evaluate --json`` and ``semantic --json`` hold it."""
    import json

    return json.dumps(summary, indent=2, allow_nan=False) + "\n"


def write_outputs(outputs: list[tuple[Path, str]]) -> bool:
    """Write each (path, text) atomically; a failure is one ``error:`` line. False if any could not be
    written."""
    from chromalab.files import atomic_write_text

    written = True
    for path, text in outputs:
        try:
            atomic_write_text(path, text)
        except OSError as error:
            report_error(path, f"cannot write ({error.strerror or error})")
            written = False
    return written
