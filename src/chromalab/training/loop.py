"""The training loop: resumable, observable, deterministic on CPU, distributed under torchrun; it writes a run
folder (``run_folder``)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from torch import nn

from chromalab.color.bins import Bins, rebalancing_weights
from chromalab.color.lab import normalize_l
from chromalab.images import evenly_spaced
from chromalab.models import create_model, model_info
from chromalab.models.checkpoint import ModelSpec, read_metadata
from chromalab.models.pix2pix import PatchDiscriminator
from chromalab.training import distributed, figures
from chromalab.training.batches import (
    batch_slices,
    epoch_order,
    half_size,
    hint_maps,
    load_batch,
    random_flip,
)
from chromalab.training.config import TrainConfig
from chromalab.training.gan import PIX2PIX_BETAS, gan_step
from chromalab.training.losses import auxiliary_loss, cross_entropy, regression
from chromalab.training.run_folder import CHECKPOINT, FINAL_MODEL, LOSS_FIGURE, METRICS, SAMPLES
from chromalab.training.state import Adversary, Progress, export_model, load_training, save_training


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
    output = (
        run.wrapped(x) if hints is None else run.wrapped(x, hints)
    )  # (B, Q, h, w) logits or (B, 2, h, w) ab
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
    kept = {
        k: v for k, v in options.items() if k not in model_info(config.model).build_only
    }  # what the file needs
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
    """Fine-tuning: copy the weights of the model file at ``path`` into ``run.model`` (same network and "
    "bins)."""
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
        missing, unexpected = run.model.load_state_dict(source.model.state_dict(), strict=True)
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


def step_lr(config: TrainConfig, fraction_done: float) -> float:
    """Lin and Liu's two-stage schedule: ``lr`` until ``lr_drop_at`` of the run, then lr / 10."""
    if config.schedule == "step" and fraction_done >= config.lr_drop_at:
        return config.lr * 0.1
    return config.lr


BUDGET_FIELDS = ("epochs", "minutes", "max_steps", "checkpoint_every", "log_every")


def resumed_config(
    checkpoint: Path, given: TrainConfig, changed: Collection[str] = BUDGET_FIELDS
) -> TrainConfig:
    """The stored run's config, with the budget fields of ``given`` named in ``changed`` (so a run can be
    extended; the others stay the run's own: a resumed run keeps its schedule)."""
    stored = read_metadata(checkpoint).get("info", {}).get("train_config")
    if stored is None:
        raise TrainingError(f"{checkpoint}: no training config stored; cannot resume")
    return TrainConfig.from_dict(
        {**stored, **{name: getattr(given, name) for name in BUDGET_FIELDS if name in changed}}
    )


class Trainer:
    """Runs ``config`` on a prepared cache into ``run_dir``."""

    def __init__(
        self,
        config: TrainConfig,
        cache_dir: Path,
        run_dir: Path,
        *,
        resume: bool = False,
        budget_given: Collection[str] = BUDGET_FIELDS,
        console: Console | None = None,
    ) -> None:
        """``budget_given``: with ``resume``, the budget fields of ``config`` that replace the run's own."""
        from chromalab.data.cache import Cache

        self.run_dir = Path(run_dir)
        self.console = console or Console(stderr=True)
        self.world = distributed.start()
        checkpoint = self.run_dir / CHECKPOINT
        if resume and not checkpoint.is_file():
            raise TrainingError(f"--resume: no checkpoint in {self.run_dir}")
        if not resume and checkpoint.exists():
            raise TrainingError(f"{self.run_dir} already holds a run; pass --resume or choose another -o")
        if resume:
            config = resumed_config(checkpoint, config, budget_given)
        config.validate()
        self.cache = Cache(cache_dir)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.set_flush_denormal(
            True
        )  # measured: Adam's tiny moments went denormal and halved the CPU's speed
        self.run = build_run(config, self.cache, self.world)
        self.progress = Progress()
        if config.init and not resume:
            start_from(Path(config.init), self.run)
        if resume:
            self.progress = load_training(
                checkpoint, self.run.model, self.run.optimizer, self.run.scheduler, self.run.adversary
            )
        self.train_indices, self.val_indices = self._indices()

    def _indices(self) -> tuple[np.ndarray, np.ndarray]:
        train, val = np.asarray(self.cache.train_indices), np.asarray(self.cache.val_indices)
        if self.run.config.overfit_one:
            return train[:1], train[:1]
        if len(train) < self.run.config.batch_size * self.world.size:
            raise TrainingError(
                f"the cache has {len(train)} training images, fewer than one batch "
                f"({self.run.config.batch_size} x {self.world.size} processes)"
            )
        return train, np.asarray(evenly_spaced(val, self.run.config.val_images), dtype=val.dtype)

    # -- bookkeeping -----------------------------------------------------------------------------------
    def _log(self, record: dict) -> None:
        if self.world.is_main:
            with open(self.run_dir / METRICS, "a") as handle:
                handle.write(json.dumps(record) + "\n")

    def _save(self) -> None:
        if self.world.is_main:
            r = self.run
            save_training(
                self.run_dir / CHECKPOINT,
                r.model,
                r.spec,
                bins=r.bins,
                prior=r.prior,
                optimizer=r.optimizer,
                scheduler=r.scheduler,
                progress=self.progress,
                adversary=r.adversary,
            )
        distributed.barrier(self.world)

    def _planned_steps(self, per_epoch: int) -> int:
        planned = per_epoch * self.run.config.epochs
        return min(planned, self.run.config.max_steps or planned)

    def _out_of_budget(self, started: float, seconds_before: float) -> bool:
        config = self.run.config
        if config.max_steps is not None and self.progress.step >= config.max_steps:
            return True
        elapsed = seconds_before + time.perf_counter() - started
        return config.minutes is not None and elapsed >= config.minutes * 60

    # -- the loop ----------------------------------------------------------------------------------------
    def fit(self) -> Progress:
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        config, world = self.run.config, self.world
        if world.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        batch = 1 if config.overfit_one else config.batch_size
        per_epoch = len(batch_slices(len(self.train_indices) // world.size, batch))
        planned = self._planned_steps(per_epoch)
        started, seconds_before = time.perf_counter(), self.progress.seconds
        columns = (
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[speed]:.1f} img/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        stop = False
        with Bar(*columns, console=self.console, disable=not world.is_main) as bar:
            task = bar.add_task(
                "train",
                total=planned,
                completed=self.progress.step,
                epoch=self.progress.epoch,
                loss=float("nan"),
                speed=0.0,
            )
            while self.progress.epoch < config.epochs and not stop:
                order = epoch_order(
                    self.train_indices,
                    seed=config.seed,
                    epoch=self.progress.epoch,
                    rank=world.rank,
                    world=world.size,
                )
                window_start, window_images, epoch_losses = time.perf_counter(), 0, []
                for part in batch_slices(len(order), batch)[self.progress.batch_in_epoch :]:
                    if self._out_of_budget(started, seconds_before):
                        stop = True
                        break
                    loss = self._one_step(order[part], self._fraction_done(planned, started, seconds_before))
                    epoch_losses.append(loss)
                    window_images += len(order[part]) * world.size
                    if self.progress.step % config.log_every == 0:
                        speed = window_images / max(time.perf_counter() - window_start, 1e-9)
                        self._log(
                            {
                                "kind": "step",
                                "step": self.progress.step,
                                "epoch": self.progress.epoch,
                                "loss": loss,
                                "lr": self.run.optimizer.param_groups[0]["lr"],
                                "images_per_s": speed,
                                "seconds": seconds_before + time.perf_counter() - started,
                            }
                        )
                        bar.update(task, speed=speed)
                        window_start, window_images = time.perf_counter(), 0
                    bar.update(task, completed=self.progress.step, loss=loss, epoch=self.progress.epoch)
                    if self.progress.step % config.checkpoint_every == 0:
                        self.progress.seconds = seconds_before + time.perf_counter() - started
                        self._save()
                else:
                    self._end_epoch(epoch_losses)
                self.progress.seconds = seconds_before + time.perf_counter() - started
        self._finish()
        return self.progress

    def _fraction_done(self, planned: int, started: float, seconds_before: float) -> float:
        """How far the run is, by steps or by the wall-clock budget, whichever is further."""
        fraction = self.progress.step / max(planned, 1)
        if self.run.config.minutes is not None:
            elapsed = seconds_before + time.perf_counter() - started
            fraction = max(fraction, elapsed / (self.run.config.minutes * 60))
        return fraction

    def _one_step(self, indices: np.ndarray, fraction_done: float) -> float:
        config = self.run.config
        # every random draw of a step depends on (seed, step) only: resuming replays the same steps
        torch.manual_seed(config.seed * 1_000_003 + self.progress.step)
        lightness, ab = load_batch(self.cache.l, self.cache.ab, indices)
        if config.flip and not config.overfit_one:
            lightness, ab = random_flip(lightness, ab, torch.Generator().manual_seed(self.progress.step))
        if np.random.default_rng([config.seed, self.progress.step, 1]).random() < config.half_size_share:
            lightness, ab = half_size(lightness, ab)
        if self.run.scheduler is None:
            for group in self.run.optimizer.param_groups:
                group["lr"] = step_lr(config, fraction_done)
        labels = torch.from_numpy(self.cache.labels[np.sort(indices)].astype(np.int64))  # load_batch's order
        hints = None
        if getattr(self.run.model, "takes_hints", False):
            rng = np.random.default_rng([config.seed, self.progress.step])
            hints = hint_maps(ab, rng, no_hint_share=config.no_hint_share).to(self.world.device)
        loss = training_step(
            self.run,
            lightness.to(self.world.device),
            ab.to(self.world.device),
            labels.to(self.world.device),
            hints,
        )
        self.progress.step += 1
        self.progress.batch_in_epoch += 1
        self.progress.images_seen += len(indices) * self.world.size
        return loss

    def _end_epoch(self, losses: list[float]) -> None:
        record = {
            "kind": "epoch",
            "epoch": self.progress.epoch,
            "step": self.progress.step,
            "train_loss": float(np.mean(losses)) if losses else math.nan,
        }
        if self.world.is_main and len(self.val_indices):
            record["val_loss"] = validation_loss(self.run, self.cache.l, self.cache.ab, self.val_indices)
            figures.save_samples(
                self.run_dir / SAMPLES / f"epoch-{self.progress.epoch:03d}.png",
                self.run.model,
                self.run.bins,
                self.cache.l,
                self.cache.ab,
                evenly_spaced(self.val_indices, 4),
            )
        if self.run.scheduler is not None and len(self.val_indices):
            self.run.scheduler.step(distributed.from_main(record.get("val_loss", 0.0), self.world))
        self.progress.history.append(record)
        self.progress.epoch += 1
        self.progress.batch_in_epoch = 0
        self._log(record)
        if self.world.is_main:
            figures.save_loss_curves(self.run_dir / METRICS, self.run_dir / LOSS_FIGURE)
        self._save()

    def _finish(self) -> None:
        # replicas must hold identical weights; the log shows each rank's checksum
        checksum = float(
            sum(p.double().sum() for p in self.run.model.state_dict().values() if p.is_floating_point())
        )
        self._log(
            {
                "kind": "replicas",
                "step": self.progress.step,
                "checksums": distributed.gather_values(checksum, self.world),
            }
        )
        self._save()
        if self.world.is_main:
            r = self.run
            info = {
                **r.spec.info,
                "steps": self.progress.step,
                "images_seen": self.progress.images_seen,
                "train_seconds": round(self.progress.seconds, 1),
                "processes": self.world.size,
            }
            export_model(
                self.run_dir / FINAL_MODEL,
                r.model,
                ModelSpec(r.spec.model, r.spec.options, r.spec.bins, info),
                bins=r.bins,
                prior=r.prior,
            )
        distributed.stop(self.world)
