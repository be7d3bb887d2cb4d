"""What every model file promises, torch-free: where its JSON description lives (in the safetensors
metadata, or in an exported ONNX graph's), its format, and the rule for the side a network's input takes.

Torch-free so that the ONNX backend reads model files without importing torch; ``checkpoint`` writes and
reads the weights beside the description (``checkpoint.ModelSpec``).
"""

from __future__ import annotations

FORMAT = "chromalab-model/1"
METADATA_KEY = "chromalab"  # where a model file (.safetensors or .onnx) keeps its JSON description
# the tensors of an exported graph (``colorize.export``): L and T in; the annealed mean's ab out, and for
# models
# over joint bins (graphs exported since mode-hue decoding exists) the mode-hue ab too
GRAPH_INPUTS = ("lightness", "temperature")
GRAPH_OUTPUT = "ab"
GRAPH_MODE_HUE_OUTPUT = "ab_mode_hue"


def side_for(requested: int, *, fixed: int | None = None, step: int | None = None) -> int:
    """The square side a network takes when asked for ``requested``: its ``fixed`` side if it has one, else
    the nearest multiple of ``step`` if it needs one, else ``requested`` (``registry.side_rule`` says
    which)."""
    if fixed is not None:
        return fixed
    if step is not None:
        return max(step, round(requested / step) * step)
    return requested
