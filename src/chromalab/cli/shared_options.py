"""The options several commands take, defined once: ``--model`` and ``--size``."""

from __future__ import annotations

from typing import Any

import typer

from chromalab.colorize.options import DEFAULT_MODEL, MAX_SIZE, MIN_SIZE

MODEL_HELP = "A bundled model ('default', 'fast-v1'), a .safetensors or .onnx file, or a registered name."
TORCH_MODEL_HELP = "A bundled model ('default', 'fast-v1'), a .safetensors file, or a registered name."


def model_option(help: str = MODEL_HELP) -> Any:
    """``--model``/``-m``, ``default`` unless given."""
    return typer.Option(DEFAULT_MODEL, "--model", "-m", help=help)


def size_option(help: str) -> Any:
    """``--size``/``-s``: the side of the square the network sees, within the sizes a colorizer accepts."""
    return typer.Option(None, "--size", "-s", min=MIN_SIZE, max=MAX_SIZE, help=help)
