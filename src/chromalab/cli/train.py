"""``chromalab train``: train a registered model on a prepared cache (also under torchrun)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import typer

from chromalab.cli.app import EXIT_SOME_FAILED, app, model_file_of, report_error, usage_error
from chromalab.training.config import TrainConfig
from chromalab.training.run_folder import FINAL_MODEL

DEFAULTS = TrainConfig(model="")  # the option defaults are the library's (the module imports no torch)
# as options
SETTINGS = {field.name for field in fields(TrainConfig)} - {
    "model",
    "model_options",
    "betas",
    "init",
}


def parse_options(pairs: list[str]) -> dict[str, object]:
    """``["width=0.25", "name=x"]`` -> {"width": 0.25, "name": "x"} (values read as JSON when they parse)."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            usage_error(f"--option expects KEY=VALUE, got {pair!r}")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def _architecture_of(path: Path, given: dict[str, object]) -> tuple[str, dict[str, object]]:
    """The model name and options stored in the model file at ``path``, updated by ``given``."""
    from chromalab.models.checkpoint import read_metadata

    try:
        meta = read_metadata(path)
    except (ValueError, OSError) as error:
        usage_error(f"--init: {error}")
    return meta["model"], {**meta.get("options", {}), **given}


@app.command()
def train(
    ctx: typer.Context,
    cache: Path = typer.Argument(..., help="A cache made by 'chromalab prepare'."),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="Registered architecture (see 'chromalab models'); not needed with --resume.",
    ),
    out: Path = typer.Option(
        ..., "-o", "--out", help="Run folder: checkpoints, metrics.jsonl, loss.png, samples."
    ),
    option: list[str] = typer.Option(
        [], "--option", help="Model option KEY=VALUE, repeatable (e.g. width=0.25)."
    ),
    loss: str = typer.Option(
        DEFAULTS.loss,
        help="ce (cross-entropy over ab bins), l2 or smooth-l1 (regression on ab), gan (pix2pix: PatchGAN + "
        "100 x L1).",
    ),
    encoding: str = typer.Option(
        DEFAULTS.encoding, help="Cross-entropy targets: soft (5 nearest bins, sigma 5) or onehot."
    ),
    rebalance: bool = typer.Option(
        DEFAULTS.rebalance, "--rebalance/--no-rebalance", help="Class rebalancing (Zhang et al.)."
    ),
    rebalance_lambda: float = typer.Option(
        DEFAULTS.rebalance_lambda,
        help="Rebalancing: share of the uniform distribution mixed into the "
        "prior; smaller weights rare colours more (Zhang et al.: 0.5).",
    ),
    bins: str = typer.Option(
        DEFAULTS.bins, help="Bin set: gamut:10, gamut:16, data:10, channels:N or file:PATH."
    ),
    lr: float = typer.Option(
        DEFAULTS.lr, help="Adam learning rate (betas 0.9/0.99, weight decay 1e-3 as in Gustavsson)."
    ),
    weight_decay: float = typer.Option(DEFAULTS.weight_decay, help="Adam weight decay."),
    schedule: str = typer.Option(
        DEFAULTS.schedule, help="step (x0.1 at --lr-drop-at of the run), plateau (on val loss) or constant."
    ),
    lr_drop_at: float = typer.Option(
        DEFAULTS.lr_drop_at, help="Fraction of the run after which the step schedule divides the LR by 10."
    ),
    batch_size: int = typer.Option(DEFAULTS.batch_size, help="Images per step and per process."),
    epochs: int = typer.Option(DEFAULTS.epochs, help="Passes over the training split."),
    minutes: float = typer.Option(
        DEFAULTS.minutes, help="Wall-clock budget; the run stops and saves when it is spent."
    ),
    max_steps: int = typer.Option(DEFAULTS.max_steps, min=1, help="Stop after this many optimiser steps."),
    flip: bool = typer.Option(DEFAULTS.flip, "--flip/--no-flip", help="Random left-right flips."),
    seed: int = typer.Option(
        DEFAULTS.seed, help="Seed of everything random; same seed, same weights (on CPU)."
    ),
    checkpoint_every: int = typer.Option(
        DEFAULTS.checkpoint_every, help="Steps between checkpoints (also saved each epoch and at the end)."
    ),
    log_every: int = typer.Option(DEFAULTS.log_every, help="Steps between lines of metrics.jsonl."),
    val_images: int = typer.Option(
        DEFAULTS.val_images, help="Validation images scored at the end of each epoch."
    ),
    compile: bool = typer.Option(
        DEFAULTS.compile, "--compile", help="torch.compile the model (~1.4x faster after a long warm-up)."
    ),
    channels_last: bool = typer.Option(
        DEFAULTS.channels_last,
        "--channels-last/--no-channels-last",
        help="NHWC memory layout (~1.45x on CPU).",
    ),
    overfit_one: bool = typer.Option(
        DEFAULTS.overfit_one, "--overfit-one", help="Sanity check: fit a single photo; its loss must fall."
    ),
    class_loss_weight: float = typer.Option(
        DEFAULTS.class_loss_weight,
        help="> 0: models with a global branch also learn the photo's class (Iizuka: 1/300).",
    ),
    no_hint_share: float = typer.Option(
        DEFAULTS.no_hint_share,
        help="Hint networks (--option hints=true): the share "
        "of images trained with no hint, so the network also colorizes on its own.",
    ),
    half_size_share: float = typer.Option(
        DEFAULTS.half_size_share,
        help="The share of steps whose batch is "
        "shrunk to half the cache's size (2x2 means), so the network also learns "
        "the small views it is given on small photos.",
    ),
    init: Path = typer.Option(
        None,
        "--init",
        help="Start from the weights of this model file (fine-tuning); "
        "--model and its options default to the file's.",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in OUT where it stopped; only the budget "
        "options (--epochs, --minutes, --max-steps, --checkpoint-every, --log-every) may change.",
    ),
) -> None:
    """Train a colorization model. Multi-process: torchrun --nproc-per-node N $(which chromalab) train ..."""
    # options named as the fields
    settings = {name: value for name, value in locals().items() if name in SETTINGS}
    from chromalab.training.loop import BUDGET_FIELDS, Trainer, TrainingError

    options = parse_options(option)
    if init is not None:
        init = model_file_of(init)  # a run folder: its model
        if not init.is_file():
            usage_error(f"--init {init}: no such model file")
    if init is not None and model is None:
        model, options = _architecture_of(init, options)
    config = TrainConfig(
        model=model, model_options=options, init=None if init is None else str(init.resolve()), **settings
    )
    if model is None and not resume:
        usage_error("--model is required to start a run (see 'chromalab models')")
    # the options typed on this command line (typer's click has its own ParameterSource: compare names)
    typed = {
        name for name in ctx.params if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
    }
    given = typed & set(BUDGET_FIELDS)
    # the other settings typed again on --resume: the same as the run's, or refused (never silently ignored)
    again = {"model_options" if name == "option" else name for name in typed - given}
    settings_given = again - {"cache", "out", "resume"}
    try:
        trainer = Trainer(
            config, cache, out, resume=resume, budget_given=given, settings_given=settings_given
        )
    except (ValueError, FileNotFoundError, TrainingError) as error:
        usage_error(str(error))
    try:
        progress = trainer.fit()
    except TrainingError as error:
        report_error(out, error)
        raise typer.Exit(EXIT_SOME_FAILED) from None
    except OSError as error:
        report_error(out, f"cannot write the run ({error.strerror or error})")
        raise typer.Exit(EXIT_SOME_FAILED) from None
    if trainer.world.is_main:
        print(
            f"trained {progress.step} steps ({progress.images_seen} images, {progress.seconds:.0f} s); "
            f"model: {out / FINAL_MODEL}"
        )
