"""``Colorizer``: a trained torch network plus everything around it (``core.BaseColorizer``), from an image to
its colorization. The same steps run on onnxruntime, without torch, in ``onnx_backend.OnnxColorizer``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from chromalab.color.bin_index import BinIndex
from chromalab.color.bin_sets import make_bins
from chromalab.color.bins import Bins, JointBins
from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.color.lab import denormalize_ab, normalize_l
from chromalab.colorize.core import BaseColorizer
from chromalab.colorize.options import (
    DEFAULT_MODEL,
    DEFAULT_SIZE,
    bundled_weights,
    chosen_options,
    is_bundled,
)
from chromalab.models.checkpoint import ModelSpec, load_model
from chromalab.models.inference import for_inference
from chromalab.models.registry import input_side


class Colorizer(BaseColorizer):
    """Colorize images with one torch network. Build with ``Colorizer.load(name_or_path)``."""

    def __init__(
        self,
        model: nn.Module,
        *,
        bins: Bins | None,
        spec: ModelSpec,
        size: int = DEFAULT_SIZE,
        temperature: float = DEFAULT_TEMPERATURE,
        decode: str = "annealed",
        min_view: int = 0,
    ) -> None:
        self.model = model.eval()
        self.bins = bins
        self.spec = spec
        super().__init__(size=size, temperature=temperature, decode=decode, min_view=min_view)

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MODEL, **options: object) -> Colorizer:
        """Load a bundled model by name (``default``, ``fast-v1``), a model file (.safetensors), or an
        untrained registered architecture by name (useful for speed measurements only). ``options``: size,
        temperature, decode, min_view; an option left out or None takes the model file's recommendation
        (``info["defaults"]``), if any. The network is held in its inference form (``models.inference``:
        BatchNorms folded, channels-last)."""
        path = Path(name_or_path)
        if is_bundled(str(name_or_path)):
            path = bundled_weights(str(name_or_path))
            if not path.is_file():
                raise FileNotFoundError(
                    f"the bundled model {str(name_or_path)!r} is missing from this installation ({path}); "
                    "reinstall chromalab, or pass --model PATH to a trained .safetensors file"
                )
        if path.suffix == ".safetensors" or path.is_file():
            if not path.is_file():
                raise FileNotFoundError(f"model file not found: {path}")
            loaded = load_model(path)
            chosen = chosen_options(loaded.spec.info.get("defaults", {}), options)
            return cls(for_inference(loaded.model), bins=loaded.bins, spec=loaded.spec, **chosen)
        return cls.untrained(str(name_or_path), **{k: v for k, v in options.items() if v is not None})

    @classmethod
    def untrained(
        cls,
        name: str,
        *,
        bins: str = "gamut:10",
        model_options: dict | None = None,
        seed: int = 0,
        **options: object,
    ) -> Colorizer:
        """A registered architecture with random weights drawn from ``seed`` (the same every call; torch's
        global generator is left as it was); its colours are meaningless. Classification when the
        architecture allows it (over ``bins``), regression otherwise."""
        from chromalab.models import create_model, model_info

        bin_set = make_bins(bins) if "classification" in model_info(name).kinds else None
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = create_model(
                name, num_classes=bin_set.num_classes if bin_set else None, **(model_options or {})
            )
        warnings.warn(f"model {name!r} has random weights: colours will be meaningless", stacklevel=2)
        spec = ModelSpec(name, model_options or {}, bin_set.spec if bin_set else None)
        return cls(for_inference(model), bins=bin_set, spec=spec, **options)

    def input_side(self, size: int) -> int:
        return input_side(self.model, size)  # size-specific networks see their own size

    @property
    def takes_hints(self) -> bool:
        return bool(getattr(self.model, "takes_hints", False))

    @torch.inference_mode()
    def network_output(
        self, lightness: torch.Tensor | np.ndarray, hint_map: torch.Tensor | np.ndarray | None = None
    ) -> torch.Tensor:
        """L (B, 1, S, S) in [0, 100] -> the network's answer before decoding: logits (B, Q, h, w) over the
        bins, or normalised ab (B, 2, h, w) for a regression model. Kept, it is decoded again at any
        temperature. ``hint_map``: (B, 3, S, S) for a network that ``takes_hints`` (``ValueError`` for one
        that does not)."""
        l_norm = normalize_l(torch.as_tensor(lightness))
        if hint_map is None:
            return self.model(l_norm)
        if not self.takes_hints:
            raise ValueError("this model takes no hints")
        return self.model(l_norm, torch.as_tensor(hint_map))

    @property
    def description(self) -> dict:
        return self.spec.description()

    @property
    def bin_centres(self) -> np.ndarray | None:
        return self.bins.centres.numpy() if isinstance(self.bins, JointBins) else None

    @property
    def bin_index(self) -> BinIndex | None:
        return None if self.bins is None else BinIndex.of(self.bins)

    @torch.inference_mode()
    def encode(self, lightness: torch.Tensor | np.ndarray) -> object:
        """A hint network's first half, which sees no hints: L (B, 1, S, S) -> its encoder's features, for
        ``hinted_output`` (``colorize.hint_session``: the encoder runs once however often the hints
        change); the views themselves for a network that does not split."""
        if not hasattr(self.model, "encode"):
            return super().encode(lightness)
        return self.model.encode(normalize_l(torch.as_tensor(lightness)))

    @torch.inference_mode()
    def hinted_output(self, encoded: object, hint_map: torch.Tensor | np.ndarray | None) -> torch.Tensor:
        """The network's answer from ``encode``'s features and hint maps (B, 3, S, S) (None: none)."""
        if not hasattr(self.model, "encode"):
            return super().hinted_output(encoded, hint_map)
        return self.model.run_decoder(encoded, None if hint_map is None else torch.as_tensor(hint_map))

    def encoder_maps(self, encoded: object) -> dict[int, np.ndarray] | None:
        if not hasattr(self.model, "encode"):
            return None
        taps, _pooled = encoded  # ({stride: (B, C, S/stride, S/stride)}, (B, 1280))
        return {stride: tap.numpy() for stride, tap in taps.items()}

    @torch.inference_mode()
    def decode_output(
        self,
        output: torch.Tensor | np.ndarray,
        *,
        temperature: float | None = None,
        decode: str | None = None,
    ) -> torch.Tensor:
        """``network_output`` (a tensor, or an array as the stabiliser gives) -> ab (B, 2, h, w) in Lab units
        (annealed mean at ``temperature``, or mean, or mode)."""
        output = torch.as_tensor(output)
        if self.bins is None:
            return denormalize_ab(output)
        method, t = self.decoding(temperature, decode)
        return self.bins.decode(output, method=method, temperature=t)
