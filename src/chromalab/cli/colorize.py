"""``chromalab colorize``: photos in, colorized photos out, never touching the inputs."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

import typer

from chromalab.cli.app import EXIT_OK, EXIT_SOME_FAILED, app, console, report_error, usage_error

GLOB_CHARS = set("*?[")


def expand_inputs(inputs: list[str]) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """INPUT arguments -> ([(file, path relative to the output folder)], [(argument, problem)]).

    Files keep their name; folders are searched recursively and keep their inner layout; globs expand.
    """
    from chromalab.images import IMAGE_SUFFIXES

    found: list[tuple[Path, Path]] = []
    problems: list[tuple[str, str]] = []
    for argument in inputs:
        path = Path(argument)
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                problems.append((argument, "no images found in this folder"))
            found += [(p, p.relative_to(path)) for p in images]
        elif path.exists() or not GLOB_CHARS & set(argument):
            found.append((path, Path(path.name)))  # a missing file is reported when it is read
        else:
            matches = sorted(Path(m) for m in glob.glob(argument, recursive=True) if Path(m).is_file())
            if not matches:
                problems.append((argument, "no file matches this pattern"))
            found += [(m, Path(m.name)) for m in matches]
    return found, problems


@app.command()
def colorize(
    inputs: list[str] = typer.Argument(..., help="Image files, folders (searched recursively) or glob patterns."),
    out_dir: Path = typer.Option(Path("colorized"), "-o", "--out", help="Output folder; created if missing."),
    model: str = typer.Option("default", "--model", "-m", help="'default' (bundled), a .safetensors file, or a registered name."),
    temperature: float = typer.Option(None, "--temperature", "-t", min=0.0, max=10.0, help="Annealed-mean temperature: 0 = mode (vivid), 1 = mean (muted). Default: the model's (0.38 if it names none)."),
    size: int = typer.Option(None, "--size", "-s", min=16, max=4096, help="Side of the square the network sees; output keeps the input size. Default: the model's (256 if it names none)."),
    decode: str = typer.Option(None, "--decode", help="How bins become a colour: annealed, mean or mode (default annealed)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files in the output folder (inputs are never replaced)."),
) -> None:
    """Colorize grayscale (or colour) photos; each output has its input's name and full resolution."""
    from chromalab.color.bins import DECODE_METHODS

    if decode is not None and decode not in DECODE_METHODS:
        usage_error(f"--decode must be one of {', '.join(DECODE_METHODS)}, got {decode!r}")
    jobs, problems = expand_inputs(inputs)
    for argument, problem in problems:
        report_error(argument, problem)
    if not jobs:
        raise typer.Exit(EXIT_SOME_FAILED)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise PermissionError("permission denied")
    except OSError as error:
        report_error(out_dir, f"cannot write to the output folder ({error.strerror or error})")
        raise typer.Exit(EXIT_SOME_FAILED) from None
    colorizer = _load_colorizer(model, size=size, temperature=temperature, decode=decode)
    failures = len(problems) + _colorize_all(colorizer, jobs, out_dir, overwrite=overwrite)
    done = len(jobs) - (failures - len(problems))
    print(f"colorized {done} of {len(jobs)} images into {out_dir}")
    raise typer.Exit(EXIT_SOME_FAILED if failures else EXIT_OK)


def _load_colorizer(model: str, **options: object):  # -> Colorizer (imported lazily)
    import warnings

    from chromalab.pipeline import Colorizer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Colorizer.load(model, **options)
    except (FileNotFoundError, ValueError) as error:
        usage_error(f"--model {model}: {error}")


def _colorize_all(colorizer, jobs: list[tuple[Path, Path]], out_dir: Path, *, overwrite: bool) -> int:
    """Colorize every job, reporting failures one line each; returns the number of failures."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from chromalab.images import ImageError, open_image, output_path, save_image

    inputs = {_identity(src) for src, _ in jobs}
    taken: set[Path] = set()
    failures = 0
    columns = (TextColumn("colorizing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=len(jobs) < 2 or not sys.stderr.isatty()) as bar:
        task = bar.add_task("colorize", total=len(jobs))
        for src, relative in jobs:
            try:
                image = open_image(src)
                has_alpha = "A" in image.getbands() or "transparency" in image.info
                target = _unique(output_path(relative, out_dir / relative.parent, alpha=has_alpha), taken)
                if _identity(target) in inputs:
                    raise ImageError(f"output {target} would replace an input; choose another output folder")
                if target.exists() and not overwrite:
                    raise ImageError(f"output {target} exists (pass --overwrite to replace it)")
                target.parent.mkdir(parents=True, exist_ok=True)
                save_image(colorizer.colorize(image), target)
            except (ImageError, OSError) as error:
                failures += 1
                report_error(src, error.strerror if isinstance(error, OSError) and error.strerror else error)
            bar.advance(task)
    return failures


def _identity(path: Path) -> Path:
    return path.resolve() if path.exists() else path.absolute()


def _unique(target: Path, taken: set[Path]) -> Path:
    """Two inputs with the same name (from different folders) get ``name-2``, ``name-3``..."""
    candidate, number = target, 1
    while candidate in taken:
        number += 1
        candidate = target.with_name(f"{target.stem}-{number}{target.suffix}")
    taken.add(candidate)
    return candidate
