"""The inference form of a network (``models.inference``): BatchNorms folded into convolutions,
channels-last.

Every registered network gives the same outputs in both forms, with BatchNorm statistics and affine
parameters drawn at random first (at their initial values, mean 0, variance 1, scale 1, shift 0, folding
would change almost nothing and a wrong formula would pass). Tolerance: folding only reorders float
products (w * s then the sum, instead of the sum then * s); measured on the trained default network 4e-5 on
logits of magnitude ~37 (1e-6 relative), so 1e-4 relative to the output's largest value is 100x the
rounding and far below a wrong fold (a missing shift or scale moves outputs by O(1) of the normalised
activations).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from chromalab.models import create_model, list_models
from chromalab.models.efficientnet import MBConv
from chromalab.models.inference import conv_bn_pairs, fold_batchnorm, for_inference
from chromalab.models.registry import input_side

Q = 261


def with_random_statistics(model: nn.Module, seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                shape = module.running_mean.shape
                module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.5)
                module.running_var.copy_(torch.rand(shape, generator=generator) * 2 + 0.2)
                if module.affine:
                    module.weight.copy_(torch.randn(shape, generator=generator))
                    module.bias.copy_(torch.randn(shape, generator=generator))
    return model.eval()


def test_folding_one_convolution_by_hand() -> None:
    """1x1 convolution w = 2, b = 1 on x = 3 gives 7; BatchNorm (mean 1, var 4 - eps, scale 3, shift 0.5):
    (7 - 1) / 2 * 3 + 0.5 = 9.5; folded: w' = 2 * 3 / 2 = 3, b' = (1 - 1) * 3 / 2 + 0.5 = 0.5, 3 * 3 + 0.5
    = 9.5."""
    conv, bn = nn.Conv2d(1, 1, 1), nn.BatchNorm2d(1).eval()
    with torch.no_grad():
        conv.weight.fill_(2.0)
        conv.bias.fill_(1.0)
        bn.running_mean.fill_(1.0)
        bn.running_var.fill_(4.0 - bn.eps)
        bn.weight.fill_(3.0)
        bn.bias.fill_(0.5)
    x = torch.full((1, 1, 1, 1), 3.0)
    with torch.no_grad():
        assert float(bn(conv(x))) == pytest.approx(9.5)
        fold_batchnorm(conv, bn)
        assert float(conv.weight) == pytest.approx(3.0) and float(conv.bias) == pytest.approx(0.5)
        assert float(conv(x)) == pytest.approx(9.5)


def test_an_efficientnet_block_names_its_three_pairs() -> None:
    block = nn.Sequential(MBConv(16, 24, expansion=6, kernel=3, stride=2))
    found = [(type(conv).__name__, bn.num_features) for _, _, conv, bn in conv_bn_pairs(block)]
    assert found == [("Conv2d", 96), ("SamePadConv", 96), ("Conv2d", 24)]


@pytest.mark.parametrize("name", [info.name for info in list_models()])
def test_every_network_gives_the_same_output_in_its_inference_form(name: str) -> None:
    torch.manual_seed(0)
    kinds = next(info.kinds for info in list_models() if info.name == name)
    model = with_random_statistics(create_model(name, num_classes=Q if "classification" in kinds else None))
    side = input_side(model, 64)
    l_norm = torch.rand(2, 1, side, side) - 0.5
    fast = for_inference(copy.deepcopy(model))
    assert not any(isinstance(m, nn.BatchNorm2d) for _, _, _, m in conv_bn_pairs(fast))
    with torch.inference_mode():
        expected, got = model(l_norm), fast(l_norm)
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) <= 1e-4 * float(expected.abs().max()) + 1e-6


def test_the_hint_network_folds_and_keeps_its_halves() -> None:
    model = with_random_statistics(create_model("effnet", num_classes=Q, hints=True))
    with torch.no_grad():
        for parameter in model.hint_inputs.parameters():  # zero at creation: give the hints an effect
            parameter.normal_(0, 0.1)
    l_norm, hint_map = torch.rand(1, 1, 64, 64) - 0.5, torch.rand(1, 3, 64, 64)
    fast = for_inference(copy.deepcopy(model))
    folded = sum(isinstance(m, nn.Identity) for m in fast.modules()) - sum(
        isinstance(m, nn.Identity) for m in model.modules()
    )
    # every BatchNorm follows a convolution
    assert folded == sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.inference_mode():
        expected, got = model(l_norm, hint_map), fast.run_decoder(fast.encode(l_norm), hint_map)
    assert float((got - expected).abs().max()) <= 1e-4 * float(expected.abs().max()) + 1e-6


def test_a_batchnorm_without_running_statistics_stays() -> None:
    """It normalises each batch by its own statistics: nothing to fold, and the network still runs."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU()
    )
    x = torch.rand(2, 1, 8, 8)
    with torch.inference_mode():
        expected = model.eval()(x)
        fast = for_inference(model)
        assert isinstance(fast[1], nn.BatchNorm2d)
        assert torch.allclose(fast(x), expected, atol=1e-6)


def test_the_inference_form_holds_no_subnormal_weights() -> None:
    """Folding BatchNorms leaves weights below float32's smallest normal; convolutions on them ran the
    bundled network 6x slower. ``for_inference`` zeroes them."""
    from chromalab.colorize.torch_backend import Colorizer

    for weights in Colorizer.load("default").model.parameters():
        assert not ((weights != 0) & (weights.abs() < torch.finfo(weights.dtype).tiny)).any()
