"""``chromalab semantic``: the semantic interpretability test (Zhang et al. 2016) of a model on a prepared
cache.

A command of its own rather than ``chromalab evaluate --semantic``: it takes a prepared cache (with class
labels and a split) instead of a folder of photos, and it trains a classifier, so none of evaluate's
options apply to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from chromalab.cli.app import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    app,
    json_text,
    open_colorizer,
    refuse_replacing_inputs,
    report_error,
    usage_error,
    write_outputs,
)
from chromalab.cli.shared_options import model_option, temperature_option
from chromalab.color.decoding import DEFAULT_TEMPERATURE

LABELS = {"true_colour": "true colour", "grey": "grey (ab = 0)", "colorized": "colorized"}


@app.command()
def semantic(
    cache: Path = typer.Argument(
        ..., help="Cache made by 'chromalab prepare' (classes = top-level folders)."
    ),
    model: str = model_option(),
    classifier: Path | None = typer.Option(
        None, "--classifier", help="Classifier file: loaded when it exists, else trained and written there."
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Write the summary here (JSON)."),
    temperature: float = temperature_option(
        f"Annealed-mean temperature (default: the model's, else {DEFAULT_TEMPERATURE})."
    ),
    epochs: int = typer.Option(
        30, "--classifier-epochs", min=1, help="Classifier training: at most this many epochs."
    ),
    minutes: float | None = typer.Option(
        None, "--classifier-minutes", min=0.01, help="Classifier training: at most this many minutes."
    ),
    side: int = typer.Option(
        64, "--classifier-side", min=16, max=512, help="Side the classifier sees (at most the cache's)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=2, max=1024, help="Classifier training batch."),
    seed: int = typer.Option(0, "--seed", help="Seed of the classifier's weights, order and augmentation."),
) -> None:
    """Semantic interpretability (Zhang et al. 2016): classifier accuracy on true-colour, grey and
    colorized photos.

    Trains a small CNN on the true-colour training split of CACHE (or loads --classifier).

    Reports its top-1 accuracy on the validation split: true colour, grey (ab = 0), colorized by --model.

    Colorized photos should recover part of the accuracy lost to grey.

    (A command of its own, not 'evaluate --semantic': it takes a prepared cache with classes, not photos.)
    """
    opened = _open_cache(cache)
    refuse_replacing_inputs([json_path], [cache], read_whole=True)
    refuse_replacing_inputs([json_path], [Path(model), *([classifier] if classifier else [])])
    if json_path is not None and classifier is not None and json_path.resolve() == classifier.resolve():
        usage_error(f"--json {json_path}: the same file as --classifier; give another")
    from chromalab.evaluation import semantic as sem
    from chromalab.evaluation.classifier import ClassifierConfig

    colorizer = open_colorizer(model, show_warnings=True, temperature=temperature)
    config = ClassifierConfig(
        side=min(side, opened.size), epochs=epochs, minutes=minutes, batch_size=batch_size, seed=seed
    )
    network, meta = _classifier(opened, classifier, config)
    result = sem.semantic_test(opened, colorizer, network, meta, temperature=colorizer.temperature)
    info = {"model": model, "temperature": colorizer.temperature, "cache": str(cache)}
    summary = result.summary(info)
    written = write_outputs([] if json_path is None else [(json_path, json_text(summary))])
    _print_table(summary["semantic"])
    raise typer.Exit(EXIT_OK if written else EXIT_SOME_FAILED)


def _open_cache(path: Path):  # -> Cache
    """The cache at ``path`` if the semantic test can run on it, else exit 2 with the reason."""
    from chromalab.data.cache import Cache

    if not path.exists():
        usage_error(f"{path}: no such cache folder")
    try:
        cache = Cache(path)
        from chromalab.evaluation.semantic import check_cache  # torch: only once the cache is known to be one

        check_cache(cache)
    except ValueError as error:
        usage_error(str(error))
    return cache


def _classifier(cache, path: Path | None, config):  # -> (SemanticClassifier, its description)
    """Load the classifier at ``path``, or train one (saved there when given), saying so on stderr."""
    from chromalab.evaluation.semantic import obtain_classifier

    if path is None or not path.is_file():
        print(
            f"training the classifier on {len(cache.train_indices)} true-colour photos "
            f"({len(cache.class_names)} classes, {config.side} px)",
            file=sys.stderr,
            flush=True,
        )
    try:
        network, meta = obtain_classifier(cache, path=path, config=config, on_epoch=_print_epoch)
    except ValueError as error:
        usage_error(str(error))
    except OSError as error:
        report_error(path, f"cannot write ({error.strerror or error})")
        raise typer.Exit(EXIT_SOME_FAILED) from None
    if "warning" in meta:
        print(f"warning: {meta['warning']}", file=sys.stderr)
    return network, meta


def _print_epoch(epoch: int, loss: float, seconds: float) -> None:
    print(f"classifier epoch {epoch}: loss {loss:.3f} ({seconds:.0f} s)", file=sys.stderr, flush=True)


def _print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    facts = result["classifier"].get("training", {})
    title = (
        f"semantic interpretability of {result['model']}: {result['val_images']} validation photos, "
        f"{result['classes']} classes"
    )
    table = Table(title=title)
    table.add_column("photos", justify="left")
    table.add_column("classifier top-1", justify="right")
    for key, label in LABELS.items():
        table.add_row(label, f"{result[key]:.2%}")
    if result["recovered"] is not None:
        table.add_row("share of the grey loss recovered", f"{result['recovered']:.1%}")
    Console().print(table)
    print(
        f"classifier: {result['classifier']['source']}; {facts.get('epochs_done')} epochs in "
        f"{facts.get('seconds')} s, train accuracy {facts.get('train_accuracy', float('nan')):.2%}"
    )
