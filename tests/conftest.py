"""Shared fixtures: tiny real photographs and a runner for the installed ``chromalab`` console script.

The photos are real (scikit-image's astronaut, coffee and chelsea; scikit-learn's china and flower) so
that colour statistics, gamut coverage and decoding are exercised on natural images, but downsized to
at most 64 pixels a side to keep the whole suite fast on two shared cores.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from chromalab.video.clips import frames

PHOTO_SIDE = 64  # longest side of the test photos
CHROMALAB = Path(sys.executable).parent / "chromalab"  # the installed console script, not `python -m`
REFERENCE_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference"


def hears_ctrl_c() -> None:
    """A child process's first act (``preexec_fn``): SIGINT back to its default, as a shell's foreground job
    has it. A suite started in the background (CI) ignores SIGINT, its children inherit that, and Python
    then raises no KeyboardInterrupt: a test that sends Ctrl-C would see the run go on to its end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _downsize(rgb: np.ndarray, side: int = PHOTO_SIDE) -> np.ndarray:
    image = Image.fromarray(rgb)
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(image.convert("RGB")).copy()


def _load_photos() -> dict[str, np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_image

    photos = {name: getattr(data, name)() for name in ("astronaut", "coffee", "chelsea")}
    photos |= {name.removesuffix(".jpg"): load_sample_image(name) for name in ("china.jpg", "flower.jpg")}
    return {name: _downsize(rgb) for name, rgb in photos.items()}


def save_photos(folder: Path, photos: dict[str, np.ndarray]) -> list[Path]:
    """``photos`` (name -> RGB) as NAME.png in ``folder`` (made if missing); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png" for name in photos]
    for path, rgb in zip(paths, photos.values(), strict=True):
        Image.fromarray(rgb).save(path)
    return paths


def write_crops(folder: Path) -> Path:
    """12 real photos of 40x40 in ``folder``: four crops of each of astronaut, coffee and chelsea (shrunk to
    80x80), one class folder per photo (photo0, photo1, photo2); returns ``folder``."""
    from skimage import data

    for i, rgb in enumerate([data.astronaut(), data.coffee(), data.chelsea()]):
        image = Image.fromarray(rgb).resize((80, 80), Image.Resampling.LANCZOS)
        (folder / f"photo{i}").mkdir(parents=True, exist_ok=True)
        for k in range(4):
            x, y = (k % 2) * 40, (k // 2) * 40
            image.crop((x, y, x + 40, y + 40)).save(folder / f"photo{i}" / f"crop{k}.png")
    return folder


def train_tiny_run(source: Path, work: Path) -> tuple[Path, Path]:
    """(cache, run folder) in ``work``: ``chromalab prepare SOURCE`` at 32 (a quarter held out) and
    ``chromalab train --model tiny`` for 3 steps, both as subprocesses of the console script."""
    cache, run = work / "cache", work / "run"
    prepare = ["prepare", source, "-o", cache, "--size", "32", "--val-fraction", "0.25"]
    train = ["train", cache, "--model", "tiny", "-o", run, "--max-steps", "3", "--epochs", "2"]
    for args in (prepare, [*train, "--val-images", "4", "--batch-size", "4"]):
        done = subprocess.run([CHROMALAB, *map(str, args)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    return cache, run


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """name -> uint8 RGB array (H, W, 3), longest side 64; five real photographs."""
    return _load_photos()


@pytest.fixture(scope="session")
def photo(photos: dict[str, np.ndarray]) -> np.ndarray:
    """One colourful real photograph (astronaut, 64 x 64 uint8 RGB)."""
    return photos["astronaut"]


@pytest.fixture(scope="session")
def zhang_313_path() -> Path:
    """Zhang et al.'s 313 in-gamut ab bin centres (pts_in_hull.npy); tests skip when it is missing."""
    path = REFERENCE_DATA / "zhang-pts-in-hull-313.npy"
    if not path.is_file():
        pytest.skip(f"reference file missing: {path}")
    return path


def png_bytes(
    width: int, height: int, *, bit_depth: int = 8, color_type: int = 0, rows: bytes | None = None
) -> bytes:
    """A PNG built by hand: any header size, with ``rows`` (filter byte + pixels per row) or a tiny IDAT.

    A 20000 x 20000 header with a 64-byte IDAT is a decompression bomb of a few hundred bytes.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(rows if rows is not None else b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="session")
def png() -> Callable[..., bytes]:
    """``png(width, height, ...)`` -> the bytes of a hand-built PNG (see ``png_bytes``)."""
    return png_bytes


CliResult = tuple[int, str, str]


@pytest.fixture(scope="session")
def cli() -> Callable[..., CliResult]:
    """Run the installed console script: ``cli("colorize", "a.jpg", cwd=tmp_path) -> (rc, stdout,
    stderr)``."""
    if not CHROMALAB.is_file():
        pytest.skip(f"console script not installed at {CHROMALAB} (pip install -e .)")

    def run(*args: object, cwd: Path | None = None, timeout: float = 120) -> CliResult:
        env = {**os.environ, "COLUMNS": "120"}  # warnings stay on: the tests see what a user sees
        done = subprocess.run(
            [str(CHROMALAB), *map(str, args)],
            check=False,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.returncode, done.stdout, done.stderr

    return run


SHARED_VIDEO = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"


def shared_clip(name: str) -> Path:
    path = SHARED_VIDEO / f"{name}.avi"
    if not path.is_file():
        pytest.skip(f"shared clip missing: {path}")
    return path


def write_cut(source: Path, target: Path, count: int, *, audio: bool = False) -> list[np.ndarray]:
    """The first ``count`` frames of ``source`` as an H.264 MP4 at ``target`` (with a 440 Hz AAC tone if
    ``audio``); returns the frames written."""
    cut = [frame for _, frame in zip(range(count), frames(source), strict=False)]
    with av.open(str(target), mode="w") as output:
        video = output.add_stream("libx264", rate=Fraction(10))
        video.height, video.width = cut[0].shape[:2]
        video.pix_fmt, video.options = "yuv420p", {"crf": "10"}
        sound = output.add_stream("aac", rate=44100) if audio else None
        for rgb in cut:
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                output.mux(packet)
        for packet in video.encode():
            output.mux(packet)
        if sound is not None:
            tone = np.sin(np.arange(44100 * count // 10) * 2 * np.pi * 440 / 44100).astype(np.float32)
            write_tone(output, sound, tone, "flt", chunk=1024)
    return cut


def write_tone(
    output: av.container.OutputContainer, sound: av.stream.Stream, tone: np.ndarray, fmt: str, *, chunk: int
) -> None:
    """A mono tone (samples,) into ``sound`` in frames of ``chunk`` samples, then the encoder's tail."""
    for start in range(0, len(tone), chunk):
        frame = av.AudioFrame.from_ndarray(tone[None, start : start + chunk], format=fmt, layout="mono")
        frame.sample_rate = sound.rate
        for packet in sound.encode(frame):
            output.mux(packet)
    for packet in sound.encode():
        output.mux(packet)
