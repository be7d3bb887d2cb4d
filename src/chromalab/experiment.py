"""An equal-budget comparison of models and losses, described by one TOML file.

config.toml -> plan (one ``chromalab train`` and several ``chromalab evaluate`` commands per run) -> the
commands run as child processes, ``parallel`` at a time, each on ``cores / parallel`` threads -> every
run's numbers gathered (results.json), a Markdown table (results.md) and a comparison grid (comparison.png).

Runs share the wall-clock budget (``minutes``), the seed and the cache; everything a run does not set is
taken from ``[train]``. A finished step is never redone: a run with its model file is trained, an
evaluation with its JSON is scored, so an interrupted experiment goes on where it stopped (a run cut off
mid-training resumes from its checkpoint).

The config file (paths relative to the file's folder)::

    [data]
    cache = "cache128"                      # made by `chromalab prepare`
    [evaluate]
    sets = { val128 = "val128", kodak24 = "eval/kodak24" }
    limit = 400                             # photos per set at most, evenly spaced
    size = 128                              # side the networks see
    temperatures = [0.38, 0.6]              # classification models are scored at each
    [figure]
    photos = "eval/kodak24"
    limit = 4
    [train]                                 # shared by every run; a run may override any key
    minutes = 10
    seed = 0
    [[run]]
    name = "zhang-rebalanced-ce"
    model = "zhang-small"
    option = { multiplier = 16 }            # model options (`--option KEY=VALUE`)
    loss = "ce"
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chromalab.training.config import TrainConfig
from chromalab.training.loop import CHECKPOINT, FINAL_MODEL

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS = {"data", "evaluate", "figure", "train", "run", "parallel"}
NOT_ON_COMMAND_LINE = {"model", "model_options", "betas", "rebalance_lambda"}
TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)} - NOT_ON_COMMAND_LINE | {"option", "args"}
RUN_KEYS = TRAIN_KEYS | {"name", "model"}
FLAG_TOGGLES = {"rebalance", "flip", "channels_last"}  # --KEY/--no-KEY
FLAG_SWITCHES = {"compile", "overfit_one"}  # --KEY when true
RESULTS_JSON, RESULTS_MD, FIGURE = "results.json", "results.md", "comparison.png"
PROFILE_SIDE = 256  # ms per image and FLOPs are given at 256 x 256, like docs/models.md


class ExperimentError(ValueError):
    """A config that cannot be run; the message names the file and the problem."""


@dataclass
class RunSpec:
    name: str
    model: str
    train: dict[str, Any]  # chromalab train options: TrainConfig names, plus "option" (dict) and "args" (list)

    @property
    def classification(self) -> bool:
        return TrainConfig(model=self.model, loss=self.train.get("loss", "ce")).classification


@dataclass
class Experiment:
    source: Path
    cache: Path
    eval_sets: dict[str, Path]
    runs: list[RunSpec]
    eval_limit: int | None = None
    eval_size: int = 128
    temperatures: list[float] = field(default_factory=lambda: [0.38])
    figure_photos: Path | None = None
    figure_limit: int = 4
    parallel: int = 2

    @property
    def threads(self) -> int:
        """Threads per child process: the machine's cores shared evenly by the runs at once."""
        return max(1, (os.cpu_count() or 1) // self.parallel)


# -- the config file ---------------------------------------------------------------------------------------
def load_experiment(path: Path, *, cache: Path | None = None, minutes: float | None = None,
                    only: Sequence[str] = ()) -> Experiment:
    """Read and check ``path``; ``cache`` and ``minutes`` override the file, ``only`` keeps those runs."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ExperimentError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ExperimentError(f"{path}: not a readable TOML file ({error})") from None
    where = path.parent

    def section(name: str) -> dict[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise ExperimentError(f"{path}: [{name}] must be a table")
        return value

    _no_unknown(path, "the file", raw, SECTIONS)
    data, evaluate, figure, shared = section("data"), section("evaluate"), section("figure"), section("train")
    _no_unknown(path, "[data]", data, {"cache"})
    _no_unknown(path, "[evaluate]", evaluate, {"sets", "limit", "size", "temperatures"})
    _no_unknown(path, "[figure]", figure, {"photos", "limit"})
    _no_unknown(path, "[train]", shared, TRAIN_KEYS)
    if minutes is not None:
        shared = {**shared, "minutes": minutes}
    if "minutes" not in shared and "max_steps" not in shared:
        raise ExperimentError(f"{path}: [train] needs the shared budget, minutes = N (or max_steps)")
    runs = [_run_spec(path, entry, shared) for entry in _run_tables(path, raw)]
    names = [run.name for run in runs]
    if len(set(names)) != len(names):
        raise ExperimentError(f"{path}: run names must be unique, got {names}")
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ExperimentError(f"{path}: no run named {', '.join(unknown)} (runs: {', '.join(names)})")
        runs = [run for run in runs if run.name in only]
    if cache is None and "cache" not in data:
        raise ExperimentError(f"{path}: [data] cache = PATH is missing (or pass --cache)")
    sets = evaluate.get("sets", {})
    if not isinstance(sets, dict) or not sets:
        raise ExperimentError(f"{path}: [evaluate] sets = {{ name = PATH, ... }} is missing")
    try:
        experiment = Experiment(
            source=path,
            cache=Path(cache) if cache is not None else where / data["cache"],
            eval_sets={name: where / folder for name, folder in sets.items()},
            runs=runs,
            eval_limit=_positive(evaluate.get("limit"), "[evaluate] limit"),
            eval_size=_positive(evaluate.get("size", 128), "[evaluate] size"),
            temperatures=[float(t) for t in evaluate.get("temperatures", [0.38])],
            figure_photos=where / figure["photos"] if "photos" in figure else None,
            figure_limit=_positive(figure.get("limit", 4), "[figure] limit"),
            parallel=_positive(raw.get("parallel", 2), "parallel"),
        )
    except (TypeError, ValueError) as error:
        raise ExperimentError(f"{path}: {error}") from None
    return experiment


def _positive(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _no_unknown(path: Path, where: str, table: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ExperimentError(f"{path}: unknown key{'s' if len(unknown) > 1 else ''} in {where}: {', '.join(unknown)}")


def _run_tables(path: Path, raw: dict[str, Any]) -> list[dict[str, Any]]:
    tables = raw.get("run", [])
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ExperimentError(f"{path}: no [[run]] tables (each names a run and its model)")
    return tables


def _run_spec(path: Path, entry: dict[str, Any], shared: dict[str, Any]) -> RunSpec:
    from chromalab.models import list_models

    name, model = entry.get("name"), entry.get("model")
    if not isinstance(name, str) or not name or "/" in name:
        raise ExperimentError(f"{path}: every [[run]] needs name = \"...\" (a folder name), got {name!r}")
    _no_unknown(path, f"run {name}", entry, RUN_KEYS)
    if model not in {info.name for info in list_models()}:
        raise ExperimentError(f"{path}: run {name}: model {model!r} is not registered (see 'chromalab models')")
    train = {**shared, **{k: v for k, v in entry.items() if k not in ("name", "model")}}
    try:
        TrainConfig(model=model, **{k: v for k, v in train.items() if k not in ("option", "args")}).validate()
    except (TypeError, ValueError) as error:  # a wrong type compares badly: TypeError
        raise ExperimentError(f"{path}: run {name}: {error}") from None
    return RunSpec(name, model, train)


# -- the commands ----------------------------------------------------------------------------------------
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
        return chromalab_command("train", str(experiment.cache), "-o", str(folder), "--resume", *_flags(budget))
    options = [part for key, value in run.train.get("option", {}).items() for part in ("--option", f"{key}={value}")]
    return chromalab_command("train", str(experiment.cache), "--model", run.model, "-o", str(folder),
                             *options, *_flags(run.train), *map(str, run.train.get("args", [])))


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
    command = ["evaluate", str(experiment.eval_sets[scoring.set_name]), "--model", str(model_file(out, run)),
               "--size", str(experiment.eval_size), "--json", str(scoring.json_path(out, run))]
    if scoring.temperature is not None:
        command += ["--temperature", str(scoring.temperature)]
    if experiment.eval_limit:
        command += ["--limit", str(experiment.eval_limit)]
    return chromalab_command(*command)


# -- running ------------------------------------------------------------------------------------------------
@dataclass
class Job:
    """One child process; ``done`` is the file it leaves when it succeeded (if that exists, it is skipped)."""

    label: str
    command: list[str]
    done: Path
    log: Path


def training_jobs(experiment: Experiment, out: Path) -> list[Job]:
    return [Job(f"train {run.name}", train_command(experiment, run, out), model_file(out, run),
                run_dir(out, run) / "train.log") for run in experiment.runs]


def evaluation_jobs(experiment: Experiment, out: Path) -> list[Job]:
    return [Job(f"evaluate {run.name} on {s.label}", evaluate_command(experiment, run, s, out), s.json_path(out, run),
                run_dir(out, run) / f"eval-{s.label}.log")
            for run in experiment.runs if model_file(out, run).is_file() for s in scorings(experiment, run)]


def waiting(jobs: Sequence[Job]) -> list[Job]:
    """The jobs whose result is not there yet."""
    return [job for job in jobs if not job.done.is_file()]


def run_jobs(jobs: Sequence[Job], *, parallel: int, threads: int,
             on_done: Callable[[Job, str | None], None] = lambda job, problem: None) -> list[tuple[Job, str]]:
    """Run ``jobs``, ``parallel`` at a time; returns the failures (job, last line of its log)."""
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}

    def one(job: Job) -> str | None:
        job.log.parent.mkdir(parents=True, exist_ok=True)
        with open(job.log, "w") as log:
            done = subprocess.run(job.command, stdout=log, stderr=subprocess.STDOUT, env=environment, check=False)
        problem = None if done.returncode == 0 and job.done.is_file() else _last_line(job.log, done.returncode)
        on_done(job, problem)
        return problem

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        problems = list(pool.map(one, jobs))
    return [(job, problem) for job, problem in zip(jobs, problems) if problem is not None]


def _last_line(log: Path, returncode: int) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"exit {returncode}: {lines[-1] if lines else 'no output'} (log: {log})"


# -- results ------------------------------------------------------------------------------------------------
def profile(model_path: Path, *, side: int = PROFILE_SIDE, runs: int = 7) -> dict[str, float]:
    """Params, GFLOP and median ms of one forward pass at ``side`` x ``side``, batch 1, all threads."""
    import torch

    from chromalab.checkpoint import load_model
    from chromalab.models.profile import count_flops, count_params, median_time
    from chromalab.models.registry import input_side

    model = load_model(model_path).model
    side = input_side(model, side)  # size-specific models run at their own size
    x = torch.zeros(1, 1, side, side)
    with torch.inference_mode():
        seconds, _ = median_time(lambda: model(x), runs=runs, warmup=2)
    return {"params_M": count_params(model) / 1e6, "gflops": count_flops(model, x) / 1e9, "ms": seconds * 1e3,
            "profile_side": side}


def training_numbers(info: dict[str, Any]) -> dict[str, float]:
    seconds = info.get("train_seconds") or float("nan")
    return {"steps": info.get("steps"), "images_seen": info.get("images_seen"), "train_minutes": seconds / 60,
            "train_images_per_s": (info.get("images_seen") or 0) / seconds}


def collect(experiment: Experiment, out: Path, speeds: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per trained run: its settings, size and speed, and every scoring's metrics."""
    from chromalab.checkpoint import read_metadata

    rows = []
    for run in experiment.runs:
        if not model_file(out, run).is_file():
            continue
        info = read_metadata(model_file(out, run)).get("info", {})
        row = {"name": run.name, "model": run.model, "options": run.train.get("option", {}),
               "loss": run.train.get("loss", "ce"), "rebalance": run.train.get("rebalance", True),
               "bins": run.train.get("bins", "gamut:10") if run.classification else None,
               **training_numbers(info), **speeds.get(run.name, {}), "scores": {}}
        for scoring in scorings(experiment, run):
            if scoring.json_path(out, run).is_file():
                row["scores"][scoring.label] = json.loads(scoring.json_path(out, run).read_text())
        rows.append(row)
    return rows


TABLE_METRICS = (("auc_rebalanced", "AuC-rebal", "{:.2f}"), ("auc", "AuC", "{:.2f}"), ("psnr", "PSNR", "{:.2f}"),
                 ("colorfulness_ratio", "colorful", "{:.2f}"))


def _metric(summary: dict[str, Any], key: str) -> float | None:
    metrics = summary["metrics"]
    if key == "colorfulness_ratio":  # the share of the ground truth's colourfulness
        return metrics["colorfulness"] / metrics["colorfulness_gt"] if metrics.get("colorfulness_gt") else None
    return metrics.get(key)


def markdown_table(rows: list[dict[str, Any]], set_names: Sequence[str]) -> str:
    """Runs x (settings, cost, each set's main metrics at each scoring); a grey-baseline row per set."""
    header = ["run", "model", "loss", "params (M)", f"GFLOP@{PROFILE_SIDE}", f"ms@{PROFILE_SIDE}", "train img/s",
              "images seen", "T"]
    for set_name in set_names:
        header += [f"{set_name} {label}" for _, label, _ in TABLE_METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        temperatures = sorted({_split_label(label)[1] for label in row["scores"]}, key=lambda t: (t is None, t))
        for temperature in temperatures or [None]:
            cells = [row["name"], _model_text(row), _loss_text(row), _num(row.get("params_M"), "{:.2f}"),
                     _num(row.get("gflops"), "{:.2f}"), _num(row.get("ms"), "{:.0f}"),
                     _num(row.get("train_images_per_s"), "{:.1f}"), str(row.get("images_seen", "")),
                     "" if temperature is None else f"{temperature:g}"]
            for set_name in set_names:
                summary = row["scores"].get(set_name if temperature is None else f"{set_name}@T{temperature:g}")
                cells += [_num(_metric(summary, key), fmt) if summary else "" for key, _, fmt in TABLE_METRICS]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append(_baseline_row(rows, set_names))
    return "\n".join(lines) + "\n"


def _split_label(label: str) -> tuple[str, float | None]:
    set_name, _, temperature = label.partition("@T")
    return set_name, float(temperature) if temperature else None


def _baseline_row(rows: list[dict[str, Any]], set_names: Sequence[str]) -> str:
    cells = ["grey input"] + [""] * 8  # the settings and cost columns
    for set_name in set_names:
        summary = next((s for row in rows for label, s in row["scores"].items()
                        if _split_label(label)[0] == set_name), None)
        baseline = {"metrics": summary["gray_baseline"]} if summary else None
        cells += [_num(_metric(baseline, key), fmt) if baseline else "" for key, _, fmt in TABLE_METRICS]
    return "| " + " | ".join(cells) + " |"


def _model_text(row: dict[str, Any]) -> str:
    options = ", ".join(f"{k}={v}" for k, v in row["options"].items())
    return f"{row['model']} ({options})" if options else row["model"]


def _loss_text(row: dict[str, Any]) -> str:
    if row["bins"] is None:
        return row["loss"]
    return f"{row['loss']}{' rebalanced' if row['rebalance'] else ''}, {row['bins']}"


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None or math.isnan(value) else fmt.format(value)


def iter_trained(experiment: Experiment, out: Path) -> Iterator[tuple[RunSpec, Path]]:
    for run in experiment.runs:
        if model_file(out, run).is_file():
            yield run, model_file(out, run)


def atomic_text(path: Path, text: str) -> None:
    from chromalab.files import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(text))


def comparison_figure(experiment: Experiment, out: Path):  # -> matplotlib Figure
    """Rows = the figure's photos; columns = truth, grey, then every trained run (at the first temperature)."""
    from chromalab.analysis import find_images, load_rgb, spaced
    from chromalab.analysis_models import comparison_grid
    from chromalab.pipeline import Colorizer

    photos = [(path.stem, load_rgb(path)) for path in spaced(find_images(experiment.figure_photos),
                                                               experiment.figure_limit)]
    models = [(run.name, Colorizer.load(path, size=experiment.eval_size)) for run, path in iter_trained(experiment, out)]
    return comparison_grid(photos, models, temperature=experiment.temperatures[0])
