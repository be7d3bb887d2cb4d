"""What a run folder holds (``chromalab train -o RUN``), and reading its metrics log.

RUN/ holds ``checkpoint.safetensors`` (latest state, resumable), ``model.safetensors`` (final weights for
``Colorizer.load``), ``metrics.jsonl`` (one JSON line per logged step and per epoch), ``loss.png`` and
``samples/epoch-NNN.png`` (ground truth / grey / prediction for a few validation photos).
"""

from __future__ import annotations

import json
from pathlib import Path

CHECKPOINT = "checkpoint.safetensors"
FINAL_MODEL = "model.safetensors"
METRICS = "metrics.jsonl"
LOSS_FIGURE = "loss.png"
SAMPLES = "samples"
TRAIN_LOG = "train.log"  # where 'chromalab experiment' writes a run's training output
# what a run folder may hold before its first checkpoint: the metrics of a run killed that early, and the log
# an experiment writes its training command's output to
EARLY_FILES = frozenset({METRICS, LOSS_FIGURE, SAMPLES, TRAIN_LOG})


def check_new_run_folder(run_dir: Path, *, clear: bool = True) -> None:
    """``FileExistsError`` unless ``run_dir`` can take a new run: missing, empty, or holding only what a run
    killed before its first checkpoint left (whose metrics are started afresh with ``clear``: ``METRICS``
    removed; one process of a multi-process run clears).
    Never another folder's files: ``-o`` naming a photo folder or a cache by mistake writes nothing there."""
    if not run_dir.is_dir():
        if run_dir.exists():
            raise FileExistsError(f"{run_dir} is a file; give a folder for the run")
        return
    foreign = sorted(entry.name for entry in run_dir.iterdir() if entry.name not in EARLY_FILES)
    if foreign:
        raise FileExistsError(
            f"{run_dir} is not empty and holds no run (e.g. {foreign[0]}); give a new or empty folder"
        )
    if clear:
        (run_dir / METRICS).unlink(missing_ok=True)  # a run killed before its first checkpoint: begun again


def read_metrics(path: Path, *, skip_unreadable: bool = False) -> list[dict]:
    """The records of a metrics log ([] when there is none). A line that is not JSON raises
    ``json.JSONDecodeError``, or is skipped with ``skip_unreadable`` (a line a running training is
    writing)."""
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if not line.strip() or skip_unreadable:
                continue
            raise
    return records
