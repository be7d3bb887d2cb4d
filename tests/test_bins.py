"""ab bin sets: counts against independent recomputations, lookup, soft-encoding, decoding, rebalancing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from chromalab.color.bin_index import BinIndex, NotShipped, neighbour_table
from chromalab.color.bin_sets import ab_histogram, make_bins
from chromalab.color.bins import SOFT_SIGMA, ChannelBins, JointBins, rebalancing_weights

GRID = 10  # Zhang et al.'s lattice
ROUNDING = 2**0.5  # nearest-bin lookup rounds ab to integers: up to 0.71 off, twice in the worst case


@pytest.fixture(scope="module")
def gamut10() -> JointBins:
    return make_bins("gamut:10")


def photo_ab(rgb8: np.ndarray) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> ab (1, 2, H, W) float32, via scikit-image (an independent reference)."""
    lab = rgb2lab(rgb8 / 255.0)
    return torch.from_numpy(np.moveaxis(lab[..., 1:], -1, 0).copy()).float()[None]


def all_photo_ab(photos: dict[str, np.ndarray]) -> torch.Tensor:
    """ab of every pixel of every test photo as (1, 2, 1, N)."""
    return torch.cat([photo_ab(p).reshape(1, 2, 1, -1) for p in photos.values()], dim=-1)


def srgb_cells(grid: int) -> set[tuple[int, int]]:
    """Independent recomputation of the gamut bins with scikit-image.

    Every 8-bit colour on the surface of the RGB cube (the ab gamut's boundary comes from there) plus
    the interior subsampled every 5 codes, through ``rgb2lab``; cells centred on multiples of ``grid``
    (the rounding rule of ``ab_histogram``), clamped to the cells covering [-128, 127].
    """
    v = np.arange(256)
    a, b = (x.ravel() for x in np.meshgrid(v, v, indexing="ij"))
    faces = []
    for channel in range(3):
        others = [c for c in range(3) if c != channel]
        for value in (0, 255):
            face = np.empty((a.size, 3), dtype=np.int64)
            face[:, channel], face[:, others[0]], face[:, others[1]] = value, a, b
            faces.append(face)
    step = np.arange(0, 256, 5)
    interior = np.stack(np.meshgrid(step, step, step, indexing="ij"), axis=-1).reshape(-1, 3)
    lab = rgb2lab((np.concatenate([*faces, interior]) / 255.0)[None])[0]
    half = int(np.ceil(128 / grid))
    cells = np.clip(np.round(lab[:, 1:] / grid), -half, half).astype(int) * grid
    return {tuple(c) for c in np.unique(cells, axis=0).tolist()}


def as_set(centres: torch.Tensor) -> set[tuple[int, int]]:
    return {tuple(c) for c in centres.round().int().tolist()}


# -- counts -------------------------------------------------------------------------------------------
def test_gamut10_count_matches_independent_recomputation(gamut10: JointBins) -> None:
    assert gamut10.num_classes == 261
    assert (gamut10.centres % GRID == 0).all()
    assert as_set(gamut10.centres) == srgb_cells(GRID)


def test_gamut16_count_near_seed_000() -> None:
    bins = make_bins("gamut:16")
    assert 100 <= bins.num_classes <= 120, bins.num_classes  # Ling et al. report 112 buckets
    assert ((bins.centres + 128 - 8) % 16 == 0).all()  # cell centres of [-128 + 16k, -112 + 16k)


def test_gamut10_overlap_with_zhang_313(gamut10: JointBins, zhang_313_path) -> None:
    zhang = as_set(torch.from_numpy(np.load(zhang_313_path)))
    ours = as_set(gamut10.centres)
    overlap = len(ours & zhang) / len(ours)
    print(
        f"\ngamut:10 has {len(ours)} bins; {len(ours & zhang)} of them ({overlap:.1%}) are among Zhang's 313"
    )
    assert overlap >= 0.8


def test_file_spec_loads_zhang_313(zhang_313_path) -> None:
    bins = make_bins(f"file:{zhang_313_path}")
    assert isinstance(bins, JointBins) and bins.num_classes == 313
    np.testing.assert_array_equal(bins.centres.numpy(), np.load(zhang_313_path).astype(np.float32))


# -- nearest-bin lookup ---------------------------------------------------------------------------------
def test_nearest_matches_brute_force_on_integer_ab(gamut10: JointBins) -> None:
    grid = torch.arange(-128, 128, dtype=torch.float32)
    ab = torch.stack(torch.meshgrid(grid, grid, indexing="ij")).reshape(1, 2, 256, 256)
    dist = torch.cdist(ab.reshape(2, -1).T, gamut10.centres)  # (65536, Q)
    chosen = dist.gather(1, gamut10.nearest(ab).reshape(-1, 1))[:, 0]
    # ties (ab half-way between centres) may pick either: compare distances, not indices
    torch.testing.assert_close(chosen, dist.min(1).values)
    neighbours = gamut10.neighbours(ab).reshape(5, -1).T  # (65536, 5), nearest first
    torch.testing.assert_close(dist.gather(1, neighbours), dist.topk(5, dim=1, largest=False).values)


def test_nearest_within_rounding_on_float_ab(gamut10: JointBins) -> None:
    ab = torch.rand(1, 2, 50, 50, generator=torch.Generator().manual_seed(0)) * 220 - 110
    dist = torch.cdist(ab.reshape(2, -1).T, gamut10.centres)
    chosen = dist.gather(1, gamut10.nearest(ab).reshape(-1, 1))[:, 0]
    assert (chosen <= dist.min(1).values + ROUNDING + 1e-4).all()


def test_one_hot_is_the_nearest_bin(gamut10: JointBins, photo: np.ndarray) -> None:
    ab = photo_ab(photo)
    one_hot = gamut10.one_hot(ab)
    assert one_hot.shape == (1, 261, *ab.shape[-2:])
    assert (one_hot.sum(1) == 1).all()
    assert torch.equal(one_hot.argmax(1), gamut10.nearest(ab))


# -- soft-encoding -----------------------------------------------------------------------------------
def test_soft_encode_five_gaussian_neighbours(gamut10: JointBins, photos: dict[str, np.ndarray]) -> None:
    ab = torch.cat([all_photo_ab(photos), torch.rand(1, 2, 1, 500) * 200 - 100], dim=-1)
    soft = gamut10.soft_encode(ab)  # (1, Q, 1, N)
    assert soft.shape == (1, 261, 1, ab.shape[-1])
    torch.testing.assert_close(soft.sum(1), torch.ones(1, 1, ab.shape[-1]))
    assert ((soft > 0).sum(1) == 5).all()
    # the weights are a Gaussian (sigma 5) of the distance to the 5 nearest centres: they fall with distance
    weights, idx = soft[0, :, 0].T.topk(5, dim=1)  # (N, 5), heaviest first
    dist = torch.cdist(ab[0, :, 0].T, gamut10.centres).gather(1, idx)  # (N, 5)
    nearest5 = torch.cdist(ab[0, :, 0].T, gamut10.centres).topk(5, dim=1, largest=False).values
    assert (dist.diff(dim=1) >= -1e-4).all()
    assert (dist <= nearest5 + ROUNDING + 1e-4).all()  # the 5 nearest, up to the integer lookup
    expected = torch.softmax(-(dist**2) / (2 * SOFT_SIGMA**2), dim=1)
    torch.testing.assert_close(weights, expected, atol=2e-3, rtol=0)  # ab is rounded for the lookup only


def test_decode_of_soft_encoding_recovers_photo_ab(gamut10: JointBins, photos: dict[str, np.ndarray]) -> None:
    ab = all_photo_ab(photos)  # real photos: in the sRGB gamut
    logits = gamut10.soft_encode(ab).clamp_min(1e-12).log()
    decoded = gamut10.decode(logits, temperature=0.01)
    assert (decoded - ab).norm(dim=1).max() < GRID


# -- decoding ---------------------------------------------------------------------------------------------
def test_annealed_at_t1_equals_mean(gamut10: JointBins) -> None:
    logits = torch.randn(2, 261, 3, 4, generator=torch.Generator().manual_seed(1)) * 3
    annealed = gamut10.decode(logits, method="annealed", temperature=1.0)
    torch.testing.assert_close(annealed, gamut10.decode(logits, method="mean", temperature=0.2))
    expected = torch.einsum("bqhw,qc->bchw", logits.softmax(1), gamut10.centres)
    torch.testing.assert_close(annealed, expected)


def test_mode_is_the_argmax_centre(gamut10: JointBins) -> None:
    logits = torch.randn(2, 261, 3, 4, generator=torch.Generator().manual_seed(2))
    expected = gamut10.centres[logits.argmax(1)].movedim(-1, 1)  # (B, 2, H, W)
    torch.testing.assert_close(gamut10.decode(logits, method="mode"), expected)
    torch.testing.assert_close(gamut10.decode(logits, temperature=0.0), expected)


def test_lower_temperature_is_more_saturated(gamut10: JointBins) -> None:
    logits = torch.randn(1, 261, 8, 8, generator=torch.Generator().manual_seed(3))
    chroma = [gamut10.decode(logits, temperature=t).norm(dim=1).mean() for t in (1.0, 0.38, 0.1)]
    assert chroma[0] < chroma[1] < chroma[2]


def logits_of(bins: JointBins, probabilities: dict[tuple[int, int], float]) -> torch.Tensor:
    """(1, Q, 1, 1) logits whose softmax puts these probabilities on the bins at these centres (the rest
    ~0)."""
    logits = torch.full((1, bins.num_classes, 1, 1), -30.0)
    for (a, b), p in probabilities.items():
        [index] = ((bins.centres - torch.tensor([a, b], dtype=torch.float32)).norm(dim=1) < 1e-3).nonzero()[0]
        logits[0, index] = float(np.log(p))
    return logits


def test_mode_hue_never_blends_two_guesses_into_a_third_color(gamut10: JointBins) -> None:
    # a blue guess (a -20, b -40) at 0.55 and a red one (60, 40) at 0.45: the mean is a pale violet
    logits = logits_of(gamut10, {(-20, -40): 0.55, (60, 40): 0.45})
    mean = gamut10.decode(logits, method="annealed", temperature=1.0)[0, :, 0, 0]
    # (16, -4): chroma 16.5, hue -14 degrees, magenta
    torch.testing.assert_close(
        mean, torch.tensor([0.55 * -20 + 0.45 * 60, 0.55 * -40 + 0.45 * 40]), atol=1e-4, rtol=0
    )
    kept = gamut10.decode(logits, method="mode-hue", temperature=1.0)[0, :, 0, 0]
    blue = torch.tensor([-20.0, -40.0])
    torch.testing.assert_close(kept.norm(), mean.norm())  # the mean's chroma ...
    torch.testing.assert_close(kept / kept.norm(), blue / blue.norm())  # ... in the likelier guess's hue
    # bins near the mode join its hue by their weights: a second blue beside it turns the hue towards it
    near = gamut10.decode(
        logits_of(gamut10, {(-20, -40): 0.4, (-10, -40): 0.25, (60, 40): 0.35}),
        method="mode-hue",
        temperature=1.0,
    )[0, :, 0, 0]
    between = (0.4 * torch.tensor([-20.0, -40.0]) + 0.25 * torch.tensor([-10.0, -40.0])) / 0.65
    torch.testing.assert_close(near / near.norm(), between / between.norm())
    # a grey mode has no hue: the annealed mean's own is kept
    grey = logits_of(gamut10, {(0, 0): 0.6, (40, 0): 0.4})
    torch.testing.assert_close(
        gamut10.decode(grey, method="mode-hue", temperature=1.0),
        gamut10.decode(grey, method="annealed", temperature=1.0),
    )
    # one sure guess per pixel: mode-hue is the annealed mean
    picks = torch.randint(0, 261, (2, 3, 4), generator=torch.Generator().manual_seed(5))
    sure = torch.nn.functional.one_hot(picks, 261).movedim(-1, 1).float() * 40  # (2, 261, 3, 4)
    torch.testing.assert_close(
        gamut10.decode(sure, method="mode-hue", temperature=1.0),
        gamut10.decode(sure, method="annealed", temperature=1.0),
        atol=1e-3,
        rtol=0,
    )
    with pytest.raises(ValueError, match="mode-hue decodes joint ab bins"):
        make_bins("channels:16").decode(torch.zeros(1, 32, 1, 1), method="mode-hue")


@pytest.mark.parametrize("spec", ["gamut:10", "channels:16"])
def test_a_tensor_temperature_decodes_as_the_same_number(spec: str) -> None:
    """The exported graph's path (temperature an input, no branch on its value) agrees with the eager one."""
    bins = make_bins(spec)
    logits = torch.randn(2, bins.num_classes, 3, 4, generator=torch.Generator().manual_seed(4)) * 3
    for t in (0.0, 5e-4, 1e-3, 0.38, 1.0, 2.5):
        for method in ("annealed", "mean", "mode") + (("mode-hue",) if spec.startswith("gamut") else ()):
            expected = bins.decode(logits, method=method, temperature=t)
            torch.testing.assert_close(
                bins.decode(logits, method=method, temperature=torch.tensor(t)), expected
            )


def test_unknown_decode_method(gamut10: JointBins) -> None:
    with pytest.raises(
        ValueError, match="unknown decode method 'median'; choose one of annealed, mean, mode, mode-hue"
    ):
        gamut10.decode(torch.zeros(1, 261, 1, 1), method="median")


# -- class rebalancing ----------------------------------------------------------------------------------
def photo_prior(bins: JointBins, photos: dict[str, np.ndarray]) -> torch.Tensor:
    counts = torch.bincount(bins.nearest(all_photo_ab(photos)).reshape(-1), minlength=bins.num_classes)
    return counts.float() / counts.sum()


def test_rebalancing_weights_have_expectation_one(gamut10: JointBins, photos: dict[str, np.ndarray]) -> None:
    prior = photo_prior(gamut10, photos)
    weights = rebalancing_weights(gamut10, prior)
    smoothed = gamut10.smooth(prior)
    assert weights.shape == (261,) and (weights > 0).all()
    torch.testing.assert_close(smoothed.sum(), torch.tensor(1.0))
    torch.testing.assert_close((smoothed * weights).sum(), torch.tensor(1.0))
    # rarer bins (under the smoothed prior) weigh more
    order = smoothed.argsort()
    assert (weights[order].diff() <= 1e-5).all()
    assert weights[smoothed.argmin()] > 1 > weights[smoothed.argmax()]
    # Zhang et al. 2016 eq. 4 with lambda = 0.5, computed here independently
    expected = 1 / (0.5 * smoothed + 0.5 / 261)
    torch.testing.assert_close(weights, expected / (smoothed * expected).sum())


def test_smoothing_spreads_mass_to_neighbours(gamut10: JointBins) -> None:
    prior = torch.zeros(261)
    prior[100] = 1.0
    smoothed = gamut10.smooth(prior)
    torch.testing.assert_close(smoothed.sum(), torch.tensor(1.0))
    assert smoothed.argmax() == 100
    dist = (gamut10.centres - gamut10.centres[100]).norm(dim=1)
    assert (smoothed[dist == GRID] > 0.01).all() and smoothed[dist > 4 * GRID].max() < 1e-6


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        (torch.ones(10), r"prior must have shape \(261,\)"),
        (-torch.ones(261), "non-negative"),
        (torch.zeros(261), "not all zero"),
    ],
)
def test_rebalancing_rejects_bad_priors(gamut10: JointBins, prior: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rebalancing_weights(gamut10, prior)


# -- per-channel bins (Agrawal and Sawhney)
# --------------------------------------------------------------------------
def test_channel_bins_shapes_sums_and_round_trip(photos: dict[str, np.ndarray]) -> None:
    bins = make_bins("channels:20")
    assert isinstance(bins, ChannelBins) and bins.num_classes == 40
    width = 200 / 20
    ab = all_photo_ab(photos)
    for encode in (bins.one_hot, bins.soft_encode):
        target = encode(ab)
        assert target.shape == (1, 40, *ab.shape[-2:])
        a_half, b_half = target[:, :20], target[:, 20:]
        torch.testing.assert_close(a_half.sum(1), torch.ones_like(a_half[:, 0]))
        torch.testing.assert_close(b_half.sum(1), torch.ones_like(b_half[:, 0]))
    # one-hot picks the bin containing each value
    idx = bins.one_hot(ab)[:, :20].argmax(1)
    assert ((ab[:, 0] - bins.centres_1d[idx]).abs() <= width / 2 + 1e-4).all()
    decoded = bins.decode(bins.soft_encode(ab).clamp_min(1e-12).log(), temperature=0.01)
    assert decoded.shape == ab.shape and (decoded - ab).abs().max() < width
    decoded = bins.decode(bins.one_hot(ab).clamp_min(1e-12).log(), method="mode")
    assert (decoded - ab).abs().max() <= width / 2 + 1e-4


def test_channel_bins_rebalancing_per_half(photos: dict[str, np.ndarray]) -> None:
    bins = make_bins("channels:20")
    prior = bins.one_hot(all_photo_ab(photos)).sum((0, 2, 3))
    weights = rebalancing_weights(bins, prior)
    smoothed = bins.smooth(prior)
    for half in (slice(0, 20), slice(20, 40)):
        torch.testing.assert_close((smoothed[half] * weights[half]).sum(), torch.tensor(1.0))


def test_channel_bins_soft_encode_exactly_five_at_grey() -> None:
    soft = make_bins("channels:20").soft_encode(torch.zeros(1, 2, 1, 1))
    assert (soft[:, :20] > 0).sum() == 5


# -- data-derived bins (Gustavsson) ---------------------------------------------------------------------
def test_data_bins_from_photo_histogram(gamut10: JointBins, photo: np.ndarray) -> None:
    ab = photo_ab(photo)
    histogram = ab_histogram(ab, grid=GRID)
    assert histogram.shape == (27, 27) and histogram.sum() == ab[0, 0].numel()
    bins = make_bins("data:10", histogram=histogram)
    # independent: the distinct multiples of 10 nearest to the photo's ab values
    expected = {
        tuple(c) for c in (np.round(ab[0].reshape(2, -1).T.numpy() / GRID) * GRID).astype(int).tolist()
    }
    assert bins.num_classes == len(expected) == int((histogram > 0).sum())
    assert as_set(bins.centres) == expected
    assert as_set(bins.centres) <= as_set(gamut10.centres)  # a photo's colours are in the sRGB gamut


# -- bad specs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gamut:abc", "bad bin spec 'gamut:abc': 'abc' is not a number"),
        ("gamut", "bad bin spec 'gamut'"),
        ("gamut:1", "gamut grid must be >= 2"),
        ("channels:1", "channels:N needs N >= 2"),
        ("channels:x", "'x' is not a number"),
        ("data:10", "data bins need a dataset's ab histogram"),
        ("file:/nonexistent/centres.npy", "cannot read bin centres from /nonexistent/centres.npy"),
        ("hull:313", "unknown bin spec 'hull:313'; known: gamut:10, gamut:16, data:G, channels:N, file:PATH"),
        ("", "unknown bin spec ''"),
    ],
)
def test_bad_specs_raise_clear_value_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        make_bins(spec)
    assert message in str(error.value)


def test_bad_bin_files(tmp_path) -> None:
    flat = tmp_path / "flat.npy"
    np.save(flat, np.arange(10.0))
    with pytest.raises(ValueError, match=r"bin centres must be \(Q, 2\)"):
        make_bins(f"file:{flat}")
    text = tmp_path / "text.npy"
    text.write_text("not numpy")
    with pytest.raises(ValueError, match="cannot read bin centres"):
        make_bins(f"file:{text}")
    for centres, message in (
        ([[0.0, 0.0], [np.nan, 1.0]], "finite ab values within"),  # it trained to a NaN loss
        ([[0.0, 0.0], [1e30, 0.0]], "finite ab values within"),
        ([[5.0, 5.0], [5.0, 5.0], [0.0, 1.0]], "distinct"),
    ):
        np.save(tmp_path / "bad.npy", np.asarray(centres))
        with pytest.raises(ValueError, match=message):
            make_bins(f"file:{tmp_path / 'bad.npy'}")


def test_data_bins_reject_wrong_histogram_shape() -> None:
    with pytest.raises(ValueError, match=r"histogram for grid 10 must be \(27, 27\), got \(5, 5\)"):
        make_bins("data:10", histogram=np.ones((5, 5)))


def test_data_bins_reject_zero_grid() -> None:
    with pytest.raises(ValueError):
        make_bins("data:0", histogram=np.ones((3, 3)))


@pytest.mark.parametrize("grid", [10, 16])
def test_shipped_gamut_tables_equal_the_rule(grid: int) -> None:
    from chromalab.color.bin_sets import compute_gamut_bins, gamut_bins

    torch.testing.assert_close(gamut_bins(grid).centres, compute_gamut_bins(grid).centres, rtol=0, atol=0)


def test_numpy_decoding_by_hand() -> None:
    """Two bins, (0, 0) and (40, 0), with probabilities 1/4 and 3/4: the mean is 30; at T = 0.5 the
    weights go as 1 : 9 (36); the mode is 40. Per channel, each half is its own softmax."""
    from chromalab.color.decode_bins import decode_channels, decode_joint

    logits = np.log(np.array([0.25, 0.75], dtype=np.float32)).reshape(1, 2, 1, 1)
    centres = np.array([[0.0, 0.0], [40.0, 0.0]], dtype=np.float32)
    for method, t, a in (
        ("mean", 0.2, 30.0),
        ("annealed", 0.5, 36.0),
        ("mode", 1.0, 40.0),
        ("annealed", 0.0, 40.0),
    ):
        ab = decode_joint(logits, centres, method=method, temperature=t)
        assert ab.shape == (1, 2, 1, 1) and ab.dtype == np.float32
        np.testing.assert_allclose(ab[0, :, 0, 0], [a, 0.0], rtol=1e-6, atol=1e-5)
    both = np.concatenate([logits, logits[:, ::-1]], axis=1)  # a: 1/4, 3/4; b: 3/4, 1/4
    ab = decode_channels(both, np.array([-10.0, 10.0], dtype=np.float32), method="mean")
    np.testing.assert_allclose(ab[0, :, 0, 0], [5.0, -5.0], rtol=1e-6)


# -- the numpy lookup scoring uses (bin_index) ------------------------------------------------------------
def test_neighbour_table_breaks_ties_to_the_lower_index() -> None:
    centres = np.array([[10, 0], [0, 0], [-10, 0]])
    table = neighbour_table(centres, 3)  # (256, 256, 3), row a + 128, column b + 128
    assert table[5 + 128, 128].tolist() == [0, 1, 2]  # 5, 5 and 15 away
    assert table[-5 + 128, 128].tolist() == [1, 2, 0]  # 15, 5 and 5 away
    assert table[128, 128].tolist() == [1, 0, 2]


@pytest.mark.parametrize("spec", ["gamut:10", "gamut:16", "channels:10", "channels:7"])
def test_scoring_lookup_puts_colours_where_the_training_bins_do(spec: str, photos: dict) -> None:
    """``BinIndex`` (numpy: ``evaluate``) and ``make_bins`` (torch: training) agree on every photo pixel and
    on a grid of colours every 0.5 (channel edges and half-way points among them)."""
    steps = torch.arange(-120, 120.5, 0.5)
    ab = torch.cat([all_photo_ab(photos), torch.stack([steps, steps.flip(0)]).reshape(1, 2, 1, -1)], dim=-1)
    ours, theirs = BinIndex.from_spec(spec), make_bins(spec)
    assert ours.num_classes == theirs.num_classes == BinIndex.of(theirs).num_classes
    np.testing.assert_array_equal(ours.nearest(ab.numpy()), theirs.nearest(ab).numpy())
    np.testing.assert_array_equal(BinIndex.of(theirs).nearest(ab.numpy()), theirs.nearest(ab).numpy())


def test_a_gamut_grid_that_does_not_ship_is_computed_with_torch() -> None:
    with pytest.raises(NotShipped, match="gamut:12: only the gamut grids 10 and 16 ship"):
        BinIndex.from_spec("gamut:12")
    with pytest.raises(ValueError, match="unknown bin spec"):
        BinIndex.from_spec("hexagons:3")
