"""Score a colorizer on a folder of colour photos, next to the grey baseline (ab = 0).

For each photo: ground truth RGB (8-bit) -> L at full resolution -> the colorizer's own path, as
``chromalab colorize`` takes it (``view`` at ``size`` -> ``predict_ab`` -> ``render``: ab upsampled and
joined with the ground-truth L) -> 8-bit RGB, which is compared with the ground truth. Any backend scores:
a ``.safetensors`` model on torch, an exported ``.onnx`` graph on onnxruntime. Every metric sees only the
two rendered 8-bit images (the ab metrics use the Lab of the rendering, so gamut clipping counts, as the
user sees it). The grey baseline renders the same L with ab = 0 as exact greys (R = G = B).

Set-level numbers: PSNR, SSIM, colorfulness and closeness are means of per-image values; AuC, rebalanced
AuC, bin accuracies and hue fidelity (``hues``) pool all pixels of the set (exact, so larger images weigh
more). The rebalanced AuC weights each pixel by the inverse frequency of its ground-truth grid-10 colour
class over the whole set: per-class error histograms are accumulated and combined at the end
(``metrics.accuracy_curve``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chromalab.color.bin_index import BinIndex, NotShipped
from chromalab.color.hints import sample_hints
from chromalab.color.srgb8 import grey_rendering, rgb_lightness_u8
from chromalab.colorize.core import BaseColorizer, Prepared
from chromalab.evaluation import hues, metrics
from chromalab.images import ImageError, Lightness, open_rgb

GREY_CHROMA = 1.0  # mean ab chroma (Lab units) below which a photo is grey: no colour to compare with
CHANNEL_BINS = (10, 30, 50)  # Agrawal and Sawhney, table 2
BATCH_SIZE = 8  # network inputs all have the same size, whatever the photo's size
HINT_SEED = 2017  # evaluate --hints: the same hints for every model, photo by photo
POOLED = ("auc", "auc_rebalanced")  # the other metrics are per-image means; accuracies are pooled too
# a photo's own in its row; the set's from the pooled hue counts (``hues.hue_summary``)
HUE_POOLED = ("hue_tv",)


@dataclass
class Truth:
    """Ground-truth quantities computed once per photo and shared by the model and the baseline."""

    rgb: np.ndarray  # (H, W, 3) uint8
    lightness: np.ndarray  # (H, W) float32, L in [0, 100]
    ab: np.ndarray  # (2, H, W) float32
    classes: np.ndarray  # (H, W) grid-10 colour class of each pixel
    num_classes: int
    colorfulness: float
    hues: np.ndarray  # (360,) chromatic pixels per degree of hue, ``hues.hue_counts``
    indices: dict[str, np.ndarray] = field(default_factory=dict)  # accuracy key -> bin of each pixel

    def bin_index(self, key: str, bins: BinIndex) -> np.ndarray:
        """The ground truth's bins in ``bins``, computed once for the model and the baseline."""
        if key not in self.indices:
            self.indices[key] = metrics.bin_index(self.ab, bins)
        return self.indices[key]

    @classmethod
    def from_rgb(cls, rgb: np.ndarray) -> Truth:
        ab = metrics.rgb8_to_ab(rgb)
        classes, num_classes = metrics.ab_classes(ab)
        return cls(
            rgb,
            rgb_lightness_u8(rgb),
            ab,
            classes,
            num_classes,
            metrics.colorfulness(rgb),
            hues.hue_counts(ab),
        )

    @property
    def chroma(self) -> float:
        return float(np.hypot(*self.ab.astype(np.float64)).mean())


@dataclass
class SetScores:
    """Accumulates one method (a model or the grey baseline) over a set of photos."""

    bin_sets: dict[str, BinIndex]  # metric name -> bin set, e.g. {"accuracy_channels10": channels:10}
    rows: list[dict[str, float | None]] = field(default_factory=list)
    histogram: np.ndarray | None = None  # (classes, 152) pooled error counts
    matches: dict[str, float] = field(default_factory=dict)  # pooled matching pixels per accuracy key
    pixels: int = 0
    hues: np.ndarray = field(default_factory=lambda: np.zeros(hues.DEGREES, np.int64))  # pooled hue counts
    true_hues: np.ndarray = field(default_factory=lambda: np.zeros(hues.DEGREES, np.int64))  # the truth's

    def add(self, rgb: np.ndarray, truth: Truth) -> dict[str, float | None]:
        """Score a rendering (H, W, 3) against ``truth``; returns this image's metrics."""
        ab = metrics.rgb8_to_ab(rgb)  # (2, H, W)
        error = metrics.ab_error(ab, truth.ab)  # (H, W)
        histogram = metrics.error_histogram(error, truth.classes, num_classes=truth.num_classes)
        colorfulness = metrics.colorfulness(rgb)
        frobenius, rms = metrics.closeness(ab, truth.ab)
        hue_counts = hues.hue_counts(ab)
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
            "hue_tv": hues.tv_distance(hue_counts, truth.hues),
        }
        for key, bins in self.bin_sets.items():
            agreement = metrics.bin_agreement(ab, truth.ab, bins, true_index=truth.bin_index(key, bins))
            for part, value in agreement.items():
                name = key if part == "both" else f"{key}_{part}"
                row[name] = value
                self.matches[name] = self.matches.get(name, 0.0) + value * error.size
        self.histogram = histogram if self.histogram is None else self.histogram + histogram
        self.pixels += error.size
        self.hues += hue_counts
        self.true_hues += truth.hues
        self.rows.append(row)
        return row

    def summary(self) -> dict[str, float | None]:
        """Set-level metrics (see the module docstring for which are pooled)."""
        if not self.rows:
            raise ValueError("no images were scored")
        out: dict[str, float | None] = {}
        for key in self.rows[0]:
            if key in HUE_POOLED:
                continue
            if key in self.matches:
                out[key] = self.matches[key] / self.pixels
            elif key in POOLED:
                out[key] = metrics.auc_from_histogram(self.histogram, rebalanced=key == "auc_rebalanced")
            else:
                out[key] = float(np.mean([row[key] for row in self.rows]))
        out.update(hues.hue_summary(self.hues, self.true_hues, self.pixels))
        return {key: _finite(value) for key, value in out.items()}


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: a perfect PSNR (identical images) is reported as None."""
    return value if value is None or np.isfinite(value) else None


def metric_bins(colorizer: BaseColorizer, bins: str | None = None) -> dict[str, BinIndex]:
    """Bin sets of the accuracy metrics: Agrawal and Sawhney's per-channel sets plus ``bins`` or the
    model's own.

    Accuracy compares decoded colours, never logits, so any bin set scores any model, including a
    regression model (which has no bins: then only ``bins`` adds ``accuracy_bins``).
    """
    sets = {f"accuracy_channels{n}": scoring_bins(f"channels:{n}") for n in CHANNEL_BINS}
    own = scoring_bins(bins) if bins is not None else colorizer.bin_index
    if own is not None:
        sets["accuracy_bins"] = own
    return sets


def scoring_bins(spec: str) -> BinIndex:
    """The bin set ``spec`` names, as scoring sees it; ValueError for a bad spec. Read from the package
    where it ships (no torch), else built by ``bin_sets.make_bins``."""
    try:
        return BinIndex.from_spec(spec)
    except NotShipped:
        from chromalab.color.bin_sets import make_bins

        return BinIndex.of(make_bins(spec))


@dataclass
class Evaluation:
    """Everything ``evaluate`` found: per-image rows, the two accumulators, and the problems."""

    model: SetScores
    baseline: SetScores  # the grey baseline (ab = 0)
    images: list[dict[str, object]] = field(default_factory=list)  # name, width, height per scored photo
    failed: list[tuple[Path, str]] = field(default_factory=list)
    grey_photos: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    seconds_model: float = 0.0

    def rows(self) -> Iterator[dict[str, object]]:
        """Per-image rows: name, width, height, the model's metrics, then the baseline's as ``gray_*``."""
        for image, ours, grey in zip(self.images, self.model.rows, self.baseline.rows, strict=True):
            yield {**image, **ours, **{f"gray_{k}": v for k, v in grey.items()}}

    def summary(self, info: dict[str, object]) -> dict[str, object]:
        """``{"images": N, "metrics": {...}, "gray_baseline": {...}}``; ``info`` joins ``metrics``."""
        run = {
            "seconds": round(self.seconds, 3),
            "seconds_model": round(self.seconds_model, 3),
            "failed": len(self.failed),
            "skipped_grey": len(self.grey_photos),
        }
        return {
            "images": len(self.images),
            "metrics": {**self.model.summary(), **info, **run},
            "gray_baseline": {**self.baseline.summary(), "model": "gray (ab = 0)"},
        }


@dataclass(frozen=True)
class Skipped:
    """Why ``evaluate`` did not score a photo: a grey one (``grey``: no colour to compare with, a note for
    the user) or one it could not read or use (an error)."""

    reason: str
    grey: bool = False


OnImage = Callable[[Path, Skipped | None], None]  # (photo, None when it was scored), once per photo


def evaluate(
    paths: Iterable[Path],
    colorizer: BaseColorizer,
    *,
    root: Path | None = None,
    bins: str | None = None,
    batch_size: int = BATCH_SIZE,
    hints: int = 0,
    on_image: OnImage | None = None,
) -> Evaluation:
    """Score ``colorizer`` (at its own size, temperature and decoding) and the grey baseline on ``paths``;
    unreadable and grey photos are skipped (they land in ``Evaluation.failed`` / ``.grey_photos``).
    ``hints``: that many point hints per photo, drawn from its truth (Zhang et al. 2017's sampler, seeded by
    the photo's place in the list), are given to the colorizer. ``on_image`` hears of every photo."""
    bin_sets = metric_bins(colorizer, bins)
    result = Evaluation(SetScores(bin_sets), SetScores(bin_sets))
    report = on_image or (lambda path, skipped: None)
    started = time.perf_counter()
    batch: list[tuple[Path, Truth]] = []
    for path in paths:
        skipped = _read(path, batch, result)
        if skipped is not None:
            report(path, skipped)
        if len(batch) == batch_size:
            _score_batch(batch, result, colorizer, hints, root, report)
    _score_batch(batch, result, colorizer, hints, root, report)
    result.seconds = time.perf_counter() - started
    return result


def _read(path: Path, batch: list[tuple[Path, Truth]], result: Evaluation) -> Skipped | None:
    """Load one photo into ``batch``; returns why not if it cannot be scored."""
    try:
        truth = Truth.from_rgb(open_rgb(path))
        height, width = truth.rgb.shape[:2]
        if min(height, width) < metrics.SSIM_MIN_SIDE:
            raise ImageError(
                f"{width}x{height} is too small to score (SSIM needs {metrics.SSIM_MIN_SIDE} pixels)"
            )
    except (ImageError, OSError) as error:
        reason = str(error.strerror if isinstance(error, OSError) and error.strerror else error)
        result.failed.append((path, reason))
        return Skipped(reason)
    if truth.chroma < GREY_CHROMA:
        result.grey_photos.append(path)
        return Skipped(
            f"mean chroma {truth.chroma:.2f} < {GREY_CHROMA}, no colour to compare with; skipped", grey=True
        )
    batch.append((path, truth))
    return None


def _render(
    colorizer: BaseColorizer, view: Prepared, ab_small: Any, truth: Truth, *, hints: int, index: int
) -> np.ndarray:
    """The colorized photo (H, W, 3) uint8, with ``hints`` hints from its truth when there are any."""
    if hints:
        given = sample_hints(truth.ab, np.random.default_rng([HINT_SEED, index]), count=hints)
        # the network runs again, with them (when it takes hints); then they are spread, as colorize does
        if colorizer.takes_hints:
            ab_small = colorizer.predict_ab(view.network_input, hint_map=colorizer.hint_view(view, given))
        ab_small = colorizer.spread_guidance(view, ab_small, hints=given)
    return np.asarray(colorizer.render(view.source, ab_small))


def _score_batch(
    batch: list[tuple[Path, Truth]],
    result: Evaluation,
    colorizer: BaseColorizer,
    hints: int,
    root: Path | None,
    report: OnImage,
) -> None:
    """Run the network once on the batch, then score each photo and its grey baseline; empties ``batch``."""
    if not batch:
        return
    started = time.perf_counter()
    prepared = [colorizer.view(Lightness(truth.lightness, None)) for _, truth in batch]
    ab_small = colorizer.predict_views(prepared)  # each (1, 2, h, w)
    result.seconds_model += time.perf_counter() - started
    for (path, truth), one, ab in zip(batch, prepared, ab_small, strict=True):
        rendered = _render(colorizer, one, ab, truth, hints=hints, index=len(result.images))
        result.model.add(rendered, truth)
        result.baseline.add(grey_rendering(truth.lightness), truth)
        height, width = truth.rgb.shape[:2]
        name = path.relative_to(root).as_posix() if root is not None else path.name
        result.images.append({"name": name, "width": width, "height": height})
        report(path, None)
    batch.clear()
