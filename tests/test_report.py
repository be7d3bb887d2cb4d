"""``chromalab report RUN -o DIR``: one self-contained HTML page about a run trained by the real engine."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import train_tiny_run, write_crops
from PIL import Image
from typer.testing import CliRunner

from chromalab.analysis.report import build_report, render
from chromalab.cli import app

CHROMALAB = str(Path(sys.executable).parent / "chromalab")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run (3 steps) on 12 real crops at 32x32, plus an ``evaluate`` JSON in the run
    folder."""
    work = tmp_path_factory.mktemp("report")
    write_crops(work / "src")
    _, out = train_tiny_run(work / "src", work)
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(work / "src"),
            "--model",
            str(out / "model.safetensors"),
            "--size",
            "32",
            "--limit",
            "4",
            "--json",
            str(out / "eval-val.json"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    return out


def _images(page: str) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(data)))
        for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ]


def test_report_is_one_self_contained_page_with_figures_and_metrics(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [CHROMALAB, "report", str(run), "-o", str(out)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]  # one file, no temporary left behind
    page = (out / "index.html").read_text(encoding="utf-8")
    # self-contained: every src is a data URI, no links to files or the web
    assert "http" not in page and "href=" not in page and "url(" not in page
    assert re.findall(r'src="(?!data:image/png;base64,)', page) == []
    images = _images(page)
    assert len(images) == 6  # loss, samples, bins, prior, temperature, activations
    for image in images:
        assert image.format == "PNG" and min(image.size) >= 90
    latest = max((run / "samples").glob("epoch-*.png")).stem
    for title in (
        "Loss curves",
        f"Validation samples, {latest}",
        "Bin set gamut:10",
        "Prior stored in the model",
        "Temperature sweep",
        "Activations",
    ):
        assert f"<h3>{title}</h3>" in page
    last_epoch = [
        r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "epoch"
    ][-1]
    assert f"<th>val_loss</th><td>{last_epoch['val_loss']:.4g}</td>" in page
    summary = json.loads((run / "eval-val.json").read_text())
    assert "Evaluation: eval-val.json" in page
    psnr, grey_psnr = summary["metrics"]["psnr"], summary["gray_baseline"]["psnr"]
    assert f"<th>psnr</th><td>{psnr:.4g}</td><td>{grey_psnr:.4g}</td>" in page
    assert "<td>tiny</td>" in page and "Missing" not in page


def test_missing_run_folder_is_exit_2_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nope"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nope'}: no such run folder\n"
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["report", str(tmp_path / "empty"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "not a run folder" in result.stderr
    assert not (tmp_path / "out").exists()


def test_run_without_a_model_reports_what_exists(run: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    shutil.copytree(run, partial, ignore=shutil.ignore_patterns("*.safetensors"))
    result = CliRunner().invoke(app, ["report", str(partial), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"error: {partial / 'model.safetensors'}: missing" in result.stderr
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "<h2>Missing</h2>" in page and "model.safetensors (training has not finished" in page
    assert [t for t in ("Loss curves", "Validation samples") if f"<h3>{t}" in page] == [
        "Loss curves",
        "Validation samples",
    ]
    assert "Temperature sweep" not in page and len(_images(page)) == 2


def test_a_running_run_uses_its_latest_checkpoint(run: Path, tmp_path: Path) -> None:
    running = tmp_path / "running"
    shutil.copytree(run, running, ignore=shutil.ignore_patterns("model.safetensors", "*.json"))
    report = build_report(running, size=32)
    assert report.model_file == running / "checkpoint.safetensors"
    assert "Temperature sweep" in report.figures and "Activations" in report.figures
    assert any("figures use the latest checkpoint.safetensors" in m for m in report.missing)
    assert any(m.startswith("evaluation JSON") for m in report.missing)
    assert "<h2>Missing</h2>" in render(report)
