"""Self-describing model files: safetensors weights plus a JSON description (``ModelSpec``) in the file's
metadata.

A model file holds everything needed to rebuild and use the network: registry name and options, the bin
set (spec + centres) for classification models, the ab prior when known, and free-form training facts.
Files are written atomically (temporary file + rename) and read without unpickling anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from chromalab.color.bin_sets import bins_from_centres
from chromalab.color.bins import Bins
from chromalab.files import atomic_write
from chromalab.models.registry import create_model
from chromalab.models.spec import FORMAT, METADATA_KEY, read_metadata

BIN_CENTRES = "bins.centres"
PRIOR = "bins.prior"
MODEL_PREFIX = "model."


@dataclass
class ModelSpec:
    """What a model file says about its network: enough to rebuild it with ``create_model``."""

    model: str
    options: dict[str, Any] = field(default_factory=dict)
    bins: str | None = None  # bin spec of a classification model, None for regression
    info: dict[str, Any] = field(default_factory=dict)  # training command, data, metrics...

    def build(self, num_classes: int | None) -> nn.Module:
        return create_model(self.model, num_classes=num_classes, **self.options)

    def description(self) -> dict[str, Any]:
        """The JSON a model file (.safetensors, or .onnx from ``chromalab export``) keeps under
        METADATA_KEY."""
        return {"format": FORMAT, **asdict(self)}


def save_model(
    path: Path,
    model: nn.Module,
    spec: ModelSpec,
    *,
    bins: Bins | None = None,
    prior: torch.Tensor | None = None,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write ``model`` and its description to ``path`` (.safetensors)."""
    tensors = {MODEL_PREFIX + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if bins is not None:
        tensors[BIN_CENTRES] = bins.centres.float().contiguous()
    if prior is not None:
        tensors[PRIOR] = prior.float().cpu().contiguous()
    tensors.update(extra or {})
    metadata = {METADATA_KEY: json.dumps(spec.description())}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


@dataclass
class LoadedModel:
    model: nn.Module
    spec: ModelSpec
    bins: Bins | None
    prior: torch.Tensor | None
    tensors: dict[str, torch.Tensor]  # everything else stored in the file


def recommend(source: Path, target: Path, defaults: dict[str, Any], *, data: str | None = None) -> None:
    """Copy the model file ``source`` to ``target`` with ``defaults`` merged into its ``info["defaults"]``
    (what ``colorize`` uses when not told: size, temperature, decode) and, given ``data``, that description
    of the training data in place of the training machine's cache path (``info["cache"]``) and the model
    file a fine-tune started from by its file name alone (``train_config["init"]``): a file to ship should
    not name a folder of the machine it was trained on. The tensors are copied as they are."""
    meta = read_metadata(source)
    info = meta.setdefault("info", {})
    info["defaults"] = {**info.get("defaults", {}), **defaults}
    if data is not None:
        info["cache"] = data
        config = info.get("train_config") or {}
        if config.get("init"):
            config["init"] = Path(config["init"]).name
    tensors = load_file(str(source))
    atomic_write(
        Path(target), lambda tmp: save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(meta)})
    )


def load_model(path: Path) -> LoadedModel:
    """Rebuild the network stored at ``path`` in eval mode."""
    meta = read_metadata(path)
    name = meta.get("model")
    if not name or not isinstance(name, str):
        raise ValueError(f"{path}: the model file does not name its architecture")
    spec = ModelSpec(meta["model"], meta.get("options", {}), meta.get("bins"), meta.get("info", {}))
    tensors = load_file(str(path))
    if spec.bins and BIN_CENTRES not in tensors:
        raise ValueError(f"{path}: a classification model file without its bin centres")
    bins = bins_from_centres(spec.bins, tensors.pop(BIN_CENTRES)) if spec.bins else None
    prior = tensors.pop(PRIOR, None)
    model = spec.build(bins.num_classes if bins else None)
    weights = {k[len(MODEL_PREFIX) :]: tensors.pop(k) for k in list(tensors) if k.startswith(MODEL_PREFIX)}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        reason = str(error).splitlines()[0]
        raise ValueError(
            f"{path}: weights do not fit model {spec.model!r} {spec.options} ({reason})"
        ) from None
    return LoadedModel(model.eval(), spec, bins, prior, tensors)
