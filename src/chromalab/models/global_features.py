"""Global-feature fusion (Iizuka et al. 2016), shared by ``koalarization`` (Lin and Liu) and ``rainbownet-v1``
(Ling et al.):

- ``SmallGlobalEncoder``: the default global feature extractor. No Inception-ResNet-v2 weights exist here,
  so a small encoder is trained jointly: stride-2 convolutions, global average pool, linear to an embedding.
  ``"efficientnet"`` instead: the ImageNet classifier EfficientNet-Lite0 (``efficientnet.ImageNetEmbedding``,
  1000 outputs), Lin and Liu's design with the pretrained network that is installable here.
- ``GlobalBranch``: extractor -> embedding (B, E), optionally also K image-class logits (Iizuka's
  simultaneous classification), kept in ``last_class_logits`` so the forward contract stays one tensor.
- ``fuse``: repeat the embedding over the grid, concatenate depth-wise, 1x1 convolution + ReLU (Iizuka's
  fusion layer, y = relu(b + W [y_global; y_mid]) at every position).

The training loss on those class logits is ``training.losses.auxiliary_loss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.models.blocks import scaled
from chromalab.models.efficientnet import ImageNetEmbedding

IIZUKA_CLASS_HIDDEN = 256  # Iizuka et al. 2016: global features -> fc 256 -> fc K classes


class SmallGlobalEncoder(nn.Module):
    """Normalised L (B, 1, H, W) -> embedding (B, E): four stride-2 3x3 convolutions with BatchNorm and
    ReLU (32-64-128-256, times ``width``), global average pool, linear. Trained jointly with the network;
    stands in for Inception-ResNet-v2 (Ling et al.; Lin and Liu), which cannot be downloaded here."""

    def __init__(self, *, embedding_dim: int, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for channels in (32, 64, 128, 256):
            c_out = scaled(channels, width)
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.proj = nn.Linear(c_in, embedding_dim)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        pooled = self.features(l_norm).mean(dim=(2, 3))  # (B, C): global average pool, any input size
        return self.proj(pooled)  # (B, E)


class GlobalBranch(nn.Module):
    """The global path: ``extractor`` (B, 1, H, W) -> (B, E); with ``classes=K`` also K class logits.

    ``extractor`` is "small" (``SmallGlobalEncoder``, trained jointly), "efficientnet" (``ImageNetEmbedding``,
    embedding_dim 1000; its ImageNet weights loaded when ``pretrained``) or any ``nn.Module`` mapping the
    normalised L batch to (B, embedding_dim), e.g. a user's pretrained backbone behind an adapter
    (docs/models.md). ``freeze_extractor`` stops its gradients and keeps it in eval mode (Baldassarre et
    al. use a fixed, pretrained Inception-ResNet-v2).
    """

    def __init__(
        self,
        *,
        extractor: str | nn.Module = "small",
        embedding_dim: int = ImageNetEmbedding.dim,
        classes: int | None = None,
        freeze_extractor: bool = False,
        width: float = 1.0,
        pretrained: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
        if classes is not None and (not isinstance(classes, int) or classes < 2):
            raise ValueError(f"classes must be None or an integer >= 2, got {classes!r}")
        if extractor == "small":
            extractor = SmallGlobalEncoder(embedding_dim=embedding_dim, width=width)
        elif extractor == "efficientnet":
            if embedding_dim != ImageNetEmbedding.dim:
                raise ValueError(
                    f"the efficientnet extractor gives embedding_dim {ImageNetEmbedding.dim}, "
                    f"got {embedding_dim}"
                )
            extractor = ImageNetEmbedding(pretrained=pretrained)
        elif isinstance(extractor, str):
            raise ValueError(f'extractor must be "small", "efficientnet" or an nn.Module, got {extractor!r}')
        elif not isinstance(extractor, nn.Module):
            raise TypeError(
                f'extractor must be "small", "efficientnet" or an nn.Module, got {type(extractor).__name__}'
            )
        self.extractor = extractor
        self.embedding_dim = embedding_dim
        self.frozen = bool(freeze_extractor)
        if self.frozen:
            self.extractor.requires_grad_(False)
        self.classifier = (
            nn.Sequential(
                nn.Linear(embedding_dim, IIZUKA_CLASS_HIDDEN),
                nn.ReLU(inplace=True),
                nn.Linear(IIZUKA_CLASS_HIDDEN, classes),
            )
            if classes is not None
            else None
        )
        self.last_class_logits: torch.Tensor | None = None

    def train(self, mode: bool = True) -> GlobalBranch:
        super().train(mode)
        if self.frozen:
            self.extractor.eval()  # a frozen backbone keeps its BatchNorm statistics
        return self

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        embedding = self.extractor(l_norm)
        if embedding.dim() != 2 or tuple(embedding.shape) != (l_norm.shape[0], self.embedding_dim):
            raise ValueError(
                f"the extractor must return (B, embedding_dim) = ({l_norm.shape[0]}, "
                f"{self.embedding_dim}), got {tuple(embedding.shape)}"
            )
        self.last_class_logits = self.classifier(embedding) if self.classifier is not None else None  # (B, K)
        return embedding  # (B, E)


def fuse(local: torch.Tensor, embedding: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    """Iizuka fusion: local (B, C, h, w) and embedding (B, E) -> conv(cat) (B, C', h, w); ``conv`` is a 1x1
    convolution over C + E channels (Lin and Liu: RepeatVector over the grid, concatenate, 256 1x1
    kernels)."""
    grid = embedding[:, :, None, None].expand(-1, -1, *local.shape[-2:])  # (B, E, h, w)
    return F.relu(conv(torch.cat([local, grid], dim=1)))  # (B, C', h, w)
