"""``chromalab semantic`` and ``chromalab.evaluation.semantic``: a tiny real cache of three colour classes,
an untrained ``tiny`` model file, the installed console script end to end, and bad inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from chromalab.cli import app
from chromalab.color.codes import decode_l
from chromalab.color.lab import join_lightness, lab_to_rgb
from chromalab.colorize.torch_backend import Colorizer
from chromalab.data.cache import Cache
from chromalab.evaluation.classifier import ClassifierConfig, load_classifier
from chromalab.evaluation.semantic import (
    colorized_ab,
    grey_ab,
    obtain_classifier,
    photos,
    render,
    semantic_test,
    true_ab,
)
from chromalab.models import create_model
from chromalab.models.checkpoint import ModelSpec, save_model

CHROMALAB = str(Path(sys.executable).parent / "chromalab")
SMALL = ClassifierConfig(side=32, widths=(8, 16, 16, 32), epochs=25, batch_size=16, lr=3e-3)  # about 2 s


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors: one thread. On a busy machine two OpenMP threads spin against other processes and
    make these tests 20-70x slower (measured beside a training run on two cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sources() -> dict[str, np.ndarray]:
    """Three photos of clearly different colours: brown coffee, blue-green china, orange-grey cat."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    return {
        "coffee": skimage.data.coffee(),
        "china": load_sample_image("china.jpg"),
        "chelsea": skimage.data.chelsea(),
    }


def _prepare(root: Path, out: Path) -> Path:
    done = subprocess.run(
        [CHROMALAB, "prepare", str(root), "-o", str(out), "--size", "32", "--val-fraction", "0.3"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 crops of 40x40 per photo, one class folder per photo, prepared at 32x32 with 30 % held out."""
    root = tmp_path_factory.mktemp("semantic-src")
    for name, rgb in _sources().items():
        image = Image.fromarray(rgb).resize((160, 160))
        (root / name).mkdir()
        for k in range(16):
            x, y = (k % 4) * 40, (k // 4) * 40
            image.crop((x, y, x + 40, y + 40)).save(root / name / f"{k}.png")
    return _prepare(root, tmp_path_factory.mktemp("semantic-cache") / "cache")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained ``tiny`` regression model file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("semantic-model") / "tiny.safetensors"
    save_model(path, create_model("tiny", num_classes=None), ModelSpec("tiny", {}, None))
    return path


@pytest.fixture(scope="module")
def trained(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A classifier trained on the tiny cache with ``SMALL`` and saved; (file, description)."""
    path = tmp_path_factory.mktemp("semantic-classifier") / "classifier.safetensors"
    _, meta = obtain_classifier(Cache(cache), path=path, config=SMALL)
    return path, meta


def run(*args: object) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    return subprocess.run(
        [CHROMALAB, "semantic", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "COLUMNS": "120", "OMP_NUM_THREADS": "1"},
    )


def invoke(*args: object) -> tuple[int, str]:
    """The same command in this process (faster: no torch import): (exit code, stderr)."""
    result = CliRunner().invoke(app, ["semantic", *map(str, args)])
    return result.exit_code, result.stderr


def test_classifier_learns_the_true_color_training_set(trained: tuple[Path, dict]) -> None:
    path, meta = trained
    facts = meta["training"]
    assert path.is_file() and meta["source"].startswith("trained")
    assert meta["classes"] == ["chelsea", "china", "coffee"]
    assert facts["epochs_done"] == SMALL.epochs and facts["steps"] > 0
    assert facts["train_accuracy"] > 0.6  # chance is 1/3


def test_three_accuracies_and_summary(cache: Path, model_file: Path, trained: tuple[Path, dict]) -> None:
    opened = Cache(cache)
    model, meta = load_classifier(trained[0])
    result = semantic_test(opened, Colorizer.load(model_file), model, meta)
    summary = result.summary({"model": "tiny"})["semantic"]
    for key in ("true_colour", "grey", "colorized"):
        assert 0.0 <= summary[key] <= 1.0
    assert summary["classes"] == 3 and summary["val_images"] == len(opened.val_indices) > 0
    assert set(summary["per_class"]) <= {"chelsea", "china", "coffee"}
    assert summary["classifier"]["training"]["train_accuracy"] == trained[1]["training"]["train_accuracy"]
    json.dumps(summary, allow_nan=False)


def test_colorized_version_is_seen_as_colorize_sees_it(cache: Path) -> None:
    """A model whose file asks for ``min_view`` 48 sees the 32-pixel cache photos at 48, as ``colorize``
    does; without it, at the cache's 32."""
    opened = Cache(cache)
    rows = opened.val_indices[:2]
    lightness = torch.from_numpy(decode_l(opened.l[rows]))  # (2, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "random weights": only the view is under test
        plain = Colorizer.untrained("tiny", size=64)
        upscaling = Colorizer.untrained("tiny", size=64, min_view=48)
    sides = {}
    for name, colorizer in (("plain", plain), ("upscaling", upscaling)):
        ab = colorized_ab(colorizer, temperature=0.5)(lightness, rows)  # (2, 2, h, w)
        photo = Image.fromarray((lightness[0].numpy() * 2.55).round().astype(np.uint8), mode="L")
        expected = colorizer.predict_ab(colorizer.prepare(photo).network_input, temperature=0.5)
        assert ab.shape[-2:] == expected.shape[-2:], name  # the view colorize takes of that photo
        sides[name] = ab.shape[-1]
    assert sides["upscaling"] == sides["plain"] * 48 // 32


def test_grey_is_ab_zero_exactly(cache: Path) -> None:
    opened = Cache(cache)
    rows = opened.val_indices[:4]
    lightness = torch.from_numpy(decode_l(opened.l[rows]))
    assert torch.equal(grey_ab(lightness, rows), torch.zeros(len(rows), 2, 32, 32))
    grey = photos(opened, rows, grey_ab, side=32).int()  # (B, 3, S, S)
    assert (grey.amax(1) - grey.amin(1)).max() <= 1  # R = G = B up to lab_to_srgb8's rounding of the white


def test_render_is_join_lightness_and_true_color_is_lab_to_rgb(cache: Path) -> None:
    opened = Cache(cache)
    rows = opened.train_indices[:3]
    lightness = torch.from_numpy(decode_l(opened.l[rows]))  # (3, 32, 32)
    ab_small = torch.randn(3, 2, 8, 8) * 30
    batch = render(lightness, ab_small)
    for i in range(3):
        assert np.array_equal(batch[i].numpy(), join_lightness(lightness[i], ab_small[i]).numpy())
    truth = photos(opened, rows, true_ab(opened), side=32).float() / 255  # (3, 3, 32, 32)
    reference = lab_to_rgb(
        torch.cat([lightness[:, None], torch.from_numpy(opened.ab[rows].astype(np.float32))], 1)
    )
    assert (truth - reference).abs().max() <= 1.5 / 255  # in-gamut colours: within one code value


def test_classifier_file_round_trips(cache: Path, trained: tuple[Path, dict]) -> None:
    path, meta = trained
    loaded, loaded_meta = obtain_classifier(Cache(cache), path=path, config=SMALL)
    assert loaded_meta["source"] == f"loaded from {path}"
    assert loaded_meta["training"] == meta["training"] and loaded_meta["side"] == 32
    model, _ = obtain_classifier(Cache(cache), config=SMALL)  # the same seed trains the same weights
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_determinism(cache: Path, model_file: Path) -> None:
    opened, colorizer = Cache(cache), Colorizer.load(model_file)
    results = []
    for _ in range(2):
        model, meta = obtain_classifier(opened, config=SMALL)
        result = semantic_test(opened, colorizer, model, meta)
        results.append(
            (result.accuracies, meta["training"]["final_loss"], meta["training"]["train_accuracy"])
        )
    assert results[0] == results[1]


def test_cli_end_to_end_trains_saves_and_reuses(cache: Path, tmp_path: Path) -> None:
    classifier, first, second = tmp_path / "c.safetensors", tmp_path / "a.json", tmp_path / "b.json"
    common = [
        "--classifier",
        classifier,
        "--classifier-epochs",
        "4",
        "--classifier-side",
        "32",
        "--batch-size",
        "16",
    ]
    done = run(cache, "--model", "tiny", *common, "--json", first)
    assert done.returncode == 0, done.stderr
    assert "colorized" in done.stdout and "true colour" in done.stdout and "random weights" in done.stderr
    again = run(cache, "--model", "tiny", *common, "--json", second)
    assert again.returncode == 0, again.stderr
    a, b = (json.loads(p.read_text())["semantic"] for p in (first, second))
    assert {"true_colour", "grey", "colorized", "classes", "val_images", "classifier"} <= set(a)
    assert a["classes"] == 3 and a["classifier"]["training"]["epochs_done"] == 4
    assert b["classifier"]["source"] == f"loaded from {classifier}"
    assert [a[k] for k in ("true_colour", "grey", "colorized")] == [
        b[k] for k in ("true_colour", "grey", "colorized")
    ]


def test_missing_cache_and_bad_model_exit_2(cache: Path, tmp_path: Path) -> None:
    done = run(tmp_path / "nowhere", "--model", "tiny")  # the console script: exit code and one clean line
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "no such cache" in done.stderr
    assert "Traceback" not in done.stderr
    code, stderr = invoke(tmp_path, "--model", "tiny")  # a folder that is not a cache
    assert code == 2 and "not a chromalab cache" in stderr
    code, stderr = invoke(cache, "--model", "no-such-model", "--classifier-epochs", "1")
    assert code == 2 and "unknown model" in stderr


def test_the_summary_never_replaces_the_cache_the_model_or_the_classifier(
    cache: Path, model_file: Path, tmp_path: Path
) -> None:
    before = (cache / "cache.json").read_bytes(), model_file.read_bytes()
    for target in (cache / "cache.json", model_file):
        code, stderr = invoke(cache, "--model", model_file, "--json", target)
        assert (
            code == 2
            and stderr == f"error: {target}: is an input of this command; choose another output file\n"
        )
    same = tmp_path / "c.safetensors"
    code, stderr = invoke(cache, "--model", model_file, "--classifier", same, "--json", same)
    assert code == 2 and "the same file as --classifier" in stderr and not same.exists()
    assert ((cache / "cache.json").read_bytes(), model_file.read_bytes()) == before


def test_one_class_cache_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "src" / "only"
    root.mkdir(parents=True)
    image = Image.fromarray(_sources()["coffee"]).resize((120, 120))
    for k in range(9):
        x, y = (k % 3) * 40, (k // 3) * 40
        image.crop((x, y, x + 40, y + 40)).save(root / f"{k}.png")
    one = _prepare(tmp_path / "src", tmp_path / "cache")
    code, stderr = invoke(one, "--model", "tiny")
    assert code == 2 and "at least two classes" in stderr
    with pytest.raises(ValueError, match="at least two classes"):
        obtain_classifier(Cache(one), config=SMALL)


def test_classifier_of_other_classes_or_not_a_classifier(
    cache: Path, model_file: Path, trained: tuple[Path, dict], tmp_path: Path
) -> None:
    code, stderr = invoke(cache, "--model", "tiny", "--classifier", model_file)  # a colorization model
    assert code == 2 and "not a semantic classifier" in stderr
    renamed = tmp_path / "cache"
    subprocess.run(["cp", "-r", str(cache), str(renamed)], check=True)
    info = json.loads((renamed / "cache.json").read_text())
    info["classes"] = ["a", "b", "c"]
    (renamed / "cache.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="trained on classes"):
        obtain_classifier(Cache(renamed), path=trained[0])
    info["classes"], info["fingerprint"] = ["chelsea", "china", "coffee"], "another"
    (renamed / "cache.json").write_text(json.dumps(info))
    _, meta = obtain_classifier(Cache(renamed), path=trained[0])
    assert "trained on another cache" in meta["warning"]
    assert "warning" not in obtain_classifier(Cache(cache), path=trained[0])[1]


def test_time_budget_stops_training(cache: Path) -> None:
    # 1.2 s
    config = ClassifierConfig(side=32, widths=(8, 8, 8, 8), epochs=10_000, batch_size=16, minutes=0.02)
    _, meta = obtain_classifier(Cache(cache), config=config)
    facts = meta["training"]
    assert 0 < facts["steps"] < 2 * config.epochs and facts["epochs_done"] < config.epochs
    assert facts["seconds"] < 30 and 0.0 <= facts["train_accuracy"] <= 1.0
