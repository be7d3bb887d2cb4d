"""What a model file says about its network, torch-free: the description every model file carries (in the
safetensors metadata, or in an exported ONNX graph's) and the rule for the side a network's input takes.

Torch-free so that the ONNX backend reads model files without importing torch; ``checkpoint`` writes and
reads the weights beside this description.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

FORMAT = "chromalab-model/1"
METADATA_KEY = "chromalab"  # where a model file (.safetensors or .onnx) keeps its JSON description


@dataclass
class ModelSpec:
    """What a model file says about its network: enough to rebuild it with ``create_model``."""

    model: str
    options: dict[str, Any] = field(default_factory=dict)
    bins: str | None = None  # bin spec of a classification model, None for regression
    info: dict[str, Any] = field(default_factory=dict)  # training command, data, metrics...

    def build(self, num_classes: int | None) -> Any:  # -> nn.Module
        from chromalab.models.registry import create_model

        return create_model(self.model, num_classes=num_classes, **self.options)

    def description(self) -> dict[str, Any]:
        """The JSON a model file (.safetensors, or .onnx from ``chromalab export``) keeps under METADATA_KEY."""
        return {"format": FORMAT, **asdict(self)}


def side_for(requested: int, *, fixed: int | None = None, step: int | None = None) -> int:
    """The square side a network takes when asked for ``requested``: its ``fixed`` side if it has one, else the
    nearest multiple of ``step`` if it needs one, else ``requested`` (``registry.side_rule`` says which)."""
    if fixed is not None:
        return fixed
    if step is not None:
        return max(step, round(requested / step) * step)
    return requested
