"""The video part of ``chromalab colorize``: clip after clip, a progress bar of frames, one ``error:`` line
for a clip that cannot be read or written while the others are still done."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from chromalab.cli.app import progress, report_error

if TYPE_CHECKING:
    from chromalab.colorize.torch_backend import Colorizer
    from chromalab.video.keyframes import ClipReferences


def colorize_videos(
    colorizer: Colorizer,
    jobs: list[tuple[Path, Path]],
    out_dir: Path,
    *,
    inputs: set[Path],
    overwrite: bool,
    temporal: str,
    network_every: int,
    crf: int,
    references: ClipReferences | None = None,
) -> int:
    """Each clip to ``out_dir / relative.mp4`` (``video.colorize_clip``), with the colours of
    ``references`` (``video.keyframes``) when given; returns how many failed."""
    from chromalab.colorize.batch import claim_target, identity
    from chromalab.images import ImageError
    from chromalab.video.clips import VideoError, info, open_clip
    from chromalab.video.colorize_clip import colorize_clip

    taken: set[Path] = set()
    inputs = inputs | {identity(path) for path in (references.paths if references is not None else [])}
    failures = 0
    for source, relative in jobs:
        try:
            target = claim_target(
                out_dir / relative.with_suffix(".mp4"), taken=taken, inputs=inputs, overwrite=overwrite
            )
            with open_clip(source) as container:
                total = info(container).frames or None
            target.parent.mkdir(parents=True, exist_ok=True)
            with progress(source.name, total, rate_of="frames") as advance:
                colorize_clip(
                    colorizer,
                    source,
                    target,
                    temporal=temporal,
                    network_every=network_every,
                    crf=crf,
                    references=references,
                    on_frame=advance,
                )
        except (ImageError, VideoError, OSError) as error:
            report_error(source, error.strerror if isinstance(error, OSError) and error.strerror else error)
            failures += 1
    return failures
