"""Training checkpoints: a model file (see ``models.checkpoint``) that also carries the optimiser, the LR
scheduler, the step counters and the RNG states, so ``--resume`` continues exactly where a run stopped.

Optimiser tensors are stored as ``optim.<param index>.<name>``; everything else that is not a tensor
lives in the JSON metadata under ``info["train_state"]``. Nothing is pickled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from chromalab.color.bins import Bins
from chromalab.models.checkpoint import ModelSpec, load_model, save_model

OPTIM_PREFIX = "optim."
ADVERSARY_PREFIX = "adversary."  # a GAN's discriminator: its weights and its optimiser, beside the model's
RNG_KEY = "rng.torch"


@dataclass
class Adversary:
    """A GAN's discriminator and its optimiser (pix2pix), trained beside the model."""

    network: nn.Module
    optimizer: torch.optim.Optimizer


@dataclass
class Progress:
    """Counters that say where a run is; saved with every checkpoint."""

    step: int = 0  # optimiser steps taken
    epoch: int = 0  # current epoch (0-based)
    batch_in_epoch: int = 0  # batches of the current epoch already consumed
    images_seen: int = 0
    seconds: float = 0.0  # training wall time so far, summed over resumed sessions
    best_val: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)  # per-epoch summaries


def optimizer_tensors(
    optimizer: torch.optim.Optimizer, prefix: str = OPTIM_PREFIX
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser's state into tensors (keys ``prefix<param index>.<name>``) and JSON-able data."""
    state = optimizer.state_dict()
    tensors = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(
    optimizer: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    data: dict[str, Any],
    prefix: str = OPTIM_PREFIX,
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, name = key[len(prefix) :].split(".", 1)
            state.setdefault(int(index), {})[name] = value
    for index, entry in data.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(entry)
    optimizer.load_state_dict({"state": state, "param_groups": data["param_groups"]})


def save_training(
    path: Path,
    model: nn.Module,
    spec: ModelSpec,
    *,
    bins: Bins | None,
    prior: torch.Tensor | None,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    progress: Progress,
    adversary: Adversary | None = None,
) -> None:
    """Atomically write everything needed to resume."""
    tensors, optim_data = optimizer_tensors(optimizer)
    tensors[RNG_KEY] = torch.get_rng_state()
    train_state = {
        "progress": progress.__dict__,
        "optimizer": optim_data,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
    }
    if adversary is not None:
        prefix = ADVERSARY_PREFIX + OPTIM_PREFIX
        adversary_tensors, train_state["adversary_optimizer"] = optimizer_tensors(adversary.optimizer, prefix)
        tensors.update(adversary_tensors)
        for key, value in adversary.network.state_dict().items():
            tensors[f"{ADVERSARY_PREFIX}model.{key}"] = value.detach().cpu().contiguous()
    stamped = ModelSpec(spec.model, spec.options, spec.bins, {**spec.info, "train_state": train_state})
    save_model(path, model, stamped, bins=bins, prior=prior, extra=tensors)


def load_training(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    adversary: Adversary | None = None,
) -> Progress:
    """Load weights, optimiser, scheduler, RNG state (and a GAN's discriminator) into the given objects."""
    loaded = load_model(path)
    train_state = loaded.spec.info.get("train_state")
    if train_state is None:
        raise ValueError(f"{path}: a model file without training state cannot be resumed")
    model.load_state_dict(loaded.model.state_dict())
    restore_optimizer(optimizer, loaded.tensors, train_state["optimizer"])
    if scheduler is not None and train_state.get("scheduler") is not None:
        scheduler.load_state_dict(train_state["scheduler"])
    torch.set_rng_state(loaded.tensors[RNG_KEY])
    if adversary is not None:
        prefix = f"{ADVERSARY_PREFIX}model."
        adversary.network.load_state_dict(
            {k[len(prefix) :]: v for k, v in loaded.tensors.items() if k.startswith(prefix)}
        )
        restore_optimizer(
            adversary.optimizer,
            loaded.tensors,
            train_state["adversary_optimizer"],
            ADVERSARY_PREFIX + OPTIM_PREFIX,
        )
    return Progress(**train_state["progress"])


def export_model(
    path: Path, model: nn.Module, spec: ModelSpec, *, bins: Bins | None, prior: torch.Tensor | None
) -> None:
    """The final model alone (no optimiser): what ``Colorizer.load`` and ``evaluate`` read."""
    info = {k: v for k, v in spec.info.items() if k != "train_state"}
    save_model(path, model, ModelSpec(spec.model, spec.options, spec.bins, info), bins=bins, prior=prior)
