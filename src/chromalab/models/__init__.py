"""Colorization networks and their files.

``registry`` (``@register_model``, ``create_model``, the input-side rule), ``blocks`` shared by the
families, one file per family (each registers itself; a new family is one new file here, found on first
lookup), ``checkpoint`` (self-describing model files), ``spec`` (what a model file says, torch-free),
``profile`` (parameters, FLOPs, time) and ``inference`` (a loaded network's inference form). Imports
``color`` and ``files`` only; imported by every stage above it. Names are loaded on first use, so that
``chromalab.models.spec`` stays torch-free for the ONNX backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "register_model"]

if TYPE_CHECKING:
    from chromalab.models.registry import ModelInfo, create_model, list_models, model_info, register_model


def __getattr__(name: str) -> Any:
    if name in __all__:
        from chromalab.models import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'chromalab.models' has no attribute {name!r}")
