"""Score a colorizer on a folder of colour photos, next to the grey baseline (ab = 0).

For each photo: ground truth RGB (8-bit) -> L at full resolution -> L resized to ``size`` -> network ->
ab -> upsampled and joined with the ground-truth L (``pipeline.join_lightness``) -> 8-bit RGB, which is
compared with the ground truth. Every metric sees only the two rendered 8-bit images (the ab metrics use
the Lab of the rendering, so gamut clipping counts, as the user sees it). The grey baseline renders the
same L with ab = 0 as exact greys (R = G = B).

Set-level numbers: PSNR, SSIM, colorfulness and closeness are means of per-image values; AuC, rebalanced
AuC and bin accuracies pool all pixels of the set (exact, so larger images weigh more). The rebalanced AuC
weights each pixel by the inverse frequency of its ground-truth grid-10 colour class over the whole set:
per-class error histograms are accumulated and combined at the end (``metrics.accuracy_curve``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from chromalab import metrics
from chromalab.color.bins import Bins, ChannelBins, make_bins
from chromalab.color.lab import gray_to_lightness
from chromalab.color.srgb8 import rgb_lightness_u8
from chromalab.images import IMAGE_SUFFIXES, ImageError, open_image, split_alpha
from chromalab.pipeline import Colorizer, join_lightness
from chromalab.threads import one_thread

GREY_CHROMA = 1.0  # mean ab chroma (Lab units) below which a photo is grey: no colour to compare with
CHANNEL_BINS = (10, 30, 50)  # seed 003, table 2
BATCH_SIZE = 8  # network inputs all have the same size, whatever the photo's size
POOLED = ("auc", "auc_rebalanced")  # the other metrics are per-image means; accuracies are pooled too


def find_images(folder: Path, *, limit: int | None = None) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted); ``limit`` keeps that many, evenly spaced."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if limit is not None and limit < len(paths):
        # evenly spaced rather than the first N: a subset of a class-per-folder set still covers every class
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]
    return paths


_GREY_LEVELS = gray_to_lightness(torch.arange(256, dtype=torch.float32) / 255.0)  # (256,) increasing L


def gray_rendering(lightness: torch.Tensor | np.ndarray) -> np.ndarray:
    """L (H, W) -> 8-bit grey RGB (H, W, 3) with R = G = B: the ab = 0 baseline.

    Each pixel gets the 8-bit grey whose lightness is nearest to L. (Rendering Lab (L, 0, 0) through
    ``lab_to_srgb8`` is grey only up to one code value: the Lab matrix rounds the D65 white.)
    """
    lightness = torch.as_tensor(lightness).contiguous()
    upper = torch.searchsorted(_GREY_LEVELS, lightness).clamp(1, 255)  # (H, W) in [1, 255]
    lower_closer = (lightness - _GREY_LEVELS[upper - 1]) < (_GREY_LEVELS[upper] - lightness)
    grey = (upper - lower_closer.long()).to(torch.uint8).numpy()  # (H, W)
    return np.repeat(grey[..., None], 3, axis=2)


def load_truth(path: Path) -> np.ndarray:
    """A colour photo -> 8-bit RGB (H, W, 3); alpha is dropped. Raises ``ImageError``."""
    image, _ = split_alpha(open_image(path))
    return np.asarray(image.convert("RGB"))


@dataclass
class Truth:
    """Ground-truth quantities computed once per photo and shared by the model and the baseline."""

    rgb: np.ndarray  # (H, W, 3) uint8
    lightness: torch.Tensor  # (H, W) L in [0, 100]
    ab: torch.Tensor  # (2, H, W)
    classes: np.ndarray  # (H, W) grid-10 colour class of each pixel
    num_classes: int
    colorfulness: float
    indices: dict[str, torch.Tensor] = field(default_factory=dict)  # accuracy key -> bin of each pixel

    def bin_index(self, key: str, bins: Bins) -> torch.Tensor:
        """The ground truth's bins in ``bins``, computed once for the model and the baseline."""
        if key not in self.indices:
            self.indices[key] = metrics.bin_index(self.ab, bins)
        return self.indices[key]

    @classmethod
    def from_rgb(cls, rgb: np.ndarray) -> Truth:
        ab = metrics.rgb8_to_ab(rgb)
        classes, num_classes = metrics.ab_classes(ab)
        return cls(rgb, torch.from_numpy(rgb_lightness_u8(rgb)), ab, classes, num_classes, metrics.colorfulness(rgb))

    @property
    def chroma(self) -> float:
        return float(np.hypot(*self.ab.double().numpy()).mean())


@dataclass
class SetScores:
    """Accumulates one method (a model or the grey baseline) over a set of photos."""

    bin_sets: dict[str, Bins]  # metric name -> bin set, e.g. {"accuracy_channels10": ChannelBins(10)}
    rows: list[dict[str, float | None]] = field(default_factory=list)
    histogram: np.ndarray | None = None  # (classes, 152) pooled error counts
    matches: dict[str, float] = field(default_factory=dict)  # pooled matching pixels per accuracy key
    pixels: int = 0

    def add(self, rgb: np.ndarray, truth: Truth) -> dict[str, float | None]:
        """Score a rendering (H, W, 3) against ``truth``; returns this image's metrics."""
        ab = metrics.rgb8_to_ab(rgb)  # (2, H, W)
        error = metrics.ab_error(ab, truth.ab)  # (H, W)
        histogram = metrics.error_histogram(error, truth.classes, num_classes=truth.num_classes)
        colorfulness = metrics.colorfulness(rgb)
        frobenius, rms = metrics.closeness(ab, truth.ab)
        row: dict[str, float | None] = {
            "psnr": metrics.psnr(rgb, truth.rgb),
            "ssim": metrics.ssim(rgb, truth.rgb),
            "auc": metrics.auc_from_histogram(histogram),
            "auc_rebalanced": metrics.auc_from_histogram(histogram, rebalanced=True),  # the photo's own prior
            "colorfulness": colorfulness,
            "colorfulness_gt": truth.colorfulness,
            "delta_colorfulness": colorfulness - truth.colorfulness,
            "abs_delta_colorfulness": abs(colorfulness - truth.colorfulness),
            "closeness": rms,
            "closeness_frobenius": frobenius,
            "ab_error": float(error.mean()),
        }
        for key, bins in self.bin_sets.items():
            agreement = metrics.bin_agreement(ab, truth.ab, bins, true_index=truth.bin_index(key, bins))
            for part, value in agreement.items():
                name = key if part == "both" else f"{key}_{part}"
                row[name] = value
                self.matches[name] = self.matches.get(name, 0.0) + value * error.size
        self.histogram = histogram if self.histogram is None else self.histogram + histogram
        self.pixels += error.size
        self.rows.append(row)
        return row

    def summary(self) -> dict[str, float | None]:
        """Set-level metrics (see the module docstring for which are pooled)."""
        if not self.rows:
            raise ValueError("no images were scored")
        out: dict[str, float | None] = {}
        for key in self.rows[0]:
            if key in self.matches:
                out[key] = self.matches[key] / self.pixels
            elif key in POOLED:
                out[key] = metrics.auc_from_histogram(self.histogram, rebalanced=key == "auc_rebalanced")
            else:
                out[key] = float(np.mean([row[key] for row in self.rows]))
        return {key: _finite(value) for key, value in out.items()}


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: a perfect PSNR (identical images) is reported as None."""
    return value if value is None or np.isfinite(value) else None


def metric_bins(colorizer: Colorizer, bins: str | None = None) -> dict[str, Bins]:
    """Bin sets of the accuracy metrics: seed 003's per-channel sets plus ``bins`` or the model's own.

    Accuracy compares decoded colours, never logits, so any bin set scores any model, including a
    regression model (which has no bins: then only ``bins`` adds ``accuracy_bins``).
    """
    sets: dict[str, Bins] = {f"accuracy_channels{n}": make_bins(f"channels:{n}") for n in CHANNEL_BINS}
    own = make_bins(bins) if bins is not None else colorizer.bins
    if own is not None:
        sets["accuracy_bins"] = own
    return sets


@dataclass
class Evaluation:
    """Everything ``evaluate`` found: per-image rows, the two accumulators, and the problems."""

    model: SetScores
    gray: SetScores
    images: list[dict[str, object]] = field(default_factory=list)  # name, width, height per scored photo
    failed: list[tuple[Path, str]] = field(default_factory=list)
    grey: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    seconds_model: float = 0.0

    def rows(self) -> Iterator[dict[str, object]]:
        """Per-image rows: name, width, height, the model's metrics, then the baseline's as ``gray_*``."""
        for image, ours, grey in zip(self.images, self.model.rows, self.gray.rows):
            yield {**image, **ours, **{f"gray_{k}": v for k, v in grey.items()}}

    def summary(self, info: dict[str, object]) -> dict[str, object]:
        """``{"images": N, "metrics": {...}, "gray_baseline": {...}}``; ``info`` joins ``metrics``."""
        run = {
            "seconds": round(self.seconds, 3),
            "seconds_model": round(self.seconds_model, 3),
            "failed": len(self.failed),
            "skipped_grey": len(self.grey),
        }
        return {
            "images": len(self.images),
            "metrics": {**self.model.summary(), **info, **run},
            "gray_baseline": {**self.gray.summary(), "model": "gray (ab = 0)"},
        }


def evaluate(
    paths: Iterable[Path],
    colorizer: Colorizer,
    *,
    root: Path | None = None,
    size: int | None = None,
    temperature: float | None = None,
    bins: str | None = None,
    batch_size: int = BATCH_SIZE,
    on_image: Callable[[Path, str | None], None] | None = None,
) -> Evaluation:
    """Score ``colorizer`` and the grey baseline on ``paths``; unreadable and grey photos are skipped.

    ``on_image(path, problem)`` is called once per path: ``problem`` is None when it was scored, else
    ``"grey: ..."`` or the reason it failed (those also land in ``Evaluation.grey`` / ``.failed``).
    """
    bin_sets = metric_bins(colorizer, bins)
    result = Evaluation(SetScores(bin_sets), SetScores(bin_sets))
    size = colorizer.size if size is None else size
    started = time.perf_counter()
    batch: list[tuple[Path, Truth]] = []
    for path in paths:
        problem = _read(path, batch, result)
        if problem is not None and on_image is not None:
            on_image(path, problem)
        if len(batch) == batch_size:
            _score_batch(batch, result, colorizer, size, temperature, root, on_image)
    _score_batch(batch, result, colorizer, size, temperature, root, on_image)
    result.seconds = time.perf_counter() - started
    return result




def _read(path: Path, batch: list[tuple[Path, Truth]], result: Evaluation) -> str | None:
    """Load one photo into ``batch``; returns the problem if it cannot be scored."""
    try:
        with one_thread():
            truth = Truth.from_rgb(load_truth(path))
        height, width = truth.rgb.shape[:2]
        if min(height, width) < metrics.SSIM_MIN_SIDE:
            raise ImageError(
                f"{width}x{height} is too small to score (SSIM needs {metrics.SSIM_MIN_SIDE} pixels)"
            )
    except (ImageError, OSError) as error:
        reason = str(error.strerror if isinstance(error, OSError) and error.strerror else error)
        result.failed.append((path, reason))
        return reason
    if truth.chroma < GREY_CHROMA:
        result.grey.append(path)
        return f"grey: mean chroma {truth.chroma:.2f} < {GREY_CHROMA}, no colour to compare with; skipped"
    batch.append((path, truth))
    return None


def _score_batch(
    batch: list[tuple[Path, Truth]],
    result: Evaluation,
    colorizer: Colorizer,
    size: int,
    temperature: float | None,
    root: Path | None,
    on_image: Callable[[Path, str | None], None] | None,
) -> None:
    """Run the network once on the batch, then score each photo and its grey baseline; empties ``batch``."""
    if not batch:
        return
    started = time.perf_counter()
    inputs = torch.cat([colorizer.network_input(truth.lightness, size) for _, truth in batch])  # (B, 1, S, S)
    ab_small = colorizer.predict_ab(inputs, temperature=temperature)  # (B, 2, h, w)
    result.seconds_model += time.perf_counter() - started
    for (path, truth), ab in zip(batch, ab_small):
        with one_thread():
            result.model.add(join_lightness(truth.lightness, ab), truth)
            result.gray.add(gray_rendering(truth.lightness), truth)
        height, width = truth.rgb.shape[:2]
        name = path.relative_to(root).as_posix() if root is not None else path.name
        result.images.append({"name": name, "width": width, "height": height})
        if on_image is not None:
            on_image(path, None)
    batch.clear()


def describe_bins(bins: Bins | None) -> str | None:
    """A short description of a bin set for the summary, e.g. ``gamut:10 (Q=261)``."""
    if bins is None:
        return None
    return bins.spec if isinstance(bins, ChannelBins) else f"{bins.spec} (Q={bins.num_classes})"
