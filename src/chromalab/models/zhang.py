"""Zhang et al. 2016 ("Colorful Image Colorization", ECCV) network, layer table of Gustavsson figure 3.

conv1..conv7 blocks of 3x3 convolutions + ReLU with BatchNorm after each block; conv1-2 each end with a
stride-2 convolution, conv3 too (so the trunk runs at 1/8), conv5-6 use dilation 2; conv8 upsamples x2 with
a transposed convolution (stride 0.5 in the table) so the output is at 1/4 of the input; a 1x1 convolution
maps to the Q bins. ``width`` scales every channel count (Santiago and Sieving used 16/32 kernels instead
of 64).
"""

from __future__ import annotations

import torch
from torch import nn

from chromalab.models.blocks import OutputHead, conv_relu, scaled
from chromalab.models.registry import register_model

# (channels, convolutions, stride of the last convolution, dilation) per block, Gustavsson figure 3
ECCV16_BLOCKS = (
    (64, 2, 2, 1),
    (128, 2, 2, 1),
    (256, 3, 2, 1),
    (512, 3, 1, 1),
    (512, 3, 1, 2),
    (512, 3, 1, 2),
    (512, 3, 1, 1),
)


class ZhangNet(nn.Module):
    """Normalised L (B, 1, H, W) -> logits (B, Q, H/4, W/4) or normalised ab (B, 2, H/4, W/4)."""

    def __init__(self, *, num_classes: int | None, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for channels, count, last_stride, dilation in ECCV16_BLOCKS:
            c_out = scaled(channels, width)
            for i in range(count):
                stride = last_stride if i == count - 1 else 1
                layers += conv_relu(c_in, c_out, stride=stride, dilation=dilation)
                c_in = c_out
            layers.append(nn.BatchNorm2d(c_out))
        c8 = scaled(256, width)
        layers += [nn.ConvTranspose2d(c_in, c8, kernel_size=4, stride=2, padding=1), nn.ReLU(inplace=True)]
        layers += conv_relu(c8, c8) + conv_relu(c8, c8)
        self.trunk = nn.Sequential(*layers)
        self.head = OutputHead(c8, num_classes)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        features = self.trunk(l_norm)  # (B, C8, H/4, W/4)
        return self.head(features)  # (B, Q, H/4, W/4)


@register_model("zhang-eccv16", summary="Zhang et al. 2016 classification network (Gustavsson); option width")
def zhang_eccv16(*, num_classes: int | None, width: float = 1.0) -> ZhangNet:
    return ZhangNet(num_classes=num_classes, width=width)
