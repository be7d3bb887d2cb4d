"""``chromalab colorize --cluster``: the same photos and clips colorized on a Dask cluster.

The driver (the process that runs the command) fixes every output's name first (``resume.plan_work``), then
hands out tasks of a few dozen photos each (``batch.colorize_all`` on the worker: the same reading, network
and writing as without a cluster, so the same bytes) and one task per clip (the stabiliser needs the clip's
frames in order). Each worker process loads the model once, through a worker plugin, which Dask runs again
in a worker that was restarted. Writes are atomic (temp + rename) and every output's name is fixed before
any task runs, so a task run twice (a retry after a worker died) writes the same file again: the outputs
come out exactly once.

A task that fails is split into one task per photo; a photo whose task kills its worker again and again
(Dask's ``KilledWorker``) gets one last try on its own, then is marked failed, and the job goes on. (After
``allowed-failures`` deaths Dask fails every task the dying worker held, not only the one it ran, so a single
``KilledWorker`` names no culprit.) Tasks are never pinned to a worker's address: a restarted worker comes
back under a new one.

Imports dask, so only ``--cluster`` imports this module.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
from distributed.scheduler import KilledWorker

from chromalab.colorize.batch import Job, colorize_all
from chromalab.colorize.loading import load_colorizer
from chromalab.colorize.manifest import DONE, FAILED, Outcome, one_line
from chromalab.colorize.openmp import polite_openmp
from chromalab.colorize.resume import Plan

LOCAL = "local"  # --cluster local: a LocalCluster in this machine
PLUGIN_NAME = "chromalab-colorizer"
CONNECT_TIMEOUT_S = 15
MAX_PHOTOS_PER_TASK = 64  # a retry redoes at most this many photos
TASKS_PER_THREAD = 8  # about this many tasks per worker thread: the last ones end close together
LAST_CHANCE = 2  # a photo's task level: 0 its chunk, 1 alone, 2 alone with no other suspect running
# Dask's nanny gives each worker MALLOC_TRIM_THRESHOLD_=65536, which cost 4.7 s of system CPU per 200 1-MP
# photos and halved the throughput when measured: None unsets it. A worker with one thread holds one task,
# not two, so a dying worker takes fewer bystanders down with it.
WORKER_CONFIG = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.scheduler.worker-saturation": 1.0,
}
ClipPainter = Callable[..., object]  # video.colorize_clip.colorize_clip(colorizer, source, target, **options)


class ColorizerPlugin(WorkerPlugin):
    """Loads the model once in each worker process (again in a restarted one); tasks find it by name."""

    name = PLUGIN_NAME

    def __init__(self, model: str, *, engine: str, threads: int | None, options: dict) -> None:
        self.model, self.engine, self.threads, self.options = model, engine, threads, options
        self.colorizer = None

    def setup(self, worker: object) -> None:
        polite_openmp()
        self.colorizer = load_colorizer(self.model, engine=self.engine, threads=self.threads, **self.options)


def connect(address: str, *, workers: int, threads_per_worker: int) -> Client:
    """A client of the scheduler at ``address`` (``tcp://host:8786``), or of a new ``LocalCluster`` of
    ``workers`` single-task processes for ``local``; ConnectionError (one line) when none answers."""
    dask.config.set(WORKER_CONFIG)
    if address == LOCAL:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,  # task slots: the engine's own threads are ``threads_per_worker``
            processes=True,
            dashboard_address="127.0.0.1:0",  # its web page on a free port, never a taken 8787
            silence_logs=logging.ERROR,
        )
        return Client(cluster)
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as error:
        raise ConnectionError(f"no Dask scheduler answers at {address} ({one_line(error)})") from None


def start_workers(client: Client, model: str, *, engine: str, threads: int | None, options: dict) -> None:
    """Register the plugin that loads the model in every worker, present and future."""
    client.register_plugin(ColorizerPlugin(model, engine=engine, threads=threads, options=options))


def photos_per_task(photos: int, threads: int) -> int:
    """Enough tasks for every worker thread to take several (the job ends evenly), few enough that the
    scheduler's per-task cost (about a millisecond) stays far below the photos' time."""
    return max(1, min(MAX_PHOTOS_PER_TASK, math.ceil(photos / (TASKS_PER_THREAD * max(1, threads)))))


def colorize_photos_task(items: list[tuple[str, str]], out_dir: str, settings: str) -> list[Outcome]:
    """On a worker: (input, output relative to ``out_dir``) photos, overlapped as without a cluster. The
    driver fixed the outputs and checked them, so an output there was written by an earlier try of this very
    task and is replaced (same bytes)."""
    worker = get_worker()
    colorizer = worker.plugins[PLUGIN_NAME].colorizer
    outcomes: list[Outcome] = []
    clock = [time.perf_counter()]

    def on_done(source: Path, problem: Exception | None) -> None:
        now = time.perf_counter()
        source_text, output = items[len(outcomes)]  # colorize_all reports in input order
        status, reason = (DONE, None) if problem is None else (FAILED, one_line(problem))
        outcomes.append(
            Outcome(output, source_text, status, reason, str(worker.name), now - clock[0], settings)
        )
        clock[0] = now

    jobs = [(Path(source), Path(output)) for source, output in items]
    colorize_all(colorizer, jobs, Path(out_dir), overwrite=True, on_done=on_done)
    return outcomes


def colorize_clip_task(
    paint: ClipPainter, item: tuple[str, str], out_dir: str, options: dict, settings: str
) -> list[Outcome]:
    """On a worker: one clip, whole and in order; an unreadable clip raises (the driver records why)."""
    worker = get_worker()
    source, output = item
    target = Path(out_dir) / output
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    paint(worker.plugins[PLUGIN_NAME].colorizer, Path(source), target, **options)
    seconds = time.perf_counter() - started
    return [Outcome(output, source, DONE, None, str(worker.name), seconds, settings)]


class Dispatch:
    """The driver's side of a job: tasks out, outcomes in, failed tasks split and tried again."""

    def __init__(self, client: Client, out_dir: Path, settings: str, clip: tuple[ClipPainter, dict]) -> None:
        self.client, self.out_dir, self.settings, self.clip = client, str(out_dir), settings, clip
        self.running = as_completed()
        self.tasks: dict[str, tuple[str, int, list[tuple[str, str]]]] = {}  # key -> (kind, level, items)
        self.last_chances: deque[tuple[str, tuple[str, str]]] = deque()
        self.last_chance_running = False

    def submit(self, kind: str, level: int, items: list[tuple[str, str]]) -> None:
        key = f"chromalab-{kind}-{uuid.uuid4().hex}"
        if kind == "photos":
            args = (colorize_photos_task, items, self.out_dir, self.settings)
        else:
            args = (colorize_clip_task, self.clip[0], items[0], self.out_dir, self.clip[1], self.settings)
        self.tasks[key] = (kind, level, items)
        self.running.add(self.client.submit(*args, key=key, pure=False, retries=0))

    def outcomes(self) -> object:  # Iterator[list[Outcome]]
        """Each settled task's outcomes, as they come."""
        for future in self.running:
            kind, level, items = self.tasks.pop(future.key)
            if level == LAST_CHANCE:
                self.last_chance_running = False
            try:
                yield future.result()
            except Exception as error:  # noqa: BLE001  whatever a task raised settles its photos, never the job
                yield self.retry_or_fail(kind, level, items, error)
            future.release()
            self.next_last_chance()

    def retry_or_fail(self, kind: str, level: int, items: list, error: Exception) -> list[Outcome]:
        if len(items) > 1:  # which photo? try each alone
            for item in items:
                self.submit(kind, 1, [item])
            return []
        if isinstance(error, KilledWorker) and level < LAST_CHANCE:
            self.last_chances.append((kind, items[0]))
            return []
        reason = (
            "a worker died on it again and again (Dask's KilledWorker)"
            if isinstance(error, KilledWorker)
            else one_line(error)
        )
        return [Outcome(output, source, FAILED, reason, settings=self.settings) for source, output in items]

    def next_last_chance(self) -> None:
        """One suspect at a time, so that no other suspect's death takes it down."""
        if self.last_chances and not self.last_chance_running:
            kind, item = self.last_chances.popleft()
            self.last_chance_running = True
            self.submit(kind, LAST_CHANCE, [item])


def run_plan(
    client: Client,
    plan: Plan,
    out_dir: Path,
    *,
    settings: str,
    on_outcomes: Callable[[list[Outcome]], None],
    clip: tuple[ClipPainter, dict] | None = None,
) -> None:
    """Colorize what ``plan`` has left; ``on_outcomes`` hears of every task's outcomes as they come (not in
    input order). ``clip``: (the clip painter, its options), needed when the plan holds clips."""
    dispatch = Dispatch(client, out_dir, settings, clip or (None, {}))
    threads = sum(client.nthreads().values())
    size = photos_per_task(len(plan.photos), threads)
    for start in range(0, len(plan.photos), size):
        dispatch.submit("photos", 0, _as_text(plan.photos[start : start + size]))
    for job in plan.clips:
        dispatch.submit("clip", 1, _as_text([job]))
    for outcomes in dispatch.outcomes():
        on_outcomes(outcomes)


def _as_text(jobs: list[Job]) -> list[tuple[str, str]]:
    return [(str(source), output.as_posix()) for source, output in jobs]
