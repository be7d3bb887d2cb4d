"""The install a user gets: the wheel built from the sdist (``python -m build``), installed into a fresh venv
without torch, then used as a user would: ``colorize`` on a photo and a clip, ``evaluate``, ``serve`` (health,
an upload, a temperature preview, a hints PUT), and the torch commands saying what to install.

The venv is built once for the module (about 30 s with pip's cache warm; the first run on a new machine
downloads the base install's packages from PyPI)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from conftest import save_photos
from live_server import free_port
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
INSTALL_SECONDS = 900
# the user's environment: nothing of this checkout's on the path
USER_ENV = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}


def run(*args: object, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=USER_ENV
    )


def check(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel and what it depends on, and no torch."""
    work = tmp_path_factory.mktemp("wheel")
    check(run(sys.executable, "-m", "build", "--outdir", work / "dist", REPO, timeout=INSTALL_SECONDS))
    (wheel,) = (work / "dist").glob("chromalab-*.whl")  # built from the sdist beside it
    check(run(sys.executable, "-m", "venv", work / "venv"))
    check(run(work / "venv/bin/pip", "install", "-q", wheel, timeout=INSTALL_SECONDS))
    return work / "venv"


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, np.ndarray]) -> Path:
    folder = tmp_path_factory.mktemp("wheel-photos")
    save_photos(folder, photos)
    return folder


def test_chromalab_imports_and_torch_does_not(venv: Path, tmp_path: Path) -> None:
    result = run(
        venv / "bin/python", "-c", "import chromalab.cli; print('imported'); import torch", cwd=tmp_path
    )
    assert result.stdout.strip() == "imported"
    assert result.returncode != 0 and "No module named 'torch'" in result.stderr
    (site,) = (venv / "lib").glob("python3*/site-packages")
    assert not (site / "torch").exists() and (site / "chromalab/weights/default.onnx").is_file()


def test_colorize_a_photo_and_a_clip(venv: Path, photos: dict[str, np.ndarray], tmp_path: Path) -> None:
    Image.fromarray(photos["astronaut"]).convert("L").save(tmp_path / "photo.png")
    with av.open(str(tmp_path / "clip.mp4"), "w") as clip:
        stream = clip.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        rgb = np.asarray(Image.fromarray(photos["chelsea"]).resize((112, 64)))
        for shift in range(6):  # a slow pan
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:, shift * 2 : shift * 2 + 96]))
            clip.mux(stream.encode(frame.reformat(format="yuv420p")))
        clip.mux(stream.encode())
    check(run(venv / "bin/chromalab", "colorize", "photo.png", "clip.mp4", "-o", "out", cwd=tmp_path))
    colour = np.asarray(Image.open(tmp_path / "out/photo.png"))
    assert colour.shape == (*photos["astronaut"].shape[:2], 3)
    assert np.abs(colour.astype(int) - colour.mean(axis=2, keepdims=True)).mean() > 2  # not grey
    with av.open(str(tmp_path / "out/clip.mp4")) as clip:
        assert sum(1 for _ in clip.decode(video=0)) == 6


def test_evaluate_scores_a_folder(venv: Path, photo_folder: Path, tmp_path: Path) -> None:
    check(run(venv / "bin/chromalab", "evaluate", photo_folder, "--json", "scores.json", cwd=tmp_path))
    assert '"auc_rebalanced"' in (tmp_path / "scores.json").read_text()


def test_serve_uploads_previews_and_takes_hints(
    venv: Path, photos: dict[str, np.ndarray], tmp_path: Path
) -> None:
    port = free_port()
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen(
            [str(venv / "bin/chromalab"), "serve", "--port", str(port)], stdout=log, stderr=log, env=USER_ENV
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(url + "/api/health", timeout=2).json()["status"] == "ok"
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "serve.log"
                ).read_text()
                time.sleep(0.2)
        grey = np.asarray(Image.fromarray(photos["coffee"]).convert("L"))
        encoded = io.BytesIO()
        Image.fromarray(grey).save(encoded, format="PNG")
        files = {"file": ("coffee.png", encoded.getvalue(), "application/octet-stream")}
        kept = httpx.post(url + "/api/uploads", files=files, timeout=30).json()
        preview = httpx.get(
            f"{url}/api/uploads/{kept['id']}/preview", params={"temperature": 0.2}, timeout=30
        )
        assert preview.status_code == 200
        assert Image.open(io.BytesIO(preview.content)).size == (grey.shape[1], grey.shape[0])
        hints = {"hints": [{"x": 20, "y": 20, "color": "#2050ff"}]}
        answer = httpx.put(f"{url}/api/uploads/{kept['id']}/hints", json=hints, timeout=30)
        assert answer.status_code == 200 and answer.json()["hints"][0]["x"] == 20
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    "command", [["train", "--help"], ["export", "default", "-o", "x.onnx"], ["prepare", "x"]]
)
def test_torch_commands_say_what_to_install(venv: Path, command: list[str], tmp_path: Path) -> None:
    result = run(venv / "bin/chromalab", *command, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    expected = f"error: chromalab {command[0]} needs torch, which this install leaves out: "
    assert result.stderr.strip().splitlines() == [expected + "pip install 'chromalab[train]'"]
    assert not list(tmp_path.iterdir())  # nothing written


def test_cluster_without_its_extra_says_what_to_install(
    venv: Path, photo: np.ndarray, tmp_path: Path
) -> None:
    Image.fromarray(photo).save(tmp_path / "photo.png")
    result = run(
        venv / "bin/chromalab", "colorize", "photo.png", "--cluster", "local", "-o", "out", cwd=tmp_path
    )
    assert result.returncode == 2 and "pip install 'chromalab[cluster]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
