"""``chromalab colorize``: photos in, colorized photos out, never touching the inputs."""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import typer

from chromalab.cli.app import EXIT_OK, EXIT_SOME_FAILED, app, console, report_error, usage_error

GLOB_CHARS = set("*?[")
ENGINES = ("auto", "onnx", "torch")


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
    model: str = typer.Option("default", "--model", "-m", help="'default' (bundled), a .safetensors or .onnx file, or a registered name."),
    engine: str = typer.Option("auto", "--engine", help="onnx (onnxruntime, no torch: starts 2-3 s faster), torch, or auto: onnx for .onnx files and for the default model when its graph and onnxruntime are installed, torch otherwise."),
    temperature: float = typer.Option(None, "--temperature", "-t", min=0.0, max=10.0, help="Annealed-mean temperature: 0 = mode (vivid), 1 = mean (muted). Default: the model's (0.38 if it names none)."),
    size: int = typer.Option(None, "--size", "-s", min=16, max=4096, help="Side of the square the network sees; output keeps the input size. Default: the model's (256 if it names none)."),
    decode: str = typer.Option(None, "--decode", help="How bins become a colour: annealed, mean or mode (default annealed)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files in the output folder (inputs are never replaced)."),
) -> None:
    """Colorize grayscale (or colour) photos; each output has its input's name and full resolution."""
    _passive_openmp()
    from chromalab.engine import DECODE_METHODS

    if decode is not None and decode not in DECODE_METHODS:
        usage_error(f"--decode must be one of {', '.join(DECODE_METHODS)}, got {decode!r}")
    if engine not in ENGINES:
        usage_error(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
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
    colorizer = _load_colorizer(model, _engine_for(model, engine), size=size, temperature=temperature, decode=decode)
    failures = len(problems) + _colorize_all(colorizer, jobs, out_dir, overwrite=overwrite)
    done = len(jobs) - (failures - len(problems))
    print(f"colorized {done} of {len(jobs)} images into {out_dir}")
    raise typer.Exit(EXIT_SOME_FAILED if failures else EXIT_OK)


def _passive_openmp() -> None:
    """Idle OpenMP threads sleep instead of spinning; torch's libgomp reads this when torch is first imported.

    Measured on the 2-core machine busy with two training processes: one forward pass of the default model
    at 128 x 128 took 470 ms with spinning threads, 23 ms passive (13 ms on one thread), and building the
    colour tables on import 250 ms against 60 ms. A user's own OMP_WAIT_POLICY wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _engine_for(model: str, engine: str) -> str:
    """'onnx' or 'torch' for ``--engine``; auto picks onnx whenever it can run this model."""
    from chromalab.engine import DEFAULT_MODEL, bundled_weights

    if engine != "auto":
        return engine
    if model.endswith(".onnx"):
        return "onnx"
    if model == DEFAULT_MODEL and bundled_weights(suffix=".onnx").is_file() and importlib.util.find_spec("onnxruntime"):
        return "onnx"
    return "torch"


def _load_colorizer(model: str, engine: str, **options: object):  # -> engine.Engine
    import warnings

    try:
        if engine == "onnx":
            if importlib.util.find_spec("onnxruntime") is None:
                usage_error("--engine onnx needs onnxruntime: pip install onnxruntime")
            if model.endswith(".safetensors"):
                usage_error(f"--model {model}: a .safetensors file runs with --engine torch (or auto); "
                            "'chromalab export' turns it into an .onnx file")
            from chromalab.runtime import OnnxColorizer

            return OnnxColorizer.load(model, **options)
        if model.endswith(".onnx"):
            usage_error(f"--model {model}: an .onnx file runs with --engine onnx (or auto)")
        from chromalab.pipeline import Colorizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Colorizer.load(model, **options)
    except (FileNotFoundError, ValueError) as error:
        usage_error(f"--model {model}: {error}")


def _colorize_all(colorizer, jobs: list[tuple[Path, Path]], out_dir: Path, *, overwrite: bool) -> int:
    """Colorize every job, reporting failures one line each, in order; returns the number of failures.

    The network runs in this thread while one worker reads the next photo and writes the previous one
    (Pillow, numpy and the sRGB kernel release the GIL), so a folder costs little more than its networks.
    """
    from chromalab.images import ImageError

    inputs = {_identity(src) for src, _ in jobs}
    taken: set[Path] = set()
    failures = 0
    with _progress(len(jobs)) as advance, ThreadPoolExecutor(max_workers=1) as worker:
        reading = worker.submit(_read, colorizer, jobs[0][0])
        writing: tuple[Future, Path] | None = None
        for index, (src, relative) in enumerate(jobs):
            read = reading
            if index + 1 < len(jobs):
                reading = worker.submit(_read, colorizer, jobs[index + 1][0])
            problem = None
            try:
                prepared, has_alpha = read.result()
                target = _target(relative, out_dir, alpha=has_alpha, taken=taken, inputs=inputs, overwrite=overwrite)
                ab_small = colorizer.predict_ab(prepared.network_input)
            except (ImageError, OSError) as error:
                problem = error
            failures += _wait(writing, advance)  # the previous photo's, so that errors come in input order
            writing = None
            if problem is None:
                writing = worker.submit(_write, colorizer, prepared, ab_small, target), src
            else:
                failures += _report(src, problem)
                advance()
        failures += _wait(writing, advance)
    return failures


def _read(colorizer, src: Path) -> tuple[object, bool]:  # -> (Prepared, whether the input has alpha)
    from chromalab.images import open_image

    image = open_image(src)
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return colorizer.prepare(image), has_alpha


def _target(relative: Path, out_dir: Path, *, alpha: bool, taken: set[Path], inputs: set[Path], overwrite: bool) -> Path:
    """Where one output goes; ImageError if writing there would replace an input, or an output unasked."""
    from chromalab.images import ImageError, output_path

    target = _unique(output_path(relative, out_dir / relative.parent, alpha=alpha), taken)
    if _identity(target) in inputs:
        raise ImageError(f"output {target} would replace an input; choose another output folder")
    if target.exists() and not overwrite:
        raise ImageError(f"output {target} exists (pass --overwrite to replace it)")
    return target


def _write(colorizer, prepared, ab_small, target: Path) -> None:
    from chromalab.images import save_image

    target.parent.mkdir(parents=True, exist_ok=True)
    save_image(colorizer.render(prepared.source, ab_small), target)


def _wait(writing: tuple[Future, Path] | None, advance: Callable[[], None]) -> int:
    """Wait until one output is written; 1 if that failed (and was reported), else 0."""
    from chromalab.images import ImageError

    if writing is None:
        return 0
    future, src = writing
    try:
        future.result()
        return 0
    except (ImageError, OSError) as error:
        return _report(src, error)
    finally:
        advance()


def _report(src: Path, error: Exception) -> int:
    report_error(src, error.strerror if isinstance(error, OSError) and error.strerror else error)
    return 1


@contextmanager
def _progress(total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on a terminal for two or more photos (rich.progress is imported only then); yields
    the function that advances it."""
    if total < 2 or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("colorizing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("colorize", total=total)
        yield lambda: bar.advance(task)


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
