"""Semantic interpretability test of a colorizer, after Zhang et al. 2016 (section 3.1, Table 1, "VGG top-1").

Zhang et al. give colorized ImageNet validation photos to a VGG classifier trained on colour photos: the
classifier loses accuracy on grey photos and colorized photos recover part of it. The same test here,
adapted to what a prepared cache holds: a small CNN (``SemanticClassifier``) is trained from scratch on the
TRUE-COLOUR training split of the cache (labels: the class folders), then scored on the validation split
in three versions of each photo:

- true colour: the cache's L and ab;
- grey: the cache's L with ab = 0 exactly;
- colorized: the cache's L with ab = ``Colorizer.predict_ab`` of that L, seen at the cache's size.

All three are rendered by one rule, ``pipeline.join_lightness`` batched (ab upsampled bilinearly onto the
full L, then ``lab_to_srgb8``, which keeps L and fits out-of-gamut colours by lowering chroma): the
colorized version is exactly what ``chromalab colorize`` makes of the cache photo, and true-colour and grey
renderings agree with ``lab_to_rgb`` within one code value (their colours are in gamut). The 8-bit photos
are then resized (antialiased bilinear) to the classifier's side, 64 by default.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from chromalab.color.lab import lab_to_srgb8
from chromalab.data.cache import Cache, decode_l
from chromalab.files import atomic_write
from chromalab.models.registry import input_side
from chromalab.pipeline import Colorizer
from chromalab.threads import one_thread

FORMAT = "chromalab-semantic/1"
METADATA_KEY = "chromalab-semantic"
DEFAULT_SIDE = 64
DEFAULT_WIDTHS = (16, 32, 64, 128)  # 0.3 M parameters; 4x faster than twice as wide, for more epochs in a budget
INPUT_MEAN, INPUT_STD = 0.5, 0.25  # RGB in [0, 1] -> about [-2, 2] for the first convolution
RENDER_CHUNK = 256  # photos rendered per pass: bounds the float32 Lab buffers (256 x 3 x 128^2 = 50 MB)
TRAIN_ACCURACY_IMAGES = 2048  # evenly spaced train photos scored after training (all, when fewer)
VERSIONS = ("true_colour", "grey", "colorized")


class SemanticClassifier(nn.Module):
    """RGB (B, 3, S, S) normalised -> logits (B, K). Per width: conv-BN-ReLU twice, then 2x2 max-pool."""

    def __init__(self, *, num_classes: int, widths: tuple[int, ...] = DEFAULT_WIDTHS) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in widths:
            for _ in range(2):
                layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, S / 2^depth, S / 2^depth)
        return self.head(x.mean(dim=(2, 3)))  # global average pool -> (B, K)


@dataclass
class ClassifierConfig:
    """How the classifier is trained. The run stops at ``epochs`` or ``minutes``, whichever comes first;
    the cosine learning-rate decay follows whichever is further along, so a time budget still ends at a
    low rate. Without ``minutes`` a run is a function of ``seed`` alone."""

    side: int = DEFAULT_SIDE
    widths: tuple[int, ...] = DEFAULT_WIDTHS
    epochs: int = 30
    minutes: float | None = None
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0


# -- the three versions of a photo ---------------------------------------------------------------------
AbSource = Callable[[torch.Tensor, np.ndarray], torch.Tensor]  # (L (B, S, S), cache rows) -> ab (B, 2, h, w)


def render(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """``join_lightness`` for a batch: L (B, H, W) + ab (B, 2, h, w) -> uint8 sRGB (B, H, W, 3)."""
    if lightness.dim() != 3 or ab.dim() != 4 or ab.shape[:2] != (lightness.shape[0], 2):
        raise ValueError(f"expected L (B, H, W) and ab (B, 2, h, w), got {tuple(lightness.shape)} and {tuple(ab.shape)}")
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


def colorized_ab(colorizer: Colorizer, *, temperature: float | None = None) -> AbSource:
    """ab predicted from L at the cache's size (or the nearest side the network accepts)."""

    def predict(lightness: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        side = input_side(colorizer.model, lightness.shape[-1])
        if side == lightness.shape[-1]:
            inputs = lightness[:, None]  # (B, 1, S, S)
        else:
            inputs = torch.cat([colorizer.network_input(one, side) for one in lightness])
        return colorizer.predict_ab(inputs, temperature=temperature)  # (B, 2, h, w)

    return predict


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
    small = F.interpolate(rgb.float(), size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    return small.round_().clamp_(0, 255).to(torch.uint8)


def _as_input(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> the classifier's float input, channels_last (1.45x faster convolutions here)."""
    x = (rgb.float() / 255.0 - INPUT_MEAN) / INPUT_STD
    return x.contiguous(memory_format=torch.channels_last)


# -- training ------------------------------------------------------------------------------------------
def _augment(rgb: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random left-right flip and a random shift of up to side/16 pixels (reflected border), per photo."""
    batch, _, side, _ = rgb.shape
    pad = max(1, side // 16)
    padded = F.pad(rgb.float(), (pad, pad, pad, pad), mode="reflect")
    shifts = torch.randint(0, 2 * pad + 1, (batch, 2), generator=generator).tolist()
    flips = (torch.rand(batch, generator=generator) < 0.5).tolist()
    out = torch.stack([padded[i, :, y : y + side, x : x + side] for i, (y, x) in enumerate(shifts)])
    flipped = torch.tensor(flips)
    out[flipped] = out[flipped].flip(-1)
    return out.to(torch.uint8)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int,
    config: ClassifierConfig,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> tuple[SemanticClassifier, dict[str, Any]]:
    """Train on uint8 photos (N, 3, S, S) and labels (N,); returns the model (eval mode) and training facts.

    ``on_epoch(epoch, mean loss, seconds so far)`` is called after each epoch.
    """
    torch.manual_seed(config.seed)
    model = SemanticClassifier(num_classes=num_classes, widths=config.widths).to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    count = len(labels)
    batch = min(config.batch_size, count)
    starts = range(0, count - batch + 1, batch)  # the last partial batch is dropped (BatchNorm, steady steps)
    total_steps = config.epochs * len(starts)
    budget = math.inf if config.minutes is None else config.minutes * 60.0
    started, step, epoch_loss = time.perf_counter(), 0, math.nan
    for epoch in range(config.epochs):
        order = torch.randperm(count, generator=generator)
        model.train()
        losses = []
        for start in starts:
            progress = max(step / total_steps, (time.perf_counter() - started) / budget)
            if progress >= 1.0:
                break
            for group in optimiser.param_groups:  # cosine decay to zero over the steps or the minutes
                group["lr"] = config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
            index = order[start : start + batch]
            logits = model(_as_input(_augment(images[index], generator)))  # (B, K)
            loss = F.cross_entropy(logits, labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            step += 1
        if not losses:
            break  # the time budget ran out
        epoch_loss = float(np.mean(losses))
        if on_epoch is not None:
            on_epoch(epoch + 1, epoch_loss, time.perf_counter() - started)
    seconds = time.perf_counter() - started
    model.eval()
    facts = {
        **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "epochs_done": round(step / len(starts), 3),  # fractional when the time budget ends an epoch early
        "steps": step,
        "train_images": count,
        "seconds": round(seconds, 2),
        "images_per_second": round(step * batch / max(seconds, 1e-9), 1),
        "final_loss": round(epoch_loss, 4) if step else None,  # mean over the last (possibly partial) epoch
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return model, {**facts, **_train_accuracy(model, images, labels)}


def _train_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Accuracy on (at most TRAIN_ACCURACY_IMAGES evenly spaced) training photos, without augmentation."""
    count = len(labels)
    scored = np.unique(np.linspace(0, count - 1, min(count, TRAIN_ACCURACY_IMAGES)).round().astype(int))
    return {"train_accuracy": accuracy(model, images[scored], labels[scored]), "train_accuracy_images": len(scored)}


@torch.inference_mode()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 256) -> torch.Tensor:
    """Top-1 class (N,) of uint8 photos (N, 3, S, S); the model must be in eval mode."""
    assert not model.training, "predict needs eval mode (BatchNorm running statistics)"
    out = [model(_as_input(images[i : i + batch_size])).argmax(1) for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predict(model, images) == labels).double().mean()) if len(labels) else math.nan


# -- classifier files ----------------------------------------------------------------------------------
def save_classifier(path: Path, model: SemanticClassifier, meta: dict[str, Any]) -> None:
    """Weights (safetensors) + JSON description (classes, side, widths, training facts), written atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = {METADATA_KEY: json.dumps({"format": FORMAT, **meta})}
    atomic_write(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_classifier(path: Path) -> tuple[SemanticClassifier, dict[str, Any]]:
    """A classifier written by ``save_classifier`` (eval mode) and its description; ValueError otherwise."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as error:
        raise ValueError(f"{path}: not a readable safetensors file ({error})") from None
    meta = json.loads(raw) if raw is not None else {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a semantic classifier file (expected format {FORMAT})")
    model = SemanticClassifier(num_classes=len(meta["classes"]), widths=tuple(meta["widths"]))
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path}: weights do not fit the described classifier ({str(error).splitlines()[0]})") from None
    return model.to(memory_format=torch.channels_last).eval(), meta


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
        """``{"semantic": {"true_colour", "grey", "colorized", "classes", "val_images", "classifier", ...}}``."""
        true, grey, colorized = (self.accuracies[v] for v in VERSIONS)
        lost = true - grey
        return {"semantic": {
            **self.accuracies,
            # Zhang et al.'s reading: the share of the accuracy lost to grey that colorization gives back
            "recovered": (colorized - grey) / lost if lost > 0 else None,
            "classes": self.classes,
            "val_images": self.val_images,
            **(info or {}),
            "seconds": round(self.seconds, 2),
            "per_class": self.per_class,
            "classifier": self.classifier,
        }}


def check_cache(cache: Cache) -> None:
    """ValueError unless the cache has at least two classes in its train split and some validation photos."""
    present = np.unique(cache.labels[cache.train_indices])
    if len(cache.class_names) < 2 or len(present) < 2:
        raise ValueError(f"{cache.path}: the semantic test needs photos of at least two classes in the training "
                         f"split (class = top-level folder given to 'chromalab prepare'); found {len(present)}")
    if len(cache.val_indices) == 0:
        raise ValueError(f"{cache.path}: no validation photos; prepare it with --val-fraction or --val")


def obtain_classifier(
    cache: Cache,
    *,
    path: Path | None = None,
    config: ClassifierConfig | None = None,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> tuple[SemanticClassifier, dict[str, Any]]:
    """Load the classifier at ``path`` when it exists, else train one on the cache (saved at ``path`` if given).

    Returns the model and its description: ``{"classes", "side", "widths", "training": {...}, "cache": ...}``.
    """
    check_cache(cache)
    if path is not None and Path(path).is_file():
        model, meta = load_classifier(path)
        if meta["classes"] != cache.class_names:
            raise ValueError(f"{path}: trained on classes {meta['classes']}, the cache has {cache.class_names}")
        meta = {**meta, "source": f"loaded from {path}"}
        if meta.get("cache", {}).get("fingerprint") != cache.info.get("fingerprint"):
            # same classes, other photos: the validation photos may be among the classifier's training photos
            meta["warning"] = f"the classifier was trained on another cache ({meta.get('cache', {}).get('path')})"
        return model, meta
    config = config or ClassifierConfig()
    if config.side < 2 ** len(config.widths):
        raise ValueError(f"classifier side {config.side} is below {2 ** len(config.widths)} ({len(config.widths)} pools)")
    rows = cache.train_indices
    images = photos(cache, rows, true_ab(cache), side=config.side)
    labels = torch.from_numpy(cache.labels[rows].astype(np.int64))
    model, facts = train_classifier(images, labels, num_classes=len(cache.class_names), config=config, on_epoch=on_epoch)
    meta = {"classes": cache.class_names, "side": config.side, "widths": list(config.widths), "training": facts,
            "cache": {"path": str(cache.path.resolve()), "fingerprint": cache.info.get("fingerprint")}}
    if path is not None:
        save_classifier(path, model, meta)
    return model, {**meta, "source": "trained" + (f", saved to {path}" if path is not None else "")}


def semantic_test(
    cache: Cache,
    colorizer: Colorizer,
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
    sources = {"true_colour": true_ab(cache), "grey": grey_ab, "colorized": colorized_ab(colorizer, temperature=temperature)}
    correct = {v: predict(classifier, photos(cache, rows, s, side=meta["side"])) == labels for v, s in sources.items()}
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
