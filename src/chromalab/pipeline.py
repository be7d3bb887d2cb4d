"""``Colorizer``: a trained network plus everything around it, from an image to its colorization.

image -> L at full resolution -> L resized to ``size`` -> network -> logits -> decode (annealed mean, T)
-> ab at 1/4 of ``size`` -> ab upsampled to the ORIGINAL size -> joined with the ORIGINAL L -> sRGB.
The output therefore has the input's resolution and all of its detail; only the colour is predicted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from chromalab.checkpoint import ModelSpec, load_model
from chromalab.color.bins import DECODE_METHODS, Bins, make_bins
from chromalab.color.lab import denormalize_ab, normalize_l, upsample_lab_to_srgb8
from chromalab.images import Lightness, open_image, to_lightness
from chromalab.models.registry import input_side

DEFAULT_MODEL = "default"
DEFAULT_SIZE = 256
DEFAULT_TEMPERATURE = 0.38  # Zhang et al. 2016
RECOMMENDABLE = ("size", "temperature", "decode")  # what a model file may recommend in info["defaults"]


@dataclass
class Prepared:
    """An image ready for the network: its full-resolution lightness and the small view the network sees."""

    source: Lightness  # L (H, W) at the original resolution, and the alpha channel to carry over
    network_input: torch.Tensor  # (1, 1, S, S) L in [0, 100]


def bundled_weights(name: str = DEFAULT_MODEL) -> Path:
    """Path of a model file shipped inside the package (may not exist)."""
    return Path(str(resources.files("chromalab") / "weights" / f"{name}.safetensors"))


class Colorizer:
    """Colorize images with one network. Build with ``Colorizer.load(name_or_path)``."""

    def __init__(
        self,
        model: nn.Module,
        *,
        bins: Bins | None,
        spec: ModelSpec,
        size: int = DEFAULT_SIZE,
        temperature: float = DEFAULT_TEMPERATURE,
        decode: str = "annealed",
    ) -> None:
        self.model = model.eval()
        self.bins = bins
        self.spec = spec
        self.size = input_side(model, _check_size(size))  # size-specific networks see their own size
        self.temperature = _check_temperature(temperature)
        self.decode = _check_decode(decode)

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MODEL, **options: object) -> Colorizer:
        """Load the bundled ``default`` model, a model file (.safetensors), or an untrained registered
        architecture by name (useful for speed measurements only). ``options``: size, temperature, decode;
        an option left out or None takes the model file's recommendation (``info["defaults"]``), if any."""
        path = Path(name_or_path)
        if str(name_or_path) == DEFAULT_MODEL:
            path = bundled_weights()
            if not path.is_file():
                raise FileNotFoundError(
                    "the bundled default model is not in this build yet (issue 'Bundled default model'); "
                    "pass --model PATH to a trained .safetensors file"
                )
        if path.suffix == ".safetensors" or path.is_file():
            if not path.is_file():
                raise FileNotFoundError(f"model file not found: {path}")
            loaded = load_model(path)
            recommended = loaded.spec.info.get("defaults", {})
            given = {k: v for k, v in options.items() if v is not None}  # a None must not hide a recommendation
            chosen = {k: v for k, v in {**recommended, **given}.items() if k in RECOMMENDABLE}
            return cls(loaded.model, bins=loaded.bins, spec=loaded.spec, **chosen)
        return cls.untrained(str(name_or_path), **{k: v for k, v in options.items() if v is not None})

    @classmethod
    def untrained(cls, name: str, *, bins: str = "gamut:10", model_options: dict | None = None, **options: object) -> Colorizer:
        """A registered architecture with random weights; its colours are meaningless.
        Classification when the architecture allows it (over ``bins``), regression otherwise."""
        from chromalab.models import create_model, model_info

        bin_set = make_bins(bins) if "classification" in model_info(name).kinds else None
        model = create_model(name, num_classes=bin_set.num_classes if bin_set else None, **(model_options or {}))
        warnings.warn(f"model {name!r} has random weights: colours will be meaningless", stacklevel=2)
        spec = ModelSpec(name, model_options or {}, bin_set.spec if bin_set else None)
        return cls(model, bins=bin_set, spec=spec, **options)

    # -- the network part --------------------------------------------------------------------------------
    @torch.inference_mode()
    def predict_ab(
        self, lightness: torch.Tensor, *, temperature: float | None = None, decode: str | None = None
    ) -> torch.Tensor:
        """L (B, 1, S, S) in [0, 100] -> ab (B, 2, h, w) in Lab units at the network's output size."""
        out = self.model(normalize_l(lightness))  # (B, Q, h, w) logits or (B, 2, h, w) normalised ab
        if self.bins is None:
            return denormalize_ab(out)
        t = self.temperature if temperature is None else _check_temperature(temperature)
        return self.bins.decode(out, method=_check_decode(decode or self.decode), temperature=t)

    def network_input(self, lightness: torch.Tensor, size: int) -> torch.Tensor:
        """L (H, W) -> (1, 1, size, size), antialiased (Pillow resamples float images)."""
        small = Image.fromarray(lightness.numpy(), mode="F").resize((size, size), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.asarray(small, dtype=np.float32).copy())[None, None]

    # -- the whole image ---------------------------------------------------------------------------------
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
        size = self.size if size is None else input_side(self.model, _check_size(size))
        return Prepared(source, self.network_input(source.lightness, size))

    def render(self, source: Lightness, ab_small: torch.Tensor) -> Image.Image:
        """The part of ``colorize`` after the network: ab (1, 2, h, w) onto the full-resolution L, alpha back;
        thread-safe like ``prepare``."""
        result = Image.fromarray(join_lightness(source.lightness, ab_small[0]), mode="RGB")
        if source.alpha is not None:
            result.putalpha(source.alpha)
        return result


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


def join_lightness(lightness: torch.Tensor, ab_small: torch.Tensor) -> np.ndarray:
    """L (H, W) + ab (2, h, w) -> uint8 sRGB (H, W, 3): ab is upsampled bilinearly to H x W."""
    return upsample_lab_to_srgb8(lightness, ab_small).numpy()


def _check_size(size: int) -> int:
    if not isinstance(size, int) or size < 16 or size > 4096:
        raise ValueError(f"size must be an integer in [16, 4096], got {size!r}")
    return size


def _check_temperature(temperature: float) -> float:
    if not 0.0 <= float(temperature) <= 10.0:
        raise ValueError(f"temperature must be in [0, 10], got {temperature}")
    return float(temperature)


def _check_decode(decode: str) -> str:
    if decode not in DECODE_METHODS:
        raise ValueError(f"decode must be one of {', '.join(DECODE_METHODS)}, got {decode!r}")
    return decode
