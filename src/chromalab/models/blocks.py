"""Small building blocks shared by the model families."""

from __future__ import annotations

import torch
from torch import nn

from chromalab.color.lab import AB_SCALE

# Lin and Liu scales a and b from [-128, 128] to [-1, 1] and ends in tanh; our regression target is ab / 110,
# so the tanh output is multiplied by 128 / 110: denormalize_ab(output) then spans [-128, 128] again
TANH_AB_SCALE = 128.0 / AB_SCALE


def conv_relu(
    c_in: int, c_out: int, *, kernel: int = 3, stride: int = 1, dilation: int = 1
) -> list[nn.Module]:
    """A 'same'-padded convolution followed by ReLU."""
    padding = dilation * (kernel - 1) // 2
    return [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation),
        nn.ReLU(inplace=True),
    ]


def conv_bn(c_in: int, c_out: int, *, stride: int = 1, dilation: int = 1, kernel: int = 3) -> nn.Sequential:
    """A 'same'-padded convolution without bias, BatchNorm, ReLU."""
    padding = dilation * (kernel - 1) // 2
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def check_width(width: float) -> float:
    """The channel multiplier of a family: a positive number (``ValueError`` otherwise)."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"width must be a positive number, got {width!r}")
    return float(width)


def tanh_ab(x: torch.Tensor) -> torch.Tensor:
    """Unbounded (B, 2, H, W) -> normalised ab (ab / 110) covering [-128, 128] in Lab units."""
    return torch.tanh(x) * TANH_AB_SCALE


def scaled(channels: int, width: float) -> int:
    """Channel count times a width multiplier, at least 4 and a multiple of 4 (Santiago and Sieving's
    kernel " "multiplier)."""
    return max(4, round(channels * width / 4) * 4)


class OutputHead(nn.Module):
    """1x1 convolution to Q logits, or to 2 normalised ab channels (tanh-free: targets are ab / 110)."""

    def __init__(self, c_in: int, num_classes: int | None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.proj = nn.Conv2d(c_in, num_classes or 2, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)  # (B, Q or 2, h, w)
