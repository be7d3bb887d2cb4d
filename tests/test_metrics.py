"""Metrics: references vs scikit-image on real photos, hand-computed small cases, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data
from skimage.color import rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from chromalab.color.bin_index import BinIndex
from chromalab.evaluation import metrics


def _perturbed(rgb: np.ndarray, seed: int) -> np.ndarray:
    """Noise plus a colour cast: a plausible imperfect colorization of ``rgb``."""
    rng = np.random.default_rng(seed)
    noisy = rgb.astype(np.int64) + rng.integers(-25, 26, rgb.shape) + np.array([12, -6, 20])
    return np.clip(noisy, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module", params=["astronaut", "coffee", "chelsea"])
def pair(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    truth = getattr(data, request.param)()[::2, ::2].copy()  # half size keeps the suite fast
    return _perturbed(truth, seed=len(request.param)), truth


# -- PSNR and SSIM vs scikit-image -------------------------------------------------------------------------
def test_psnr_matches_scikit_image(pair: tuple[np.ndarray, np.ndarray]) -> None:
    pred, truth = pair
    expected = peak_signal_noise_ratio(truth, pred, data_range=255)
    assert metrics.psnr(pred, truth) == pytest.approx(expected, abs=1e-10)


def test_ssim_matches_scikit_image(pair: tuple[np.ndarray, np.ndarray]) -> None:
    pred, truth = pair
    expected = structural_similarity(
        pred,
        truth,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert metrics.ssim(pred, truth) == pytest.approx(expected, abs=1e-10)


def test_identical_images() -> None:
    rgb = data.chelsea()[:40, :50]
    assert metrics.psnr(rgb, rgb) == float("inf")
    assert metrics.ssim(rgb, rgb) == pytest.approx(1.0, abs=1e-12)


def test_psnr_by_hand() -> None:
    pred = np.zeros((2, 2, 3), np.uint8)
    truth = np.full((2, 2, 3), 10, np.uint8)  # MSE 100 -> 10 log10(255^2 / 100)
    assert metrics.psnr(pred, truth) == pytest.approx(10 * np.log10(255**2 / 100))


@pytest.mark.parametrize(
    ("pred", "truth"),
    [
        (np.zeros((16, 16, 3), np.uint8), np.zeros((16, 15, 3), np.uint8)),  # shapes differ
        (np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8)),  # not RGB
        (np.zeros((10, 40, 3), np.uint8), np.zeros((10, 40, 3), np.uint8)),  # below the 11 x 11 window
    ],
)
def test_ssim_rejects_bad_shapes(pred: np.ndarray, truth: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected|differ|at least"):
        metrics.ssim(pred, truth)


# -- AuC ------------------------------------------------------------------------------------------------
def _ab(values: list[tuple[float, float]]) -> np.ndarray:
    """Four (a, b) pairs -> ab (2, 2, 2)."""
    return np.array(values, dtype=np.float32).T.reshape(2, 2, 2)


def test_auc_by_hand() -> None:
    # errors 0, 5, 5.5 and 200: within t is 1/4 for t = 0..4, 2/4 at t = 5, 3/4 for t = 6..150
    truth = _ab([(0, 0), (0, 0), (0, 0), (0, 0)])
    pred = _ab([(0, 0), (3, 4), (5.5, 0), (120, 160)])
    np.testing.assert_allclose(metrics.ab_error(pred, truth).reshape(-1), [0, 5, 5.5, 200])
    expected = 100 * (5 * 0.25 + 0.5 + 145 * 0.75) / 151
    assert metrics.auc(pred, truth) == pytest.approx(expected)
    curve = metrics.accuracy_curve(metrics.error_histogram(metrics.ab_error(pred, truth)))
    assert curve.shape == (151,) and curve[0] == 0.25 and curve[5] == 0.5 and curve[150] == 0.75


def test_auc_bounds() -> None:
    truth = _ab([(10, -20), (30, 5), (0, 0), (-40, 60)])
    assert metrics.auc(truth, truth) == pytest.approx(100.0)
    assert metrics.auc(truth + 200, truth) == pytest.approx(0.0)


def test_rebalanced_auc_by_hand() -> None:
    # class 0: errors 0, 0, 200 (curve 2/3 everywhere); class 1: error 10 (0 below t = 10, then 1)
    error = np.array([[0.0, 0.0], [200.0, 10.0]])
    classes = np.array([[0, 0], [0, 1]])
    histogram = metrics.error_histogram(error, classes, num_classes=2)
    assert histogram.shape == (2, 152) and histogram.sum() == 4
    plain = 100 * (10 * 2 / 4 + 141 * 3 / 4) / 151
    rebalanced = 100 * (10 * (2 / 3 + 0) / 2 + 141 * (2 / 3 + 1) / 2) / 151
    assert metrics.auc_from_histogram(histogram) == pytest.approx(plain)
    assert metrics.auc_from_histogram(histogram, rebalanced=True) == pytest.approx(rebalanced)


def test_rebalanced_equals_inverse_frequency_weighting() -> None:
    """The class-mean curve is the curve with each pixel weighted by 1 / p(its class)."""
    rng = np.random.default_rng(0)
    error = rng.gamma(2.0, 20.0, size=(30, 40))
    classes = rng.choice(5, size=(30, 40), p=[0.6, 0.25, 0.1, 0.05, 0.0])
    weights = 1.0 / np.bincount(classes.reshape(-1), minlength=5)[classes]
    expected = [(weights * (error <= t)).sum() / weights.sum() for t in range(151)]
    curve = metrics.accuracy_curve(metrics.error_histogram(error, classes, num_classes=5), rebalanced=True)
    np.testing.assert_allclose(curve, expected, rtol=1e-12)


def test_pooled_histograms_are_exact() -> None:
    """Adding per-image histograms gives the AuC of all pixels at once, not a mean of per-image AuCs."""
    rng = np.random.default_rng(1)
    small, large = rng.gamma(2.0, 10.0, size=(4, 4)), rng.gamma(2.0, 40.0, size=(20, 30))
    pooled = metrics.error_histogram(small) + metrics.error_histogram(large)
    together = metrics.error_histogram(np.concatenate([small.reshape(-1), large.reshape(-1)]))
    assert metrics.auc_from_histogram(pooled) == metrics.auc_from_histogram(together)


def test_error_histogram_threshold_is_inclusive() -> None:
    histogram = metrics.error_histogram(np.array([[1.0, 1.0 + 1e-9]]))
    assert histogram[0, 1] == 1 and histogram[0, 2] == 1  # error <= 1 is within t = 1


def test_ab_classes_are_grid_cells() -> None:
    ab = _ab([(0, 0), (14, -16), (127, -128), (-4.9, 5.1)])
    classes, count = metrics.ab_classes(ab)
    assert count == 27 * 27  # cells -130..130 on each axis
    cells = np.stack(np.divmod(classes.reshape(-1), 27), axis=1) - 13
    np.testing.assert_array_equal(cells, [[0, 0], [1, -2], [13, -13], [0, 1]])


def test_histogram_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="finite"):
        metrics.error_histogram(np.array([np.nan]))
    with pytest.raises(ValueError, match="classes"):
        metrics.error_histogram(np.array([1.0, 2.0]), np.array([0, 3]), num_classes=2)
    with pytest.raises(ValueError, match="empty"):
        metrics.auc_from_histogram(np.zeros((3, 152)))


# -- colorfulness ---------------------------------------------------------------------------------------
def test_colorfulness_by_hand() -> None:
    flat = np.full((2, 2, 3), (200, 100, 50), np.uint8)  # rg = 100, yb = 100 everywhere: only the mean term
    assert metrics.colorfulness(flat) == pytest.approx(0.3 * np.sqrt(100**2 + 100**2))
    # red, green, blue, black: rg = (255, -255, 0, 0), yb = (127.5, 127.5, -255, 0), both means 0
    primaries = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [0, 0, 0]]], np.uint8)
    spread = np.sqrt((2 * 255**2) / 4 + (2 * 127.5**2 + 255**2) / 4)
    assert metrics.colorfulness(primaries) == pytest.approx(spread)


def test_colorfulness_of_grey_is_zero() -> None:
    grey = np.repeat(data.camera()[::8, ::8, None], 3, axis=2)
    assert metrics.colorfulness(grey) == 0.0
    assert metrics.colorfulness(data.astronaut()) > 20


# -- closeness and bin accuracy -----------------------------------------------------------------------------
def test_closeness_by_hand() -> None:
    truth = _ab([(0, 0)] * 4)
    pred = _ab([(3, 4)] * 4)  # each pixel 5 away: Frobenius sqrt(4 * 25) = 10, per pixel 10 / sqrt(4) = 5
    assert metrics.closeness(pred, truth) == pytest.approx((10.0, 5.0))


def test_channel_bin_accuracy_by_hand() -> None:
    bins = BinIndex.from_spec("channels:10")  # edges every 20 from -100 to 100
    truth = _ab([(5, 5), (5, 5), (5, 5), (5, 5)])
    pred = _ab([(15, 15), (15, -5), (-5, 15), (-5, -5)])  # both match, a only, b only, neither
    assert metrics.bin_agreement(pred, truth, bins) == {"both": 0.25, "a": 0.5, "b": 0.5}


def test_joint_bin_accuracy_by_hand() -> None:
    bins = BinIndex("three", np.array([[0, 0], [50, 50], [-50, 50]], dtype=np.float32))
    truth = _ab([(0, 0), (40, 45), (-40, 60), (10, 10)])
    pred = _ab([(5, -5), (-40, 60), (-45, 45), (60, 60)])  # same, differs, same, differs
    assert metrics.bin_agreement(pred, truth, bins) == {"both": 0.5}
    index = metrics.bin_index(truth, bins)
    assert metrics.bin_agreement(pred, truth, bins, true_index=index) == {"both": 0.5}


def test_rgb8_to_ab_matches_scikit_image() -> None:
    rgb = data.coffee()[::4, ::4]
    expected = rgb2lab(rgb)[..., 1:].transpose(2, 0, 1)
    np.testing.assert_allclose(metrics.rgb8_to_ab(rgb), expected, atol=2e-3)


def test_ab_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"\(2, H, W\)"):
        metrics.auc(np.zeros((3, 4, 4)), np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="differ"):
        metrics.closeness(np.zeros((2, 4, 4)), np.zeros((2, 4, 5)))


def test_metrics_are_deterministic() -> None:
    truth = data.chelsea()[::3, ::3].copy()
    pred = _perturbed(truth, seed=3)
    bins = BinIndex.from_spec("channels:30")

    def everything() -> list[object]:
        pred_ab, true_ab = metrics.rgb8_to_ab(pred), metrics.rgb8_to_ab(truth)
        classes, count = metrics.ab_classes(true_ab)
        histogram = metrics.error_histogram(metrics.ab_error(pred_ab, true_ab), classes, num_classes=count)
        return [
            metrics.psnr(pred, truth),
            metrics.ssim(pred, truth),
            metrics.colorfulness(pred),
            metrics.auc_from_histogram(histogram),
            metrics.auc_from_histogram(histogram, rebalanced=True),
            metrics.closeness(pred_ab, true_ab),
            metrics.bin_agreement(pred_ab, true_ab, bins),
        ]

    assert everything() == everything()
