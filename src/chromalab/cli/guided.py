"""The guided part of ``chromalab colorize``: one photo with the colours the user knows, as point hints
(``--hints FILE.json``) and/or strokes (``--scribbles FILE.png``), spread over the model's colorization, or
over nothing with ``--model none``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from chromalab.cli.app import EXIT_SOME_FAILED, EXIT_USAGE, open_colorizer, report_error, usage_error

if TYPE_CHECKING:
    from chromalab.colorize.core import BaseColorizer
    from chromalab.colorize.reference import Reference
    from chromalab.video.keyframes import ClipReferences

T = TypeVar("T")

NO_MODEL = "none"  # --model none: the user's colours alone (Levin et al. 2004)


def colorize_guided_photo(
    jobs: list[tuple[Path, Path]],
    out_dir: Path,
    *,
    hints_file: Path | None,
    scribbles: Path | None,
    reference: Reference | None = None,
    model: str,
    engine: str,
    options: dict,
    overwrite: bool,
) -> Path:
    """The one photo in ``jobs`` with its hints and scribbles to ``out_dir``; on a problem, one line and
    nothing written: exit 2 for bad usage (options, a hints or scribbles file that does not fit), exit 1 when
    the photo itself fails (unreadable, its output exists, cannot be written), as for any photo."""
    from chromalab.color.hints import parse_hints
    from chromalab.colorize.batch import claim_target, identity
    from chromalab.colorize.core import colorize_without_model
    from chromalab.images import has_alpha, open_image, output_path, save_image
    from chromalab.video.kinds import is_video

    flag = "--hints" if hints_file is not None else "--scribbles"
    if len(jobs) != 1:
        usage_error(f"{flag} colours one photo per call; got {len(jobs)} inputs")
    ((source, relative),) = jobs
    if is_video(source):
        usage_error(f"{flag} colours photos, not videos: {source}")
    for given, name in ((hints_file, "--hints"), (scribbles, "--scribbles")):
        if given is not None and not given.is_file():
            usage_error(f"{name} {given}: no such file")
    colorizer = (
        None if model == NO_MODEL else open_colorizer(model, engine=engine, show_warnings=True, **options)
    )
    if reference is not None:
        require_matchable(colorizer, model)
    image = _attempt(source, lambda: open_image(source), exit_code=EXIT_SOME_FAILED)
    hints = (
        None
        if hints_file is None
        else _attempt(hints_file, lambda: parse_hints(hints_file.read_text(encoding="utf-8-sig"), image.size))
    )
    given = {identity(path) for path in (source, hints_file, scribbles) if path is not None}
    desired = output_path(relative, out_dir / relative.parent, alpha=has_alpha(image))
    target = _attempt(
        source,
        lambda: claim_target(desired, taken=set(), inputs=given, overwrite=overwrite),
        exit_code=EXIT_SOME_FAILED,
    )

    if colorizer is None:
        result = _attempt(
            scribbles or source, lambda: colorize_without_model(image, hints=hints, scribbles=scribbles)
        )
    else:
        result = _attempt(
            scribbles or source,
            lambda: colorizer.colorize(image, hints=hints, scribbles=scribbles, reference=reference),
        )
    _attempt(
        target,
        lambda: (target.parent.mkdir(parents=True, exist_ok=True), save_image(result, target)),
        exit_code=EXIT_SOME_FAILED,
    )
    return target


def read_reference_option(path: Path, *, model: str) -> Reference:
    """``--reference PATH`` read once for every photo and clip; exits 2 with one line, before anything is
    written, for a missing or unreadable file or ``--model none``."""
    from chromalab.colorize.reference import Reference

    if model == NO_MODEL:
        usage_error(f"--reference needs a model (not --model {NO_MODEL})")
    if not path.is_file():
        usage_error(f"--reference {path}: no such file")
    return _attempt(path, lambda: Reference(path))


def read_keyframes_option(folder: Path, *, model: str, jobs: list[tuple[Path, Path]]) -> ClipReferences:
    """``--keyframes DIR`` for the one clip in ``jobs``; exits 2 with one line, before anything is written,
    for anything that does not fit (no such folder, not one clip, names, frame indices, sizes)."""
    from chromalab.video.clips import VideoError, count_frames, info, open_clip
    from chromalab.video.keyframes import ClipReferences, KeyframeError
    from chromalab.video.kinds import is_video

    if model == NO_MODEL:
        usage_error(f"--keyframes needs a model (not --model {NO_MODEL})")
    if not folder.is_dir():
        usage_error(f"--keyframes {folder}: no such folder")
    if len(jobs) != 1:
        usage_error(f"--keyframes colours one clip per call; got {len(jobs)} inputs")
    if not is_video(jobs[0][0]):
        usage_error(f"--keyframes colours a clip; {jobs[0][0]} is not a video (a photo takes --reference)")
    clip = jobs[0][0]
    try:
        with open_clip(clip) as container:
            clip_info = info(container)
            frame_count = count_frames(container)  # the header's count can be wrong, or 0
    except VideoError as error:
        usage_error(f"{clip}: {error}")
    try:
        return ClipReferences.from_folder(
            folder, frame_count=frame_count, frame_size=(clip_info.width, clip_info.height)
        )
    except KeyframeError as error:
        usage_error(f"--keyframes {error}")
    except (ValueError, OSError) as error:  # an unreadable image among them
        usage_error(f"--keyframes {folder}: {getattr(error, 'strerror', None) or error}")


def require_matchable(colorizer: BaseColorizer, model: str, *, flag: str = "--reference") -> None:
    """Exit 2 with one line when ``colorizer``'s encoder cannot be matched against a reference (``flag``:
    the option that asked for one)."""
    from chromalab.colorize.reference import NoMatchingFeatures, check_matchable

    try:
        check_matchable(colorizer)
    except NoMatchingFeatures as error:
        usage_error(f"{flag} with --model {model}: {error}")


def _attempt(subject: Path, action: Callable[[], T], *, exit_code: int = EXIT_USAGE) -> T:
    """``action()``, or ``error: SUBJECT: reason`` and exit ``exit_code`` (bad usage unless told) when the
    input is bad or a file fails."""
    from chromalab.images import ImageError

    try:
        return action()
    except (ImageError, ValueError) as error:
        reason = str(error)
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
    report_error(subject, reason)
    raise typer.Exit(exit_code)
