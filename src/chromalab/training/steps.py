"""One training step and what it needs: the ``Run`` (network, optimiser, loss, bins), the loss a config
names, the step itself (cross-entropy or regression, hints, half-size batches; pix2pix through ``gan``), the
validation loss and the step schedule of the learning rate. ``loop.Trainer`` calls these.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from chromalab.color.bins import Bins, rebalancing_weights
from chromalab.color.lab import normalize_l
from chromalab.models import create_model, model_info
from chromalab.models.checkpoint import ModelSpec
from chromalab.models.pix2pix import PatchDiscriminator
from chromalab.training import distributed
from chromalab.training.batches import (
    batch_slices,
    load_batch,
)
from chromalab.training.config import TrainConfig
from chromalab.training.gan import PIX2PIX_BETAS, gan_step
from chromalab.training.losses import auxiliary_loss, cross_entropy, regression
from chromalab.training.state import Adversary


class TrainingError(RuntimeError):
    """A run cannot go on (diverged, nothing to resume...); the message is for the user."""


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Run:
    """Everything a step needs, built once."""

    config: TrainConfig
    spec: ModelSpec
    model: nn.Module  # the bare network (what is saved)
    wrapped: nn.Module  # what is called: the network, maybe compiled / wrapped in DDP
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau | None
    loss_fn: LossFn  # the training loss; for a GAN, the L2 it reports for validation
    bins: Bins | None
    prior: torch.Tensor | None
    adversary: Adversary | None = None  # the discriminator of ``--loss gan``


def make_loss(config: TrainConfig, bins: Bins | None, class_weights: torch.Tensor | None) -> LossFn:
    if config.classification:
        assert bins is not None
        return lambda out, ab: cross_entropy(
            out, ab, bins, encoding=config.encoding, class_weights=class_weights
        )
    return lambda out, ab: regression(out, ab, kind="l2" if config.loss == "gan" else config.loss)


def training_step(
    run: Run,
    lightness: torch.Tensor,
    ab: torch.Tensor,
    labels: torch.Tensor | None = None,
    hints: torch.Tensor | None = None,
) -> float:
    """One optimiser step on a batch: L (B, 1, S, S), ab (B, 2, S, S) in Lab units, class labels (B,), hint
    maps (B, 3, S, S) for a network that takes them."""
    if run.adversary is not None:
        return _finite(
            gan_step(
                run.wrapped, run.adversary.network, run.optimizer, run.adversary.optimizer, lightness, ab
            )["g_loss"]
        )
    run.wrapped.train()
    x = normalize_l(lightness)
    if run.config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    # (B, Q, h, w) logits or (B, 2, h, w) ab
    output = run.wrapped(x) if hints is None else run.wrapped(x, hints)
    loss = run.loss_fn(output, ab)
    if run.config.class_loss_weight > 0:  # Iizuka et al. 2016: the global features also name the scene
        loss = loss + run.config.class_loss_weight * auxiliary_loss(run.model, labels)
    _finite(float(loss.detach()))
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    return float(loss.item())


def _finite(loss: float) -> float:
    if not math.isfinite(loss):
        raise TrainingError(
            f"loss became {loss} at this step; the last good checkpoint is kept (try a lower --lr)"
        )
    return loss


@torch.inference_mode()
def validation_loss(run: Run, l_codes: np.ndarray, ab_codes: np.ndarray, indices: np.ndarray) -> float:
    run.model.eval()
    total, count = 0.0, 0
    for part in batch_slices(len(indices), min(run.config.batch_size, len(indices))):
        lightness, ab = load_batch(l_codes, ab_codes, indices[part])
        total += float(run.loss_fn(run.model(normalize_l(lightness)), ab)) * len(lightness)
        count += len(lightness)
    return total / max(count, 1)


def step_lr(config: TrainConfig, fraction_done: float) -> float:
    """Lin and Liu's two-stage schedule: ``lr`` until ``lr_drop_at`` of the run, then lr / 10."""
    if config.schedule == "step" and fraction_done >= config.lr_drop_at:
        return config.lr * 0.1
    return config.lr


def build_run(config: TrainConfig, cache, world: distributed.World) -> Run:
    """Bins, prior and rebalancing weights from the cache; model, optimiser, scheduler."""
    from chromalab.data.cache import prior_for

    torch.manual_seed(config.seed)
    bins = cache.bins(config.bins) if config.classification else None
    prior = prior_for(cache, bins) if bins is not None else None
    class_weights = (
        rebalancing_weights(bins, prior, lam=config.rebalance_lambda)
        if bins is not None and config.rebalance
        else None
    )
    options = dict(config.model_options)
    if config.class_loss_weight > 0:
        options.setdefault("classes", len(cache.class_names))
    model = create_model(config.model, num_classes=bins.num_classes if bins else None, **options)
    model = model.to(world.device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    wrapped = distributed.wrap(model, world)
    if config.compile:
        wrapped = torch.compile(wrapped)
    optimizer = torch.optim.Adam(
        parameter_groups(model), lr=config.lr, betas=config.betas, weight_decay=config.weight_decay
    )
    scheduler = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=2)
        if config.schedule == "plateau"
        else None
    )
    adversary = None
    if config.loss == "gan":
        if world.distributed:
            raise TrainingError(
                "--loss gan runs in a single process (its step calls the discriminator three times)"
            )
        discriminator = PatchDiscriminator().to(world.device)
        adversary = Adversary(
            discriminator, torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=PIX2PIX_BETAS)
        )
    # what the file needs
    kept = {k: v for k, v in options.items() if k not in model_info(config.model).build_only}
    spec = ModelSpec(
        config.model,
        kept,
        bins.spec if bins else None,
        {"train_config": config.to_dict(), "cache": str(cache.path.resolve())},
    )
    return Run(
        config,
        spec,
        model,
        wrapped,
        optimizer,
        scheduler,
        make_loss(config, bins, class_weights),
        bins,
        prior,
        adversary,
    )


def parameter_groups(model: nn.Module) -> list[dict]:
    """The optimiser's groups: everything with the run's weight decay, except the parts a network adds to a
    trained one (``fresh_parts``: hint inputs), which start at zero and get none. Measured: under Adam's
    coupled weight decay of 1e-3, 65 minutes of fine-tuning left the hint inputs at 1e-27 (each step pulls a
    weight towards zero by about the learning rate while its own gradient is still weak), and hints changed
    nothing; with none, the hints were learned."""
    fresh = tuple(getattr(model, "fresh_parts", ()))
    if not fresh:
        return [{"params": list(model.parameters())}]
    named = list(model.named_parameters())
    return [
        {"params": [p for name, p in named if not name.startswith(fresh)]},
        {"params": [p for name, p in named if name.startswith(fresh)], "weight_decay": 0.0},
    ]


def start_from(path: Path, run: Run) -> None:
    """Fine-tuning: copy the weights of the model file at ``path`` into ``run.model`` (same network and
    bins)."""
    from chromalab.models.checkpoint import load_model

    try:
        source = load_model(path)
    except (ValueError, OSError) as error:
        raise TrainingError(f"--init: {error}") from None
    if source.spec.model != run.spec.model:
        raise TrainingError(
            f"--init: {path} holds a {source.spec.model!r} model, the run trains {run.spec.model!r}"
        )
    if (source.bins is None) != (run.bins is None) or (
        run.bins is not None
        and not torch.equal(source.bins.centres, run.bins.centres.to(source.bins.centres))
    ):
        raise TrainingError(
            f"--init: {path} predicts other bins or outputs than this run ({run.config.loss}, "
            f"{run.config.bins})"
        )
    try:
        missing, unexpected = run.model.load_state_dict(source.model.state_dict(), strict=False)
    except RuntimeError as error:
        raise TrainingError(
            f"--init: {path}: weights do not fit the run's model ({str(error).splitlines()[0]})"
        ) from None
    fresh = tuple(getattr(run.model, "fresh_parts", ()))  # parts the run adds (zero-initialised hint inputs)
    absent = [key for key in missing if not key.startswith(fresh)] if fresh else list(missing)
    if absent or unexpected:
        raise TrainingError(
            f"--init: {path}: weights do not fit the run's model "
            f"({'missing ' + absent[0] if absent else 'unexpected ' + unexpected[0]})"
        )
