"""What every model file promises, torch-free: where its JSON description lives (in the safetensors
metadata, or in an exported ONNX graph's), its format, and the rule for the side a network's input takes.

Torch-free so that the ONNX backend reads model files without importing torch; ``checkpoint`` writes and
reads the weights beside the description (``checkpoint.ModelSpec``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

FORMAT = "chromalab-model/1"
METADATA_KEY = "chromalab"  # where a model file (.safetensors or .onnx) keeps its JSON description
# the tensors of an exported graph (``colorize.export``): L in; the network's logits out, or for a regression
# model its ab in Lab units. A hint network's graph also takes the hint maps and gives its encoder's features,
# which its decoder graph (a second file beside it) takes with new hints
GRAPH_INPUT = "lightness"
GRAPH_HINTS = "hints"
GRAPH_LOGITS = "logits"
GRAPH_AB = "ab"
GRAPH_FEATURE = "features."  # + the stride of an encoder map, or "pooled"
DECODER_SUFFIX = ".decoder.onnx"  # NAME.onnx's decoder graph is NAME.decoder.onnx


def decoder_path(graph: str) -> str:
    """Where the decoder graph of the graph file ``graph`` lives."""
    return graph.removesuffix(".onnx") + DECODER_SUFFIX


def side_for(requested: int, *, fixed: int | None = None, step: int | None = None) -> int:
    """The square side a network takes when asked for ``requested``: its ``fixed`` side if it has one, else
    the nearest multiple of ``step`` if it needs one, else ``requested`` (``registry.side_rule`` says
    which)."""
    if fixed is not None:
        return fixed
    if step is not None:
        return max(step, round(requested / step) * step)
    return requested


def read_metadata(path: Path) -> dict[str, Any]:
    """The JSON description of a model file; ValueError when the file is not one."""
    try:
        with safe_open(str(path), framework="numpy") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
    except (OSError, SafetensorError) as error:
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from None
    if raw is None:
        raise ValueError(f"{path}: not a chromalab model file (no '{METADATA_KEY}' metadata)")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: unsupported model format {meta.get('format')!r}, expected {FORMAT}")
    return meta
