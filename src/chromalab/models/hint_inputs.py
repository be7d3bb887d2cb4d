"""Colour hints as an input of a decoder, in the manner of Zhang et al. 2017: the user's (or the sampler's)
hint map, pooled to each scale the decoder works at, and turned into an offset added to the decoder's
features.

A hint map is (B, 3, H, W) at the network's view: a and b in Lab units where a hint is, and a mask that is
1 there; zeros elsewhere (``color.hints.hint_map`` draws one). Every layer here is bias-free and the last
one of each scale starts at zero, so that

- an empty map gives an offset of exactly zero: the network with no hints is the automatic one, and
- a trained automatic network gains this module without changing its output before fine-tuning.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.color.lab import AB_SCALE

HINT_CHANNELS = 3  # a, b (Lab units), mask
HIDDEN = 32  # channels of each scale's small spreading network


def pool_hints(hint_map: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, H/stride, W/stride): per cell the mean ab of its hinted pixels (normalised,
    ab / 110) and a mask that is 1 where the cell holds any hinted pixel."""
    ab, mask = hint_map[:, :2] / AB_SCALE, hint_map[:, 2:]
    covered = F.avg_pool2d(mask, stride)  # share of hinted pixels in each cell
    mean_ab = F.avg_pool2d(ab * mask, stride) / covered.clamp(min=1e-6)
    present = (covered > 0).to(hint_map.dtype)
    return torch.cat([mean_ab * present, present], dim=1)


class HintOffset(nn.Module):
    """Hint map (B, 3, H, W) -> offset (B, channels, H/stride, W/stride) for the decoder's features there."""

    def __init__(self, stride: int, channels: int) -> None:
        super().__init__()
        self.stride = stride
        self.spread = nn.Sequential(
            nn.Conv2d(HINT_CHANNELS, HIDDEN, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(HIDDEN, HIDDEN, 3, padding=2, dilation=2, bias=False),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(HIDDEN, channels, 1, bias=False)
        nn.init.zeros_(self.out.weight)  # a trained network keeps its automatic output until fine-tuned

    def forward(self, hint_map: torch.Tensor) -> torch.Tensor:
        return self.out(self.spread(pool_hints(hint_map, self.stride)))


class HintInputs(nn.Module):
    """One ``HintOffset`` per decoder scale: ``scales`` maps stride -> the decoder's channels there."""

    PREFIX = "hint_inputs."  # where these weights live in a network's state dict

    def __init__(self, scales: dict[int, int]) -> None:
        super().__init__()
        self.offsets = nn.ModuleDict(
            {str(stride): HintOffset(stride, channels) for stride, channels in scales.items()}
        )

    def forward(self, hint_map: torch.Tensor, stride: int) -> torch.Tensor:
        return self.offsets[str(stride)](hint_map)
