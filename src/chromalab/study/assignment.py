"""Each participant's trials, balanced and randomised, drawn when the participant first asks for a trial.

Balance, by minimisation over what earlier participants were given:
- within a participant, every condition (a method's Turing test, a pair's preference test) comes equally
often,
  within one; the conditions that get the remainder are those least given so far;
- a participant sees each photo at most once while there are photos enough (practice has photos of its own);
- across participants, each photo meets each condition about equally often: each trial in turn takes, among
  this participant's photos seen least and conditions not yet given their share, the (condition, photo) pair
  least often shown together so far, then the least shown photo;
- in each condition the real (or first) picture is on the left in half of a participant's trials.
Ties are broken at random, and the order of the counted trials is random.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from chromalab.study.plan import Condition, StudyPlan


@dataclass(frozen=True)
class Trial:
    """One trial as stored: which photo, which source on each side."""

    condition: Condition
    photo: str
    sides: tuple[str, str]  # (left source, right source)


@dataclass
class _Balance:
    """What has been shown: to everyone (``pairs``, ``photos``) and to this participant (``seen``)."""

    pairs: Counter = field(default_factory=Counter)  # (condition, photo) -> trials, every participant
    photos: Counter = field(default_factory=Counter)  # photo -> counted trials, every participant
    seen: Counter = field(default_factory=Counter)  # photo -> trials of this participant

    def pick(self, quota: Counter, photos: list[str], rng: random.Random) -> tuple[Condition, str]:
        """The (condition with trials left in ``quota``, photo) pair seen least by this participant, then
        least shown together, then with the least shown photo; counts and quota updated."""
        condition, photo = min(
            ((c, p) for c in quota if quota[c] > 0 for p in photos),
            key=lambda pair: (self.seen[pair[1]], self.pairs[pair], self.photos[pair[1]], rng.random()),
        )
        quota[condition] -= 1
        self.seen[photo] += 1
        self.pairs[(condition, photo)] += 1
        self.photos[photo] += 1
        return condition, photo


def participant_trials(
    plan: StudyPlan,
    practice_photos: list[str],
    test_photos: list[str],
    earlier: Iterable[tuple[Condition, str]] | Counter,
    rng: random.Random,
) -> list[Trial]:
    """Practice trials then counted trials of a new participant. ``earlier``: the (condition, photo) of
    every counted trial given to earlier participants, or a Counter of them (what the study file keeps: its
    size does not grow with the participants)."""
    balance = _Balance()
    for (condition, photo), count in (earlier if isinstance(earlier, Counter) else Counter(earlier)).items():
        balance.pairs[(condition, photo)] += count
        balance.photos[photo] += count
    # the attention checks take their photos first: the tests then fill the cells they need most
    quota = Counter({plan.attention_condition: plan.attention_trials})
    counted = [balance.pick(quota, test_photos, rng) for _ in range(plan.attention_trials)]
    quota = Counter(_test_conditions(plan, balance, rng))
    counted += [balance.pick(quota, test_photos, rng) for _ in range(plan.test_trials)]
    rng.shuffle(counted)
    return _placed(_practice(plan, practice_photos, rng), rng) + _placed(counted, rng)


def _test_conditions(plan: StudyPlan, balance: _Balance, rng: random.Random) -> list[Condition]:
    """``plan.test_trials`` conditions: each of the plan's equally often, the remainder to the least given."""
    conditions = plan.conditions
    given = Counter()
    for (condition, _), count in balance.pairs.items():
        given[condition] += count
    rounds, remainder = divmod(plan.test_trials, len(conditions))
    least_given = sorted(conditions, key=lambda condition: (given[condition], rng.random()))[:remainder]
    return conditions * rounds + least_given


def _practice(plan: StudyPlan, photos: list[str], rng: random.Random) -> list[tuple[Condition, str]]:
    """Practice pairs: methods and practice photos in turn, each list in a random order."""
    if plan.practice == 0:
        return []
    conditions, photos = plan.practice_conditions, list(photos)
    rng.shuffle(conditions)
    rng.shuffle(photos)
    return [(conditions[i % len(conditions)], photos[i % len(photos)]) for i in range(plan.practice)]


def _placed(drawn: list[tuple[Condition, str]], rng: random.Random) -> list[Trial]:
    """Trials with their sides: within each condition, the first source on the left in half of them (the
    odd one out at random)."""
    lefts: dict[Condition, list[bool]] = {}
    for condition, count in Counter(condition for condition, _ in drawn).items():
        sides = [i % 2 == 0 for i in range(count)]
        if count % 2:
            sides[-1] = rng.random() < 0.5
        rng.shuffle(sides)
        lefts[condition] = sides
    trials = []
    for condition, photo in drawn:
        first_left = lefts[condition].pop()
        pair = (condition.first, condition.second) if first_left else (condition.second, condition.first)
        trials.append(Trial(condition, photo, pair))
    return trials
