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
