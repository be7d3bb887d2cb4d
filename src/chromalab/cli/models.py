"""``chromalab models``: registered architectures and the weights that ship with the package."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from chromalab.cli.app import app


@app.command()
def models() -> None:
    """List registered architectures and available weights."""
    from chromalab.colorize.loading import TRAIN_EXTRA, torch_installed
    from chromalab.colorize.options import bundled_names, bundled_weights
    from chromalab.models.spec import read_metadata

    out = Console()
    if torch_installed():
        _architectures(out)
    else:
        out.print(f"architectures: training them needs torch, which this install leaves out: {TRAIN_EXTRA}")
    names = bundled_names()
    for name in names:
        weights = bundled_weights(name)
        meta = read_metadata(weights)
        out.print(
            f"weights: {name} -> {meta['model']} {meta.get('options', {})}, bins {meta.get('bins')} "
            f"({weights})"
        )
        graph = bundled_weights(name, suffix=".onnx")
        if graph.is_file():
            out.print(f"         and its ONNX graph for --engine onnx ({graph})")
        elif not torch_installed():
            out.print(f"         no ONNX graph: it runs on torch ({TRAIN_EXTRA})")
    if not names:
        out.print("weights: none bundled in this build")


def _architectures(out: Console) -> None:
    from chromalab.models import list_models

    table = Table(title="architectures (chromalab train --model NAME)")
    for column in ("name", "outputs", "summary"):
        table.add_column(column)
    for info in list_models():
        table.add_row(info.name, " / ".join(info.kinds), info.summary)
    out.print(table)
