"""Colorization metrics: pure, deterministic functions of a prediction and its ground truth, and the one
list of the metric names that tables show (``SHOWN_METRICS``).

Conventions. RGB images are numpy ``uint8`` arrays (H, W, 3) (or any real dtype holding 8-bit values); ab
images are float arrays (2, H, W) in Lab units, as ``rgb8_to_ab`` makes them. Numpy only: scoring runs
without torch.

- ``psnr``, ``ssim``: on 8-bit sRGB, data range 255; SSIM follows Wang et al. 2004 (Gaussian window,
  sigma 1.5, population covariance, mean over channels) and matches scikit-image's
  ``structural_similarity(..., channel_axis=-1, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)``.
- ``auc``: area under the cumulative ab-error curve (Zhang et al. 2016, section 4.1), thresholds
  0, 1, ..., 150 in Lab units, in percent. ``error_histogram`` + ``auc_from_histogram`` let a caller pool
  pixels over a whole set (exact set-level AuC, not a mean of per-image AuCs) and rebalance by the inverse
  frequency of each pixel's ground-truth colour bin.
- ``colorfulness``: Hasler and Suesstrunk 2003 on 8-bit values.
- ``closeness``: Agrawal and Sawhney's Frobenius norm of the ab difference, and the same per pixel (RMS ab
error).
- ``bin_agreement``: Agrawal and Sawhney's classification accuracy: does the prediction fall in the true
colour's bin.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from chromalab.color.bin_index import BinIndex
from chromalab.color.srgb8 import rgb8_to_lab

DATA_RANGE = 255.0  # 8-bit images
SSIM_SIGMA = 1.5  # Gaussian window, Wang et al. 2004
SSIM_TRUNCATE = 3.5  # window radius = int(3.5 * sigma + 0.5) = 5 -> 11 x 11, as scikit-image
SSIM_MIN_SIDE = 2 * int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5) + 1  # smallest image SSIM can score: 11
SSIM_K1, SSIM_K2 = 0.01, 0.03  # stabilising constants, Wang et al. 2004
AUC_MAX_THRESHOLD = 150  # Zhang et al. 2016: thresholds 0..150 in ab units
AUC_COLUMNS = AUC_MAX_THRESHOLD + 2  # histogram columns: ceil(error) = 0..150, then "above 150"
AUC_GRID = 10  # colour classes of the rebalanced AuC: Zhang's grid-10 ab cells ("gamut:10")
COLORFULNESS_MEAN_WEIGHT = 0.3  # Hasler and Suesstrunk 2003, M = sigma_rgyb + 0.3 mu_rgyb

# The set-level numbers of a scoring (``score.SetScores``) that tables show, in their order: (key, label,
# format). The first seven are the JSON interface of ``chromalab evaluate`` (docs/design.md): other tools read
# them.
SHOWN_METRICS = (
    ("psnr", "PSNR (dB)", "{:.2f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("auc", "AuC (%)", "{:.2f}"),
    ("auc_rebalanced", "AuC rebalanced (%)", "{:.2f}"),
    ("colorfulness", "colorfulness", "{:.2f}"),
    ("colorfulness_gt", "colorfulness of ground truth", "{:.2f}"),
    ("delta_colorfulness", "delta colorfulness", "{:+.2f}"),
    ("closeness", "RMS ab error", "{:.2f}"),
    ("accuracy_channels10", "accuracy, 10 bins per channel", "{:.2%}"),
    ("accuracy_channels30", "accuracy, 30 bins per channel", "{:.2%}"),
    ("accuracy_channels50", "accuracy, 50 bins per channel", "{:.2%}"),
    ("accuracy_bins", "accuracy, {bins}", "{:.2%}"),
    ("hue_tv", "hue distance to truth (TV, 12 bands)", "{:.3f}"),
)
INTERFACE_METRICS = tuple(key for key, _, _ in SHOWN_METRICS[:7])
METRIC_FORMATS = {key: fmt for key, _, fmt in SHOWN_METRICS}


def _check_rgb(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"{name}: expected an RGB image (H, W, 3), got shape {x.shape}")
    return x


def _check_pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, target = _check_rgb(pred, "prediction"), _check_rgb(target, "ground truth")
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {target.shape} differ in shape")
    return pred.astype(np.float64), target.astype(np.float64)


# -- RGB metrics -----------------------------------------------------------------------------------------
def psnr(pred: np.ndarray, target: np.ndarray, *, data_range: float = DATA_RANGE) -> float:
    """Peak signal-to-noise ratio in dB of two (H, W, 3) images; ``inf`` when they are equal."""
    x, y = _check_pair(pred, target)
    mse = float(np.mean((x - y) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(data_range**2 / mse))


def ssim(
    pred: np.ndarray, target: np.ndarray, *, data_range: float = DATA_RANGE, sigma: float = SSIM_SIGMA
) -> float:
    """Mean structural similarity of two (H, W, 3) images: per channel, averaged (Wang et al. 2004).

    Local statistics use a Gaussian window (``sigma``, truncated at 3.5 sigma, reflected borders); the
    SSIM map is averaged away from the border (the window radius), as scikit-image does.
    """
    x, y = _check_pair(pred, target)
    radius = int(SSIM_TRUNCATE * sigma + 0.5)
    side = 2 * radius + 1  # 11 for sigma 1.5
    if min(x.shape[:2]) < side:
        raise ValueError(f"SSIM needs images of at least {side}x{side} pixels, got {x.shape[1]}x{x.shape[0]}")

    def blur(image: np.ndarray) -> np.ndarray:  # (H, W, 3) -> (H, W, 3), each channel on its own
        return gaussian_filter(image, sigma=(sigma, sigma, 0.0), truncate=SSIM_TRUNCATE, mode="reflect")

    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux  # population (co)variances, use_sample_covariance=False
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))  # (H, W, 3)
    inner = ssim_map[radius:-radius, radius:-radius]  # (H - 2r, W - 2r, 3)
    return float(inner.reshape(-1, 3).mean(axis=0, dtype=np.float64).mean())


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk 2003 colorfulness of an (H, W, 3) 8-bit image; 0 for any grey image."""
    r, g, b = _check_rgb(rgb, "image").astype(np.float64).transpose(2, 0, 1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = np.sqrt(rg.std() ** 2 + yb.std() ** 2)  # population standard deviations
    offset = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + COLORFULNESS_MEAN_WEIGHT * offset)


# -- ab metrics ------------------------------------------------------------------------------------------
def rgb8_to_ab(rgb: np.ndarray) -> np.ndarray:
    """8-bit RGB (H, W, 3) -> ab (2, H, W) float32 in Lab units."""
    return rgb8_to_lab(np.asarray(_check_rgb(rgb, "image"), dtype=np.uint8))[1:]


def _as_ab(ab: np.ndarray, name: str) -> np.ndarray:
    ab = np.asarray(ab, dtype=np.float32)
    if ab.ndim != 3 or ab.shape[0] != 2:
        raise ValueError(f"{name}: expected ab (2, H, W), got shape {ab.shape}")
    return ab


def _check_ab_pair(pred_ab: np.ndarray, true_ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, true = _as_ab(pred_ab, "predicted ab"), _as_ab(true_ab, "true ab")
    if pred.shape != true.shape:
        raise ValueError(f"predicted ab {pred.shape} and true ab {true.shape} differ in shape")
    return pred, true


def ab_error(pred_ab: np.ndarray, true_ab: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean ab distance: (2, H, W) twice -> (H, W) float64."""
    pred, true = _check_ab_pair(pred_ab, true_ab)
    da, db = pred.astype(np.float64) - true  # (H, W) each
    return np.hypot(da, db)


def ab_classes(ab: np.ndarray, *, grid: int = AUC_GRID) -> tuple[np.ndarray, int]:
    """ab (2, H, W) -> (class of each pixel (H, W) int64, number of classes): its grid cell.

    Cells are centred on multiples of ``grid`` (as ``bins.ab_histogram``). An 8-bit sRGB colour's own
    cell is in the ``gamut:10`` set by construction, so for ground truth this is exactly its nearest
    ``gamut:10`` bin, without building that set (5 s and 1.4 GB for the table of all sRGB colours).
    """
    ab = _as_ab(ab, "ab")
    half = int(np.ceil(128 / grid))  # cells -half..half per axis
    cells = np.clip(np.rint(ab / grid), -half, half).astype(np.int64) + half  # (2, H, W) in [0, 2 half]
    side = 2 * half + 1
    return cells[0] * side + cells[1], side * side


def error_histogram(
    error: np.ndarray, classes: np.ndarray | None = None, *, num_classes: int = 1
) -> np.ndarray:
    """Errors (H, W) [and each pixel's class (H, W)] -> counts (num_classes, 152) int64.

    Column k counts pixels with ``ceil(error) == k`` for k = 0..150, column 151 those above 150: a pixel is
    within threshold t (``error <= t``) exactly when its column is <= t, so curves are exact.
    """
    error = np.asarray(error, dtype=np.float64).reshape(-1)
    if not np.isfinite(error).all() or (error < 0).any():
        raise ValueError("errors must be finite and non-negative")
    columns = np.minimum(np.ceil(error), AUC_COLUMNS - 1).astype(np.int64)  # (P,)
    if classes is None:
        return np.bincount(columns, minlength=AUC_COLUMNS)[None].astype(np.int64)
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    if classes.shape != error.shape or (classes < 0).any() or (classes >= num_classes).any():
        raise ValueError(f"classes must match the errors and lie in [0, {num_classes})")
    flat = np.bincount(classes * AUC_COLUMNS + columns, minlength=num_classes * AUC_COLUMNS)
    return flat.reshape(num_classes, AUC_COLUMNS).astype(np.int64)


def accuracy_curve(histogram: np.ndarray, *, rebalanced: bool = False) -> np.ndarray:
    """Counts (Q, 152) -> fraction of pixels within t, for t = 0..150: (151,).

    Rebalanced: each pixel weighs 1 / (frequency of its class in ``histogram``), so every class present
    counts equally: the curve is the mean of the per-class curves (Zhang et al. 2016, "rebalanced").
    """
    histogram = np.asarray(histogram, dtype=np.float64)
    if histogram.ndim != 2 or histogram.shape[1] != AUC_COLUMNS:
        raise ValueError(f"expected a histogram (Q, {AUC_COLUMNS}), got shape {histogram.shape}")
    within = np.cumsum(histogram, axis=1)[:, : AUC_MAX_THRESHOLD + 1]  # (Q, 151) pixels within t
    totals = histogram.sum(axis=1)  # (Q,)
    present = totals > 0
    if not present.any():
        raise ValueError("the histogram is empty: no pixels to score")
    if rebalanced:
        return (within[present] / totals[present, None]).mean(axis=0)
    return within.sum(axis=0) / totals.sum()


def auc_from_histogram(histogram: np.ndarray, *, rebalanced: bool = False) -> float:
    """Area under the cumulative error curve in percent: 100 * mean over t = 0..150."""
    return float(100.0 * accuracy_curve(histogram, rebalanced=rebalanced).mean())


def auc(pred_ab: np.ndarray, true_ab: np.ndarray) -> float:
    """AuC (percent) of one image: ab (2, H, W) prediction vs ground truth, not rebalanced."""
    return auc_from_histogram(error_histogram(ab_error(pred_ab, true_ab)))


def closeness(pred_ab: np.ndarray, true_ab: np.ndarray) -> tuple[float, float]:
    """Agrawal and Sawhney's closeness of ab (2, H, W) images: (Frobenius norm of the difference, the same
    / sqrt(H W)).

    The second value is the root-mean-square per-pixel ab distance, comparable across image sizes.
    """
    pred, true = _check_ab_pair(pred_ab, true_ab)
    frobenius = float(np.sqrt(((pred.astype(np.float64) - true) ** 2).sum()))
    return frobenius, frobenius / float(np.sqrt(pred.shape[1] * pred.shape[2]))


def bin_index(ab: np.ndarray, bins: BinIndex) -> np.ndarray:
    """ab (2, H, W) -> bin of each pixel: (H, W) for joint bins, (2, H, W) for per-channel bins."""
    return bins.nearest(_as_ab(ab, "ab"))


def bin_agreement(
    pred_ab: np.ndarray,
    true_ab: np.ndarray,
    bins: BinIndex,
    *,
    true_index: np.ndarray | None = None,
) -> dict[str, float]:
    """Fraction of pixels whose predicted ab falls in the same bin as the true ab (Agrawal and Sawhney,
    section 5.4).

    Works for any bin set on decoded colours, whatever bins (if any) the model predicts. Returns ``{"both":
    ...}``; per-channel bins add ``"a"`` and ``"b"`` (Agrawal and Sawhney require both to match).
    ``true_index``: ``bin_index(true_ab, bins)`` when the caller has it already.
    """
    pred, true = _check_ab_pair(pred_ab, true_ab)
    same = bin_index(pred, bins) == (bin_index(true, bins) if true_index is None else true_index)
    if bins.per_channel:  # same: (2, H, W)
        both = same.all(axis=0)
        return {"both": float(both.mean()), "a": float(same[0].mean()), "b": float(same[1].mean())}
    return {"both": float(same.mean())}  # same: (H, W)
