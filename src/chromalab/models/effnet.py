"""``effnet``: an ImageNet-pretrained encoder (EfficientNet-Lite0, -Lite1 or -Lite2, ``efficientnet``)
under a light decoder to the ab bins at 1/4 of the input, with the encoder's pooled global feature fused in
the manner of Iizuka et al. 2016 and Deep Koalarization (Lin and Liu): the network knows what things are
before it picks their colour.

Encoder maps at 1/4, 1/8, 1/16, 1/32 -> the 1/32 map plus the projected global feature -> three x2 steps
up, each joined with the encoder's map of that size -> head at 1/4 (logits over Q bins, or ab). Options:
``pretrained`` (load the ImageNet weights when the network is built for training; not stored in model
files, whose weights are the trained ones), ``freeze_encoder`` (no gradients into the encoder and its
BatchNorm statistics kept), ``freeze_bn`` (fine-tuning: the encoder learns but keeps its BatchNorm
statistics), ``width`` (the decoder's channels), ``hints`` (the decoder also takes a hint map:
``models.hint_inputs``), ``encoder`` ("lite0", the default, "lite1" or "lite2").

``encode`` and ``run_decoder`` are the two halves of ``forward``: the encoder does not see the hints, so a
page that re-colorizes a photo as its hints change runs the encoder once.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.models.blocks import OutputHead, check_width, conv_bn, scaled
from chromalab.models.efficientnet import HEAD, VARIANTS, EfficientNetLite, grey_input, load_pretrained
from chromalab.models.hint_inputs import HintInputs
from chromalab.models.registry import register_model

DECODER = (128, 96, 64)  # channels after the 1/16, 1/8 and 1/4 steps (times ``width``)


class EffNetColorizer(nn.Module):
    """Normalised L (B, 1, H, W) [+ hint map (B, 3, H, W)] -> logits (B, Q, H/4, W/4) or normalised ab
    (B, 2, H/4, W/4)."""

    # views are multiples of 32: every map is even, so TF 'SAME' padding is one rule (ONNX traces it)
    side_step = 32

    def __init__(
        self,
        *,
        num_classes: int | None,
        pretrained: bool = False,
        freeze_encoder: bool = False,
        freeze_bn: bool = False,
        width: float = 1.0,
        hints: bool = False,
        encoder: str = "lite0",
    ) -> None:
        super().__init__()
        if encoder not in VARIANTS:
            raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(VARIANTS)}")
        self.encoder = load_pretrained(EfficientNetLite(encoder)) if pretrained else EfficientNetLite(encoder)
        self.encoder._fc = nn.Identity()  # the ImageNet classifier is not used
        self.encoder.requires_grad_(not freeze_encoder)
        self.frozen_statistics = bool(freeze_encoder or freeze_bn)
        taps = self.encoder.tap_channels
        c16, c8, c4 = (scaled(c, check_width(width)) for c in DECODER)
        self.bottom = conv_bn(taps[32], c16, kernel=1)
        self.global_proj = nn.Linear(HEAD, c16)  # Iizuka's fusion, as an addition at every position
        self.up16 = conv_bn(c16 + taps[16], c16)
        self.up8 = conv_bn(c16 + taps[8], c8)
        self.up4 = nn.Sequential(conv_bn(c8 + taps[4], c4), conv_bn(c4, c4))
        self.head = OutputHead(c4, num_classes)
        self.hint_inputs = HintInputs({16: c16, 8: c16, 4: c8}) if hints else None
        # added to a trained network: a fine-tune may start without them, and they are not weight-decayed
        self.fresh_parts = (HintInputs.PREFIX,) if hints else ()

    @property
    def takes_hints(self) -> bool:
        return self.hint_inputs is not None

    def train(self, mode: bool = True) -> EffNetColorizer:
        super().train(mode)
        if self.frozen_statistics:
            # the encoder keeps its ImageNet BatchNorm statistics (eval mode changes nothing else)
            self.encoder.eval()
        return self

    def forward(self, l_norm: torch.Tensor, hint_map: torch.Tensor | None = None) -> torch.Tensor:
        return self.run_decoder(self.encode(l_norm), hint_map)

    def encode(self, l_norm: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """The encoder's maps at 1/4 .. 1/32 and its pooled feature (B, 1280)."""
        return self.encoder.features(grey_input(l_norm))

    def run_decoder(
        self, encoded: tuple[dict[int, torch.Tensor], torch.Tensor], hint_map: torch.Tensor | None = None
    ) -> torch.Tensor:
        taps, pooled = encoded
        x = F.relu(self.bottom(taps[32]) + self.global_proj(pooled)[:, :, None, None])  # (B, c16, H/32, W/32)
        for step, stride in ((self.up16, 16), (self.up8, 8), (self.up4, 4)):
            skip = taps[stride]
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            if hint_map is not None and self.takes_hints:
                x = x + self.hint_inputs(hint_map, stride)
            x = step(torch.cat([x, skip], dim=1))  # (B, c, H/stride, W/stride)
        return self.head(x)  # (B, Q, H/4, W/4)


@register_model(
    "effnet",
    build_only=("pretrained",),
    summary="ImageNet-pretrained EfficientNet-Lite0 encoder + light decoder with global fusion; options "
    "pretrained (training), freeze_encoder, freeze_bn, width, hints (colour hint inputs), "
    "encoder (lite0 | lite1 | lite2)",
)
def effnet(*, num_classes: int | None, **options: Any) -> EffNetColorizer:
    """``options``: ``EffNetColorizer``'s (pretrained, freeze_encoder, freeze_bn, width, hints, encoder)."""
    return EffNetColorizer(num_classes=num_classes, **options)
