"""The one place that opens a model: which backend runs it (``--engine``) and the colorizer it gives.

The colorizer carries what it was built with (``size``, ``temperature``, ``decode``, ``bins``: what the
caller gave, else what the model file recommends), so callers read those from it instead of passing them
beside it. ``torch`` runs any model file or registered name (``torch_backend.Colorizer``); ``onnx`` runs a
graph written by ``chromalab export`` (``onnx_backend.OnnxColorizer``); ``auto`` picks onnx whenever it can
run the model (an exported graph gives what torch gives: logits for videos, hint inputs for a hint network).
Callers that need torch itself (the experiment figures, ``make demo``) call ``Colorizer.load``. The base
install has no torch (``pip install 'chromalab[train]'`` adds it): then only graphs run.
"""

from __future__ import annotations

import importlib.util
import warnings

from chromalab.colorize.core import BaseColorizer
from chromalab.colorize.options import DEFAULT_MODEL, DEVICES, DeviceFallback, bundled_weights, is_bundled

ENGINES = ("auto", "onnx", "torch")
TRAIN_EXTRA = "pip install 'chromalab[train]'"  # what adds torch to the base install


def torch_installed() -> bool:
    """Whether torch can be imported (without importing it: that takes seconds)."""
    return importlib.util.find_spec("torch") is not None


def torch_missing(model: str) -> str:
    """The one line that says ``model`` needs torch, which the base install leaves out."""
    return f"--model {model} runs on torch, which this install leaves out: {TRAIN_EXTRA}"


def backend_for(model: str, engine: str = "auto") -> str:
    """'onnx' or 'torch' for ``--engine``. ``auto`` picks onnx for .onnx files, and for the bundled model when
    its graph and onnxruntime are installed; torch otherwise."""
    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "auto":
        return engine
    if model.endswith(".onnx"):
        return "onnx"
    if (
        model == DEFAULT_MODEL
        and bundled_weights(suffix=".onnx").is_file()
        and importlib.util.find_spec("onnxruntime")
    ):
        return "onnx"
    return "torch"


def load_colorizer(
    model: str,
    *,
    engine: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    **options: object,
) -> BaseColorizer:
    """The colorizer of ``model`` ('default', a .safetensors or .onnx file, or a registered name) on the
    backend ``engine`` picks (``backend_for``). ``options``: size, temperature, decode, min_view (None: the
    model's). ``device``: where onnxruntime runs a graph (``DEVICES``); the torch engine runs on the CPU
    (``--device cuda`` then says so). ``threads``: the engine's threads per call (None: one per core); on
    torch this sets the process's own thread count.

    ImportError when the backend is not installed; FileNotFoundError or ValueError (the reason, one line)
    when the model cannot run there."""
    if device not in DEVICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if backend_for(model, engine) == "onnx":
        if importlib.util.find_spec("onnxruntime") is None:
            raise ImportError("--engine onnx needs onnxruntime: pip install onnxruntime")
        if model.endswith(".safetensors"):
            raise ValueError(
                "a .safetensors file runs with --engine torch (or auto); "
                "'chromalab export' turns it into an .onnx file"
            )
        if is_bundled(model) and not bundled_weights(model, ".onnx").is_file():
            raise ValueError(
                f"the bundled {model} ships no ONNX graph; it runs with --engine torch (or auto)"
            )
        from chromalab.colorize.onnx_backend import OnnxColorizer

        return OnnxColorizer.load(model, device=device, threads=threads, **options)
    if model.endswith(".onnx"):
        raise ValueError("an .onnx file runs with --engine onnx (or auto)")
    if not torch_installed():
        raise ImportError(f"{torch_missing(model)} (or run its .onnx graph, which 'chromalab export' writes)")
    from chromalab.colorize.torch_backend import Colorizer

    if device == "cuda":
        warnings.warn("--device cuda: the torch engine runs on the CPU here", DeviceFallback, stacklevel=2)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    return Colorizer.load(model, **options)
