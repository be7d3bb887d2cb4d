"""Model registry: ``@register_model`` on a builder, ``create_model(name, ...)`` to build one.

Every model takes normalised L (B, 1, H, W) and returns either logits over the bins (B, Q, h, w) when
built with ``num_classes=Q``, or normalised ab (B, 2, h, w) when built with ``num_classes=None``.
Decoding (temperature) stays outside the network. A family registers itself with ``@register_model`` in its
own module of this package; every module of the package is imported on the first lookup, so adding a family
is adding one file.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from chromalab.models.spec import side_for


@dataclass(frozen=True)
class ModelInfo:
    name: str
    builder: Callable[..., nn.Module]
    summary: str
    kinds: tuple[str, ...]  # "classification", "regression" or both
    output_stride: int = 4  # input side / output side (Zhang et al.: 4; full-resolution decoders: 1)
    build_only: tuple[str, ...] = ()  # options that shape the start of training, not the network (not saved)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str,
    *,
    summary: str,
    kinds: tuple[str, ...] = ("classification", "regression"),
    output_stride: int = 4,
    build_only: tuple[str, ...] = (),
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make ``builder(*, num_classes, **options)`` available as ``name``."""

    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelInfo(name, builder, summary, kinds, output_stride, build_only)
        return builder

    return decorate


@functools.cache
def _load_families() -> None:
    """Import every module of ``chromalab.models``: the family modules' ``@register_model`` run."""
    import chromalab.models

    for module in pkgutil.iter_modules(chromalab.models.__path__):
        importlib.import_module(f"chromalab.models.{module.name}")


def list_models() -> list[ModelInfo]:
    _load_families()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def model_info(name: str) -> ModelInfo:
    _load_families()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def input_side(model: nn.Module, requested: int) -> int:
    """The square side a built model can take, nearest to ``requested`` (see ``spec.side_for``)."""
    return side_for(requested, **side_rule(model))


def side_rule(model: nn.Module) -> dict[str, int | None]:
    """What limits a network's input side: ``fixed`` for size-specific networks (a fully connected layer
    says ``model.size``), ``step`` for U-Nets (multiples of ``2 ** model.depth``) and for networks that say
    ``model.side_step``; None for any side."""
    fixed, depth = getattr(model, "size", None), getattr(model, "depth", None)
    step = getattr(model, "side_step", None) or (2**depth if isinstance(depth, int) else None)
    return {"fixed": fixed if isinstance(fixed, int) else None, "step": step}


def create_model(name: str, *, num_classes: int | None, **options: object) -> nn.Module:
    """Build model ``name`` with ``num_classes`` logit channels (None: ab regression)."""
    info = model_info(name)
    kind = "regression" if num_classes is None else "classification"
    if kind not in info.kinds:
        raise ValueError(f"model {name!r} supports {' and '.join(info.kinds)}, not {kind}")
    try:
        return info.builder(num_classes=num_classes, **options)
    except TypeError as error:
        raise ValueError(f"bad options for model {name!r}: {error}") from None
