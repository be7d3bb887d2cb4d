"""Pictures a run draws as it goes: loss curves and validation colorizations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from chromalab.color.bins import Bins
from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.color.lab import denormalize_ab, join_lightness, normalize_l
from chromalab.color.srgb8 import grey_rendering
from chromalab.files import atomic_write
from chromalab.training.batches import load_batch
from chromalab.training.run_folder import read_metrics


def save_loss_curves(metrics_path: Path, out: Path) -> None:
    """Train loss per logged step and validation loss per epoch, against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    steps = [(r["step"], r["loss"]) for r in records if r.get("kind") == "step"]
    epochs = [(r["step"], r["val_loss"]) for r in records if r.get("kind") == "epoch" and "val_loss" in r]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    if steps:
        x, y = zip(*steps, strict=True)
        ax.plot(x, y, lw=0.8, alpha=0.8, label="train")
    if epochs:
        x, y = zip(*epochs, strict=True)
        ax.plot(x, y, "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)


@torch.inference_mode()
def save_samples(
    out: Path,
    model: nn.Module,
    bins: Bins | None,
    l_codes: np.ndarray,
    ab_codes: np.ndarray,
    indices: np.ndarray,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
) -> None:
    """One row per photo: ground truth | grey | prediction."""
    model.eval()
    lightness, ab = load_batch(l_codes, ab_codes, np.asarray(indices))
    output = model(normalize_l(lightness))
    predicted = bins.decode(output, temperature=temperature) if bins is not None else denormalize_ab(output)
    rows = []
    for l_img, ab_true, ab_pred in zip(lightness[:, 0], ab, predicted, strict=True):
        panels = [
            join_lightness(l_img, ab_true).numpy(),
            grey_rendering(l_img),
            join_lightness(l_img, ab_pred).numpy(),
        ]
        rows.append(np.concatenate(panels, axis=1))
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    atomic_write(out, lambda tmp: sheet.save(tmp, format="PNG"))
