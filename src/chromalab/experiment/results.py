"""An experiment's results: every trained run profiled and its scores gathered (``results.json``), one
Markdown table (``results.md``) and a grid of colorizations (``comparison.png``)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from chromalab.evaluation.metrics import METRIC_FORMATS
from chromalab.experiment.config import Experiment, RunSpec
from chromalab.experiment.jobs import model_file, scorings

RESULTS_JSON, RESULTS_MD, FIGURE = "results.json", "results.md", "comparison.png"
PROFILE_SIDE = 256  # ms per image and FLOPs are given at 256 x 256, like docs/models.md


def profile(model_path: Path, *, side: int = PROFILE_SIDE, runs: int = 7) -> dict[str, float]:
    """Params, GFLOP and median ms of one forward pass at ``side`` x ``side``, batch 1, all threads."""
    import torch

    from chromalab.models.checkpoint import load_model
    from chromalab.models.profile import count_flops, count_params, median_time
    from chromalab.models.registry import input_side

    model = load_model(model_path).model
    side = input_side(model, side)  # size-specific models run at their own size
    x = torch.zeros(1, 1, side, side)
    with torch.inference_mode():
        seconds, _ = median_time(lambda: model(x), runs=runs, warmup=2)
    return {
        "params_M": count_params(model) / 1e6,
        "gflops": count_flops(model, x) / 1e9,
        "ms": seconds * 1e3,
        "profile_side": side,
    }


def training_numbers(info: dict[str, Any]) -> dict[str, float]:
    seconds = info.get("train_seconds") or float("nan")
    return {
        "steps": info.get("steps"),
        "images_seen": info.get("images_seen"),
        "train_minutes": seconds / 60,
        "train_images_per_s": (info.get("images_seen") or 0) / seconds,
    }


def collect(experiment: Experiment, out: Path, speeds: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per trained run: its settings, size and speed, and every scoring's metrics."""
    from chromalab.models.checkpoint import read_metadata

    rows = []
    for run in experiment.runs:
        if not model_file(out, run).is_file():
            continue
        info = read_metadata(model_file(out, run)).get("info", {})
        row = {
            "name": run.name,
            "model": run.model,
            "options": run.train.get("option", {}),
            "loss": run.train.get("loss", "ce"),
            "rebalance": run.train.get("rebalance", True),
            "bins": run.train.get("bins", "gamut:10") if run.classification else None,
            **training_numbers(info),
            **speeds.get(run.name, {}),
            "scores": {},
        }
        for scoring in scorings(experiment, run):
            if scoring.json_path(out, run).is_file():
                row["scores"][scoring.label] = json.loads(scoring.json_path(out, run).read_text())
        rows.append(row)
    return rows


# (metric, column title): the short columns of the table; colorfulness_ratio is the share of the ground
# truth's
TABLE_METRICS = tuple(
    (key, title, METRIC_FORMATS.get(key, "{:.2f}"))
    for key, title in (
        ("auc_rebalanced", "AuC-rebal"),
        ("auc", "AuC"),
        ("psnr", "PSNR"),
        ("colorfulness_ratio", "colorful"),
    )
)


def _metric(summary: dict[str, Any], key: str) -> float | None:
    metrics = summary["metrics"]
    if key == "colorfulness_ratio":  # the share of the ground truth's colourfulness
        return (
            metrics["colorfulness"] / metrics["colorfulness_gt"] if metrics.get("colorfulness_gt") else None
        )
    return metrics.get(key)


def markdown_table(rows: list[dict[str, Any]], set_names: Sequence[str]) -> str:
    """Runs x (settings, cost, each set's main metrics at each scoring); a grey-baseline row per set."""
    header = [
        "run",
        "model",
        "loss",
        "params (M)",
        f"GFLOP@{PROFILE_SIDE}",
        f"ms@{PROFILE_SIDE}",
        "train img/s",
        "images seen",
        "T",
    ]
    for set_name in set_names:
        header += [f"{set_name} {label}" for _, label, _ in TABLE_METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        temperatures = sorted(
            {_split_label(label)[1] for label in row["scores"]}, key=lambda t: (t is None, t)
        )
        for temperature in temperatures or [None]:
            cells = [
                row["name"],
                _model_text(row),
                _loss_text(row),
                _num(row.get("params_M"), "{:.2f}"),
                _num(row.get("gflops"), "{:.2f}"),
                _num(row.get("ms"), "{:.0f}"),
                _num(row.get("train_images_per_s"), "{:.1f}"),
                str(row.get("images_seen", "")),
                "" if temperature is None else f"{temperature:g}",
            ]
            for set_name in set_names:
                summary = row["scores"].get(
                    set_name if temperature is None else f"{set_name}@T{temperature:g}"
                )
                cells += [
                    _num(_metric(summary, key), fmt) if summary else "" for key, _, fmt in TABLE_METRICS
                ]
            lines.append("| " + " | ".join(cells) + " |")
    lines.append(_baseline_row(rows, set_names))
    return "\n".join(lines) + "\n"


def _split_label(label: str) -> tuple[str, float | None]:
    set_name, _, temperature = label.partition("@T")
    return set_name, float(temperature) if temperature else None


def _baseline_row(rows: list[dict[str, Any]], set_names: Sequence[str]) -> str:
    cells = ["grey input"] + [""] * 8  # the settings and cost columns
    for set_name in set_names:
        summary = next(
            (s for row in rows for label, s in row["scores"].items() if _split_label(label)[0] == set_name),
            None,
        )
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


def comparison_figure(experiment: Experiment, out: Path):  # -> matplotlib Figure
    """Rows = the figure's photos; columns = truth, grey, then every trained run (at the first
    temperature)."""
    from chromalab.analysis.ab_data import find_images, load_rgb
    from chromalab.analysis.model_figures import comparison_grid
    from chromalab.colorize.torch_backend import Colorizer
    from chromalab.images import evenly_spaced

    photos = [
        (path.stem, load_rgb(path))
        for path in evenly_spaced(find_images(experiment.figure_photos), experiment.figure_limit)
    ]
    models = [
        (run.name, Colorizer.load(path, size=experiment.eval_size))
        for run, path in iter_trained(experiment, out)
    ]
    return comparison_grid(photos, models, temperature=experiment.temperatures[0])
