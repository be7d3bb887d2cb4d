"""End to end: the installed ``chromalab`` script on tiny real photos in ``tmp_path``.

Each run starts a Python process that imports torch (2-5 s here), so the cases are grouped into few runs.
Runs other than the one that must use ``--model tiny`` use a tiny model file with per-channel bins,
which also exercises loading a model file and skips computing the sRGB gamut bins.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chromalab.color.bin_sets import make_bins
from chromalab.models.checkpoint import ModelSpec, save_model


def digest(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def error_lines(stderr: str) -> list[str]:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    assert all(line.startswith("error: ") for line in lines), stderr
    return lines


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bins = make_bins("channels:16")
    spec = ModelSpec("tiny", {"channels": 4}, bins.spec)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, spec.build(bins.num_classes), spec, bins=bins)
    return path


@pytest.fixture()
def photo_folder(tmp_path: Path, photos: dict[str, np.ndarray]) -> Path:
    """in/astronaut.jpg, in/coffee.png, in/sub/chelsea.jpg, in/sub/astronaut.jpg (a name clash)."""
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(photos["astronaut"]).save(folder / "astronaut.jpg", quality=90)
    Image.fromarray(photos["coffee"]).save(folder / "coffee.png")
    Image.fromarray(photos["chelsea"]).convert("L").save(folder / "sub" / "chelsea.jpg")
    Image.fromarray(photos["china"]).save(folder / "sub" / "astronaut.jpg")
    return folder


# -- the good path ----------------------------------------------------------------------------------------
def test_colorize_files_folders_and_globs(cli, tmp_path: Path, photo_folder: Path, model_file: Path) -> None:
    before = digest(photo_folder)
    args = ["colorize", "in/astronaut.jpg", "in/sub", "in/*.png", "-o", "out", "--model", "tiny"]
    rc, stdout, stderr = cli(*args, cwd=tmp_path)
    assert rc == 0, stderr
    assert "Traceback" not in stderr and "error" not in stderr
    assert "warning: model 'tiny' has random weights" in stderr  # an architecture's name: no trained colours
    assert "colorized 4 of 4" in stdout
    out = tmp_path / "out"
    expected = {
        "astronaut.jpg": photo_folder / "astronaut.jpg",
        "chelsea.jpg": photo_folder / "sub" / "chelsea.jpg",
        "astronaut-2.jpg": photo_folder / "sub" / "astronaut.jpg",  # same name from another folder
        "coffee.png": photo_folder / "coffee.png",
    }
    assert sorted(p.name for p in out.rglob("*")) == sorted(expected)
    for name, source in expected.items():
        assert size_of(out / name) == size_of(source), name
        with Image.open(out / name) as image:
            assert image.mode == "RGB"
    assert digest(photo_folder) == before  # inputs byte-identical

    # existing outputs: refused without --overwrite (one line each), replaced with it
    # (a model file from here on: same outputs, and no gamut computation in each run)
    args[-1] = str(model_file)
    inodes = {p.name: p.stat().st_ino for p in out.iterdir()}
    outputs = digest(out)
    rc, _, stderr = cli(*args, cwd=tmp_path)
    assert rc == 1
    lines = error_lines(stderr)
    assert len(lines) == 4 and all("exists (pass --overwrite to replace it)" in line for line in lines)
    assert digest(out) == outputs
    rc, _, stderr = cli(*args, "--overwrite", cwd=tmp_path)
    assert rc == 0, stderr
    assert all(p.stat().st_ino != inodes[p.name] for p in out.iterdir())  # new files, renamed into place
    assert digest(photo_folder) == before


# -- bad inputs ---------------------------------------------------------------------------------------------
def make_mixed_folder(
    folder: Path, photos: dict[str, np.ndarray], png
) -> tuple[dict[str, str], dict[str, str]]:
    """Bad files (name -> expected reason) and good but unusual files (name -> expected output name)."""
    folder.mkdir()
    photo = Image.fromarray(photos["flower"])
    buffer = io.BytesIO()
    photo.resize((256, 192)).save(buffer, format="JPEG")
    bad = {
        "empty.jpg": (b"", "empty file"),
        "truncated.jpg": (buffer.getvalue()[: buffer.tell() // 2], "truncated or corrupt"),
        "notes.jpg": (b"holiday notes, not a photo\n", "not an image"),
        "bomb.png": (png(20000, 20000, color_type=2), "too large"),
    }
    for name, (data, _) in bad.items():
        (folder / name).write_bytes(data)
    photo.save(folder / "photo.jpg")
    Image.new("RGB", (1, 1), (90, 60, 30)).save(folder / "dot.png")
    Image.fromarray(np.asarray(photo.convert("L"), dtype=np.uint16) * 257).save(folder / "deep16.png")
    photo.convert("CMYK").save(folder / "cmyk.jpg")
    palette = photo.convert("P")
    palette.save(folder / "palette.png", transparency=int(np.asarray(palette)[0, 0]))
    frames = [photo.convert("L"), photo.convert("L").rotate(90)]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    good = {
        "photo.jpg": "photo.jpg",
        "dot.png": "dot.png",
        "deep16.png": "deep16.png",
        "cmyk.jpg": "cmyk.jpg",
        "palette.png": "palette.png",
        "anim.gif": "anim.png",  # GIF is not written: PNG instead
    }
    return {name: reason for name, (_, reason) in bad.items()}, good


def test_bad_inputs_one_line_each_and_the_rest_done(
    cli, png, tmp_path: Path, photos, model_file: Path
) -> None:
    bad, good = make_mixed_folder(tmp_path / "mixed", photos, png)
    before = digest(tmp_path / "mixed")
    rc, stdout, stderr = cli(
        "colorize", "mixed", "missing.jpg", "-o", "out", "--model", model_file, cwd=tmp_path
    )
    assert rc == 1
    lines = error_lines(stderr)
    assert len(lines) == len(bad) + 1, stderr
    for name, reason in {**bad, "missing.jpg": "no such file"}.items():
        path = name if name == "missing.jpg" else os.path.join("mixed", name)
        [line] = [line for line in lines if line.startswith(f"error: {path}: ")]
        assert reason in line, line
    in_input_order = sorted(os.path.join("mixed", name) for name in bad) + ["missing.jpg"]
    assert [line.split(": ")[1] for line in lines] == in_input_order  # though read and written ahead
    for source, target in good.items():
        assert size_of(tmp_path / "out" / target) == size_of(tmp_path / "mixed" / source), source
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(good.values())
    assert f"colorized {len(good)} of {len(good) + len(bad) + 1}" in stdout
    assert digest(tmp_path / "mixed") == before
    with Image.open(tmp_path / "out" / "palette.png") as image:
        assert image.mode == "RGBA"  # palette transparency kept as alpha


def test_a_failed_write_is_reported_and_the_rest_done(
    cli, tmp_path: Path, photo_folder: Path, model_file: Path
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").write_text("a file where the sub-folder of outputs should go")
    rc, stdout, stderr = cli("colorize", "in", "-o", "out", "--model", model_file, cwd=tmp_path)
    assert rc == 1
    assert error_lines(stderr) == [
        f"error: {os.path.join('in', 'sub', 'astronaut.jpg')}: File exists",
        f"error: {os.path.join('in', 'sub', 'chelsea.jpg')}: File exists",
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["astronaut.jpg", "coffee.png", "sub"]
    assert "colorized 2 of 4" in stdout


def test_a_pipe_deep_hints_and_left_over_temp_files(
    cli, tmp_path: Path, photo_folder: Path, model_file: Path
) -> None:
    os.mkfifo(tmp_path / "clip.mp4")  # opened, it would block the reader for good
    (tmp_path / "out").mkdir()
    stale = tmp_path / "out" / ".astronaut.jpg.k3x9_q2z.tmp"  # what a killed run of ours leaves
    stale.write_bytes(b"half a photo")
    os.utime(stale, (1e9, 1e9))
    (tmp_path / "out" / ".notes.tmp").write_text("not ours: kept")
    rc, _, stderr = cli(
        "colorize",
        "clip.mp4",
        "in/astronaut.jpg",
        "-o",
        "out",
        "--model",
        model_file,
        cwd=tmp_path,
        timeout=60,
    )
    assert rc == 1 and error_lines(stderr) == [
        "error: clip.mp4: not a regular file (a pipe, device or socket is not read)"
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".notes.tmp", "astronaut.jpg"]
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    rc, _, stderr = cli(
        "colorize",
        "in/astronaut.jpg",
        "--hints",
        "deep.json",
        "-o",
        "out2",
        "--model",
        model_file,
        cwd=tmp_path,
    )
    assert rc == 2 and error_lines(stderr) == ["error: deep.json: JSON nested too deeply"]
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").iterdir())


def test_folder_without_images_and_glob_without_matches(cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no photos here")
    rc, _, stderr = cli("colorize", "empty", "nothing/*.jpg", "-o", "out", "--model", "tiny", cwd=tmp_path)
    assert rc == 1
    assert error_lines(stderr) == [
        "error: empty: no images found in this folder",
        "error: nothing/*.jpg: no file matches this pattern",
    ]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unwritable_output_folder(cli, tmp_path: Path, photo_folder: Path, model_file: Path) -> None:
    out = tmp_path / "locked"
    out.mkdir()
    out.chmod(0o500)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("running as root: a 0o500 folder is still writable")
        rc, _, stderr = cli("colorize", "in", "-o", out, "--model", model_file, cwd=tmp_path)
        assert rc == 1
        [line] = error_lines(stderr)
        assert line.startswith(f"error: {out}: cannot write to the output folder")
        assert not any(out.iterdir())
    finally:
        out.chmod(0o700)


def test_output_folder_equal_to_input_folder_is_refused(
    cli, tmp_path: Path, photo_folder: Path, model_file: Path
) -> None:
    before = digest(photo_folder)
    args = ("in", "in/astronaut.jpg", "in/*.png", "-o", "in", "--model", model_file)
    rc, _, stderr = cli("colorize", *args, cwd=tmp_path)
    assert rc == 1
    replaced = "output in/astronaut.jpg would replace an input; choose another output folder"
    assert error_lines(stderr) == [
        "error: in: every image here is in the output folder in",
        "error: in/*.png: every file it matches is in the output folder in",
        # a file named on its own is taken wherever it is, and refused when its output would replace it
        f"error: in/astronaut.jpg: {replaced}",
    ]
    assert digest(photo_folder) == before  # untouched, and nothing added


def test_an_output_folder_inside_the_input_folder_is_never_read_as_input(
    cli, tmp_path: Path, photo_folder: Path, model_file: Path
) -> None:
    """``colorize in -o in/colour`` run twice: the second run finds the four photos done, and does not
    colorize the first run's outputs into in/colour/colour."""
    rc, stdout, stderr = cli("colorize", "in", "-o", "in/colour", "--model", model_file, cwd=tmp_path)
    assert rc == 0 and "colorized 4 of 4" in stdout, stderr
    first = digest(photo_folder)
    rc, stdout, stderr = cli("colorize", "in", "-o", "in/colour", "--model", model_file, cwd=tmp_path)
    assert rc == 1 and "colorized 0 of 4" in stdout
    lines = error_lines(stderr)
    assert len(lines) == 4 and all("exists (pass --overwrite to replace it)" in line for line in lines)
    assert digest(photo_folder) == first and not (photo_folder / "colour" / "colour").exists()


# -- usage errors and the other entry points ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--decode", "median"], "--decode must be one of annealed, mean, mode"),
        (["--temperature", "-1"], "temperature"),
        (["--size", "8"], "size"),
        (["--temporal", "foo"], "one of flow, none, got 'foo'"),  # a photo alone: refused all the same
        (["--model", "fast-v1", "--engine", "onnx"], "the bundled fast-v1 ships no ONNX graph"),
    ],
)
def test_bad_usage_exits_2(cli, tmp_path: Path, photo_folder: Path, args: list[str], message: str) -> None:
    rc, _, stderr = cli("colorize", "in/astronaut.jpg", "-o", "out", *args, cwd=tmp_path)
    assert rc == 2, stderr
    assert message in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_help_and_models(cli) -> None:
    rc, stdout, _ = cli("--help")
    assert rc == 0 and "colorize" in stdout and "models" in stdout
    rc, stdout, _ = cli("colorize", "--help")
    assert rc == 0 and "--temperature" in stdout
    from chromalab import __version__

    assert cli("--version")[:2] == (0, f"chromalab {__version__}\n")
    rc, stdout, stderr = cli("models")
    assert rc == 0, stderr
    from chromalab.models import list_models

    for info in list_models():
        assert info.name in stdout
    assert "weights:" in stdout


def test_help_does_not_import_torch() -> None:
    script = (
        "import sys\n"
        "sys.argv = ['chromalab', '--help']\n"
        "from chromalab.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'PIL', 'safetensors') if m in sys.modules)\n"
        "print('HEAVY', ' '.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
    )
    heavy = done.stdout.split("HEAVY", 1)[1].split()
    assert heavy == [], f"`chromalab --help` imported {heavy}"  # instant: not even numpy
