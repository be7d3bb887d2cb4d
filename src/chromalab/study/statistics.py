"""The numbers of a human study: a proportion's Wilson score interval, the exact two-sided binomial test and a
bootstrap over participants.

Written here rather than called from scipy or statsmodels so that the tests can check them against those
libraries (tests/test_study.py) and so that ``chromalab study results`` needs neither at run time.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
# scipy.stats.binomtest's tolerance: outcomes whose probability is within this relative margin of the
# observed one's count as "as extreme" (guards against rounding in the pmf)
_RELATIVE_TIE = 1 + 1e-7


def wilson_interval(
    successes: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (Wilson 1927), or None without trials.

    Better than the normal (Wald) interval for the small samples and extreme rates of a human study: it never
    leaves [0, 1] and does not collapse to a point at 0 or 1 successes."""
    _check_counts(successes, trials)
    if trials == 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_test(successes: int, trials: int, chance: float = 0.5) -> float | None:
    """The exact two-sided binomial test's p-value of ``successes`` in ``trials`` against the rate ``chance``,
    or None without trials: the probability, under ``chance``, of every outcome no more likely than the one
    observed (the definition scipy.stats.binomtest uses)."""
    _check_counts(successes, trials)
    if not 0.0 <= chance <= 1.0:
        raise ValueError(f"chance must be in [0, 1], got {chance}")
    if trials == 0:
        return None
    pmf = _binomial_pmf(trials, chance)  # (trials + 1,)
    p_value = pmf[pmf <= pmf[successes] * _RELATIVE_TIE].sum()
    return float(min(1.0, p_value))


def _binomial_pmf(trials: int, chance: float) -> np.ndarray:
    """P(k successes) for k = 0..trials, in log space so that thousands of trials do not underflow."""
    k = np.arange(trials + 1)
    if chance in (0.0, 1.0):
        return (k == (0 if chance == 0.0 else trials)).astype(float)
    log_choose = math.lgamma(trials + 1) - np.array(
        [math.lgamma(i + 1) + math.lgamma(trials - i + 1) for i in k]
    )
    return np.exp(log_choose + k * math.log(chance) + (trials - k) * math.log1p(-chance))


def bootstrap_interval(
    successes: np.ndarray,
    trials: np.ndarray,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Percentile interval of the pooled rate sum(successes) / sum(trials) when participants are resampled
    with replacement; None without trials.

    ``successes`` and ``trials`` are (P,) counts, one per participant. Beside the Wilson interval, which
    takes every answer as independent: participants differ (one is fooled often, another never), so answers
    of one participant are correlated and the bootstrap's interval is the wider, honest one when they do."""
    successes, trials = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    if successes.shape != trials.shape or successes.ndim != 1:
        raise ValueError(f"expected two (P,) arrays, got {successes.shape} and {trials.shape}")
    if trials.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(trials), size=(resamples, len(trials)))  # (R, P) participants drawn
    drawn_trials = trials[picks].sum(axis=1)
    rates = successes[picks].sum(axis=1)[drawn_trials > 0] / drawn_trials[drawn_trials > 0]  # (<= R,)
    tail = (1 - confidence) / 2
    low, high = np.quantile(rates, [tail, 1 - tail])
    return float(low), float(high)


def _check_counts(successes: int, trials: int) -> None:
    if not 0 <= successes <= trials:
        raise ValueError(f"expected 0 <= successes <= trials, got {successes} of {trials}")
