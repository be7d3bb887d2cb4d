"""Small networks of Agrawal and Sawhney and of Santiago and Sieving (docs/references.md).

- ``cifar-baseline`` (Agrawal and Sawhney section 4.1): "3 layers of CNN followed by a Fully Connected
layer", ReLU and
  BatchNorm, L2 loss, on 32x32 CIFAR-10. Regression; the fully connected layer fixes the input size.
- ``small64`` (Agrawal and Sawhney section 4.2.3, figure 4): 9 convolutions, kernel 5, stride 1, each
followed by ReLU
  and BatchNorm; flatten; a fully connected layer whose output is reshaped to 64x64x2. Option ``dropout``:
  the "L2 with dropout" variant, dropout right after every BatchNorm (section 4.2.7).
- ``zhang-small`` (Santiago and Sieving): Zhang et al.'s network with a "kernel multiplier" of 16, 32 or 64
filters
  instead of 64: ``ZhangNet`` (zhang.py) with width = multiplier / 64.

How the fully connected layer stays sane. Figure 4 says the numbers below the convolutions are their
"output spatial resolution" and the text says "the only down sampling is done through the convolutional
layers themselves" with stride 1: we read that as unpadded ("valid") 5x5 convolutions, each taking 4 pixels
off, so 64 -> 28 after nine (32 -> 20 after the baseline's three). The channel counts are not in the text:
ours double like Zhang's (32, 32, 64, 64, 128, 128, then 64, 32) and the last convolution narrows to
``bottleneck`` channels (4), so the layer is 28*28*4 -> 64*64*2 (25.7 M weights) rather than 64*64*C ->
64*64*2 (billions).

Classification (Agrawal and Sawhney's per-channel bins, ``--bins channels:N`` -> Q = 2N logits): the fully
connected layer is the same (64x64x2); a per-pixel head (1x1 convolution to 64, ReLU, 1x1 to Q) turns those
two maps into Q logits, since a fully connected layer to 64x64xQ would be Q/2 times larger again.
"""

from __future__ import annotations

import torch
from torch import nn

from chromalab.models.blocks import check_width
from chromalab.models.registry import register_model
from chromalab.models.zhang import ZhangNet

KERNEL = 5  # Agrawal and Sawhney: "settled on a kernel size of 5"
CIFAR_CHANNELS = (32, 64)  # + bottleneck: three convolutions (Agrawal and Sawhney section 4.1)
SMALL64_CHANNELS = (32, 32, 64, 64, 128, 128, 64, 32)  # + bottleneck: nine convolutions (figure 4)
HEAD_HIDDEN = 64  # per-pixel classification head of our own (see the module docstring)
ZHANG_MULTIPLIERS = (16, 32, 64)  # Santiago and Sieving: multiples of 16, 32 or 64 filters (Zhang: 64)


class ConvFCNet(nn.Module):
    """Normalised L (B, 1, S, S) -> normalised ab (B, 2, S, S) or logits (B, Q, S, S), S = ``size`` only.

    ``channels`` unpadded ``KERNEL`` x ``KERNEL`` convolutions, each + ReLU + BatchNorm (+ dropout), then a
    fully connected layer from the last (S - 4n)^2 x channels[-1] map to S x S x 2.
    """

    def __init__(
        self, *, num_classes: int | None, channels: tuple[int, ...], size: int, dropout: float
    ) -> None:
        super().__init__()
        side = size - len(channels) * (KERNEL - 1)  # unpadded convolutions: 4 pixels off each
        if isinstance(size, bool) or not isinstance(size, int) or side < 1:
            raise ValueError(f"size must be an integer > {len(channels) * (KERNEL - 1)}, got {size!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        self.size = size
        layers: list[nn.Module] = []
        for c_in, c_out in zip((1, *channels[:-1]), channels, strict=True):
            # Agrawal and Sawhney: ReLU then BatchNorm after every convolution, dropout right after the
            # BatchNorm
            layers += [nn.Conv2d(c_in, c_out, KERNEL), nn.ReLU(inplace=True), nn.BatchNorm2d(c_out)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(channels[-1] * side * side, 2 * size * size)
        self.head = (
            nn.Sequential(
                nn.Conv2d(2, HEAD_HIDDEN, 1), nn.ReLU(inplace=True), nn.Conv2d(HEAD_HIDDEN, num_classes, 1)
            )
            if num_classes is not None
            else nn.Identity()
        )

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        if l_norm.dim() != 4 or tuple(l_norm.shape[1:]) != (1, self.size, self.size):
            raise ValueError(
                f"this network's fully connected layer fixes its input to (B, 1, {self.size}, "
                f"{self.size}), got {tuple(l_norm.shape)}; use --size {self.size} or build it "
                f"with size={l_norm.shape[-1]}"
            )
        x = self.convs(l_norm)  # (B, bottleneck, S - 4n, S - 4n)
        x = self.fc(x.flatten(1)).view(-1, 2, self.size, self.size)  # (B, 2, S, S)
        return self.head(x)  # (B, 2, S, S) ab / 110, or (B, Q, S, S) logits


def _channels(base: tuple[int, ...], width: float, bottleneck: int) -> tuple[int, ...]:
    if isinstance(bottleneck, bool) or not isinstance(bottleneck, int) or bottleneck < 1:
        raise ValueError(f"bottleneck must be a positive integer, got {bottleneck!r}")
    width = check_width(width)
    return (*(max(1, round(c * width)) for c in base), bottleneck)


@register_model(
    "cifar-baseline",
    output_stride=1,
    kinds=("regression",),
    summary="Agrawal and Sawhney baseline: 3 convolutions + fully connected, L2; size-specific, "
    "options size (32), width, bottleneck",
)
def cifar_baseline(
    *, num_classes: int | None, size: int = 32, width: float = 1.0, bottleneck: int = 4
) -> ConvFCNet:
    return ConvFCNet(
        num_classes=None, channels=_channels(CIFAR_CHANNELS, width, bottleneck), size=size, dropout=0.0
    )


@register_model(
    "small64",
    output_stride=1,
    summary="Agrawal and Sawhney final CNN: 9 unpadded 5x5 convolutions + ReLU + BN, fully "
    "connected to 64x64x2; size-specific, options size (64), dropout, width, bottleneck",
)
def small64(
    *, num_classes: int | None, size: int = 64, dropout: float = 0.0, width: float = 1.0, bottleneck: int = 4
) -> ConvFCNet:
    return ConvFCNet(
        num_classes=num_classes,
        channels=_channels(SMALL64_CHANNELS, width, bottleneck),
        size=size,
        dropout=dropout,
    )


@register_model(
    "zhang-small",
    summary="Santiago and Sieving: zhang-eccv16 with a kernel multiplier of 16, 32 or 64 "
    "filters (width multiplier / 64); option multiplier (16)",
)
def zhang_small(*, num_classes: int | None, multiplier: int = 16) -> ZhangNet:
    if multiplier not in ZHANG_MULTIPLIERS or isinstance(multiplier, bool):
        raise ValueError(f"multiplier must be one of {ZHANG_MULTIPLIERS}, got {multiplier!r}")
    return ZhangNet(num_classes=num_classes, width=multiplier / 64)
