"""Export a model file to ONNX, so that ``onnx_backend.OnnxColorizer`` colorizes without torch; and the
check that both backends agree.

The graph holds the network and its decoding: inputs ``lightness`` (B, 1, S, S), L in [0, 100], and
``temperature`` (a scalar; <= 0.001 gives the mode, 1 the mean), output ``ab`` (B, 2, h, w) in Lab units,
the annealed mean; a model over joint bins also gives ``ab_mode_hue`` (B, 2, h, w), its ``mode-hue``
decoding. Everything else the model file says (architecture, bins, recommended size and temperature) goes
into the ONNX file's metadata under the key ``chromalab``, with the rule for the side the network takes.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch
from torch import nn

from chromalab.color.bins import Bins, JointBins
from chromalab.color.decoding import DEFAULT_TEMPERATURE
from chromalab.color.lab import denormalize_ab, normalize_l
from chromalab.files import atomic_write
from chromalab.models.checkpoint import load_model
from chromalab.models.registry import input_side, side_rule
from chromalab.models.spec import GRAPH_INPUTS, GRAPH_MODE_HUE_OUTPUT, GRAPH_OUTPUT, METADATA_KEY

OPSET = 17
# not the mode: a near tie may fall either way in float rounding
CHECK_TEMPERATURES = (
    DEFAULT_TEMPERATURE,
    1.0,
)


class DecodingNetwork(nn.Module):
    """A network with its decoding: L (B, 1, S, S) in [0, 100] and T () -> ab (B, 2, h, w) in Lab units,
    and for joint bins the same in mode-hue."""

    def __init__(self, model: nn.Module, bins: Bins | None) -> None:
        super().__init__()
        self.model = model.eval()
        self.bins = bins

    @property
    def outputs(self) -> list[str]:
        return [GRAPH_OUTPUT, GRAPH_MODE_HUE_OUTPUT] if isinstance(self.bins, JointBins) else [GRAPH_OUTPUT]

    def forward(
        self, lightness: torch.Tensor, temperature: torch.Tensor
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        out = self.model(normalize_l(lightness))  # (B, Q, h, w) logits or (B, 2, h, w) normalised ab
        if self.bins is None:
            return denormalize_ab(out)
        annealed = self.bins.decode(out, method="annealed", temperature=temperature)
        if not isinstance(self.bins, JointBins):
            return annealed
        return annealed, self.bins.decode(out, method="mode-hue", temperature=temperature)


def export_onnx(source: Path, target: Path) -> dict:
    """Write the model file ``source`` (.safetensors) as an ONNX graph at ``target``; returns the metadata.

    ValueError when ``source`` is not a model file; needs the ``onnx`` package (``pip install
    chromalab[export]``).
    """
    import onnx

    loaded = load_model(source)
    rule = side_rule(loaded.model)
    side = input_side(loaded.model, 128)
    example = (torch.full((1, 1, side, side), 50.0), torch.tensor(0.5))
    spatial = {} if rule["fixed"] else {2: "height", 3: "width"}
    network = DecodingNetwork(loaded.model, loaded.bins)
    out_axes = {0: "batch", **{k: f"out_{v}" for k, v in spatial.items()}}
    dynamic_axes = {"lightness": {0: "batch", **spatial}, **{name: out_axes for name in network.outputs}}
    metadata = {**loaded.spec.description(), "side": rule}

    def write(tmp: Path) -> None:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # tracer warnings about Python values taken as constants
            torch.onnx.export(
                network,
                example,
                str(tmp),
                input_names=list(GRAPH_INPUTS),
                output_names=network.outputs,
                dynamic_axes=dynamic_axes,
                opset_version=OPSET,
                dynamo=False,
            )
        graph = onnx.load(str(tmp))
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata))
        onnx.save(graph, str(tmp))

    atomic_write(target, write)
    return metadata


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
