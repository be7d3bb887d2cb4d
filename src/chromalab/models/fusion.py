"""Global-feature fusion (Iizuka et al. 2016) and Deep Koalarization (Baldassarre et al. 2017; seed 002).

Shared pieces, also used by ``rainbownet-v1`` (seed 000):

- ``SmallGlobalEncoder``: the default global feature extractor. No Inception-ResNet-v2 weights exist here,
  so a small encoder is trained jointly: stride-2 convolutions, global average pool, linear to an embedding.
- ``GlobalBranch``: extractor -> embedding (B, E), optionally also K image-class logits (Iizuka's
  simultaneous classification), kept in ``last_class_logits`` so the forward contract stays one tensor.
- ``fuse``: repeat the embedding over the grid, concatenate depth-wise, 1x1 convolution + ReLU (Iizuka's
  fusion layer, y = relu(b + W [y_global; y_mid]) at every position).
- ``auxiliary_loss(model, labels)``: cross-entropy on those class logits.

``koalarization`` (seed 002, table 1): encoder conv 64 s2, 128, 128 s2, 256, 256 s2, 512, 512, 256 (all 3x3,
ReLU) -> fusion to 256 at H/8 -> decoder conv 128, up, 64, 64, up, 32, 2 (tanh), up -> ab at H x W.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from chromalab.color.lab import AB_SCALE
from chromalab.models.blocks import conv_relu, scaled
from chromalab.models.registry import register_model

# seed 002 scales a and b from [-128, 128] to [-1, 1] and ends in tanh; our regression target is ab / 110,
# so the tanh output is multiplied by 128 / 110: denormalize_ab(output) then spans [-128, 128] again
TANH_AB_SCALE = 128.0 / AB_SCALE
IIZUKA_CLASS_HIDDEN = 256  # Iizuka et al. 2016: global features -> fc 256 -> fc K classes


def check_width(width: float) -> float:
    """The channel multiplier of a family: a positive number (``ValueError`` otherwise)."""
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"width must be a positive number, got {width!r}")
    return float(width)


def tanh_ab(x: torch.Tensor) -> torch.Tensor:
    """Unbounded (B, 2, H, W) -> normalised ab (ab / 110) covering [-128, 128] in Lab units."""
    return torch.tanh(x) * TANH_AB_SCALE


class SmallGlobalEncoder(nn.Module):
    """Normalised L (B, 1, H, W) -> embedding (B, E): four stride-2 3x3 convolutions with BatchNorm and
    ReLU (32-64-128-256, times ``width``), global average pool, linear. Trained jointly with the network;
    stands in for Inception-ResNet-v2 (seeds 000, 002), which cannot be downloaded here."""

    def __init__(self, *, embedding_dim: int, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for channels in (32, 64, 128, 256):
            c_out = scaled(channels, width)
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.proj = nn.Linear(c_in, embedding_dim)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        pooled = self.features(l_norm).mean(dim=(2, 3))  # (B, C): global average pool, any input size
        return self.proj(pooled)  # (B, E)


class GlobalBranch(nn.Module):
    """The global path: ``extractor`` (B, 1, H, W) -> (B, E); with ``classes=K`` also K class logits.

    ``extractor`` is "small" (``SmallGlobalEncoder``, trained jointly) or any ``nn.Module`` mapping the
    normalised L batch to (B, embedding_dim), e.g. a user's pretrained backbone behind an adapter
    (docs/models.md). ``freeze_extractor`` stops its gradients and keeps it in eval mode (Baldassarre et
    al. use a fixed, pretrained Inception-ResNet-v2).
    """

    def __init__(self, *, extractor: str | nn.Module, embedding_dim: int, classes: int | None,
                 freeze_extractor: bool, width: float) -> None:
        super().__init__()
        if not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
        if classes is not None and (not isinstance(classes, int) or classes < 2):
            raise ValueError(f"classes must be None or an integer >= 2, got {classes!r}")
        if isinstance(extractor, str):
            if extractor != "small":
                raise ValueError(f'extractor must be "small" or an nn.Module, got {extractor!r}')
            extractor = SmallGlobalEncoder(embedding_dim=embedding_dim, width=width)
        elif not isinstance(extractor, nn.Module):
            raise TypeError(f'extractor must be "small" or an nn.Module, got {type(extractor).__name__}')
        self.extractor = extractor
        self.embedding_dim = embedding_dim
        self.frozen = bool(freeze_extractor)
        if self.frozen:
            self.extractor.requires_grad_(False)
        self.classifier = (
            nn.Sequential(nn.Linear(embedding_dim, IIZUKA_CLASS_HIDDEN), nn.ReLU(inplace=True),
                          nn.Linear(IIZUKA_CLASS_HIDDEN, classes))
            if classes is not None else None
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
            raise ValueError(f"the extractor must return (B, embedding_dim) = ({l_norm.shape[0]}, "
                             f"{self.embedding_dim}), got {tuple(embedding.shape)}")
        self.last_class_logits = self.classifier(embedding) if self.classifier is not None else None  # (B, K)
        return embedding  # (B, E)


def fuse(local: torch.Tensor, embedding: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    """Iizuka fusion: local (B, C, h, w) and embedding (B, E) -> conv(cat) (B, C', h, w); ``conv`` is a 1x1
    convolution over C + E channels (seed 002: RepeatVector over the grid, concatenate, 256 1x1 kernels)."""
    grid = embedding[:, :, None, None].expand(-1, -1, *local.shape[-2:])  # (B, E, h, w)
    return F.relu(conv(torch.cat([local, grid], dim=1)))  # (B, C', h, w)


def auxiliary_loss(model: nn.Module, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the image-class logits of the last forward pass (Iizuka et al. 2016) against
    ``labels`` (B,) int; the model must be built with ``classes=K``. Iizuka weight it by 1/300 against
    the colour loss; the weight is the caller's."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    branch = getattr(model, "global_branch", None)
    if branch is None or branch.classifier is None:
        raise ValueError("auxiliary_loss needs a model built with classes=K (koalarization, rainbownet-v1)")
    logits = branch.last_class_logits
    if logits is None:
        raise ValueError("auxiliary_loss: run a forward pass first; no class logits are stored")
    labels = torch.as_tensor(labels, device=logits.device).long()
    if labels.shape != logits.shape[:1]:
        raise ValueError(f"labels must be ({logits.shape[0]},), got {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}), got [{labels.min()}, {labels.max()}]")
    return F.cross_entropy(logits, labels)


class Koalarization(nn.Module):
    """Normalised L (B, 1, H, W) -> normalised ab (B, 2, H, W) in [-128/110, 128/110]; seed 002 table 1."""

    def __init__(self, *, extractor: str | nn.Module, embedding_dim: int, classes: int | None,
                 freeze_extractor: bool, width: float) -> None:
        super().__init__()
        c = {n: scaled(n, check_width(width)) for n in (32, 64, 128, 256, 512)}
        # encoder, seed 002 table 1 (left): three stride-2 convolutions take it to H/8
        self.encoder = nn.Sequential(
            *conv_relu(1, c[64], stride=2), *conv_relu(c[64], c[128]), *conv_relu(c[128], c[128], stride=2),
            *conv_relu(c[128], c[256]), *conv_relu(c[256], c[256], stride=2), *conv_relu(c[256], c[512]),
            *conv_relu(c[512], c[512]), *conv_relu(c[512], c[256]),
        )
        self.global_branch = GlobalBranch(extractor=extractor, embedding_dim=embedding_dim, classes=classes,
                                          freeze_extractor=freeze_extractor, width=width)
        self.fusion = nn.Conv2d(c[256] + embedding_dim, c[256], kernel_size=1)  # table 1 (middle)
        # decoder, table 1 (right); the three nearest-neighbour x2 upsamplings are in forward
        self.decode8 = nn.Sequential(*conv_relu(c[256], c[128]))
        self.decode4 = nn.Sequential(*conv_relu(c[128], c[64]), *conv_relu(c[64], c[64]))
        self.decode2 = nn.Sequential(*conv_relu(c[64], c[32]), nn.Conv2d(c[32], 2, 3, padding=1))

    @property
    def last_class_logits(self) -> torch.Tensor | None:
        """(B, K) image-class logits of the last forward pass when built with ``classes=K``, else None."""
        return self.global_branch.last_class_logits

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        h, w = l_norm.shape[-2:]
        h2, w2 = (h + 1) // 2, (w + 1) // 2  # sizes after each stride-2 convolution (padding 1)
        h4, w4 = (h2 + 1) // 2, (w2 + 1) // 2
        local = self.encoder(l_norm)  # (B, 256, H/8, W/8)
        x = fuse(local, self.global_branch(l_norm), self.fusion)  # (B, 256, H/8, W/8)
        x = self.decode8(x)  # (B, 128, H/8, W/8)
        x = self.decode4(F.interpolate(x, size=(h4, w4), mode="nearest"))  # (B, 64, H/4, W/4)
        x = self.decode2(F.interpolate(x, size=(h2, w2), mode="nearest"))  # (B, 2, H/2, W/2)
        return F.interpolate(tanh_ab(x), size=(h, w), mode="nearest")  # (B, 2, H, W), ab / 110


@register_model("koalarization", output_stride=1, kinds=("regression",),
                summary="Deep Koalarization (seed 002): encoder + global embedding fusion, tanh ab at full size; "
                        "options extractor, embedding_dim, classes, freeze_extractor, width")
def koalarization(*, num_classes: int | None, extractor: str | nn.Module = "small", embedding_dim: int = 1001,
                  classes: int | None = None, freeze_extractor: bool = False, width: float = 1.0) -> Koalarization:
    assert num_classes is None  # regression only: create_model checks the kind
    # 1001: Inception-ResNet-v2's output (1000 ImageNet classes + background) that seed 002 fuses
    return Koalarization(extractor=extractor, embedding_dim=embedding_dim, classes=classes,
                         freeze_extractor=freeze_extractor, width=width)
