"""One self-contained HTML page about a training run: figures and numbers, no external assets.

``write_report(RUN, OUT_DIR)`` gathers from a run folder (``training.loop``'s layout):

- ``metrics.jsonl``: the last epoch line (train / validation loss) and the loss curves;
- ``samples/epoch-NNN.png``: the latest validation samples;
- ``model.safetensors`` (or, while a run is still going, ``checkpoint.safetensors``): architecture, bin set,
  stored prior, training facts; and the figures drawn with the model: bins at L = 50, prior heat map,
  temperature sweep and activation maps on one validation photo of the run's cache (or a bundled
  scikit-image photo when the cache is gone);
- ``*.json`` files written by ``chromalab evaluate --json`` (e.g. ``eval-val.json``): their metrics next to
  the grey baseline.

Images are embedded as base64 PNG data URIs; the page is written atomically. Whatever is missing is named
on the page (and in ``Report.missing``) instead of failing the whole report.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chromalab.analysis.ab_data import is_cache
from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.evaluation.metrics import INTERFACE_METRICS
from chromalab.files import atomic_write_text
from chromalab.training.run_folder import CHECKPOINT, FINAL_MODEL, METRICS, SAMPLES, read_metrics

REPORT_FILE = "index.html"
MODEL_FILES = (FINAL_MODEL, CHECKPOINT)  # final model first; a running run's latest


@dataclass
class Report:
    """What went into the page: sections of HTML, and what was missing."""

    run: Path
    sections: list[str] = field(default_factory=list)  # model and numbers first, then the figures
    appendix: list[str] = field(default_factory=list)  # long tables (training configuration) at the end
    missing: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # titles of the embedded images
    model_file: Path | None = None  # the model file the figures were drawn with
    figure_sections: list[str] = field(default_factory=list)

    def figure(self, title: str, png: bytes, caption: str = "") -> None:
        data = base64.b64encode(png).decode("ascii")
        text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.figure_sections.append(
            f"<figure><h3>{html.escape(title)}</h3>"
            f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">{text}</figure>'
        )
        self.figures.append(title)

    def lack(self, what: str) -> None:
        self.missing.append(what)


def is_run(path: Path) -> bool:
    """Does ``path`` look like a run folder (anything ``chromalab train`` writes)?"""
    return any((path / name).is_file() for name in (*MODEL_FILES, METRICS)) or (path / SAMPLES).is_dir()


def build_report(run: Path, *, size: int | None = None) -> Report:
    """Gather everything about ``run`` into a ``Report`` (``render`` turns it into the page)."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder")
    if not is_run(run):
        raise ValueError(f"{run}: not a run folder (no {', '.join(MODEL_FILES)}, {METRICS} or samples/)")
    report = Report(run)
    _numbers(report)
    _loss_and_samples(report)
    _model_figures(report, size=size)
    return report


# -- numbers ------------------------------------------------------------------------------------------------
def _numbers(report: Report) -> None:
    metrics = report.run / METRICS
    if metrics.is_file():
        epochs = [r for r in read_metrics(metrics, skip_unreadable=True) if r.get("kind") == "epoch"]
        if epochs:
            report.sections.append(_table(f"Last epoch ({METRICS})", epochs[-1]))
        else:
            report.lack(f"{METRICS} has no finished epoch yet")
    else:
        report.lack(METRICS)
    evaluations = _evaluations(report.run)
    for name, summary in evaluations:
        report.sections.append(_evaluation_table(name, summary))
    if not evaluations:
        report.lack(
            "evaluation JSON (chromalab evaluate DATA --model RUN/model.safetensors --json RUN/eval.json)"
        )


def _evaluations(run: Path) -> list[tuple[str, dict]]:
    """``chromalab evaluate --json`` summaries in the run folder: dicts with "metrics" and "gray_baseline"."""
    found = []
    for path in sorted(run.glob("*.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(summary, dict) and isinstance(summary.get("metrics"), dict):
            found.append((path.name, summary))
    return found


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _table(title: str, values: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_format(v))}</td></tr>"
        for k, v in values.items()
    )
    return f"<section><h2>{html.escape(title)}</h2><table>{rows}</table></section>"


def _evaluation_table(name: str, summary: dict) -> str:
    ours, grey = summary["metrics"], summary.get("gray_baseline") or {}
    keys = [k for k in INTERFACE_METRICS if k in ours] + [
        k for k in ours if k not in INTERFACE_METRICS and _is_number(ours[k])
    ]
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(_format(ours.get(k)))}</td>"
        f"<td>{html.escape(_format(grey.get(k, '')))}</td></tr>"
        for k in keys
    )
    facts = ", ".join(f"{k} {ours[k]}" for k in ("model", "bins", "size", "temperature") if k in ours)
    head = "<tr><th>metric</th><th>model</th><th>grey baseline</th></tr>"
    return (
        f"<section><h2>Evaluation: {html.escape(name)}</h2><p>{summary.get('images', '?')} images; "
        f"{html.escape(facts)}</p><table>{head}{rows}</table></section>"
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- figures
# --------------------------------------------------------------------------------------------------
def _loss_and_samples(report: Report) -> None:
    from chromalab.analysis.model_figures import save_run_loss_curves

    try:
        with tempfile.TemporaryDirectory() as tmp:
            save_run_loss_curves(report.run, Path(tmp) / "loss.png")
            report.figure(
                "Loss curves",
                (Path(tmp) / "loss.png").read_bytes(),
                "train loss per logged step, validation loss per epoch",
            )
    except (OSError, ValueError) as error:
        report.lack(f"loss curves ({error})")
    samples = sorted((report.run / SAMPLES).glob("epoch-*.png"))
    if samples:
        report.figure(
            f"Validation samples, {samples[-1].stem}",
            samples[-1].read_bytes(),
            f"each row: ground truth | grey input | prediction (T = {DEFAULT_TEMPERATURE:g})",
        )
    else:
        report.lack("samples/epoch-NNN.png (written at the end of each epoch)")


def _model_figures(report: Report, *, size: int | None) -> None:
    from chromalab.analysis.ab_plane import plot_bin_prior, plot_bins
    from chromalab.analysis.figures import figure_png
    from chromalab.analysis.model_figures import activation_maps, temperature_sweep
    from chromalab.colorize.torch_backend import Colorizer
    from chromalab.models.checkpoint import load_model

    path = next((report.run / name for name in MODEL_FILES if (report.run / name).is_file()), None)
    if path is None:
        report.lack(
            f"{MODEL_FILES[0]} (training has not finished; and no {MODEL_FILES[1]} either): no bins, "
            "prior, temperature or activation figures"
        )
        return
    if path.name != MODEL_FILES[0]:
        report.lack(f"{MODEL_FILES[0]} (training has not finished): figures use the latest {path.name}")
    report.model_file = path
    try:
        loaded = load_model(path)
    except (OSError, ValueError) as error:
        report.lack(f"a readable model ({error})")
        return
    info = {k: v for k, v in loaded.spec.info.items() if k not in ("train_config", "train_state")}
    summary = {
        "file": path.name,
        "architecture": loaded.spec.model,
        "options": loaded.spec.options,
        "bins": loaded.spec.bins or "none (regression)",
        **info,
    }
    report.sections.insert(0, _table("Model", summary))
    if "train_config" in loaded.spec.info:
        report.appendix.append(_table("Training configuration", loaded.spec.info["train_config"]))
    title = f"{report.run.resolve().name}/{path.stem}"
    photo, where = sample_photo(_find_cache(report.run, loaded.spec.info.get("cache")))
    # the network sees the photo at its own size (the cache's), within [32, 256] unless ``size`` says
    # otherwise
    size = size or (int(np.clip(max(photo.shape[:2]), 32, 256)) if photo is not None else 256)
    colorizer = Colorizer(loaded.model, bins=loaded.bins, spec=loaded.spec, size=size)
    if loaded.bins is None:
        report.lack("bins, prior and temperature figures (a regression model has no bins)")
    else:
        report.figure(f"Bin set {loaded.bins.spec}", figure_png(plot_bins(loaded.bins)), "each bin at L = 50")
        if loaded.prior is not None:
            report.figure(
                "Prior stored in the model",
                figure_png(plot_bin_prior(loaded.bins, loaded.prior)),
                "frequency of each bin over the training pixels, log scale",
            )
        else:
            report.lack("the prior (not stored in the model file)")
        if photo is not None:
            report.figure(
                "Temperature sweep",
                figure_png(temperature_sweep(colorizer, photo, name=title)),
                f"on {where}; T = 0 is the mode, T = 1 the mean",
            )
    if photo is None:
        report.lack(f"a photo for the temperature and activation figures ({where})")
        return
    report.figure("Activations", figure_png(activation_maps(colorizer, photo, name=title)), f"on {where}")


def _find_cache(run: Path, stored: str | None) -> Path | None:
    """The run's cache: the stored path (relative to where ``train`` ran), else relative to the run folder."""
    if not stored:
        return None
    candidates = [Path(stored), run / stored, run.parent / stored]
    return next((c for c in candidates if is_cache(c)), None)


def sample_photo(cache_path: str | Path | None) -> tuple[np.ndarray | None, str]:
    """(uint8 RGB, description): the first validation photo of the run's cache, else scikit-image's
    astronaut."""
    if cache_path and is_cache(Path(cache_path)):
        import torch

        from chromalab.color.lab import lab_to_srgb8
        from chromalab.data.cache import Cache

        try:
            cache = Cache(cache_path)
            rows = cache.val_indices if len(cache.val_indices) else cache.train_indices
            row = int(rows[0])
            return lab_to_srgb8(
                torch.from_numpy(cache.lab(row))
            ).numpy(), f"validation photo {row} of {cache_path}"
        except (OSError, ValueError, IndexError):
            pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from skimage import data
        return np.ascontiguousarray(
            data.astronaut()[::4, ::4]
        ), "scikit-image's astronaut (the run's cache is gone)"
    except ImportError:
        return None, "the run's cache is gone and scikit-image is not installed"


# -- the page
# ---------------------------------------------------------------------------------------------------
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; } th, td { padding: 2px 10px; text-align: left; }
tr:nth-child(even) { background: #f4f4f4; } td { font-family: ui-monospace, monospace; }
figure { margin: 1.5em 0; } img { max-width: 100%; image-rendering: pixelated; border: 1px solid #ddd; }
.missing { background: #fff4e0; border-left: 4px solid #e90; padding: 0.5em 1em; }
"""


def render(report: Report) -> str:
    """The page: title, what is missing, then the sections in order."""
    name = html.escape(report.run.resolve().name)
    missing = ""
    if report.missing:
        items = "".join(f"<li>{html.escape(m)}</li>" for m in report.missing)
        missing = f'<div class="missing"><h2>Missing</h2><ul>{items}</ul></div>'
    body = "\n".join([*report.sections, *report.figure_sections, *report.appendix])
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>chromalab run {name}</title>'
        f"<style>{STYLE}</style></head><body><h1>chromalab run {name}</h1>"
        f"<p>{html.escape(str(report.run))}</p>{missing}\n{body}\n</body></html>\n"
    )


def write_report(run: Path, out_dir: Path, *, size: int | None = None) -> tuple[Path, Report]:
    """Build the report of ``run`` and write ``out_dir/index.html`` atomically; returns (path, report)."""
    report = build_report(run, size=size)
    page = render(report)
    assert not re.search(r'src="(?!data:)', page), "the page must not reference external files"
    target = Path(out_dir) / REPORT_FILE
    atomic_write_text(target, page)
    return target, report
