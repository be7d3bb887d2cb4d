"""A tiny network for tests and smoke runs: three convolutions, output at 1/4 resolution."""

from __future__ import annotations

import torch
from torch import nn

from chromalab.models.blocks import OutputHead, conv_relu
from chromalab.models.registry import register_model


class TinyNet(nn.Module):
    """Normalised L (B, 1, H, W) -> logits (B, Q, H/4, W/4) or normalised ab (B, 2, H/4, W/4)."""

    def __init__(self, *, num_classes: int | None, channels: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_relu(1, channels, stride=2),
            *conv_relu(channels, channels * 2, stride=2),
            *conv_relu(channels * 2, channels * 2),
        )
        self.head = OutputHead(channels * 2, num_classes)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(l_norm))  # (B, Q, H/4, W/4)


@register_model("tiny", summary="three convolutions; for tests and smoke runs")
def tiny(*, num_classes: int | None, channels: int = 8) -> TinyNet:
    return TinyNet(num_classes=num_classes, channels=channels)
