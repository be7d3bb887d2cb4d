"""Training losses: (rebalanced) cross-entropy over ab bins, and L2 / smooth-L1 regression on ab.

All losses take the network output at its own resolution (B, C, h, w) and ground-truth ab at the input
resolution (B, 2, H, W) in Lab units; the target is brought to (h, w) here, in one place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from chromalab.color.bins import Bins
from chromalab.color.lab import denormalize_ab, normalize_ab

CLASSIFICATION_LOSSES = ("ce",)
REGRESSION_LOSSES = ("l2", "smooth-l1")
ADVERSARIAL_LOSSES = ("gan",)  # pix2pix: adversarial + 100 x L1, its own step (models.gan.gan_step)
LOSSES = CLASSIFICATION_LOSSES + REGRESSION_LOSSES + ADVERSARIAL_LOSSES
ENCODINGS = ("soft", "onehot")


def target_at(ab: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Ground-truth ab (B, 2, H, W) -> (B, 2, h, w) by area averaging (identity when sizes match)."""
    if tuple(ab.shape[-2:]) == tuple(size):
        return ab
    return F.interpolate(ab, size=size, mode="area")


def pixel_weights(bins: Bins, target: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
    """Rebalancing weight of each pixel (B, h, w): the weight of its most likely ground-truth bin,
    v(Z) = w[argmax_q Z_q] (Zhang et al. 2016 eq. 3); channel bins average their two halves."""
    per_group = [weights[part.argmax(dim=1)] for part, weights in
                 zip(target.split(bins.num_classes // bins.groups, dim=1), class_weights.split(bins.num_classes // bins.groups))]
    return torch.stack(per_group).mean(0)


def cross_entropy(
    logits: torch.Tensor,
    ab: torch.Tensor,
    bins: Bins,
    *,
    encoding: str = "soft",
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Multinomial cross-entropy between logits (B, Q, h, w) and the encoded ground truth.

    encoding "soft": 5 nearest bins with Gaussian weights (sigma 5); "onehot": the nearest bin.
    ``class_weights`` (Q,) from ``rebalancing_weights`` turns on class rebalancing.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    ab_small = target_at(ab, logits.shape[-2:])
    target = bins.soft_encode(ab_small) if encoding == "soft" else bins.one_hot(ab_small)  # (B, Q, h, w)
    per_pixel = -(target * bins.log_softmax(logits)).sum(dim=1)  # (B, h, w)
    if class_weights is not None:
        per_pixel = per_pixel * pixel_weights(bins, target, class_weights.to(logits.device))
    return per_pixel.mean()


def regression(prediction: torch.Tensor, ab: torch.Tensor, *, kind: str = "l2") -> torch.Tensor:
    """L2 or smooth-L1 between predicted normalised ab (B, 2, h, w) and ab / 110 (seeds 002, 003)."""
    target = normalize_ab(target_at(ab, prediction.shape[-2:]))
    if kind == "l2":
        return F.mse_loss(prediction, target)
    if kind == "smooth-l1":
        # seed 003 / Girshick: quadratic below an error of 1 in Lab units, linear above
        return F.smooth_l1_loss(denormalize_ab(prediction), denormalize_ab(target), beta=1.0)
    raise ValueError(f"unknown regression loss {kind!r}; choose one of {REGRESSION_LOSSES}")
