"""A study's settings and their rules: which tests (kinds), which methods, how many trials of each phase, the
exposure time, the share of attention checks, and the admin token of its results page.

The trials of one participant (``assignment``): ``practice`` practice trials (a real photo beside a method's
colorization; right or wrong is shown after each; never counted), then ``trials`` counted trials, of which
the fraction ``attention`` (rounded) are attention checks (the real photo beside a random-colours picture of
it) and the rest the tests: one condition per method in a Turing test, one per pair of methods in a
preference test, each as often as the others.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass

KINDS = ("turing", "preference")
QUESTIONS = {"turing": "Which is the real photo?", "preference": "Which looks more realistic?"}
TRUTH = "truth"  # the source of a real photo; a method's label is the source of its colorizations
RANDOM_COLORS = "random colours"  # the attention check's picture (stimuli.random_colors)
ATTENTION = "attention"  # the kind of an attention check
# the kind of a practice trial: a real photo beside a method's colorization, with feedback
PRACTICE = "practice"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # a study's name or a method's label (in URLs)
MAX_ATTENTION = 0.5
PRACTICE_PHOTO_SHARE = 5  # practice takes at most one photo in five (rounded up) for itself


class PlanError(ValueError):
    """A study that cannot be run as asked; ``str()`` is the one-line reason."""


@dataclass(frozen=True)
class Condition:
    """What one trial compares: (``first``, ``second``) sources under a kind; the page shows them in an order
    drawn per trial."""

    kind: str  # "turing", "preference", ATTENTION or PRACTICE
    first: str  # TRUTH, or the earlier method of a preference pair
    second: str  # a method's label, or RANDOM_COLOURS

    @property
    def label(self) -> str:
        """How the results name it: the method (Turing), 'A vs B' (preference)."""
        return self.second if self.kind == "turing" else f"{self.first} vs {self.second}"


@dataclass(frozen=True)
class StudyPlan:
    name: str
    methods: tuple[str, ...]  # labels, in the order given: a preference pair is named 'earlier vs later'
    kinds: tuple[str, ...]
    practice: int = 10  # practice trials per participant (Zhang et al. 2016: 10)
    trials: int = 40  # counted trials per participant, attention checks included (Zhang et al.: 40)
    show_ms: int = 1000  # how long a pair stays visible, in ms; 0: until answered (Zhang et al.: 1 s)
    attention: float = 0.1  # share of the counted trials that are attention checks (Zhang et al.: 10 %)
    seed: int = 0  # of the practice photos, the attention pictures and every participant's draw
    token: str = ""  # the results page's admin token

    def __post_init__(self) -> None:
        if not NAME_PATTERN.fullmatch(self.name):
            raise PlanError(f"study name {self.name!r}: use letters, digits, '_', '-' or '.' (at most 64)")
        _check_methods(self.methods)
        _check_kinds(self.kinds, self.methods)
        if self.practice < 0 or self.trials < 1 or self.show_ms < 0:
            raise PlanError("--practice and --show-ms must be >= 0 and --trials >= 1")
        if not 0.0 <= self.attention <= MAX_ATTENTION:
            raise PlanError(f"--attention must be in [0, {MAX_ATTENTION}], got {self.attention}")
        if self.test_trials < 1:
            raise PlanError(f"--trials {self.trials} with --attention {self.attention} leaves no test trial")

    @property
    def attention_trials(self) -> int:
        return round(self.trials * self.attention)

    @property
    def test_trials(self) -> int:
        return self.trials - self.attention_trials

    @property
    def conditions(self) -> list[Condition]:
        """The tested conditions, each given to a participant as often as the others (within one)."""
        found = [Condition("turing", TRUTH, method) for method in self.methods if "turing" in self.kinds]
        if "preference" in self.kinds:
            found += [Condition("preference", a, b) for a, b in itertools.combinations(self.methods, 2)]
        return found

    @property
    def attention_condition(self) -> Condition:
        return Condition(ATTENTION, TRUTH, RANDOM_COLORS)

    @property
    def practice_conditions(self) -> list[Condition]:
        return [Condition(PRACTICE, TRUTH, method) for method in self.methods]

    def question(self, kind: str) -> str:
        """What a trial asks: its kind's question; practice and attention checks ask the study's first
        kind's."""
        return QUESTIONS.get(kind, QUESTIONS[self.kinds[0]])

    def practice_photo_count(self, photos: int) -> int:
        """How many of ``photos`` practice keeps for itself: never shown in a counted trial, so that the
        feedback teaches nothing about a counted photo. Practice trials cycle through them."""
        if self.practice == 0:
            return 0
        count = min(self.practice, math.ceil(photos / PRACTICE_PHOTO_SHARE))
        if photos - count < 1:
            raise PlanError(
                f"{photos} photo(s): practice needs photos of its own; give more photos or --practice 0"
            )
        return count

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: dict) -> StudyPlan:
        return cls(**{**fields, "methods": tuple(fields["methods"]), "kinds": tuple(fields["kinds"])})


def default_kinds(methods: tuple[str, ...]) -> tuple[str, ...]:
    """A Turing test of every method, and a preference test when there are two or more."""
    return KINDS if len(methods) > 1 else ("turing",)


def parse_kinds(text: str) -> tuple[str, ...]:
    """'turing,preference' -> ('turing', 'preference'); PlanError for an unknown or repeated kind."""
    kinds = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds or len(set(kinds)) != len(kinds):
        raise PlanError(f"--kinds {text!r}: give some of {', '.join(KINDS)}, comma-separated, each once")
    return kinds


def _check_methods(methods: tuple[str, ...]) -> None:
    if not methods:
        raise PlanError("no method: give at least one --method LABEL=DIR")
    for label in methods:
        if not NAME_PATTERN.fullmatch(label) or label in (TRUTH, RANDOM_COLORS):
            raise PlanError(f"--method label {label!r}: use letters, digits, '_', '-' or '.' (not 'truth')")
    if len(set(methods)) != len(methods):
        raise PlanError(f"--method labels must differ, got {', '.join(methods)}")


def _check_kinds(kinds: tuple[str, ...], methods: tuple[str, ...]) -> None:
    if not kinds or any(kind not in KINDS for kind in kinds):
        raise PlanError(f"kinds must be some of {', '.join(KINDS)}, got {', '.join(kinds) or 'none'}")
    if "preference" in kinds and len(methods) < 2:
        raise PlanError("a preference test compares methods: give two or more --method")
