"""``chromalab evaluate`` on clips: every frame scored as a photo is (``score``), plus the clip's temporal
consistency (``temporal``: CDC and warping error) for the colorization and for the ground truth itself, which
is the reference: a steady colorization comes close to the truth's own numbers."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from chromalab.color.srgb8 import grey_rendering
from chromalab.colorize.core import BaseColorizer
from chromalab.evaluation.score import Evaluation, SetScores, Truth, metric_bins
from chromalab.evaluation.temporal import TemporalScores, truth_motion
from chromalab.video.clips import VideoError, frames
from chromalab.video.colorize_clip import FramePainter
from chromalab.video.keyframes import ClipReferences
from chromalab.video.settings import NETWORK_EVERY


def evaluate_clips(
    paths: Iterable[Path],
    colorizer: BaseColorizer,
    *,
    root: Path | None = None,
    temporal: str = "flow",
    network_every: int = NETWORK_EVERY,
    max_frames: int | None = None,
    bins: str | None = None,
    references: Callable[[Path], ClipReferences | None] = lambda path: None,
    on_frame: Callable[[], None] = lambda: None,
    skip_broken: bool = False,
) -> tuple[Evaluation, list[dict[str, object]]]:
    """Score ``colorizer`` on each clip (its first ``max_frames`` frames); returns the frame-level evaluation
    (as for photos) and one temporal summary per clip: ``{"name", "frames", "model", "ground_truth"}``.
    ``references(path)``: the colour keyframes or reference a clip is colorized with (``video.keyframes``).
    A clip that cannot be read, or breaks part-way, raises ``VideoError``; with ``skip_broken`` it lands in
    ``Evaluation.failed`` instead, none of its frames scored, and the others are scored."""
    bin_sets = metric_bins(colorizer, bins)
    result = Evaluation(SetScores(bin_sets), SetScores(bin_sets))
    started = time.perf_counter()
    clips = []
    for path in paths:
        name = path.relative_to(root).as_posix() if root is not None else path.name
        painter = FramePainter(
            colorizer, temporal=temporal, network_every=network_every, references=references(path)
        )
        scored_before = copy.deepcopy((result.model, result.baseline)) if skip_broken else None
        images_before = len(result.images)
        try:
            clips.append(_score_clip(path, name, painter, result, max_frames=max_frames, on_frame=on_frame))
        except VideoError as error:
            if scored_before is None:
                raise
            # its frames so far are taken back: a clip is scored whole or not at all
            result.model, result.baseline = scored_before
            del result.images[images_before:]
            result.failed.append((path, str(error)))
    result.seconds = time.perf_counter() - started
    return result, clips


def _score_clip(
    path: Path,
    name: str,
    painter: FramePainter,
    result: Evaluation,
    *,
    max_frames: int | None,
    on_frame: Callable[[], None],
) -> dict[str, object]:
    model, truth_scores = TemporalScores(), TemporalScores()
    previous: np.ndarray | None = None
    count = 0
    for rgb in frames(path):
        if max_frames is not None and count >= max_frames:
            break
        started = time.perf_counter()
        painted = painter(rgb)
        result.seconds_model += time.perf_counter() - started
        truth = Truth.from_rgb(rgb)
        result.model.add(painted, truth)
        result.baseline.add(grey_rendering(truth.lightness), truth)
        motion = truth_motion(previous, rgb) if previous is not None else None
        model.add(painted, motion)
        truth_scores.add(rgb, motion)
        previous = rgb
        result.images.append({"name": f"{name}#{count}", "width": rgb.shape[1], "height": rgb.shape[0]})
        count += 1
        on_frame()
    return {"name": name, "frames": count, "model": model.summary(), "ground_truth": truth_scores.summary()}


def clip_summary(
    result: Evaluation, clips: list[dict[str, object]], info: dict[str, object]
) -> dict[str, object]:
    """``Evaluation.summary`` with the temporal numbers: their mean over the clips in ``metrics`` and in
    ``ground_truth``, and each clip's in ``clips``."""
    summary = result.summary(info)
    for part, key in (("metrics", "model"), ("ground_truth", "ground_truth")):
        numbers = {
            metric: [clip[key][metric] for clip in clips if clip[key][metric] is not None]
            for metric in ("cdc", "warping_error")
        }
        summary.setdefault(part, {}).update({k: float(np.mean(v)) if v else None for k, v in numbers.items()})
    summary["clips"] = clips
    return summary
