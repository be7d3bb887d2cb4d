"""The training loop: resumable, observable, deterministic on CPU, distributed under torchrun; it writes a run
folder (``run_folder``)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Collection
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as Bar  # training.state has a Progress of its own

from chromalab.images import evenly_spaced
from chromalab.models.checkpoint import ModelSpec, read_metadata
from chromalab.training import distributed, figures, interrupts
from chromalab.training.batches import (
    batch_slices,
    epoch_order,
    half_size,
    hint_maps,
    load_batch,
    random_flip,
)
from chromalab.training.config import TrainConfig
from chromalab.training.run_folder import (
    CHECKPOINT,
    FINAL_MODEL,
    LOSS_FIGURE,
    METRICS,
    SAMPLES,
    check_new_run_folder,
)
from chromalab.training.state import Progress, export_model, load_training, save_training
from chromalab.training.steps import (
    TrainingError,
    build_run,
    start_from,
    step_lr,
    training_step,
    validation_loss,
)

BUDGET_FIELDS = ("epochs", "minutes", "max_steps", "checkpoint_every", "log_every")


def resumed_config(
    checkpoint: Path, given: TrainConfig, changed: Collection[str] = BUDGET_FIELDS, kept: Collection[str] = ()
) -> TrainConfig:
    """The stored run's config, with the budget fields of ``given`` named in ``changed`` (so a run can be
    extended; the others stay the run's own: a resumed run keeps its schedule). ``kept``: other fields the
    user gave again; ``TrainingError`` when one differs from the run's (it would be silently ignored)."""
    stored = read_metadata(checkpoint).get("info", {}).get("train_config")
    if stored is None:
        raise TrainingError(f"{checkpoint}: no training config stored; cannot resume")
    run_own = TrainConfig.from_dict(stored)
    for name in kept:
        if name not in BUDGET_FIELDS and getattr(given, name) != getattr(run_own, name):
            budget = ", ".join("--" + field.replace("_", "-") for field in BUDGET_FIELDS)
            raise TrainingError(
                f"--resume continues the run with its own settings: {name} is {getattr(run_own, name)!r} "
                f"there, not {getattr(given, name)!r} (only {budget} may change)"
            )
    return dataclasses.replace(
        run_own, **{name: getattr(given, name) for name in BUDGET_FIELDS if name in changed}
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
        settings_given: Collection[str] = (),
        console: Console | None = None,
    ) -> None:
        """``budget_given``: with ``resume``, the budget fields of ``config`` that replace the run's own;
        ``settings_given``: the other fields given, which must equal the run's (``resumed_config``)."""
        from chromalab.data.cache import Cache

        self.run_dir = Path(run_dir)
        self.console = console or Console(stderr=True)
        self.world = distributed.start()
        checkpoint = self.run_dir / CHECKPOINT
        if resume:
            if not checkpoint.is_file():
                raise TrainingError(f"--resume: no checkpoint in {self.run_dir}")
            config = resumed_config(checkpoint, config, budget_given, settings_given)
        elif checkpoint.exists():
            raise TrainingError(f"{self.run_dir} already holds a run; pass --resume or choose another -o")
        else:
            try:
                check_new_run_folder(self.run_dir, clear=self.world.is_main)
            except FileExistsError as error:
                raise TrainingError(str(error)) from None
        config.validate()
        self.cache = Cache(cache_dir)
        torch.use_deterministic_algorithms(True, warn_only=True)
        # measured: Adam's tiny moments went denormal and halved the CPU's speed
        torch.set_flush_denormal(True)
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
        config, world = self.run.config, self.world
        if world.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        batch = 1 if config.overfit_one else config.batch_size
        per_epoch = len(batch_slices(len(self.train_indices) // world.size, batch))
        planned = self._planned_steps(per_epoch)
        started, seconds_before = time.perf_counter(), self.progress.seconds
        stop = False
        with (
            interrupts.deferred_stop(enabled=world.size == 1) as asked,
            _progress_bar(self.console, shown=world.is_main) as bar,
        ):
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
                        self._log_step(loss, speed, seconds_before + time.perf_counter() - started)
                        bar.update(task, speed=speed)
                        window_start, window_images = time.perf_counter(), 0
                    bar.update(task, completed=self.progress.step, loss=loss, epoch=self.progress.epoch)
                    stop_signal = asked()  # once: a signal noted after this is acted on after the next step
                    if self.progress.step % config.checkpoint_every == 0 or stop_signal is not None:
                        self.progress.seconds = seconds_before + time.perf_counter() - started
                        self._save()
                    if stop_signal is not None:  # Ctrl-C or SIGTERM: stopped with this step saved
                        step = self.progress.step
                        self.console.print(f"stopped at step {step}: checkpoint saved, --resume goes on")
                        interrupts.stop(stop_signal)
                else:
                    self._end_epoch(epoch_losses)
                self.progress.seconds = seconds_before + time.perf_counter() - started
        self._finish()
        return self.progress

    def _log_step(self, loss: float, speed: float, seconds: float) -> None:
        """One ``step`` line of metrics.jsonl: the loss, learning rate and speed at this step."""
        lr = self.run.optimizer.param_groups[0]["lr"]
        step, epoch = self.progress.step, self.progress.epoch
        record = {"kind": "step", "step": step, "epoch": epoch, "loss": loss, "lr": lr}
        self._log({**record, "images_per_s": speed, "seconds": seconds})

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


def _progress_bar(console: Console, *, shown: bool) -> Bar:
    """The training bar: epoch, steps done of planned, loss, images per second, time spent and left."""
    columns = (
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[speed]:.1f} img/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Bar(*columns, console=console, disable=not shown)
