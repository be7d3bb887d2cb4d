"""``chromalab prepare``: photo folders, tar shards or Lab arrays -> a training cache, with a summary."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from chromalab.cli.app import EXIT_SOME_FAILED, app, console, report_error, usage_error

if TYPE_CHECKING:
    from chromalab.data.prepare import PrepareReport

# defaults are written out so that --help does not import numpy; a test checks them against the library's
SOURCES_HELP = (
    "Photo sources: folders (recursive; class = top-level sub-folder), webdataset .tar shards, "
    "L.npy:ab.npy pairs of 8-bit Lab arrays, or a folder with gray_scale.npy + ab/ab*.npy (Kaggle layout)."
)


@app.command()
def prepare(
    sources: list[str] = typer.Argument(..., metavar="SRC", help=SOURCES_HELP, show_default=False),
    out: Path = typer.Option(
        ...,
        "-o",
        "--out",
        help="Cache folder to create or update (refused if it holds other files).",
        show_default=False,
    ),
    size: int = typer.Option(
        128, "--size", "-s", help="Side in pixels of the square images stored in the cache."
    ),
    resize: str = typer.Option(
        "crop",
        "--resize",
        help="crop: centre square then resize; stretch: resize ignoring aspect; pad: letterbox with grey "
        "L=50.",
    ),
    val_fraction: float = typer.Option(
        None,
        "--val-fraction",
        help="Share of each class held out for validation, drawn with --seed (default 0.05, or 0 with "
        "--val).",
        show_default=False,
    ),
    val: list[str] = typer.Option(
        [],
        "--val",
        metavar="SRC",
        help="Validation source (repeatable), same kinds as SRC; replaces --val-fraction.",
        show_default=False,
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the random train/validation split."),
    workers: int = typer.Option(
        None,
        "--workers",
        "-w",
        help="Decoding processes; 0 decodes in this process (default: all cores, or 0 for under 256 photos).",
        show_default=False,
    ),
    min_chroma: float = typer.Option(
        2.0, "--min-chroma", help="Drop photos whose mean chroma sqrt(a^2+b^2) is below this (grey photos)."
    ),
    min_side: int = typer.Option(
        None,
        "--min-side",
        help="Enlarge photos whose side (the shorter one; the longer with --resize pad) is at least this "
        "but below --size; drop smaller ones (default: --size).",
        show_default=False,
    ),
    exclude: list[Path] = typer.Option(
        [],
        "--exclude",
        metavar="DIR",
        help="Folder of photos never to train on (repeatable): evaluation sets. Near-duplicates of them "
        "(perceptual hash of the grey thumbnail) are dropped.",
        show_default=False,
    ),
) -> None:
    """Prepare photos for training: drop grey, corrupt, too-small and excluded ones, resize, convert to
    Lab, cache.

    Writes L (uint8), ab (int8), labels, the train/val split, the ab histogram and prior, and manifest.json
    (every kept and dropped file with its reason). Running it again on unchanged sources does nothing.
    """
    from chromalab.data.prepare import PrepareError
    from chromalab.data.prepare import prepare as run_prepare

    both = sorted({str(Path(v).resolve()) for v in val} & {str(Path(t).resolve()) for t in sources})
    if both:  # its photos would be trained on and validated on at once
        usage_error(f"{both[0]}: given both as a source and as --val; give each once")
    try:
        with _progress() as advance:
            report = run_prepare(
                sources,
                out,
                size=size,
                resize=resize,
                val_fraction=val_fraction,
                val_sources=val,
                seed=seed,
                workers=workers,
                min_chroma=min_chroma,
                min_side=min_side,
                exclude=exclude,
                progress=advance,
            )
    except (FileNotFoundError, FileExistsError) as error:
        usage_error(str(error))
    except PrepareError as error:
        report_error(error.subject, error.reason)
        raise typer.Exit(EXIT_SOME_FAILED) from None
    except ValueError as error:
        usage_error(str(error))
    except OSError as error:
        report_error(getattr(error, "filename", None) or out, error.strerror or error)
        raise typer.Exit(EXIT_SOME_FAILED) from None
    _summary(report)


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, shown from the first finished chunk; yields ``advance(done, total)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    bar = Progress(
        "preparing",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = None

    def advance(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task("prepare", total=total)
        bar.update(task, completed=done)

    try:
        yield advance
    finally:
        if task is not None:
            bar.stop()


def _summary(report: PrepareReport) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(file=sys.stdout)
    if report.up_to_date:
        out.print(
            f"{report.cache}: up to date ({report.kept.get('train', 0)} train, {report.kept.get('val', 0)} "
            f"val photos of {report.size}x{report.size}); nothing to do ({report.seconds:.1f} s)"
        )
        return
    table = Table(title=f"{report.cache}  ({report.size}x{report.size}, {report.seconds:.1f} s)")
    table.add_column("class")
    table.add_column("train", justify="right")
    table.add_column("val", justify="right")
    for name, counts in report.classes.items():
        table.add_row(name, str(counts["train"]), str(counts["val"]))
    table.add_section()
    table.add_row("total kept", str(report.kept["train"]), str(report.kept["val"]), style="bold")
    out.print(table)
    dropped = sum(report.drops.values())
    reasons = ", ".join(f"{count} {reason}" for reason, count in report.drops.items() if count)
    out.print(
        f"{report.candidates} photos found, {dropped} dropped"
        + (f" ({reasons})" if reasons else "")
        + f"; details in {report.cache / 'manifest.json'}"
    )
