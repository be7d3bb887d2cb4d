"""``koalarization``: Deep Koalarization (Baldassarre et al. 2017; Lin and Liu, table 1).

Encoder conv 64 s2, 128, 128 s2, 256, 256 s2, 512, 512, 256 (all 3x3, ReLU) -> fusion with the global
embedding (``global_features``; ``extractor="efficientnet", pretrained=True`` is the seed's design: an
ImageNet classifier's outputs, EfficientNet-Lite0's here) to 256 at H/8 -> decoder conv 128, up, 64, 64,
up, 32, 2 (tanh), up -> ab at H x W.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.models.blocks import check_width, conv_relu, scaled, tanh_ab
from chromalab.models.efficientnet import ImageNetEmbedding
from chromalab.models.global_features import GlobalBranch, fuse
from chromalab.models.registry import register_model


class Koalarization(nn.Module):
    """Normalised L (B, 1, H, W) -> normalised ab (B, 2, H, W) in [-128/110, 128/110]; Lin and Liu table 1."""

    def __init__(self, *, global_branch: GlobalBranch, width: float) -> None:
        super().__init__()
        c = {n: scaled(n, check_width(width)) for n in (32, 64, 128, 256, 512)}
        # encoder, Lin and Liu table 1 (left): three stride-2 convolutions take it to H/8
        self.encoder = nn.Sequential(
            *conv_relu(1, c[64], stride=2),
            *conv_relu(c[64], c[128]),
            *conv_relu(c[128], c[128], stride=2),
            *conv_relu(c[128], c[256]),
            *conv_relu(c[256], c[256], stride=2),
            *conv_relu(c[256], c[512]),
            *conv_relu(c[512], c[512]),
            *conv_relu(c[512], c[256]),
        )
        self.global_branch = global_branch  # (B, 1, H, W) -> (B, E)
        self.fusion = nn.Conv2d(
            c[256] + global_branch.embedding_dim, c[256], kernel_size=1
        )  # table 1 (middle)
        # decoder, table 1 (right); the three nearest-neighbour x2 upsamplings are in forward
        self.decode8 = nn.Sequential(*conv_relu(c[256], c[128]))
        self.decode4 = nn.Sequential(*conv_relu(c[128], c[64]), *conv_relu(c[64], c[64]))
        self.decode2 = nn.Sequential(*conv_relu(c[64], c[32]), nn.Conv2d(c[32], 2, 3, padding=1))

    @property
    def last_class_logits(self) -> torch.Tensor | None:
        """(B, K) image-class logits of the last forward pass when built with ``classes=K``, else None."""
        return self.global_branch.last_class_logits

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        h, w = l_norm.shape[-2:]
        h2, w2 = (h + 1) // 2, (w + 1) // 2  # sizes after each stride-2 convolution (padding 1)
        h4, w4 = (h2 + 1) // 2, (w2 + 1) // 2
        local = self.encoder(l_norm)  # (B, 256, H/8, W/8)
        x = fuse(local, self.global_branch(l_norm), self.fusion)  # (B, 256, H/8, W/8)
        x = self.decode8(x)  # (B, 128, H/8, W/8)
        x = self.decode4(F.interpolate(x, size=(h4, w4), mode="nearest"))  # (B, 64, H/4, W/4)
        x = self.decode2(F.interpolate(x, size=(h2, w2), mode="nearest"))  # (B, 2, H/2, W/2)
        return F.interpolate(tanh_ab(x), size=(h, w), mode="nearest")  # (B, 2, H, W), ab / 110


@register_model(
    "koalarization",
    output_stride=1,
    kinds=("regression",),
    build_only=("pretrained",),
    summary="Deep Koalarization (Lin and Liu): encoder + global embedding fusion, tanh ab at full size; "
    "options extractor (small | efficientnet), pretrained, embedding_dim, classes, "
    "freeze_extractor, width",
)
def koalarization(
    *, num_classes: int | None, width: float = 1.0, embedding_dim: int | None = None, **branch_options: Any
) -> Koalarization:
    """``branch_options``: ``GlobalBranch``'s (extractor, classes, freeze_extractor, pretrained)."""
    assert num_classes is None  # regression only: create_model checks the kind
    if embedding_dim is None:
        # the ImageNet classifier's 1000 outputs; else 1001, Inception-ResNet-v2's (1000 classes + background)
        embedding_dim = ImageNetEmbedding.dim if branch_options.get("extractor") == "efficientnet" else 1001
    branch = GlobalBranch(embedding_dim=embedding_dim, width=width, **branch_options)
    return Koalarization(global_branch=branch, width=width)
