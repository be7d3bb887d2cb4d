"""``chromalab evaluate`` and ``chromalab.evaluation.score``: tiny real photos, small model files, bad
inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from chromalab.cli import app
from chromalab.color.bins import Bins, ChannelBins, JointBins
from chromalab.color.lab import grey_to_lightness
from chromalab.color.srgb8 import grey_rendering, rgb_lightness_u8
from chromalab.colorize.torch_backend import Colorizer
from chromalab.evaluation import hues
from chromalab.evaluation.metrics import INTERFACE_METRICS, SHOWN_METRICS
from chromalab.evaluation.score import evaluate
from chromalab.images import evenly_spaced, list_images
from chromalab.models import create_model
from chromalab.models.checkpoint import ModelSpec, save_model

REQUIRED = {"psnr", "ssim", "auc", "auc_rebalanced", "colorfulness", "colorfulness_gt", "delta_colorfulness"}
GRID_20 = JointBins(
    np.stack(np.meshgrid(np.arange(-100, 101, 20), np.arange(-100, 101, 20)), -1).reshape(-1, 2),
    spec="grid-20",
)


def save_tiny(path: Path, bins: Bins | None) -> Path:
    """A small untrained model file: the ``tiny`` network with ``bins`` (None: ab regression)."""
    torch.manual_seed(0)
    model = create_model("tiny", num_classes=None if bins is None else bins.num_classes)
    save_model(path, model, ModelSpec("tiny", {}, None if bins is None else bins.spec), bins=bins)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, np.ndarray]) -> Path:
    """Four real photos of mixed sizes (64 x 64, 64 x 42, 48 x 64 ...), one in a subfolder."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    Image.fromarray(photos["astronaut"]).save(root / "astronaut.png")
    Image.fromarray(photos["coffee"]).save(root / "coffee.png")
    Image.fromarray(photos["china"]).save(root / "sub" / "china.jpg", quality=95)
    Image.fromarray(photos["chelsea"][:, :48]).resize((48, 64)).save(root / "chelsea.png")
    return root


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("model") / "tiny-grid20.safetensors", GRID_20)


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["evaluate", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


# -- library ----------------------------------------------------------------------------------------------
def test_evaluate_library(folder: Path, model_file: Path) -> None:
    colorizer = Colorizer.load(model_file, size=64)
    result = evaluate(list_images(folder), colorizer, root=folder, batch_size=3)
    summary = result.summary({"model": "tiny"})
    assert summary["images"] == 4 and set(summary) == {"images", "metrics", "gray_baseline"}
    for part in ("metrics", "gray_baseline"):
        assert set(summary[part]) >= REQUIRED
        assert {"closeness", "accuracy_channels10", "accuracy_channels30_a", "accuracy_bins"} <= set(
            summary[part]
        )
        assert {key for key, _, _ in SHOWN_METRICS} <= set(summary[part])  # every row of the printed table
    assert set(INTERFACE_METRICS) == REQUIRED
    grey = summary["gray_baseline"]
    assert grey["colorfulness"] == 0.0 and grey["delta_colorfulness"] == -grey["colorfulness_gt"]
    assert 0 < grey["auc"] < 100 and 0 < grey["ssim"] <= 1 and grey["psnr"] > 10
    names = sorted(row["name"] for row in result.rows())
    assert names == ["astronaut.png", "chelsea.png", "coffee.png", "sub/china.jpg"]
    # determinism: the same model on the same photos gives the same numbers
    again = evaluate(list_images(folder), colorizer, root=folder, batch_size=1).summary({"model": "tiny"})
    assert {k: v for k, v in again["metrics"].items() if "seconds" not in k} == {
        k: v for k, v in summary["metrics"].items() if "seconds" not in k
    }


def test_evaluate_reports_pooled_hues_and_none_for_the_grey_baseline(folder: Path, model_file: Path) -> None:
    colorizer = Colorizer.load(model_file, size=64)
    result = evaluate(list_images(folder), colorizer, root=folder)
    ours, grey = result.summary({})["metrics"], result.summary({})["gray_baseline"]
    keys = [f"hue_{band.key}" for band in hues.NAMED_BANDS]
    assert sum(ours[f"{key}_gt"] for key in keys) == pytest.approx(1.0)
    assert all(ours[f"{key}_gt"] == grey[f"{key}_gt"] for key in keys)  # one truth for both
    assert grey["chromatic"] == 0.0 and grey["hue_tv"] is None and all(grey[key] is None for key in keys)
    # the set's distance is that of the pooled counts, not the mean of the photos' distances
    assert ours["hue_tv"] == hues.tv_distance(result.model.hues, result.model.true_hues)
    assert result.model.true_hues.sum() == round(ours["chromatic_gt"] * result.model.pixels)


def test_hints_from_the_truth_raise_psnr_and_are_the_same_every_run(folder: Path, model_file: Path) -> None:
    colorizer = Colorizer.load(model_file, size=64)
    psnr = {}
    for hints in (0, 5, 60):
        runs = [
            evaluate(list_images(folder), colorizer, root=folder, hints=hints).summary({})["metrics"]
            for _ in range(2)
        ]
        assert runs[0]["psnr"] == runs[1]["psnr"]  # seeded hints
        psnr[hints] = runs[0]["psnr"]
    assert psnr[0] < psnr[5] < psnr[60] and psnr[60] > psnr[0] + 3  # an untrained model: the hints carry it


def test_grey_rendering_is_exactly_grey(photo: np.ndarray) -> None:
    lightness = torch.from_numpy(rgb_lightness_u8(photo))
    grey = grey_rendering(lightness)
    assert grey.dtype == np.uint8 and grey.shape == photo.shape
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    levels = grey_to_lightness(torch.arange(256) / 255.0)
    rendered = levels[torch.from_numpy(grey[..., 0]).long()]
    assert (rendered - lightness).abs().max() <= levels.diff().max() / 2 + 1e-4  # the nearest grey level


def test_find_images_limit_is_evenly_spaced(tmp_path: Path) -> None:
    for name in "abcdefghij":
        (tmp_path / f"{name}.png").write_bytes(b"")
    assert [p.stem for p in evenly_spaced(list_images(tmp_path), 4)] == ["a", "d", "g", "j"]
    assert len(list_images(tmp_path)) == 10


# -- command line: outputs ----------------------------------------------------------------------------------
def test_cli_writes_json_csv_and_table(folder: Path, model_file: Path, tmp_path: Path) -> None:
    code, out, err = run(
        folder,
        "--model",
        model_file,
        "--size",
        32,
        "--json",
        tmp_path / "s.json",
        "--csv",
        tmp_path / "rows.csv",
        "--temperature",
        0.5,
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["metrics"]["temperature"] == 0.5 and summary["metrics"]["size"] == 32
    assert summary["metrics"]["bins"] == "grid-20 (Q=121)"
    rows = list(csv.DictReader((tmp_path / "rows.csv").open()))
    sizes = {row["name"]: (int(row["width"]), int(row["height"])) for row in rows}
    assert sizes["chelsea.png"] == (48, 64) and sizes["astronaut.png"] == (64, 64)  # mixed sizes work
    assert {"psnr", "gray_psnr", "auc_rebalanced", "gray_colorfulness"} <= set(rows[0])
    assert all(float(row["gray_colorfulness"]) == 0.0 for row in rows)
    assert "AuC rebalanced" in out and "grey baseline" in out


def test_cli_hue_shares_and_their_figure(folder: Path, tmp_path: Path) -> None:
    code, out, err = run(folder, "--model", "default", "--size", 64, "--json", tmp_path / "default.json")
    assert code == 0, err
    assert "hues of the chromatic pixels (chroma > 10): violet+magenta" in out and "(truth" in out
    # analyze draws the hue shares of that JSON; a JSON without them, or grey ones, is a one-line error
    drawn = CliRunner().invoke(
        app, ["analyze", "hues", str(tmp_path / "default.json"), "-o", str(tmp_path / "h.png")]
    )
    assert drawn.exit_code == 0, drawn.stderr
    assert Image.open(tmp_path / "h.png").size[0] > 300
    (tmp_path / "old.json").write_text(json.dumps({"metrics": {"psnr": 20.0}}))
    summary = json.loads((tmp_path / "default.json").read_text())
    (tmp_path / "grey.json").write_text(json.dumps({"metrics": summary["gray_baseline"]}))
    for bad, why in (("old.json", "no hue shares"), ("grey.json", "no chromatic pixels")):
        refused = CliRunner().invoke(
            app, ["analyze", "hues", str(tmp_path / bad), "-o", str(tmp_path / "o.png")]
        )
        assert refused.exit_code == 2 and why in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert not (tmp_path / "o.png").exists()


def test_cli_limit(folder: Path, model_file: Path, tmp_path: Path) -> None:
    code, _, err = run(
        folder, "--model", model_file, "--size", 32, "--limit", 2, "--json", tmp_path / "s.json"
    )
    assert code == 0, err
    assert json.loads((tmp_path / "s.json").read_text())["images"] == 2


def test_model_bins_differ_from_metric_bins(folder: Path, tmp_path: Path) -> None:
    """Accuracy compares decoded colours, so any bin set scores any model, with or without bins."""
    channel_model = save_tiny(tmp_path / "channels.safetensors", ChannelBins(20))
    code, _, err = run(
        folder, "--model", channel_model, "--size", 32, "--bins", "channels:7", "--json", tmp_path / "a.json"
    )
    assert code == 0, err
    ours = json.loads((tmp_path / "a.json").read_text())["metrics"]
    assert ours["bins"] == "channels:7" and {
        "accuracy_bins",
        "accuracy_bins_a",
        "accuracy_channels50",
    } <= set(ours)

    regression = save_tiny(tmp_path / "regression.safetensors", None)
    code, _, err = run(folder, "--model", regression, "--size", 32, "--json", tmp_path / "b.json")
    assert code == 0, err
    ours = json.loads((tmp_path / "b.json").read_text())["metrics"]
    assert ours["bins"] is None and "accuracy_bins" not in ours and "accuracy_channels10" in ours
    np.save(tmp_path / "centres.npy", GRID_20.centres.numpy())
    code, _, err = run(
        folder,
        "--model",
        regression,
        "--size",
        32,
        "--bins",
        f"file:{tmp_path / 'centres.npy'}",
        "--json",
        tmp_path / "c.json",
    )
    assert code == 0, err
    assert 0 <= json.loads((tmp_path / "c.json").read_text())["metrics"]["accuracy_bins"] <= 1


# -- command line: bad input --------------------------------------------------------------------------------
def test_all_grey_folder(tmp_path: Path, photo: np.ndarray, model_file: Path) -> None:
    Image.fromarray(photo).convert("L").save(tmp_path / "grey.png")
    Image.fromarray(photo).convert("L").convert("RGB").save(tmp_path / "grey-rgb.png")
    code, _, err = run(tmp_path, "--model", model_file, "--json", tmp_path / "s.json")
    assert code == 1
    assert "no colour photos to score (2 grey of 2 images)" in err and "grey.png" in err
    assert not (tmp_path / "s.json").exists()


def test_missing_folder_and_not_a_folder(tmp_path: Path, model_file: Path) -> None:
    code, _, err = run(tmp_path / "nope", "--model", model_file)
    assert code == 2 and "no such folder" in err
    code, _, err = run(model_file, "--model", model_file)
    assert code == 2 and "not a folder" in err


def test_an_output_never_replaces_an_evaluated_photo(folder: Path, model_file: Path) -> None:
    before = (folder / "sub" / "china.jpg").read_bytes()
    for option in ("--json", "--csv"):
        code, _, err = run(folder, "--model", model_file, option, folder / "sub" / "china.jpg")
        assert (
            code == 2
            and err
            == f"error: {folder / 'sub' / 'china.jpg'}: is an input of this command; "
            "choose another output file\n"
        )
    assert (folder / "sub" / "china.jpg").read_bytes() == before


def test_empty_folder(tmp_path: Path, model_file: Path) -> None:
    code, _, err = run(tmp_path, "--model", model_file)
    assert code == 1 and "no images found" in err


def test_corrupt_files_are_reported_and_skipped(folder: Path, model_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for path in folder.rglob("*.png"):
        (data / path.name).write_bytes(path.read_bytes())
    (data / "empty.png").write_bytes(b"")
    (data / "broken.jpg").write_bytes((folder / "sub" / "china.jpg").read_bytes()[:300])
    (data / "text.png").write_text("not an image")
    code, _, err = run(data, "--model", model_file, "--size", 32, "--json", tmp_path / "s.json")
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 3 and all(line.startswith(f"error: {data}/") for line in lines)
    assert any("empty.png: empty file" in line for line in lines)
    assert json.loads((tmp_path / "s.json").read_text())["images"] == 3  # the summary is still written


def test_bad_model_and_bins(folder: Path, model_file: Path, tmp_path: Path) -> None:
    code, _, err = run(folder, "--model", tmp_path / "missing.safetensors")
    assert code == 2 and "model file not found" in err
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    code, _, err = run(folder, "--model", tmp_path / "junk.safetensors")
    assert code == 2 and "not a readable safetensors file" in err
    code, _, err = run(folder, "--model", model_file, "--bins", "hexagons:3")
    assert code == 2 and "unknown bin spec" in err


# -- end to end: the installed console script --------------------------------------------------------------
def test_console_script_end_to_end(cli, folder: Path, model_file: Path, tmp_path: Path) -> None:
    code, out, err = cli(
        "evaluate",
        folder,
        "--model",
        model_file,
        "--size",
        32,
        "--json",
        tmp_path / "s.json",
        "--csv",
        tmp_path / "rows.csv",
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert set(summary) == {"images", "metrics", "gray_baseline"} and summary["images"] == 4
    assert set(summary["metrics"]) >= REQUIRED and set(summary["gray_baseline"]) >= REQUIRED
    assert summary["gray_baseline"]["colorfulness"] == 0
    assert summary["metrics"]["colorfulness_gt"] == summary["gray_baseline"]["colorfulness_gt"] > 0
    assert len((tmp_path / "rows.csv").read_text().splitlines()) == 5
    assert "PSNR" in out
