"""Training losses: (rebalanced) cross-entropy over ab bins, L2 / smooth-L1 regression on ab, and the
image-class cross-entropy of a global branch (Iizuka et al. 2016). The adversarial step is
``gan.gan_step``.

The colour losses take the network output at its own resolution (B, C, h, w) and ground-truth ab at the
input resolution (B, 2, H, W) in Lab units; the target is brought to (h, w) here, in one place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.color.bins import Bins
from chromalab.color.lab import denormalize_ab, normalize_ab
from chromalab.training.config import ENCODINGS, REGRESSION_LOSSES


def target_at(ab: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Ground-truth ab (B, 2, H, W) -> (B, 2, h, w) by area averaging (identity when sizes match)."""
    if tuple(ab.shape[-2:]) == tuple(size):
        return ab
    return F.interpolate(ab, size=size, mode="area")


def pixel_weights(bins: Bins, target: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
    """Rebalancing weight of each pixel (B, h, w): the weight of its most likely ground-truth bin,
    v(Z) = w[argmax_q Z_q] (Zhang et al. 2016 eq. 3); channel bins average their two halves."""
    per_group = [
        weights[part.argmax(dim=1)]
        for part, weights in zip(
            target.split(bins.num_classes // bins.groups, dim=1),
            class_weights.split(bins.num_classes // bins.groups),
            strict=True,
        )
    ]
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
    """L2 or smooth-L1 between predicted normalised ab (B, 2, h, w) and ab / 110 (Lin and Liu; Agrawal and
    " "Sawhney)."""
    target = normalize_ab(target_at(ab, prediction.shape[-2:]))
    if kind == "l2":
        return F.mse_loss(prediction, target)
    if kind == "smooth-l1":
        # Agrawal and Sawhney / Girshick: quadratic below an error of 1 in Lab units, linear above
        return F.smooth_l1_loss(denormalize_ab(prediction), denormalize_ab(target), beta=1.0)
    raise ValueError(f"unknown regression loss {kind!r}; choose one of {REGRESSION_LOSSES}")


def auxiliary_loss(model: nn.Module, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the image-class logits of the last forward pass (Iizuka et al. 2016) against
    ``labels`` (B,) int; the model must be built with ``classes=K``. Iizuka weight it by 1/300 against
    the colour loss; the weight is the caller's."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    branch = getattr(model, "global_branch", None)
    if branch is None or branch.classifier is None:
        raise ValueError("auxiliary_loss needs a model built with classes=K (koalarization, rainbownet-v1)")
    logits = branch.last_class_logits
    if logits is None:
        raise ValueError("auxiliary_loss: run a forward pass first; no class logits are stored")
    labels = torch.as_tensor(labels, device=logits.device).long()
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must be ({logits.shape[0]},), got {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}), got [{labels.min()}, {labels.max()}]")
    return F.cross_entropy(logits, labels)
