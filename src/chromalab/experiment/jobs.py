"""An experiment's work as child processes: one ``chromalab train`` and several ``chromalab evaluate``
commands per run, run ``parallel`` at a time on ``cores / parallel`` threads each; a job whose result
exists is skipped, so an interrupted experiment goes on where it stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chromalab.experiment.config import Experiment, RunSpec
from chromalab.training.run_folder import CHECKPOINT, FINAL_MODEL, TRAIN_LOG

FLAG_TOGGLES = {"rebalance", "flip", "channels_last"}  # --KEY/--no-KEY
FLAG_SWITCHES = {"compile", "overfit_one"}  # --KEY when true


def chromalab_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "chromalab", *arguments]


def run_dir(out: Path, run: RunSpec) -> Path:
    return out / "runs" / run.name


def model_file(out: Path, run: RunSpec) -> Path:
    return run_dir(out, run) / FINAL_MODEL


def train_command(experiment: Experiment, run: RunSpec, out: Path) -> list[str]:
    """``chromalab train`` for ``run``; ``--resume`` when a checkpoint of an unfinished run exists."""
    folder = run_dir(out, run)
    if (folder / CHECKPOINT).is_file():
        budget = {k: v for k, v in run.train.items() if k in ("epochs", "minutes", "max_steps")}
        return chromalab_command(
            "train", str(experiment.cache), "-o", str(folder), "--resume", *_flags(budget)
        )
    options = [
        part
        for key, value in run.train.get("option", {}).items()
        for part in ("--option", _option(key, value))
    ]
    return chromalab_command(
        "train",
        str(experiment.cache),
        "--model",
        run.model,
        "-o",
        str(folder),
        *options,
        *_flags(run.train),
        *map(str, run.train.get("args", [])),
    )


def _option(key: str, value: object) -> str:
    """KEY=VALUE as ``train --option`` reads it: JSON for TOML's booleans and numbers (``true``, not
    ``True``)."""
    return f"{key}={value if isinstance(value, str) else json.dumps(value)}"


def _flags(values: dict[str, Any]) -> list[str]:
    flags = []
    for key, value in values.items():
        if key in ("option", "args"):
            continue
        flag = "--" + key.replace("_", "-")
        if key in FLAG_TOGGLES:
            flags.append(flag if value else f"--no-{key.replace('_', '-')}")
        elif key in FLAG_SWITCHES:
            flags += [flag] if value else []
        else:
            flags += [flag, str(value)]
    return flags


@dataclass(frozen=True)
class Scoring:
    """One ``chromalab evaluate`` of one run on one set at one temperature (None: regression)."""

    set_name: str
    temperature: float | None

    @property
    def label(self) -> str:
        return self.set_name if self.temperature is None else f"{self.set_name}@T{self.temperature:g}"

    def json_path(self, out: Path, run: RunSpec) -> Path:
        return run_dir(out, run) / f"eval-{self.label}.json"


def scorings(experiment: Experiment, run: RunSpec) -> list[Scoring]:
    temperatures = experiment.temperatures if run.classification else [None]
    return [Scoring(name, t) for name in experiment.eval_sets for t in temperatures]


def evaluate_command(experiment: Experiment, run: RunSpec, scoring: Scoring, out: Path) -> list[str]:
    command = [
        "evaluate",
        str(experiment.eval_sets[scoring.set_name]),
        "--model",
        str(model_file(out, run)),
        "--size",
        str(experiment.eval_size),
        "--json",
        str(scoring.json_path(out, run)),
    ]
    if scoring.temperature is not None:
        command += ["--temperature", str(scoring.temperature)]
    if experiment.eval_limit:
        command += ["--limit", str(experiment.eval_limit)]
    return chromalab_command(*command)


@dataclass
class Job:
    """One child process; ``done`` is the file it leaves when it succeeded (if that exists, it is skipped)."""

    label: str
    command: list[str]
    done: Path
    log: Path


def training_jobs(experiment: Experiment, out: Path) -> list[Job]:
    return [
        Job(
            f"train {run.name}",
            train_command(experiment, run, out),
            model_file(out, run),
            run_dir(out, run) / TRAIN_LOG,
        )
        for run in experiment.runs
    ]


def evaluation_jobs(experiment: Experiment, out: Path) -> list[Job]:
    return [
        Job(
            f"evaluate {run.name} on {s.label}",
            evaluate_command(experiment, run, s, out),
            s.json_path(out, run),
            run_dir(out, run) / f"eval-{s.label}.log",
        )
        for run in experiment.runs
        if model_file(out, run).is_file()
        for s in scorings(experiment, run)
    ]


def waiting(jobs: Sequence[Job]) -> list[Job]:
    """The jobs whose result is not there yet."""
    return [job for job in jobs if not job.done.is_file()]


def run_jobs(
    jobs: Sequence[Job],
    *,
    parallel: int,
    threads: int,
    on_done: Callable[[Job, str | None], None] = lambda job, problem: None,
) -> list[tuple[Job, str]]:
    """Run ``jobs``, ``parallel`` at a time; returns the failures (job, last line of its log). Interrupted
    (Ctrl-C, SIGTERM), it starts no other job and stops the running ones with SIGTERM (a training run saves
    the step under way; re-running the experiment goes on from there) before it lets the interruption
    through."""
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    running: set[subprocess.Popen] = set()
    guard = threading.Lock()
    stopping = threading.Event()

    def one(job: Job) -> str | None:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        with open(job.log, "w") as log:
            with guard:
                if stopping.is_set():
                    return None
                child = subprocess.Popen(job.command, stdout=log, stderr=subprocess.STDOUT, env=environment)
                running.add(child)
            returncode = child.wait()
            with guard:
                running.discard(child)
        if stopping.is_set():
            return None
        problem = None if returncode == 0 and job.done.is_file() else _last_line(job.log, returncode)
        on_done(job, problem)
        return problem

    pool = ThreadPoolExecutor(max_workers=parallel)
    try:
        problems = list(pool.map(one, jobs))
    except BaseException:
        with guard:
            stopping.set()
            for child in running:
                child.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return [(job, problem) for job, problem in zip(jobs, problems, strict=True) if problem is not None]


def _last_line(log: Path, returncode: int) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"exit {returncode}: {lines[-1] if lines else 'no output'} (log: {log})"
