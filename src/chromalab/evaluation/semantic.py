"""Semantic interpretability test of a colorizer, after Zhang et al. 2016 (section 3.1, Table 1, "VGG
top-1").

Zhang et al. give colorized ImageNet validation photos to a VGG classifier trained on colour photos: the
classifier loses accuracy on grey photos and colorized photos recover part of it. The same test here,
adapted to what a prepared cache holds: a small CNN (``classifier.SemanticClassifier``) is trained from
scratch on the TRUE-COLOUR training split of the cache (labels: the class folders), then scored on the
validation split in three versions of each photo:

- true colour: the cache's L and ab;
- grey: the cache's L with ab = 0 exactly;
- colorized: the cache's L with ab predicted by the colorizer (either backend) from its ``view`` of that L,
  the view ``colorize`` takes (the cache's size, or the model's ``min_view`` when that is larger).

All three are rendered by one rule, ``color.lab.join_lightness`` batched (ab upsampled bilinearly onto the
full L, then ``lab_to_srgb8``, which keeps L and fits out-of-gamut colours by lowering chroma): the
colorized version is exactly what ``chromalab colorize`` makes of the cache photo, and true-colour and grey
renderings agree with ``lab_to_rgb`` within one code value (their colours are in gamut). The 8-bit photos
are then resized (antialiased bilinear) to the classifier's side, 64 by default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from chromalab.color.codes import decode_l
from chromalab.color.lab import lab_to_srgb8
from chromalab.colorize.core import BaseColorizer
from chromalab.data.cache import Cache
from chromalab.evaluation.classifier import (
    ClassifierConfig,
    SemanticClassifier,
    load_classifier,
    predict,
    save_classifier,
    train_classifier,
)
from chromalab.evaluation.threads import one_thread
from chromalab.images import Lightness

RENDER_CHUNK = 256  # photos rendered per pass: bounds the float32 Lab buffers (256 x 3 x 128^2 = 50 MB)
VERSIONS = ("true_colour", "grey", "colorized")


# -- the three versions of a photo ---------------------------------------------------------------------
AbSource = Callable[[torch.Tensor, np.ndarray], torch.Tensor]  # (L (B, S, S), cache rows) -> ab (B, 2, h, w)


def render(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """``join_lightness`` for a batch: L (B, H, W) + ab (B, 2, h, w) -> uint8 sRGB (B, H, W, 3)."""
    if lightness.dim() != 3 or ab.dim() != 4 or ab.shape[:2] != (lightness.shape[0], 2):
        raise ValueError(
            f"expected L (B, H, W) and ab (B, 2, h, w), got {tuple(lightness.shape)} and {tuple(ab.shape)}"
        )
    batch, height, width = lightness.shape
    if ab.shape[-2:] != (height, width):
        ab = F.interpolate(ab.float(), size=(height, width), mode="bilinear", align_corners=False)
    lab = torch.cat([lightness[:, None].float(), ab.float()], dim=1)  # (B, 3, H, W)
    # lab_to_srgb8 is per pixel: stacking the photos along H renders the batch in one call
    stacked = lab.transpose(0, 1).reshape(3, batch * height, width)
    return lab_to_srgb8(stacked).view(batch, height, width, 3)


def true_ab(cache: Cache) -> AbSource:
    return lambda lightness, rows: torch.from_numpy(cache.ab[rows].astype(np.float32))


def grey_ab(lightness: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
    return lightness.new_zeros(lightness.shape[0], 2, *lightness.shape[1:])  # ab = 0 exactly


def colorized_ab(colorizer: BaseColorizer, *, temperature: float | None = None) -> AbSource:
    """ab predicted from the colorizer's own view of each cache photo (``BaseColorizer.view``), as
    ``colorize`` would see it: the cache's size, or ``min_view`` when the model asks for more."""

    def predict_ab(lightness: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        views = [colorizer.view(Lightness(one.numpy(), None)).network_input for one in lightness]
        # (B, 2, h, w)
        return torch.as_tensor(colorizer.predict_ab(np.concatenate(views), temperature=temperature))

    return predict_ab


def photos(cache: Cache, rows: np.ndarray, ab_source: AbSource, *, side: int) -> torch.Tensor:
    """Cache rows rendered with ``ab_source`` and resized: uint8 (N, 3, side, side)."""
    out = torch.empty(len(rows), 3, side, side, dtype=torch.uint8)
    for start in range(0, len(rows), RENDER_CHUNK):
        chunk = rows[start : start + RENDER_CHUNK]
        lightness = torch.from_numpy(decode_l(cache.l[chunk]))  # (B, S, S) L in [0, 100]
        ab = ab_source(lightness, chunk)  # (B, 2, h, w); a network keeps all threads
        with one_thread():
            rgb = render(lightness, ab).permute(0, 3, 1, 2)  # (B, 3, S, S)
        out[start : start + len(chunk)] = resize(rgb, side)
    return out


def resize(rgb: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> uint8 (B, 3, side, side), antialiased bilinear."""
    if rgb.shape[-2:] == (side, side):
        return rgb
    small = F.interpolate(
        rgb.float(), size=(side, side), mode="bilinear", align_corners=False, antialias=True
    )
    return small.round_().clamp_(0, 255).to(torch.uint8)


# -- the test ------------------------------------------------------------------------------------------
@dataclass
class SemanticResult:
    accuracies: dict[str, float]  # version -> top-1 accuracy on the validation split
    classes: int
    val_images: int
    classifier: dict[str, Any]  # training facts, and where the classifier came from
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)  # class -> version -> accuracy
    seconds: float = 0.0

    def summary(self, info: dict[str, Any] | None = None) -> dict[str, Any]:
        """``{"semantic": {"true_colour", "grey", "colorized", "classes", "val_images", "classifier",
        ...}}``."""
        true, grey, colorized = (self.accuracies[v] for v in VERSIONS)
        lost = true - grey
        return {
            "semantic": {
                **self.accuracies,
                # Zhang et al.'s reading: the share of the accuracy lost to grey that colorization gives back
                "recovered": (colorized - grey) / lost if lost > 0 else None,
                "classes": self.classes,
                "val_images": self.val_images,
                **(info or {}),
                "seconds": round(self.seconds, 2),
                "per_class": self.per_class,
                "classifier": self.classifier,
            }
        }


def check_cache(cache: Cache) -> None:
    """ValueError unless the cache has at least two classes in its train split and some validation photos."""
    present = np.unique(cache.labels[cache.train_indices])
    if len(cache.class_names) < 2 or len(present) < 2:
        raise ValueError(
            f"{cache.path}: the semantic test needs photos of at least two classes in the training "
            f"split (class = top-level folder given to 'chromalab prepare'); found {len(present)}"
        )
    if len(cache.val_indices) == 0:
        raise ValueError(f"{cache.path}: no validation photos; prepare it with --val-fraction or --val")


def obtain_classifier(
    cache: Cache,
    *,
    path: Path | None = None,
    config: ClassifierConfig | None = None,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> tuple[SemanticClassifier, dict[str, Any]]:
    """Load the classifier at ``path`` when it exists, else train one on the cache (saved at ``path`` if
    given).

    Returns the model and its description: ``{"classes", "side", "widths", "training": {...}, "cache":
    ...}``.
    """
    check_cache(cache)
    if path is not None and Path(path).is_file():
        model, meta = load_classifier(path)
        if meta["classes"] != cache.class_names:
            raise ValueError(
                f"{path}: trained on classes {meta['classes']}, the cache has {cache.class_names}"
            )
        meta = {**meta, "source": f"loaded from {path}"}
        if meta.get("cache", {}).get("fingerprint") != cache.info.get("fingerprint"):
            # same classes, other photos: the validation photos may be among the classifier's training photos
            meta["warning"] = (
                f"the classifier was trained on another cache ({meta.get('cache', {}).get('path')})"
            )
        return model, meta
    config = config or ClassifierConfig()
    if config.side < 2 ** len(config.widths):
        raise ValueError(
            f"classifier side {config.side} is below {2 ** len(config.widths)} ({len(config.widths)} pools)"
        )
    rows = cache.train_indices
    images = photos(cache, rows, true_ab(cache), side=config.side)
    labels = torch.from_numpy(cache.labels[rows].astype(np.int64))
    model, facts = train_classifier(
        images, labels, num_classes=len(cache.class_names), config=config, on_epoch=on_epoch
    )
    meta = {
        "classes": cache.class_names,
        "side": config.side,
        "widths": list(config.widths),
        "training": facts,
        "cache": {"path": str(cache.path.resolve()), "fingerprint": cache.info.get("fingerprint")},
    }
    if path is not None:
        save_classifier(path, model, meta)
    return model, {**meta, "source": "trained" + (f", saved to {path}" if path is not None else "")}


def semantic_test(
    cache: Cache,
    colorizer: BaseColorizer,
    classifier: SemanticClassifier,
    meta: dict[str, Any],
    *,
    temperature: float | None = None,
) -> SemanticResult:
    """Top-1 accuracy of ``classifier`` on the cache's validation split: true colour, grey and colorized."""
    check_cache(cache)
    started = time.perf_counter()
    rows = cache.val_indices
    labels = torch.from_numpy(cache.labels[rows].astype(np.int64))
    sources = {
        "true_colour": true_ab(cache),
        "grey": grey_ab,
        "colorized": colorized_ab(colorizer, temperature=temperature),
    }
    correct = {
        v: predict(classifier, photos(cache, rows, s, side=meta["side"])) == labels
        for v, s in sources.items()
    }
    per_class = {
        cache.class_names[k]: {v: float(hits[labels == k].double().mean()) for v, hits in correct.items()}
        for k in labels.unique().tolist()
    }
    return SemanticResult(
        accuracies={v: float(hits.double().mean()) for v, hits in correct.items()},
        classes=len(cache.class_names),
        val_images=len(rows),
        classifier=meta,
        per_class=per_class,
        seconds=time.perf_counter() - started,
    )
