"""What a long colorizing job has settled, kept beside its outputs so that a re-run after a crash, a Ctrl-C or
a killed worker does only what is missing: ``OUT/.chromalab-manifest.jsonl``, one JSON line per input
(done, failed with its reason, or skipped), appended by the one process that drives the job; and the
running tally of a job (counts, photos per second, per worker, time left).

Torch-free and dask-free: the driver writes it, the re-run's planning (``resume``) reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST_NAME = ".chromalab-manifest.jsonl"
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


@dataclass(frozen=True)
class Outcome:
    """What became of one input."""

    output: str  # the output's path relative to the output folder, POSIX form: the record's key
    input: str
    status: str  # DONE, FAILED or SKIPPED
    reason: str | None = None  # why it failed or was skipped, one line
    worker: str | None = None  # the worker that did it (its name), None when nothing ran
    seconds: float = 0.0  # the worker's time on it
    settings: str = ""  # ``settings_digest`` of the run that settled it

    def as_line(self) -> str:
        return json.dumps(asdict(self) | {"at": round(time.time(), 3)}, ensure_ascii=False) + "\n"


def one_line(error: BaseException) -> str:
    """The reason an input failed, as one line: an OSError's own words, else the error's first line."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def settings_digest(settings: dict) -> str:
    """A short digest of what decides an output's bytes (model, its file's size and time, options): a
    re-run with ``--overwrite`` keeps outputs done under the same digest."""
    model = Path(str(settings.get("model", "")))
    if model.is_file():
        stat = model.stat()
        settings = settings | {"model_file": [str(model.resolve()), stat.st_size, stat.st_mtime_ns]}
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_manifest(out_dir: Path) -> dict[str, dict]:
    """output (relative, POSIX) -> its latest record; {} without a manifest. A line cut short by a crash, or
    anything else that is not a record, is passed over."""
    records: dict[str, dict] = {}
    try:
        with open(out_dir / MANIFEST_NAME, encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("output"), str):
                    records[record["output"]] = record
    except FileNotFoundError:
        pass
    return records


class Manifest:
    """Appends outcomes to ``OUT/.chromalab-manifest.jsonl``, flushed and synced after each batch, so a
    killed driver loses at most the batch it was writing (its outputs are found again by decoding)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST_NAME
        self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  held open for the whole job

    def append(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        self.file.write("".join(outcome.as_line() for outcome in outcomes))
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()


@dataclass
class Tally:
    """The running counts of a job, for its progress line and summary."""

    total: int
    started: float = field(default_factory=time.monotonic)
    counts: Counter = field(default_factory=Counter)  # status -> how many
    per_worker: Counter = field(default_factory=Counter)  # worker name -> inputs it did
    busy_seconds: Counter = field(default_factory=Counter)  # worker name -> its seconds on them

    def add(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            self.counts[outcome.status] += 1
            if outcome.worker is not None and outcome.status == DONE:
                self.per_worker[outcome.worker] += 1
                self.busy_seconds[outcome.worker] += outcome.seconds

    @property
    def settled(self) -> int:
        return sum(self.counts.values())

    @property
    def rate(self) -> float:
        """Inputs done per second of wall time since the work began (skipped ones cost nothing)."""
        elapsed = time.monotonic() - self.started
        return self.counts[DONE] / elapsed if elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """At the current rate; None before anything was done."""
        rate = self.rate
        return (self.total - self.settled) / rate if rate > 0 else None

    def summary(self) -> str:
        """``done 198, failed 2, skipped 0 in 7.1 s (27.9 photos/s)``."""
        elapsed = time.monotonic() - self.started
        return (
            f"done {self.counts[DONE]}, failed {self.counts[FAILED]}, skipped {self.counts[SKIPPED]} "
            f"in {elapsed:.1f} s ({self.rate:.1f} photos/s)"
        )

    def worker_lines(self) -> list[str]:
        """One line per worker: what it did and how fast it went while busy."""
        lines = []
        for name, count in sorted(self.per_worker.items()):
            busy = self.busy_seconds[name]
            speed = f", {count / busy:.1f} photos/s busy" if busy > 0 else ""
            lines.append(f"  {name}: {count} done{speed}")
        return lines
