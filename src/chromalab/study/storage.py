"""A study's SQLite file: its plan, the pictures shown (as JPEG blobs), each participant's trials and answers.

One file holds the whole study: it moves, backs up and travels with its results in one piece, and what the
participants saw stays exactly what is stored even if the photo folders change later (a few tens of kB per
picture at 256 pixels).

Durability: WAL journal with ``synchronous=FULL``; every answer is one ``BEGIN IMMEDIATE`` ... ``COMMIT``
transaction, and ``record_answer`` returns (and the server acknowledges) only after the commit, so a server
killed at any moment, or a power cut, loses no acknowledged answer. One connection per store, behind a lock:
the web server's threads take turns (an answer is a few milliseconds); other processes on the same file are
kept apart by SQLite's own locks.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chromalab.study.assignment import participant_trials
from chromalab.study.plan import PRACTICE, TRUTH, Condition, StudyPlan

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);  -- JSON values: plan, schema, created
CREATE TABLE photos (name TEXT PRIMARY KEY, practice INTEGER NOT NULL);  -- practice photos are never counted
CREATE TABLE pictures (photo TEXT NOT NULL REFERENCES photos (name), source TEXT NOT NULL, file TEXT,
    width INTEGER NOT NULL, height INTEGER NOT NULL, jpeg BLOB NOT NULL, PRIMARY KEY (photo, source));
CREATE TABLE participants (id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, started REAL NOT NULL);
CREATE TABLE trials (id TEXT PRIMARY KEY, participant TEXT NOT NULL REFERENCES participants (id),
    position INTEGER NOT NULL, kind TEXT NOT NULL, question TEXT NOT NULL, photo TEXT NOT NULL,
    first TEXT NOT NULL, second TEXT NOT NULL, first_side INTEGER NOT NULL CHECK (first_side IN (0, 1)),
    UNIQUE (participant, position));
CREATE TABLE answers (trial TEXT PRIMARY KEY REFERENCES trials (id), participant TEXT NOT NULL,
    choice INTEGER NOT NULL CHECK (choice IN (0, 1)), answered REAL NOT NULL);
"""
# counted trials given so far per (condition, photo): enrolment reads these few rows, not every earlier trial
# (after
# 400 participants it took 601 ms instead of 40). Made with a new file, or at the first enrolment of an older
# one.
BALANCE = """
CREATE TABLE IF NOT EXISTS balance (kind TEXT NOT NULL, first TEXT NOT NULL, second TEXT NOT NULL,
    photo TEXT NOT NULL, trials INTEGER NOT NULL, PRIMARY KEY (kind, first, second, photo));
"""
BALANCE_KEY = "balance"  # in meta once the balance table counts every trial
PARTICIPANT_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")  # a random id the page keeps; no personal data
BUSY_TIMEOUT_MS = 30_000


class StudyFileError(ValueError):
    """Not a study file, or not one this version reads; ``str()`` is the reason."""


class AnswerRefused(ValueError):
    """An answer (or a participant id) that is not taken; nothing was changed."""


class BadAnswer(AnswerRefused):
    """A malformed participant id, trial id or choice."""


class UnknownTrial(AnswerRefused):
    pass


class NotYourTrial(AnswerRefused):
    pass


class NotNow(AnswerRefused):
    """Already answered, or not the participant's current trial."""


@dataclass(frozen=True)
class Picture:
    photo: str
    source: str  # TRUTH, a method's label or RANDOM_COLOURS
    file: str | None  # where it came from (None: made here)
    width: int
    height: int
    jpeg: bytes


@dataclass(frozen=True)
class ShownTrial:
    id: str
    question: str
    kind: str
    position: int  # 1-based, practice first
    total: int  # practice and counted trials


@dataclass(frozen=True)
class StoredTrial:
    """A trial with its answer (None: not answered yet), as the results read it."""

    id: str
    participant: str
    position: int
    condition: Condition
    photo: str
    first_side: int  # where the condition's first source was shown: 0 left, 1 right
    choice: int | None
    answered: float | None  # seconds since the epoch

    @property
    def sides(self) -> tuple[str, str]:
        first, second = self.condition.first, self.condition.second
        return (first, second) if self.first_side == 0 else (second, first)

    @property
    def chose_first(self) -> bool:
        return self.choice == self.first_side


def write_study(path: Path, plan: StudyPlan, pictures: list[Picture], practice_photos: set[str]) -> None:
    """Write a new study file at ``path`` (replacing one there), whole or not at all."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        connection = sqlite3.connect(temporary)
        with connection:
            connection.executescript(SCHEMA + BALANCE)
            meta = {
                "plan": plan.to_json(),
                "schema": SCHEMA_VERSION,
                "created": time.time(),
                BALANCE_KEY: True,
            }
            connection.executemany(
                "INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()]
            )
            photos = sorted({picture.photo for picture in pictures})
            connection.executemany(
                "INSERT INTO photos VALUES (?, ?)", [(p, p in practice_photos) for p in photos]
            )
            connection.executemany(
                "INSERT INTO pictures VALUES (?, ?, ?, ?, ?, ?)",
                [(p.photo, p.source, p.file, p.width, p.height, p.jpeg) for p in pictures],
            )
        connection.execute("PRAGMA journal_mode=WAL")  # kept in the file: every later connection writes ahead
        connection.close()
        # an old study's journal must not meet the new file
        for stale in (
            Path(f"{path}-wal"),
            Path(f"{path}-shm"),
        ):
            stale.unlink(missing_ok=True)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class StudyStore:
    """An open study file: the participants' trials and answers. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise StudyFileError(f"{path}: no such file")
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            self.plan = self._read_plan()
            self._db.execute("PRAGMA journal_mode=WAL")
            # each commit reaches the disk before it is acknowledged
            self._db.execute("PRAGMA synchronous=FULL")
            photos = self._db.execute("SELECT name, practice FROM photos ORDER BY name").fetchall()
        except (sqlite3.DatabaseError, KeyError, TypeError, ValueError) as error:
            self._db.close()
            raise StudyFileError(f"{path}: not a chromalab study ({error})") from None
        self.practice_photos = [name for name, practice in photos if practice]
        self.test_photos = [name for name, practice in photos if not practice]

    def _read_plan(self) -> StudyPlan:
        meta = {key: json.loads(value) for key, value in self._db.execute("SELECT key, value FROM meta")}
        if meta.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"schema {meta.get('schema')}, this version reads {SCHEMA_VERSION}")
        return StudyPlan.from_json(meta["plan"])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (no deadlock between two readers that both want to write)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def next_trial(self, participant: str) -> ShownTrial | None:
        """The participant's first unanswered trial (None: all answered); a new participant gets their
        trials."""
        check_participant(participant)
        with self._lock:
            if not self._db.execute("SELECT 1 FROM participants WHERE id = ?", (participant,)).fetchone():
                self._enrol(participant)
            total = self._db.execute(
                "SELECT count(*) FROM trials WHERE participant = ?", (participant,)
            ).fetchone()[0]
            row = self._db.execute(
                "SELECT t.id, t.question, t.kind, t.position FROM trials t LEFT JOIN answers a ON a.trial = "
                "t.id WHERE t.participant = ? AND a.trial IS NULL ORDER BY t.position LIMIT 1",
                (participant,),
            ).fetchone()
        return None if row is None else ShownTrial(row[0], row[1], row[2], row[3] + 1, total)

    def _enrol(self, participant: str) -> None:
        """Draw and store a new participant's trials, balanced against every earlier participant's."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM participants WHERE id = ?", (participant,)).fetchone():
                return  # enrolled meanwhile by another process on this file
            _balance_table(db)
            # the index
            number = db.execute("SELECT coalesce(max(number) + 1, 0) FROM participants").fetchone()[0]
            earlier = Counter(
                {
                    (Condition(kind, first, second), photo): count
                    for kind, first, second, photo, count in db.execute(
                        "SELECT kind, first, second, photo, trials FROM balance"
                    )
                }
            )
            trials = participant_trials(
                self.plan,
                self.practice_photos,
                self.test_photos,
                earlier,
                random.Random(f"{self.plan.seed}/{number}"),
            )
            db.execute("INSERT INTO participants VALUES (?, ?, ?)", (participant, number, time.time()))
            db.executemany(
                "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        secrets.token_urlsafe(9),
                        participant,
                        position,
                        t.condition.kind,
                        self.plan.question(t.condition.kind),
                        t.photo,
                        t.condition.first,
                        t.condition.second,
                        int(t.sides[0] != t.condition.first),
                    )
                    for position, t in enumerate(trials)
                ],
            )
            db.executemany(
                "INSERT INTO balance VALUES (?, ?, ?, ?, 1) ON CONFLICT (kind, first, second, photo) "
                "DO UPDATE SET trials = trials + 1",
                [
                    (t.condition.kind, t.condition.first, t.condition.second, t.photo)
                    for t in trials
                    if t.condition.kind != PRACTICE
                ],
            )

    def is_enrolled(self, participant: str) -> bool:
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM participants WHERE id = ?", (participant,)).fetchone()
                is not None
            )

    def record_answer(self, participant: str, trial: str, choice: int) -> int | None:
        """Store one answer, committed before this returns; returns the real photo's side (0 left, 1 right)
        of a practice trial, for its feedback, else None. Raises an ``AnswerRefused`` and changes nothing
        for a malformed, unknown, foreign, repeated or out-of-turn answer."""
        check_participant(participant)
        if type(choice) is not int or choice not in (0, 1):
            raise BadAnswer(f"choice must be 0 (left) or 1 (right), got {choice!r}")
        if not isinstance(trial, str):
            raise BadAnswer(f"trial must be a trial id, got {trial!r}")
        with self._transaction() as db:
            row = db.execute(
                "SELECT participant, kind, first, first_side FROM trials WHERE id = ?", (trial,)
            ).fetchone()
            if row is None:
                raise UnknownTrial(f"no trial {trial!r} in this study")
            owner, kind, first, first_side = row
            if owner != participant:
                raise NotYourTrial("this trial belongs to another participant")
            current = db.execute(
                "SELECT t.id FROM trials t LEFT JOIN answers a ON a.trial = t.id WHERE t.participant = ? "
                "AND a.trial IS NULL ORDER BY t.position LIMIT 1",
                (participant,),
            ).fetchone()
            if current is None or current[0] != trial:
                answered = db.execute("SELECT 1 FROM answers WHERE trial = ?", (trial,)).fetchone()
                raise NotNow(
                    "this trial is already answered" if answered else "not this participant's current trial"
                )
            db.execute("INSERT INTO answers VALUES (?, ?, ?, ?)", (trial, participant, choice, time.time()))
        return first_side if kind == PRACTICE and first == TRUTH else None

    def picture(self, trial: str, side: int) -> bytes | None:
        """The JPEG shown on ``side`` (0 left, 1 right) of ``trial``; None for an unknown trial or side."""
        if side not in (0, 1):
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT p.jpeg FROM trials t JOIN pictures p ON p.photo = t.photo AND p.source = "
                "CASE WHEN t.first_side = ? THEN t.first ELSE t.second END WHERE t.id = ?",
                (side, trial),
            ).fetchone()
        return None if row is None else row[0]

    def trials(self) -> list[StoredTrial]:
        """Every participant's trials with their answers, in participant and position order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT t.id, t.participant, t.position, t.kind, t.first, t.second, t.photo, t.first_side, "
                "a.choice, a.answered FROM trials t JOIN participants p ON p.id = t.participant LEFT JOIN "
                "answers a ON a.trial = t.id ORDER BY p.number, t.position"
            ).fetchall()
        return [
            StoredTrial(
                id_, who, position, Condition(kind, first, second), photo, first_side, choice, answered
            )
            for id_, who, position, kind, first, second, photo, first_side, choice, answered in rows
        ]


def _balance_table(db: sqlite3.Connection) -> None:
    """The balance table, made and filled from the trials if this file was written without it (inside the
    enrolment's transaction: once per file)."""
    if db.execute("SELECT 1 FROM meta WHERE key = ?", (BALANCE_KEY,)).fetchone():
        return
    db.execute(BALANCE)
    db.execute("DELETE FROM balance")
    db.execute(
        "INSERT INTO balance SELECT kind, first, second, photo, count(*) FROM trials WHERE kind != ? "
        "GROUP BY kind, first, second, photo",
        (PRACTICE,),
    )
    db.execute("INSERT INTO meta VALUES (?, ?)", (BALANCE_KEY, json.dumps(True)))


def open_studies(paths: tuple[Path, ...]) -> dict[str, StudyStore]:
    """name -> open study of each file; ``StudyFileError`` for a file that is none, or two of one name."""
    studies: dict[str, StudyStore] = {}
    try:
        for path in paths:
            store = StudyStore(path)
            if store.plan.name in studies:
                store.close()
                raise StudyFileError(
                    f"two studies named {store.plan.name!r}: {studies[store.plan.name].path} and {path}"
                )
            studies[store.plan.name] = store
    except StudyFileError:
        for store in studies.values():
            store.close()
        raise
    return studies


def check_participant(participant: object) -> None:
    if not isinstance(participant, str) or not PARTICIPANT_PATTERN.fullmatch(participant):
        raise BadAnswer(
            "participant must be 8 to 64 letters, digits, '_' or '-' (a random id, no personal data)"
        )
