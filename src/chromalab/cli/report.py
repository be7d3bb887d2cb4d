"""``chromalab report RUN -o DIR``: one self-contained HTML page about a training run."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from chromalab.cli.app import EXIT_OK, EXIT_SOME_FAILED, app, report_error, usage_error
from chromalab.cli.shared_options import size_option


@app.command()
def report(
    run: Path = typer.Argument(..., help="A run folder made by 'chromalab train'."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for index.html (created if missing)."),
    size: int = size_option(
        "Side of the square the network "
        "sees in the temperature and activation figures (default: the cache's, 32-256)."
    ),
) -> None:
    """One self-contained HTML page (OUT/index.html) about a run: loss, samples, bins, prior, temperature
    sweep, activations, last epoch and evaluate JSONs.

    Exit 1 when model.safetensors is missing (the page shows what exists and names what is missing).
    """
    if not run.exists():
        usage_error(f"{run}: no such run folder")
    if not run.is_dir():
        usage_error(f"{run}: not a folder (report takes a run folder made by 'chromalab train')")
    from chromalab.analysis.report import MODEL_FILES, write_report

    try:
        target, built = write_report(run, out, size=size)
    except (FileNotFoundError, ValueError) as error:
        usage_error(str(error))
    except OSError as error:
        report_error(
            getattr(error, "filename", None) or out, f"cannot write the report ({error.strerror or error})"
        )
        raise typer.Exit(EXIT_SOME_FAILED) from None
    for missing in built.missing:
        print(f"note: missing {missing}", file=sys.stderr)
    print(f"{target} ({len(built.figures)} figures)")
    final = built.model_file is not None and built.model_file.name == MODEL_FILES[0]
    if not final:
        report_error(run / MODEL_FILES[0], "missing; the report shows only what the run has so far")
    raise typer.Exit(EXIT_OK if final else EXIT_SOME_FAILED)
