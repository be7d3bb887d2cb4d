"""pix2pix (Isola et al. 2017) as in Agrawal and Sawhney's appendix: a U-Net generator and a 70x70 PatchGAN
discriminator; their training step is ``training.gan.gan_step``.

- ``pix2pix-unet`` (registered, regression): encoder C64-C128-C256-C512-C512-C512-C512-C512 for a 256 input
  (4x4 convolutions, stride 2, LeakyReLU 0.2, BatchNorm except on the first layer and, as in the authors'
  code, on the 1x1 innermost one); decoder of 4x4 transposed convolutions, stride 2, BatchNorm, ReLU, with
  skip connections (concatenation of the mirrored encoder map) and dropout 0.5 in the first three decoder
  blocks (pix2pix's noise); a last transposed convolution to ab and tanh. ``depth`` = number of
  down-samplings (8 for 256, so H and W must be multiples of 2^depth). Output at the input size,
  tanh * 128/110 like ``koalarization`` (``denormalize_ab`` spans [-128, 128]).
- ``PatchDiscriminator`` (not a colorization model, so not registered): C64-C128-C256-C512 then a 1-channel
  convolution, 4x4 kernels, strides 2, 2, 2, 1, 1: each output sees a 70x70 patch; 256x256 in -> 30x30
  logits out. Input: normalised L and normalised ab concatenated (B, 3, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.models.blocks import check_width, scaled, tanh_ab
from chromalab.models.registry import register_model

ENCODER = (64, 128, 256, 512, 512, 512, 512, 512)  # Isola et al. 2017, appendix 6.1.1, for 256x256
LEAKY = 0.2  # LeakyReLU slope of the encoder and the discriminator
DECODER_DROPOUT_BLOCKS = 3  # "dropout 0.5 in the first 3 layers of the decoder"


def _down(c_in: int, c_out: int, *, batchnorm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not batchnorm)]
    return nn.Sequential(*layers, *([nn.BatchNorm2d(c_out)] if batchnorm else []))


def _up(c_in: int, c_out: int, *, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.ReLU(),
        nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    return nn.Sequential(*layers, *([nn.Dropout(dropout)] if dropout > 0 else []))


class UNetGenerator(nn.Module):
    """Normalised L (B, 1, H, W) -> normalised ab (B, 2, H, W); H, W multiples of 2^depth."""

    def __init__(self, *, depth: int = 8, width: float = 1.0, dropout: float = 0.5) -> None:
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or not 2 <= depth <= len(ENCODER):
            raise ValueError(f"depth must be an integer in [2, {len(ENCODER)}], got {depth!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
        width = check_width(width)
        enc = [scaled(c, width) for c in ENCODER[:depth]]
        self.depth = depth
        # encoder stage i: (B, enc[i], H / 2^(i+1), W / 2^(i+1)); no BatchNorm on the first and innermost
        self.downs = nn.ModuleList(
            _down(c_in, c_out, batchnorm=0 < i < depth - 1)
            for i, (c_in, c_out) in enumerate(zip([1, *enc[:-1]], enc, strict=True))
        )
        # decoder block j mirrors encoder stage depth-2-j; its input is concatenated with the skip except
        # for the first (innermost) block
        ups = []
        for j in range(depth - 1):
            level = depth - 2 - j
            c_in = enc[level + 1] * (1 if j == 0 else 2)
            ups.append(_up(c_in, enc[level], dropout=dropout if j < DECODER_DROPOUT_BLOCKS else 0.0))
        self.ups = nn.ModuleList(ups)
        self.out = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(enc[0] * 2, 2, 4, stride=2, padding=1))

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        step = 2**self.depth
        if l_norm.dim() != 4 or l_norm.shape[1] != 1 or l_norm.shape[-2] % step or l_norm.shape[-1] % step:
            raise ValueError(
                f"pix2pix-unet with depth {self.depth} needs (B, 1, H, W) with H and W multiples "
                f"of {step}, got {tuple(l_norm.shape)}; choose a smaller depth or another size"
            )
        skips = []
        x = l_norm
        for i, down in enumerate(self.downs):
            x = down(x if i == 0 else F.leaky_relu(x, LEAKY))  # (B, enc[i], H / 2^(i+1), W / 2^(i+1))
            skips.append(x)
        for j, up in enumerate(self.ups):
            x = up(x if j == 0 else torch.cat([x, skips[self.depth - 1 - j]], dim=1))  # mirrored size
        x = self.out(torch.cat([x, skips[0]], dim=1))  # (B, 2, H, W)
        return tanh_ab(x)  # ab / 110 in [-128/110, 128/110]


class PatchDiscriminator(nn.Module):
    """(B, 3, H, W) normalised L and ab -> (B, 1, H/8 - 2, W/8 - 2) real/fake logits of 70x70 patches."""

    def __init__(self, *, in_channels: int = 3, width: float = 1.0) -> None:
        super().__init__()
        c64, c128, c256, c512 = (scaled(c, check_width(width)) for c in (64, 128, 256, 512))
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c64, 4, stride=2, padding=1),
            nn.LeakyReLU(LEAKY),  # no BatchNorm on C64
            nn.Conv2d(c64, c128, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c128),
            nn.LeakyReLU(LEAKY),
            nn.Conv2d(c128, c256, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c256),
            nn.LeakyReLU(LEAKY),
            nn.Conv2d(c256, c512, 4, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(c512),
            nn.LeakyReLU(LEAKY),
            nn.Conv2d(c512, 1, 4, stride=1, padding=1),  # logits; the sigmoid is in the loss
        )

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return self.net(pair)  # (B, 1, H/8 - 2, W/8 - 2): 30x30 for 256x256


@register_model(
    "pix2pix-unet",
    output_stride=1,
    kinds=("regression",),
    summary="pix2pix U-Net generator (Agrawal and Sawhney appendix), tanh ab at full size; H, W multiples of "
    "2^depth; options depth (8), width, dropout",
)
def pix2pix_unet(
    *, num_classes: int | None, depth: int = 8, width: float = 1.0, dropout: float = 0.5
) -> UNetGenerator:
    return UNetGenerator(depth=depth, width=width, dropout=dropout)
