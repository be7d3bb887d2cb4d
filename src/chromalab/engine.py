"""What every colorizer does around its network, without torch: options, the view the network sees, and the
colour put back onto the photo.

image -> L at full resolution -> L resized to ``size`` -> network -> ab at 1/4 of ``size`` -> ab upsampled
to the ORIGINAL size -> joined with the ORIGINAL L -> sRGB. The output therefore has the input's resolution
and all of its detail; only the colour is predicted. ``pipeline.Colorizer`` runs the network in torch,
``runtime.OnnxColorizer`` in onnxruntime; both inherit the rest from ``Engine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from chromalab.color.srgb8 import upsample_lab_to_srgb8
from chromalab.images import Lightness, open_image, to_lightness

DEFAULT_MODEL = "default"
DEFAULT_SIZE = 256
DEFAULT_TEMPERATURE = 0.38  # Zhang et al. 2016
DECODE_METHODS = ("annealed", "mean", "mode")
RECOMMENDABLE = ("size", "temperature", "decode")  # what a model file may recommend in info["defaults"]
METADATA_KEY = "chromalab"  # where a model file (.safetensors or .onnx) keeps its JSON description


@dataclass
class Prepared:
    """An image ready for the network: its full-resolution lightness and the small view the network sees."""

    source: Lightness  # L (H, W) at the original resolution, and the alpha channel to carry over
    network_input: np.ndarray  # (1, 1, S, S) float32, L in [0, 100]


def bundled_weights(name: str = DEFAULT_MODEL, suffix: str = ".safetensors") -> Path:
    """Path of a model file shipped inside the package (may not exist)."""
    return Path(str(resources.files("chromalab") / "weights" / f"{name}{suffix}"))


def chosen_options(recommended: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The options a colorizer is built with: what the caller gave, else what the model file recommends.

    A None in ``given`` means "not given" and must not hide a recommendation."""
    given = {k: v for k, v in given.items() if v is not None}
    return {k: v for k, v in {**recommended, **given}.items() if k in RECOMMENDABLE}


class Engine:
    """The steps before and after the network; subclasses provide ``predict_ab``."""

    def __init__(self, *, size: int = DEFAULT_SIZE, temperature: float = DEFAULT_TEMPERATURE, decode: str = "annealed"):
        self.size = self.input_side(check_size(size))
        self.temperature = check_temperature(temperature)
        self.decode = check_decode(decode)

    def input_side(self, size: int) -> int:
        """The side the network sees when asked for ``size`` (a network made for one size overrides this)."""
        return size

    def predict_ab(self, lightness: Any, *, temperature: float | None = None, decode: str | None = None) -> Any:
        """L (B, 1, S, S) in [0, 100] -> ab (B, 2, h, w) in Lab units at the network's output size."""
        raise NotImplementedError

    def colorize(
        self,
        image: Image.Image | np.ndarray | str | Path,
        *,
        temperature: float | None = None,
        decode: str | None = None,
        size: int | None = None,
    ) -> Image.Image:
        """Colorize one image; returns an RGB (or RGBA, keeping the input's alpha) image of the same size."""
        prepared = self.prepare(image, size=size)
        ab_small = self.predict_ab(prepared.network_input, temperature=temperature, decode=decode)
        return self.render(prepared.source, ab_small)

    def prepare(self, image: Image.Image | np.ndarray | str | Path, *, size: int | None = None) -> Prepared:
        """The part of ``colorize`` before the network; thread-safe, so it may run while another image is in it."""
        source = as_lightness(image)
        side = self.size if size is None else self.input_side(check_size(size))
        return Prepared(source, network_view(source.lightness, side))

    def render(self, source: Lightness, ab_small: Any) -> Image.Image:
        """The part of ``colorize`` after the network: ab (1, 2, h, w) onto the full-resolution L, alpha back;
        thread-safe like ``prepare``."""
        result = Image.fromarray(upsample_lab_to_srgb8(source.lightness, np.asarray(ab_small)[0]), mode="RGB")
        if source.alpha is not None:
            result.putalpha(source.alpha)
        return result


def network_view(lightness: np.ndarray, size: int) -> np.ndarray:
    """L (H, W) -> (1, 1, size, size) float32, antialiased (Pillow resamples float images)."""
    small = Image.fromarray(np.asarray(lightness, dtype=np.float32), mode="F").resize((size, size), Image.Resampling.BILINEAR)
    return np.array(small, dtype=np.float32)[None, None]


def as_lightness(image: Image.Image | np.ndarray | str | Path) -> Lightness:
    """Accept a PIL image, a path, or an array (H, W) / (H, W, 3|4), uint8 or float in [0, 1]."""
    if isinstance(image, (str, Path)):
        image = open_image(image)
    elif isinstance(image, np.ndarray):
        image = _array_to_image(image)
    elif not isinstance(image, Image.Image):
        raise TypeError(f"expected a PIL image, a numpy array or a path, got {type(image).__name__}")
    return to_lightness(image)


def _array_to_image(array: np.ndarray) -> Image.Image:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f"expected an array (H, W) or (H, W, 3|4), got {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"expected uint8 or float values in [0, 1], got {array.dtype}")
        array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array)


def side_for(requested: int, *, fixed: int | None = None, step: int | None = None) -> int:
    """The square side a network takes when asked for ``requested``: its ``fixed`` side if it has one, else the
    nearest multiple of ``step`` if it needs one, else ``requested``."""
    if fixed is not None:
        return fixed
    if step is not None:
        return max(step, round(requested / step) * step)
    return requested


def check_size(size: int) -> int:
    if not isinstance(size, int) or size < 16 or size > 4096:
        raise ValueError(f"size must be an integer in [16, 4096], got {size!r}")
    return size


def check_temperature(temperature: float) -> float:
    if not 0.0 <= float(temperature) <= 10.0:
        raise ValueError(f"temperature must be in [0, 10], got {temperature}")
    return float(temperature)


def check_decode(decode: str) -> str:
    if decode not in DECODE_METHODS:
        raise ValueError(f"decode must be one of {', '.join(DECODE_METHODS)}, got {decode!r}")
    return decode
