"""The ``--cluster`` part of ``chromalab colorize``: plan what is missing, run it on Dask
(``colorize.cluster``), keep the manifest, print progress, the failures (one ``error:`` line each) and a
summary with the rate and each worker's share."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from types import ModuleType

from chromalab.cli.app import EXIT_OK, EXIT_SOME_FAILED, open_colorizer, progress, report_error, usage_error
from chromalab.colorize.batch import Job
from chromalab.colorize.manifest import FAILED, Manifest, Outcome, Tally, read_manifest, settings_digest
from chromalab.colorize.resume import plan_work
from chromalab.files import sweep_stale_temps

PROGRESS_EVERY_S = 30.0  # without a terminal (a batch job's log): a progress line this often
INSTALL_HINT = "pip install 'chromalab[cluster]'"


def require_dask() -> ModuleType:
    """The Dask side of ``--cluster`` (``chromalab.colorize.cluster``), or one line and exit 2 saying what to
    install when this install leaves Dask out."""
    try:
        from chromalab.colorize import cluster
    except ImportError as error:
        usage_error(f"--cluster needs Dask ({error.name or error} is missing): {INSTALL_HINT}")
    return cluster


def colorize_on_cluster(
    address: str,
    photos: list[Job],
    clips: list[Job],
    out_dir: Path,
    *,
    workers: int,
    threads: int,
    model: str,
    engine: str,
    options: dict,
    overwrite: bool,
    clip_options: dict,
) -> int:
    """Colorize ``photos`` and ``clips`` into ``out_dir`` on the cluster at ``address`` (or ``local``);
    returns the exit code."""
    cluster = require_dask()
    open_colorizer(
        model, engine=engine, show_warnings=True, threads=threads, **options
    )  # a bad --model: one line, exit 2, here
    settings = settings_digest({"model": model, "engine": engine, **options, **clip_options})
    plan = plan_work(
        photos, clips, out_dir, overwrite=overwrite, settings=settings, records=read_manifest(out_dir)
    )
    tally = Tally(plan.total)
    manifest = Manifest(out_dir)
    record = _recorder(manifest, tally)
    client, startup = None, None
    try:
        record(plan.settled)
        if plan.photos or plan.clips:
            try:
                client = cluster.connect(address, workers=workers, threads_per_worker=threads)
            except ConnectionError as error:
                usage_error(f"--cluster {address}: {error}")
            cluster.start_workers(client, model, engine=engine, threads=threads, options=options)
            startup = _started(client, tally)
            with progress("colorizing", plan.total - len(plan.settled), rate_of="photos") as advance:

                def on_outcomes(outcomes: list[Outcome]) -> None:
                    record(outcomes)
                    for _ in outcomes:
                        advance()

                paint = _clip_painter() if plan.clips else None
                cluster.run_plan(
                    client,
                    plan,
                    out_dir,
                    settings=settings,
                    on_outcomes=on_outcomes,
                    clip=(paint, clip_options),
                )
    except KeyboardInterrupt:
        print(f"interrupted: {tally.summary()}; run the same command again to finish", file=sys.stderr)
        return EXIT_SOME_FAILED
    finally:
        manifest.close()
        if client is not None:
            _close(client)
        for folder in {(out_dir / output).parent for _, output in plan.photos + plan.clips}:
            sweep_stale_temps(folder, before=time.time())  # every writer of this job has stopped
    _print_summary(tally, out_dir, startup)
    return EXIT_SOME_FAILED if tally.counts[FAILED] else EXIT_OK


def _recorder(manifest: Manifest, tally: Tally) -> object:
    """outcomes -> the manifest, the tally, one ``error:`` line per failure and now and then a progress line
    (when stderr is not a terminal)."""
    last = [time.monotonic()]

    def record(outcomes: list[Outcome]) -> None:
        manifest.append(outcomes)
        tally.add(outcomes)
        for outcome in outcomes:
            if outcome.status == FAILED:
                report_error(outcome.input, outcome.reason)
        if not sys.stderr.isatty() and time.monotonic() - last[0] > PROGRESS_EVERY_S:
            last[0] = time.monotonic()
            left = tally.seconds_left
            eta = f", about {left / 60:.0f} min left" if left is not None else ""
            print(f"progress: {tally.settled} of {tally.total}, {tally.summary()}{eta}", file=sys.stderr)

    return record


def _clip_painter() -> object:
    from chromalab.video.colorize_clip import colorize_clip

    return colorize_clip


def _close(client: object) -> None:
    cluster = client.cluster  # a LocalCluster we started, or None for a scheduler someone else runs
    client.close()
    if cluster is not None:
        cluster.close()


def _started(client: object, tally: Tally) -> str:
    """The cluster's start-up, for the summary; the rate counts from here."""
    seconds = time.monotonic() - tally.started
    tally.started = time.monotonic()
    threads = client.nthreads()
    return f"cluster ready in {seconds:.1f} s: {len(threads)} workers, {sum(threads.values())} task slots"


def _print_summary(tally: Tally, out_dir: Path, startup: str | None) -> None:
    if startup is not None:
        print(startup)
    print(f"{tally.summary()} into {out_dir}")
    for line in tally.worker_lines():
        print(line)
