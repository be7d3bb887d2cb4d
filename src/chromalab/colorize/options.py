"""The options of a colorization and their rules, torch-free: defaults, checks, what a model file may
recommend, where the bundled model lives, and which backend runs a model.

``--engine`` on the command line picks the backend: ``torch`` (``torch_backend.Colorizer``, any model file or
registered name) or ``onnx`` (``onnx_backend.OnnxColorizer``, a graph written by ``chromalab export``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from chromalab.color.decoding import DECODE_METHODS

DEFAULT_MODEL = "default"
DEFAULT_SIZE = 256
MIN_SIZE, MAX_SIZE = 16, 4096  # the sides a colorizer accepts for its view
MAX_TEMPERATURE = 10.0  # T in [0, MAX_TEMPERATURE]: 0 is the mode, 1 the mean, above it paler still
DEVICES = ("auto", "cpu", "cuda")  # auto: onnxruntime's CUDA provider when it has one and a GPU, else the CPU
# what a model file may recommend in info["defaults"]; min_view: the view's least side (a smaller photo is
# upscaled to it; 0: never upscaled), for a network trained on small photos upscaled
RECOMMENDABLE = ("size", "temperature", "decode", "min_view")


class DeviceFallback(UserWarning):
    """``--device cuda`` where the engine has no CUDA: it runs on the CPU (a notice, always shown)."""


def bundled_weights(name: str = DEFAULT_MODEL, suffix: str = ".safetensors") -> Path:
    """Path of a model file shipped inside the package (may not exist)."""
    return Path(str(resources.files("chromalab") / "weights" / f"{name}{suffix}"))


def bundled_names() -> list[str]:
    """The models shipped inside the package, by name (``default`` first): ``--model NAME`` loads them."""
    names = sorted(path.stem for path in bundled_weights().parent.glob("*.safetensors"))
    return sorted(names, key=lambda name: name != DEFAULT_MODEL)


def is_bundled(name: str) -> bool:
    """Whether ``--model name`` means a model shipped inside the package (``default`` always does, even in a
    build without it, so that its absence is reported as such)."""
    return name == DEFAULT_MODEL or name in bundled_names()


def chosen_options(recommended: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The options a colorizer is built with: what the caller gave, else what the model file recommends.

    A None in ``given`` means "not given" and must not hide a recommendation."""
    given = {k: v for k, v in given.items() if v is not None}
    return {k: v for k, v in {**recommended, **given}.items() if k in RECOMMENDABLE}


def check_size(size: int) -> int:
    if not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be an integer in [{MIN_SIZE}, {MAX_SIZE}], got {size!r}")
    return size


def check_min_view(side: int) -> int:
    if not isinstance(side, int) or not (side == 0 or MIN_SIZE <= side <= MAX_SIZE):
        raise ValueError(f"min_view must be 0 or an integer in [{MIN_SIZE}, {MAX_SIZE}], got {side!r}")
    return side


def check_temperature(temperature: float) -> float:
    if not 0.0 <= float(temperature) <= MAX_TEMPERATURE:
        raise ValueError(f"temperature must be in [0, {MAX_TEMPERATURE:g}], got {temperature}")
    return float(temperature)


def check_decode(decode: str) -> str:
    if decode not in DECODE_METHODS:
        raise ValueError(f"decode must be one of {', '.join(DECODE_METHODS)}, got {decode!r}")
    return decode
