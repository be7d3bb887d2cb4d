"""``colorize.loading``: the one place that opens a model picks its backend and hands back a colorizer that
carries its own size, temperature and decoding."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest

from chromalab.colorize.loading import backend_for, load_colorizer
from chromalab.colorize.options import bundled_weights


def test_backend_errors_say_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="runs with --engine onnx"):
        load_colorizer(str(tmp_path / "m.onnx"), engine="torch")
    with pytest.raises(ValueError, match="chromalab export"):
        load_colorizer(str(tmp_path / "m.safetensors"), engine="onnx")
    with pytest.raises(ValueError, match="--engine must be one of"):
        load_colorizer("default", engine="gpu")


def test_auto_runs_graphs_on_onnx_and_model_files_on_torch() -> None:
    assert backend_for("any/where/model.onnx") == "onnx"
    assert backend_for("any/where/model.safetensors") == "torch"
    assert backend_for("tiny") == "torch"  # a registered name is built by torch
    assert backend_for("default", "torch") == "torch"
    can_run_graph = bundled_weights(suffix=".onnx").is_file() and importlib.util.find_spec("onnxruntime")
    assert backend_for("default") == ("onnx" if can_run_graph else "torch")


def test_the_colorizer_carries_what_it_was_built_with() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights: only the options are under test
        given = load_colorizer("tiny", engine="torch", size=48, temperature=0.7, decode="mean")
    assert (given.size, given.temperature, given.decode_method) == (48, 0.7, "mean")
    recommended = load_colorizer("default", engine="torch")  # what the bundled file recommends
    info = recommended.spec.info["defaults"]
    assert (recommended.size, recommended.temperature, recommended.decode_method, recommended.min_view) == (
        info["size"],
        info["temperature"],
        info["decode"],
        info.get("min_view", 0),
    )


def test_a_missing_bundled_model_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from chromalab.colorize import torch_backend

    monkeypatch.setattr(torch_backend, "bundled_weights", lambda name, suffix=".safetensors": tmp_path / name)
    with pytest.raises(FileNotFoundError, match="bundled model 'default' is missing from this installation"):
        load_colorizer("default", engine="torch")


# -- --device -----------------------------------------------------------------------------------------------
def test_devices_pick_cuda_only_where_onnxruntime_has_it() -> None:
    import onnxruntime

    from chromalab.colorize.onnx_backend import CPU, CUDA, providers_for

    has_cuda = CUDA in onnxruntime.get_available_providers()
    assert providers_for("cpu") == [CPU]
    assert providers_for("auto") == providers_for("cuda") == ([CUDA, CPU] if has_cuda else [CPU])
    with pytest.raises(ValueError, match="--device must be one of auto, cpu, cuda"):
        load_colorizer("default", device="gpu")


def test_device_cuda_without_a_gpu_says_so_once_and_runs_on_the_cpu(cli, photo, tmp_path: Path) -> None:
    import numpy as np
    import onnxruntime
    from PIL import Image

    from chromalab.colorize.onnx_backend import CUDA

    if CUDA in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime here has a CUDA provider: the fallback is not what runs")
    Image.fromarray(photo).convert("L").save(tmp_path / "photo.png")
    runs = {
        device: cli("colorize", "photo.png", "-o", device, "--device", device, cwd=tmp_path)
        for device in ("cpu", "cuda")
    }
    assert runs["cpu"][0] == runs["cuda"][0] == 0 and runs["cpu"][2] == ""
    (notice,) = runs["cuda"][2].strip().splitlines()
    assert notice.startswith("warning: --device cuda:") and notice.endswith("running on the CPU")
    assert "onnxruntime-gpu" in notice
    # the same CPU session either way: the same photo, up to the order of threaded sums (one code value)
    cpu, cuda = (np.asarray(Image.open(tmp_path / d / "photo.png"), dtype=int) for d in ("cpu", "cuda"))
    assert np.abs(cpu - cuda).max() <= 1
    code, _, error = cli("colorize", "photo.png", "-o", "gpu", "--device", "gpu", cwd=tmp_path)
    assert code == 2 and error.strip() == "error: --device must be one of auto, cpu, cuda, got 'gpu'"
    assert not (tmp_path / "gpu").exists()
