"""``OnnxColorizer``: colorize with a graph written by ``chromalab export``, on onnxruntime, without torch.

Importing torch costs 2-3 s on the 2-core machine, more than colorizing a 12-megapixel photo; this path
imports numpy, Pillow and onnxruntime only. The graph gives the network's logits; they are decoded here in
numpy (``color.decoding``, the code the torch backend's bins call), and everything else comes from
``core.BaseColorizer``, so both backends give the same photo up to float rounding in the network.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chromalab.color.bin_index import BinIndex
from chromalab.color.decode_bins import decode_channels, decode_joint, mode_neighbourhoods
from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.colorize.core import BaseColorizer
from chromalab.colorize.options import (
    DEFAULT_MODEL,
    DEFAULT_SIZE,
    DeviceFallback,
    bundled_weights,
    chosen_options,
)
from chromalab.models.spec import (
    GRAPH_AB,
    GRAPH_FEATURE,
    GRAPH_HINTS,
    GRAPH_INPUT,
    GRAPH_LOGITS,
    METADATA_KEY,
    decoder_path,
    side_for,
)

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"
# what a GPU user installs instead of onnxruntime (the two packages must not both be installed)
NO_CUDA = "no CUDA GPU for onnxruntime here (a GPU user installs onnxruntime-gpu in place of onnxruntime)"


@dataclass
class GraphFeatures:
    """A hint graph's encoder features of one batch of views, for its decoder graph."""

    arrays: list[np.ndarray]  # the graph's ``features.*`` outputs, in its order
    batch: int
    side: tuple[int, int]  # the views' (S, S): the hint maps the decoder takes are this size

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.arrays)


class OnnxColorizer(BaseColorizer):
    """Colorize images with an exported graph. Build with ``OnnxColorizer.load(name_or_path)``."""

    def __init__(
        self,
        session: object,  # onnxruntime.InferenceSession
        metadata: dict,
        *,
        decoder: object | None = None,  # the decoder graph's session, for a hint network
        size: int = DEFAULT_SIZE,
        temperature: float = DEFAULT_TEMPERATURE,
        decode: str = "annealed",
        min_view: int = 0,
    ) -> None:
        self.session, self.decoder = session, decoder
        self.metadata = metadata
        self.inputs = [i.name for i in session.get_inputs()]
        self.feature_names = [o.name for o in session.get_outputs() if o.name.startswith(GRAPH_FEATURE)]
        self.output = _first_output(metadata)
        centres = np.asarray(metadata.get("centres", []), dtype=np.float32)  # (Q, 2), or (N, 2) per channel
        self.per_channel = str(metadata.get("bins", "")).startswith("channels:")
        self.centres = centres[:, 0] if self.per_channel else centres
        self.near_mode = mode_neighbourhoods(centres) if len(centres) and not self.per_channel else None
        super().__init__(size=size, temperature=temperature, decode=decode, min_view=min_view)

    @classmethod
    def load(
        cls,
        name_or_path: str | Path = DEFAULT_MODEL,
        *,
        threads: int | None = None,
        device: str = "auto",
        **options: object,
    ) -> OnnxColorizer:
        """Load the bundled ``default`` graph or an .onnx file written by ``chromalab export``; ``options`` as
        in ``Colorizer.load``; ``threads``: onnxruntime's threads per call (None: one per core); ``device``:
        cpu, cuda (onnxruntime-gpu's CUDA provider: a warning and the CPU when there is none) or auto (CUDA
        when there is one). FileNotFoundError or ValueError when there is no usable graph."""
        path = bundled_weights(suffix=".onnx") if str(name_or_path) == DEFAULT_MODEL else Path(name_or_path)
        session, metadata = _open_graph(path, threads, device)
        if device == "cuda" and CUDA not in session.get_providers():
            warnings.warn(f"--device cuda: {NO_CUDA}; running on the CPU", DeviceFallback, stacklevel=2)
        outputs = {o.name for o in session.get_outputs()}
        wanted = _first_output(metadata)
        if wanted not in outputs or (metadata.get("bins") and "centres" not in metadata):
            raise ValueError(
                f"{path}: exported by an older chromalab (no '{wanted}' output); export it again"
            )
        decoder = None
        if metadata.get("decoder") and Path(decoder_path(str(path))).is_file():
            decoder, its_metadata = _open_graph(Path(decoder_path(str(path))), threads, device)
            if its_metadata.get("graph_id") != metadata.get("graph_id"):
                decoder = None  # a stale file of another export: hints then run the whole graph
        chosen = chosen_options(metadata.get("info", {}).get("defaults", {}), options)
        return cls(session, metadata, decoder=decoder, **chosen)

    @property
    def bin_index(self) -> BinIndex | None:
        spec = self.metadata.get("bins")
        return BinIndex(spec, self.centres) if spec else None

    def input_side(self, size: int) -> int:
        return side_for(size, **self.metadata.get("side", {}))

    @property
    def description(self) -> dict:
        return self.metadata

    @property
    def takes_hints(self) -> bool:
        return GRAPH_HINTS in self.inputs

    @property
    def bin_centres(self) -> np.ndarray | None:
        return self.centres if self.near_mode is not None else None

    def network_output(self, lightness: np.ndarray, hint_map: np.ndarray | None = None) -> np.ndarray:
        """L (B, 1, S, S) in [0, 100] [+ hint maps (B, 3, S, S), for a graph that ``takes_hints``] -> logits
        (B, Q, h, w), or ab (B, 2, h, w) in Lab units for a regression model: the network's answer before
        decoding."""
        return self.session.run([self.output], self._feeds(lightness, hint_map))[0]

    def encode(self, lightness: np.ndarray) -> object:
        """The encoder's features of L (B, 1, S, S), for ``hinted_output``: the graph's feature outputs when
        its decoder graph is there (a hint change then runs the decoder alone), else the view itself."""
        if self.decoder is None or not self.feature_names:
            return super().encode(lightness)
        arrays = self.session.run(self.feature_names, self._feeds(lightness, None))
        return GraphFeatures(arrays, lightness.shape[0], tuple(lightness.shape[-2:]))

    def hinted_output(self, encoded: object, hint_map: np.ndarray | None) -> np.ndarray:
        if not isinstance(encoded, GraphFeatures):
            return super().hinted_output(encoded, hint_map)
        feeds = dict(zip(self.feature_names, encoded.arrays, strict=True))
        feeds[GRAPH_HINTS] = _hint_feed(hint_map, encoded.batch, encoded.side)
        return self.decoder.run([GRAPH_LOGITS], feeds)[0]

    def encoder_maps(self, encoded: object) -> dict[int, np.ndarray] | None:
        if not isinstance(encoded, GraphFeatures):
            return None
        strides = (name.removeprefix(GRAPH_FEATURE) for name in self.feature_names)
        return {
            int(stride): array
            for stride, array in zip(strides, encoded.arrays, strict=True)
            if stride.isdigit()
        }

    def _feeds(self, lightness: np.ndarray, hint_map: np.ndarray | None) -> dict[str, np.ndarray]:
        lightness = np.ascontiguousarray(lightness, dtype=np.float32)
        if hint_map is not None and not self.takes_hints:
            raise ValueError("this model takes no hints")
        feeds = {GRAPH_INPUT: lightness}
        if self.takes_hints:  # zeros: no hint, exactly the automatic network
            feeds[GRAPH_HINTS] = _hint_feed(hint_map, lightness.shape[0], lightness.shape[-2:])
        return feeds

    def decode_output(
        self, output: np.ndarray, *, temperature: float | None = None, decode: str | None = None
    ) -> np.ndarray:
        """``network_output`` -> ab (B, 2, h, w) in Lab units, as the torch backend decodes."""
        if self.output == GRAPH_AB:
            return np.asarray(output, dtype=np.float32)
        method, t = self.decoding(temperature, decode)
        if self.per_channel:
            return decode_channels(output, self.centres, method=method, temperature=t)
        return decode_joint(output, self.centres, method=method, temperature=t, near_mode=self.near_mode)


def _first_output(metadata: dict) -> str:
    """The graph output a colorizer reads: the logits over the bins, or a regression model's ab."""
    return GRAPH_LOGITS if metadata.get("bins") else GRAPH_AB


def _open_graph(path: Path, threads: int | None, device: str = "cpu") -> tuple[object, dict]:
    """(onnxruntime session on ``device``, its ``chromalab`` metadata) of a graph file; FileNotFoundError or
    ValueError."""
    import onnxruntime
    from onnxruntime.capi import onnxruntime_pybind11_state as errors

    if not path.is_file():
        raise FileNotFoundError(f"ONNX model file not found: {path}")
    settings = onnxruntime.SessionOptions()
    # as OMP_WAIT_POLICY=PASSIVE
    settings.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # not session.set_denormal_as_zero: it sets the calling thread's FTZ/DAZ flags for the whole process (seen
    # breaking other code's subnormal arithmetic); the graph is exported from the inference form, which holds
    # no subnormal weights
    if threads is not None:
        settings.intra_op_num_threads = threads
    try:
        session = onnxruntime.InferenceSession(str(path), settings, providers=providers_for(device))
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
    return session, json.loads(raw)


def providers_for(device: str) -> list[str]:
    """onnxruntime's execution providers for ``device``, best first: CUDA (then the CPU, for what CUDA
    cannot run) when it is asked for or ``auto`` and onnxruntime has it; the CPU alone otherwise. A CUDA
    provider without a GPU falls back to the CPU when the session starts."""
    import onnxruntime

    if device != "cpu" and CUDA in onnxruntime.get_available_providers():
        return [CUDA, CPU]
    return [CPU]


def _hint_feed(hint_map: np.ndarray | None, batch: int, side: tuple[int, int]) -> np.ndarray:
    """The hint maps (B, 3, S, S) as the graph takes them; zeros for none."""
    if hint_map is None:
        return np.zeros((batch, 3, *side), dtype=np.float32)
    return np.ascontiguousarray(hint_map, dtype=np.float32)
