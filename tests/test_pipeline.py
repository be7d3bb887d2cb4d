"""``Colorizer``: any input kind -> an image of the ORIGINAL size whose lightness is the input's."""

from __future__ import annotations

import copy
import functools
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import lab2rgb, rgb2lab

from chromalab.color.lab import normalize_ab
from chromalab.colorize.options import bundled_weights
from chromalab.colorize.torch_backend import Colorizer
from chromalab.models import create_model
from chromalab.models.checkpoint import ModelSpec, save_model

L_TOLERANCE = 1.0  # Lab units: the output is 8-bit, so its L is the input's up to rounding


@functools.lru_cache(maxsize=1)
def _untrained_tiny() -> Colorizer:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "random weights: colours will be meaningless"
        return Colorizer.untrained("tiny")


def untrained(**options: object) -> Colorizer:
    """A fresh ``Colorizer.untrained("tiny")`` (gamut:10 bins take a second to build: copied, not rebuilt)."""
    base = copy.deepcopy(_untrained_tiny())
    return Colorizer(base.model, bins=base.bins, spec=base.spec, **options)


def pin_color(colorizer: Colorizer, ab: tuple[float, float]) -> np.ndarray:
    """Make the network predict one bin everywhere: head weights 0, the bias of the bin nearest ``ab``
    wins."""
    index = int(torch.cdist(torch.tensor([ab], dtype=torch.float32), colorizer.bins.centres).argmin())
    proj = colorizer.model.head.proj
    with torch.no_grad():
        proj.weight.zero_()
        proj.bias.fill_(-10.0)
        proj.bias[index] = 10.0
    return colorizer.bins.centres[index].numpy()


def lab_of(image: Image.Image | np.ndarray) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    return rgb2lab(rgb / 255.0)


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    return untrained()


@pytest.fixture(scope="module")
def neutral() -> Colorizer:
    model = untrained(size=32)
    pin_color(model, (0.0, 0.0))
    return model


# -- every input kind, original size -----------------------------------------------------------------------
def test_input_kinds_keep_the_original_size(
    colorizer: Colorizer, photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    rgb = photos["coffee"]  # 64 x 43
    height, width = rgb.shape[:2]
    path = tmp_path / "coffee.png"
    Image.fromarray(rgb).save(path)
    inputs = {
        "pil": Image.fromarray(rgb),
        "pil grey": Image.fromarray(rgb).convert("L"),
        "uint8": rgb,
        "uint8 grey": np.asarray(Image.fromarray(rgb).convert("L")),
        "float": rgb / 255.0,
        "float32 (H, W, 1)": (rgb[..., :1] / 255.0).astype(np.float32),
        "str path": str(path),
        "path": path,
    }
    for kind, value in inputs.items():
        out = colorizer.colorize(value)
        assert isinstance(out, Image.Image) and out.mode == "RGB", kind
        assert out.size == (width, height), f"{kind}: {out.size}"


@pytest.mark.parametrize("size", [(1, 1), (300, 17), (17, 300)])
def test_odd_sizes(colorizer: Colorizer, size: tuple[int, int]) -> None:
    out = colorizer.colorize(Image.new("L", size, 128), size=16)
    assert out.size == size


# -- the detail is the input's -----------------------------------------------------------------------------
def test_output_lightness_is_the_input_lightness(neutral: Colorizer, photos: dict[str, np.ndarray]) -> None:
    # the network sees 32 x 32, yet every pixel's L at full resolution must be the input's
    for name, rgb in photos.items():
        for value in (rgb, rgb / 255.0, Image.fromarray(rgb).convert("L")):
            out = neutral.colorize(value)
            expected = lab_of(value.convert("RGB") if isinstance(value, Image.Image) else rgb)[..., 0]
            error = np.abs(lab_of(out)[..., 0] - expected).max()
            assert error < L_TOLERANCE, f"{name}: max |L out - L in| = {error:.2f}"


def test_lightness_kept_wherever_the_color_fits_the_gamut(photos: dict[str, np.ndarray]) -> None:
    model = untrained(size=32)
    ab = pin_color(model, (20.0, -30.0))
    for rgb in photos.values():
        lightness = lab_of(rgb)[..., 0]
        lab = np.dstack([lightness, np.broadcast_to(ab, (*lightness.shape, 2))])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # in gamut: survives sRGB clipping
            fits = np.all(np.abs(rgb2lab(lab2rgb(lab)) - lab) < 0.5, axis=-1)
        assert fits.mean() > 0.3
        out = lab_of(model.colorize(rgb))
        assert np.abs(out[..., 0] - lightness)[fits].max() < L_TOLERANCE
        assert np.abs(out[..., 1:] - ab)[fits].max() < 2.0  # and the colour is the predicted one


def test_output_lightness_is_the_input_lightness_with_an_untrained_model(
    colorizer: Colorizer, photos: dict[str, np.ndarray]
) -> None:
    for name, rgb in photos.items():
        error = np.abs(lab_of(colorizer.colorize(rgb))[..., 0] - lab_of(rgb)[..., 0]).max()
        assert error < L_TOLERANCE, f"{name}: max |L out - L in| = {error:.2f}"


def test_alpha_is_kept(colorizer: Colorizer, photo: np.ndarray) -> None:
    height, width = photo.shape[:2]
    alpha = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    out = colorizer.colorize(Image.fromarray(np.dstack([photo, alpha]), mode="RGBA"))
    assert out.mode == "RGBA" and out.size == (width, height)
    np.testing.assert_array_equal(np.asarray(out)[..., 3], alpha)
    out = colorizer.colorize(np.dstack([photo, alpha]))  # (H, W, 4) arrays too
    np.testing.assert_array_equal(np.asarray(out)[..., 3], alpha)


def test_prepare_predict_render_is_colorize(colorizer: Colorizer, photo: np.ndarray) -> None:
    """The CLI runs the three steps in different threads; together they must be ``colorize`` exactly."""
    height, width = photo.shape[:2]
    alpha = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    for image in (
        Image.fromarray(photo),
        Image.fromarray(photo).convert("L"),
        Image.fromarray(np.dstack([photo, alpha])),
    ):
        prepared = colorizer.prepare(image, size=48)
        assert prepared.network_input.shape == (1, 1, 48, 48)
        assert prepared.source.lightness.shape == (height, width)
        out = colorizer.render(prepared.source, colorizer.predict_ab(prepared.network_input, temperature=0.2))
        assert out.mode == image.mode.replace("L", "RGB")
        np.testing.assert_array_equal(
            np.asarray(out), np.asarray(colorizer.colorize(image, size=48, temperature=0.2))
        )


def test_min_view_upscales_a_smaller_photo_up_to_the_size() -> None:
    """With ``min_view`` a photo whose shorter side is below it is seen at min_view (never above the size);
    larger photos are seen as without it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "random weights": only the view is under test
        upscaling = Colorizer.untrained("tiny", size=320, min_view=192)
    for (width, height), size, side in (
        ((160, 128), None, 192),  # upscaled to min_view
        ((300, 200), None, 200),  # between min_view and the size: the photo's own side
        ((900, 600), None, 320),
        ((160, 128), 96, 96),  # the size asked for caps it
        ((20, 12), None, 192),
    ):
        prepared = upscaling.prepare(Image.new("L", (width, height), 90), size=size)
        assert prepared.network_input.shape == (1, 1, side, side), (width, height, size)
    with pytest.raises(ValueError, match="min_view must be 0 or an integer in"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Colorizer.untrained("tiny", min_view=8)


def test_a_view_never_upsamples_the_photo(colorizer: Colorizer) -> None:
    """The view is the asked size, or the photo's shorter side when that is smaller (but at least 32)."""
    for (width, height), size, side in (
        ((600, 400), 256, 256),
        ((160, 96), 256, 96),
        ((128, 128), None, 128),
        ((20, 12), 256, 32),
        ((300, 200), 48, 48),
    ):
        prepared = colorizer.prepare(Image.new("L", (width, height), 90), size=size)
        assert prepared.network_input.shape == (1, 1, side, side), (width, height, size)
    views = [
        colorizer.prepare(Image.fromarray(np.full((h, w), v, np.uint8)))
        for h, w, v in ((64, 80, 30), (200, 300, 60), (70, 64, 90))
    ]
    answers = colorizer.predict_views(views, temperature=0.3)  # sides 64, 256, 64: two network calls
    for view, ab in zip(views, answers, strict=True):
        # batched or alone: the same up to float summation order
        np.testing.assert_allclose(
            np.asarray(ab), np.asarray(colorizer.predict_ab(view.network_input, temperature=0.3)), atol=1e-4
        )


# -- the colour comes from the network ---------------------------------------------------------------------
@pytest.mark.parametrize("ab", [(30.0, 50.0), (-40.0, 30.0), (10.0, -40.0)])
def test_grey_input_gets_the_predicted_color(ab: tuple[float, float], photo: np.ndarray) -> None:
    model = untrained(size=32)
    centre = pin_color(model, ab)
    grey = Image.new("L", (40, 30), 150)  # L = 61.6
    out = lab_of(model.colorize(grey))
    np.testing.assert_allclose(out[..., 0], lab_of(grey.convert("RGB"))[..., 0], atol=L_TOLERANCE)
    np.testing.assert_allclose(out[..., 1:].reshape(-1, 2).mean(0), centre, atol=1.5)
    # a grey photograph: its mid-tones take the predicted hue
    lab = lab_of(model.colorize(Image.fromarray(photo).convert("L")))
    mid = (lab[..., 0] > 40) & (lab[..., 0] < 70)
    hue = np.degrees(np.arctan2(lab[..., 2][mid], lab[..., 1][mid]))
    expected = np.degrees(np.arctan2(centre[1], centre[0]))
    assert np.abs((hue - expected + 180) % 360 - 180).max() < 5
    assert np.hypot(lab[..., 1][mid], lab[..., 2][mid]).min() > 0.8 * np.hypot(*centre)


def test_regression_models_predict_ab_directly() -> None:
    torch.manual_seed(0)
    model = create_model("tiny", num_classes=None)
    with torch.no_grad():
        model.head.proj.weight.zero_()
        model.head.proj.bias.copy_(normalize_ab(torch.tensor([-20.0, 25.0])))
    colorizer = Colorizer(model, bins=None, spec=ModelSpec("tiny"), size=32)
    out = lab_of(colorizer.colorize(Image.new("L", (20, 20), 150)))
    np.testing.assert_allclose(out[..., 1:].reshape(-1, 2).mean(0), [-20.0, 25.0], atol=1.0)


def test_temperature_and_decode_change_the_colors(colorizer: Colorizer, photo: np.ndarray) -> None:
    chroma = {}
    for t in (0.0, 0.38, 1.0):
        lab = lab_of(colorizer.colorize(photo, temperature=t))
        chroma[t] = np.hypot(lab[..., 1], lab[..., 2]).mean()
    assert chroma[0.0] > chroma[0.38] > chroma[1.0]  # lower temperature: more vivid
    assert np.array_equal(
        np.asarray(colorizer.colorize(photo, decode="mode")),
        np.asarray(colorizer.colorize(photo, temperature=0)),
    )
    assert np.array_equal(
        np.asarray(colorizer.colorize(photo, decode="mean")),
        np.asarray(colorizer.colorize(photo, temperature=1)),
    )


def test_a_saved_model_colorizes_like_the_original(tmp_path: Path, photo: np.ndarray) -> None:
    model = untrained()
    path = tmp_path / "tiny.safetensors"
    save_model(path, model.model, model.spec, bins=model.bins)
    loaded = Colorizer.load(path, temperature=0.38)
    assert np.array_equal(np.asarray(loaded.colorize(photo)), np.asarray(model.colorize(photo)))


def test_options_left_at_none_take_the_model_files_recommendation(tmp_path: Path) -> None:
    """What the CLI passes when no --size / --temperature / --decode is given."""
    model = untrained()
    path = tmp_path / "recommends.safetensors"
    save_model(
        path,
        model.model,
        ModelSpec("tiny", {}, model.bins.spec, {"defaults": {"size": 96, "temperature": 0.6}}),
        bins=model.bins,
    )
    loaded = Colorizer.load(path, size=None, temperature=None, decode=None)
    assert (loaded.size, loaded.temperature, loaded.decode_method) == (96, 0.6, "annealed")
    loaded = Colorizer.load(path, size=64, temperature=None, decode="mode")
    assert (loaded.size, loaded.temperature, loaded.decode_method) == (64, 0.6, "mode")


# -- validation ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((8, 8, 3), 200.0), r"got 200 to 200 \(for 0-255, pass uint8 or divide\)"),  # 0-255 floats
        (np.full((8, 8), np.nan, np.float32), "NaN or infinite"),
        (np.zeros((0, 5), np.uint8), "at least 1 x 1 pixels"),
        (np.zeros((4, 4), np.int64), "expected uint8 or float values in"),
    ],
)
def test_arrays_that_are_no_photo_raise_value_error(
    colorizer: Colorizer, array: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        colorizer.colorize(array)
    slightly_over = np.full((8, 8), 1.004, np.float32)  # rounding past 1 (a resize) is a photo all the same
    assert colorizer.colorize(slightly_over).size == (8, 8)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": -0.1}, "temperature must be in"),
        ({"temperature": 10.5}, "temperature must be in"),
        ({"temperature": float("nan")}, "temperature must be in"),
        ({"decode": "median"}, "decode must be one of annealed, mean, mode"),
        ({"size": 8}, r"size must be an integer in \[16, 4096\]"),
        ({"size": 5000}, "size must be an integer"),
        ({"size": 64.0}, "size must be an integer"),
    ],
)
def test_bad_options_raise_value_error(
    colorizer: Colorizer, photo: np.ndarray, options: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        colorizer.colorize(photo, **options)
    with pytest.raises(ValueError, match=message):
        Colorizer(colorizer.model, bins=colorizer.bins, spec=colorizer.spec, **options)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (np.zeros((4, 4, 2), np.uint8), ValueError),
        (np.zeros((4,), np.uint8), ValueError),
        (np.zeros((4, 4), np.int16), ValueError),
        ([[0, 1], [1, 0]], TypeError),
        (b"\xff\xd8", TypeError),
    ],
)
def test_bad_inputs(colorizer: Colorizer, value: object, error: type) -> None:
    with pytest.raises(error):
        colorizer.colorize(value)


def test_untrained_models_warn() -> None:
    with pytest.warns(UserWarning, match="random weights"):
        Colorizer.untrained("tiny", bins="channels:8")


def test_unknown_model_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'no-such-net'"):
        Colorizer.load("no-such-net")
    with pytest.raises(FileNotFoundError, match="model file not found"):
        Colorizer.load(tmp_path / "missing.safetensors")


def test_default_without_bundled_weights_names_the_missing_model() -> None:
    if bundled_weights().is_file():
        pytest.skip(f"bundled weights present: {bundled_weights()}")
    with pytest.raises(FileNotFoundError) as error:
        Colorizer.load("default")
    assert "default model" in str(error.value)
    with pytest.raises(FileNotFoundError):
        Colorizer.load()


def test_size_specific_and_unet_models_get_a_side_they_accept() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = Colorizer.untrained("cifar-baseline", size=256)
        unet = Colorizer.untrained("pix2pix-unet", model_options={"depth": 4}, size=70)
    assert fixed.size == 32 and fixed.bins is None
    assert unet.size == 64  # nearest multiple of 2**4
    image = Image.new("L", (45, 30), 120)
    assert fixed.colorize(image).size == (45, 30)
    assert unet.colorize(image, size=100).size == (45, 30)


def test_bundled_models_color_a_grey_photo() -> None:
    import skimage.data

    from chromalab.colorize.options import bundled_names

    if not bundled_names():
        pytest.skip("no bundled weights in this build")
    assert bundled_names()[0] == "default"
    photo = Image.fromarray(skimage.data.coffee()).resize((200, 150))
    for name in bundled_names():
        colorizer = Colorizer.load(name)
        recommended = colorizer.spec.info["defaults"]  # each bundled file names its view size and temperature
        assert (colorizer.size, colorizer.temperature) == (recommended["size"], recommended["temperature"])
        out = np.asarray(colorizer.colorize(photo.convert("L")), dtype=np.float64)
        rg, yb = out[..., 0] - out[..., 1], 0.5 * (out[..., 0] + out[..., 1]) - out[..., 2]
        assert out.shape == (150, 200, 3)
        assert np.hypot(rg.std(), yb.std()) > 5, name  # a grey input comes back in colour
