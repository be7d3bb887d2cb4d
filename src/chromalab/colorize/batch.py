"""Many photos through one colorizer: the inputs a user names and the
overlapped loop that reads, colorizes and writes. The command line, the benchmarks (and the web app and video
next) call this; it reports through callbacks and never prints.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from chromalab.colorize.core import BaseColorizer, Prepared
from chromalab.images import (
    IMAGE_SUFFIXES,
    ImageError,
    has_alpha,
    list_images,
    open_image,
    output_path,
    save_image,
)

if TYPE_CHECKING:
    from chromalab.colorize.reference import Reference

GLOB_CHARS = set("*?[")
Job = tuple[Path, Path]  # (input file, its output's path relative to the output folder)
OnDone = Callable[[Path, Exception | None], None]  # (input, None or what went wrong), in input order


def expand_inputs(
    inputs: list[str], *, suffixes: frozenset[str] = IMAGE_SUFFIXES, out_dir: Path | None = None
) -> tuple[list[Job], list[tuple[str, str]]]:
    """INPUT arguments -> ([(file, path relative to the output folder)], [(argument, problem)]).

    Files keep their name; folders are searched recursively (for files of ``suffixes``) and keep their inner
    layout; globs expand. A search or a glob never takes what lies in ``out_dir``: ``colorize .`` run twice
    does not colorize its own outputs (a file named on its own is taken wherever it is).
    """
    found: list[Job] = []
    problems: list[tuple[str, str]] = []
    output = out_dir.resolve() if out_dir is not None and out_dir.is_dir() else None
    for argument in inputs:
        path = Path(argument)
        if path.is_dir():
            images = list_images(path, suffixes=suffixes)
            kept = _outside(output, images, searched=path)
            if images and not kept:
                problems.append((argument, f"every image here is in the output folder {out_dir}"))
            elif not kept:
                problems.append((argument, "no images found in this folder"))
            found += [(p, p.relative_to(path)) for p in kept]
        elif path.exists() and not path.is_file():  # a FIFO would block its reader for good
            problems.append((argument, "not a regular file (a pipe, device or socket is not read)"))
        elif path.exists() or not GLOB_CHARS & set(argument):
            found.append((path, Path(path.name)))  # a missing file is reported when it is read
        else:
            matches = sorted(Path(m) for m in glob.glob(argument, recursive=True) if Path(m).is_file())
            kept = _outside(output, matches)
            if matches and not kept:
                problems.append((argument, f"every file it matches is in the output folder {out_dir}"))
            elif not kept:
                problems.append((argument, "no file matches this pattern"))
            found += [(m, Path(m.name)) for m in kept]
    return found, problems


def _outside(output: Path | None, files: list[Path], *, searched: Path | None = None) -> list[Path]:
    """The ``files`` not in the (resolved) ``output`` folder; all of them at no cost when there is none, or
    when the ``searched`` folder they were found in does not hold it."""
    if output is None or (searched is not None and not output.is_relative_to(searched.resolve())):
        return files
    return [path for path in files if not path.resolve().is_relative_to(output)]


def colorize_all(
    colorizer: BaseColorizer,
    jobs: list[Job],
    out_dir: Path,
    *,
    overwrite: bool = False,
    reference: Reference | None = None,
    on_done: OnDone = lambda source, problem: None,
) -> int:
    """Colorize every job into ``out_dir`` (with the colours of ``reference`` where it matches, when given);
    ``on_done`` hears of each, in input order; returns the failures.

    A failure (unreadable input, an output that exists without ``overwrite``, or that would replace an
    input) is an ``ImageError`` or ``OSError`` passed to ``on_done``; the other photos go on. The network
    runs in this thread while one worker reads the next photo and writes the previous one (Pillow, numpy
    and the sRGB kernel release the GIL), so a folder costs little more than its networks.
    """
    if not jobs:
        return 0
    inputs = {identity(source) for source, _ in jobs}
    if reference is not None:
        inputs |= {identity(path) for path in reference.paths}
    taken: set[Path] = set()
    failures = 0
    with ThreadPoolExecutor(max_workers=1) as worker:
        reading = worker.submit(_read, colorizer, jobs[0][0])
        writing: tuple[Future, Path] | None = None
        for index, (source, relative) in enumerate(jobs):
            read = reading
            if index + 1 < len(jobs):
                reading = worker.submit(_read, colorizer, jobs[index + 1][0])
            try:
                prepared, has_alpha = read.result()
                desired = output_path(relative, out_dir / relative.parent, alpha=has_alpha)
                target = claim_target(desired, taken=taken, inputs=inputs, overwrite=overwrite)
                ab_small = colorizer.predict_view_ab(prepared, reference=reference)
                problem = None
            except (ImageError, OSError) as error:
                problem = error
            failures += _wait(writing, on_done)  # the previous photo's, so that reports come in input order
            writing = None
            if problem is None:
                writing = worker.submit(_write, colorizer, prepared, ab_small, target), source
            else:
                failures += 1
                on_done(source, problem)
        failures += _wait(writing, on_done)
    return failures


def _read(colorizer: BaseColorizer, source: Path) -> tuple[Prepared, bool]:
    """(the photo ready for the network, whether it has alpha)."""
    image = open_image(source)
    return colorizer.prepare(image), has_alpha(image)


def claim_target(desired: Path, *, taken: set[Path], inputs: set[Path], overwrite: bool) -> Path:
    """Where one output goes: ``desired``, or ``name-2``... when an earlier input of the same name took it;
    ImageError if writing there would replace an input, or an existing output without ``overwrite``."""
    target = unique(desired, taken)
    if identity(target) in inputs:
        raise ImageError(f"output {target} would replace an input; choose another output folder")
    if target.exists() and not overwrite:
        raise ImageError(f"output {target} exists (pass --overwrite to replace it)")
    return target


def _write(colorizer: BaseColorizer, prepared: Prepared, ab_small: object, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    save_image(colorizer.render(prepared.source, ab_small), target)


def _wait(writing: tuple[Future, Path] | None, on_done: OnDone) -> int:
    """Wait until one output is written and tell ``on_done``; 1 if that failed, else 0."""
    if writing is None:
        return 0
    future, source = writing
    try:
        future.result()
    except (ImageError, OSError) as error:
        on_done(source, error)
        return 1
    on_done(source, None)
    return 0


def identity(path: Path) -> Path:
    return path.resolve() if path.exists() else path.absolute()


def unique(target: Path, taken: set[Path]) -> Path:
    """Two inputs with the same name (from different folders) get ``name-2``, ``name-3``..."""
    candidate, number = target, 1
    while candidate in taken:
        number += 1
        candidate = target.with_name(f"{target.stem}-{number}{target.suffix}")
    taken.add(candidate)
    return candidate
