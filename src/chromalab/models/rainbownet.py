"""RainbowNet (Ling, Lin and Wang; docs/references.md), versions v0, v1 and v2.

- ``rainbownet-v0`` (Ling et al. section 4.1): the baseline, "one encoder and one decoder both using ReLU",
  trained on raw ab (regression). The seed gives no layer table; ours is the smallest reading of it:
  encoder conv 64, 64 s2, 128 s2, 128; decoder up, 64, up, 32; 1x1 to ab. Output at the input size.
- ``rainbownet-v1`` (section 4.2): four encoder blocks (64, 128, 256, 512) of two 3x3 convolutions +
  BatchNorm; fusion of a global embedding depth-wise (Iizuka et al. 2016); four decoder blocks (512, 256,
  128, 64) of two convolutions + BatchNorm + 2x upsampling; a 3x3 convolution of 128; a 1x1 convolution to
  Q logits (the seed's softmax lives in the loss / decoder, outside the network).
- ``rainbownet-v2`` (section 4.3): v1 without the fusion and without BatchNorm.

Resolution: the seed's output is 224x224xQ for a 224x224 input, and its decoder holds four 2x upsamplings,
so each encoder block ends in a stride-2 convolution (as Zhang et al.'s blocks, Gustavsson) and the trunk
runs at H/16. The last decoder block upsamples to H, where the 128 convolution and the head run: at 256x256
those two layers cost more than a third of the FLOPs (docs/models.md). Upsampling is nearest-neighbour
(Keras' UpSampling2D) to the size of the matching encoder stage, so any H, W works.

Global embedding (v1): the seed fuses Inception-ResNet-v2's 1000-vector; no such weights exist here, so the
default extractor is ``SmallGlobalEncoder`` trained jointly (``extractor="small"``, ``embedding_dim``
1000); any ``nn.Module`` mapping normalised L to (B, embedding_dim) can replace it (see
``global_features``). The fusion layer is Iizuka's: embedding repeated over the H/16 grid, concatenated,
1x1 convolution to 512.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.models.blocks import OutputHead, check_width, conv_relu, scaled
from chromalab.models.global_features import GlobalBranch, fuse
from chromalab.models.registry import register_model

ENCODER = (64, 128, 256, 512)  # Ling et al. section 4.2: filters of the four encoder blocks
DECODER = (512, 256, 128, 64)  # ... and of the four decoder blocks
TAIL = 128  # "one more convolutional layer of 128 filters, to ease the scaling up to 112"


def _block(c_in: int, c_out: int, *, stride: int, batchnorm: bool) -> nn.Sequential:
    """Two 3x3 convolutions + ReLU (the second with ``stride``), then BatchNorm (Ling et al., v1)."""
    layers = conv_relu(c_in, c_out) + conv_relu(c_out, c_out, stride=stride)
    return nn.Sequential(*layers, *([nn.BatchNorm2d(c_out)] if batchnorm else []))


class RainbowNet(nn.Module):
    """Normalised L (B, 1, H, W) -> logits (B, Q, H, W); v1 (a ``global_branch``, ``batchnorm``) and v2
    (neither)."""

    def __init__(
        self,
        *,
        num_classes: int,
        global_branch: GlobalBranch | None,
        batchnorm: bool,
        width: float = 1.0,
    ) -> None:
        super().__init__()
        width = check_width(width)
        enc = [scaled(c, width) for c in ENCODER]
        dec = [scaled(c, width) for c in DECODER]
        self.encoder = nn.ModuleList(
            _block(c_in, c_out, stride=2, batchnorm=batchnorm)
            for c_in, c_out in zip([1, *enc[:-1]], enc, strict=True)
        )
        self.global_branch = global_branch  # v1's global path, (B, 1, H, W) -> (B, E); None in v2
        if global_branch is not None:
            fused = enc[-1] + global_branch.embedding_dim
            self.fusion = nn.Conv2d(fused, enc[-1], kernel_size=1)  # Iizuka's fusion layer
        self.decoder = nn.ModuleList(
            _block(c_in, c_out, stride=1, batchnorm=batchnorm)
            for c_in, c_out in zip([enc[-1], *dec[:-1]], dec, strict=True)
        )
        tail = scaled(TAIL, width)
        self.tail = nn.Sequential(*conv_relu(dec[-1], tail))
        self.head = OutputHead(tail, num_classes)

    @property
    def last_class_logits(self) -> torch.Tensor | None:
        return self.global_branch.last_class_logits if self.global_branch is not None else None

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        x, sizes = l_norm, []
        for block in self.encoder:
            sizes.append(x.shape[-2:])
            x = block(x)  # (B, 64..512, H/2..H/16, W/2..W/16)
        if self.global_branch is not None:
            x = fuse(x, self.global_branch(l_norm), self.fusion)  # (B, 512, H/16, W/16)
        for block, size in zip(self.decoder, reversed(sizes), strict=True):
            x = F.interpolate(block(x), size=size, mode="nearest")  # (B, 512..64, H/8..H, W/8..W)
        return self.head(self.tail(x))  # (B, Q, H, W)


class RainbowNetV0(nn.Module):
    """Normalised L (B, 1, H, W) -> normalised ab (B, 2, H, W): Ling et al.'s ReLU encoder-decoder
    baseline."""

    def __init__(self, *, width: float = 1.0) -> None:
        super().__init__()
        c32, c64, c128 = (scaled(c, check_width(width)) for c in (32, 64, 128))
        self.encoder = nn.Sequential(
            *conv_relu(1, c64),
            *conv_relu(c64, c64, stride=2),
            *conv_relu(c64, c128, stride=2),
            *conv_relu(c128, c128),
        )
        self.up4 = nn.Sequential(*conv_relu(c128, c64))
        self.up2 = nn.Sequential(*conv_relu(c64, c32))
        self.head = OutputHead(c32, None)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        h, w = l_norm.shape[-2:]
        x = self.encoder(l_norm)  # (B, 128, H/4, W/4)
        x = self.up4(F.interpolate(x, size=((h + 1) // 2, (w + 1) // 2), mode="nearest"))  # (B, 64, H/2, W/2)
        x = self.up2(F.interpolate(x, size=(h, w), mode="nearest"))  # (B, 32, H, W)
        return self.head(x)  # (B, 2, H, W): ab / 110


@register_model(
    "rainbownet-v0",
    output_stride=1,
    kinds=("regression",),
    summary="RainbowNet baseline (Ling et al.): small ReLU encoder-decoder on raw ab; option width",
)
def rainbownet_v0(*, num_classes: int | None, width: float = 1.0) -> RainbowNetV0:
    return RainbowNetV0(width=width)


@register_model(
    "rainbownet-v1",
    output_stride=1,
    kinds=("classification",),
    build_only=("pretrained",),
    summary="RainbowNet v1 (Ling et al.): 4 BN encoder blocks, global embedding fusion, 4 decoder "
    "blocks, logits at full size; options width, extractor (small | efficientnet), "
    "pretrained, embedding_dim, classes, freeze_extractor",
)
def rainbownet_v1(*, num_classes: int | None, width: float = 1.0, **branch_options: Any) -> RainbowNet:
    """``branch_options``: ``GlobalBranch``'s (extractor, embedding_dim, classes, freeze_extractor,
    pretrained)."""
    assert num_classes is not None  # classification only: create_model checks the kind
    branch = GlobalBranch(width=width, **branch_options)
    return RainbowNet(num_classes=num_classes, global_branch=branch, batchnorm=True, width=width)


@register_model(
    "rainbownet-v2",
    output_stride=1,
    kinds=("classification",),
    summary="RainbowNet v2 (Ling et al.): v1 without fusion and BatchNorm, logits at full size; option width",
)
def rainbownet_v2(*, num_classes: int | None, width: float = 1.0) -> RainbowNet:
    assert num_classes is not None
    return RainbowNet(num_classes=num_classes, global_branch=None, batchnorm=False, width=width)
