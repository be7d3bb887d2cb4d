"""An exported graph in int8: onnxruntime's quantization of a graph written by ``export.export_onnx`` (and of
its decoder graph, for a hint network), for ``chromalab export --quantize int8``.

Two ways, both onnxruntime's (``onnxruntime.quantization``):

- ``static``: weights int8 per output channel, activations uint8 with ranges calibrated on photos (min and
  max over ``CalibrationViews``), written as QuantizeLinear / DequantizeLinear pairs (QDQ) that onnxruntime
  fuses into int8 kernels; the head (``_kept_in_float``) stays in float. The one ``--quantize int8`` writes:
  measured 1.9x faster than the fp32 graph at 256 x 256, 0.16 points of rebalanced AuC lower on kodak24 and
  cbsd68 (``bench/bench_int8.py``).
- ``dynamic``: weights int8, activation ranges computed at run time; needs no photos, but onnxruntime runs
  its convolutions as ConvInteger, measured 5.6x *slower* than fp32 here. Kept for the benchmark's comparison.

The quantized graph keeps the fp32 graph's inputs, outputs and ``chromalab`` metadata (plus ``quantized``),
so ``OnnxColorizer`` runs it as it runs any graph; a hint network's two graphs keep their shared graph_id.
Needs onnx and onnxruntime, not torch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from chromalab.color.hints import hint_map, sample_hints
from chromalab.color.srgb8 import rgb8_to_lab, rgb_lightness_u8
from chromalab.colorize.core import network_view
from chromalab.colorize.onnx_backend import OnnxColorizer
from chromalab.files import atomic_write
from chromalab.images import ImageError, open_rgb
from chromalab.models.spec import GRAPH_AB, GRAPH_HINTS, GRAPH_INPUT, GRAPH_LOGITS, METADATA_KEY, decoder_path

QUANTIZATIONS = ("int8",)  # --quantize's values
METHODS = ("static", "dynamic")
CALIBRATION_PHOTOS = 100  # photos the static ranges are measured on
CALIBRATION_SEED = 8  # which photos get hints, and which hints
HINTED_SHARE = 0.5  # of the calibration views, those given hints drawn from their truth


def quantize_graph(
    graph: Path,
    target: Path,
    *,
    method: str = "static",
    photos: list[Path] | None = None,
    size: int | None = None,
) -> dict:
    """Write the fp32 graph ``graph`` (from ``export_onnx``) in int8 at ``target``, and its decoder graph, if
    it has one, beside ``target`` (``spec.decoder_path``); returns the metadata written. ``photos``: the
    calibration photos of ``static`` (``CALIBRATION_PHOTOS`` of them is plenty); ``size``: the view they are
    seen at (None: the graph's own size, the one it will run at). ValueError when the method
    or the photos do not do."""
    if method not in METHODS:
        raise ValueError(f"quantization method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "static" and not photos:
        raise ValueError("static quantization needs calibration photos")
    # the fp32 graph: it gives the decoder graph's calibration features
    colorizer = OnnxColorizer.load(graph, size=size)
    metadata = {**colorizer.metadata, "quantized": f"int8-{method}"}
    views = CalibrationViews(colorizer, photos or []) if method == "static" else None
    _quantize_one(graph, target, method, views, metadata)
    if colorizer.decoder is not None:
        decoder_views = DecoderViews(colorizer, views) if views is not None else None
        _quantize_one(
            Path(decoder_path(str(graph))), Path(decoder_path(str(target))), method, decoder_views, metadata
        )
    return metadata


class CalibrationViews:
    """The graph's real inputs for a few photos, as ``colorize`` feeds it: L (1, 1, S, S) of each photo's view
    at the colorizer's size (S: the side the graph takes; smaller photos upsampled, since the ranges are
    measured for the size the graph runs at), and for a graph that takes hints, hint maps (1, 3, S, S): zeros
    for half of the views, for the other half hints drawn from the photo's truth (Zhang et al. 2017's
    sampler, ``color.hints.sample_hints``), as training gives them. Unreadable photos are skipped."""

    def __init__(self, colorizer: OnnxColorizer, photos: list[Path]) -> None:
        self.colorizer, self.photos = colorizer, photos
        self.side = colorizer.input_side(colorizer.size)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        rng = np.random.default_rng(CALIBRATION_SEED)
        for path in self.photos:
            try:
                rgb = open_rgb(path)  # (H, W, 3) uint8
            except ImageError:
                continue
            feeds = {GRAPH_INPUT: network_view(rgb_lightness_u8(rgb), self.side)}  # (1, 1, S, S)
            if self.colorizer.takes_hints:
                hinted = rng.random() < HINTED_SHARE
                given = sample_hints(rgb8_to_lab(rgb)[1:], rng) if hinted else []  # ab (2, H, W)
                drawn = hint_map(given, (rgb.shape[1], rgb.shape[0]), (self.side, self.side))
                feeds[GRAPH_HINTS] = drawn[None]  # (1, 3, S, S)
            yield feeds


class DecoderViews:
    """The decoder graph's real inputs: the fp32 graph's encoder features of each calibration view, with its
    hint maps."""

    def __init__(self, colorizer: OnnxColorizer, views: CalibrationViews) -> None:
        self.colorizer, self.views = colorizer, views

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        names = self.colorizer.feature_names
        for feeds in self.views:
            features = self.colorizer.session.run(names, feeds)
            yield {**dict(zip(names, features, strict=True)), GRAPH_HINTS: feeds[GRAPH_HINTS]}


class _Reader:
    """``onnxruntime.quantization.CalibrationDataReader``'s protocol over an iterable of feeds."""

    def __init__(self, feeds: CalibrationViews | DecoderViews) -> None:
        self.feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def _quantize_one(
    source: Path,
    target: Path,
    method: str,
    views: CalibrationViews | DecoderViews | None,
    metadata: dict,
) -> None:
    """One graph file in int8, atomically, ``metadata`` in it."""
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    def write(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="chromalab-int8-") as folder, _quiet_root_logger():
            prepared = Path(folder) / "prepared.onnx"
            # onnxruntime's advice before quantizing: shapes inferred, the graph's own constants folded; the
            # symbolic shape inference gives up on the traced padding arithmetic (it is not needed)
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            quantized = Path(folder) / "int8.onnx"
            if method == "dynamic":
                quantize_dynamic(prepared, quantized, weight_type=QuantType.QInt8, per_channel=True)
            else:
                quantize_static(
                    prepared,
                    quantized,
                    _Reader(views),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    nodes_to_exclude=_kept_in_float(prepared),
                )
            graph = onnx.load(str(quantized))
        del graph.metadata_props[:]
        graph.metadata_props.add(key=METADATA_KEY, value=json.dumps(metadata))
        onnx.save(graph, str(tmp))

    atomic_write(target, write)


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantizer warns on the root logger about each int64 tensor (the traced padding
    arithmetic) it leaves in float: expected, and a screenful for a CLI user."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _kept_in_float(graph: Path) -> list[str]:
    """The nodes left in float: the head, which gives the outputs the colorizer decodes (the logits, or a
    regression model's ab). Its rounding moves every bin's score, and a mode decoding flips with it
    (measured, ``bench/bench_int8.py``: rebalanced AuC 0.63 points lower on kodak24 with the head in int8,
    0.16 with it in float; it is about 5 % of the network's arithmetic)."""
    import onnx

    decoded = {GRAPH_LOGITS, GRAPH_AB}
    return [node.name for node in onnx.load(str(graph)).graph.node if decoded & set(node.output)]
