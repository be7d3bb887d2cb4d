"""Export a model file to ONNX, so that ``onnx_backend.OnnxColorizer`` colorizes without torch; and the
check that both backends agree.

The graph holds the network alone: input ``lightness`` (B, 1, S, S), L in [0, 100]; output ``logits``
(B, Q, h, w), the network's scores over its bins, or for a regression model ``ab`` (B, 2, h, w) in Lab
units. A network with hint inputs also takes ``hints`` (B, 3, S, S) (zeros: none) and gives its encoder's
features (``features.4`` .. ``features.32``, ``features.pooled``); its decoder graph, written beside it as
NAME.decoder.onnx, takes those features and new hints and gives the logits, so that a page whose hints change
runs the encoder once, as on torch.

Decoding (any method, any temperature) happens outside the graph, in numpy (``color.decode_bins``), as the
torch backend decodes: so an onnxruntime caller keeps the logits (a video's stabiliser, a temperature preview)
as a torch caller does. Everything else the model file says (architecture, bins and their centres,
recommended size and temperature) goes into the ONNX file's metadata under the key ``chromalab``, with the
rule for the side the network takes.
"""

from __future__ import annotations

import json
import secrets
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from chromalab.color.bins import JointBins
from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.color.lab import denormalize_ab, normalize_l
from chromalab.files import atomic_write
from chromalab.models.checkpoint import load_model
from chromalab.models.inference import for_inference
from chromalab.models.registry import input_side, side_rule
from chromalab.models.spec import (
    GRAPH_AB,
    GRAPH_FEATURE,
    GRAPH_HINTS,
    GRAPH_INPUT,
    GRAPH_LOGITS,
    METADATA_KEY,
    decoder_path,
)

OPSET = 17
# not the mode: a near tie may fall either way in float rounding
CHECK_TEMPERATURES = (DEFAULT_TEMPERATURE, 1.0)


class GraphNetwork(nn.Module):
    """What the graph computes: L (B, 1, S, S) in [0, 100] -> logits (B, Q, h, w), or ab (B, 2, h, w) in Lab
    units for a regression model; a hint network (``strides``: its encoder's maps) also takes hint maps
    (B, 3, S, S) and gives its encoder's features after the logits."""

    def __init__(self, model: nn.Module, *, regression: bool, strides: list[int] | None = None) -> None:
        super().__init__()
        self.model = model.eval()
        self.regression = regression
        self.strides = strides

    @property
    def inputs(self) -> list[str]:
        return [GRAPH_INPUT] if self.strides is None else [GRAPH_INPUT, GRAPH_HINTS]

    @property
    def outputs(self) -> list[str]:
        first = GRAPH_AB if self.regression else GRAPH_LOGITS
        return [first] if self.strides is None else [first, *feature_names(self.strides)]

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor | None = None) -> Any:
        l_norm = normalize_l(lightness)
        if self.strides is None:
            out = self.model(l_norm)  # (B, Q, h, w) logits or (B, 2, h, w) normalised ab
            return denormalize_ab(out) if self.regression else out
        taps, pooled = self.model.encode(l_norm)
        logits = self.model.run_decoder((taps, pooled), hints)
        return (logits, *(taps[stride] for stride in self.strides), pooled)


class DecoderGraph(nn.Module):
    """A hint network's second half: its encoder's features (``feature_names``' order) and hint maps
    (B, 3, S, S) -> logits (B, Q, h, w)."""

    def __init__(self, model: nn.Module, strides: list[int]) -> None:
        super().__init__()
        self.model = model.eval()
        self.strides = strides

    def forward(self, *features_and_hints: torch.Tensor) -> torch.Tensor:
        *maps, pooled, hints = features_and_hints
        return self.model.run_decoder((dict(zip(self.strides, maps, strict=True)), pooled), hints)


def feature_names(strides: list[int]) -> list[str]:
    return [*(f"{GRAPH_FEATURE}{stride}" for stride in strides), f"{GRAPH_FEATURE}pooled"]


def export_onnx(source: Path, target: Path) -> dict:
    """Write the model file ``source`` (.safetensors) as an ONNX graph at ``target`` (and a hint network's
    decoder graph beside it, ``spec.decoder_path``); returns the metadata.

    ValueError when ``source`` is not a model file; needs the ``onnx`` package (``pip install
    chromalab[train]``).
    """
    loaded = load_model(source)
    for_inference(loaded.model)  # the network the torch engine runs: BatchNorms folded, no subnormal weights
    rule = side_rule(loaded.model)
    side = input_side(loaded.model, 128)
    lightness, hints = torch.full((1, 1, side, side), 50.0), torch.zeros(1, 3, side, side)
    splits = bool(getattr(loaded.model, "takes_hints", False)) and hasattr(loaded.model, "encode")
    with torch.inference_mode():  # the encoder's features: the decoder graph's example, and their strides
        taps, pooled = loaded.model.encode(normalize_l(lightness)) if splits else ({}, None)
    strides = sorted(taps) if splits else None
    network = GraphNetwork(loaded.model, regression=loaded.bins is None, strides=strides)
    metadata = {**loaded.spec.description(), "side": rule, "graph_id": secrets.token_hex(8)}
    if loaded.bins is not None:  # the centres decode the logits: data and file bins cannot be rebuilt
        metadata["centres"] = loaded.bins.centres.tolist()
    spatial = {} if rule["fixed"] else {2: "height", 3: "width"}
    axes = {name: {0: "batch", **spatial} for name in network.inputs}
    for name in network.outputs:  # each map its own height and width; the pooled feature (B, 1280)
        axes[name] = {0: "batch"} if name.endswith("pooled") else {0: "batch", 2: f"{name}_h", 3: f"{name}_w"}
    example = (lightness,) if strides is None else (lightness, hints)
    if strides is not None:
        metadata["decoder"] = True  # written beside the graph, with the same graph_id
        features = [*(taps[stride] for stride in strides), pooled]
        names = [*feature_names(strides), GRAPH_HINTS]
        decoder_axes = {name: axes[name] for name in [*names, GRAPH_LOGITS]}
        decoder, decoder_file = DecoderGraph(loaded.model, strides), Path(decoder_path(str(target)))
        _write_graph(decoder, (*features, hints), decoder_file, names, [GRAPH_LOGITS], decoder_axes, metadata)
    _write_graph(network, example, target, network.inputs, network.outputs, axes, metadata)
    return metadata


def _write_graph(
    network: nn.Module,
    example: tuple[torch.Tensor, ...],
    target: Path,
    inputs: list[str],
    outputs: list[str],
    axes: dict[str, dict[int, str]],
    metadata: dict,
) -> None:
    """Trace ``network`` on ``example`` and write it to ``target`` atomically, ``metadata`` inside."""
    import onnx

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer warnings about Python values taken as constants
            torch.onnx.export(
                network,
                example,
                str(tmp),
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        graph = onnx.load(str(tmp))
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata))
        onnx.save(graph, str(tmp))

    atomic_write(target, write)


def largest_difference(source: Path, graph: Path) -> float:
    """Largest |ab| difference between torch (``source``) and onnxruntime (``graph``) on a smooth gradient, at
    a few temperatures, in each decoding the graph gives."""
    import numpy as np

    from chromalab.colorize.onnx_backend import OnnxColorizer
    from chromalab.colorize.torch_backend import Colorizer

    torch_backend, onnx_backend = Colorizer.load(source), OnnxColorizer.load(graph)
    side = torch_backend.size
    ramp = np.linspace(0.0, 100.0, side, dtype=np.float32)
    lightness = (ramp[:, None] * 0.7 + ramp[None, :] * 0.3)[None, None]  # (1, 1, S, S)
    methods = ["annealed", "mode-hue"] if isinstance(torch_backend.bins, JointBins) else ["annealed"]
    # (1, 2, h, w) each
    differences = [
        onnx_backend.predict_ab(lightness, temperature=t, decode=method)
        - torch_backend.predict_ab(lightness, temperature=t, decode=method).numpy()
        for t in CHECK_TEMPERATURES
        for method in methods
    ]
    return max(float(np.abs(d).max()) for d in differences)
