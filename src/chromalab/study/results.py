"""A study's results: the summary of ``chromalab study results`` and the results page, and one row per answer.

Counted: the answers of the main phase (practice never counts). Per Turing method, how often its colorization
was taken for the real photo ("fooled"); per preference pair "A vs B", how often A was preferred ("wins");
attention checks, how often the real photo was told from its random-colours picture. Each with its Wilson
interval, an exact two-sided binomial test against 0.5 (chance: the two pictures cannot be told apart, or
neither is preferred) and a bootstrap interval over participants beside them.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from chromalab.study.plan import ATTENTION, PRACTICE, Condition, StudyPlan
from chromalab.study.statistics import BOOTSTRAP_RESAMPLES, binomial_test, bootstrap_interval, wilson_interval
from chromalab.study.storage import StoredTrial

DEFAULT_MIN_ATTENTION = 0.75  # of a participant's attention checks, the share to get right to be counted
INTERVALS = (
    f"ci95: Wilson score interval, every answer independent; bootstrap95: percentile interval of "
    f"{BOOTSTRAP_RESAMPLES} resamples of the participants (seed 0), the wider one when participants differ; "
    f"p_value: exact two-sided binomial test against 0.5"
)
CSV_COLUMNS = (
    "participant",
    "position",
    "trial",
    "kind",
    "photo",
    "left",
    "right",
    "choice",
    "chosen",
    "answered_utc",
    "excluded",
)


def exclusion_rule(min_attention: float) -> str:
    return (
        f"a participant who got fewer than {min_attention:.0%} of their answered attention checks right is "
        f"left out of 'turing' and 'preference' (one without an answered check is kept); 'attention' counts "
        f"everyone"
    )


def summarise(
    plan: StudyPlan, trials: list[StoredTrial], *, min_attention: float = DEFAULT_MIN_ATTENTION
) -> dict:
    """The summary (JSON-ready) of every answered trial in ``trials``."""
    answered = [t for t in trials if t.choice is not None]
    counted = [t for t in answered if t.condition.kind != PRACTICE]
    excluded = excluded_participants(counted, min_attention)
    kept = [t for t in counted if t.participant not in excluded]
    unanswered = {t.participant for t in trials if t.choice is None}
    participants = list(dict.fromkeys(t.participant for t in counted))
    return {
        "study": plan.name,
        "answers": len(counted),
        "practice_answers": len(answered) - len(counted),
        "participants": len(participants),
        "finished": len([p for p in participants if p not in unanswered]),
        "excluded": {
            "rule": exclusion_rule(min_attention),
            "participants": len(excluded),
            "ids": sorted(excluded),
            "answers": len(counted) - len(kept),
        },
        "turing": {
            c.label: proportion(kept, c, "fooled", lambda t: not t.chose_first)
            for c in plan.conditions
            if c.kind == "turing"
        },
        "preference": {
            c.label: proportion(kept, c, "wins", lambda t: t.chose_first)
            for c in plan.conditions
            if c.kind == "preference"
        },
        "attention": proportion(counted, plan.attention_condition, "passed", lambda t: t.chose_first),
        "intervals": INTERVALS,
    }


def excluded_participants(counted: list[StoredTrial], min_attention: float) -> set[str]:
    """Participants whose share of right attention checks is below ``min_attention``."""
    right, checks = defaultdict(int), defaultdict(int)
    for trial in counted:
        if trial.condition.kind == ATTENTION:
            checks[trial.participant] += 1
            right[trial.participant] += trial.chose_first  # the real photo is the check's first source
    return {who for who, count in checks.items() if right[who] < min_attention * count}


def proportion(
    trials: list[StoredTrial], condition: Condition, name: str, success: Callable[[StoredTrial], bool]
) -> dict:
    """``{name: successes, "trials", "rate", "ci95", "bootstrap95", "p_value", "participants"}`` of the
    answered trials of ``condition``; rate and intervals are None without trials."""
    successes, totals = defaultdict(int), defaultdict(int)  # per participant
    for trial in trials:
        if trial.condition == condition:
            totals[trial.participant] += 1
            successes[trial.participant] += success(trial)
    hits, count = sum(successes.values()), sum(totals.values())
    who = list(totals)
    interval = wilson_interval(hits, count)
    bootstrap = bootstrap_interval(np.array([successes[p] for p in who]), np.array([totals[p] for p in who]))
    return {
        name: hits,
        "trials": count,
        "rate": hits / count if count else None,
        "ci95": None if interval is None else list(interval),
        "bootstrap95": None if bootstrap is None else list(bootstrap),
        "p_value": binomial_test(hits, count),
        "participants": len(who),
    }


def answer_rows(trials: list[StoredTrial], excluded: set[str]) -> list[dict[str, object]]:
    """One row per answer (practice included), columns ``CSV_COLUMNS``: for a spreadsheet or R."""
    rows = []
    for trial in trials:
        if trial.choice is None:
            continue
        left, right = trial.sides
        when = datetime.datetime.fromtimestamp(trial.answered, datetime.timezone.utc).isoformat(
            timespec="seconds"
        )
        rows.append(
            {
                "participant": trial.participant,
                "position": trial.position + 1,
                "trial": trial.id,
                "kind": trial.condition.kind,
                "photo": trial.photo,
                "left": left,
                "right": right,
                "choice": trial.choice,
                "chosen": trial.sides[trial.choice],
                "answered_utc": when,
                "excluded": int(trial.participant in excluded),
            }
        )
    return rows


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet takes for a formula
NAMED_COLUMNS = frozenset({"photo", "left", "right", "chosen"})  # names the researcher's files gave


def csv_text(rows: list[dict[str, object]]) -> str:
    """``answer_rows`` as CSV text, a header line first. A photo's or method's name that a spreadsheet would
    run as a formula is kept as text: a ``'`` before it."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(
        {key: _as_text(value) if key in NAMED_COLUMNS else value for key, value in row.items()}
        for row in rows
    )
    return buffer.getvalue()


def _as_text(value: object) -> object:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value
