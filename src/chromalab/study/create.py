"""``chromalab study create``: paired photos -> the pictures shown -> a new study file.

Practice photos are drawn at random (the plan's seed) from the paired ones and set apart; the others are the
test photos, each with an attention-check picture when the plan has attention checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chromalab.study.pairing import Pairing
from chromalab.study.plan import RANDOM_COLORS, TRUTH, PlanError, StudyPlan
from chromalab.study.stimuli import jpeg, random_colors, shown_picture
from chromalab.study.storage import Picture, write_study


class StudyProblems(PlanError):
    """Photos that did not pair or could not be read; ``problems`` lists them, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} photo problem(s)")
        self.problems = problems


@dataclass(frozen=True)
class Created:
    photos: int  # paired and readable
    practice_photos: int  # of them, set apart for practice
    pictures: int
    megabytes: float  # of JPEG stored
    skipped: list[str]  # problems left out with skip_problems


def create_study(
    path: Path,
    plan: StudyPlan,
    pairing: Pairing,
    *,
    skip_problems: bool = False,
    on_photo: Callable[[], None] = lambda: None,
) -> Created:
    """Write the study of ``plan`` on the photos of ``pairing`` to ``path``. With problems (unpaired or
    unreadable photos) raises ``StudyProblems`` unless ``skip_problems``, which leaves those photos out."""
    if pairing.problems and not skip_problems:
        raise StudyProblems(pairing.problems)
    problems = list(pairing.problems)
    shown: dict[str, dict[str, np.ndarray]] = {}  # photo -> source -> uint8 RGB (h, w, 3)
    for name in pairing.names:
        pictures = _read_photo(name, pairing, problems)
        if pictures is not None:
            shown[name] = pictures
        on_photo()
    if problems and not skip_problems:
        raise StudyProblems(problems)
    if not shown:
        raise PlanError("no photo is in every folder")
    rng = np.random.default_rng(plan.seed)
    names = sorted(shown)
    practice = set(rng.permutation(names)[: plan.practice_photo_count(len(names))].tolist())
    stored = []
    for name in names:
        if name not in practice and plan.attention_trials:
            shown[name][RANDOM_COLORS] = random_colors(shown[name][TRUTH], rng)
        files = {TRUTH: pairing.truth[name]} | {
            label: files[name] for label, files in pairing.methods.items()
        }
        stored += [
            Picture(
                name,
                source,
                str(files[source]) if source in files else None,
                rgb.shape[1],
                rgb.shape[0],
                jpeg(rgb),
            )
            for source, rgb in shown[name].items()
        ]
    write_study(path, plan, stored, practice)
    return Created(len(names), len(practice), len(stored), sum(len(p.jpeg) for p in stored) / 1e6, problems)


def _read_photo(name: str, pairing: Pairing, problems: list[str]) -> dict[str, np.ndarray] | None:
    """source -> shown picture of one photo (every method's at the truth's size), or None with its problem
    " "listed."""
    source, path = TRUTH, pairing.truth[name]
    try:
        pictures = {TRUTH: shown_picture(path)}
        size = (pictures[TRUTH].shape[1], pictures[TRUTH].shape[0])
        for source, files in pairing.methods.items():
            path = files[name]
            pictures[source] = shown_picture(path, size)
    except ValueError as error:  # ImageError (unreadable), or another aspect ratio than the truth's
        problems.append(f"{name}: {source} {path}: {error}")
        return None
    return pictures
