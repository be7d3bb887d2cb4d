"""``fast``: the bundled default architecture, built for speed on a CPU.

An encoder-decoder that spends its convolutions where resolution is low:

- encoder: stride-2 stages down to 1/16, few channels at high resolution (16 at 1/2, 32 at 1/4);
- context: dilated convolutions (1, 2, 4) at 1/16 and a global branch (mean-pooled features -> MLP,
  added to every position, in the manner of Iizuka et al. 2016's global features);
- decoder: two x2 upsamplings with skip connections from the encoder, to 1/4 resolution;
- head: 1x1 convolution to the Q ab bins at 1/4 of the input (as Zhang et al. 2016); decoding stays outside.

BatchNorm after every convolution but the head. ``width`` scales all channel counts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.models.blocks import OutputHead, conv_bn, scaled
from chromalab.models.registry import register_model


class FastNet(nn.Module):
    """Normalised L (B, 1, H, W) -> logits (B, Q, H/4, W/4) or normalised ab (B, 2, H/4, W/4)."""

    def __init__(self, *, num_classes: int | None, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3, c4 = (scaled(c, width) for c in (16, 32, 64, 128))
        self.stem = nn.Sequential(conv_bn(1, c1, stride=2), conv_bn(c1, c2, stride=2), conv_bn(c2, c2))  # 1/4
        self.down8 = nn.Sequential(conv_bn(c2, c3, stride=2), conv_bn(c3, c3))  # 1/8
        # 1/16
        self.down16 = nn.Sequential(
            conv_bn(c3, c4, stride=2),
            conv_bn(c4, c4, dilation=2),
            conv_bn(c4, c4, dilation=4),
            conv_bn(c4, c4),
        )
        self.global_mlp = nn.Sequential(nn.Linear(c4, c4), nn.ReLU(inplace=True), nn.Linear(c4, c4))
        self.up8 = conv_bn(c4 + c3, c3)
        self.up4 = nn.Sequential(conv_bn(c3 + c2, c3), conv_bn(c3, c3))
        self.head = OutputHead(c3, num_classes)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        s4 = self.stem(l_norm)  # (B, c2, H/4, W/4)
        s8 = self.down8(s4)  # (B, c3, H/8, W/8)
        s16 = self.down16(s8)  # (B, c4, H/16, W/16)
        context = self.global_mlp(s16.mean(dim=(2, 3)))  # (B, c4): what kind of scene this is
        s16 = F.relu(s16 + context[:, :, None, None])
        x = F.interpolate(s16, size=s8.shape[-2:], mode="bilinear", align_corners=False)
        x = self.up8(torch.cat([x, s8], dim=1))  # (B, c3, H/8, W/8)
        x = F.interpolate(x, size=s4.shape[-2:], mode="bilinear", align_corners=False)
        x = self.up4(torch.cat([x, s4], dim=1))  # (B, c3, H/4, W/4)
        return self.head(x)  # (B, Q, H/4, W/4)


@register_model(
    "fast", summary="CPU-fast encoder-decoder with dilations and a global branch (bundled as fast-v1)"
)
def fast(*, num_classes: int | None, width: float = 1.0) -> FastNet:
    return FastNet(num_classes=num_classes, width=width)
