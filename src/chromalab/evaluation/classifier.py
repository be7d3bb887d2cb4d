"""The small CNN of the semantic interpretability test (``semantic``): its network, its training on uint8
photos with labels, its predictions, and its own file format (safetensors + JSON description)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from chromalab.files import atomic_write
from chromalab.images import evenly_spaced

FORMAT = "chromalab-semantic/1"
METADATA_KEY = "chromalab-semantic"
DEFAULT_SIDE = 64
# 0.3 M parameters; 4x faster than twice as wide, for more epochs in a budget
DEFAULT_WIDTHS = (
    16,
    32,
    64,
    128,
)
INPUT_MEAN, INPUT_STD = 0.5, 0.25  # RGB in [0, 1] -> about [-2, 2] for the first convolution
TRAIN_ACCURACY_IMAGES = 2048  # evenly spaced train photos scored after training (all, when fewer)


class SemanticClassifier(nn.Module):
    """RGB (B, 3, S, S) normalised -> logits (B, K). Per width: conv-BN-ReLU twice, then 2x2 max-pool."""

    def __init__(self, *, num_classes: int, widths: tuple[int, ...] = DEFAULT_WIDTHS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in widths:
            for _ in range(2):
                layers += [
                    nn.Conv2d(channels, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, S / 2^depth, S / 2^depth)
        return self.head(x.mean(dim=(2, 3)))  # global average pool -> (B, K)


@dataclass
class ClassifierConfig:
    """How the classifier is trained. The run stops at ``epochs`` or ``minutes``, whichever comes first;
    the cosine learning-rate decay follows whichever is further along, so a time budget still ends at a
    low rate. Without ``minutes`` a run is a function of ``seed`` alone."""

    side: int = DEFAULT_SIDE
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    epochs: int = 30
    minutes: float | None = None
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0


def _as_input(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> the classifier's float input, channels_last (1.45x faster convolutions here)."""
    x = (rgb.float() / 255.0 - INPUT_MEAN) / INPUT_STD
    return x.contiguous(memory_format=torch.channels_last)


# -- training ------------------------------------------------------------------------------------------
def _augment(rgb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random left-right flip and a random shift of up to side/16 pixels (reflected border), per photo."""
    batch, _, side, _ = rgb.shape
    pad = max(1, side // 16)
    padded = F.pad(rgb.float(), (pad, pad, pad, pad), mode="reflect")
    shifts = torch.randint(0, 2 * pad + 1, (batch, 2), generator=generator).tolist()
    flips = (torch.rand(batch, generator=generator) < 0.5).tolist()
    out = torch.stack([padded[i, :, y : y + side, x : x + side] for i, (y, x) in enumerate(shifts)])
    flipped = torch.tensor(flips)
    out[flipped] = out[flipped].flip(-1)
    return out.to(torch.uint8)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int,
    config: ClassifierConfig,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> tuple[SemanticClassifier, dict[str, Any]]:
    """Train on uint8 photos (N, 3, S, S) and labels (N,); returns the model (eval mode) and training facts.

    ``on_epoch(epoch, mean loss, seconds so far)`` is called after each epoch.
    """
    torch.manual_seed(config.seed)
    model = SemanticClassifier(num_classes=num_classes, widths=config.widths).to(
        memory_format=torch.channels_last
    )
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    count = len(labels)
    batch = min(config.batch_size, count)
    starts = range(0, count - batch + 1, batch)  # the last partial batch is dropped (BatchNorm, steady steps)
    total_steps = config.epochs * len(starts)
    budget = math.inf if config.minutes is None else config.minutes * 60.0
    started, step, epoch_loss = time.perf_counter(), 0, math.nan
    for epoch in range(config.epochs):
        order = torch.randperm(count, generator=generator)
        model.train()
        losses = []
        for start in starts:
            progress = max(step / total_steps, (time.perf_counter() - started) / budget)
            if progress >= 1.0:
                break
            for group in optimiser.param_groups:  # cosine decay to zero over the steps or the minutes
                group["lr"] = config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
            index = order[start : start + batch]
            logits = model(_as_input(_augment(images[index], generator)))  # (B, K)
            loss = F.cross_entropy(logits, labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            step += 1
        if not losses:
            break  # the time budget ran out
        epoch_loss = float(np.mean(losses))
        if on_epoch is not None:
            on_epoch(epoch + 1, epoch_loss, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    model.eval()
    facts = {
        **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "epochs_done": round(step / len(starts), 3),  # fractional when the time budget ends an epoch early
        "steps": step,
        "train_images": count,
        "seconds": round(seconds, 2),
        "images_per_second": round(step * batch / max(seconds, 1e-9), 1),
        "final_loss": round(epoch_loss, 4) if step else None,  # mean over the last (possibly partial) epoch
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return model, {**facts, **_train_accuracy(model, images, labels)}


def _train_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Accuracy on (at most TRAIN_ACCURACY_IMAGES evenly spaced) training photos, without augmentation."""
    scored = torch.tensor(evenly_spaced(range(len(labels)), TRAIN_ACCURACY_IMAGES), dtype=torch.long)
    return {
        "train_accuracy": accuracy(model, images[scored], labels[scored]),
        "train_accuracy_images": len(scored),
    }


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """Top-1 class (N,) of uint8 photos (N, 3, S, S); the model must be in eval mode."""
    assert not model.training, "predict needs eval mode (BatchNorm running statistics)"
    out = [model(_as_input(images[i : i + batch_size])).argmax(1) for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predict(model, images) == labels).double().mean()) if len(labels) else math.nan


# -- classifier files ----------------------------------------------------------------------------------
def save_classifier(path: Path, model: SemanticClassifier, meta: dict[str, Any]) -> None:
    """Weights (safetensors) + JSON description (classes, side, widths, training facts), written
    atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = {METADATA_KEY: json.dumps({"format": FORMAT, **meta})}
    atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_classifier(path: Path) -> tuple[SemanticClassifier, dict[str, Any]]:
    """A classifier written by ``save_classifier`` (eval mode) and its description; ValueError otherwise."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from None
    meta = json.loads(raw) if raw is not None else {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a semantic classifier file (expected format {FORMAT})")
    model = SemanticClassifier(num_classes=len(meta["classes"]), widths=tuple(meta["widths"]))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise ValueError(
            f"{path}: weights do not fit the described classifier ({str(error).splitlines()[0]})"
        ) from None
    return model.to(memory_format=torch.channels_last).eval(), meta
