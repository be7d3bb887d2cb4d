"""``chromalab export --quantize int8``: an int8 graph (and decoder graph) that onnxruntime runs as it runs
the fp32 one, giving colours close to fp32's; bad usage in one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import save_photos
from PIL import Image

from chromalab.colorize.onnx_backend import OnnxColorizer
from chromalab.colorize.options import bundled_weights
from chromalab.colorize.quantize import quantize_graph
from chromalab.models.spec import decoder_path

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SIDE = 64  # the test views: small, so calibrating and running stay fast


def test_int8_graph_runs_as_the_fp32_graph_with_close_colours(
    tmp_path: Path, photos: dict[str, np.ndarray]
) -> None:
    calibration = save_photos(tmp_path / "calibration", photos)
    graph = tmp_path / "int8.onnx"
    metadata = quantize_graph(bundled_weights(suffix=".onnx"), graph, photos=calibration, size=SIDE)
    assert metadata["quantized"] == "int8-static"
    assert Path(decoder_path(str(graph))).is_file()
    fp32, int8 = OnnxColorizer.load("default", size=SIDE), OnnxColorizer.load(graph, size=SIDE)
    assert int8.decoder is not None  # its decoder graph kept the graph_id: hints re-run the decoder alone
    assert int8.metadata["graph_id"] == fp32.metadata["graph_id"]
    differences, chromas = [], []
    for rgb in photos.values():
        view = fp32.prepare(Image.fromarray(rgb).convert("L")).network_input  # (1, 1, 64, 64)
        assert int8.network_output(view).shape == fp32.network_output(view).shape  # (1, Q, 16, 16)
        expected = fp32.predict_ab(view, decode="annealed")  # (1, 2, 16, 16)
        got = int8.predict_ab(view, decode="annealed")
        differences.append(np.hypot(*(got - expected)[0]).ravel())
        chromas.append(np.hypot(*expected[0]).ravel())
        # the decoder graph alone, with a hint: the same shape as the fp32 decoder's answer
        hints = np.zeros((1, 3, *view.shape[-2:]), np.float32)  # the view's side: 64 or 32
        hints[:, :, 10:14, 10:14] = np.array([40.0, 30.0, 1.0], np.float32)[:, None, None]
        hinted = int8.hinted_output(int8.encode(view), hints)
        assert hinted.shape == fp32.hinted_output(fp32.encode(view), hints).shape
    difference, chroma = np.concatenate(differences), np.concatenate(chromas)
    # int8 rounding moves the logits, not the picture: here (annealed mean, 5 photos of 64 pixels, calibrated
    # on them) the decoded ab moved 1.1 Lab units on average, under a just-noticeable colour difference (about
    # 2.3); on kodak24 and cbsd68 with the mode-hue decoding the bundled model uses, 3.5-4.3
    # (bench/bench_int8.py). 4 leaves room for onnxruntime's kernels on another CPU, and is a quarter of the
    # colours' own chroma, which a graph that lost its weights (grey, or noise) would be off by
    assert difference.mean() < 4.0, difference.mean()
    assert difference.mean() < 0.25 * chroma.mean(), (difference.mean(), chroma.mean())


def test_export_quantize_cli(cli, tmp_path: Path, photos: dict[str, np.ndarray]) -> None:
    save_photos(tmp_path / "calibration", photos)
    out = tmp_path / "d.int8.onnx"
    rc, stdout, stderr = cli(
        "export", "default", "-o", out, "--quantize", "int8", "--calibration", tmp_path / "calibration"
    )
    assert rc == 0, stderr
    assert "int8, calibrated on 5 photos" in stdout and "differs from torch by at most" in stdout
    assert stderr.count("\n") <= 1, stderr  # not the quantizer's screenful of warnings
    assert OnnxColorizer.load(out).metadata["quantized"] == "int8-static"
    assert Path(decoder_path(str(out))).is_file()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--quantize", "int4", "--calibration", "."], "--quantize must be int8, got 'int4'"),
        (["--quantize", "int8"], "--quantize int8 needs --calibration DIR"),
        (["--calibration", "."], "--calibration goes with --quantize int8"),
        (["--quantize", "int8", "--calibration", "no-such-folder"], "no such folder"),
    ],
)
def test_export_quantize_bad_usage_is_one_line(cli, tmp_path: Path, args: list[str], says: str) -> None:
    rc, _, stderr = cli("export", "default", "-o", tmp_path / "d.onnx", *args, cwd=tmp_path)
    assert rc == 2 and stderr.count("\n") == 1 and says in stderr, stderr
    assert not (tmp_path / "d.onnx").exists()
