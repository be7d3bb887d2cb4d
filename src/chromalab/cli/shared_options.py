"""The options several commands take, defined once: ``--model``, ``--engine``, ``--device``, ``--size``,
``--temperature``, ``--temporal`` and ``--network-every``."""

from __future__ import annotations

from typing import Any

import typer

from chromalab.colorize.options import DEFAULT_MODEL, MAX_SIZE, MAX_TEMPERATURE, MIN_SIZE
from chromalab.video.settings import NETWORK_EVERY, TEMPORAL

MODEL_HELP = "A bundled model ('default', 'fast-v1'), a .safetensors or .onnx file, or a registered name."
TORCH_MODEL_HELP = "A bundled model ('default', 'fast-v1'), a .safetensors file, or a registered name."


def model_option(help: str = MODEL_HELP) -> Any:
    """``--model``/``-m``, ``default`` unless given."""
    return typer.Option(DEFAULT_MODEL, "--model", "-m", help=help)


def engine_option() -> Any:
    """``--engine``: which runtime runs the model (``colorize.loading``)."""
    return typer.Option(
        "auto",
        "--engine",
        help="onnx (onnxruntime, no torch: starts 2-3 s faster), torch, or auto: onnx for .onnx files and "
        "for the default model when its graph and onnxruntime are installed, torch otherwise.",
    )


def device_option() -> Any:
    """``--device``: where onnxruntime runs the graph."""
    return typer.Option(
        "auto",
        "--device",
        help="cuda (onnxruntime's CUDA provider: install onnxruntime-gpu in place of onnxruntime), cpu, or "
        "auto: CUDA when there is one. Without a GPU, cuda says so in one line and runs on the CPU.",
    )


def size_option(help: str) -> Any:
    """``--size``/``-s``: the side of the square the network sees, within the sizes a colorizer accepts."""
    return typer.Option(None, "--size", "-s", min=MIN_SIZE, max=MAX_SIZE, help=help)


def temperature_option(help: str) -> Any:
    """``--temperature``/``-t``: the annealed mean's T, unset unless given (the model's own then)."""
    return typer.Option(None, "--temperature", "-t", min=0.0, max=MAX_TEMPERATURE, help=help)


def temporal_option(help: str) -> Any:
    """``--temporal``: how a clip is steadied, one of ``TEMPORAL`` (anything else: a usage error before any
    work, whether or not the inputs hold a clip)."""
    return typer.Option("flow", "--temporal", callback=_check_temporal, help=help)


def _check_temporal(value: str) -> str:
    if value not in TEMPORAL:
        raise typer.BadParameter(f"one of {', '.join(TEMPORAL)}, got {value!r}")
    return value


def network_every_option() -> Any:
    """``--network-every``: how often a steadied clip runs the network."""
    return typer.Option(
        NETWORK_EVERY,
        "--network-every",
        min=1,
        max=100,
        help="Videos, with --temporal flow: run the network on every N-th frame (and at scene cuts); the "
        "frames between carry its answer along the flow (1: every frame).",
    )
