"""ONNX export and the onnxruntime engine: same colours as torch on real photos, the bundled graph in step
with the bundled weights, no torch import on the fast path, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from chromalab.color.bin_sets import make_bins
from chromalab.colorize.export import export_onnx
from chromalab.colorize.onnx_backend import OnnxColorizer
from chromalab.colorize.options import bundled_weights
from chromalab.colorize.torch_backend import Colorizer
from chromalab.models.checkpoint import ModelSpec, read_metadata, save_model
from chromalab.models.registry import side_rule

pytest.importorskip("onnx")


def _gradient(side: int) -> np.ndarray:
    ramp = np.linspace(0.0, 100.0, side, dtype=np.float32)
    return (ramp[:, None] * 0.6 + ramp[None, :] * 0.4)[None, None]  # (1, 1, S, S)


def test_bundled_graph_is_the_bundled_weights() -> None:
    """weights/default.onnx must be re-exported whenever default.safetensors changes."""
    torch_engine, onnx_engine = Colorizer.load("default"), OnnxColorizer.load("default")
    assert (onnx_engine.size, onnx_engine.temperature) == (torch_engine.size, torch_engine.temperature)
    lightness = _gradient(torch_engine.size)
    for t in (0.2, 0.6, 1.0):
        expected = torch_engine.predict_ab(lightness, temperature=t).numpy()
        # two runtimes' float rounding, sharpened by 1 / t (seen: 1.05e-3 at t = 0.2): a hundredth of a Lab
        # unit is still 40 times below what one 8-bit sRGB code step moves; a stale graph is off by whole
        # units
        np.testing.assert_allclose(onnx_engine.predict_ab(lightness, temperature=t), expected, atol=1e-2)


def test_exported_default_colorizes_real_photos_as_torch_does(
    tmp_path: Path, photos: dict[str, np.ndarray]
) -> None:
    graph = tmp_path / "default.onnx"
    metadata = export_onnx(bundled_weights(), graph)
    assert metadata["model"] == "effnet" and metadata["side"] == {"fixed": None, "step": 32}
    torch_engine, onnx_engine = Colorizer.load("default"), OnnxColorizer.load(graph)
    for name, rgb in photos.items():
        grey = Image.fromarray(rgb).convert("L")
        for decode in ("annealed", "mean", "mode", "mode-hue"):
            expected = np.asarray(torch_engine.colorize(grey, decode=decode), dtype=int)
            got = np.asarray(onnx_engine.colorize(grey, decode=decode), dtype=int)
            assert got.shape == expected.shape == (*rgb.shape[:2], 3)
            difference = np.abs(got - expected)
            # float rounding in the network; the mode may flip between two bins where they nearly tie
            limit = 0.02 if decode in ("mode", "mode-hue") else 0.001
            assert (difference > 1).mean() <= limit, (name, decode, difference.max())
        assert np.asarray(onnx_engine.colorize(grey)).std(axis=2).mean() > 1.0  # actually coloured


@pytest.mark.parametrize(
    ("model", "options", "bins", "side"),
    [
        ("fast", {}, None, 48),  # regression: no temperature input
        ("cifar-baseline", {"size": 32}, None, 32),  # one fixed side
        ("pix2pix-unet", {"depth": 5, "width": 0.125}, None, 64),  # multiples of 32
        ("tiny", {"channels": 4}, "channels:16", 48),  # per-channel bins
        ("effnet", {"width": 0.25}, "channels:16", 64),  # multiples of 32 (its traced TF padding)
    ],
)
def test_regression_size_specific_and_channel_models_export(
    tmp_path: Path, model: str, options: dict, bins: str | None, side: int
) -> None:
    bin_set = make_bins(bins) if bins else None
    spec = ModelSpec(model, options, bins)
    torch.manual_seed(0)
    source = tmp_path / "m.safetensors"
    save_model(source, spec.build(bin_set.num_classes if bin_set else None), spec, bins=bin_set)
    graph = tmp_path / "m.onnx"
    export_onnx(source, graph)
    torch_engine, onnx_engine = Colorizer.load(source, size=48), OnnxColorizer.load(graph, size=48)
    assert onnx_engine.size == torch_engine.size == side
    lightness = _gradient(side)
    expected = torch_engine.predict_ab(lightness, temperature=0.5).numpy()
    np.testing.assert_allclose(onnx_engine.predict_ab(lightness, temperature=0.5), expected, atol=1e-3)
    # another side of the rule: the graph is not tied to its example
    if side_rule(torch_engine.model)["step"]:
        lightness = _gradient(3 * side)
        expected = torch_engine.predict_ab(lightness, temperature=0.5).numpy()
        np.testing.assert_allclose(onnx_engine.predict_ab(lightness, temperature=0.5), expected, atol=1e-3)


def test_export_cli_and_colorize_on_onnx_without_torch(
    cli, tmp_path: Path, photos: dict[str, np.ndarray]
) -> None:
    rc, stdout, stderr = cli("export", "default", "-o", tmp_path / "d.onnx")
    assert rc == 0, stderr
    assert "differs from torch by at most" in stdout
    difference = float(stdout.rsplit("at most", 1)[1])
    assert difference < 1e-3
    rc, _, stderr = cli("export", "default", "-o", tmp_path / "d.onnx")
    assert rc == 2 and "--overwrite" in stderr and stderr.count("\n") == 1
    run = tmp_path / "run"  # a run folder of 'chromalab train' stands for its model
    run.mkdir()
    (run / "model.safetensors").write_bytes(bundled_weights("default").read_bytes())
    rc, _, stderr = cli("export", run, "-o", tmp_path / "run.onnx")
    assert rc == 0 and (tmp_path / "run.onnx").is_file(), stderr

    Image.fromarray(photos["chelsea"]).convert("L").save(tmp_path / "cat.png")
    script = (
        "import sys\n"
        f"sys.argv = ['chromalab', 'colorize', {str(tmp_path / 'cat.png')!r}, '-o', "
        f"{str(tmp_path / 'out')!r},"
        f" '--model', {str(tmp_path / 'd.onnx')!r}]\n"
        "from chromalab.cli import main\n"
        "try:\n    main()\nexcept SystemExit as stop:\n    print('EXIT', stop.code)\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert "EXIT 0" in done.stdout and "TORCH False" in done.stdout, done.stdout + done.stderr
    assert Image.open(tmp_path / "out" / "cat.png").size == Image.open(tmp_path / "cat.png").size


def test_export_recommend_writes_what_colorize_uses(cli, tmp_path: Path) -> None:
    source = tmp_path / "m.safetensors"
    spec = ModelSpec(
        "tiny", {}, "channels:16", {"train_config": {"init": str(tmp_path / "runs" / "start.safetensors")}}
    )
    bins = make_bins("channels:16")
    save_model(source, spec.build(bins.num_classes), spec, bins=bins)
    rc, _, stderr = cli(
        "export",
        source,
        "-o",
        tmp_path / "r.safetensors",
        "--recommend",
        "size=96",
        "--recommend",
        "temperature=0.7",
        "--recommend",
        "min_view=64",
        "--data",
        "train128 (22k photos)",
    )
    assert rc == 0, stderr
    info = read_metadata(tmp_path / "r.safetensors")["info"]
    assert info["cache"] == "train128 (22k photos)" and info["train_config"]["init"] == "start.safetensors"
    assert str(tmp_path) not in json.dumps(info)  # nothing of the machine's folders in a file to ship
    recommended = Colorizer.load(tmp_path / "r.safetensors")
    assert (recommended.size, recommended.temperature, recommended.min_view) == (96, 0.7, 64)
    rc, _, stderr = cli(
        "export", tmp_path / "r.safetensors", "-o", tmp_path / "r.onnx", "--recommend", "decode=mean"
    )
    assert rc == 0, stderr
    graph = OnnxColorizer.load(tmp_path / "r.onnx")
    # the copy's, and the new one
    assert (graph.size, graph.temperature, graph.decode_method, graph.min_view) == (96, 0.7, "mean", 64)
    for args, message in (
        (["--recommend", "speed=3"], "KEY one of size, temperature, decode, min_view"),
        (["--recommend", "size=9"], "size must be an integer in [16, 4096]"),
        (["--recommend", "min_view=9"], "min_view must be 0 or an integer in [16, 4096]"),
        ([], "a .safetensors copy is for --recommend"),
    ):
        rc, _, stderr = cli("export", source, "-o", tmp_path / "x.safetensors", *args)
        assert rc == 2 and message in stderr and stderr.count("\n") == 1, stderr
    assert not (tmp_path / "x.safetensors").exists()
    rc, _, stderr = cli("export", source, "-o", tmp_path / "x.onnx", "--data", "train128")
    assert rc == 2 and "--data goes with --recommend" in stderr and not (tmp_path / "x.onnx").exists()


def test_bad_graphs_and_engines_are_one_line_errors(
    cli, tmp_path: Path, photos: dict[str, np.ndarray]
) -> None:
    Image.fromarray(photos["coffee"]).save(tmp_path / "coffee.png")
    (tmp_path / "garbage.onnx").write_bytes(b"not a graph")
    (tmp_path / "garbage.safetensors").write_bytes(b"not weights")
    cases = [
        (["colorize", "coffee.png", "--model", "garbage.onnx"], "not a readable ONNX file"),
        (["colorize", "coffee.png", "--model", "missing.onnx"], "not found"),
        (["colorize", "coffee.png", "--model", "garbage.onnx", "--engine", "torch"], "--engine onnx"),
        (["colorize", "coffee.png", "--engine", "gpu"], "--engine must be one of"),
        (
            ["colorize", "coffee.png", "--model", "garbage.safetensors", "--engine", "onnx"],
            "chromalab export",
        ),
        (["export", "garbage.safetensors", "-o", "g.onnx"], "not a readable safetensors file"),
        (["export", "default", "-o", "g.pt"], "must end in .onnx"),
    ]
    for args, message in cases:
        rc, _, stderr = cli(*args, cwd=tmp_path)
        assert rc == 2 and message in stderr and stderr.count("\n") == 1 and "Traceback" not in stderr, (
            args,
            stderr,
        )
    assert not (tmp_path / "g.onnx").exists()


def test_evaluate_scores_an_onnx_graph_as_its_safetensors(
    cli, tmp_path: Path, photos: dict[str, np.ndarray]
) -> None:
    """Both backends go through the same view -> network -> render path: the numbers differ only by the
    network's float rounding (ab within 1e-3, so a code value on a few pixels), far below what the metrics
    resolve."""
    for name in ("astronaut", "coffee", "china"):
        Image.fromarray(photos[name]).save(tmp_path / f"{name}.png")
    graph = tmp_path / "default.onnx"
    export_onnx(bundled_weights(), graph)
    summaries = {}
    for model in (str(bundled_weights()), str(graph)):
        rc, _, stderr = cli("evaluate", tmp_path, "--model", model, "--json", tmp_path / "scores.json")
        assert rc == 0, stderr
        summaries[Path(model).suffix] = json.loads((tmp_path / "scores.json").read_text())
    torch_run, onnx_run = summaries[".safetensors"], summaries[".onnx"]
    assert onnx_run["images"] == torch_run["images"] == 3
    assert onnx_run["gray_baseline"] == torch_run["gray_baseline"]
    for key in ("psnr", "auc", "auc_rebalanced", "colorfulness", "accuracy_bins"):
        assert onnx_run["metrics"][key] == pytest.approx(torch_run["metrics"][key], abs=0.05), key
    assert onnx_run["metrics"]["ssim"] == pytest.approx(torch_run["metrics"]["ssim"], abs=1e-3)


def test_a_hint_session_on_onnxruntime_runs_the_decoder_graph_and_matches_torch(
    photos: dict[str, np.ndarray],
) -> None:
    """The bundled graph and its decoder graph: the same photo, hints and palette as on torch (colours within
    2 code values on 99.9 % of pixels: float rounding of two runtimes), with each hint change run by the
    decoder graph alone."""
    from chromalab.colorize.core import as_lightness
    from chromalab.colorize.hint_session import HintSession
    from chromalab.colorize.onnx_backend import GraphFeatures

    source = as_lightness(photos["astronaut"])
    engines = Colorizer.load("default"), OnnxColorizer.load("default")
    assert engines[1].takes_hints and engines[1].decoder is not None
    sessions = [HintSession(engine, source) for engine in engines]
    assert isinstance(sessions[1].encoded, GraphFeatures) and sessions[1].nbytes > 0
    hints = [{"x": 20, "y": 30, "color": "#d02020"}, {"x": 50, "y": 10, "color": "#2040ff"}]
    for given in ([], hints):
        pictures = []
        for session in sessions:
            session.set_hints(given)
            pictures.append(np.asarray(session.colorize(temperature=0.6), dtype=int))
        assert (np.abs(pictures[0] - pictures[1]) > 2).mean() <= 1e-3, given
    on_torch, on_onnx = (session.palette(20, 30, count=3) for session in sessions)
    assert [c["ab"] for c in on_torch] == [c["ab"] for c in on_onnx]
    np.testing.assert_allclose([c["p"] for c in on_torch], [c["p"] for c in on_onnx], atol=2e-3)


def test_the_bundled_graphs_hold_no_subnormal_constants() -> None:
    """Folding BatchNorms leaves weights below float32's smallest normal; onnxruntime's convolutions ran the
    bundled graph 7x slower on them. ``export`` traces the inference form, which has them zeroed."""
    import onnx
    from onnx import numpy_helper

    from chromalab.models.spec import decoder_path

    graph = bundled_weights(suffix=".onnx")
    for path in (graph, Path(decoder_path(str(graph)))):
        for constant in onnx.load(str(path)).graph.initializer:
            weights = numpy_helper.to_array(constant)
            if weights.dtype == np.float32:
                assert not ((weights != 0) & (np.abs(weights) < np.finfo(np.float32).tiny)).any(), path
