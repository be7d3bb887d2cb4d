"""An equal-budget comparison's TOML file, read and checked into an ``Experiment``.

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
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.training.config import TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS = {"data", "evaluate", "figure", "train", "run", "parallel"}
NOT_ON_COMMAND_LINE = {"model", "model_options", "betas", "rebalance_lambda"}
TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainConfig)} - NOT_ON_COMMAND_LINE | {"option", "args"}
RUN_KEYS = TRAIN_KEYS | {"name", "model"}


class ExperimentError(ValueError):
    """A config that cannot be run; the message names the file and the problem."""


@dataclass
class RunSpec:
    name: str
    model: str
    # chromalab train options: TrainConfig names, plus "option" (dict) and "args" (list)
    train: dict[str, Any]

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
    temperatures: list[float] = field(default_factory=lambda: [DEFAULT_TEMPERATURE])
    figure_photos: Path | None = None
    figure_limit: int = 4
    parallel: int = 2

    @property
    def threads(self) -> int:
        """Threads per child process: the machine's cores shared evenly by the runs at once."""
        return max(1, (os.cpu_count() or 1) // self.parallel)


# -- the config file ---------------------------------------------------------------------------------------
def load_experiment(
    path: Path, *, cache: Path | None = None, minutes: float | None = None, only: Sequence[str] = ()
) -> Experiment:
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
            temperatures=[float(t) for t in evaluate.get("temperatures", [DEFAULT_TEMPERATURE])],
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
        raise ExperimentError(
            f"{path}: unknown key{'s' if len(unknown) > 1 else ''} in {where}: {', '.join(unknown)}"
        )


def _run_tables(path: Path, raw: dict[str, Any]) -> list[dict[str, Any]]:
    tables = raw.get("run", [])
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise ExperimentError(f"{path}: no [[run]] tables (each names a run and its model)")
    return tables


def _run_spec(path: Path, entry: dict[str, Any], shared: dict[str, Any]) -> RunSpec:
    from chromalab.models import list_models

    name, model = entry.get("name"), entry.get("model")
    if not isinstance(name, str) or not name or "/" in name:
        raise ExperimentError(f'{path}: every [[run]] needs name = "..." (a folder name), got {name!r}')
    _no_unknown(path, f"run {name}", entry, RUN_KEYS)
    if model not in {info.name for info in list_models()}:
        raise ExperimentError(
            f"{path}: run {name}: model {model!r} is not registered (see 'chromalab models')"
        )
    train = {**shared, **{k: v for k, v in entry.items() if k not in ("name", "model")}}
    try:
        TrainConfig(model=model, **{k: v for k, v in train.items() if k not in ("option", "args")}).validate()
    except (TypeError, ValueError) as error:  # a wrong type compares badly: TypeError
        raise ExperimentError(f"{path}: run {name}: {error}") from None
    return RunSpec(name, model, train)
