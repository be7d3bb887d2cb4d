"""Small building blocks shared by the model families."""

from __future__ import annotations

import torch
from torch import nn


def conv_relu(c_in: int, c_out: int, *, kernel: int = 3, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    """A 'same'-padded convolution followed by ReLU."""
    padding = dilation * (kernel - 1) // 2
    return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation), nn.ReLU(inplace=True)]


def scaled(channels: int, width: float) -> int:
    """Channel count times a width multiplier, at least 4 and a multiple of 4 (seed 004's kernel multiplier)."""
    return max(4, round(channels * width / 4) * 4)


class OutputHead(nn.Module):
    """1x1 convolution to Q logits, or to 2 normalised ab channels (tanh-free: targets are ab / 110)."""

    def __init__(self, c_in: int, num_classes: int | None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.proj = nn.Conv2d(c_in, num_classes or 2, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)  # (B, Q or 2, h, w)
