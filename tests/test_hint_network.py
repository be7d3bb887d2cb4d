"""The hint-conditioned network (Zhang et al. 2017's inputs on the effnet decoder): hint maps and their
pooling against hand-computed cases, no hint meaning exactly the automatic network, the encoder / decoder
split that the web app re-runs, the training sampler's share of hint-free images, the palette."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from chromalab.color.bin_sets import make_bins
from chromalab.color.hints import Hint, hint_map, sample_hints
from chromalab.color.lab import AB_SCALE, normalize_l
from chromalab.colorize.core import as_lightness
from chromalab.colorize.hint_session import PALETTE_SPACING, HintSession
from chromalab.colorize.torch_backend import Colorizer
from chromalab.models import create_model
from chromalab.models.hint_inputs import pool_hints
from chromalab.training.batches import hint_maps


def test_a_hint_map_by_hand() -> None:
    drawn = hint_map([Hint(5, 3, (10.0, -20.0), side=2), Hint(0, 0, (1.0, 2.0))], (8, 4), (4, 2))
    expected = np.zeros((3, 2, 4), np.float32)
    expected[:, 1, 2] = (10.0, -20.0, 1.0)  # (5, 3) at half scale; a 2-pixel patch is one view pixel
    expected[:, 0, 0] = (1.0, 2.0, 1.0)
    np.testing.assert_array_equal(drawn, expected)
    wide = hint_map([Hint(4, 4, (5.0, 5.0), side=3)], (8, 8), (8, 8))
    assert wide[2].sum() == 9 and wide[2, 3:6, 3:6].all()  # the 3x3 patch around the point


def test_pooling_keeps_the_mean_color_of_the_hinted_pixels_only() -> None:
    drawn = torch.zeros(1, 3, 4, 4)
    drawn[0, :, 0, 0] = torch.tensor([10.0, 0.0, 1.0])
    drawn[0, :, 1, 1] = torch.tensor([30.0, -22.0, 1.0])
    pooled = pool_hints(drawn, 2)  # (1, 3, 2, 2)
    expected = torch.zeros(1, 3, 2, 2)
    # not diluted by the empty pixels
    expected[0, :, 0, 0] = torch.tensor([20.0 / AB_SCALE, -11.0 / AB_SCALE, 1.0])
    torch.testing.assert_close(pooled, expected)


BINS = make_bins("gamut:10")


def _hint_network(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    network = create_model("effnet", num_classes=BINS.num_classes, width=0.25, hints=True).eval()
    for layer in network.hint_inputs.offsets.values():
        torch.nn.init.normal_(layer.out.weight, std=0.1)  # as if trained: the hints now matter
    return network


def test_no_hint_is_exactly_the_automatic_network_and_the_halves_make_the_whole() -> None:
    network = _hint_network()
    plain = create_model("effnet", num_classes=BINS.num_classes, width=0.25).eval()
    plain.load_state_dict({k: v for k, v in network.state_dict().items() if not k.startswith("hint_inputs.")})
    lightness = normalize_l(torch.rand(2, 1, 64, 96) * 100)
    with torch.no_grad():
        automatic = plain(lightness)
        assert torch.equal(network(lightness), automatic)
        # bias-free: zeros stay zeros
        assert torch.equal(network(lightness, torch.zeros(2, 3, 64, 96)), automatic)
        hints = torch.zeros(2, 3, 64, 96)
        hints[:, :, 30:33, 40:43] = torch.tensor([50.0, 20.0, 1.0])[:, None, None]
        hinted = network(lightness, hints)
        assert not torch.equal(hinted, automatic)
        torch.testing.assert_close(
            network.run_decoder(network.encode(lightness), hints), hinted, rtol=0, atol=0
        )


def test_training_hint_maps_leave_the_asked_share_empty_and_take_the_truth() -> None:
    ab = torch.from_numpy(np.stack(np.meshgrid(np.arange(32.0), np.arange(32.0)))[::-1].copy()).float()
    batch = ab[None].expand(400, -1, -1, -1).contiguous()  # a = row, b = column
    maps = hint_maps(batch, np.random.default_rng(0), no_hint_share=0.5)
    empty = (maps[:, 2].flatten(1).sum(1) == 0).float().mean()
    # empty: the asked half, plus the sampler's own zero count (p = 1/8) in the other half
    assert float(empty) == pytest.approx(0.5 + 0.5 / 8, abs=0.06)
    marked = maps[:, 2] > 0
    assert marked.any() and torch.equal(maps[:, 2][marked], torch.ones(int(marked.sum())))
    assert (maps[:, :2].abs() > 0).any(dim=1)[~marked].sum() == 0  # colour only where the mask is
    one = sample_hints(ab.numpy(), np.random.default_rng(3), count=1, patch=1)[0]
    assert one.ab == (float(one.y), float(one.x))


def test_a_session_re_runs_only_the_decoder_and_offers_a_spread_palette(photo: np.ndarray) -> None:
    colorizer = Colorizer(_hint_network(), bins=BINS, spec=None, size=64)
    source = as_lightness(photo)
    session = HintSession(colorizer, source)
    automatic = colorizer.network_output(session.prepared.network_input)
    torch.testing.assert_close(session.output, automatic, rtol=0, atol=0)
    hints = [{"x": 10, "y": 40, "color": "#2040ff"}]
    session.set_hints(hints)
    whole = colorizer.network_output(
        session.prepared.network_input, colorizer.hint_view(session.prepared, hints)
    )
    torch.testing.assert_close(session.output, whole, rtol=0, atol=0)
    assert not torch.equal(session.output, automatic)
    session.set_hints([])
    assert torch.equal(session.output, automatic)
    offered = session.palette(10, 40)
    assert len(offered) == 6 and [c["p"] for c in offered] == sorted((c["p"] for c in offered), reverse=True)
    centres = torch.tensor([c["ab"] for c in offered])
    assert torch.cdist(centres, centres).add(torch.eye(6) * 1e3).min() >= PALETTE_SPACING
    with pytest.raises(ValueError, match="outside"):
        session.palette(64, 0)


def test_a_model_without_hint_inputs_spreads_the_hints_instead(photo: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        colorizer = Colorizer.untrained("tiny", size=32)
    session = HintSession(colorizer, as_lightness(photo))
    plain = session.ab()
    session.set_hints([{"x": 10, "y": 40, "color": "#2040ff"}])
    spread = session.ab()
    assert session.encoded is None and spread[0, 1].min() < plain[0, 1].min() - 10  # blue (b < 0) arrived
