"""``chromalab colorize``: photos in, colorized photos out, never touching the inputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from chromalab.cli.app import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    app,
    open_colorizer,
    progress,
    report_error,
    usage_error,
)
from chromalab.cli.guided import (
    NO_MODEL,
    colorize_guided_photo,
    read_keyframes_option,
    read_reference_option,
    require_matchable,
)
from chromalab.cli.shared_options import (
    device_option,
    engine_option,
    model_option,
    network_every_option,
    size_option,
    temperature_option,
    temporal_option,
)
from chromalab.cli.videos import colorize_videos
from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.colorize.options import DEFAULT_SIZE
from chromalab.files import sweep_stale_temps
from chromalab.video.kinds import VIDEO_SUFFIXES, is_video

if TYPE_CHECKING:
    from chromalab.colorize.core import BaseColorizer
    from chromalab.colorize.reference import Reference
    from chromalab.video.keyframes import ClipReferences


@app.command()
def colorize(
    inputs: list[str] = typer.Argument(
        ..., help="Image files, folders (searched recursively) or glob patterns."
    ),
    out_dir: Path = typer.Option(Path("colorized"), "-o", "--out", help="Output folder; created if missing."),
    model: str = model_option(),
    engine: str = engine_option(),
    device: str = device_option(),
    temperature: float = temperature_option(
        "Annealed-mean temperature: 0 = mode (vivid), 1 = mean (muted). Default: the model's "
        f"({DEFAULT_TEMPERATURE} if it names none)."
    ),
    size: int = size_option(
        "Side of the square the network sees, at most the photo's shorter side (unless that is below the "
        "model's min_view, to which a small photo is upscaled: 192 for the default); output keeps the "
        f"input size. Default: the model's ({DEFAULT_SIZE} if it names none)."
    ),
    decode: str = typer.Option(
        None,
        "--decode",
        help="How bins become a colour: annealed (mean at the temperature), mean, mode, or mode-hue (the "
        "annealed mean's chroma in the likeliest colour's hue: never a blend of two guesses). "
        "Default: the model's (annealed if it names none).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace existing files in the output folder (inputs are never replaced)."
    ),
    temporal: str = temporal_option(
        "Videos: flow (carry the colour along the optical flow: no flicker) or none (each frame on its own)."
    ),
    network_every: int = network_every_option(),
    crf: int = typer.Option(
        18, "--crf", min=0, max=51, help="Videos: H.264 quality, 0 (lossless) to 51 (worst)."
    ),
    hints: Path = typer.Option(
        None,
        "--hints",
        help='One photo: colours you know, as JSON {"hints": [{"x": 120, '
        '"y": 48, "color": "#3a7bd5"}, {"x": 10, "y": 20, "ab": [20, -35]}]} (pixels of the '
        "photo; a colour's lightness is ignored).",
    ),
    scribbles: Path = typer.Option(
        None,
        "--scribbles",
        help="One photo: a PNG of colour strokes on transparency, "
        "the photo's size; hints and strokes spread over the model's colours (Levin "
        "et al. 2004), or alone with --model none.",
    ),
    reference: Path = typer.Option(
        None,
        "--reference",
        help="A colour photo of the same place, uniform, car or person: where the photos (or every shot of "
        "a clip) match it, its colours are carried over (the automatic colours elsewhere).",
    ),
    keyframes: Path = typer.Option(
        None,
        "--keyframes",
        help="One clip: a folder of its frames in colour, named by frame index from 0 (000120.png = frame "
        "120), the clip's size. Each fixes its frame and is carried through its shot; other shots match "
        "the nearest keyframes.",
    ),
    cluster: str = typer.Option(
        None,
        "--cluster",
        envvar="DASK_SCHEDULER_ADDRESS",
        help="Run on a Dask cluster: a scheduler's address (tcp://HOST:8786) or 'local' (--workers processes "
        "here). Re-runs do only what is missing (OUT/.chromalab-manifest.jsonl). Needs chromalab[cluster].",
    ),
    workers: int = typer.Option(
        None, "--workers", min=1, help="--cluster local: how many worker processes (default: one per core)."
    ),
    threads_per_worker: int = typer.Option(
        None,
        "--threads-per-worker",
        min=1,
        help="The engine's threads per worker (--cluster; default 1), or of this process without --cluster "
        "(default: one per core).",
    ),
) -> None:
    """Colorize grayscale (or colour) photos and videos; each output has its input's name and full resolution
    (videos: the same frames, size and rate, audio kept, as OUT/NAME.mp4)."""
    from chromalab.color.decoding import DECODE_METHODS
    from chromalab.colorize import batch
    from chromalab.colorize.loading import ENGINES
    from chromalab.colorize.openmp import polite_openmp
    from chromalab.colorize.options import DEVICES
    from chromalab.images import IMAGE_SUFFIXES

    polite_openmp()
    if decode is not None and decode not in DECODE_METHODS:
        usage_error(f"--decode must be one of {', '.join(DECODE_METHODS)}, got {decode!r}")
    if engine not in ENGINES:
        usage_error(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if device not in DEVICES:
        usage_error(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    jobs, problems = batch.expand_inputs(inputs, suffixes=IMAGE_SUFFIXES | VIDEO_SUFFIXES, out_dir=out_dir)
    for argument, problem in problems:
        report_error(argument, problem)
    if not jobs:
        raise typer.Exit(EXIT_SOME_FAILED)
    guided = hints is not None or scribbles is not None or model == NO_MODEL
    _check_cluster_choices(
        cluster, workers, here_only=guided or reference is not None or keyframes is not None
    )
    colours, clip_colours = _colour_sources(reference, keyframes, model=model, jobs=jobs)
    options = {"size": size, "temperature": temperature, "decode": decode, "device": device}
    # here, the model opens before the output folder is made: a bad --model or reference writes nothing
    colorizer = None
    if not guided and cluster is None:
        colorizer = open_colorizer(
            model, engine=engine, show_warnings=True, threads=threads_per_worker, **options
        )
        if colours is not None or clip_colours is not None:
            require_matchable(
                colorizer, model, flag="--keyframes" if keyframes is not None else "--reference"
            )
    _open_output(out_dir, [relative for _, relative in jobs])
    if guided:
        if hints is None and scribbles is None:
            usage_error(f"--model {NO_MODEL} colours with --hints or --scribbles only")
        target = colorize_guided_photo(
            jobs,
            out_dir,
            hints_file=hints,
            scribbles=scribbles,
            reference=colours,
            model=model,
            engine=engine,
            options=options,
            overwrite=overwrite,
        )
        print(f"colorized 1 of 1 image with your colours into {target}")
        raise typer.Exit(EXIT_OK)
    videos = [job for job in jobs if is_video(job[0])]
    photos = [job for job in jobs if not is_video(job[0])]
    failures = len(problems)
    if cluster is not None:
        from chromalab.cli.cluster import colorize_on_cluster

        clip_options = {"temporal": temporal, "network_every": network_every, "crf": crf}
        code = colorize_on_cluster(
            cluster,
            photos,
            videos,
            out_dir,
            workers=workers or os.cpu_count() or 1,
            threads=threads_per_worker or 1,
            model=model,
            engine=engine,
            options=options,
            overwrite=overwrite,
            clip_options=clip_options,
        )
        raise typer.Exit(EXIT_SOME_FAILED if failures else code)
    if photos:
        failures += _colorize_photos(colorizer, photos, out_dir, overwrite, colours)
    if videos:
        failures += colorize_videos(
            colorizer,
            videos,
            out_dir,
            inputs={batch.identity(src) for src, _ in jobs},
            overwrite=overwrite,
            temporal=temporal,
            network_every=network_every,
            crf=crf,
            references=clip_colours or _one_reference(colours),
        )
    done = len(jobs) - (failures - len(problems))
    print(
        f"colorized {done} of {len(jobs)} "
        f"{'files' if videos and photos else 'videos' if videos else 'images'} into {out_dir}"
    )
    raise typer.Exit(EXIT_SOME_FAILED if failures else EXIT_OK)


def _colour_sources(
    reference: Path | None, keyframes: Path | None, *, model: str, jobs: list
) -> tuple[Reference | None, ClipReferences | None]:
    """``--reference`` and ``--keyframes`` read (one line and exit 2 for anything wrong, nothing written)."""
    if keyframes is not None and reference is not None:
        usage_error("--keyframes or --reference: a clip takes its colours from one of them")
    colours = None if reference is None else read_reference_option(reference, model=model)
    return colours, None if keyframes is None else read_keyframes_option(keyframes, model=model, jobs=jobs)


def _one_reference(colours: Reference | None) -> ClipReferences | None:
    """``--reference`` on clips: that one reference for every shot."""
    from chromalab.video.keyframes import ClipReferences

    return None if colours is None else ClipReferences(reference=colours)


def _check_cluster_choices(cluster: str | None, workers: int | None, *, here_only: bool) -> None:
    """One line and exit 2, before anything is written, for ``--cluster`` choices that cannot run here
    (``here_only``: guided colours or a reference were asked for)."""
    if cluster is not None:
        from chromalab.cli.cluster import require_dask

        if here_only:
            usage_error("--hints, --scribbles, --reference and --model none run here, not on a --cluster")
        require_dask()
    if workers is not None and cluster != "local":
        usage_error("--workers goes with --cluster local")


def _open_output(out_dir: Path, outputs: list[Path]) -> None:
    """Make the output folder (exit 1 with one line if it cannot be written) and sweep the temporary files a
    killed run left where the ``outputs`` (relative paths) will go."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise PermissionError("permission denied")
    except OSError as error:
        report_error(out_dir, f"cannot write to the output folder ({error.strerror or error})")
        raise typer.Exit(EXIT_SOME_FAILED) from None
    for folder in {(out_dir / relative).parent for relative in outputs}:
        sweep_stale_temps(folder)  # what a killed run left, by name and age


def _colorize_photos(
    colorizer: BaseColorizer, jobs: list, out_dir: Path, overwrite: bool, reference: Reference | None
) -> int:
    """The photos, overlapped (``colorize.batch``), with ``reference``'s colours where it matches; one
    ``error:`` line per failure; returns the failures."""
    from chromalab.colorize import batch

    with progress("colorizing", len(jobs)) as advance:

        def on_done(source: Path, problem: Exception | None) -> None:
            if problem is not None:
                report_error(
                    source, problem.strerror if isinstance(problem, OSError) and problem.strerror else problem
                )
            advance()

        return batch.colorize_all(
            colorizer, jobs, out_dir, overwrite=overwrite, reference=reference, on_done=on_done
        )
