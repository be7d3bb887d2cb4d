"""``OnnxColorizer``: colorize with a graph written by ``chromalab export``, on onnxruntime, without torch.

Importing torch costs 2-3 s on the 2-core machine, more than colorizing a 12-megapixel photo; this path
imports numpy, Pillow and onnxruntime only. Everything but the network comes from ``core.BaseColorizer``, so
both backends give the same photo up to float rounding in the network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from chromalab.color.decoding import DEFAULT_TEMPERATURE, METHOD_TEMPERATURE
from chromalab.colorize.core import BaseColorizer
from chromalab.colorize.options import DEFAULT_MODEL, DEFAULT_SIZE, bundled_weights, chosen_options
from chromalab.models.spec import GRAPH_MODE_HUE_OUTPUT, GRAPH_OUTPUT, METADATA_KEY, side_for


class OnnxColorizer(BaseColorizer):
    """Colorize images with an exported graph. Build with ``OnnxColorizer.load(name_or_path)``."""

    def __init__(
        self,
        session: object,  # onnxruntime.InferenceSession
        metadata: dict,
        *,
        size: int = DEFAULT_SIZE,
        temperature: float = DEFAULT_TEMPERATURE,
        decode: str = "annealed",
    ) -> None:
        self.session = session
        self.metadata = metadata
        self.inputs = {i.name for i in session.get_inputs()}  # a regression graph has no temperature
        self.outputs = {o.name for o in session.get_outputs()}  # ab, and ab_mode_hue for joint bins
        super().__init__(size=size, temperature=temperature, decode=decode)

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MODEL, **options: object) -> OnnxColorizer:
        """Load the bundled ``default`` graph or an .onnx file written by ``chromalab export``; ``options`` as
        in ``Colorizer.load``. FileNotFoundError or ValueError when there is no usable graph."""
        import onnxruntime
        from onnxruntime.capi import onnxruntime_pybind11_state as errors

        path = bundled_weights(suffix=".onnx") if str(name_or_path) == DEFAULT_MODEL else Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model file not found: {path}")
        settings = onnxruntime.SessionOptions()
        # as OMP_WAIT_POLICY=PASSIVE
        settings.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = onnxruntime.InferenceSession(str(path), settings, providers=["CPUExecutionProvider"])
        except (
            errors.Fail,
            errors.InvalidProtobuf,
            errors.InvalidGraph,
            errors.InvalidArgument,
            errors.NoSuchFile,
        ) as error:
            raise ValueError(f"{path}: not a readable ONNX file ({str(error).splitlines()[0]})") from None
        raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if raw is None:
            raise ValueError(f"{path}: not written by 'chromalab export' (no '{METADATA_KEY}' metadata)")
        metadata = json.loads(raw)
        return cls(session, metadata, **chosen_options(metadata.get("info", {}).get("defaults", {}), options))

    @property
    def bins(self) -> object:  # -> Bins | None
        """The model's bin set when its spec alone rebuilds it (gamut and channel bins; the graph does not
        carry the centres of ``data:G`` or ``file:PATH`` bins); imports torch, so only scoring asks for it."""
        spec = self.metadata.get("bins")
        if not spec or not spec.startswith(("gamut:", "channels:")):
            return None
        from chromalab.color.bin_sets import make_bins

        return make_bins(spec)

    def input_side(self, size: int) -> int:
        return side_for(size, **self.metadata.get("side", {}))

    def predict_ab(
        self,
        lightness: np.ndarray,
        *,
        temperature: float | None = None,
        decode: str | None = None,
        hint_map: None = None,
    ) -> np.ndarray:
        """L (B, 1, S, S) in [0, 100] -> ab (B, 2, h, w) in Lab units at the network's output size (the
        exported graph is the automatic one: it takes no hints)."""
        if hint_map is not None:
            raise ValueError("an exported graph takes no hints; use the torch engine")
        method, t = self.decoding(temperature, decode)
        # mode, mean: annealed
        feeds = {
            "lightness": np.ascontiguousarray(lightness, dtype=np.float32),
            "temperature": np.array(METHOD_TEMPERATURE.get(method, t), dtype=np.float32),
        }
        output = GRAPH_MODE_HUE_OUTPUT if method == "mode-hue" else GRAPH_OUTPUT
        if output not in self.outputs:
            raise ValueError(
                f"this graph has no {method} decoding (its bins have no joint hue, or it was exported "
                "before mode-hue existed: export it again)"
            )
        return self.session.run([output], {k: v for k, v in feeds.items() if k in self.inputs})[0]
