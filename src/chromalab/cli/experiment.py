"""``chromalab experiment``: train and score a list of models on one budget, then tabulate them."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer

from chromalab.cli.app import EXIT_OK, EXIT_SOME_FAILED, app, report_error, usage_error


@app.command()
def experiment(
    config: Path = typer.Argument(..., help="The experiment's TOML file (see docs/experiments.md)."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder of the runs, their scores and the results."),
    cache: Path = typer.Option(None, "--cache", help="Prepared training cache (overrides \\[data] cache)."),
    minutes: float = typer.Option(
        None, "--minutes", min=0.01, help="Training budget of every run (overrides \\[train])."
    ),
    only: list[str] = typer.Option([], "--only", help="Run only this run (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the commands and stop."),
) -> None:
    """Train every \\[\\[run]] of CONFIG with the same wall-clock budget and seed, score each with 'chromalab
    evaluate', and write results.json, results.md (a table) and comparison.png. Re-running goes on where an
    interrupted experiment stopped; nothing finished is redone."""
    from chromalab.experiment.config import ExperimentError, load_experiment
    from chromalab.experiment.jobs import training_jobs

    if out.exists() and not out.is_dir():
        usage_error(f"-o {out}: is a file; give a folder for the runs and their results")
    try:
        plan = load_experiment(config, cache=cache, minutes=minutes, only=only)
    except ExperimentError as error:
        usage_error(str(error))
    if not plan.cache.is_dir():
        usage_error(f"{plan.cache}: no such cache (make one with 'chromalab prepare')")
    missing = [f"{name} = {path}" for name, path in plan.eval_sets.items() if not path.is_dir()]
    if missing:
        usage_error(f"[evaluate] sets: no such folder: {', '.join(missing)}")
    if dry_run:
        for job in training_jobs(plan, out):
            print(" ".join(job.command))
        print(f"then 'chromalab evaluate' of each model on {', '.join(plan.eval_sets)}", file=sys.stderr)
        raise typer.Exit(EXIT_OK)

    from chromalab.experiment.jobs import evaluation_jobs

    failures = _run("training", training_jobs(plan, out), plan)
    failures += _run("scoring", evaluation_jobs(plan, out), plan)
    rows = _results(plan, out)
    if not rows:
        report_error(out, "no run finished training; see the logs in runs/*/train.log")
        raise typer.Exit(EXIT_SOME_FAILED)
    raise typer.Exit(EXIT_SOME_FAILED if failures else EXIT_OK)


def _run(stage: str, jobs, plan) -> int:
    """Run ``jobs`` with one line per finished job on stderr; returns how many failed."""
    from chromalab.experiment.jobs import run_jobs, waiting

    waiting_jobs = waiting(jobs)
    if not waiting_jobs:
        return 0
    print(
        f"{stage}: {len(waiting_jobs)} job(s), {plan.parallel} at a time, {plan.threads} thread(s) each",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()

    def on_done(job, problem: str | None) -> None:
        minutes = (time.perf_counter() - started) / 60
        if problem is None:
            print(f"  done {job.label} ({minutes:.1f} min since start)", file=sys.stderr, flush=True)
        else:
            report_error(job.label, problem)

    return len(run_jobs(waiting_jobs, parallel=plan.parallel, threads=plan.threads, on_done=on_done))


def _results(plan, out: Path) -> list[dict]:
    """Profile every trained model (one at a time, all threads), then write the JSON, table and figure."""
    from chromalab.experiment import results
    from chromalab.files import atomic_write_text

    speeds = {run.name: results.profile(path) for run, path in results.iter_trained(plan, out)}
    rows = results.collect(plan, out, speeds)
    if not rows:
        return rows
    atomic_write_text(out / results.RESULTS_JSON, json.dumps(rows, indent=1))
    atomic_write_text(out / results.RESULTS_MD, results.markdown_table(rows, list(plan.eval_sets)))
    print(out / results.RESULTS_MD)
    if plan.figure_photos is not None:
        _figure(plan, out)
    return rows


def _figure(plan, out: Path) -> None:
    from chromalab.analysis.figures import save_figure
    from chromalab.experiment.results import FIGURE, comparison_figure

    try:
        fig = comparison_figure(plan, out)
        save_figure(fig, out / FIGURE)
    except (OSError, ValueError) as error:
        report_error(out / FIGURE, error)
        return
    print(out / FIGURE)
