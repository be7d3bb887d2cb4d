"""The model zoo of the reports (docs/references.md): RainbowNet, Koalarization, Agrawal and Sawhney's
small nets and pix2pix, Santiago and Sieving's zhang-small. Small inputs and width multipliers only: these
run beside training jobs on two cores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from chromalab.color.lab import denormalize_ab
from chromalab.models import create_model, list_models, model_info
from chromalab.models.blocks import TANH_AB_SCALE
from chromalab.models.pix2pix import PatchDiscriminator
from chromalab.models.profile import count_params
from chromalab.training.gan import gan_step
from chromalab.training.losses import auxiliary_loss

Q = 20  # channels:10, Agrawal and Sawhney's per-channel bins (2 x 10 logits)

# name, kind, options, input side, output side
CASES = [
    ("rainbownet-v0", "regression", {"width": 0.25}, 32, 32),
    ("rainbownet-v1", "classification", {"width": 0.125, "embedding_dim": 16}, 32, 32),
    ("rainbownet-v2", "classification", {"width": 0.125}, 32, 32),
    ("koalarization", "regression", {"width": 0.125, "embedding_dim": 16}, 32, 32),
    ("cifar-baseline", "regression", {}, 32, 32),
    ("small64", "regression", {"width": 0.25}, 64, 64),
    ("small64", "classification", {"width": 0.25}, 64, 64),
    ("zhang-small", "regression", {}, 32, 8),
    ("zhang-small", "classification", {}, 32, 8),
    ("pix2pix-unet", "regression", {"depth": 5, "width": 0.125}, 32, 32),
]
ZOO = {
    "rainbownet-v0",
    "rainbownet-v1",
    "rainbownet-v2",
    "koalarization",
    "cifar-baseline",
    "small64",
    "zhang-small",
    "pix2pix-unet",
}


def test_every_zoo_model_and_kind_has_a_case() -> None:
    registered = {(info.name, kind) for info in list_models() if info.name in ZOO for kind in info.kinds}
    assert {info.name for info in list_models()} >= ZOO
    assert registered == {(name, kind) for name, kind, *_ in CASES}


@pytest.mark.parametrize(("name", "kind", "options", "side", "out_side"), CASES)
def test_forward_shape_and_backward(name: str, kind: str, options: dict, side: int, out_side: int) -> None:
    torch.manual_seed(0)
    num_classes = Q if kind == "classification" else None
    model = create_model(name, num_classes=num_classes, **options).train()
    out = model(torch.rand(2, 1, side, side) - 0.5)
    assert out.shape == (2, Q if num_classes else 2, out_side, out_side)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing[:5]


@pytest.mark.parametrize("name", ["rainbownet-v0", "rainbownet-v2", "koalarization"])
def test_full_resolution_for_any_size(name: str) -> None:
    options = {"width": 0.125} if name != "koalarization" else {"width": 0.125, "embedding_dim": 8}
    model = create_model(name, num_classes=None if name != "rainbownet-v2" else Q, **options).eval()
    with torch.inference_mode():
        assert model(torch.zeros(1, 1, 50, 70)).shape[-2:] == (50, 70)


def test_tanh_outputs_cover_minus_128_to_128() -> None:
    model = create_model("koalarization", num_classes=None, width=0.125, embedding_dim=8).eval()
    with torch.no_grad():
        model.decode2[-1].bias.fill_(100.0)  # saturate the tanh
        out = model(torch.rand(1, 1, 32, 32))
    assert pytest.approx(128 / 110) == TANH_AB_SCALE
    assert torch.allclose(denormalize_ab(out), torch.full_like(out, 128.0))


class RandomBackbone(nn.Module):
    """A stand-in for a user's pretrained backbone behind an adapter: normalised L -> (B, 1001)."""

    def __init__(self, dim: int = 1001) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, stride=4), nn.BatchNorm2d(8), nn.ReLU())
        self.fc = nn.Linear(8, dim)

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        rgb_like = l_norm.expand(-1, 1, -1, -1)  # an adapter would resize / repeat to the backbone's input
        return self.fc(self.features(rgb_like).mean(dim=(2, 3)))


def test_koalarization_takes_a_user_extractor() -> None:
    backbone = RandomBackbone()
    model = create_model(
        "koalarization",
        num_classes=None,
        extractor=backbone,
        embedding_dim=1001,
        freeze_extractor=True,
        width=0.125,
    ).train()
    assert model.global_branch.extractor is backbone
    assert not backbone.training  # frozen: stays in eval mode, its BatchNorm statistics are kept
    assert not any(p.requires_grad for p in backbone.parameters())
    out = model(torch.rand(2, 1, 32, 32) - 0.5)
    out.mean().backward()
    assert out.shape == (2, 2, 32, 32) and all(p.grad is None for p in backbone.parameters())
    assert model.fusion.weight.grad is not None

    wrong = create_model("koalarization", num_classes=None, extractor=RandomBackbone(10), embedding_dim=1001)
    with pytest.raises(ValueError, match="must return"):
        wrong(torch.rand(1, 1, 32, 32))


def test_koalarization_with_the_imagenet_extractor_knows_a_cat_from_grey() -> None:
    import skimage.data
    from PIL import Image

    from chromalab.color.lab import normalize_l, rgb_to_lab

    model = create_model(
        "koalarization",
        num_classes=None,
        extractor="efficientnet",
        pretrained=True,
        freeze_extractor=True,
        width=0.125,
    ).eval()
    assert model.global_branch.embedding_dim == 1000 and model_info("koalarization").build_only == (
        "pretrained",
    )
    rgb = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((160, 128)), dtype=np.float32) / 255
    l_norm = normalize_l(rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None])[:, :1])  # (1, 1, 128, 160)
    with torch.inference_mode():
        assert model(l_norm).shape == (1, 2, 128, 160)
        assert int(model.global_branch(l_norm).argmax()) in range(281, 286)  # the ImageNet cats


@pytest.mark.parametrize("name", ["koalarization", "rainbownet-v1"])
def test_auxiliary_class_loss(name: str) -> None:
    torch.manual_seed(0)
    num_classes = None if name == "koalarization" else Q
    model = create_model(name, num_classes=num_classes, width=0.125, embedding_dim=16, classes=5).train()
    with pytest.raises(ValueError, match="forward pass first"):
        auxiliary_loss(model, torch.tensor([0, 1]))
    out = model(torch.rand(2, 1, 32, 32) - 0.5)
    assert out.shape[1] == (num_classes or 2)  # the forward contract stays one tensor
    assert model.last_class_logits.shape == (2, 5)
    loss = auxiliary_loss(model, torch.tensor([3, 1], dtype=torch.int16))  # Cache.labels are int16
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.global_branch.classifier[0].weight.grad is not None
    assert model.global_branch.extractor.proj.weight.grad is not None  # the class loss trains the extractor
    with pytest.raises(ValueError, match="labels must lie"):
        auxiliary_loss(model, torch.tensor([0, 5]))
    plain = create_model("koalarization", num_classes=None, width=0.125, embedding_dim=8).eval()
    plain(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="classes=K"):
        auxiliary_loss(plain, torch.tensor([0]))


def test_small64_dropout_and_fixed_size() -> None:
    plain = create_model("small64", num_classes=None)
    dropped = create_model("small64", num_classes=None, dropout=0.4)
    assert sum(isinstance(m, nn.Dropout) for m in dropped.modules()) == 9  # after each of the 9 BatchNorms
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    assert sum(isinstance(m, nn.Conv2d) for m in plain.convs) == 9
    assert plain.fc.in_features == 28 * 28 * 4 and plain.fc.out_features == 64 * 64 * 2
    with pytest.raises(ValueError, match="--size 64"):
        plain(torch.zeros(1, 1, 32, 32))
    baseline = create_model("cifar-baseline", num_classes=None)
    assert sum(isinstance(m, nn.Conv2d) for m in baseline.modules()) == 3
    assert baseline.fc.out_features == 32 * 32 * 2


def test_zhang_small_maps_the_kernel_multiplier_to_width() -> None:
    for multiplier in (16, 32):
        small = create_model("zhang-small", num_classes=313, multiplier=multiplier)
        same = create_model("zhang-eccv16", num_classes=313, width=multiplier / 64)
        assert count_params(small) == count_params(same)
    assert type(small).__name__ == "ZhangNet"


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("zhang-small", {"multiplier": 20}),
        ("small64", {"dropout": 1.5}),
        ("small64", {"size": 32}),  # nine unpadded 5x5 convolutions need more than 36 pixels
        ("cifar-baseline", {"bottleneck": 0}),
        ("pix2pix-unet", {"depth": 9}),
        ("koalarization", {"extractor": "inception"}),
        ("koalarization", {"extractor": 3}),
        ("koalarization", {"extractor": "efficientnet", "embedding_dim": 16}),  # the classifier gives 1000
        ("koalarization", {"classes": 1}),
        ("rainbownet-v1", {"width": 0}),
        ("rainbownet-v2", {"extractor": "small"}),  # v2 has no fusion, so no extractor option
        ("rainbownet-v0", {"depth": 3}),
    ],
)
def test_bad_options_are_value_errors(name: str, options: dict) -> None:
    num_classes = Q if name.startswith("rainbownet-v") and name != "rainbownet-v0" else None
    with pytest.raises(ValueError):
        create_model(name, num_classes=num_classes, **options)


def test_unsupported_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="supports regression"):
        create_model("koalarization", num_classes=Q)
    with pytest.raises(ValueError, match="supports classification"):
        create_model("rainbownet-v2", num_classes=None)


def test_pix2pix_generator_at_256_and_its_size_check() -> None:
    model = create_model("pix2pix-unet", num_classes=None, width=0.0625).eval()  # depth 8: 256 -> 1x1
    with torch.inference_mode():
        assert model(torch.zeros(1, 1, 256, 256)).shape == (1, 2, 256, 256)
    assert sum(isinstance(m, nn.Dropout) for m in model.modules()) == 3
    with pytest.raises(ValueError, match="multiples of 256"):
        model(torch.zeros(1, 1, 64, 64))
    full = create_model("pix2pix-unet", num_classes=None)
    assert abs(count_params(full) - 54.4e6) < 0.1e6  # Isola et al.'s U-Net (1 in, 2 out channels)


def test_patch_discriminator_is_30x30_with_70x70_patches() -> None:
    torch.manual_seed(0)
    disc = PatchDiscriminator(width=0.0625).eval()
    pair = torch.randn(1, 3, 256, 256, requires_grad=True)
    out = disc(pair)
    assert out.shape == (1, 1, 30, 30)
    out[0, 0, 15, 15].backward()
    rows = pair.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    cols = pair.grad.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_gan_step_trains_both_networks() -> None:
    torch.manual_seed(0)
    generator = create_model("pix2pix-unet", num_classes=None, depth=4, width=0.0625)
    discriminator = PatchDiscriminator(width=0.0625)
    g_opt = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))  # pix2pix's Adam
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    before_g = [p.detach().clone() for p in generator.parameters()]
    before_d = [p.detach().clone() for p in discriminator.parameters()]
    lightness = torch.rand(2, 1, 32, 32) * 100  # Lab units, as training_step receives them
    ab = torch.rand(2, 2, 32, 32) * 100 - 50
    losses = gan_step(generator, discriminator, g_opt, d_opt, lightness, ab)
    assert set(losses) == {"d_loss", "g_loss", "g_adv", "g_l1"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    assert losses["g_loss"] == pytest.approx(losses["g_adv"] + 100.0 * losses["g_l1"], rel=1e-5)
    assert all(not torch.equal(a, b) for a, b in zip(before_g, generator.parameters(), strict=True))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, discriminator.parameters(), strict=True))
    assert all(p.requires_grad for p in discriminator.parameters())
