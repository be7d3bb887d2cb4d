"""``chromalab analyze``: every figure on tiny real photos and a model trained by the real engine.

A module fixture prepares 12 crops (40x40) of three scikit-image photos at 32x32 and trains ``tiny`` for
3 steps through the installed console script; the figures are checked as PNG files of plausible size and,
where cheap, pixel by pixel (a bin's colour at its place in the ab plane, the prior's peak).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_tiny_run, write_crops
from PIL import Image
from typer.testing import CliRunner

from chromalab.analysis.ab_data import ab_counts, iter_ab, load_ab_counts
from chromalab.analysis.ab_plane import (
    bin_cells,
    lab_colors,
    plot_ab_counts,
    plot_bin_prior,
    plot_bins,
    plot_channel_histograms,
)
from chromalab.analysis.clusters import bin_histogram, cluster_images, plot_clusters
from chromalab.analysis.figures import save_figure
from chromalab.analysis.model_figures import (
    comparison_grid,
    flatten_lightness,
    grey_of,
    layer_activations,
    strongest_channels,
)
from chromalab.cli import app
from chromalab.color.bin_sets import make_bins
from chromalab.color.lab import lab_to_srgb8
from chromalab.color.srgb8 import rgb_lightness_u8
from chromalab.evaluation import metrics
from chromalab.models import create_model
from chromalab.models.checkpoint import ModelSpec, load_model, save_model

CHROMALAB = str(Path(sys.executable).parent / "chromalab")


def rgb8_to_ab(rgb: np.ndarray) -> torch.Tensor:
    """The ab (2, H, W) of an 8-bit photo as the analysis functions take it: a tensor."""
    return torch.from_numpy(metrics.rgb8_to_ab(rgb))


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 real 40x40 crops, 4 per photo, one folder per photo."""
    return write_crops(tmp_path_factory.mktemp("analysis-src"))


@pytest.fixture(scope="module")
def run(crops: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cache, run folder): ``chromalab prepare`` at 32 and ``chromalab train --model tiny --max-steps 3``."""
    return train_tiny_run(crops, tmp_path_factory.mktemp("analysis-run"))


def analyze(*args: object) -> tuple[int, str, str]:
    """``chromalab analyze ARGS`` in this process (the console script itself is tested once below)."""
    result = CliRunner().invoke(app, ["analyze", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def _png(path: Path, *, min_side: int = 200) -> np.ndarray:
    """The image at ``path``: a real PNG of plausible size, as uint8 RGB."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert min(image.size) >= min_side and max(image.size) <= 4000, image.size
        return np.asarray(image.convert("RGB"))


def _pixels_at(fig, points: np.ndarray, path: Path) -> np.ndarray:
    """Save ``fig`` and return the RGB pixels (n, 3) drawn at the ab points (n, 2) of its first axes."""
    fig.canvas.draw()
    xy = fig.axes[0].transData.transform(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    height = fig.canvas.get_width_height()[1]
    save_figure(fig, path)
    image = _png(path)
    return np.stack([image[round(height - y), round(x)] for x, y in xy])


# -- figure 1: bins
# -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["gamut:16", "gamut:10", "channels:10"])
def test_bins_are_drawn_in_their_color_at_their_place(spec: str, tmp_path: Path) -> None:
    bins = make_bins(spec)
    centres, side = bin_cells(bins)
    assert side == {"gamut:16": 16, "gamut:10": 10, "channels:10": 20}[spec]
    if spec.startswith("channels"):
        assert len(centres) == 100  # the 10 x 10 product grid
    fig = plot_bins(bins)
    assert ("product grid" in fig.axes[0].get_title()) == spec.startswith("channels")
    picked = centres[[0, len(centres) // 2, len(centres) - 1]]  # (3, 2)
    lab = torch.cat([torch.full((1, 3), 50.0), torch.from_numpy(picked).T]).float()[:, :, None]  # (3, 3, 1)
    expected = lab_to_srgb8(lab)[:, 0].numpy()  # (3, 3): what the pipeline renders for Lab(50, a, b)
    np.testing.assert_array_equal(_pixels_at(fig, picked, tmp_path / "bins.png"), expected)
    np.testing.assert_allclose(lab_colors(picked) * 255, expected, atol=1e-3)


def test_data_and_file_bins(run: tuple[Path, Path], tmp_path: Path) -> None:
    cache, _ = run
    code, _, err = analyze("bins", "--bins", "data:10", "--cache", cache, "-o", tmp_path / "data.png")
    assert code == 0, err
    _png(tmp_path / "data.png")
    centres = make_bins("gamut:10").centres[::3].numpy()  # irregular spacing: side = smallest distance
    np.save(tmp_path / "centres.npy", centres)
    code, _, err = analyze("bins", "--bins", f"file:{tmp_path / 'centres.npy'}", "-o", tmp_path / "file.png")
    assert code == 0, err
    assert bin_cells(make_bins(f"file:{tmp_path / 'centres.npy'}"))[1] == pytest.approx(10.0)


def test_unknown_bin_spec_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, _, err = analyze("bins", "--bins", "hexagons:7", "-o", tmp_path / "x.png")
    assert code == 2
    assert err.strip().count("\n") == 0 and "unknown bin spec" in err and "gamut:10" in err
    code, _, err = analyze("bins", "--bins", "data:10", "-o", tmp_path / "x.png")
    assert code == 2 and "cache" in err
    assert not (tmp_path / "x.png").exists()


# -- figure 2: prior
# ------------------------------------------------------------------------------------------------
def test_prior_of_a_cache_fine_and_coarse(run: tuple[Path, Path], tmp_path: Path) -> None:
    from chromalab.data.cache import Cache

    cache, _ = run
    counts = Cache(cache).ab_counts
    fig = plot_ab_counts(counts, title="fine")
    assert "integer ab" in fig.axes[0].get_title()
    save_figure(fig, tmp_path / "fine.png")
    _png(tmp_path / "fine.png")
    for grid in ("1", "10"):
        code, _, err = analyze("prior", cache, "--grid", grid, "-o", tmp_path / f"prior{grid}.png")
        assert code == 0, err
        _png(tmp_path / f"prior{grid}.png")


def test_prior_of_a_model_peaks_at_its_most_frequent_bin(run: tuple[Path, Path], tmp_path: Path) -> None:
    import matplotlib

    _, out = run
    loaded = load_model(out / "model.safetensors")
    assert loaded.prior is not None
    fig = plot_bin_prior(loaded.bins, loaded.prior)
    top = loaded.bins.centres[int(loaded.prior.argmax())].numpy()
    got = _pixels_at(fig, top, tmp_path / "prior.png")[0]
    expected = np.round(np.array(matplotlib.colormaps["viridis"](1.0)[:3]) * 255)
    assert np.abs(got.astype(int) - expected).max() <= 1
    code, _, err = analyze("prior", out / "model.safetensors", "-o", tmp_path / "cli.png")
    assert code == 0, err


# -- figure 7: a and b histograms
# ----------------------------------------------------------------------------------
def test_histograms_count_every_pixel(crops: Path, run: tuple[Path, Path], tmp_path: Path) -> None:
    counts, description = load_ab_counts(crops)
    assert counts.sum() == 12 * 40 * 40 and "12 photos" in description
    rgb = np.asarray(Image.open(crops / "photo0" / "crop0.png").convert("RGB"))
    ab = rgb8_to_ab(rgb)
    single = ab_counts(ab)
    assert single.sum(1) @ np.arange(-128, 128) == int(ab[0].round().sum())  # the a marginal is a's histogram
    save_figure(plot_channel_histograms(counts), tmp_path / "h.png")
    _png(tmp_path / "h.png")
    cache, _ = run
    for source in (cache, crops):
        code, _, err = analyze("histograms", source, "-o", tmp_path / "cli.png")
        assert code == 0, err


def test_a_folder_without_images_fails_with_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("no photos here")
    for command in ("histograms", "clusters"):
        code, _, err = analyze(command, empty, "-o", tmp_path / "x.png")
        assert code == 1 and err.strip() == f"error: {empty}: no images found in this folder"
    code, _, err = analyze("histograms", tmp_path / "missing", "-o", tmp_path / "x.png")
    assert code == 2 and "no such" in err


# -- figure 8: k-means clusters
# -------------------------------------------------------------------------------------
def _tinted(rgb: np.ndarray, a: float, b: float) -> np.ndarray:
    """The photo's own L and a faint copy of its ab, moved to (a, b): a clearly green or red crop."""
    ab = rgb8_to_ab(rgb) * 0.3 + torch.tensor([a, b]).view(2, 1, 1)
    return lab_to_srgb8(torch.cat([torch.from_numpy(rgb_lightness_u8(rgb))[None], ab])).numpy()


def test_kmeans_separates_green_from_red_crops(crops: Path, tmp_path: Path) -> None:
    images = sorted(crops.rglob("*.png"))
    folder = tmp_path / "tinted"
    folder.mkdir()
    for i, path in enumerate(images):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        green = i % 2 == 0
        name = f"{'green' if green else 'red'}-{i:02d}.png"
        Image.fromarray(_tinted(rgb, -45.0, 35.0) if green else _tinted(rgb, 55.0, 25.0)).save(folder / name)
    bins = make_bins("gamut:16")
    clusters = cluster_images(iter_ab(folder), bins, k=2, seed=0)
    groups = [{name.split("-")[0] for name in clusters.members(c)} for c in range(2)]
    assert sorted(map(sorted, groups)) == [["green"], ["red"]]
    assert clusters.sizes == [6, 6]
    np.testing.assert_allclose(clusters.averages.sum(1), 1.0)
    again = cluster_images(iter_ab(folder), bins, k=2, seed=0)
    np.testing.assert_array_equal(again.labels, clusters.labels)  # seeded
    green = next(c for c in range(2) if "green" in clusters.members(c)[0])
    top = bins.centres[int(clusters.averages[green].argmax())]
    assert top[0] < 0 < top[1]  # the green cluster's most frequent bin is green-yellow
    fig = plot_clusters(clusters)
    assert "6 images" in fig.axes[0].get_title()
    save_figure(fig, tmp_path / "k.png")
    _png(tmp_path / "k.png")
    code, out, err = analyze("clusters", folder, "--k", "2", "-o", tmp_path / "cli.png")
    assert code == 0 and "cluster 1: 6 images" in out, err


def test_bin_histograms_of_channel_bins_sum_to_one_per_channel(photo: np.ndarray) -> None:
    histogram = bin_histogram(rgb8_to_ab(photo), make_bins("channels:10"))
    assert histogram.shape == (20,)
    np.testing.assert_allclose([histogram[:10].sum(), histogram[10:].sum()], 1.0)
    with pytest.raises(ValueError, match="13 images cannot make"):
        cluster_images([(str(i), rgb8_to_ab(photo)) for i in range(13)], make_bins("gamut:16"), k=14)


# -- figures 3, 4, 5, 9: models
# -------------------------------------------------------------------------------------
def test_temperature_strip_through_the_console_script(
    crops: Path, run: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = run
    target = tmp_path / "t.png"
    done = subprocess.run(
        [
            CHROMALAB,
            "analyze",
            "temperature",
            str(crops / "photo0" / "crop0.png"),
            "--model",
            str(out / "model.safetensors"),
            "--size",
            "32",
            "-o",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    strip = _png(target, min_side=150)
    assert strip.shape[1] > 5 * strip.shape[0]  # input + 7 temperatures side by side


def test_a_figure_never_replaces_its_input_and_is_png_or_jpeg(crops: Path, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes((crops / "photo0" / "crop0.png").read_bytes())
    before = photo.read_bytes()
    code, _, err = analyze("temperature", photo, "--model", "tiny", "-o", photo)
    assert code == 2 and err == f"error: {photo}: is an input of this command; choose another output file\n"
    code, _, err = analyze("histograms", crops, "-o", crops / "photo0" / "crop0.png")  # a photo it reads
    assert code == 2 and "is an input of this command" in err
    assert photo.read_bytes() == before
    code, _, err = analyze("temperature", photo, "--model", tmp_path / "m.onnx", "-o", tmp_path / "t.png")
    assert code == 2 and "analyze runs a model on torch; give its .safetensors file" in err
    code, _, err = analyze("temperature", photo, "--model", "tiny", "-o", tmp_path / "t.gif")
    assert code == 2 and "'t.gif'" in err and "PNG (.png)" in err
    assert not (tmp_path / "t.gif").exists()


def test_temperature_of_a_regression_model_is_a_clear_error(crops: Path, tmp_path: Path) -> None:
    path = tmp_path / "regression.safetensors"
    save_model(path, create_model("tiny", num_classes=None), ModelSpec("tiny"))
    code, _, err = analyze(
        "temperature", crops / "photo0" / "crop0.png", "--model", path, "-o", tmp_path / "t.png"
    )
    assert code == 2
    assert "regression model" in err and "no bins" in err and err.count("\n") == 1
    assert not (tmp_path / "t.png").exists()


def test_comparison_grid_and_lightness_averaged_view(
    crops: Path, run: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = run
    model = out / "model.safetensors"
    code, _, err = analyze(
        "compare",
        crops / "photo0",
        crops / "photo1" / "crop1.png",
        "--model",
        model,
        "--model",
        "tiny",
        "--size",
        "32",
        "-o",
        tmp_path / "grid.png",
    )
    assert code == 0, err
    grid = _png(tmp_path / "grid.png")
    assert grid.shape[1] > grid.shape[0] * 0.6  # 5 rows x 4 columns of square panels
    code, _, err = analyze(
        "flat", crops / "photo2", "--model", model, "--lightness", "60", "-o", tmp_path / "f.png"
    )
    assert code == 0, err
    _png(tmp_path / "f.png")


def test_black_and_white_photos_are_compared_without_a_truth_column(
    photo: np.ndarray, tmp_path: Path
) -> None:
    from chromalab.colorize.torch_backend import Colorizer

    with pytest.warns(UserWarning, match="random weights"):
        colorizer = Colorizer.untrained("tiny", size=32)
    grey = grey_of(photo)  # (H, W, 3) uint8, R = G = B
    for images, columns in (([("a", grey), ("b", grey)], 2), ([("a", grey), ("b", photo)], 3)):
        fig = comparison_grid(images, [("tiny", colorizer)])
        assert [ax.get_title() for ax in fig.axes[:columns]][-1] == "tiny" and len(fig.axes) == 2 * columns
    save_figure(fig, tmp_path / "sheet.jpg")
    with Image.open(tmp_path / "sheet.jpg") as sheet:
        assert sheet.format == "JPEG" and min(sheet.size) > 200


def test_flatten_lightness_keeps_only_the_color(photo: np.ndarray) -> None:
    flat = flatten_lightness(photo, 60.0)
    lightness = rgb_lightness_u8(flat)
    assert abs(float(lightness.mean()) - 60.0) < 0.5 and float(lightness.std()) < 0.5
    original = rgb_lightness_u8(flatten_lightness(photo))
    assert abs(float(original.mean()) - float(rgb_lightness_u8(photo).mean())) < 0.5
    # hue survives: where the photo is clearly red (a >> 0), so is its flattened version
    ab, flat_ab = rgb8_to_ab(photo), rgb8_to_ab(flat)
    red = ab[0] > 30
    assert red.any() and (flat_ab[0][red] > 10).float().mean() > 0.9


def test_activations_are_conv_outputs_before_the_inplace_relu(
    photo: np.ndarray, crops: Path, run: tuple[Path, Path], tmp_path: Path
) -> None:
    model = create_model("tiny", num_classes=10)
    x = torch.linspace(-0.5, 0.5, 32 * 32).view(1, 1, 32, 32)
    outputs = layer_activations(model, x)
    assert [name for name, _ in outputs] == ["body.0", "body.2", "body.4", "head.proj"]
    assert (outputs[0][1] < 0).any()  # cloned before the ReLU that follows works in place
    name, channel, mean, values = strongest_channels(outputs)[0]
    means = outputs[0][1].mean((1, 2))
    assert (name, channel, mean) == ("body.0", int(means.argmax()), pytest.approx(float(means.max())))
    assert values.shape == (16, 16)
    _, out = run
    code, _, err = analyze(
        "activations",
        crops / "photo0" / "crop0.png",
        "--model",
        out / "model.safetensors",
        "--size",
        "64",
        "-o",
        tmp_path / "a.png",
    )
    assert code == 0, err
    _png(tmp_path / "a.png")


# -- figure 6: loss
# --------------------------------------------------------------------------------------------------
def test_loss_curves_of_a_run(run: tuple[Path, Path], tmp_path: Path) -> None:
    cache, out = run
    code, _, err = analyze("loss", out, "-o", tmp_path / "loss.png")
    assert code == 0, err
    _png(tmp_path / "loss.png")
    code, _, err = analyze("loss", cache, "-o", tmp_path / "x.png")
    assert code == 2 and "metrics.jsonl" in err
