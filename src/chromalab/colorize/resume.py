"""What a job still has to do: every input's output path fixed before any work is handed out (so a retry,
or a re-run, writes the same file and never a ``name-2`` twin), and what is already settled (an output that
exists and decodes, or that the manifest records as done) set aside as skipped.

The names are those of ``batch.colorize_all``: the input's name, PNG when its format cannot hold the
result, ``name-2``... for a name two inputs share, in input order. A photo's format decides whether its
transparency changes the suffix; only a BMP is opened for that here (a JPEG holds no alpha).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chromalab.colorize.batch import Job, identity, unique
from chromalab.colorize.manifest import DONE, FAILED, SKIPPED, Outcome
from chromalab.images import has_alpha, open_image, output_path

VIDEO_OUTPUT_SUFFIX = ".mp4"


@dataclass
class Plan:
    """The work left: photos and clips as (input, output relative to the output folder), in input order."""

    photos: list[Job] = field(default_factory=list)
    clips: list[Job] = field(default_factory=list)
    settled: list[Outcome] = field(default_factory=list)  # skipped, or failed before any work

    @property
    def total(self) -> int:
        return len(self.photos) + len(self.clips) + len(self.settled)


def plan_work(
    photos: list[Job],
    clips: list[Job],
    out_dir: Path,
    *,
    overwrite: bool,
    settings: str,
    records: dict[str, dict],
) -> Plan:
    """Each input's output and whether it is still to do. ``records``: the manifest's (``read_manifest``);
    ``settings``: this run's ``settings_digest``. Without ``overwrite`` an output that exists is skipped when
    the manifest records it done or it decodes, and fails otherwise (it is not ours); with ``overwrite`` it
    is skipped only when the manifest records it done under the same settings (a resumed run), else redone.
    """
    inputs = {identity(source) for source, _ in photos + clips}
    plan = Plan()
    for jobs, todo, target_of, readable in (
        (photos, plan.photos, _photo_output, decodes),
        # a clip is written atomically (temp + rename): one that exists is whole
        (clips, plan.clips, lambda source, relative: relative.with_suffix(VIDEO_OUTPUT_SUFFIX), Path.is_file),
    ):
        taken: set[Path] = set()
        for source, relative in jobs:
            target = unique(target_of(source, relative), taken)
            record = records.get(target.as_posix())
            settled = _settled(out_dir / target, inputs, overwrite, record, settings, readable)
            if settled is None:
                todo.append((source, target))
            else:
                plan.settled.append(
                    Outcome(target.as_posix(), str(source), settled[0], settled[1], settings=settings)
                )
    return plan


def _photo_output(source: Path, relative: Path) -> Path:
    """The output of one photo, relative to the output folder, as ``colorize_all`` names it."""
    plain = output_path(relative, relative.parent, alpha=False)
    if source.suffix.lower() != ".bmp" or output_path(relative, relative.parent, alpha=True) == plain:
        return plain
    try:  # a 32-bit BMP keeps its transparency in a PNG
        alpha = has_alpha(open_image(source))
    except (OSError, ValueError):
        alpha = False  # unreadable: the worker reports why
    return output_path(relative, relative.parent, alpha=alpha)


def _settled(
    path: Path,
    inputs: set[Path],
    overwrite: bool,
    record: dict | None,
    settings: str,
    readable: Callable[[Path], bool],
) -> tuple[str, str] | None:
    """(status, reason) of an input whose output is ``path`` when it needs no work, or None when it is still
    to do."""
    if identity(path) in inputs:
        return FAILED, f"output {path} would replace an input; choose another output folder"
    if not path.exists():
        return None
    done_before = record is not None and record.get("status") == DONE
    if overwrite:
        same = done_before and record.get("settings") == settings
        return (SKIPPED, "done before with the same settings") if same else None
    if done_before:
        return SKIPPED, "done before"
    if readable(path):
        return SKIPPED, "output exists"
    return FAILED, f"output {path} exists and does not decode (pass --overwrite to replace it)"


def decodes(path: Path) -> bool:
    """Whether the file at ``path`` is an image that decodes to the end."""
    try:
        open_image(path).close()  # opening decodes it whole
    except (OSError, ValueError):
        return False
    return True
